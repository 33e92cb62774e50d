"""`qualipipe review …` and `qualipipe agreement`: review workbooks, inter-coder agreement."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from rich.table import Table

from qualipipe.cli.common import (
    comma_list_option,
    command_group,
    console,
    open_study_at,
    output_file_option,
    progress_task,
    study_option,
    territory_option,
)
from qualipipe.review.agreement import AgreementReport, agreement, export_disagreements
from qualipipe.review.common import ExportResult, ImportResult, Order, ReviewFilter
from qualipipe.review.export import DEFAULT_BATCH, export_review
from qualipipe.review.importer import import_decisions


@command_group("review")
def review_group() -> None:
    """Revue par les analystes : classeur Excel à remplir, puis import des décisions.

    Exemple : qualipipe review export --territory auxois --codeur Alice
    """


@review_group.command("export")
@study_option
@territory_option
@click.option(
    "--participant", "-p", default=None, help="Identifiant ou pseudonyme d'un participant."
)
@click.option("--instrument", default=None, help="Questionnaire (ex. priorisation_enjeux).")
@click.option("--question", default=None, help="Code de question (ex. P03).")
@click.option("--famille", "family", default=None, help="Famille de codes (ex. BES).")
@click.option(
    "--non-revus", "not_reviewed", is_flag=True, help="Seulement les extraits pas encore revus."
)
@click.option(
    "--codeur",
    "--coder",
    "coder",
    default=None,
    help="Pré-remplir avec les décisions de ce codeur (par défaut : les dernières, tous codeurs).",
)
@click.option(
    "--ordre",
    "order",
    type=click.Choice(["incertitude", "document"]),
    default="incertitude",
    show_default=True,
    help="Suggestions incertaines d'abord, ou ordre des documents.",
)
@click.option(
    "--lignes",
    "limit",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Nombre d'extraits du classeur (une séance de revue), les premiers dans l'ordre choisi.",
)
@click.option("--tout", "everything", is_flag=True, help="Tous les extraits sélectionnés.")
@output_file_option("Fichier .xlsx à écrire (par défaut : outputs/<étude>/revue/).")
def review_export_command(
    study: Path | None,
    territory: str | None,
    participant: str | None,
    instrument: str | None,
    question: str | None,
    family: str | None,
    not_reviewed: bool,
    coder: str | None,
    order: str,
    limit: int,
    everything: bool,
    output: Path | None,
) -> None:
    """Écrire le classeur de revue (.xlsx) : un extrait par ligne, codes proposés, listes de choix.

    Par défaut, un lot de 400 extraits, les plus incertains d'abord (une séance de revue) ;
    --lignes N pour un autre nombre, --tout pour tous.

    Exemple : qualipipe review export --territory auxois --non-revus --sortie revue_auxois.xlsx
    """

    selection = ReviewFilter(
        territory=territory,
        participant=participant,
        instrument=instrument,
        question=question,
        family=family,
        not_reviewed=not_reviewed,
        coder=coder,
    )
    with open_study_at(study) as opened, progress_task("Revue") as progress:
        result = export_review(
            opened,
            selection,
            order=Order(order),
            output=output,
            limit=None if everything else limit,
            progress=progress.named,
        )
    print_review_export(result)


def print_review_export(result: ExportResult) -> None:
    console.print(
        f"Classeur de revue écrit : [bold]{result.path.resolve()}[/] ({result.rows} extraits, "
        f"{result.suggestions} codes proposés, {result.seconds:.1f} s).",
        highlight=False,
    )
    if result.selected > result.rows:
        console.print(
            f"{result.selected - result.rows} autre(s) extrait(s) sélectionné(s) attendent un "
            "prochain lot (relancez l'export avec --non-revus), ou --tout pour tout exporter.",
            highlight=False,
        )
    console.print("Remplissez-le puis importez-le avec :", highlight=False)
    command = import_command(result.path, result.study_root, result.coder)
    console.print(command, highlight=False, markup=False, soft_wrap=True)
    if not result.coder:
        console.print("(remplacez VOTRE_NOM par votre nom)", highlight=False)


def import_command(path: Path, study_root: Path, coder: str | None) -> str:
    """The import command for this workbook, to paste as is from any folder: absolute paths."""
    parts = ["qualipipe", "review", "import", "--study", str(study_root.resolve())]
    parts += [str(path.resolve()), "--coder", coder or "VOTRE_NOM"]
    return shlex.join(parts)


@review_group.command("import")
@study_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER")
@click.option(
    "--coder", "--codeur", "coder", default=None, help="Nom de l'analyste qui a rempli le fichier."
)
@click.option(
    "--partial",
    "--partiel",
    "partial",
    is_flag=True,
    help="Importer les lignes correctes même si d'autres sont en erreur (elles sont listées).",
)
def review_import_command(study: Path | None, file: Path, coder: str | None, partial: bool) -> None:
    """Importer les décisions d'un classeur de revue (.xlsx) ou d'un fichier de décisions (.csv).

    Le fichier est entièrement vérifié avant tout import ; les décisions s'ajoutent à l'historique
    (rien n'est écrasé). Un classeur de désaccords est importé au nom du codeur « consensus ».

    Exemple : qualipipe review import outputs/etude/revue/revue_auxois.xlsx --coder Alice
    """

    with open_study_at(study) as opened, console.status("Vérification puis import des décisions…"):
        result = import_decisions(opened, file, coder, partial=partial)
    print_review_import(result)


def print_review_import(result: ImportResult) -> None:
    who = ", ".join(result.coders) or "—"
    if result.already_imported:
        console.print(f"{result.file} a déjà été importé pour {who} : aucune décision ajoutée.")
    else:
        console.print(
            f"{result.file} ({who}) : {result.rows_read} lignes lues, "
            f"{result.decisions_added} décision(s) ajoutée(s) à l'historique, "
            f"{result.unchanged} déjà enregistrée(s)."
        )
    if result.prefilled_ignored:
        console.print(
            f"{result.prefilled_ignored} décision(s) ou commentaire(s) pré-rempli(s) d'autres "
            "codeurs laissé(s) tel(s) quel(s) : non enregistré(s) à votre nom (pour les reprendre, "
            "choisissez vous-même « accepter » ou « rejeter »)."
        )
    if result.rejected:
        console.print(f"[yellow]{len(result.rejected)} problème(s), lignes non importées :[/]")
        for problem in result.rejected:
            console.print(f"  - {problem}", highlight=False)


@click.command("agreement")
@study_option
@territory_option
@comma_list_option(
    "--coders",
    "--codeurs",
    "coders",
    help="Codeurs à comparer, séparés par des virgules (ex. Alice,Bruno).",
)
@click.option(
    "--machine",
    is_flag=True,
    help="Comparer aussi les suggestions automatiques (codeur « machine »).",
)
@output_file_option("Classeur .xlsx des désaccords, pour noter la décision retenue en équipe.")
def agreement_command(
    study: Path | None,
    territory: str | None,
    coders: list[str] | None,
    machine: bool,
    output: Path | None,
) -> None:
    """Accord entre codeurs, par code et global : pourcentage, kappa de Cohen, alpha de Krippendorff.

    Exemple : qualipipe agreement --territory auxois --coders Alice,Bruno --sortie desaccords.xlsx
    """

    with open_study_at(study) as opened:
        report = agreement(opened, territory=territory, coders=coders, machine=machine)
        print_agreement(report)
        if output is not None or report.disagreements:
            print_disagreements_file(export_disagreements(opened, report, output))


def print_agreement(report: AgreementReport) -> None:
    def show(value: float | None, percent: bool = False) -> str:
        if value is None:
            return "—"
        return f"{value:.0%}" if percent else f"{value:.2f}"

    table = Table(title=f"Accord entre {', '.join(report.coders)}")
    for header in ("Code", "Libellé", "Extraits (n)", "Accord", "Kappa", "Alpha"):
        table.add_column(header)
    for f in (*report.per_code, report.overall):
        table.add_row(
            f.code_id or "[bold]Tous[/]",
            f.label,
            str(f.n_segments),
            show(f.percent, percent=True),
            show(f.kappa),
            show(f.alpha),
        )
    console.print(table)
    console.print(f"{len(report.disagreements)} désaccord(s) à discuter.")


def print_disagreements_file(path: Path) -> None:
    console.print(
        f"Désaccords écrits dans [bold]{path}[/] : notez la décision retenue puis "
        f"« qualipipe review import {path.name} »."
    )
