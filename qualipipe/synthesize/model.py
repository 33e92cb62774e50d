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

# What a synthesis writes in a territory's folder: synthese.md/.docx/.xlsx and figures/.
REPORT_STEM = "synthese"
FIGURES_FOLDER = "figures"


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
    """A table as analysts see it: French title and headers, rows in a stable order.

    Building one `Table` is all it takes to add a table to the report: the workbook, Word and
    Markdown writers render every table the same way from these fields.

    - `key`: the sheet name (≤ 31 characters) and a file-friendly id.
    - `title`: the caption's text; writers number it (« Tableau 3 — <title> »).
    - `columns` / `rows`: French headers, and cells (str, int, float or None for « — »).
    - `note`: a sentence under the table (base, rule applied, legend).
    - `id_columns`: identifiers (code ids…) a reader does not need beside the label: a hidden
      column in the workbook (for filters and formulas), left out of Word and Markdown.
    - `detail_columns`: figures for the analyst (standard deviations, bases…): shown in the
      workbook, left out of Word and Markdown so that the table fits a page.
    - `optional_columns`: left out of Word and Markdown (hidden in the workbook) when they carry
      nothing for this study (all empty, zero or « — »), e.g. founders in a study without any.
    - `status_column`: the review status (VALIDATED / SUGGESTED / MIXED): spelled out in the
      workbook, a discreet symbol with a legend in Word and Markdown.
    - `percent_columns`: values in [0, 1] shown as percentages.
    - `long_columns`: free text (verbatims, lists) that gets the room left on the page.
    - `grouped_columns`: in Word / Markdown, a value equal to the one above it is left blank
      (a question's wording on its first answer only).
    - `document_rows`: at most this many rows in Word / Markdown (0: all), the rest summarised
      in one line pointing to the workbook, which always has every row.
    - `in_documents`: False for a workbook-only table (a full matrix no page could hold).
    - `section`: the heading under which the table goes in the Word / Markdown report.
    """

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""
    muted_rows: frozenset[int] = frozenset()  # suggested-only rows (italics in the workbook)
    percent_columns: frozenset[int] = frozenset()
    section: str = ""
    id_columns: frozenset[int] = frozenset()
    detail_columns: frozenset[int] = frozenset()
    optional_columns: frozenset[int] = frozenset()
    status_column: int | None = None
    long_columns: frozenset[int] = frozenset()
    grouped_columns: frozenset[int] = frozenset()
    document_rows: int = 0
    in_documents: bool = True

    def column(self, name: str) -> list[Cell]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def row_for(self, column: str, value: Cell) -> tuple[Cell, ...] | None:
        index = self.columns.index(column)
        return next((row for row in self.rows if row[index] == value), None)

    def empty_column(self, index: int) -> bool:
        return all(row[index] in (None, 0, "", "—") for row in self.rows)

    def shown_columns(self) -> list[int]:
        """Indexes of the columns a reader of a document sees: no identifiers, no details, no
        optional column that says nothing for this study."""
        return [
            j
            for j in range(len(self.columns))
            if j not in self.id_columns
            and j not in self.detail_columns
            and not (j in self.optional_columns and self.rows and self.empty_column(j))
        ]


@dataclass(frozen=True)
class Figure:
    """A figure drawn for the synthesis, and the report section it belongs to."""

    path: Path
    title: str
    section: str = ""
    extra_files: tuple[Path, ...] = ()  # e.g. GEXF / GraphML beside the actor map PNG


MAX_QUOTE_CHARS = 280  # a verbatim in the synthesis' tables


@dataclass(frozen=True)
class SynthesisOptions:
    """What the analyst chose for a synthesis run (`qualipipe synthesize` options)."""

    validated_only: bool = False
    share_threshold: int = 3  # N of the shared-issue rule
    keep_names: bool = False
    verbatims_per_code: int = 3
    quote_chars: int = MAX_QUOTE_CHARS  # cut at a sentence or clause end within this length
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
    seconds: float = 0.0  # wall time of the run

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files if p.exists())
