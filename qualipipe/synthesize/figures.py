"""Figures of the report: actor map, word clouds, priority matrix, bar charts.

Every PNG is FIGURE_WIDTH_IN × FIGURE_HEIGHT_IN inches at FIGURE_DPI (1200 × 900 pixels): readable
at the width of an A4 page. Every figure carries a title and a source line (study, territory,
date, number of interviews). The only module that draws.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FIGURE_WIDTH_IN = 8.0
FIGURE_HEIGHT_IN = 6.0
FIGURE_DPI = 150
FIGURE_PIXELS = (int(FIGURE_WIDTH_IN * FIGURE_DPI), int(FIGURE_HEIGHT_IN * FIGURE_DPI))
WORDCLOUD_MAX_WORDS = 80
PALETTE: tuple[tuple[float, float, float], ...] = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SourceLine:
    study: str
    territory: str
    date: str
    analysed: str  # « 13 contributions analysées » (synthesize.wording)
    extra: str = ""  # e.g. "42 réponses au questionnaire de priorisation"

    def text(self) -> str:
        parts = [f"Source : {self.study} — {self.territory}", self.analysed]
        if self.extra:
            parts.append(self.extra)
        parts.append(f"synthèse du {self.date}")
        return " ; ".join(parts) + "."


def new_figure() -> MplFigure:
    return plt.figure(figsize=(FIGURE_WIDTH_IN, FIGURE_HEIGHT_IN), dpi=FIGURE_DPI)


def save_figure(fig: MplFigure, path: Path, title: str, source: SourceLine) -> Path:
    """Title on top, source line at the bottom, fixed pixel size (no tight bbox)."""
    fig.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=13, fontweight="bold")
    fig.text(0.01, 0.012, "\n".join(textwrap.wrap(source.text(), 130)), fontsize=7, color="#444444")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


def colour_for(categories: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    return {c: PALETTE[(2 * i) % len(PALETTE)] for i, c in enumerate(sorted(categories))}


# ---------------------------------------------------------------------------------------------
# Actor map
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorNode:
    label: str  # pseudonym (or real name when names are kept)
    role: str
    actor_type: str
    shared_issues: int


@dataclass(frozen=True)
class IssueNode:
    code: str
    label: str
    shared: bool
    participants: int


def build_actor_graph(
    actors: Sequence[ActorNode],
    issues: Sequence[IssueNode],
    links: Iterable[tuple[int, str, int]],  # (actor index, issue code, segments)
) -> nx.Graph:
    """Bipartite graph participants — issues. Node ids carry no personal data (P1, P2…)."""
    graph = nx.Graph(name="Cartographie des acteurs")
    for i, a in enumerate(actors, start=1):
        graph.add_node(
            f"P{i}",
            label=a.label,
            genre="participant",
            role=a.role,
            type_acteur=a.actor_type,
            enjeux_partages=a.shared_issues,
        )
    for issue in issues:
        graph.add_node(
            issue.code,
            label=issue.label,
            genre="enjeu",
            partage=issue.shared,
            participants=issue.participants,
        )
    for index, code, segments in links:
        graph.add_edge(f"P{index + 1}", code, weight=segments)
    return graph


def write_graph_files(graph: nx.Graph, gexf: Path, graphml: Path) -> tuple[Path, Path]:
    gexf.parent.mkdir(parents=True, exist_ok=True)
    nx.write_gexf(graph, gexf)
    nx.write_graphml(graph, graphml)
    return gexf, graphml


def column_positions(
    nodes: Sequence[str], x: float, height: float = 1.0
) -> dict[str, tuple[float, float]]:
    """Evenly spaced top to bottom at abscissa x, in the given order."""
    if len(nodes) == 1:
        return {nodes[0]: (x, 0.0)}
    step = 2 * height / max(1, len(nodes) - 1)
    return {node: (x, height - i * step) for i, node in enumerate(nodes)}


def draw_actor_map(graph: nx.Graph, path: Path, title: str, source: SourceLine) -> Path:
    """Issues in a central column (most cited on top), participants in two side columns grouped
    by actor type: a fixed, readable layout — the same study always gives the same map."""
    fig = new_figure()
    ax = fig.add_axes((0.01, 0.09, 0.74, 0.80))
    ax.set_axis_off()
    ax.set_xlim(-2.45, 2.45)
    ax.set_ylim(-1.08, 1.08)
    people = sorted(
        (n for n, d in graph.nodes(data=True) if d["genre"] == "participant"),
        key=lambda n: (graph.nodes[n]["type_acteur"].casefold(), graph.nodes[n]["label"]),
    )
    issues = sorted(
        (n for n, d in graph.nodes(data=True) if d["genre"] == "enjeu"),
        key=lambda n: (-graph.nodes[n]["participants"], n),
    )
    if not issues:
        ax.text(0, 0, "Aucun enjeu codé pour ce territoire.", ha="center", va="center")
        return save_figure(fig, path, title, source)
    half = (len(people) + 1) // 2
    left, right = people[:half], people[half:]
    pos = {
        **column_positions(issues, 0.0),
        **column_positions(left, -1.05, 0.95),
        **column_positions(right, 1.05, 0.95),
    }
    types = sorted({graph.nodes[n]["type_acteur"] for n in people}, key=str.casefold)
    colours = colour_for(types)
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#c8c8c8", width=0.8)
    for node in issues:
        shared = graph.nodes[node]["partage"]
        label = textwrap.shorten(graph.nodes[node]["label"], 30, placeholder="…")
        ax.text(
            *pos[node],
            f"{label} ({graph.nodes[node]['participants']})",
            ha="center",
            va="center",
            fontsize=6.5,
            fontweight="bold" if shared else "normal",
            color="white" if shared else "black",
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.25",
                "linewidth": 0,
                "facecolor": "#333333" if shared else "#dddddd",
            },
        )
    nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=people,
        ax=ax,
        node_color=[colours[graph.nodes[n]["type_acteur"]] for n in people],
        node_size=[60 + 80 * graph.nodes[n]["enjeux_partages"] for n in people],
        edgecolors=["black" if graph.nodes[n]["role"] == "fondateur" else "white" for n in people],
    )
    for node in people:
        x, y = pos[node]
        ax.text(
            x + (0.1 if x > 0 else -0.1),
            y,
            textwrap.shorten(graph.nodes[node]["label"], 36, placeholder="…"),
            ha="left" if x > 0 else "right",
            va="center",
            fontsize=6,
            color="#333333",
        )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colours[t], markersize=8, label=t)
        for t in types
    ] + [
        Line2D(
            [], [], marker="s", linestyle="", color="#333333", markersize=8, label="enjeu partagé"
        ),
        Line2D(
            [], [], marker="s", linestyle="", color="#dddddd", markersize=8, label="autre enjeu"
        ),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color="white",
            markeredgecolor="black",
            markersize=8,
            label="fondateur·rice (contour noir)",
        ),
    ]
    fig.legend(
        handles=handles,
        loc="center right",
        fontsize=7,
        frameon=False,
        title="Types d'acteurs",
        title_fontsize=8,
    )
    fig.text(
        0.02,
        0.065,
        "Enjeux (au centre) : entre parenthèses, nombre de participants qui les "
        "citent. Taille des ronds : nombre d'enjeux partagés portés.",
        fontsize=7,
    )
    return save_figure(fig, path, title, source)


# ---------------------------------------------------------------------------------------------
# Word clouds
# ---------------------------------------------------------------------------------------------


def draw_wordcloud(
    frequencies: Mapping[str, int], path: Path, title: str, source: SourceLine
) -> Path | None:
    """A word cloud of lemma frequencies; None when there are no words to show."""
    if not frequencies:
        return None
    from wordcloud import WordCloud

    cloud = WordCloud(
        width=1100,
        height=720,
        background_color="white",
        max_words=WORDCLOUD_MAX_WORDS,
        random_state=42,
        colormap="viridis",
        prefer_horizontal=0.9,
        collocations=False,
    ).generate_from_frequencies(dict(sorted(frequencies.items())))
    fig = new_figure()
    ax = fig.add_axes((0.02, 0.07, 0.96, 0.82))
    ax.imshow(cloud.to_array(), interpolation="bilinear")
    ax.set_axis_off()
    return save_figure(fig, path, title, source)


# ---------------------------------------------------------------------------------------------
# Priorities and evaluation charts
# ---------------------------------------------------------------------------------------------


def draw_priority_matrix(
    points: Sequence[tuple[str, float, float, bool]],  # (label, importance, feasibility, dissensus)
    path: Path,
    title: str,
    source: SourceLine,
    middle: float = 3.0,
) -> Path:
    fig = new_figure()
    ax = fig.add_axes((0.10, 0.13, 0.86, 0.72))
    ax.set_xlim(1, 5)
    ax.set_ylim(1, 5)
    ax.axvline(middle, color="#999999", linewidth=0.8)
    ax.axhline(middle, color="#999999", linewidth=0.8)
    for x, y, text in (
        (4.9, 4.9, "prioritaires"),
        (4.9, 1.1, "à préparer"),
        (1.1, 4.9, "opportunités"),
        (1.1, 1.1, "secondaires"),
    ):
        ax.text(
            x,
            y,
            text,
            ha="right" if x > middle else "left",
            va="top" if y > middle else "bottom",
            fontsize=8,
            color="#777777",
            style="italic",
        )
    for label, importance, feasibility, dissensus in points:
        ax.scatter(
            importance,
            feasibility,
            s=60,
            color="#d62728" if dissensus else "#1f77b4",
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
        ax.annotate(
            textwrap.shorten(label, 32, placeholder="…"),
            (importance, feasibility),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
        )
    ax.set_xlabel("Importance pour le territoire (moyenne, 1–5)")
    ax.set_ylabel("Capacité du pôle à agir (moyenne, 1–5)")
    if any(p[3] for p in points):
        ax.scatter([], [], color="#d62728", label="dissensus")
        ax.legend(loc="lower right", fontsize=7)
    return save_figure(fig, path, title, source)


def draw_bars(
    bars: Sequence[tuple[str, float]],
    path: Path,
    title: str,
    source: SourceLine,
    xlabel: str,
) -> Path:
    """Horizontal bars, first item on top."""
    fig = new_figure()
    ax = fig.add_axes((0.38, 0.12, 0.58, 0.74))
    labels = [textwrap.shorten(label, 48, placeholder="…") for label, _ in bars]
    values = [value for _, value in bars]
    positions = list(range(len(bars)))[::-1]
    ax.barh(positions, values, color="#1f77b4")
    ax.set_yticks(positions, labels, fontsize=8)
    for y, value in zip(positions, values, strict=True):
        ax.text(value, y, f" {value:g}", va="center", fontsize=7)
    ax.set_xlabel(xlabel)
    if all(float(v).is_integer() for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no "1.25 réponse"
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path, title, source)


def draw_stacked_shares(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],  # (row label, [(answer, share)])
    path: Path,
    title: str,
    source: SourceLine,
) -> Path:
    """One horizontal bar per sub-question, split by answer (shares of its respondents)."""
    fig = new_figure()
    ax = fig.add_axes((0.34, 0.20, 0.62, 0.66))
    answers = list(dict.fromkeys(answer for _, shares in rows for answer, _ in shares))
    colours = plt.get_cmap("RdYlGn")([i / max(1, len(answers) - 1) for i in range(len(answers))])
    positions = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for k, answer in enumerate(answers):
        widths = [dict(shares).get(answer, 0.0) * 100 for _, shares in rows]
        ax.barh(positions, widths, left=left, color=colours[k], label=answer, edgecolor="white")
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(
        positions, [textwrap.shorten(label, 48, placeholder="…") for label, _ in rows], fontsize=8
    )
    ax.set_xlim(0, 100)
    ax.set_xlabel("Part des répondants (%)")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=min(5, len(answers)),
        fontsize=7,
        frameon=False,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path, title, source)
