"""Which charts the evaluation gets: one per question (bars of counts), one per array question
(its sub-questions as stacked bars of answer shares). Drawing itself is in `figures.py`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from qualipipe.synthesize import figures as fig
from qualipipe.synthesize.evaluation import Distribution


def evaluation_charts(
    dists: Sequence[Distribution], source: fig.SourceLine
) -> list[tuple[str, str, Callable[[Path], Path]]]:
    """One chart per question: counts for a single question, answer shares per sub-question
    for an array (all its rows in one chart)."""
    charts: list[tuple[str, str, Callable[[Path], Path]]] = []
    arrays: dict[str, list[Distribution]] = {}
    for d in dists:
        if d.sub_label:
            arrays.setdefault(d.base, []).append(d)
            continue
        title = f"{d.title} (n = {d.respondents})"
        bars = [(label, float(n)) for label, n in d.counts]
        name = f"evaluation_{d.question.lower()}.png"
        charts.append((name, title, partial(_bars_at, bars, title=title, source=source)))
    for base, rows in arrays.items():
        question = rows[0].title.rsplit(" — ", 1)[0]
        title = f"{question} (n = {max(d.respondents for d in rows)})"
        shares = [
            (d.sub_label, [(label, n / d.respondents) for label, n in d.counts]) for d in rows
        ]
        charts.append(
            (
                f"evaluation_{base.lower()}.png",
                title,
                partial(_stacked_at, shares, title=title, source=source),
            )
        )
    charts.sort(key=lambda c: c[0])
    return charts


def _bars_at(
    bars: list[tuple[str, float]], path: Path, *, title: str, source: fig.SourceLine
) -> Path:
    return fig.draw_bars(bars, path, title, source, "Nombre de réponses")


def _stacked_at(
    rows: list[tuple[str, list[tuple[str, float]]]],
    path: Path,
    *,
    title: str,
    source: fig.SourceLine,
) -> Path:
    return fig.draw_stacked_shares(rows, path, title, source)
