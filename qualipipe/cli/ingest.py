"""`qualipipe ingest`: participants, transcripts, written contributions, survey answers."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich import box
from rich.table import Table

from qualipipe.cli.common import (
    INSTRUMENT,
    TERRITORY,
    console,
    err_console,
    open_study_at,
    progress_task,
    study_option,
)
from qualipipe.ingest import IngestReport, TableIngestReport, TableOptions, ingest_paths
from qualipipe.records import INGEST_TYPES, SOURCE_KIND_NOUNS, SOURCE_KIND_WORDS


@click.command("ingest")
@click.argument(
    "paths", nargs=-1, type=click.Path(path_type=Path), metavar="[FICHIERS/DOSSIERS]..."
)
@study_option
@click.option(
    "--manifest",
    "-m",
    type=click.Path(path_type=Path),
    default=None,
    help="Manifeste des participants (CSV ou XLSX) à charger ou mettre à jour d'abord.",
)
@click.option(
    "--instrument",
    "-i",
    type=INSTRUMENT,
    default=None,
    help="Questionnaire des exports LimeSurvey .csv/.xlsx (nom dans surveys/ ou fichier YAML).",
)
@click.option(
    "--territory",
    "-t",
    "territory",
    type=TERRITORY,
    default=None,
    help="Territoire des réponses d'un export LimeSurvey (avec --instrument) ou de tout un "
    "tableau de réponses (identifiant ou nom).",
)
@click.option(
    "--type",
    "source_type",
    type=click.Choice(INGEST_TYPES, case_sensitive=False),
    default=None,
    help="Nature des fichiers dont le manifeste ne dit rien (colonne type_source) : entretien "
    "(par défaut), contribution (écrite), compte-rendu (de réunion), atelier (notes).",
)
@click.option(
    "--colonnes-texte",
    "text_columns",
    multiple=True,
    metavar="COLONNES",
    help="Tableau de réponses : en-têtes des colonnes de réponses ouvertes, séparés par des "
    "virgules, ou option répétée (par défaut : détectées, textes longs et variés).",
)
@click.option(
    "--colonne-territoire",
    "territory_column",
    default=None,
    metavar="COLONNE",
    help="Tableau de réponses : colonne qui donne le territoire de chaque ligne (identifiant ou "
    "nom d'un territoire de l'étude ; par défaut : colonne « territoire », sinon -t).",
)
@click.option(
    "--colonne-identifiant",
    "id_column",
    default=None,
    metavar="COLONNE",
    help="Tableau de réponses : colonne qui identifie chaque répondant·e (par défaut : « id », "
    "« identifiant », « reference »… ; sinon le numéro de ligne).",
)
@click.option(
    "--ignorer-hors-territoire",
    "skip_other_territories",
    is_flag=True,
    help="Tableau de réponses : laisser de côté les lignes dont le territoire n'est pas dans "
    "l'étude (par défaut, le fichier est refusé et ces lignes sont listées).",
)
def ingest_command(
    paths: tuple[Path, ...],
    study: Path | None,
    manifest: Path | None,
    instrument: str | None,
    territory: str | None,
    source_type: str | None,
    text_columns: tuple[str, ...],
    territory_column: str | None,
    id_column: str | None,
    skip_other_territories: bool,
) -> None:
    """Importer le manifeste, les entretiens, les contributions écrites et les questionnaires.

    Formats : .txt .md .docx .odt .srt .vtt .trs (Transcriber) .TextGrid (Praat), transcriptions
    alignées CFPP2000 ; exports LimeSurvey .csv/.xlsx (en-têtes = codes des questions) avec
    --instrument et --territory. Réimporter un fichier corrigé garde les décisions des passages
    inchangés. Chaque fichier est importé à part : un fichier en erreur n'empêche pas les autres.

    Nature des fichiers : colonne « type_source » du manifeste, sinon --type, sinon entretien.
    Seuls les entretiens sont découpés en tours de parole (enquêteur / participant) ; une
    contribution, un compte rendu ou des notes d'atelier sont entièrement le texte de leur
    auteur, découpé en paragraphes et en phrases. Le tableau final donne, par fichier, les
    segments du participant et ceux attribués à un enquêteur (⚠ au-delà d'un tiers du texte).

    Exemple : qualipipe ingest entretiens/ --manifest participants.csv

    Exemple : qualipipe ingest contributions/ --manifest auteurs.xlsx --type contribution

    Exemple : qualipipe ingest questionnaires/priorisation.csv --instrument priorisation_enjeux -t auxois

    Tableau de réponses écrites (consultation, formulaire en ligne, saisie de questionnaires
    papier), .csv ou .xlsx nommé seul, sans --instrument : une ligne par répondant·e, une
    colonne par question ouverte ; ou une ligne par réponse, avec une colonne « question » et
    l'identifiant du répondant·e. Chaque réponse non vide devient une contribution de son
    répondant·e (participant contributeur, pseudonymisé) ; les colonnes courtes sont gardées
    comme caractéristiques ; noms, courriels et téléphones ne sont jamais importés comme textes.

    Exemple : qualipipe ingest consultation.csv --type contribution --colonne-territoire departement
    """

    if not paths and manifest is None:
        raise click.UsageError("indiquez des fichiers ou dossiers à importer, ou --manifest.")
    with open_study_at(study) as opened:
        with progress_task("Import") as progress:
            report = ingest_paths(
                opened,
                list(paths),
                manifest=manifest,
                instrument=instrument,
                territory=territory,
                progress=progress.named,
                kind=SOURCE_KIND_WORDS[source_type.lower()] if source_type else None,
                table_options=TableOptions(
                    text_columns=text_columns or None,
                    territory_column=territory_column,
                    id_column=id_column,
                    skip_other_territories=skip_other_territories,
                ),
            )
        print_ingest_report(report, opened.config.db_path)
    if not report.ok:
        sys.exit(1)


def print_ingest_report(report: IngestReport, db_path: Path) -> None:
    if report.manifest is not None:
        console.print(
            f"Manifeste {report.manifest.path} : {len(report.manifest.added)} participant(s) "
            f"ajouté(s), {len(report.manifest.updated)} mis à jour."
        )
        for note in report.manifest.notes:
            console.print(f"[yellow]Pseudonymisation :[/] {note}", highlight=False)
    if report.files:
        _print_files_table(report)
    for survey in report.surveys:
        console.print(
            f"Questionnaire {survey.instrument} ({survey.territory_id}) : "
            f"{survey.responses.new} réponse(s) nouvelle(s), {survey.responses.updated} mise(s) à "
            f"jour, {survey.responses.unchanged} inchangée(s), {survey.attributes} réponse(s) "
            f"fermée(s) enregistrée(s)."
            + (
                f" Réponses sans participant (jeton inconnu) : {', '.join(map(str, survey.unlinked_responses))}."
                if survey.unlinked_responses
                else ""
            )
        )
    for table in report.tables:
        _print_table_report(table)
    lost = report.lost_decisions
    if lost:
        console.print(
            f"[bold yellow]{len(lost)} décision(s) n'ont pas pu être reportées[/] (passage modifié ; "
            "elles restent dans l'historique) :"
        )
        for decision in lost:
            console.print(f"  - {decision.describe()}", highlight=False)
    if report.skipped:
        names = _some([p.name for p in report.skipped])
        console.print(f"Ignorés (format non pris en charge) : {names}.", highlight=False)
        tables = [p for p in report.skipped if p.suffix.lower() in (".csv", ".xlsx")]
        if tables:
            console.print(
                "Un tableau .csv/.xlsx trouvé dans un dossier n'est jamais lu (ce peut être un "
                "manifeste) : pour un tableau de réponses, nommez-le, par exemple « qualipipe "
                f"ingest {tables[0]} --type contribution -t TERRITOIRE ».",
                highlight=False,
            )
    for failed in report.failed:
        err_console.print(f"[bold red]Erreur :[/] {failed.error}", highlight=False, soft_wrap=True)
    counts = ", ".join(
        f"{report.count(s)} {s}" for s in ("nouveau", "mis à jour", "inchangé", "erreur")
    )
    console.print(f"Fichiers : {counts}. Étude : {db_path}")


def _print_files_table(report: IngestReport) -> None:
    """Per file, one line: who the segments were attributed to, so that no text is silently
    lost to an imaginary interviewer."""
    table = Table(
        title="Import : segments attribués au participant (part.) et à un enquêteur (enq.)",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    widest = max(len(Path(f.path).name) for f in report.files)
    table.add_column("Fichier", no_wrap=True, min_width=min(widest, 40))
    table.add_column("Type", no_wrap=True)
    table.add_column("État", no_wrap=True)
    table.add_column("Participant", no_wrap=True)
    table.add_column("Seg. part.", justify="right", no_wrap=True)
    table.add_column("Seg. enq.", justify="right", no_wrap=True)
    changed = any(f.status == "mis à jour" for f in report.files)
    if changed:
        table.add_column("Gardés/ajoutés/retirés", no_wrap=True)
    for f in report.files:
        kind = SOURCE_KIND_NOUNS[f.kind][0] if f.kind else "—"
        cells = [
            Path(f.path).name,
            "questionnaire" if f.status != "erreur" and f.kind is None else kind,
            f.status,
            f.participant_id or "—",
            str(f.participant_segments if f.kind else f.segments),
            f"{f.interviewer_segments}{' ⚠' if f.mostly_interviewer else ''}",
        ]
        if changed:
            cells.append(f"{f.kept}/{f.added}/{f.retired}")
        table.add_row(*cells)
    console.print(table)
    own = sum(f.participant_segments for f in report.files)
    asked = sum(f.interviewer_segments for f in report.files)
    console.print(f"Segments : {own} du/des participant(s), {asked} attribué(s) à un enquêteur.")
    unknown = [f for f in report.files if f.interviewer_unknown]
    if unknown:
        console.print(
            f"[bold yellow]⚠ {len(unknown)} entretien(s) à plusieurs locuteurs sans enquêteur "
            "reconnu[/] : leurs questions sont codées comme paroles du participant. Indiquez "
            "l'enquêteur·rice dans la colonne enqueteur du manifeste (noms séparés par « | »), "
            "puis relancez l'import :",
            highlight=False,
        )
        for f in unknown[:10]:
            hint = (
                f" ; « {f.likely_interviewer} » pose le plus de questions"
                if f.likely_interviewer
                else ""
            )
            console.print(
                f"  - {Path(f.path).name} ({f.speakers} locuteurs{hint})", highlight=False
            )
        if len(unknown) > 10:
            console.print(f"  (et {len(unknown) - 10} autres)")
    flagged = [Path(f.path).name for f in report.files if f.mostly_interviewer]
    if flagged:
        console.print(
            f"[bold yellow]⚠ {len(flagged)} fichier(s) dont plus d'un tiers du texte est "
            f"attribué à un enquêteur[/] : {_some(flagged)}. Vérifiez les étiquettes de "
            "locuteurs ; si ce sont des textes écrits, réimportez-les avec --type contribution (ou la colonne type_source du manifeste).",
            highlight=False,
        )


def _some(names: list[str], limit: int = 10) -> str:
    """The first `limit` names, and how many more there are."""
    more = f" (et {len(names) - limit} autres)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _listed(headers: list[str], limit: int = 8) -> str:
    return _some([f"« {h if len(h) <= 60 else h[:57] + '…'} »" for h in headers], limit)


def _print_table_report(table: TableIngestReport) -> None:
    """Which columns became texts, attributes, or were left out, and what changed."""
    columns = table.table.columns
    console.print(f"Tableau de réponses {Path(table.path).name} :", highlight=False)
    lines = [f"textes (réponses ouvertes) : {_listed(columns.texts)}"]
    if columns.attributes:
        lines.append(f"caractéristiques des répondant·es : {_listed(columns.attributes)}")
    if columns.id_column:
        lines.append(f"identifiant : « {columns.id_column} »")
    if columns.territory_column:
        lines.append(f"territoire : « {columns.territory_column} »")
    if columns.question_column:
        lines.append(
            f"une réponse par ligne, sa question dans « {columns.question_column} » ; les "
            "réponses d'un·e même répondant·e partagent son identifiant"
        )
    if columns.personal:
        lines.append(
            f"données personnelles écartées (jamais affichées) : {_listed(columns.personal)}"
        )
    if columns.ignored:
        lines.append(f"colonnes vides ou sans en-tête ignorées : {_listed(columns.ignored)}")
    lines += columns.notes
    lines.append(
        f"{table.respondents.new} répondant·e(s) nouveau·elle(s), {table.respondents.updated} "
        f"mis·e(s) à jour, {table.respondents.unchanged} inchangé·e(s) ; réponses : "
        f"{table.count('nouveau')} nouvelle(s), {table.count('mis à jour')} mise(s) à jour, "
        f"{table.count('inchangé')} inchangée(s)"
        + (
            f", {len(table.removed)} retirée(s) (cellule vidée ou ligne absente)"
            if table.removed
            else ""
        )
        + "."
    )
    read = table.table
    if read.rows_without_text:
        lines.append(f"{read.rows_without_text} ligne(s) sans réponse ouverte ignorée(s).")
    if read.outside_rows:
        values = ", ".join(v or "vide" for v in read.outside_values[:12])
        more = "…" if len(read.outside_values) > 12 else ""
        lines.append(
            f"{read.outside_rows} ligne(s) hors des territoires de l'étude laissée(s) de côté "
            f"(valeurs : {values}{more})."
        )
    for line in lines:
        console.print(f"  - {line}", highlight=False)
