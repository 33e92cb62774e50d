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
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from qualipipe import resolve
from qualipipe.coding.uncertainty import uncertainty
from qualipipe.errors import Problem, StudyError
from qualipipe.pseudonymize import Policy, Pseudonymizer, pseudonymizer_for
from qualipipe.quotes import MAX_ACKNOWLEDGEMENT_CHARS, is_acknowledgement
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
    record_from_row,
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
    selected: int = 0  # segments matching the selection (rows + those left for a later batch)
    study_root: Path = Path()  # for the import command to paste
    coder: str | None = None  # whose decisions pre-fill it (None: the latest of anyone)
    seconds: float = 0.0


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
    before: str  # the previous segment's text ("" at the start of the source)
    after: str  # the next segment's text
    before_speaker: str = ""  # their speaker labels, shown as « Locuteur : texte »
    after_speaker: str = ""


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
    """Largest uncertainty over a segment's suggestions."""
    return _largest_uncertainty([(s.code_id, s.score) for s in suggestions], limits)


def _largest_uncertainty(pairs: Sequence[tuple[str, float]], limits: dict[str, float]) -> float:
    if not pairs:
        return 0.0
    values = uncertainty(
        [score for _, score in pairs], [limits.get(code, DEFAULT_THRESHOLD) for code, _ in pairs]
    )
    return float(values.max())


def review_priorities(study: Study, segment_ids: Sequence[int]) -> dict[int, float]:
    """Per segment, how much an analyst's decision would teach (1 = most uncertain).

    The coding engine records one value per scored segment (`coding_segments`); segments it has
    not scored fall back to their stored suggestions' distance to the per-code thresholds. Only
    the given segments are read.
    """
    conn = study.conn
    wanted = ids_param(segment_ids)
    priorities = {
        int(r[0]): float(r[1])
        for r in conn.execute(
            f"SELECT segment_id, uncertainty FROM coding_segments WHERE segment_id IN {IDS}",
            (wanted,),
        )
    }
    unscored = [segment_id for segment_id in segment_ids if segment_id not in priorities]
    if unscored:
        scores: dict[int, list[tuple[str, float]]] = defaultdict(list)
        for r in conn.execute(
            f"SELECT segment_id, code_id, score FROM suggestions WHERE segment_id IN {IDS}",
            (ids_param(unscored),),
        ):
            scores[int(r[0])].append((str(r[1]), float(r[2])))
        limits = thresholds(study)
        for segment_id in unscored:
            priorities[segment_id] = _largest_uncertainty(scores.get(segment_id, []), limits)
    return priorities


def review_fingerprint(segment_id: int, text_hash: str, codes: Sequence[str]) -> str:
    """Ties a row to its segment text and shown codes: an edited hidden id no longer matches."""
    payload = f"{segment_id}|{text_hash}|{','.join(codes)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hide_all(
    texts: Sequence[str],
    hide: Callable[[list[str]], list[str]],
    memo: dict[str, str] | None = None,
) -> list[str]:
    """The texts pseudonymised; each distinct text goes through spaCy once (`memo` keeps the
    results across calls: an export's chunks share neighbours, sources and reasons)."""
    memo = {} if memo is None else memo
    unique = [text for text in dict.fromkeys(texts) if text not in memo]
    memo.update(zip(unique, hide(unique), strict=True))
    return [memo[text] for text in texts]


@dataclass(frozen=True)
class RowHiders:
    """The pseudonymisers a review row needs, one per kind of text (see `Policy`), with what
    they already hid during this export."""

    verbatims: Pseudonymizer  # segment and context: names, contacts, other people (spaCy)
    labels: Pseudonymizer  # source and location labels
    reasons: Pseudonymizer  # machine-written reasons: names and contacts, no spaCy
    seen: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"verbatims": {}, "speakers": {}, "labels": {}, "reasons": {}}
    )

    @classmethod
    def for_study(cls, study: Study) -> RowHiders:
        return cls(
            pseudonymizer_for(study, cached_entities=True),
            pseudonymizer_for(study, Policy.LABEL),
            pseudonymizer_for(study, Policy.REASON),
        )


def shown_contexts(
    contexts: Sequence[SegmentContext], hiders: RowHiders
) -> list[tuple[str, str, str, str]]:
    """(before, segment, after, the segment's speaker) of each context as a review row shows
    them, pseudonymised.

    Texts and speaker labels are hidden apart: a segment's text is the
    same string in its own row and in its neighbours' context, so spaCy reads it once (and only
    when it has an upper-case letter, see `Pseudonymizer.apply_many`).
    """
    texts = [t for c in contexts for t in (c.before, c.segment.text, c.after)]
    hidden = iter(hide_all(texts, hiders.verbatims.apply_many, hiders.seen["verbatims"]))
    # Speaker labels as verbatims too (spaCy finds the people the manifest does not name, like
    # the second person of a two-person interview); a source has a few distinct labels.
    speakers = [s for c in contexts for s in (c.before_speaker, c.after_speaker, c.segment.speaker)]
    hidden_speakers = iter(
        hide_all(speakers, hiders.verbatims.hide_speakers, hiders.seen["speakers"])
    )
    shown = []
    for _ in contexts:
        before, text, after = next(hidden), next(hidden), next(hidden)
        before_speaker, after_speaker, speaker = (next(hidden_speakers) for _ in range(3))
        shown.append(
            (
                _with_speaker(before_speaker, before),
                text,
                _with_speaker(after_speaker, after),
                speaker,
            )
        )
    return shown


def _with_speaker(speaker: str, text: str) -> str:
    return f"{speaker} : {text}" if speaker and text else text


def pseudonymise_rows(rows: Sequence[wb.ReviewRow], hiders: RowHiders) -> list[wb.ReviewRow]:
    """The rows' reasons and source and location labels through their pseudonymisers (their
    context texts come already hidden from `shown_contexts`)."""
    reasons = [slot.reason for row in rows for slot in row.slots]
    hidden_reasons = iter(hide_all(reasons, hiders.reasons.apply_many, hiders.seen["reasons"]))
    labels = [t for row in rows for t in (row.source, row.location)]
    hidden_labels = iter(hide_all(labels, hiders.labels.apply_many, hiders.seen["labels"]))
    out = []
    for row in rows:
        slots = tuple(replace(slot, reason=next(hidden_reasons)) for slot in row.slots)
        out.append(
            replace(row, source=next(hidden_labels), location=next(hidden_labels), slots=slots)
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


# Segment ids go to SQLite as one JSON array parameter: no limit on their number, index used.
INTERVIEWER_SHOWN = "Enquêteur·rice"
CONTEXT_REACH = 3  # neighbours looked at on each side for a context that says something
IDS = "(SELECT value FROM json_each(?))"


def ids_param(ids: Iterable[int]) -> str:
    return json.dumps(sorted(set(ids)))


# Every column of `sources` but its full text, which no review row shows.
SOURCE_COLUMNS = (
    "id, key, kind, '' AS text, participant_id, territory_id, path, format, instrument, "
    "question_code, metadata"
)


@dataclass(frozen=True)
class OutlineEntry:
    """An active segment's place in its source, without its text (cheap to list by the thousand)."""

    segment_id: int
    source_id: int
    is_interviewer: bool
    length: int = 0  # characters: a long segment is never a mere acknowledgement


class Neighbour(NamedTuple):
    """A segment next to a reviewed one, as its context cell shows it."""

    text: str
    speaker: str
    is_interviewer: bool


def select_sources(
    study: Study,
    *,
    territory: str | None = None,
    participant_id: str | None = None,
    instrument: str | None = None,
    question: str | None = None,
    source_ids: Sequence[int] | None = None,
) -> dict[int, Source]:
    """The sources a selection can draw segments from (filtered in SQL, texts left out)."""
    where, params = [], []
    if source_ids is not None:
        where.append(f"id IN {IDS}")
        params.append(ids_param(source_ids))
    for column, value in (
        ("territory_id", territory),
        ("participant_id", participant_id),
        ("instrument", instrument),
        ("question_code", question),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = f"SELECT {SOURCE_COLUMNS} FROM sources"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return {r["id"]: row_to_source(r) for r in study.conn.execute(sql + " ORDER BY id", params)}


def segment_outline(study: Study, source_ids: Iterable[int]) -> list[OutlineEntry]:
    """Active segments of the sources (interviewer turns included), in document order."""
    return [
        OutlineEntry(int(r[0]), int(r[1]), bool(r[2]), int(r[3]))
        for r in study.conn.execute(
            'SELECT id, source_id, is_interviewer, "end" - start FROM segments '
            f"WHERE retired = 0 AND source_id IN {IDS} "
            'ORDER BY source_id, ordinal, start, "end"',
            (ids_param(source_ids),),
        )
    ]


def outline_places(outline: Sequence[OutlineEntry]) -> dict[int, int]:
    return {entry.segment_id: index for index, entry in enumerate(outline)}


def contexts_for(
    study: Study,
    wanted: Sequence[int],
    outline: Sequence[OutlineEntry],
    sources: dict[int, Source],
    participants: dict[str, Participant],
    place: dict[int, int] | None = None,
) -> dict[int, SegmentContext]:
    """Contexts of the `wanted` segments: only they and the neighbours a context needs are read
    (the nearest, and further ones only past short acknowledgements).

    `place` (segment id -> index in `outline`, see `outline_places`) saves rebuilding it when
    called chunk after chunk."""
    place = place if place is not None else outline_places(outline)
    # Up to CONTEXT_REACH neighbours on each side: the nearest that says something is shown, not
    # a listener's « oui oui » cutting the speaker's sentence in two (oral corpora).
    candidates: dict[int, tuple[list[int], list[int]]] = {}
    for segment_id in wanted:
        index = place[segment_id]
        source_id = outline[index].source_id
        earlier = outline[max(0, index - CONTEXT_REACH) : index][::-1]
        later = outline[index + 1 : index + CONTEXT_REACH + 1]
        candidates[segment_id] = (_reach(earlier, source_id), _reach(later, source_id))
    segments = {
        int(r["id"]): row_to_segment(r)
        for r in study.conn.execute(
            f"SELECT * FROM segments WHERE id IN {IDS}", (ids_param(wanted),)
        )
    }
    # Neighbours: only what a context cell shows.
    needed = {n for pair in candidates.values() for side in pair for n in side}
    neighbours = {
        int(r[0]): Neighbour(r[1], r[2], bool(r[3]))
        for r in study.conn.execute(
            f"SELECT id, text, speaker, is_interviewer FROM segments WHERE id IN {IDS}",
            (ids_param(needed),),
        )
    }
    contexts = {}
    for segment_id in wanted:
        segment = segments[segment_id]
        source = sources[segment.source_id or 0]
        before, after = (_telling(neighbours, side) for side in candidates[segment_id])
        contexts[segment_id] = SegmentContext(
            segment=segment,
            source=source,
            participant=participants.get(source.participant_id or ""),
            before=before.text if before else "",
            after=after.text if after else "",
            before_speaker=_shown_speaker(before),
            after_speaker=_shown_speaker(after),
        )
    return contexts


def _reach(side: Sequence[OutlineEntry], source_id: int) -> list[int]:
    """The neighbours worth reading on one side, nearest first: up to the first one too long to
    be a mere acknowledgement, within the same source."""
    reached = []
    for entry in side:
        if entry.source_id != source_id:
            break
        reached.append(entry.segment_id)
        if entry.length > MAX_ACKNOWLEDGEMENT_CHARS:
            break
    return reached


def _shown_speaker(segment: Neighbour | None) -> str:
    """Who speaks in a context cell: an interviewer by role (their name or initials say nothing
    to a reader and would be hidden anyway), anyone else by their label."""
    if segment is None:
        return ""
    return INTERVIEWER_SHOWN if segment.is_interviewer else segment.speaker


def _telling(neighbours: dict[int, Neighbour], side: Sequence[int]) -> Neighbour | None:
    """The nearest neighbour that is more than an acknowledgement, or the nearest one."""
    near = [neighbours[n] for n in side]
    return next((s for s in near if not is_acknowledgement(s.text)), near[0] if near else None)


def coded_segment_ids(study: Study, territory: str | None) -> list[int]:
    """Active, non-interviewer segments (of a territory), without reading their texts."""
    outline = segment_outline(study, select_sources(study, territory=territory))
    return [entry.segment_id for entry in outline if not entry.is_interviewer]


def contexts_of(study: Study, segment_ids: Iterable[int]) -> dict[int, SegmentContext]:
    """Contexts of any segments: only their sources' outlines and their neighbours are read."""
    wanted = sorted(set(segment_ids))
    source_ids = [
        int(r[0])
        for r in study.conn.execute(
            f"SELECT DISTINCT source_id FROM segments WHERE id IN {IDS}", (ids_param(wanted),)
        )
    ]
    sources = select_sources(study, source_ids=source_ids)
    outline = segment_outline(study, sources)
    participants = {p.id: p for p in list_participants(study.conn)}
    return contexts_for(study, wanted, outline, sources, participants)


def load_suggestions(
    study: Study, segment_ids: Iterable[int] | None = None
) -> dict[int, list[Suggestion]]:
    """Stored suggestions, best score first, of the given segments (default: all)."""
    sql = "SELECT * FROM suggestions"
    params: tuple[str, ...] = ()
    if segment_ids is not None:
        sql += f" WHERE segment_id IN {IDS}"
        params = (ids_param(segment_ids),)
    found: dict[int, list[Suggestion]] = defaultdict(list)
    for r in study.conn.execute(sql + " ORDER BY segment_id, score DESC", params):
        found[r["segment_id"]].append(record_from_row(Suggestion, r))
    return found
