"""The commands shown in README.md and docs/*.md exist, with the options they are shown with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from qualipipe.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_LINE = re.compile(r"^\s*(?:\$\s*)?(?:\S*/)?qualipipe\s+(?P<args>[^#`|]*)")


def shown_commands() -> list[tuple[str, str]]:
    """(file, command line) for every `qualipipe …` line inside a fenced code block."""
    found = []
    for path in DOCS:
        in_code = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("```"):
                in_code = not in_code
                continue
            match = COMMAND_LINE.match(line) if in_code else None
            if match:
                found.append((path.name, match["args"].strip()))
    return found


def resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = app
    while isinstance(command, click.Group) and args:
        found = command.get_command(click.Context(command), args[0])
        if found is None:
            break
        command, args = found, args[1:]
    return command, args


def group_arguments(group: click.Group, tokens: list[str]) -> list[str]:
    """What remains of `tokens` once the group's own options and their values are taken out."""
    takes_value = {
        opt
        for param in group.params
        if isinstance(param, click.Option) and not param.is_flag
        for opt in param.opts
    }
    left, skip = [], False
    for token in tokens:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = token in takes_value
        else:
            left.append(token)
    return left


def test_the_docs_show_commands() -> None:
    assert len(shown_commands()) >= 20


@pytest.mark.parametrize(("file", "line"), shown_commands(), ids=lambda v: v[:60])
def test_documented_command_and_options_exist(file: str, line: str) -> None:
    args = shlex.split(line.replace("\\", ""))
    command, rest = resolve(args)
    # A group may be run with its own options (`qualipipe report -t X --bilan`), not with arguments.
    assert not isinstance(command, click.Group) or not group_arguments(command, rest), (
        f"{file}: unknown command in « qualipipe {line} »"
    )
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"-h", "--help"}
    for token in rest:
        if token.startswith("-") and len(token) > 1 and not token[1:].replace(".", "").isdigit():
            name = token.split("=", 1)[0]
            assert name in known, f"{file}: option {name} unknown to « qualipipe {' '.join(args)} »"
