"""Errors shown to analysts.

Every message is French, names the file/row/field at fault and says what to do. The CLI turns any
`QualipipeError` into one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class QualipipeError(Exception):
    """Base class: `str(error)` is the French message an analyst reads."""


class StudyError(QualipipeError):
    """The study folder, its `qualipipe.toml` or its `study.db` is missing or unusable."""


class StoreError(QualipipeError):
    """The SQLite store refused an operation."""


@dataclass
class Problem:
    """One problem in an input file, located precisely enough to fix it."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    sheet: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.sheet:
            where.append(f"feuille « {self.sheet} »")
        if self.line is not None:
            where.append(f"ligne {self.line}")
        if self.column:
            where.append(f"colonne {self.column}")
        return f"{', '.join(where)} : {self.message}"


@dataclass
class InputError(QualipipeError):
    """An input file has one or more problems; all of them are reported at once."""

    summary: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        lines = [self.summary]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)
