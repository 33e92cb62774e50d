"""Evaluation of the diagnostic: distributions of the closed answers, coded free-text answers.

`ClosedQuestion` describes a question (from the instrument file when available, else inferred
from the answer columns); `distributions` counts answers per option, in the option order.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qualipipe.surveys.instruments import Instrument
from qualipipe.synthesize.model import AnswerSheet
from qualipipe.synthesize.priorities import COLUMN, parse_score

SINGLE = "single"  # one answer among options (liste, oui/non, échelle)
MULTIPLE = "multiple"  # tick boxes: one Y/blank column per sub-question
ARRAY = "array"  # one answer per sub-question
NUMBER = "number"  # free number

YES_NO = {"Y": "Oui", "N": "Non"}
FIVE_POINT = {str(i): str(i) for i in range(1, 6)}
CLOSED_LETTERS = {
    "L": SINGLE,
    "!": SINGLE,
    "Y": SINGLE,
    "5": SINGLE,
    "M": MULTIPLE,
    "A": ARRAY,
    "F": ARRAY,
    "N": NUMBER,
}


@dataclass(frozen=True)
class ClosedQuestion:
    code: str
    text: str
    kind: str
    options: tuple[tuple[str, str], ...] = ()  # (answer code, label) in display order
    subquestions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Distribution:
    question: str  # code, with the sub-question for arrays ("E04[OBJECTIFS]")
    title: str
    counts: tuple[tuple[str, int], ...]  # (answer label, respondents), in display order
    respondents: int  # denominator of the shares
    mean: float | None = None  # for numeric scales
    base: str = ""  # the question code, without the sub-question
    sub_label: str = ""  # arrays: the sub-question's label

    def share(self, n: int) -> float | None:
        return round(n / self.respondents, 4) if self.respondents else None


def questions_from_instrument(instrument: Instrument) -> list[ClosedQuestion]:
    questions = []
    for q in instrument.questions:
        letter = q.type.value
        kind = CLOSED_LETTERS.get(letter)
        if kind is None:
            continue
        options: tuple[tuple[str, str], ...] = q.options
        if letter == "Y":
            options = tuple(YES_NO.items())
        elif letter in ("5", "A") and not options:
            options = tuple(FIVE_POINT.items())
        questions.append(ClosedQuestion(q.code, q.text, kind, options, q.subquestions))
    return questions


def infer_questions(sheets: Sequence[AnswerSheet]) -> list[ClosedQuestion]:
    """Without the instrument file: columns `Q[sub]` with only Y/blank are tick boxes, other
    `Q[sub]` are arrays, plain columns are single answers; long texts are left out."""
    columns = sorted({c for s in sheets for c in s.values})
    subs: dict[str, list[str]] = {}
    plain = []
    for column in columns:
        match = COLUMN.match(column)
        if match:
            subs.setdefault(match.group("question"), []).append(match.group("sub"))
        else:
            plain.append(column)
    questions = []
    for code in sorted(set(plain) | set(subs)):
        if code in subs:
            values = {s.values.get(f"{code}[{sub}]", "") for s in sheets for sub in subs[code]}
            kind = MULTIPLE if values <= {"Y", ""} else ARRAY
            if values and max(len(v) for v in values) > 40:
                continue
            questions.append(
                ClosedQuestion(code, code, kind, (), tuple((x, x) for x in subs[code]))
            )
        else:
            values = {s.values.get(code, "") for s in sheets}
            if values and max(len(v) for v in values) > 40:
                continue
            questions.append(ClosedQuestion(code, code, SINGLE))
    return questions


def _count(
    values: Sequence[str], options: Sequence[tuple[str, str]]
) -> tuple[tuple[str, int], ...]:
    counter = Counter(v for v in values if v)
    labels = dict(options)
    ordered = [code for code, _ in options] + sorted(
        (v for v in counter if v not in labels),
        key=lambda v: (parse_score(v) is None, parse_score(v) or 0, v),
    )
    return tuple((labels.get(code, code), counter[code]) for code in ordered)


def _mean(values: Sequence[str]) -> float | None:
    numbers = [n for n in (parse_score(v) for v in values if v) if n is not None]
    return (
        round(statistics.fmean(numbers), 2)
        if numbers and len(numbers) == len([v for v in values if v])
        else None
    )


def distributions(
    questions: Sequence[ClosedQuestion], sheets: Sequence[AnswerSheet]
) -> list[Distribution]:
    """One distribution per closed question (per sub-question for arrays), in question order.
    Shares are over the respondents who answered (for tick boxes: all respondents)."""
    result = []
    for q in questions:
        if q.kind == MULTIPLE:
            ticked = [
                (label, sum(s.values.get(f"{q.code}[{code}]", "") == "Y" for s in sheets))
                for code, label in q.subquestions
            ]
            result.append(Distribution(q.code, q.text, tuple(ticked), len(sheets)))
        elif q.kind == ARRAY:
            for code, label in q.subquestions:
                values = [s.values.get(f"{q.code}[{code}]", "").strip() for s in sheets]
                answered = [v for v in values if v]
                result.append(
                    Distribution(
                        f"{q.code}[{code}]",
                        f"{q.text} — {label}",
                        _count(answered, q.options),
                        len(answered),
                        _mean(answered) if not q.options or q.options[0][0] == "1" else None,
                        base=q.code,
                        sub_label=label,
                    )
                )
        else:
            answered = [s.values.get(q.code, "").strip() for s in sheets]
            answered = [v for v in answered if v]
            options = q.options
            mean = (
                _mean(answered)
                if q.kind == NUMBER or options == tuple(FIVE_POINT.items())
                else None
            )
            result.append(
                Distribution(q.code, q.text, _count(answered, options), len(answered), mean)
            )
    return [d for d in result if d.respondents and any(n for _, n in d.counts)]
