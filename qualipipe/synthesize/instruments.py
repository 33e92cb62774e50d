"""What the synthesis needs to know about the survey instruments (question codes, labels).

Read from the instrument files through `qualipipe.surveys.instruments.load_instrument` when they are there
(the study's own `surveys/` folder first, then the ones shipped with qualipipe); the pure
computations never depend on them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from qualipipe import resources
from qualipipe.errors import QualipipeError
from qualipipe.surveys.instruments import Instrument, load_instrument
from qualipipe.synthesize.priorities import PrioritisationQuestions
from qualipipe.text import fold_key

PRIORITISATION = "priorisation_enjeux"
EVALUATION = "evaluation_diagnostic"


def find_instrument(study_root: Path, name: str) -> Instrument | None:
    """The loaded instrument `name` (the study's own copy first, else the shipped one), or None."""
    candidates = [study_root / "surveys" / f"{name}.yaml"]
    candidates += [p for p in resources.shipped_instruments() if p.stem == name]
    for path in candidates:
        if path.is_file():
            try:
                return _load_cached(load_instrument, path.resolve(), path.stat().st_mtime_ns)
            except QualipipeError:
                continue  # a broken study copy: fall back to the shipped instrument
    return None


@lru_cache(maxsize=16)
def _load_cached(load: Callable[[Path], Any], path: Path, mtime_ns: int) -> Any:
    # Keyed on the modification time: an edited instrument file is read again.
    return load(path)


def _type_letter(question: Any) -> str:
    return str(getattr(question.type, "value", question.type))


def prioritisation_questions(instrument: Any | None) -> PrioritisationQuestions:
    """Find the ranking, points, importance, feasibility and agreement questions by type and
    wording; the ranking's answer codes are mapped onto the issues' sub-question codes by label
    (LimeSurvey answer codes are limited to 5 characters, sub-question codes are not)."""
    if instrument is None:
        return PrioritisationQuestions()
    found: dict[str, str] = {}
    labels: dict[str, str] = {}
    by_label: dict[str, str] = {}
    ranking_options: list[Any] = []
    rank_positions = None
    member_answer: tuple[str, str] | None = None
    for q in instrument.questions:
        letter, text = _type_letter(q), fold_key(q.text)
        if letter == "R" and "ranking" not in found:
            found["ranking"] = q.code
            ranking_options = list(q.options)
            rank_positions = min(q.max_answers or len(q.options), len(q.options))
        elif letter == "K" and "points" not in found:
            found["points"] = q.code
        elif letter == "A" and "importance" in text and "importance" not in found:
            found["importance"] = q.code
        elif (
            letter == "A"
            and ("capacite" in text or "faisab" in text)
            and "feasibility" not in found
        ):
            found["feasibility"] = q.code
        elif letter == "5" and "accord" in text and "agreement" not in found:
            found["agreement"] = q.code
        if letter in ("L", "!") and member_answer is None:
            member_answer = next(
                ((q.code, o.code) for o in q.options if "membre" in fold_key(o.text)), None
            )
        if letter in ("A", "K"):
            for sub in q.subquestions:
                labels.setdefault(sub.code, sub.text)
                by_label.setdefault(fold_key(sub.text), sub.code)
    aliases = {}
    for option in ranking_options:
        canonical = by_label.get(fold_key(option.text), option.code)
        aliases[option.code] = canonical
        labels.setdefault(canonical, option.text)
    defaults = PrioritisationQuestions()
    return PrioritisationQuestions(
        importance=found.get("importance", defaults.importance),
        feasibility=found.get("feasibility", defaults.feasibility),
        ranking=found.get("ranking", defaults.ranking),
        points=found.get("points", defaults.points),
        agreement=found.get("agreement", defaults.agreement),
        rank_positions=rank_positions,
        labels=labels,
        aliases=aliases,
        member_answer=member_answer,
    )
