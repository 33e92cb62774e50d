"""Analyst review: export segments with their suggested codes, import the decisions back.

The review rules live here; `qualipipe.review.workbook` only writes and reads the .xlsx files.

- Export selects segments (territory, participant, instrument/question, code family, not yet
  reviewed), orders them (uncertain suggestions first, or document order), pseudonymises every text
  and writes one row per segment.
- Import validates every row before writing anything, then appends decisions to the append-only
  history (who, when, from which file). A decision identical to the coder's current one is not
  appended again, and a file already imported for that coder adds nothing.
- The analyst decision file of the example study (`fichier;extrait;code;decision;codeur;commentaire`,
  CSV) goes through the same validation and the same history.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from qualipipe import resolve
from qualipipe.coding.uncertainty import uncertainty
from qualipipe.errors import Problem, StudyError
from qualipipe.pseudonymize import Pseudonymizer
from qualipipe.records import (
    SOURCE_KIND_NOUNS,
    Action,
    Codebook,
    Decision,
    Participant,
    Segment,
    Source,
    Suggestion,
)
from qualipipe.review import workbook as wb
from qualipipe.store import (
    Study,
    code_redirect_map,
    current_codebook,
    get_meta,
    list_participants,
    row_to_segment,
    row_to_source,
)
from qualipipe.text import fold_key as text_key

DEFAULT_THRESHOLD = 0.5
ADDED = "ajouter"
CSV_DECISIONS = {wb.ACCEPT: Action.ACCEPT, wb.REJECT: Action.REJECT, ADDED: Action.ADD}
CONSENSUS_CODER = "consensus"


class Order(StrEnum):
    UNCERTAINTY = "incertitude"
    DOCUMENT = "document"


@dataclass(frozen=True)
class ReviewFilter:
    """Which segments to export. Every field narrows the selection; None means "all"."""

    territory: str | None = None
    participant: str | None = None  # identifier or pseudonym
    instrument: str | None = None
    question: str | None = None
    family: str | None = None  # code family id (segments suggested or coded with one of its codes)
    not_reviewed: bool = False  # only segments without any decision (of `coder` when given)
    coder: str | None = None  # pre-fill the decisions of this coder (default: latest of anyone)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    suggestions: int


@dataclass(frozen=True)
class ImportResult:
    file: str
    coders: tuple[str, ...]
    rows_read: int
    decisions_added: int
    unchanged: int  # decisions already in the history for that coder, not appended again
    already_imported: bool = False
    rejected: tuple[Problem, ...] = ()
    prefilled_ignored: int = 0  # cells still holding another coder's pre-filled decision


@dataclass(frozen=True)
class SegmentContext:
    """A segment with everything shown around it on a review row."""

    segment: Segment
    source: Source
    participant: Participant | None
    before: str
    after: str


@dataclass(frozen=True)
class PlannedDecision:
    """A decision read from an input file, checked, not yet written."""

    decision: Decision
    line: int


@dataclass
class CodeCheck:
    """Which code identifiers are usable now (current codebook, following redirects)."""

    codebook: Codebook
    redirects: dict[str, str]
    codable: set[str] = field(init=False)
    families: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.codable = {code.id for code in self.codebook.codes if code.codable}
        self.families = {code.id for code in self.codebook.codes if not code.codable}

    def resolve(self, code_id: str) -> str:
        return self.redirects.get(code_id, code_id)

    def problem(self, code_id: str) -> str | None:
        """French reason why `code_id` cannot be used, or None when it can."""
        current = self.resolve(code_id)
        if current in self.codable:
            return None
        if current in self.families:
            return (
                f"« {code_id} » est une famille du codebook, pas un code : choisissez un des "
                "codes de cette famille (feuille « Codebook »)."
            )
        return (
            f"le code « {code_id} » n'existe pas dans le codebook actuel "
            f"(version {self.codebook.version}) : choisissez un code de la feuille « Codebook »."
        )


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def thresholds(study: Study) -> dict[str, float]:
    raw = get_meta(study.conn, "thresholds", {})
    return {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def suggestion_uncertainty(score: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """1 when the score sits on the code's threshold, 0 at the bound on its side (0 or 1).

    The same definition as the coding engine's (`qualipipe.coding.uncertainty`): a suggestion
    close to its threshold is the one an analyst's decision teaches the most.
    """
    return float(uncertainty(score, threshold))


def segment_uncertainty(suggestions: Iterable[Suggestion], limits: dict[str, float]) -> float:
    return max(
        (
            suggestion_uncertainty(s.score, limits.get(s.code_id, DEFAULT_THRESHOLD))
            for s in suggestions
        ),
        default=0.0,
    )


def review_priorities(study: Study, suggestions: dict[int, list[Suggestion]]) -> dict[int, float]:
    """Per segment, how much an analyst's decision would teach (1 = most uncertain).

    The coding engine records one value per scored segment (`uncertainty_by_segment`); segments
    it has not scored fall back to their suggestions' distance to the per-code thresholds.
    """
    try:
        from qualipipe.coding.suggest import uncertainty_by_segment
    except ImportError:  # coding engine not installed: scores alone decide
        engine: dict[int, float] = {}
    else:
        engine = uncertainty_by_segment(study)
    limits = thresholds(study)
    segment_ids = set(engine) | set(suggestions)
    return {
        segment_id: engine[segment_id]
        if segment_id in engine
        else segment_uncertainty(suggestions.get(segment_id, []), limits)
        for segment_id in segment_ids
    }


def review_fingerprint(segment_id: int, text_hash: str, codes: Sequence[str]) -> str:
    """Ties a row to its segment text and shown codes: an edited hidden id no longer matches."""
    payload = f"{segment_id}|{text_hash}|{','.join(codes)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hide_all(texts: Sequence[str], hide: Pseudonymizer) -> list[str]:
    # Neighbours, sources and reasons repeat a lot: each distinct text goes through spaCy once.
    unique = list(dict.fromkeys(texts))
    mapping = dict(zip(unique, hide.apply_many(unique), strict=True))
    return [mapping[text] for text in texts]


def pseudonymise_rows(
    rows: Sequence[wb.ReviewRow], verbatims: Pseudonymizer, labels: Pseudonymizer
) -> list[wb.ReviewRow]:
    """Every text of the rows through the pseudonymisers, in one spaCy batch."""
    texts: list[str] = []
    for row in rows:
        texts.extend([row.before, row.text, row.after])
        texts.extend(slot.reason for slot in row.slots)
    hidden = iter(hide_all(texts, verbatims))
    hidden_labels = iter(hide_all([t for row in rows for t in (row.source, row.location)], labels))
    out = []
    for row in rows:
        before, text, after = (next(hidden) for _ in range(3))
        slots = tuple(replace(slot, reason=next(hidden)) for slot in row.slots)
        out.append(
            replace(
                row,
                source=next(hidden_labels),
                location=next(hidden_labels),
                before=before,
                text=text,
                after=after,
                slots=slots,
            )
        )
    return out


def code_check(study: Study) -> CodeCheck:
    codebook = current_codebook(study.conn)
    if codebook is None:
        raise StudyError(
            "Aucun codebook n'est chargé dans l'étude : chargez-le d'abord "
            "(qualipipe codebook load codebooks/ptce.yaml)."
        )
    return CodeCheck(codebook=codebook, redirects=code_redirect_map(study.conn))


def default_output_dir(study: Study) -> Path:
    return resolve.output_dir(study.root, "revue")


def fold_key(text: str) -> str:
    """Case- and accent-insensitive form of a header or a choice (outer spaces ignored)."""
    return text_key(text.strip())


def source_label(source: Source, participant: Participant | None = None) -> str:
    """What a reader sees as the source: never the file name (it often holds a person's name,
    « SC-A04_entretien_Annie_Roudier.md »), but the kind and the participant's pseudonym."""
    if source.instrument or source.question_code:
        return " / ".join(p for p in (source.instrument, source.question_code) if p)
    kind = SOURCE_KIND_NOUNS[source.kind][0].capitalize()
    return f"{kind} — {participant.pseudonym}" if participant else kind


def location_label(segment: Segment) -> str:
    parts = [f"segment {segment.ordinal + 1}"]
    if segment.section:
        parts.append(segment.section)
    if segment.speaker:
        parts.append(segment.speaker)
    if segment.start_time is not None:
        minutes, seconds = divmod(int(segment.start_time), 60)
        parts.append(f"{minutes:02d}:{seconds:02d}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def load_contexts(study: Study, territory: str | None) -> list[SegmentContext]:
    """Active, non-interviewer segments with their neighbours (interviewer turns included)."""
    conn = study.conn
    sql = "SELECT * FROM sources"
    params: list[object] = []
    if territory:
        sql += " WHERE territory_id = ?"
        params.append(territory)
    sources = {row["id"]: row_to_source(row) for row in conn.execute(sql + " ORDER BY id", params)}
    participants = {p.id: p for p in list_participants(conn)}
    by_source: dict[int, list[Segment]] = defaultdict(list)
    for row in conn.execute(
        'SELECT * FROM segments WHERE retired = 0 ORDER BY source_id, ordinal, start, "end"'
    ):
        if row["source_id"] in sources:
            by_source[row["source_id"]].append(row_to_segment(row))
    contexts: list[SegmentContext] = []
    for source_id, segments in by_source.items():
        source = sources[source_id]
        participant = participants.get(source.participant_id or "")
        for index, segment in enumerate(segments):
            if segment.is_interviewer:
                continue
            contexts.append(
                SegmentContext(
                    segment=segment,
                    source=source,
                    participant=participant,
                    before=_neighbour_text(segments, index - 1),
                    after=_neighbour_text(segments, index + 1),
                )
            )
    return contexts


def _neighbour_text(segments: Sequence[Segment], index: int) -> str:
    if index < 0 or index >= len(segments):
        return ""
    neighbour = segments[index]
    prefix = f"{neighbour.speaker} : " if neighbour.speaker else ""
    return prefix + neighbour.text


def load_suggestions(study: Study) -> dict[int, list[Suggestion]]:
    found: dict[int, list[Suggestion]] = defaultdict(list)
    for r in study.conn.execute("SELECT * FROM suggestions ORDER BY segment_id, score DESC"):
        found[r["segment_id"]].append(
            Suggestion(
                segment_id=r["segment_id"],
                code_id=r["code_id"],
                score=r["score"],
                method=r["method"],
                explanation=r["explanation"],
                model_version=r["model_version"],
                codebook_version_id=r["codebook_version_id"],
            )
        )
    return found
