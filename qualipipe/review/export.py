"""Review export: the workbook of segments to review, most uncertain first, pseudonymised."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from qualipipe.errors import StudyError
from qualipipe.records import Action, Source, Suggestion
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    IDS,
    CodeCheck,
    ExportResult,
    Order,
    OutlineEntry,
    ReviewFilter,
    RowHiders,
    SegmentContext,
    code_check,
    contexts_for,
    default_output_dir,
    ids_param,
    load_suggestions,
    location_label,
    outline_places,
    pseudonymise_rows,
    review_fingerprint,
    review_priorities,
    segment_outline,
    select_sources,
    shown_contexts,
    source_label,
)
from qualipipe.store import (
    CurrentDecision,
    Study,
    code_redirect_map,
    coder_key,
    first_value,
    list_participants,
    now_iso,
    study_identity,
)

DEFAULT_BATCH = 400  # rows an analyst reviews in one sitting; --tout for everything
CHUNK = 500  # rows pseudonymised and written at a time (progress, bounded memory)

# Progress callback: (what is being done, done, total).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SegmentDecisions:
    """What the decision history says about the selected segments (of one coder when given)."""

    coded: dict[int, dict[str, CurrentDecision]]  # segment -> code -> latest decision, whose
    comments: dict[int, tuple[str, str]]  # latest comment, its coder
    history: dict[int, str]  # "coder : code accepté ; …"


def _decisions(study: Study, segment_ids: Sequence[int], coder: str | None) -> SegmentDecisions:
    """One pass over the decisions of the given segments only.

    The history line lists each coder's current decisions (of `coder` only when given: a second
    coder must not see the first one's choices); the pre-filled decisions are the latest of anyone
    (or of `coder`).
    """
    redirects = code_redirect_map(study.conn)
    sql = f"SELECT segment_id, code_id, action, coder, comment FROM decisions WHERE segment_id IN {IDS}"
    params: list[str] = [ids_param(segment_ids)]
    if coder:
        sql += " AND coder_key(coder) = ?"
        params.append(coder_key(coder))
    coded: dict[int, dict[str, CurrentDecision]] = defaultdict(dict)
    comments: dict[int, tuple[str, str]] = {}
    latest: dict[tuple[int, str, str], str] = {}
    for r in study.conn.execute(sql + " ORDER BY id", params):
        segment_id = int(r["segment_id"])
        if r["action"] == Action.COMMENT.value:
            comments[segment_id] = (r["comment"], r["coder"])
            continue
        if r["code_id"] is None:
            continue
        code = redirects.get(r["code_id"], r["code_id"])
        applied = r["action"] in (Action.ACCEPT.value, Action.ADD.value)
        coded[segment_id][code] = CurrentDecision(applied, r["coder"])
        latest[(segment_id, r["coder"], code)] = r["action"]
    words = {"accept": "accepté", "add": "ajouté", "reject": "rejeté"}
    lines: dict[int, list[str]] = defaultdict(list)
    for (segment_id, who, code), action in sorted(latest.items()):
        lines[segment_id].append(f"{who} : {code} {words[action]}")
    history = {segment_id: " ; ".join(parts) for segment_id, parts in lines.items()}
    return SegmentDecisions(coded=dict(coded), comments=comments, history=history)


def _decided_among(study: Study, segment_ids: Sequence[int], coder: str | None) -> set[int]:
    sql = f"SELECT DISTINCT segment_id FROM decisions WHERE segment_id IN {IDS}"
    params: list[str] = [ids_param(segment_ids)]
    if coder:
        sql += " AND coder_key(coder) = ?"
        params.append(coder_key(coder))
    return {int(r[0]) for r in study.conn.execute(sql, params)}


def _in_family(
    study: Study, segment_ids: Sequence[int], family: str, check: CodeCheck, coder: str | None
) -> set[int]:
    """Segments suggested or coded (by `coder` when given) with a code of `family`."""
    family_of = {code.id: code.family for code in check.codebook.codes}
    ids = ids_param(segment_ids)
    pairs = list(
        study.conn.execute(
            f"SELECT segment_id, code_id FROM suggestions WHERE segment_id IN {IDS}", (ids,)
        )
    )
    sql = f"SELECT segment_id, code_id FROM decisions WHERE code_id IS NOT NULL AND segment_id IN {IDS}"
    params = [ids]
    if coder:
        sql += " AND coder_key(coder) = ?"
        params.append(coder_key(coder))
    pairs += list(study.conn.execute(sql, params))
    found = set()
    for segment_id, code_id in pairs:
        code = check.resolve(code_id)
        if family in (code, family_of.get(code)):
            found.add(int(segment_id))
    return found


def _participant_id(study: Study, wanted: str) -> str:
    """The participant's identifier from its identifier or pseudonym (one row read)."""
    found = first_value(
        study.conn,
        "SELECT id FROM participants WHERE id = ? OR pseudonym = ? LIMIT 1",
        (wanted, wanted),
    )
    if found is not None:
        return str(found)
    participants = list_participants(study.conn)
    known = ", ".join(p.id for p in participants[:12]) or "aucun"
    raise StudyError(
        f"Participant « {wanted} » inconnu : donnez son identifiant ou son pseudonyme "
        f"(identifiants : {known}{'…' if len(participants) > 12 else ''})."
    )


def select_segments(
    study: Study, selection: ReviewFilter, order: Order, check: CodeCheck
) -> tuple[list[int], list[OutlineEntry], dict[int, Source]]:
    """Segment ids matching the selection, in review order; with their outline and sources.

    Filters that live on sources (territory, participant, instrument, question) are applied in
    SQL, so a narrow selection reads only its own segments, whatever the size of the study.
    """
    territory = study.config.territory(selection.territory).id if selection.territory else None
    sources = select_sources(
        study,
        territory=territory,
        participant_id=_participant_id(study, selection.participant)
        if selection.participant
        else None,
        instrument=selection.instrument,
        question=selection.question,
    )
    outline = segment_outline(study, sources)
    candidates = [entry.segment_id for entry in outline if not entry.is_interviewer]
    decided = _decided_among(study, candidates, selection.coder)
    if selection.family:
        family = _in_family(study, candidates, selection.family, check, selection.coder)
        candidates = [segment_id for segment_id in candidates if segment_id in family]
    if selection.not_reviewed:
        candidates = [segment_id for segment_id in candidates if segment_id not in decided]
    if order is Order.UNCERTAINTY:
        # Not yet reviewed first, then the most uncertain; document order breaks ties.
        priority = review_priorities(study, candidates)
        candidates.sort(key=lambda s: (s in decided, -priority.get(s, 0.0)))
    return candidates, outline, sources


def export_review(
    study: Study,
    selection: ReviewFilter | None = None,
    *,
    order: Order = Order.UNCERTAINTY,
    output: Path | None = None,
    limit: int | None = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the review workbook for the selected segments; return where and how many rows.

    At most `limit` rows (the first in review order; None: all). The cost is proportional to the
    rows written: only the chosen segments, their neighbours, suggestions and decisions are read,
    and rows are pseudonymised and streamed to the workbook by chunks.
    """
    started = time.perf_counter()
    selection = selection or ReviewFilter()
    check = code_check(study)
    if selection.family and selection.family not in check.families | check.codable:
        families = ", ".join(sorted(check.families)) or "aucune"
        raise StudyError(
            f"Famille de codes « {selection.family} » inconnue (familles : {families})."
        )
    candidates, outline, sources = select_segments(study, selection, order, check)
    chosen = candidates if limit is None else candidates[:limit]
    labels = {code.id: code.label for code in check.codebook.codes}
    suggestions = load_suggestions(study, chosen)
    decisions = _decisions(study, chosen, selection.coder)
    suggested = {
        segment_id: [
            replace(s, code_id=check.resolve(s.code_id)) for s in suggestions.get(segment_id, [])
        ]
        for segment_id in chosen
    }
    slot_count = max(
        [
            len(
                {s.code_id for s in suggested[segment_id]}
                | set(decisions.coded.get(segment_id, {}))
            )
            for segment_id in chosen
        ]
        + [1]
    )
    path = Path(
        output
        or default_output_dir(study)
        / _default_name(
            study.config.territory(selection.territory).id if selection.territory else None,
            selection.coder,
        )
    )
    rows = _pseudonymised_rows(
        study, chosen, outline, sources, suggested, decisions, labels, progress
    )
    wb.write_review_workbook(
        path,
        rows,
        check.codebook,
        {
            "etude": study.config.name,
            "dossier": study.root.name,
            "exporte_le": now_iso(),
            wb.META_CODER: selection.coder or "",
            "codebook": f"{check.codebook.name} {check.codebook.version}",
            wb.META_STUDY_ID: study_identity(study.conn),
            wb.META_EXPORT_ID: uuid.uuid4().hex,
        },
        slot_count=slot_count,
    )
    return ExportResult(
        path=path,
        rows=len(chosen),
        suggestions=sum(len(suggested[segment_id]) for segment_id in chosen),
        selected=len(candidates),
        study_root=study.root,
        coder=selection.coder,
        seconds=time.perf_counter() - started,
    )


def _pseudonymised_rows(
    study: Study,
    chosen: Sequence[int],
    outline: Sequence[OutlineEntry],
    sources: dict[int, Source],
    suggested: dict[int, list[Suggestion]],
    decisions: SegmentDecisions,
    labels: dict[str, str],
    progress: Progress | None,
) -> Iterator[wb.ReviewRow]:
    """Review rows by chunks: contexts read, names hidden, then handed to the writer."""
    hiders = RowHiders.for_study(study)
    participants = {p.id: p for p in list_participants(study.conn)}
    place = outline_places(outline)
    if progress:
        progress("Extraits écrits", 0, len(chosen))
    for start in range(0, len(chosen), CHUNK):
        chunk = chosen[start : start + CHUNK]
        contexts = contexts_for(study, chunk, outline, sources, participants, place)
        shown = dict(zip(chunk, shown_contexts([contexts[s] for s in chunk], hiders), strict=True))
        raw = [
            _review_row(
                contexts[segment_id],
                shown[segment_id],
                suggested[segment_id],
                decisions.coded.get(segment_id, {}),
                labels,
                decisions.comments.get(segment_id, ("", "")),
                decisions.history.get(segment_id, ""),
            )
            for segment_id in chunk
        ]
        yield from pseudonymise_rows(raw, hiders)
        if progress:
            progress("Extraits écrits", start + len(chunk), len(chosen))


def _default_name(territory: str | None, coder: str | None) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parts = ["revue", territory or "etude"]
    if coder:
        parts.append(re.sub(r"[^\w-]+", "_", coder))
    return "_".join(parts) + f"_{stamp}.xlsx"


def _review_row(
    context: SegmentContext,
    shown: tuple[str, str, str, str],
    suggested: list[Suggestion],
    coded: dict[str, CurrentDecision],
    labels: dict[str, str],
    comment: tuple[str, str],
    history: str,
) -> wb.ReviewRow:
    """The row with its context texts `shown` (pseudonymised); `pseudonymise_rows` hides the
    names left in reasons and labels."""
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
                decided_by=_decided_by(coded.get(s.code_id)),
            )
        )
    # Codes applied by analysts without a suggestion stay visible, with their current decision.
    for code, decided in sorted(coded.items()):
        if code in seen or not decided.applied:
            continue
        seen.add(code)
        slots.append(
            wb.CodeSlot(
                code_id=code,
                label=labels.get(code, ""),
                score=None,
                reason="ajouté par un·e analyste",
                decision=wb.ACCEPT,
                decided_by=decided.coder,
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
        source=source_label(source, participant),
        location=location_label(replace(segment, speaker=shown[3])),
        before=shown[0],
        text=shown[1],
        after=shown[2],
        slots=tuple(slots),
        comment=comment[0],
        comment_by=comment[1],
        history=history,
    )


def _decision_word(decided: CurrentDecision | None) -> str:
    if decided is None:
        return ""
    return wb.ACCEPT if decided.applied else wb.REJECT


def _decided_by(decided: CurrentDecision | None) -> str:
    return decided.coder if decided else ""
