"""Review export: the workbook of segments to review, most uncertain first, pseudonymised."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from qualipipe.errors import StudyError
from qualipipe.pseudonymize import Policy, pseudonymizer_for
from qualipipe.records import Codebook, Suggestion
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    ExportResult,
    Order,
    ReviewFilter,
    SegmentContext,
    code_check,
    default_output_dir,
    load_contexts,
    load_suggestions,
    location_label,
    pseudonymise_rows,
    review_fingerprint,
    review_priorities,
    source_label,
)
from qualipipe.store import (
    CurrentDecision,
    Study,
    code_redirect_map,
    coder_key,
    current_decisions,
    latest_comments,
    list_participants,
    now_iso,
    study_identity,
)


def _decided_segments(study: Study, coder: str | None) -> set[int]:
    sql = "SELECT DISTINCT segment_id FROM decisions"
    params: tuple[str, ...] = ()
    if coder:
        sql += " WHERE coder_key(coder) = ?"
        params = (coder_key(coder),)
    return {int(r[0]) for r in study.conn.execute(sql, params)}


def _history_summary(study: Study, coder: str | None) -> dict[int, str]:
    """Per segment, the current decisions of each coder (of `coder` only when given: a second
    coder must not see the first one's choices), as a short French line."""
    redirects = code_redirect_map(study.conn)
    latest: dict[tuple[int, str, str], str] = {}
    sql = "SELECT segment_id, code_id, action, coder FROM decisions WHERE code_id IS NOT NULL"
    params: tuple[str, ...] = ()
    if coder:
        sql += " AND coder_key(coder) = ?"
        params = (coder_key(coder),)
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
    coding = current_decisions(study.conn, coder=selection.coder)
    coded_by_segment: dict[int, dict[str, CurrentDecision]] = defaultdict(dict)
    for (segment_id, code), latest in coding.items():
        coded_by_segment[segment_id][code] = latest
    decided = _decided_segments(study, selection.coder)
    comments = latest_comments(study.conn, selection.coder)
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
            comments.get(context.segment.id or 0, ("", "")),
            history.get(context.segment.id or 0, ""),
        )
        for context, suggested in chosen
    ]
    rows = pseudonymise_rows(
        raw_rows, pseudonymizer_for(study), pseudonymizer_for(study, Policy.LABEL)
    )
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
            wb.META_CODER: selection.coder or "",
            "codebook": f"{check.codebook.name} {check.codebook.version}",
            wb.META_STUDY_ID: study_identity(study.conn),
            wb.META_EXPORT_ID: uuid.uuid4().hex,
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
    coded: dict[str, CurrentDecision],
    labels: dict[str, str],
    comment: tuple[str, str],
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
        location=location_label(segment),
        before=context.before,
        text=segment.text,
        after=context.after,
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


# ---------------------------------------------------------------------------------------------
# Import: validation
# ---------------------------------------------------------------------------------------------
