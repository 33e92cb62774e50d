"""The territorial portrait (INSEE) and the cited actors, as report tables and figures.

The computations live in `qualipipe.territory`; this module only turns their results into the
synthesis' `Table` / `Figure` blocks, and writes the portrait alone (`qualipipe territory
portrait`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from qualipipe import store
from qualipipe.records import Territory
from qualipipe.synthesize.model import FIGURES_FOLDER, Figure, Table, TerritoryData
from qualipipe.synthesize.wording import ptce_description
from qualipipe.synthesize.writers import Report, write_docx, write_markdown, write_xlsx
from qualipipe.territory import storage
from qualipipe.territory.actors import ActorInputs, CitedActors, TextSegment, cited_actors
from qualipipe.territory.actors_workbook import latest_statuses, status_of
from qualipipe.territory.charts import CHARTS, chart_title, draw_portrait_charts
from qualipipe.territory.portrait import SECTION, Portrait, territory_portrait

SECTION_CITED = "Acteurs cités à associer"
ISSUES_FAMILY = "ENJ"
PORTRAITS_FOLDER = "portraits"


def portrait_tables(portrait: Portrait) -> list[Table]:
    return [
        Table(t.key, t.title, t.columns, t.rows, note=t.note, section=SECTION)
        for t in portrait.tables
    ]


def portrait_blocks(
    study: store.Study,
    territory: Territory,
    figures: Path,
    *,
    with_figures: bool = True,
    draw: Callable[[Callable[[], Figure]], Any] | None = None,
) -> list[Any]:
    """The portrait's tables and charts; nothing when no INSEE data is loaded. `draw` gets each
    chart as a job (e.g. for worker processes); without it they are drawn here."""
    if not storage.vintages(study.conn):
        return []
    portrait = territory_portrait(study.conn, territory)
    blocks: list[Any] = list(portrait_tables(portrait))
    if with_figures and portrait.tables:
        for name, chart in CHARTS:
            job = partial(portrait_figure, chart, portrait, figures / name)
            blocks.append(draw(job) if draw is not None else job())
    return blocks


def portrait_figure(
    chart: Callable[[Portrait, Path], Path], portrait: Portrait, path: Path
) -> Figure:
    """Draw one chart of the portrait (in a worker when there are some)."""
    return Figure(chart(portrait, path), chart_title(path.name, portrait), SECTION)


def actor_inputs_from(study: store.Study, data: TerritoryData) -> ActorInputs:
    """The synthesis' own records (same segments and codings as its other tables)."""
    issues = {c.id for c in data.codebook.codes if c.family == ISSUES_FAMILY}
    codes: dict[int, set[str]] = {}
    for coding in data.codings:
        if coding.code_id in issues:
            codes.setdefault(coding.segment_id, set()).add(coding.code_id)
    return ActorInputs(
        territory=data.territory,
        segments=[
            TextSegment(s.id, s.participant_id, s.source_id, s.text) for s in data.segments.values()
        ],
        participants=store.list_participants(study.conn, with_real_names=True),
        codebook_codes=list(data.codebook.codes),
        codes_by_segment=codes,
    )


def cited_actors_table(result: CitedActors, statuses: dict) -> Table:
    rows: list[tuple[str | int, ...]] = []
    for a in result.actors:
        status = status_of(a, result.territory.id, statuses)
        rows.append(
            (
                a.name,
                " ; ".join(a.variants),
                a.actor_type,
                len(a.participants),
                ", ".join(a.cited_by),
                a.other_sources,
                ", ".join(a.codes),
                a.excerpt,
                status.status if status else "",
            )
        )
    columns: tuple[str, ...] = (
        "Organisation",
        "Variantes",
        "Type d'acteur (supposé)",
        "Participants",
        "Cité par",
        "Autres sources",
        "Enjeux",
        "Extrait",
        "Suivi",
    )
    if not any(a.other_sources for a in result.actors):  # interviews only: a column of zeros
        columns = columns[:5] + columns[6:]
        rows = [row[:5] + row[6:] for row in rows]
    return Table(
        "Acteurs cités",
        f"Acteurs cités à associer — {result.territory.name}",
        columns,
        tuple(rows),
        note=(
            "Organisations nommées dans les textes du territoire (entités repérées par spaCy, mots "
            "de la grille pour les acteurs, organisations du manifeste), hors organisations des "
            f"participants et PTCE lui-même ({len(result.excluded)} écartée(s)), variantes "
            "regroupées, classées par nombre de participants distincts qui les citent. Autres "
            "sources : textes sans participant (notes d'atelier, réponses anonymes). Le type est "
            "deviné d'après le nom. Suivi : à renseigner avec « qualipipe territory "
            "actors-export » puis « actors-import »."
        ),
        section=SECTION_CITED,
    )


def cited_actors_block(
    study: store.Study, data: TerritoryData, pseudonymize: Callable[[str], str]
) -> Table:
    result = cited_actors(study.conn, actor_inputs_from(study, data), pseudonymize)
    return cited_actors_table(result, latest_statuses(study.conn))


def write_portrait(
    study: store.Study, out_dir: Path, territory: Territory, vintage: int | None = None
) -> list[Path]:
    """`out_dir/portraits/<territory>/portrait.{xlsx,docx,md}` and its charts, written beside
    the old folder and swapped in at the end."""
    portrait = territory_portrait(study.conn, territory, vintage)
    final = out_dir / PORTRAITS_FOLDER / territory.id
    tmp = out_dir / PORTRAITS_FOLDER / f".{territory.id}.en-cours"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        blocks: list[Table | Figure] = list(portrait_tables(portrait))
        blocks += [
            Figure(path, title, SECTION)
            for path, title in draw_portrait_charts(portrait, tmp / FIGURES_FOLDER)
        ]
        intro: tuple[str, ...] = (
            f"Étude : {study.config.name}. Territoire : "
            f"{ptce_description(territory.name, territory.ptce_name, ())}.",
            f"Portrait du {date.today().strftime('%d/%m/%Y')}, millésime INSEE {portrait.vintage} "
            f"(recensements {portrait.years.previous} et {portrait.years.census}).",
            portrait.source,
        )
        if not portrait.perimeter:
            intro += (
                "Aucune commune du territoire n'est dans les données INSEE chargées : vérifiez "
                "les codes communes et EPCI de qualipipe.toml, ou chargez le bon fichier.",
            )
        report = Report(f"Portrait du territoire — {territory.name}", intro, tuple(blocks), tmp)
        write_xlsx(report, tmp / "portrait.xlsx")
        write_docx(report, tmp / "portrait.docx")
        write_markdown(report, tmp / "portrait.md")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return sorted(p for p in final.rglob("*") if p.is_file())
