"""The territory's prioritised issues: workshop-2 ranking joined with the shared issues of the
interviews and the workshop-1 notes, one row per codebook issue.

Workshop-2 items are the prioritisation instrument's sub-questions (« Mobilité »…); they are tied
to the codebook's issue codes by their wording (« Alimentation » ↔ « Alimentation et
agriculture »). An item no code matches keeps its own code and label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qualipipe.records import Codebook
from qualipipe.store import Study
from qualipipe.synthesize import survey_tables as st
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.instruments import (
    PRIORITISATION,
    find_instrument,
    prioritisation_questions,
)
from qualipipe.synthesize.model import Cell, Table, TerritoryData
from qualipipe.synthesize.priorities import ItemPriority, prioritise
from qualipipe.text import fold_key

SECTION_PRIORITIES = "Enjeux prioritaires (atelier 2)"
_SMALL_WORDS = {"de", "des", "du", "la", "le", "les", "et", "aux", "au", "d", "l", "a", "en"}


@dataclass(frozen=True)
class PriorityIssue:
    code: str
    label: str
    workshop_rank: int | None  # rank in the workshop-2 aggregate (Borda, then points…)
    borda: int | None
    points: float | None
    importance: float | None
    feasibility: float | None
    dissensus: bool
    shared_rank: int | None  # rank among the interviews' shared issues
    participants: int  # interviewees who raise it
    founders: int
    actors: int
    segments: int

    @property
    def rank_key(self) -> tuple[int, int, str]:
        big = 10**6
        return (self.workshop_rank or big, self.shared_rank or big, self.code)


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", fold_key(text)) if w and w not in _SMALL_WORDS}


def match_code(label: str, codebook: Codebook, family: str = tb.ISSUES_FAMILY) -> str | None:
    """The issue code whose label shares most words with `label` (None when none shares any)."""
    wanted = _words(label)
    best: tuple[float, str] | None = None
    for code in codebook.codable():
        if code.family != family:
            continue
        have = _words(code.label)
        common = len(wanted & have)
        if common:
            score = common / len(wanted | have)
            if best is None or score > best[0]:
                best = (score, code.id)
    return best[1] if best else None


def workshop_ranking(
    study: Study, data: TerritoryData
) -> tuple[list[ItemPriority], int, dict[str, str]]:
    """Workshop-2 aggregate, the number of answers, and item -> French label."""
    sheets = [s for s in data.answers if s.instrument == PRIORITISATION]
    q = prioritisation_questions(find_instrument(study.root, PRIORITISATION))
    answers = st.prioritisation_answers(data, sheets, q)
    if not answers:
        return [], 0, {}
    ranked = prioritise(answers, positions=q.rank_positions)
    return ranked, len(answers), {p.item: st.item_label(p.item, q, data) for p in ranked}


def priority_issues(
    study: Study, data: TerritoryData, *, share_threshold: int = 3
) -> tuple[list[PriorityIssue], int]:
    """Prioritised issues (workshop 2 first, then shared issues) and the workshop-2 answer count."""
    stats = tb.code_stats(data)
    shared = {i.stats.code.id: i.rank for i in tb.shared_issues(stats, threshold=share_threshold)}
    ranked, answers, labels = workshop_ranking(study, data)
    by_code: dict[str, tuple[int, ItemPriority]] = {}
    for position, item in enumerate(ranked, start=1):
        code = match_code(labels[item.item], data.codebook) or item.item
        by_code.setdefault(code, (position, item))
    names = {c.id: c.label for c in data.codebook.codes}
    issues = []
    for code in dict.fromkeys([*by_code, *shared]):
        rank, p = by_code.get(code, (None, None))
        s = stats.get(code)
        issues.append(
            PriorityIssue(
                code=code,
                label=names.get(code) or (labels.get(p.item, code) if p else code),
                workshop_rank=rank,
                borda=p.borda if p else None,
                points=p.points if p else None,
                importance=p.importance if p else None,
                feasibility=p.feasibility if p else None,
                dissensus=bool(p and p.dissensus),
                shared_rank=shared.get(code),
                participants=len(s.participants) if s else 0,
                founders=len(s.founders) if s else 0,
                actors=len(s.actors) if s else 0,
                segments=s.segments if s else 0,
            )
        )
    issues.sort(key=lambda i: i.rank_key)
    return issues, answers


PRIORITY_COLUMNS = (
    "Priorité",
    "Code",
    "Enjeu",
    "Rang atelier 2",
    "Score de Borda",
    "Points",
    "Importance (moy.)",
    "Faisabilité (moy.)",
    "Dissensus",
    "Rang enjeu partagé",
    "Personnes (entretiens)",
    "Fondateurs",
    "Acteurs",
)


def priority_rows(issues: Sequence[PriorityIssue]) -> list[tuple[Cell, ...]]:
    return [
        (
            n,
            i.code,
            i.label,
            i.workshop_rank,
            i.borda,
            i.points,
            i.importance,
            i.feasibility,
            "oui" if i.dissensus else "non",
            i.shared_rank,
            i.participants,
            i.founders,
            i.actors,
        )
        for n, i in enumerate(issues, start=1)
    ]


def priority_table(issues: Sequence[PriorityIssue], answers: int) -> Table:
    return Table(
        key="Enjeux prioritaires",
        title="Enjeux prioritaires : atelier 2 et entretiens",
        columns=PRIORITY_COLUMNS,
        rows=tuple(priority_rows(issues)),
        note=(
            f"Ordre : rang à l'atelier 2 ({answers} réponse(s) ; score de Borda, puis points), "
            "puis rang parmi les enjeux partagés des entretiens (cités par fondateurs et acteurs, "
            "ou par plusieurs types d'acteurs). « — » : pas abordé dans cette source."
        ),
        section=SECTION_PRIORITIES,
    )
