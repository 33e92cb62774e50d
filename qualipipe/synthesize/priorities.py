"""Workshop-2 prioritisation: Borda count, points totals, importance × faisabilité, dissensus.

The functions here are pure: they take each respondent's answers as typed records and return
scores. How survey columns map onto these records is in `from_answer_sheets`.

Rules (documented in docs/synthese.md):
- Borda: with k rank positions (the longest ranking given, or the question's number of ranks),
  the issue ranked 1st gets k points, the 2nd k−1, …, the k-th 1; unranked issues get 0.
- Points: the sum of points each issue received; its share of all points given.
- Matrix: mean importance and mean feasibility (1–5); priority index = their product; quadrant
  by comparing each mean with the middle of the scale (3).
- "Importance 5": how many gave the top score, so that an issue a few participants find crucial
  is not lost behind a low average (the known weakness of dot voting).
- Dissensus: importance scores with a standard deviation ≥ 1.2, or polarised (at least a quarter
  of the answers ≤ 2 and at least a quarter ≥ 4), with at least 3 answers.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SCALE_MIDDLE = 3.0
SCALE_TOP = 5.0
DISSENSUS_STD = 1.2
DISSENSUS_POLAR_SHARE = 0.25
DISSENSUS_MIN_ANSWERS = 3

QUADRANTS = {
    (True, True): "prioritaire",
    (True, False): "à préparer",
    (False, True): "opportunité",
    (False, False): "secondaire",
}


@dataclass(frozen=True)
class PrioritisationAnswer:
    """One respondent's answers to the prioritisation survey, keyed by issue code."""

    respondent: str
    group: str = ""  # e.g. "fondateurs" / "acteurs"
    ranking: tuple[str, ...] = ()  # issue codes, 1st first
    points: Mapping[str, float] = field(default_factory=dict)
    importance: Mapping[str, float] = field(default_factory=dict)
    feasibility: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemPriority:
    item: str
    borda: int
    first_places: int
    points: float
    points_share: float | None
    supporters: int  # respondents who gave it at least one point
    importance: float | None
    feasibility: float | None
    importance_std: float | None
    answers: int  # importance answers
    dissensus: bool
    top_scores: int = 0  # importance answers at the top of the scale (5): a few may care a lot

    @property
    def index(self) -> float | None:
        if self.importance is None or self.feasibility is None:
            return None
        return round(self.importance * self.feasibility, 4)

    @property
    def quadrant(self) -> str:
        if self.importance is None or self.feasibility is None:
            return ""
        return QUADRANTS[(self.importance >= SCALE_MIDDLE, self.feasibility >= SCALE_MIDDLE)]


def borda_scores(
    rankings: Iterable[Sequence[str]], *, positions: int | None = None
) -> Counter[str]:
    """Borda points per issue (see module docstring). Blank and repeated entries are ignored."""
    cleaned = []
    for ranking in rankings:
        seen: list[str] = []
        for item in ranking:
            if item and item not in seen:
                seen.append(item)
        cleaned.append(seen)
    k = positions if positions is not None else max((len(r) for r in cleaned), default=0)
    scores: Counter[str] = Counter()
    for ranking in cleaned:
        for position, item in enumerate(ranking[:k]):
            scores[item] += k - position
    return scores


def points_totals(allocations: Iterable[Mapping[str, float]]) -> dict[str, tuple[float, int]]:
    """issue -> (total points, respondents giving it > 0 points)."""
    totals: dict[str, float] = {}
    supporters: Counter[str] = Counter()
    for allocation in allocations:
        for item, value in allocation.items():
            totals[item] = totals.get(item, 0.0) + value
            if value > 0:
                supporters[item] += 1
    return {item: (round(total, 4), supporters[item]) for item, total in totals.items()}


def is_dissensus(scores: Sequence[float]) -> bool:
    if len(scores) < DISSENSUS_MIN_ANSWERS:
        return False
    if statistics.pstdev(scores) >= DISSENSUS_STD:
        return True
    low = sum(s <= SCALE_MIDDLE - 1 for s in scores) / len(scores)
    high = sum(s >= SCALE_MIDDLE + 1 for s in scores) / len(scores)
    return low >= DISSENSUS_POLAR_SHARE and high >= DISSENSUS_POLAR_SHARE


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def prioritise(
    answers: Sequence[PrioritisationAnswer], *, positions: int | None = None
) -> list[ItemPriority]:
    """Aggregate every answer; ordered by Borda, then points, then priority index, then code."""
    borda = borda_scores((a.ranking for a in answers), positions=positions)
    firsts = Counter(a.ranking[0] for a in answers if a.ranking and a.ranking[0])
    points = points_totals(a.points for a in answers)
    all_points = sum(total for total, _ in points.values())
    items = set(borda) | set(points)
    importance: dict[str, list[float]] = {}
    feasibility: dict[str, list[float]] = {}
    for a in answers:
        for item, value in a.importance.items():
            importance.setdefault(item, []).append(value)
        for item, value in a.feasibility.items():
            feasibility.setdefault(item, []).append(value)
    items |= set(importance) | set(feasibility)
    result = []
    for item in items:
        imp = importance.get(item, [])
        total, supporters = points.get(item, (0.0, 0))
        result.append(
            ItemPriority(
                item=item,
                borda=borda.get(item, 0),
                first_places=firsts.get(item, 0),
                points=total,
                points_share=round(total / all_points, 4) if all_points else None,
                supporters=supporters,
                importance=_mean(imp),
                feasibility=_mean(feasibility.get(item, [])),
                importance_std=round(statistics.pstdev(imp), 4) if len(imp) >= 2 else None,
                answers=len(imp),
                dissensus=is_dissensus(imp),
                top_scores=sum(v >= SCALE_TOP for v in imp),
            )
        )
    result.sort(key=lambda r: (-r.borda, -r.points, -(r.index or 0.0), r.item))
    return result


# ---------------------------------------------------------------------------------------------
# From survey columns ("P06[1]", "P07[E1]", "P04[E1]") to PrioritisationAnswer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrioritisationQuestions:
    """Question codes of the prioritisation instrument (defaults: surveys/priorisation_enjeux)."""

    importance: str = "P04"
    feasibility: str = "P05"
    ranking: str = "P06"
    points: str = "P07"
    agreement: str = "P13"
    rank_positions: int | None = None
    labels: dict[str, str] = field(default_factory=dict)  # issue code -> French label
    aliases: dict[str, str] = field(default_factory=dict)  # ranking answer code -> issue code
    # Anonymous respondents: (question, answer code) meaning "member of the PTCE" (P01 = MEMB).
    member_answer: tuple[str, str] | None = None


COLUMN = re.compile(r"^(?P<question>[^\[\]]+)\[(?P<sub>[^\[\]]+)\]$")


def parse_score(value: str) -> float | None:
    """'4', '4.0', 'A4' or 'AO04' -> 4.0; blank or non-numeric (e.g. 'Sans avis') -> None."""
    value = (value or "").strip().replace(",", ".")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        match = re.search(r"(\d+(?:\.\d+)?)$", value)
        return float(match.group(1)) if match else None


def sub_values(values: Mapping[str, str], question: str) -> dict[str, str]:
    """Columns `question[sub]` of one response -> {sub: value}."""
    found = {}
    for column, value in values.items():
        match = COLUMN.match(column)
        if match and match.group("question") == question:
            found[match.group("sub")] = value
    return found


def _rank_key(sub: str) -> tuple[int, str]:
    return (int(sub), "") if sub.isdigit() else (10**6, sub)


def answer_from_values(
    respondent: str, group: str, values: Mapping[str, str], q: PrioritisationQuestions
) -> PrioritisationAnswer:
    ranks = sub_values(values, q.ranking)
    ranking = tuple(
        q.aliases.get(ranks[k].strip(), ranks[k].strip())
        for k in sorted(ranks, key=_rank_key)
        if ranks[k].strip()
    )

    def scores(question: str) -> dict[str, float]:
        parsed = {k: parse_score(v) for k, v in sub_values(values, question).items()}
        return {k: v for k, v in sorted(parsed.items()) if v is not None}

    return PrioritisationAnswer(
        respondent=respondent,
        group=group,
        ranking=ranking,
        points=scores(q.points),
        importance=scores(q.importance),
        feasibility=scores(q.feasibility),
    )


def has_prioritisation(values: Mapping[str, str], q: PrioritisationQuestions) -> bool:
    return any(
        sub_values(values, code) for code in (q.ranking, q.points, q.importance, q.feasibility)
    )
