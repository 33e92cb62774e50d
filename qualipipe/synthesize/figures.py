"""Figures of the report: actor map, word clouds, priority matrix, bar charts.

Every PNG is FIGURE_WIDTH_IN × FIGURE_HEIGHT_IN inches at FIGURE_DPI (1200 × 900 pixels): readable
at the width of an A4 page. Every figure carries a title and a source line (study, territory,
date, number of interviews). The only module that draws.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from PIL import Image

from qualipipe.synthesize.cells import natural_key

FIGURE_WIDTH_IN = 8.0
FIGURE_HEIGHT_IN = 6.0
FIGURE_DPI = 150
FIGURE_PIXELS = (int(FIGURE_WIDTH_IN * FIGURE_DPI), int(FIGURE_HEIGHT_IN * FIGURE_DPI))
WORDCLOUD_MAX_WORDS = 80
CLOUD_LAYOUT_SCALE = 3
# How every word cloud looks (its size is the figure's). A fixed seed: the same words give the
# same picture at every re-run, so a re-run changes no figure without a reason.
CLOUD_STYLE = {
    "background_color": "white",
    "max_words": WORDCLOUD_MAX_WORDS,
    "random_state": 42,
    "colormap": "viridis",
    "prefer_horizontal": 0.9,
    "collocations": False,
}
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


def save_figure(
    fig: MplFigure,
    path: Path,
    title: str,
    source: SourceLine,
    overlay: tuple[Image.Image, tuple[int, int]] | None = None,
) -> Path:
    """Title on top, source line at the bottom, fixed pixel size (no tight bbox); `overlay`: an
    image pasted at a pixel position (top left) once the figure is drawn.

    Saved with a 256-colour palette: a third of the size of a full-colour PNG for the same look
    (flat colours and text), which keeps a study's outputs and Word files small."""
    fig.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=13, fontweight="bold")
    fig.text(0.01, 0.012, "\n".join(textwrap.wrap(source.text(), 130)), fontsize=7, color="#444444")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # matplotlib.use("Agg") above
    canvas.draw()  # render once to pixels, encode once (no intermediate PNG)
    width, height = canvas.get_width_height()
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    plt.close(fig)
    image = image.convert("RGB")
    if overlay is not None:
        image.paste(*overlay)
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    palette.save(path, format="PNG", compress_level=6, dpi=(FIGURE_DPI, FIGURE_DPI))
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


def aggregate_by_actor_type(graph: nx.Graph) -> nx.Graph:
    """The same map with one node per actor type (its participants counted) instead of one per
    participant: readable above a few dozen participants. Edge weight: participants of the type
    who raise the issue."""
    merged = nx.Graph(name=graph.graph.get("name", ""), aggregated=True)
    members: Counter[str] = Counter()
    founders: set[str] = set()
    for _, d in graph.nodes(data=True):
        if d["genre"] == "participant":
            members[d["type_acteur"]] += 1
            if d["role"] == "fondateur":
                founders.add(d["type_acteur"])
    node_of = {t: f"T{i}" for i, t in enumerate(sorted(members, key=str.casefold), start=1)}
    for actor_type, node in node_of.items():
        merged.add_node(
            node,
            label=f"{actor_type} ({members[actor_type]})",
            genre="participant",
            role="fondateur" if actor_type in founders else "acteur",
            type_acteur=actor_type,
            enjeux_partages=0,
            effectif=members[actor_type],
        )
    weights: defaultdict[tuple[str, str], int] = defaultdict(int)
    for n, d in graph.nodes(data=True):
        if d["genre"] == "enjeu":
            merged.add_node(n, **d)
            for person in graph.neighbors(n):
                weights[(node_of[graph.nodes[person]["type_acteur"]], n)] += 1
    for (a, b), weight in weights.items():
        merged.add_edge(a, b, weight=weight)
    return merged


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
    aggregated = bool(graph.graph.get("aggregated"))
    people = sorted(
        (n for n, d in graph.nodes(data=True) if d["genre"] == "participant"),
        key=lambda n: (
            graph.nodes[n]["type_acteur"].casefold(),
            natural_key(graph.nodes[n]["label"]),
        ),
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
    weights = [d.get("weight", 1) for _, _, d in graph.edges(data=True)]
    top = max(weights, default=1)
    nx.draw_networkx_edges(
        graph,
        pos,
        ax=ax,
        edge_color="#9a9a9a",
        alpha=0.6,
        width=[0.4 + 2.6 * w / top for w in weights] if aggregated else 0.6,
    )
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
        node_size=[
            60
            + (
                12 * graph.nodes[n]["effectif"]
                if aggregated
                else 80 * graph.nodes[n]["enjeux_partages"]
            )
            for n in people
        ],
        edgecolors=["black" if graph.nodes[n]["role"] == "fondateur" else "white" for n in people],
    )
    gap = 0.2 if aggregated else 0.1  # clear of the (larger) rounds of an aggregated map
    for node in people:
        x, y = pos[node]
        ax.text(
            x + (gap if x > 0 else -gap),
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
        0.05,
        textwrap.fill(
            "Enjeux (au centre) : entre parenthèses, nombre de participants qui les citent. "
            + (
                "Un rond par type d'acteur (taille : participants du type) ; épaisseur des liens : "
                "participants du type qui citent l'enjeu."
                if aggregated
                else "Taille des ronds : nombre d'enjeux partagés portés."
            ),
            170,
        ),
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

    # The cloud is laid out on a canvas CLOUD_LAYOUT_SCALE times smaller and drawn at full size
    # (`scale`): the layout search costs a fraction, the words are as sharp. It is pasted into
    # the figure's pixels once the title and source line are drawn (no resampling through
    # matplotlib).
    fig = new_figure()
    left, top, width, height = 0.02, 0.11, 0.96, 0.82
    pixels_w = round(width * FIGURE_PIXELS[0]) // CLOUD_LAYOUT_SCALE
    pixels_h = round(height * FIGURE_PIXELS[1]) // CLOUD_LAYOUT_SCALE
    cloud = WordCloud(
        width=pixels_w, height=pixels_h, scale=CLOUD_LAYOUT_SCALE, **CLOUD_STYLE
    ).generate_from_frequencies(dict(sorted(frequencies.items())))
    position = (round(left * FIGURE_PIXELS[0]), round(top * FIGURE_PIXELS[1]))
    return save_figure(fig, path, title, source, overlay=(cloud.to_image(), position))


# ---------------------------------------------------------------------------------------------
# Priorities and evaluation charts
# ---------------------------------------------------------------------------------------------


# Label offsets tried in turn (points from the marker), nearest first: right, left, above, below…
LABEL_OFFSETS = (
    (5, 3, "left"),
    (-5, 3, "right"),
    (5, -9, "left"),
    (-5, -9, "right"),
    (0, 8, "center"),
    (0, -14, "center"),
    (5, 12, "left"),
    (-5, 12, "right"),
    (5, -18, "left"),
    (-5, -18, "right"),
    (5, 21, "left"),
    (-5, 21, "right"),
    (5, -27, "left"),
    (-5, -27, "right"),
)


def place_labels(ax, points: Sequence[tuple[str, float, float]], fontsize: float) -> None:
    """Annotate each point at the first offset of LABEL_OFFSETS where its label stays in the axes
    and overlaps no label already placed and no marker (else at the first one inside the axes)."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    markers = [tuple(ax.transData.transform((x, y))) for _, x, y in points]
    taken: list[Any] = []

    def annotate(label: str, x: float, y: float, offset: tuple[int, int, str]) -> Any:
        dx, dy, ha = offset
        return ax.annotate(
            label,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va="bottom" if dy >= 0 else "top",
            fontsize=fontsize,
        )

    for label, x, y in points:
        fallback = None
        for offset in LABEL_OFFSETS:
            text = annotate(label, x, y, offset)
            box = text.get_window_extent(renderer).expanded(1.04, 1.15)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if (
                inside
                and not any(box.overlaps(other) for other in taken)
                and not any(box.contains(mx, my) for mx, my in markers)
            ):
                taken.append(box)
                break
            text.remove()
            if inside and fallback is None:
                fallback = offset
        else:
            text = annotate(label, x, y, fallback or LABEL_OFFSETS[0])
            taken.append(text.get_window_extent(renderer))


def draw_priority_matrix(
    points: Sequence[tuple[str, float, float, bool]],  # (label, importance, feasibility, dissensus)
    path: Path,
    title: str,
    source: SourceLine,
    middle: float = 3.0,
) -> Path:
    """Issues placed by mean importance and feasibility (1–5), with a margin so that no point sits
    on an axis, and labels placed where they overlap nothing."""
    fig = new_figure()
    ax = fig.add_axes((0.10, 0.13, 0.86, 0.72))
    ax.set_xlim(0.75, 5.25)
    ax.set_ylim(0.75, 5.25)
    ax.set_xticks(range(1, 6))
    ax.set_yticks(range(1, 6))
    ax.axvline(middle, color="#999999", linewidth=0.8)
    ax.axhline(middle, color="#999999", linewidth=0.8)
    for x, y, text in (
        (5.2, 5.2, "prioritaires"),
        (5.2, 0.8, "à préparer"),
        (0.8, 5.2, "opportunités"),
        (0.8, 0.8, "secondaires"),
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
    for _, importance, feasibility, dissensus in points:
        ax.scatter(
            importance,
            feasibility,
            s=60,
            color="#d62728" if dissensus else "#1f77b4",
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
    place_labels(
        ax,
        [(textwrap.shorten(label, 32, placeholder="…"), x, y) for label, x, y, _ in points],
        fontsize=7,
    )
    ax.set_xlabel("Importance pour le territoire (moyenne, 1–5)")
    ax.set_ylabel("Capacité du pôle à agir (moyenne, 1–5)")
    if any(p[3] for p in points):
        ax.scatter([], [], color="#d62728", label="dissensus")
        # Above the axes: inside, it would cover a quadrant's name or a point.
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return save_figure(fig, path, title, source)


def bar_rows_axes(
    labels: Sequence[str], rect: tuple[float, float, float, float]
) -> tuple[MplFigure, Axes, list[int]]:
    """A figure whose axes list one horizontal bar per label, first label on top; returns the
    bars' y positions. Long labels are shortened so that the bars keep their room."""
    fig = new_figure()
    ax = fig.add_axes(rect)
    positions = list(range(len(labels)))[::-1]
    shown = [textwrap.shorten(label, 48, placeholder="…") for label in labels]
    ax.set_yticks(positions, shown, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax, positions


def draw_bars(
    bars: Sequence[tuple[str, float]],
    path: Path,
    title: str,
    source: SourceLine,
    xlabel: str,
) -> Path:
    """Horizontal bars, first item on top."""
    fig, ax, positions = bar_rows_axes([label for label, _ in bars], (0.38, 0.12, 0.58, 0.74))
    values = [value for _, value in bars]
    ax.barh(positions, values, color="#1f77b4")
    for y, value in zip(positions, values, strict=True):
        ax.text(value, y, f" {value:g}", va="center", fontsize=7)
    ax.set_xlabel(xlabel)
    if all(float(v).is_integer() for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no "1.25 réponse"
    return save_figure(fig, path, title, source)


def draw_stacked_shares(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],  # (row label, [(answer, share)])
    path: Path,
    title: str,
    source: SourceLine,
) -> Path:
    """One horizontal bar per sub-question, split by answer (shares of its respondents)."""
    fig, ax, positions = bar_rows_axes([label for label, _ in rows], (0.34, 0.20, 0.62, 0.66))
    answers = list(dict.fromkeys(answer for _, shares in rows for answer, _ in shares))
    colours = plt.get_cmap("RdYlGn")([i / max(1, len(answers) - 1) for i in range(len(answers))])
    left = [0.0] * len(rows)
    for k, answer in enumerate(answers):
        widths = [dict(shares).get(answer, 0.0) * 100 for _, shares in rows]
        ax.barh(positions, widths, left=left, color=colours[k], label=answer, edgecolor="white")
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("Part des répondants (%)")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=min(5, len(answers)),
        fontsize=7,
        frameon=False,
    )
    return save_figure(fig, path, title, source)
