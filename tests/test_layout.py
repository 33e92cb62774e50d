"""The package's layout rules a maintainer relies on: modules small enough to read, and commands
that only parse and print (their SQL lives in the stage modules)."""

from __future__ import annotations

import re
from pathlib import Path

import qualipipe

PACKAGE = Path(qualipipe.__file__).parent
MAX_LINES = 700
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b.*\b(FROM|INTO|SET|WHERE)\b|\.execute\(")


def test_no_module_is_longer_than_700_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_command_modules_hold_no_sql() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SQL.search(line)
    ]
    assert not found, "\n".join(found)
