"""The portrait's charts: the territory beside its département(s), one PNG each.

Same size as the synthesis figures (8 × 6 inches at 150 dpi), a title on top and the INSEE
source line at the bottom.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from qualipipe.territory.portrait import SECTORS, Portrait

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 150
COLOURS = ("#1F77B4", "#FF7F0E", "#2CA02C", "#9467BD", "#8C564B")


def _save(fig: plt.Figure, path: Path, title: str, source: str) -> Path:
    fig.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=13, fontweight="bold")
    fig.text(0.01, 0.012, "\n".join(textwrap.wrap(source, 130)), fontsize=7, color="#444444")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


def _grouped_bars(
    ax: Axes, labels: list[str], series: list[tuple[str, list[float | None]]], unit: str
) -> None:
    """Horizontal bars: one group per label, one bar per level; withheld values are left out."""
    count = len(series)
    height = 0.8 / max(count, 1)
    y = np.arange(len(labels))
    for index, (name, values) in enumerate(series):
        positions = y - 0.4 + height * (index + 0.5)
        shown = [0.0 if v is None else v for v in values]
        bars = ax.barh(positions, shown, height, label=name, color=COLOURS[index % len(COLOURS)])
        for bar, value in zip(bars, values, strict=True):
            text = "s" if value is None else f"{value:.1f}".replace(".", ",")
            ax.annotate(
                text,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3 if (value or 0) >= 0 else -3, 0),
                textcoords="offset points",
                ha="left" if (value or 0) >= 0 else "right",
                va="center",
                fontsize=7,
            )
    ax.set_yticks(y, ["\n".join(textwrap.wrap(label, 28)) for label in labels], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlabel(unit)
    ax.legend(fontsize=7, loc="best")
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)


def _levels(portrait: Portrait) -> list[str]:
    return [level.short for level in portrait.levels]


def _indicator_chart(
    portrait: Portrait, path: Path, rows: list[tuple[str, str]], unit: str, title: str
) -> Path:
    """One group of bars per indicator (`portrait.values` key, label), one bar per level."""
    series = [
        (name, [portrait.values[key][i] for key, _ in rows])
        for i, name in enumerate(_levels(portrait))
    ]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    fig.subplots_adjust(left=0.32, right=0.95, top=0.86, bottom=0.14)
    _grouped_bars(ax, [label for _, label in rows], series, unit)
    return _save(fig, path, f"{title} — {portrait.territory.name}", portrait.source)


def draw_sectors(portrait: Portrait, path: Path) -> Path:
    """Shares of establishments by sector, territory beside the comparison levels."""
    rows = [(f"{k}_share", label) for k, label in SECTORS if k not in ("ettef1", "ettefp10")]
    title = f"Établissements par secteur, {portrait.years.establishments}"
    return _indicator_chart(portrait, path, rows, "Part des établissements actifs (%)", title)


def draw_population_change(portrait: Portrait, path: Path) -> Path:
    """Annual change of population (natural balance, migration) and of jobs."""
    y = portrait.years
    rows = [
        ("pop_change", f"Population, variation annuelle {y.previous}-{y.census}"),
        ("natural", "… due au solde naturel"),
        ("migration", "… due au solde apparent des entrées-sorties"),
        ("emplt_change", f"Emplois, variation annuelle {y.previous}-{y.census}"),
    ]
    title = "Évolution de la population et de l'emploi"
    return _indicator_chart(portrait, path, rows, "% par an", title)


def draw_key_rates(portrait: Portrait, path: Path) -> Path:
    """Unemployment, activity, salaried jobs, vacancy and second homes."""
    rows = [
        ("unemployment", "Taux de chômage des 15-64 ans"),
        ("activity", "Taux d'activité des 15-64 ans"),
        ("salaried", "Part des emplois salariés"),
        ("vacancy", "Logements vacants"),
        ("rsecocc_share", "Résidences secondaires"),
    ]
    title = f"Emploi et logement, {portrait.years.census}"
    return _indicator_chart(portrait, path, rows, "%", title)


CHARTS = (
    ("portrait_evolution.png", draw_population_change),
    ("portrait_secteurs.png", draw_sectors),
    ("portrait_taux.png", draw_key_rates),
)


CHART_TITLES = {
    "portrait_evolution.png": "Évolution de la population et de l'emploi",
    "portrait_secteurs.png": "Établissements actifs par secteur",
    "portrait_taux.png": "Emploi et logement : taux comparés",
}


def chart_title(name: str, portrait: Portrait) -> str:
    return f"{CHART_TITLES[name]} — {portrait.territory.name}"


def draw_portrait_charts(portrait: Portrait, folder: Path) -> list[tuple[Path, str]]:
    """Draw the three charts into `folder`; (path, title) for each."""
    if not portrait.tables:
        return []
    return [(draw(portrait, folder / name), chart_title(name, portrait)) for name, draw in CHARTS]
