"""`qualipipe report`: the livrable draft, the bilan, préconisations and workshop-1 post-its."""

from __future__ import annotations

from pathlib import Path

import click

from qualipipe import report as livrable
from qualipipe import resolve
from qualipipe.cli.common import (
    command_group,
    console,
    open_study_at,
    output_file_option,
    output_root_option,
    required_territory_option,
    study_option,
    territory_option,
)
from qualipipe.ingest.reconcile import SourceChange
from qualipipe.report.livrable import LivrableReport
from qualipipe.report.preconisations import ImportResult


def _workbook_output(stem: str):
    return output_file_option(
        f"Classeur à écrire (par défaut : {stem}_<territoire>.xlsx dans le dossier courant)."
    )


@command_group("report", invoke_without_command=True)
@study_option
@territory_option
@click.option("--all", "all_territories", is_flag=True, help="Un livrable pour chaque territoire.")
@click.option(
    "--bilan",
    is_flag=True,
    help="Le bilan des diagnostics pour la CRESS : les territoires côte à côte.",
)
@output_root_option("le livrable va dans SORTIE/<dossier de l'étude>/<territoire>/")
@click.pass_context
def report_group(
    ctx: click.Context,
    study: Path | None,
    territory: str | None,
    all_territories: bool,
    bilan: bool,
    out_root: Path,
) -> None:
    """Écrire le projet de livrable d'un territoire (livrable.docx), ou le bilan (--bilan).

    Le livrable reprend les synthèses, l'atelier 1 (matrice AFOM), les enjeux prioritaires de
    l'atelier 2 et les préconisations importées, avec page de garde, sommaire et légendes
    numérotées. Une partie sans matière dit ce qui manque et quelle commande l'apporte.

    Exemple : qualipipe report -t sud-creuse

    Exemple : qualipipe report --bilan
    """
    if ctx.invoked_subcommand is not None:
        return
    if not (territory or all_territories or bilan):
        raise click.UsageError("indiquez un territoire (-t), --all ou --bilan.")
    with open_study_at(study) as opened:
        out_dir = resolve.output_dir(opened.root, root=out_root)
        chosen = (
            [t.id for t in opened.config.territories]
            if all_territories
            else [territory]
            if territory
            else []
        )
        writer = livrable.LivrableWriter(opened, out_dir)
        for name in chosen:
            with console.status(f"Livrable : {name}…"):
                result = writer.write(name)
            print_livrable(result)
        if bilan:
            snapshot = writer.context.snapshot if chosen else None
            with console.status("Bilan des diagnostics…"):
                path = livrable.write_bilan(opened, out_dir, snapshot=snapshot)
            print_bilan(path)


def print_livrable(result: LivrableReport) -> None:
    console.print(
        f"Livrable → {result.path} : {result.tables} tableaux, {result.figures} figures, "
        f"{result.preconisations} préconisation(s)."
    )
    for section in result.sections_missing:
        console.print(f"  [yellow]À compléter :[/] {section}")


def print_bilan(path: Path) -> None:
    console.print(f"Bilan → {path}")


@report_group.command("template")
@study_option
@required_territory_option
@_workbook_output("preconisations")
def template_command(study: Path | None, territory: str, output: Path | None) -> None:
    """Écrire le classeur des préconisations à remplir, avec les enjeux prioritaires du territoire.

    Exemple : qualipipe report template -t sud-creuse
    """
    with open_study_at(study) as opened:
        t = opened.config.territory(territory)
        path = livrable.preconisation_template(
            opened, t.id, output or Path(f"preconisations_{t.id}.xlsx")
        )
    console.print(f"Classeur des préconisations → {path}. Remplissez les cellules jaunes.")


@report_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.xlsx")
@study_option
@required_territory_option
@click.option("--codeur", "coder", default="", help="Qui a rédigé ces préconisations.")
def import_command(study: Path | None, file: Path, territory: str, coder: str) -> None:
    """Importer le classeur des préconisations rempli (refusé en entier s'il a une erreur).

    Chaque import est gardé dans l'historique ; le dernier fait foi pour le livrable.

    Exemple : qualipipe report import preconisations_sud-creuse.xlsx -t sud-creuse
    """
    with open_study_at(study) as opened:
        result = livrable.import_preconisation_workbook(opened, file, territory, coder=coder)
    print_preconisation_import(result)


def print_preconisation_import(result: ImportResult) -> None:
    if result.unchanged:
        console.print(f"{result.file_name} : déjà importé tel quel, rien de nouveau.")
    else:
        console.print(
            f"{result.preconisations} préconisation(s) importée(s) pour {result.territory_id}."
        )


@report_group.command("historique")
@study_option
@required_territory_option
def history_command(study: Path | None, territory: str) -> None:
    """Lister les imports de préconisations d'un territoire (le dernier fait foi).

    Exemple : qualipipe report historique -t sud-creuse
    """
    with open_study_at(study) as opened:
        history = livrable.preconisation_history(opened, territory)
    if not history:
        console.print("Aucune préconisation importée pour ce territoire.")
    for entry in history:
        who = f", {entry.coder}" if entry.coder else ""
        console.print(
            f"n°{entry.id} — {entry.imported_at} : {entry.file_name} ({entry.rows} "
            f"préconisation(s){who})",
            highlight=False,
        )


@report_group.command("atelier-modele")
@study_option
@required_territory_option
@_workbook_output("postits")
def postit_template_command(study: Path | None, territory: str, output: Path | None) -> None:
    """Écrire le classeur où saisir les post-its de l'atelier 1 (un post-it par ligne).

    Exemple : qualipipe report atelier-modele -t sud-creuse
    """
    with open_study_at(study) as opened:
        t = opened.config.territory(territory)
        path = livrable.postit_template(opened, t.id, output or Path(f"postits_{t.id}.xlsx"))
    console.print(f"Classeur des post-its → {path}.")


@report_group.command("atelier-import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.xlsx")
@study_option
@required_territory_option
def postit_import_command(study: Path | None, file: Path, territory: str) -> None:
    """Importer les post-its de l'atelier 1 comme notes d'atelier (à coder ensuite).

    Réimporter le classeur corrigé garde les décisions des post-its inchangés.

    Exemple : qualipipe report atelier-import postits_sud-creuse.xlsx -t sud-creuse
    """
    with open_study_at(study) as opened:
        change = livrable.import_postits(opened, file, territory)
    print_postit_import(file, change)


def print_postit_import(file: Path, change: SourceChange) -> None:
    console.print(
        f"{file.name} : {change.status}, {change.segments} post-it(s) "
        f"({change.added} nouveau(x), {change.retired} retiré(s)). Lancez « qualipipe code »."
    )
