"""Typed records of the synthesis stage: what is read from the study, and what is written out.

The computations (tables, priorities, evaluation) take these records and return `Table`s; only
`load.py` reads the store and only `writers.py` / `figures.py` write files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qualipipe.records import Codebook, Participant, Role, SourceKind, Territory

Cell = str | int | float | None

VALIDATED = "validé"
SUGGESTED = "suggéré (non revu)"
MIXED = "validé + suggéré"


@dataclass(frozen=True)
class Coding:
    """One code applied to one segment: by an analyst decision, or only suggested by the machine."""

    segment_id: int
    code_id: str
    participant_id: str | None
    validated: bool
    score: float | None = None  # the suggestion score, for suggested-only codings


@dataclass(frozen=True)
class SegmentText:
    """An interviewee's segment (interviewer turns are never loaded)."""

    id: int
    source_id: int
    participant_id: str | None
    text: str  # as stored; pseudonymise before showing
    kind: str  # SourceKind value
    instrument: str = ""
    question_code: str = ""


@dataclass(frozen=True)
class AnswerSheet:
    """The closed answers of one respondent to one instrument (question code -> short answer)."""

    respondent: str  # participant id, or "réponse <survey>/<id>" for an unlinked response
    instrument: str
    values: dict[str, str]
    participant_id: str | None = None
    territory_id: str | None = None


@dataclass(frozen=True)
class TerritoryData:
    """Everything the synthesis of one territory needs, read in one consistent snapshot."""

    study_name: str
    territory: Territory
    participants: tuple[Participant, ...]  # of this territory, with real names when available
    analysed_ids: frozenset[str]  # participants with at least one analysed text
    codebook: Codebook
    codings: tuple[Coding, ...]
    segments: dict[int, SegmentText]
    interviews: int  # transcript sources
    answers: tuple[AnswerSheet, ...] = ()
    # Analysed texts per kind (interviews, written contributions, reports…), for the wording.
    source_counts: tuple[tuple[SourceKind, int], ...] = ()

    def participant(self, participant_id: str | None) -> Participant | None:
        for p in self.participants:
            if p.id == participant_id:
                return p
        return None

    def analysed(self, role: Role | None = None) -> list[Participant]:
        return [
            p
            for p in self.participants
            if p.id in self.analysed_ids and (role is None or p.role == role)
        ]


@dataclass(frozen=True)
class Table:
    """A table as analysts see it: French title and headers, rows in a stable order."""

    key: str  # sheet name (≤ 31 characters) and file-friendly id
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""
    muted_rows: frozenset[int] = frozenset()  # suggested-only rows: shown in grey italics
    percent_columns: frozenset[int] = frozenset()  # values in [0, 1] shown as percentages
    section: str = ""  # heading under which the table goes in the Word / Markdown report

    def column(self, name: str) -> list[Cell]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def row_for(self, column: str, value: Cell) -> tuple[Cell, ...] | None:
        index = self.columns.index(column)
        return next((row for row in self.rows if row[index] == value), None)


@dataclass(frozen=True)
class Figure:
    path: Path
    title: str
    section: str = ""
    extra_files: tuple[Path, ...] = ()  # e.g. GEXF / GraphML beside the actor map PNG


@dataclass(frozen=True)
class SynthesisOptions:
    validated_only: bool = False
    share_threshold: int = 3  # N of the shared-issue rule
    keep_names: bool = False
    verbatims_per_code: int = 3
    date: str = ""  # shown in titles and source lines; today when empty
    with_figures: bool = True  # False: tables only (quicker while iterating on the coding)


@dataclass
class SynthesisReport:
    """What a synthesis run wrote, for the CLI summary and the demo."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    territories: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # territory -> figure -> n
