"""Analyst review: export segments with their suggested codes, import the decisions back.

The review rules live here; `qualipipe.review_workbook` only writes and reads the .xlsx files.

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

import csv
import hashlib
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from qualipipe import review_workbook as wb
from qualipipe.errors import InputError, Problem, StudyError
from qualipipe.pseudonymize import Pseudonymizer, pseudonymizer_for
from qualipipe.records import Action, Codebook, Decision, Participant, Segment, Source, Suggestion
from qualipipe.store import (
    Study,
    append_decision,
    code_redirect_map,
    current_codebook,
    current_coding,
    get_meta,
    list_participants,
    now_iso,
    row_to_segment,
    row_to_source,
)

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
    """1 when the score sits on the code's threshold, 0 when it is as far from it as possible.

    The one place where review order is decided: a suggestion close to its threshold is the one
    an analyst's decision teaches the most.
    """
    span = max(threshold, 1.0 - threshold) or 1.0
    return max(0.0, 1.0 - abs(score - threshold) / span)


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


def pseudonymizer(study: Study) -> Pseudonymizer:
    """For verbatims: manifest names → pseudonyms, other person names (spaCy) → placeholder."""
    return pseudonymizer_for(study)


def label_pseudonymizer(study: Study) -> Pseudonymizer:
    """For file names and speaker labels: manifest names only (NER mistakes file names for people)."""
    return pseudonymizer_for(study, use_entities=False)


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
    return Path("outputs") / study.root.name / "revue"


def fold_key(text: str) -> str:
    """Case- and accent-insensitive form of a header or a choice."""
    decomposed = unicodedata.normalize("NFD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def source_label(source: Source) -> str:
    if source.instrument or source.question_code:
        return " / ".join(p for p in (source.instrument, source.question_code) if p)
    return Path(source.path).name if source.path else source.key


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


def _decided_segments(study: Study, coder: str | None) -> set[int]:
    sql = "SELECT DISTINCT segment_id FROM decisions"
    params: tuple[str, ...] = ()
    if coder:
        sql += " WHERE coder = ?"
        params = (coder,)
    return {int(r[0]) for r in study.conn.execute(sql, params)}


def _latest_comments(study: Study, coder: str | None) -> dict[int, str]:
    sql = "SELECT segment_id, comment FROM decisions WHERE action = 'comment'"
    params: tuple[str, ...] = ()
    if coder:
        sql += " AND coder = ?"
        params = (coder,)
    comments: dict[int, str] = {}
    for r in study.conn.execute(sql + " ORDER BY id", params):
        comments[int(r["segment_id"])] = r["comment"]
    return comments


def _history_summary(study: Study, coder: str | None) -> dict[int, str]:
    """Per segment, the current decisions of each coder (of `coder` only when given: a second
    coder must not see the first one's choices), as a short French line."""
    redirects = code_redirect_map(study.conn)
    latest: dict[tuple[int, str, str], str] = {}
    sql = "SELECT segment_id, code_id, action, coder FROM decisions WHERE code_id IS NOT NULL"
    params: tuple[str, ...] = ()
    if coder:
        sql += " AND coder = ?"
        params = (coder,)
    for r in study.conn.execute(sql + " ORDER BY id", params):
        code = redirects.get(r["code_id"], r["code_id"])
        latest[(r["segment_id"], r["coder"], code)] = r["action"]
    words = {"accept": "accepté", "add": "ajouté", "reject": "rejeté"}
    lines: dict[int, list[str]] = defaultdict(list)
    for (segment_id, coder, code), action in sorted(latest.items()):
        lines[segment_id].append(f"{coder} : {code} {words[action]}")
    return {segment_id: " ; ".join(parts) for segment_id, parts in lines.items()}


def _matches(
    context: SegmentContext,
    selection: ReviewFilter,
    suggested: list[Suggestion],
    coded: set[str],
    family_of: dict[str, str],
    decided: set[int],
) -> bool:
    participant = context.participant
    if selection.participant and (
        participant is None or selection.participant not in (participant.id, participant.pseudonym)
    ):
        return False
    if selection.instrument and context.source.instrument != selection.instrument:
        return False
    if selection.question and context.source.question_code != selection.question:
        return False
    if selection.family:
        codes = {s.code_id for s in suggested} | coded
        if not any(selection.family in (code, family_of.get(code)) for code in codes):
            return False
    return not (selection.not_reviewed and context.segment.id in decided)


def _require_participant(study: Study, wanted: str) -> None:
    participants = list_participants(study.conn)
    if not any(wanted in (p.id, p.pseudonym) for p in participants):
        known = ", ".join(p.id for p in participants[:12]) or "aucun"
        raise StudyError(
            f"Participant « {wanted} » inconnu : donnez son identifiant ou son pseudonyme "
            f"(identifiants : {known}{'…' if len(participants) > 12 else ''})."
        )


def export_review(
    study: Study,
    selection: ReviewFilter | None = None,
    *,
    order: Order = Order.UNCERTAINTY,
    output: Path | None = None,
) -> ExportResult:
    """Write the review workbook for the selected segments; return where and how many rows."""
    selection = selection or ReviewFilter()
    territory = study.config.territory(selection.territory).id if selection.territory else None
    check = code_check(study)
    if selection.family and selection.family not in check.families | check.codable:
        families = ", ".join(sorted(check.families)) or "aucune"
        raise StudyError(
            f"Famille de codes « {selection.family} » inconnue (familles : {families})."
        )
    if selection.participant:
        _require_participant(study, selection.participant)
    labels = {code.id: code.label for code in check.codebook.codes}
    family_of = {code.id: code.family for code in check.codebook.codes}
    suggestions = load_suggestions(study)
    coding = current_coding(study.conn, coder=selection.coder)
    coded_by_segment: dict[int, dict[str, bool]] = defaultdict(dict)
    for (segment_id, code), applied in coding.items():
        coded_by_segment[segment_id][code] = applied
    decided = _decided_segments(study, selection.coder)
    comments = _latest_comments(study, selection.coder)
    history = _history_summary(study, selection.coder)

    chosen: list[tuple[SegmentContext, list[Suggestion]]] = []
    for context in load_contexts(study, territory):
        segment_id = context.segment.id or 0
        suggested = [
            replace(s, code_id=check.resolve(s.code_id)) for s in suggestions.get(segment_id, [])
        ]
        if _matches(
            context,
            selection,
            suggested,
            set(coded_by_segment.get(segment_id, {})),
            family_of,
            decided,
        ):
            chosen.append((context, suggested))
    if order is Order.UNCERTAINTY:
        # Not yet reviewed first, then the most uncertain; document order breaks ties.
        priority = review_priorities(study, suggestions)
        chosen.sort(
            key=lambda item: (
                item[0].segment.id in decided,
                -priority.get(item[0].segment.id or 0, 0.0),
            )
        )

    raw_rows = [
        _review_row(
            context,
            suggested,
            coded_by_segment.get(context.segment.id or 0, {}),
            labels,
            comments.get(context.segment.id or 0, ""),
            history.get(context.segment.id or 0, ""),
        )
        for context, suggested in chosen
    ]
    rows = pseudonymise_rows(raw_rows, pseudonymizer(study), label_pseudonymizer(study))
    entries = codebook_entries(check.codebook)
    path = output or default_output_dir(study) / _default_name(territory, selection.coder)
    wb.write_review_workbook(
        Path(path),
        rows,
        entries,
        {
            "etude": study.config.name,
            "dossier": study.root.name,
            "exporte_le": now_iso(),
            "codeur": selection.coder or "",
            "codebook": f"{check.codebook.name} {check.codebook.version}",
        },
    )
    return ExportResult(path=Path(path), rows=len(rows), suggestions=sum(len(s) for _, s in chosen))


def _default_name(territory: str | None, coder: str | None) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parts = ["revue", territory or "etude"]
    if coder:
        parts.append(re.sub(r"[^\w-]+", "_", coder))
    return "_".join(parts) + f"_{stamp}.xlsx"


def codebook_entries(codebook: Codebook) -> list[wb.CodebookEntry]:
    labels = {code.id: code.label for code in codebook.codes}
    return [
        wb.CodebookEntry(
            code_id=code.id,
            label=code.label,
            family=labels.get(code.family, code.family),
            definition=code.definition,
            include=code.include,
            exclude=code.exclude,
        )
        for code in codebook.codes
        if code.codable
    ]


def _review_row(
    context: SegmentContext,
    suggested: list[Suggestion],
    coded: dict[str, bool],
    labels: dict[str, str],
    comment: str,
    history: str,
) -> wb.ReviewRow:
    """The row as stored (real names still in): `pseudonymise_rows` hides them."""
    slots: list[wb.CodeSlot] = []
    seen: set[str] = set()
    for s in suggested:
        if s.code_id in seen:
            continue
        seen.add(s.code_id)
        slots.append(
            wb.CodeSlot(
                code_id=s.code_id,
                label=labels.get(s.code_id, ""),
                score=s.score,
                reason=s.explanation,
                decision=_decision_word(coded.get(s.code_id)),
            )
        )
    # Codes applied by analysts without a suggestion stay visible, with their current decision.
    for code, applied in sorted(coded.items()):
        if code in seen or not applied:
            continue
        seen.add(code)
        slots.append(
            wb.CodeSlot(
                code_id=code,
                label=labels.get(code, ""),
                score=None,
                reason="ajouté par un·e analyste",
                decision=wb.ACCEPT,
            )
        )
    segment = context.segment
    participant = context.participant
    source = context.source
    text_hash = hashlib.sha256(segment.text.encode("utf-8")).hexdigest()
    return wb.ReviewRow(
        segment_id=segment.id or 0,
        fingerprint=review_fingerprint(segment.id or 0, text_hash, [s.code_id for s in slots]),
        territory=source.territory_id or (participant.territory_id if participant else ""),
        participant=participant.pseudonym if participant else "",
        role=participant.role.value if participant else "",
        source=source_label(source),
        location=location_label(segment),
        before=context.before,
        text=segment.text,
        after=context.after,
        slots=tuple(slots),
        comment=comment,
        history=history,
    )


def _decision_word(applied: bool | None) -> str:
    if applied is None:
        return ""
    return wb.ACCEPT if applied else wb.REJECT


# ---------------------------------------------------------------------------------------------
# Import: validation
# ---------------------------------------------------------------------------------------------


def _normalise_choice(text: str) -> str:
    return fold_key(text)


@dataclass(frozen=True)
class _SegmentState:
    text_hash: str
    retired: bool


def _segment_states(study: Study) -> dict[int, _SegmentState]:
    return {
        int(r["id"]): _SegmentState(text_hash=r["text_hash"], retired=bool(r["retired"]))
        for r in study.conn.execute("SELECT id, text_hash, retired FROM segments")
    }


def _check_headers(sheet: wb.ReadSheet, required: Sequence[str], file: str) -> None:
    missing = [h for h in required if h not in sheet.headers]
    if missing:
        raise InputError(
            f"{file} : colonnes absentes, rien n'a été importé.",
            [
                Problem(
                    file,
                    f"la colonne « {h} » a disparu (renommée ou supprimée ?) : reprenez le classeur "
                    "exporté sans modifier les en-têtes.",
                    line=1,
                    sheet=sheet.name,
                )
                for h in missing
            ],
        )


def _slot_count(headers: Sequence[str]) -> int:
    k = 0
    while wb.slot_headers(k + 1)[3] in headers:
        k += 1
    return k


def _row_segment(
    row: wb.SheetRow,
    file: str,
    sheet: str,
    states: dict[int, _SegmentState],
    seen: dict[int | tuple[int, str], int],
    key_extra: str | None,
    shown_codes: Sequence[str],
    problems: list[Problem],
) -> int | None:
    """Checks shared by both workbook kinds: hidden id, duplicates, fingerprint, retired segment."""

    def fail(message: str, header: str | None = None) -> None:
        problems.append(
            Problem(
                file,
                message,
                line=row.line,
                column=row.where(header) if header else None,
                sheet=sheet,
            )
        )

    raw_id = row.text(wb.COL_SEGMENT_ID)
    segment_id = int(raw_id) if raw_id.isdecimal() else None
    if segment_id is None or segment_id not in states:
        fail(
            f"l'identifiant caché « {raw_id or '(vide)'} » a été modifié ou effacé : cette ligne "
            "ne peut plus être rattachée à un extrait. Reprenez-la depuis le classeur exporté.",
            wb.COL_SEGMENT_ID,
        )
        return None
    key: int | tuple[int, str] = segment_id if key_extra is None else (segment_id, key_extra)
    if key in seen:
        fail(
            f"ligne en double : la ligne {seen[key]} porte déjà sur le même extrait"
            + (f" et le même code ({key_extra})" if key_extra else "")
            + ". Supprimez l'une des deux.",
        )
        return None
    seen[key] = row.line
    state = states[segment_id]
    expected = review_fingerprint(segment_id, state.text_hash, shown_codes)
    if row.text(wb.COL_FINGERPRINT) != expected:
        fail(
            "un identifiant caché (colonnes masquées id_segment, empreinte) ou un code proposé "
            "a été modifié : la ligne ne correspond plus à l'extrait exporté. Reprenez-la "
            "depuis le classeur exporté.",
            wb.COL_SEGMENT_ID,
        )
        return None
    if state.retired:
        fail(
            "cet extrait n'existe plus dans l'étude (la source a été corrigée et ré-ingérée "
            "depuis l'export). Exportez un nouveau classeur pour revoir le texte actuel.",
            wb.COL_SEGMENT,
        )
        return None
    return segment_id


DECISION_CHOICE_MESSAGE = (
    f"n'est pas une décision possible : choisissez « {wb.ACCEPT} » ou « {wb.REJECT} » dans la "
    "liste, ou laissez vide."
)


def _slot_decisions(
    row: wb.SheetRow, slots: int, check: CodeCheck
) -> tuple[list[tuple[str, Action]], list[tuple[str, str]]]:
    """(code, accept|reject) filled in the "Décision k" columns, and (header, problem) found."""
    decisions: list[tuple[str, Action]] = []
    problems: list[tuple[str, str]] = []
    for k in range(1, slots + 1):
        code_header, _, _, decision_header = wb.slot_headers(k)
        code = wb.code_id_of(row.text(code_header))
        word = _normalise_choice(row.text(decision_header))
        if not word:
            continue
        if word not in wb.DECISION_CHOICES:
            problems.append(
                (decision_header, f"« {row.text(decision_header)} » {DECISION_CHOICE_MESSAGE}")
            )
        elif not code:
            problems.append((decision_header, "décision sans code en face : laissez-la vide."))
        elif reason := check.problem(code):
            problems.append((code_header, reason))
        else:
            decisions.append((code, Action.ACCEPT if word == wb.ACCEPT else Action.REJECT))
    return decisions, problems


def _added_codes(row: wb.SheetRow, check: CodeCheck) -> tuple[list[str], list[tuple[str, str]]]:
    """Codes chosen in the "Code à ajouter k" columns (";" also separates several codes)."""
    codes: list[str] = []
    problems: list[tuple[str, str]] = []
    for header in (wb.add_header(k) for k in range(1, wb.ADD_COLUMNS + 1)):
        for choice in re.split(r"[;\n]", row.text(header)):
            code = wb.code_id_of(choice)
            if not code:
                continue
            if reason := check.problem(code):
                problems.append((header, reason))
            else:
                codes.append(code)
    return codes, problems


def validate_review_sheet(
    study: Study, read: wb.ReadWorkbook, coder: str, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem]]:
    file = read.path.name
    sheet = read.sheet
    _check_headers(sheet, [wb.COL_SEGMENT_ID, wb.COL_FINGERPRINT, wb.COL_COMMENT], file)
    states = _segment_states(study)
    slots = _slot_count(sheet.headers)
    seen: dict[int | tuple[int, str], int] = {}
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    for row in sheet.rows:
        shown = [
            wb.code_id_of(row.text(wb.slot_headers(k)[0]))
            for k in range(1, slots + 1)
            if row.text(wb.slot_headers(k)[0])
        ]
        row_problems: list[Problem] = []
        segment_id = _row_segment(row, file, sheet.name, states, seen, None, shown, row_problems)
        decided, slot_problems = _slot_decisions(row, slots, check)
        added, add_problems = _added_codes(row, check)
        row_problems.extend(
            Problem(file, message, line=row.line, column=row.where(header), sheet=sheet.name)
            for header, message in (*slot_problems, *add_problems)
        )
        if row_problems or segment_id is None:
            problems.extend(row_problems)
            continue
        decisions = [_decision(segment_id, code, action, coder, file) for code, action in decided]
        decisions += [_decision(segment_id, code, Action.ADD, coder, file) for code in added]
        if comment := row.text(wb.COL_COMMENT):
            decisions.append(
                _decision(segment_id, None, Action.COMMENT, coder, file, comment=comment)
            )
        planned.extend(PlannedDecision(decision=d, line=row.line) for d in decisions)
    return planned, problems


def validate_disagreement_sheet(
    study: Study, read: wb.ReadWorkbook, coder: str, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem]]:
    file = read.path.name
    sheet = read.sheet
    _check_headers(
        sheet, [wb.COL_SEGMENT_ID, wb.COL_CODE_ID, wb.COL_FINGERPRINT, wb.COL_AGREED], file
    )
    states = _segment_states(study)
    seen: dict[int | tuple[int, str], int] = {}
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    for row in sheet.rows:
        row_problems: list[Problem] = []
        code = row.text(wb.COL_CODE_ID)
        segment_id = _row_segment(row, file, sheet.name, states, seen, code, [code], row_problems)
        word = _normalise_choice(row.text(wb.COL_AGREED))
        decision: Decision | None = None
        if word and word not in wb.DECISION_CHOICES:
            row_problems.append(
                Problem(
                    file,
                    f"« {row.text(wb.COL_AGREED)} » {DECISION_CHOICE_MESSAGE}",
                    line=row.line,
                    column=row.where(wb.COL_AGREED),
                    sheet=sheet.name,
                )
            )
        elif word and segment_id is not None:
            reason = check.problem(code)
            if reason:
                row_problems.append(
                    Problem(
                        file,
                        reason,
                        line=row.line,
                        column=row.where(wb.COL_CODE_ID),
                        sheet=sheet.name,
                    )
                )
            else:
                action = Action.ACCEPT if word == wb.ACCEPT else Action.REJECT
                decision = _decision(
                    segment_id, code, action, coder, file, comment=row.text(wb.COL_COMMENT)
                )
        if row_problems or segment_id is None:
            problems.extend(row_problems)
            continue
        if decision is not None:
            planned.append(PlannedDecision(decision=decision, line=row.line))
    return planned, problems


def _decision(
    segment_id: int | None,
    code: str | None,
    action: Action,
    coder: str,
    origin: str,
    *,
    comment: str = "",
) -> Decision:
    return Decision(
        segment_id=segment_id or 0,
        action=action,
        coder=coder,
        code_id=code,
        comment=comment,
        origin=origin,
    )


# ---------------------------------------------------------------------------------------------
# Import: the analyst decision CSV (fichier;extrait;code;decision;codeur;commentaire)
# ---------------------------------------------------------------------------------------------

CSV_COLUMNS = ("fichier", "extrait", "code", "decision", "codeur", "commentaire")
CSV_REQUIRED = ("fichier", "extrait", "code", "decision")


def _read_csv_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel "CSV (séparateur : point-virgule)" on Windows writes cp1252.
        return raw.decode("cp1252", errors="replace")


def _squash(text: str) -> str:
    # Tolerate what copy-paste from Word or Excel changes: spacing, case, apostrophes.
    text = unicodedata.normalize("NFC", text).replace("’", "'").casefold()
    return re.sub(r"\s+", " ", text).strip()


def _sources_by_file(study: Study) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for r in study.conn.execute("SELECT id, key, path FROM sources ORDER BY id"):
        names = {r["key"], r["path"], Path(r["path"]).name, Path(r["key"]).name}
        for name in names - {""}:
            if r["id"] not in index[name]:
                index[name].append(r["id"])
    return index


def _active_by_source(study: Study) -> dict[int, list[Segment]]:
    found: dict[int, list[Segment]] = defaultdict(list)
    for r in study.conn.execute(
        "SELECT * FROM segments WHERE retired = 0 ORDER BY source_id, ordinal"
    ):
        found[r["source_id"]].append(row_to_segment(r))
    return found


def _find_segment(extract: str, segments: Sequence[Segment]) -> list[Segment]:
    exact = [s for s in segments if extract in s.text]
    if exact:
        return exact
    squashed = _squash(extract)
    return [s for s in segments if squashed in _squash(s.text)]


@dataclass(frozen=True)
class _CsvRow:
    line: int
    values: dict[str, str]  # folded header -> stripped value

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def _read_decision_csv(
    path: Path, default_coder: str | None
) -> tuple[list[_CsvRow], dict[str, str]]:
    """Rows keyed by folded header, and the column letter of each known header."""
    file = path.name
    text = _read_csv_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{file} est vide.", [Problem(file, "aucune ligne d'en-tête.", line=1)])
    columns = {fold_key(name): index for index, name in enumerate(header)}
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if not default_coder and "codeur" not in columns:
        missing.append("codeur")
    if missing:
        raise InputError(
            f"{file} : colonnes obligatoires absentes, rien n'a été importé.",
            [
                Problem(
                    file,
                    f"colonne « {name} » absente ; en-têtes attendus : {';'.join(CSV_COLUMNS)} "
                    "(ou donnez --coder si la colonne codeur manque).",
                    line=1,
                )
                for name in missing
            ],
        )
    rows = []
    for values in reader:
        if any(v.strip() for v in values):
            rows.append(
                _CsvRow(
                    line=reader.line_num,
                    values={
                        name: values[index].strip()
                        for name, index in columns.items()
                        if index < len(values)
                    },
                )
            )
    letters = {name: _column_letter(columns[name]) for name in CSV_COLUMNS if name in columns}
    return rows, letters


def _locate_extract(
    name: str, extract: str, sources: dict[str, list[int]], segments: dict[int, list[Segment]]
) -> tuple[Segment | None, tuple[str, str] | None]:
    """The one active segment of file `name` holding `extract`, or (column, French problem)."""
    source_ids = sources.get(name, [])
    if not source_ids:
        return None, (
            "fichier",
            f"aucune source ingérée ne s'appelle « {name} » : vérifiez le nom du fichier "
            "(tel qu'il est dans le dossier entretiens/) et que l'ingestion a été faite.",
        )
    if not extract:
        return None, ("extrait", "extrait vide : copiez un passage exact du segment concerné.")
    found = _find_segment(extract, [s for sid in source_ids for s in segments.get(sid, [])])
    if not found:
        return None, (
            "extrait",
            f"extrait introuvable dans les segments actuels de « {name} » (texte modifié ou "
            "ré-ingéré ?) : copiez un passage exact de la transcription.",
        )
    if len(found) > 1:
        numbers = ", ".join(str(s.ordinal + 1) for s in found[:5])
        return None, (
            "extrait",
            f"extrait ambigu : il apparaît dans {len(found)} segments (n° {numbers}) ; "
            "allongez-le pour qu'il désigne un seul segment.",
        )
    return found[0], None


def validate_decision_csv(
    study: Study, path: Path, default_coder: str | None, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem], int]:
    file = path.name
    rows, letters = _read_decision_csv(path, default_coder)
    sources = _sources_by_file(study)
    segments = _active_by_source(study)
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    seen: dict[tuple[int, str, str], int] = {}
    for row in rows:
        found: list[tuple[str, str]] = []  # (column, message)
        code, word = row.get("code"), fold_key(row.get("decision"))
        coder = row.get("codeur") or (default_coder or "")
        if not coder:
            found.append(("codeur", "codeur manquant : indiquez qui a pris la décision."))
        if word not in CSV_DECISIONS:
            found.append(
                (
                    "decision",
                    f"« {row.get('decision')} » n'est pas une décision possible : écrivez "
                    f"« {wb.ACCEPT} », « {wb.REJECT} » ou « {ADDED} ».",
                )
            )
        reason = check.problem(code) if code else "code manquant."
        if reason:
            found.append(("code", reason))
        segment, located = _locate_extract(
            row.get("fichier"), row.get("extrait"), sources, segments
        )
        if located:
            found.append(located)
        if segment is not None and coder and not reason:
            key = (segment.id or 0, check.resolve(code), coder)
            if key in seen:
                found.append(
                    (
                        "extrait",
                        f"ligne en double : la ligne {seen[key]} porte déjà sur le même extrait, "
                        "le même code et le même codeur. Supprimez l'une des deux.",
                    )
                )
            seen.setdefault(key, row.line)
        problems.extend(
            Problem(file, message, line=row.line, column=f"{letters.get(column, '?')} ({column})")
            for column, message in found
        )
        if found or segment is None:
            continue
        decision = _decision(
            segment.id, code, CSV_DECISIONS[word], coder, file, comment=row.get("commentaire")
        )
        planned.append(PlannedDecision(decision=decision, line=row.line))
    return planned, problems, len(rows)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


# ---------------------------------------------------------------------------------------------
# Import: applying
# ---------------------------------------------------------------------------------------------


def import_decisions(
    study: Study, path: Path | str, coder: str | None = None, *, partial: bool = False
) -> ImportResult:
    """Validate a review workbook (.xlsx) or an analyst decision file (.csv), then append it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"Fichier introuvable : {path}", [Problem(str(path), "ce fichier n'existe pas.")]
        )
    check = code_check(study)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        planned, problems, rows = validate_decision_csv(study, path, coder, check)
    elif suffix in (".xlsx", ".xlsm"):
        read = wb.read_workbook(path)
        if read.kind == wb.KIND_DISAGREEMENTS:
            coder = coder or CONSENSUS_CODER
            planned, problems = validate_disagreement_sheet(study, read, coder, check)
        else:
            if not coder:
                raise InputError(
                    f"{path.name} : codeur manquant.",
                    [
                        Problem(
                            path.name,
                            "indiquez qui a rempli ce classeur : --coder VOTRE_NOM.",
                        )
                    ],
                )
            planned, problems = validate_review_sheet(study, read, coder, check)
        rows = len(read.sheet.rows)
    else:
        raise InputError(
            f"{path.name} : format non pris en charge.",
            [Problem(path.name, _unsupported_format_hint(suffix))],
        )
    problems.sort(key=_problem_order)
    if problems and not partial:
        raise InputError(
            f"{path.name} : {len(problems)} problème(s) ; rien n'a été importé. Corrigez-les, "
            "ou relancez avec --partial pour importer les lignes correctes.",
            problems,
        )
    coders = tuple(sorted({p.decision.coder for p in planned} | ({coder} if coder else set())))
    return _append(study, path, planned, coders, rows, tuple(problems))


def _unsupported_format_hint(suffix: str) -> str:
    if suffix in (".ods", ".xls"):
        # The usual slip with LibreOffice: "Keep current format" was not chosen on save.
        return (
            f"le classeur a été enregistré au format {suffix}. Ouvrez-le et enregistrez-le au "
            "format .xlsx (LibreOffice : Fichier > Enregistrer sous…, type « Excel 2007-365 "
            "(.xlsx) »), puis importez le fichier .xlsx."
        )
    return "importez un classeur de revue .xlsx ou un fichier de décisions .csv."


def _problem_order(problem: Problem) -> tuple[int, int, str]:
    letters = (problem.column or "").split(" ", 1)[0]
    return (problem.line or 0, len(letters), letters)


def _append(
    study: Study,
    path: Path,
    planned: Sequence[PlannedDecision],
    coders: tuple[str, ...],
    rows: int,
    rejected: tuple[Problem, ...],
) -> ImportResult:
    digest = file_hash(path)
    coder_key = ",".join(coders)
    with study.transaction() as conn:
        previous = conn.execute(
            "SELECT imported_at FROM imports WHERE file_hash = ? AND coder = ?",
            (digest, coder_key),
        ).fetchone()
        if previous:
            return ImportResult(
                file=path.name,
                coders=coders,
                rows_read=rows,
                decisions_added=0,
                unchanged=len(planned),
                already_imported=True,
                rejected=rejected,
            )
        fresh = _new_decisions(study, planned)
        cur = conn.execute(
            "INSERT INTO imports (file_name, file_hash, coder, imported_at, rows) VALUES (?, ?, ?, ?, ?)",
            (path.name, digest, coder_key, now_iso(), len(fresh)),
        )
        import_id = int(cur.lastrowid or 0)
        stamp = now_iso()
        for decision in fresh:
            append_decision(
                conn,
                replace(decision, decided_at=stamp),
                import_id=import_id,
            )
    return ImportResult(
        file=path.name,
        coders=coders,
        rows_read=rows,
        decisions_added=len(fresh),
        unchanged=len(planned) - len(fresh),
        rejected=rejected,
    )


def _new_decisions(study: Study, planned: Sequence[PlannedDecision]) -> list[Decision]:
    """Drop decisions that would not change the coder's current coding (re-exported pre-fills)."""
    redirects = code_redirect_map(study.conn)
    by_coder: dict[str, dict[tuple[int, str], bool]] = {}
    comments: dict[str, dict[int, str]] = {}
    fresh: list[Decision] = []
    for item in planned:
        d = item.decision
        if d.coder not in by_coder:
            by_coder[d.coder] = current_coding(study.conn, coder=d.coder)
            comments[d.coder] = _latest_comments(study, d.coder)
        if d.action is Action.COMMENT:
            if comments[d.coder].get(d.segment_id) == d.comment:
                continue
            comments[d.coder][d.segment_id] = d.comment
        else:
            key = (d.segment_id, redirects.get(d.code_id or "", d.code_id or ""))
            applied = d.action in (Action.ACCEPT, Action.ADD)
            if by_coder[d.coder].get(key) == applied and not d.comment:
                continue
            by_coder[d.coder][key] = applied
        fresh.append(d)
    return fresh
