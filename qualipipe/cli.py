"""Command line: parses arguments, calls one stage function, prints the result in French.

No logic lives here. Stage modules are imported inside the commands so that `qualipipe --help`
stays fast (spaCy and scikit-learn are slow to import).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qualipipe import __version__, cli_french
from qualipipe.errors import QualipipeError

cli_french.install()

console = Console()
err_console = Console(stderr=True)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def study_option(function):  # noqa: ANN001, ANN201 - click decorator
    return click.option(
        "--study",
        "-s",
        "study",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Dossier de l'étude (par défaut : le dossier courant).",
    )(function)


def territory_option(function):  # noqa: ANN001, ANN201 - click decorator
    return click.option(
        "--territory",
        "-t",
        "territory",
        default=None,
        help="Limiter à un territoire (identifiant ou nom).",
    )(function)


def _open(study: Path | None):  # noqa: ANN202 - returns qualipipe.store.Study
    from qualipipe.store import open_study

    return open_study(study or Path.cwd())


class FrenchGroup(click.Group):
    """A click group whose usage line reads in French; its sub-groups are FrenchGroups too."""

    group_class = type  # click: sub-groups made with @group.group() use this same class

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - click's signature
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)


@click.group(cls=FrenchGroup, context_settings=CONTEXT)
@click.version_option(
    __version__, "--version", prog_name="qualipipe", message="%(prog)s %(version)s"
)
def app() -> None:
    """qualipipe : l'analyse qualitative d'un diagnostic territorial partagé de PTCE.

    Questionnaires LimeSurvey, entretiens, codage assisté, revue par les analystes et synthèses
    pour le livrable. L'étude est le dossier courant, ou celui donné par --study.

    Étapes, dans l'ordre : init → survey → ingest → code → review → synthesize (status à tout moment).
    """


# ---------------------------------------------------------------------------------------------
# init / status
# ---------------------------------------------------------------------------------------------


@app.command("init")
@click.argument("folder", type=click.Path(path_type=Path), metavar="DOSSIER")
@click.option("--nom", "name", default="Diagnostic territorial partagé", help="Nom de l'étude.")
@click.option("--region", default="", help="Région de la CRESS.")
def init_command(folder: Path, name: str, region: str) -> None:
    """Créer une étude : un dossier avec qualipipe.toml et la base study.db.

    Exemple : qualipipe init mon-etude --nom "Diagnostics PTCE 2026" --region "Occitanie"
    """
    from qualipipe.study import init_study

    root = init_study(folder, name=name, region=region)
    console.print(
        f"Étude créée dans [bold]{root}[/]. Décrivez vos territoires dans {root / 'qualipipe.toml'}."
    )


@app.command("status")
@study_option
@click.option(
    "--codes",
    "per_code",
    is_flag=True,
    help="Ajouter, par code, les décisions et la précision/le rappel estimés des suggestions "
    "(validation croisée : quelques secondes de calcul).",
)
def status_command(study: Path | None, per_code: bool) -> None:
    """Afficher l'avancement de l'étude, par territoire.

    Participants par rôle, sources, segments, part des segments revus, taux de réponse aux
    questionnaires ; avec --codes, la qualité des suggestions de chaque code.

    Exemple : qualipipe status --codes
    """
    from qualipipe.status import territory_statuses

    with _open(study) as opened:
        table = Table(title=f"Étude « {opened.config.name} »")
        headers = (
            "Territoire",
            "Fondateurs",
            "Acteurs",
            "Sources",
            "Segments",
            "Revus",
            "Réponses questionnaires",
        )
        for header in headers:
            table.add_column(header)
        for s in territory_statuses(opened):
            rate = str(s.responses_total) if s.responses_total else "—"
            if s.response_rate is not None:
                rate = f"{s.responses_total} ; invités : {s.responses}/{s.invited} ({s.response_rate:.0%})"
            reviewed = f"{s.reviewed_segments} ({s.reviewed_share:.0%})"
            table.add_row(
                s.name,
                str(s.founders),
                str(s.actors),
                str(s.sources),
                str(s.segments),
                reviewed,
                rate,
            )
        console.print(table)
        if per_code:
            from qualipipe.coding.evaluate import code_quality_table, render_code_quality

            with console.status("Validation croisée des suggestions sur les décisions…"):
                quality = code_quality_table(opened)
            if quality:
                console.print(render_code_quality(quality))
            else:
                console.print(
                    "Aucun codebook chargé : chargez-en un avec « qualipipe codebook load »."
                )


# ---------------------------------------------------------------------------------------------
# codebook (issue 3) — commands for `qualipipe codebook ...` go here
# ---------------------------------------------------------------------------------------------


@app.group("codebook", context_settings=CONTEXT)
def codebook_group() -> None:
    """Grille de codage : vérifier, charger dans l'étude, échanger (REFI-QDA, Excel, Word).

    Le format des fichiers est décrit dans docs/codebook.md.
    """


def _code_pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip() or "," in new:
            raise click.BadParameter(
                f"« {value} » : écrivez ANCIEN=NOUVEAU, par exemple {option} BES_LOCAUX=BES_FONCIER.",
                param_hint=option,
            )
        pairs[old.strip()] = new.strip()
    return pairs


def _code_splits(values: tuple[str, ...]) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {}
    for value in values:
        old, sep, new = value.partition("=")
        targets = [target.strip() for target in new.split(",") if target.strip()]
        if not sep or not old.strip() or len(targets) < 2:
            raise click.BadParameter(
                f"« {value} » : écrivez ANCIEN=CODE1,CODE2 (au moins deux codes ; "
                f"le premier reçoit les décisions existantes).",
                param_hint="--scission",
            )
        splits[old.strip()] = targets
    return splits


@codebook_group.command("check")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER")
def codebook_check_command(path: Path) -> None:
    """Vérifier un codebook YAML : tous les problèmes, avec leur ligne, en une fois.

    Exemple : qualipipe codebook check codebooks/ptce.yaml
    """
    from qualipipe.codebook import load_codebook

    codebook = load_codebook(path)
    families = sum(1 for code in codebook.codes if code.parent is None)
    console.print(
        f"[green]✓[/] {path} : « {codebook.name} » version {codebook.version}, {families} "
        f"familles, {len(codebook.codable())} codes codables, aucun problème."
    )


@codebook_group.command("load")
@click.argument(
    "path", type=click.Path(path_type=Path, dir_okay=False), required=False, metavar="[FICHIER]"
)
@study_option
@click.option(
    "--fusion",
    "merges",
    multiple=True,
    metavar="ANCIEN=NOUVEAU",
    help="ANCIEN disparaît, ses décisions rejoignent NOUVEAU (répétable).",
)
@click.option(
    "--scission",
    "splits",
    multiple=True,
    metavar="ANCIEN=CODE1,CODE2",
    help="ANCIEN est scindé ; ses décisions suivent CODE1, à revoir pour les autres (répétable).",
)
@click.option(
    "--renommage",
    "renames",
    multiple=True,
    metavar="ANCIEN=NOUVEAU",
    help="L'identifiant ANCIEN devient NOUVEAU, avec ses décisions (répétable).",
)
@click.option(
    "--destination",
    "destinations",
    multiple=True,
    metavar="ANCIEN=CODE",
    help="ANCIEN est supprimé ; ses décisions vont à CODE (répétable).",
)
@click.option("--essai", is_flag=True, help="Montrer les changements sans rien modifier.")
def codebook_load_command(
    path: Path | None,
    study: Path | None,
    merges: tuple[str, ...],
    splits: tuple[str, ...],
    renames: tuple[str, ...],
    destinations: tuple[str, ...],
    essai: bool,
) -> None:
    """Charger un codebook dans l'étude, en montrant ce qui change, sans perdre de décision.

    Par défaut FICHIER est le codebook indiqué dans qualipipe.toml. Un code qui porte des
    décisions ne peut disparaître que si vous dites où vont ses décisions.

    Exemple : qualipipe codebook load codebooks/ptce.yaml --fusion BES_LOCAUX=BES_LOCAUX_FONCIER
    """
    from rich.markup import escape

    from qualipipe.codebook import load_into_study

    with _open(study) as opened:
        if path is None:
            if not opened.config.codebook:
                raise click.UsageError(
                    "indiquez le fichier du codebook, ou la clé « codebook » dans qualipipe.toml."
                )
            path = opened.root / opened.config.codebook
        result = load_into_study(
            opened,
            path,
            merges=_code_pairs("--fusion", merges),
            splits=_code_splits(splits),
            renames=_code_pairs("--renommage", renames),
            destinations=_code_pairs("--destination", destinations),
            dry_run=essai,
        )
        decisions = opened.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    if result.changes and result.previous is not None:
        table = Table(title=f"Changements du codebook ({path})")
        for header in ("Changement", "Code", "Détail", "Décisions"):
            table.add_column(header)
        for change in result.changes:
            table.add_row(change.kind, change.code_id, escape(change.detail), str(change.decisions))
        console.print(table)
    counts = ", ".join(
        f"{result.count(kind)} {kind}(s)"
        for kind in ("ajouté", "renommé", "déplacé", "fusionné", "scindé", "supprimé", "modifié")
        if result.count(kind)
    )
    first_or_none = "premier chargement" if result.previous is None else "aucun code changé"
    if essai:
        console.print(f"Essai : {counts or 'aucun changement'} ; rien n'a été modifié.")
    elif not result.new_version:
        console.print(f"Codebook identique à celui de l'étude : rien à charger ({path}).")
    else:
        console.print(
            f"Codebook « {result.codebook.name} » version {result.codebook.version} chargé dans "
            f"{opened.root} (version n°{result.version_id}) : {counts or first_or_none}. "
            f"{decisions} décision(s) d'analystes conservées ; "
            f"{result.suggestions_dropped} suggestion(s) de codes retirés effacées."
        )


@codebook_group.command("export")
@click.argument(
    "path", type=click.Path(path_type=Path, dir_okay=False), required=False, metavar="[FICHIER]"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["qdc", "xlsx", "docx"]),
    default="qdc",
    show_default=True,
    help="qdc = REFI-QDA (NVivo, ATLAS.ti, MAXQDA, QualCoder) ; xlsx / docx = à lire et imprimer.",
)
@click.option(
    "--sortie", "output", type=click.Path(path_type=Path, dir_okay=False), help="Fichier à écrire."
)
@study_option
def codebook_export_command(
    path: Path | None, fmt: str, output: Path | None, study: Path | None
) -> None:
    """Exporter un codebook (le FICHIER YAML donné, sinon celui chargé dans l'étude).

    Sortie par défaut : outputs/<étude>/codebook/<nom>.<format>.

    Exemple : qualipipe codebook export codebooks/ptce.yaml --format qdc --sortie ptce.qdc
    """
    from qualipipe.codebook import load_codebook, study_codebook
    from qualipipe.codebook_exchange import export_codebook

    if path is not None:
        codebook = load_codebook(path)
        default = Path("outputs") / "codebook" / f"{path.stem}.{fmt}"
    else:
        with _open(study) as opened:
            codebook = study_codebook(opened)
            default = Path("outputs") / opened.root.name / "codebook" / f"codebook.{fmt}"
    written = export_codebook(codebook, fmt, output or default)
    console.print(
        f"Codebook « {codebook.name} » ({len(codebook.codable())} codes codables) exporté en "
        f"{fmt} : {written}"
    )


@codebook_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.qdc")
@click.option(
    "--sortie",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Codebook YAML à écrire (par défaut : à côté du .qdc, extension .yaml).",
)
@click.option("--ecraser", is_flag=True, help="Remplacer le fichier de sortie s'il existe.")
def codebook_import_command(path: Path, output: Path | None, ecraser: bool) -> None:
    """Lire un codebook REFI-QDA (.qdc) d'un autre logiciel et l'écrire en YAML qualipipe.

    Exemple : qualipipe codebook import grille_nvivo.qdc --sortie codebooks/grille.yaml
    """
    from rich.markup import escape

    from qualipipe.codebook_exchange import import_qdc_to_yaml

    target = output or path.with_suffix(".yaml")
    result = import_qdc_to_yaml(path, target, overwrite=ecraser)
    for warning in result.warnings:
        console.print(f"[yellow]À vérifier :[/] {escape(warning)}", highlight=False)
    console.print(
        f"{len(result.codebook.codes)} codes lus dans {path}, codebook écrit dans {target}. "
        f"Vérifiez-le : qualipipe codebook check {target}"
    )


# ---------------------------------------------------------------------------------------------
# survey (issue 4) — commands for `qualipipe survey ...` go here
# ---------------------------------------------------------------------------------------------


@app.group("survey", context_settings=CONTEXT)
def survey_group() -> None:
    """Questionnaires LimeSurvey : construire, déployer, inviter, relancer, suivre, récupérer.

    Les identifiants viennent de l'environnement (LIMESURVEY_URL, LIMESURVEY_USER,
    LIMESURVEY_PASSWORD) ; ils ne sont jamais écrits sur disque. Voir docs/questionnaires.md.
    """


def _survey_instrument(instrument: str, study_root: Path | None = None):  # noqa: ANN202 - Instrument
    from qualipipe.surveys import instrument_path, load_instrument

    return load_instrument(instrument_path(instrument, study_root=study_root))


def _survey_server():  # noqa: ANN202 - LimeSurveyServer
    from qualipipe.limesurvey import LimeSurveyServer, credentials_from_env

    return LimeSurveyServer(credentials_from_env())


def _survey_territories(opened, territory: str | None) -> list[str]:  # noqa: ANN001 - Study
    if territory:
        return [opened.config.territory(territory).id]
    return [t.id for t in opened.config.territories]


@survey_group.command("build")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.yaml")
@click.option(
    "--sortie",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Fichier .lss à écrire (par défaut : <nom du questionnaire>.lss dans le dossier courant).",
)
def survey_build_command(file: Path, output: Path | None) -> None:
    """Vérifier un questionnaire YAML et écrire sa structure LimeSurvey (.lss).

    Le .lss s'importe dans LimeSurvey 6 (Questionnaires > Créer > Importer).

    Exemple : qualipipe survey build surveys/priorisation_enjeux.yaml --sortie priorisation.lss
    """
    from qualipipe.lss import write_lss
    from qualipipe.surveys import load_instrument

    instrument = load_instrument(file)
    destination = write_lss(instrument, output or Path(f"{instrument.name}.lss"))
    console.print(
        f"{len(instrument.questions)} questions en {len(instrument.groups)} groupes, "
        f"{len(instrument.free_text_columns())} colonnes de texte libre : [bold]{destination}[/]",
        soft_wrap=True,
    )


@survey_group.command("deploy")
@click.argument("instrument", metavar="QUESTIONNAIRE")
@study_option
@territory_option
@click.option(
    "--remplacer", is_flag=True, help="Déployer un nouveau questionnaire même s'il en existe un."
)
def survey_deploy_command(
    instrument: str, study: Path | None, territory: str | None, remplacer: bool
) -> None:
    """Importer le questionnaire dans LimeSurvey, un par territoire, et l'activer.

    Le titre porte le nom du territoire ; la table des participants est créée. L'étude retient
    quel questionnaire LimeSurvey (n°) correspond à quel instrument et territoire.

    Exemple : qualipipe survey deploy entretien_fondateurs -t auxois
    """
    from rich.progress import Progress

    from qualipipe.limesurvey import deploy

    with _open(study) as opened, _survey_server() as server:
        loaded = _survey_instrument(instrument, opened.root)
        territories = _survey_territories(opened, territory)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"Déploiement de « {loaded.name} »", total=len(territories))
            done = deploy(
                opened,
                loaded,
                server,
                territories,
                replace=remplacer,
                progress=lambda _territory: bar.advance(task),
            )
        for d in done:
            state = "créé et activé" if d.created else "déjà déployé"
            console.print(f"{d.territory_id} : questionnaire n°{d.survey_id} ({state})")
        console.print(f"Déploiements enregistrés dans {opened.config.db_path}.")


@survey_group.command("invite")
@click.argument("instrument", metavar="QUESTIONNAIRE")
@study_option
@click.option("--territory", "-t", "territory", required=True, help="Territoire (identifiant).")
@click.option(
    "--courriels",
    "emails",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="CSV « identifiant;courriel » (lu pour l'envoi, jamais copié dans l'étude).",
)
def survey_invite_command(
    instrument: str, study: Path | None, territory: str, emails: Path | None
) -> None:
    """Inscrire les participants du territoire (avec leur rôle) et envoyer les invitations.

    Fondateurs pour entretien_fondateurs, acteurs pour entretien_acteurs, tous pour les autres.
    Sans courriel, le participant reçoit un code d'accès à transmettre soi-même.

    Exemple : qualipipe survey invite entretien_acteurs -t auxois --courriels courriels.csv
    """
    from qualipipe.limesurvey import LimeSurveyError, invite, read_emails

    with _open(study) as opened, _survey_server() as server:
        name = _survey_instrument(instrument, opened.root).name
        report = invite(
            opened, name, territory, server, emails=read_emails(emails) if emails else None
        )
        table = Table(
            title=f"Invitations « {name} » — questionnaire n°{report.deployment.survey_id}"
        )
        for header in ("Participant", "Code d'accès", "Statut"):
            table.add_column(header)
        for o in report.outcomes:
            table.add_row(o.pseudonym, o.token, o.status + (f" ({o.error})" if o.error else ""))
        console.print(table)
        for pseudonym in report.skipped_no_consent:
            console.print(f"{pseudonym} : sans consentement, non inscrit.")
        failures = report.failures
        if failures:
            raise LimeSurveyError(
                f"{len(failures)} invitation(s) sur {len(report.outcomes)} n'ont pas pu être "
                f"envoyées par LimeSurvey ({failures[0].error}). Les participants sont inscrits "
                "avec leur code d'accès ; réglez l'envoi de courriels de LimeSurvey (Configuration >"
                " Paramètres globaux > Courriel) puis relancez cette commande : seuls les envois "
                "en échec seront retentés."
            )
        console.print(
            f"{report.count('invité')} invitation(s) envoyée(s), {report.count('sans courriel')} "
            f"sans courriel ; suivi enregistré dans {opened.config.db_path}."
        )


@survey_group.command("remind")
@click.argument("instrument", metavar="QUESTIONNAIRE")
@study_option
@click.option("--territory", "-t", "territory", required=True, help="Territoire (identifiant).")
def survey_remind_command(instrument: str, study: Path | None, territory: str) -> None:
    """Relancer les participants invités qui n'ont pas encore répondu.

    Exemple : qualipipe survey remind entretien_acteurs -t auxois
    """
    from qualipipe.limesurvey import LimeSurveyError, remind

    with _open(study) as opened, _survey_server() as server:
        name = _survey_instrument(instrument, opened.root).name
        report = remind(opened, name, territory, server)
        if report.failed:
            raise LimeSurveyError(
                f"{len(report.failed)} relance(s) non envoyée(s) par LimeSurvey "
                f"({report.failed[0][1]}) : vérifiez l'envoi de courriels de LimeSurvey puis relancez."
            )
        if not report.reminded:
            console.print(
                "Personne à relancer : tous les invités ont répondu, ou aucun n'a été invité."
            )
        else:
            console.print(
                f"{len(report.reminded)} relance(s) envoyée(s) : {', '.join(report.reminded)}."
            )


@survey_group.command("status")
@click.argument("instrument", metavar="[QUESTIONNAIRE]", required=False)
@study_option
@territory_option
def survey_status_command(
    instrument: str | None, study: Path | None, territory: str | None
) -> None:
    """Nombre de réponses par questionnaire déployé et avancement par participant.

    Exemple : qualipipe survey status priorisation_enjeux
    """
    from qualipipe.limesurvey import status

    with _open(study) as opened, _survey_server() as server:
        name = _survey_instrument(instrument, opened.root).name if instrument else None
        territory_id = opened.config.territory(territory).id if territory else None
        states = status(opened, server, instrument=name, territory=territory_id)
        if not states:
            console.print("Aucun questionnaire déployé (qualipipe survey deploy …).")
        for s in states:
            d = s.deployment
            console.print(
                f"{d.instrument} — {d.territory_id} (n°{d.survey_id}) : {s.completed} "
                f"complète(s), {s.incomplete} incomplète(s), {s.invited} invitation(s) envoyée(s)",
                soft_wrap=True,
            )
            table = Table()
            for header in ("Participant", "Invité", "A répondu", "Réponses récupérées"):
                table.add_column(header)
            for p in s.participants:
                table.add_row(
                    p.pseudonym,
                    "oui" if p.invited else "non",
                    "oui" if p.completed else "non",
                    str(p.stored_responses),
                )
            console.print(table)


@survey_group.command("fetch")
@click.argument("instrument", metavar="[QUESTIONNAIRE]", required=False)
@study_option
@territory_option
def survey_fetch_command(instrument: str | None, study: Path | None, territory: str | None) -> None:
    """Récupérer les réponses et les ranger dans l'étude (sans doublon ; les modifiées sont mises à jour).

    Réponses libres → sources à coder ; réponses fermées → attributs des participants.

    Exemple : qualipipe survey fetch -t auxois
    """
    from rich.progress import Progress

    from qualipipe.limesurvey import deployments, fetch

    with _open(study) as opened, _survey_server() as server:
        name = _survey_instrument(instrument, opened.root).name if instrument else None
        territory_id = opened.config.territory(territory).id if territory else None
        with Progress(console=console, transient=True) as bar:
            total = len(deployments(opened, instrument=name, territory=territory_id))
            task = bar.add_task("Export des réponses", total=total)
            report = fetch(
                opened,
                server,
                instrument=name,
                territory=territory_id,
                progress=lambda _deployment: bar.advance(task),
            )
        for d in report.empty_surveys:
            console.print(
                f"{d.instrument} — {d.territory_id} (n°{d.survey_id}) : aucune réponse pour l'instant."
            )
        console.print(
            f"Réponses : {report.added} nouvelle(s), {report.updated} mise(s) à jour, "
            f"{report.unchanged} inchangée(s), {report.unlinked} sans participant reconnu ; "
            f"{report.sources} texte(s) libre(s) à coder. Étude : {opened.config.db_path}."
        )


# ---------------------------------------------------------------------------------------------
# ingest (issue 5) — `qualipipe ingest ...` goes here
# ---------------------------------------------------------------------------------------------


@app.command("ingest")
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
    default=None,
    help="Questionnaire des exports LimeSurvey .csv/.xlsx (nom dans surveys/ ou fichier YAML).",
)
@click.option(
    "--territory",
    "-t",
    "territory",
    default=None,
    help="Territoire des réponses d'un export LimeSurvey (identifiant ou nom ; avec --instrument).",
)
def ingest_command(
    paths: tuple[Path, ...],
    study: Path | None,
    manifest: Path | None,
    instrument: str | None,
    territory: str | None,
) -> None:
    """Importer le manifeste, les transcriptions d'entretiens et les exports de questionnaires.

    Formats : .txt .md .docx .odt .srt .vtt .trs (Transcriber) .TextGrid (Praat), transcriptions
    alignées CFPP2000 ; exports LimeSurvey .csv/.xlsx (en-têtes = codes des questions) avec
    --instrument et --territory. Réimporter un fichier corrigé garde les décisions des passages
    inchangés. Chaque fichier est importé à part : un fichier en erreur n'empêche pas les autres.

    Exemple : qualipipe ingest entretiens/ --manifest participants.csv

    Exemple : qualipipe ingest questionnaires/priorisation.csv --instrument priorisation_enjeux -t auxois
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from qualipipe.ingest import ingest_paths

    if not paths and manifest is None:
        raise click.UsageError("indiquez des fichiers ou dossiers à importer, ou --manifest.")
    with _open(study) as opened:
        with Progress(
            TextColumn("Import"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=None)

            def advance(name: str, done: int, total: int) -> None:
                progress.update(task, total=total, completed=done, description=name)

            report = ingest_paths(
                opened,
                list(paths),
                manifest=manifest,
                instrument=instrument,
                territory=territory,
                progress=advance,
            )
        _print_ingest_report(report, opened.config.db_path)
    if not report.ok:
        sys.exit(1)


def _print_ingest_report(report, db_path: Path) -> None:  # noqa: ANN001 - IngestReport
    if report.manifest is not None:
        console.print(
            f"Manifeste {report.manifest.path} : {len(report.manifest.added)} participant(s) "
            f"ajouté(s), {len(report.manifest.updated)} mis à jour."
        )
    if report.files:
        table = Table(title="Import")
        headers = ("Fichier", "État", "Participant", "Segments", "Gardés", "Ajoutés", "Retirés")
        for header in headers:
            table.add_column(header)
        for f in report.files:
            table.add_row(
                Path(f.path).name,
                f.status,
                f.participant_id or "—",
                str(f.segments),
                str(f.kept),
                str(f.added),
                str(f.retired),
            )
        console.print(table)
    for survey in report.surveys:
        console.print(
            f"Questionnaire {survey.instrument} ({survey.territory_id}) : "
            f"{survey.responses_new} réponse(s) nouvelle(s), {survey.responses_updated} mise(s) à "
            f"jour, {survey.responses_unchanged} inchangée(s), {survey.attributes} réponse(s) "
            f"fermée(s) enregistrée(s)."
            + (
                f" Réponses sans participant (jeton inconnu) : {', '.join(map(str, survey.unlinked_responses))}."
                if survey.unlinked_responses
                else ""
            )
        )
    lost = report.lost_decisions
    if lost:
        console.print(
            f"[bold yellow]{len(lost)} décision(s) n'ont pas pu être reportées[/] (passage modifié ; "
            "elles restent dans l'historique) :"
        )
        for decision in lost:
            console.print(f"  - {decision.describe()}", highlight=False)
    if report.skipped:
        names = ", ".join(p.name for p in report.skipped[:10])
        more = f" (et {len(report.skipped) - 10} autres)" if len(report.skipped) > 10 else ""
        console.print(f"Ignorés (format non pris en charge) : {names}{more}.", highlight=False)
    for failed in report.failed:
        err_console.print(f"[bold red]Erreur :[/] {failed.error}", highlight=False, soft_wrap=True)
    counts = ", ".join(
        f"{report.count(s)} {s}" for s in ("nouveau", "mis à jour", "inchangé", "erreur")
    )
    console.print(f"Fichiers : {counts}. Étude : {db_path}")


# ---------------------------------------------------------------------------------------------
# code and themes (issue 6) — `qualipipe code`, `qualipipe themes` go here
# ---------------------------------------------------------------------------------------------

# -- code (issue 6, suggestions) ----------------------------------------------------------------


@app.command("code")
@study_option
@territory_option
@click.option(
    "--nouveaux-seulement",
    "only_new",
    is_flag=True,
    help="Ne traiter que les segments jamais codés (les suggestions existantes restent).",
)
@click.option(
    "--processus",
    "n_process",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Processus spaCy en parallèle pour l'analyse des textes nouveaux (gros corpus).",
)
def code_command(study: Path | None, territory: str | None, only_new: bool, n_process: int) -> None:
    """Suggérer des codes pour chaque segment, avec leur justification.

    Combine le lexique du codebook, la proximité de sens avec chaque code et un modèle appris
    sur vos décisions (réentraîné à chaque lancement). Ne modifie jamais vos décisions. Les
    segments de l'enquêteur ne sont pas codés. Relancer après une séance de revue ne réanalyse
    pas les textes inchangés.

    Exemple : qualipipe code --territory auxois
    """
    from qualipipe.coding.suggest import suggest_codes

    with _open(study) as opened:
        report = suggest_codes(
            opened, territory=territory, only_new=only_new, n_process=n_process, progress=True
        )
    where = f" (territoire {report.territory})" if report.territory else ""
    console.print(
        f"Codage terminé{where} en {report.seconds:.1f} s : {report.segments_processed} segments "
        f"traités ({report.words} mots ; {report.texts_analysed} textes analysés par spaCy, "
        f"les autres lus dans le cache), {report.skipped_interviewer} segments d'enquêteur ignorés."
    )
    console.print(
        f"Appris sur {report.reviewed_segments} segments revus ; score {report.combination}."
    )
    table = Table(title="Suggestions enregistrées par famille")
    table.add_column("Famille")
    table.add_column("Suggestions", justify="right")
    for family, count in report.suggestions_per_family.items():
        table.add_row(family, str(count))
    table.add_row("Total", str(report.suggestions))
    console.print(table)
    console.print(
        "Suggestions enregistrées dans study.db ; exportez-les pour la revue avec "
        "« qualipipe review ». Modèle : " + report.model_version
    )


# -- themes (issue 6, emergent themes) ---------------------------------------------------------


@app.command("themes")
@study_option
@territory_option
@click.option(
    "--nombre",
    "-k",
    "n_themes",
    type=click.IntRange(1, 30),
    default=None,
    help="Nombre de thèmes voulu (par défaut : celui dont les mots sont les plus cohérents, de 2 à 8).",
)
@click.option(
    "--score-max",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Un segment est « peu couvert » si sa meilleure suggestion de code est sous ce score.",
)
@click.option(
    "--vers-code",
    "to_code",
    type=int,
    default=None,
    metavar="N",
    help="Ajouter le thème n°N au codebook, comme code brouillon à relire.",
)
@click.option(
    "--codebook",
    "codebook_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Codebook YAML à compléter avec --vers-code (par défaut : celui chargé dans l'étude).",
)
@click.option(
    "--famille",
    "family",
    default="TRANS",
    show_default=True,
    help="Famille du codebook qui reçoit le code brouillon (--vers-code).",
)
def themes_command(
    study: Path | None,
    territory: str | None,
    n_themes: int | None,
    score_max: float,
    to_code: int | None,
    codebook_path: Path | None,
    family: str,
) -> None:
    """Thèmes émergents : ce que le codebook ne couvre pas encore.

    Sur les segments sans code accepté et sans suggestion convaincante (hors questions de
    l'enquêteur), dégage des thèmes récurrents : mots caractéristiques, libellé proposé, extraits
    représentatifs (pseudonymisés), répartition par territoire et type d'acteur. Les thèmes sont
    enregistrés dans l'étude ; --vers-code N en fait un code brouillon dans le codebook.

    \b
    Exemple : qualipipe themes --territory auxois
    puis :    qualipipe themes --vers-code 3 --codebook codebooks/ptce.yaml
    """
    from qualipipe.coding import themes

    with _open(study) as opened:
        if to_code is not None:
            path = codebook_path or themes.default_codebook_path(opened)
            draft = themes.append_draft_code(opened, to_code, path, family=family)
            console.print(
                f"Code brouillon [bold]{draft.code_id}[/] (« {draft.label} ») ajouté à la famille "
                f"{draft.family} de {draft.codebook_path}, ligne {draft.line}. Relisez-le, passez "
                f"« codable » à oui, puis rechargez le codebook (qualipipe codebook load)."
            )
            return
        result = themes.find_themes(
            opened, territory=territory, n_themes=n_themes, score_max=score_max
        )
        console.print(themes.render_themes(result))
        console.print("Extraits représentatifs :")
        for line in themes.excerpt_lines(result):
            console.print(line, highlight=False)
        console.print(themes.summary_line(result))


# ---------------------------------------------------------------------------------------------
# review and agreement (issue 7) — `qualipipe review ...`, `qualipipe agreement` go here
# ---------------------------------------------------------------------------------------------


@app.group("review", context_settings=CONTEXT)
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
    "--sortie",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Fichier .xlsx à écrire (par défaut : outputs/<étude>/revue/).",
)
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
    output: Path | None,
) -> None:
    """Écrire le classeur de revue (.xlsx) : un extrait par ligne, codes proposés, listes de choix.

    Exemple : qualipipe review export --territory auxois --non-revus --sortie revue_auxois.xlsx
    """
    from qualipipe.review import Order, ReviewFilter, export_review

    selection = ReviewFilter(
        territory=territory,
        participant=participant,
        instrument=instrument,
        question=question,
        family=family,
        not_reviewed=not_reviewed,
        coder=coder,
    )
    with _open(study) as opened, console.status("Écriture du classeur de revue…"):
        result = export_review(opened, selection, order=Order(order), output=output)
    console.print(
        f"Classeur de revue écrit : [bold]{result.path}[/] ({result.rows} extraits, "
        f"{result.suggestions} codes proposés). Remplissez-le puis importez-le avec "
        f"« qualipipe review import {result.path.name} --coder VOTRE_NOM »."
    )


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
    from qualipipe.review import import_decisions

    with _open(study) as opened, console.status("Vérification puis import des décisions…"):
        result = import_decisions(opened, file, coder, partial=partial)
    who = ", ".join(result.coders) or "—"
    if result.already_imported:
        console.print(f"{result.file} a déjà été importé pour {who} : aucune décision ajoutée.")
    else:
        console.print(
            f"{result.file} ({who}) : {result.rows_read} lignes lues, "
            f"{result.decisions_added} décision(s) ajoutée(s) à l'historique, "
            f"{result.unchanged} déjà enregistrée(s)."
        )
    if result.rejected:
        console.print(f"[yellow]{len(result.rejected)} problème(s), lignes non importées :[/]")
        for problem in result.rejected:
            console.print(f"  - {problem}", highlight=False)


@app.command("agreement")
@study_option
@territory_option
@click.option(
    "--coders",
    "--codeurs",
    "coders",
    default=None,
    help="Codeurs à comparer, séparés par des virgules (ex. Alice,Bruno).",
)
@click.option(
    "--machine",
    is_flag=True,
    help="Comparer aussi les suggestions automatiques (codeur « machine »).",
)
@click.option(
    "--sortie",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Classeur .xlsx des désaccords, pour noter la décision retenue en équipe.",
)
def agreement_command(
    study: Path | None,
    territory: str | None,
    coders: str | None,
    machine: bool,
    output: Path | None,
) -> None:
    """Accord entre codeurs, par code et global : pourcentage, kappa de Cohen, alpha de Krippendorff.

    Exemple : qualipipe agreement --territory auxois --coders Alice,Bruno --sortie desaccords.xlsx
    """
    from qualipipe.agreement import agreement, export_disagreements

    names = [c.strip() for c in coders.split(",") if c.strip()] if coders else None

    def show(value: float | None, percent: bool = False) -> str:
        if value is None:
            return "—"
        return f"{value:.0%}" if percent else f"{value:.2f}"

    with _open(study) as opened:
        report = agreement(opened, territory=territory, coders=names, machine=machine)
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
        if output is not None or report.disagreements:
            path = export_disagreements(opened, report, output)
            console.print(
                f"Désaccords écrits dans [bold]{path}[/] : notez la décision retenue puis "
                f"« qualipipe review import {path.name} »."
            )


# ---------------------------------------------------------------------------------------------
# synthesize (issue 8) — `qualipipe synthesize` goes here
# ---------------------------------------------------------------------------------------------


@app.command("synthesize")
@study_option
@territory_option
@click.option(
    "--all",
    "all_territories",
    is_flag=True,
    help="Tous les territoires, plus la comparaison entre territoires (dossier comparaison/).",
)
@click.option(
    "--validated-only",
    is_flag=True,
    help="Ne compter que les codages validés par un·e analyste (sans les suggestions non revues).",
)
@click.option(
    "--seuil-partage",
    "share_threshold",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Enjeu partagé : nombre minimal de participants de plusieurs types d'acteurs.",
)
@click.option(
    "--noms-reels",
    "keep_names",
    is_flag=True,
    help="Garder les noms réels (document de travail interne : à ne pas diffuser).",
)
@click.option(
    "--sans-figures",
    "no_figures",
    is_flag=True,
    help="Tableaux seulement (plus rapide), sans images ni nuages de mots.",
)
@click.option(
    "--sortie",
    "out_root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("outputs"),
    show_default=True,
    help="Dossier des sorties ; la synthèse va dans SORTIE/<dossier de l'étude>/<territoire>/.",
)
def synthesize_command(
    study: Path | None,
    territory: str | None,
    all_territories: bool,
    validated_only: bool,
    share_threshold: int,
    keep_names: bool,
    no_figures: bool,
    out_root: Path,
) -> None:
    """Écrire la synthèse du diagnostic : tableaux (.xlsx, .docx, .md), cartographie des
    acteurs, nuages de mots, priorités de l'atelier 2 et évaluation, par territoire.

    Sans --territory : tous les territoires. --all ajoute la comparaison entre territoires.

    Exemple : qualipipe synthesize --study mon-etude --territory auxois --validated-only
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qualipipe.synthesize import synthesize_study

    if territory and all_territories:
        raise click.UsageError("Choisissez --territory OU --all, pas les deux.")
    with _open(study) as opened:
        out_dir = out_root / opened.root.resolve().name
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("Synthèse", total=None)
            report = synthesize_study(
                opened,
                out_dir,
                territory=territory,
                include_comparison=all_territories,
                validated_only=validated_only,
                share_threshold=share_threshold,
                keep_names=keep_names,
                with_figures=not no_figures,
                on_step=lambda label: bar.update(task, description=label),
                on_territory=lambda done, total, name: bar.update(
                    task, completed=done, total=total, description=f"Synthèse ({name})"
                ),
            )
    if len(report.territories) <= 10:
        for territory_id in report.territories:
            counts = report.counts[territory_id]
            console.print(
                f"{territory_id} : {counts['tableaux']} tableaux, {counts['figures']} figures "
                f"→ {out_dir / territory_id}"
            )
    if all_territories:
        console.print(f"Comparaison des territoires → {out_dir / 'comparaison'}")
    for warning in report.warnings[:10]:
        console.print(f"[yellow]Attention :[/] {warning}")
    if len(report.warnings) > 10:
        console.print(
            f"[yellow]Attention :[/] {len(report.warnings) - 10} autre(s) avertissement(s)."
        )
    if keep_names:
        console.print(
            "[yellow]Noms réels conservés : ces fichiers ne doivent pas être diffusés.[/]"
        )
    figures = sum(c["figures"] for c in report.counts.values())
    console.print(
        f"Synthèse : {len(report.territories)} territoire(s) en {report.seconds:.0f} s "
        f"({report.seconds / max(1, len(report.territories)):.1f} s par territoire) — "
        f"{len(report.files)} fichiers dont {figures} figures, "
        f"{report.size_bytes() / 1e6:.1f} Mo, sous {out_dir}."
    )


# ---------------------------------------------------------------------------------------------
# demo (issue 2) — `qualipipe demo` goes here
# ---------------------------------------------------------------------------------------------


@app.command("demo")
@click.option(
    "--sortie",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("outputs") / "demo",
    show_default=True,
    help="Dossier où écrire l'étude copiée et toutes les sorties.",
)
@click.option(
    "--depot",
    "repository",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Dossier de qualipipe contenant examples/, codebooks/ et surveys/ (par défaut : trouvé seul).",
)
@click.pass_context
def demo_command(ctx: click.Context, out_dir: Path, repository: Path | None) -> None:
    """Démonstration : toutes les étapes sur une copie de l'étude d'exemple.

    Copie examples/etude-demo dans SORTIE/etude, charge le codebook, importe manifeste, entretiens
    et questionnaires, suggère les codes, importe les décisions de l'analyste, recode, écrit le
    classeur de revue, l'accord entre codeurs, les thèmes émergents et les synthèses par territoire.

    Exemple : qualipipe demo
    """
    import time

    from qualipipe.demo import find_repository, prepare_demo, written_files
    from qualipipe.synthesize import synthesize_study

    started = time.perf_counter()
    plan = prepare_demo(repository or find_repository(), out_dir)
    study = plan.study_dir

    def step(title: str) -> None:
        console.rule(f"[bold]{title}")

    step("1. Codebook")
    ctx.invoke(codebook_load_command, path=plan.codebook, study=study)
    step("2. Participants et entretiens")
    ctx.invoke(
        ingest_command,
        paths=(plan.transcripts,),
        study=study,
        manifest=plan.manifest,
        instrument=None,
        territory=None,
    )
    step("3. Réponses aux questionnaires (exports LimeSurvey)")
    for export in plan.survey_exports:
        ctx.invoke(
            ingest_command,
            paths=(export.path,),
            study=study,
            manifest=None,
            instrument=str(export.instrument),
            territory=export.territory_id,
        )
    step("4. Suggestions de codes")
    ctx.invoke(code_command, study=study)
    step("5. Décisions de l'analyste, puis nouvelles suggestions apprises de ces décisions")
    ctx.invoke(review_import_command, study=study, file=plan.decisions)
    ctx.invoke(code_command, study=study)
    step("6. Classeur de revue et accord entre codeurs")
    ctx.invoke(review_export_command, study=study, not_reviewed=True, output=plan.review_workbook)
    ctx.invoke(agreement_command, study=study, output=plan.disagreements)
    step("7. Thèmes émergents")
    ctx.invoke(themes_command, study=study)
    step("8. Synthèses pour le livrable")
    from qualipipe.store import open_study

    with open_study(study) as opened, console.status("Synthèses, figures et nuages de mots…"):
        report = synthesize_study(opened, plan.out_dir, include_comparison=True)
    for warning in report.warnings:
        console.print(f"[yellow]Attention :[/] {warning}")

    files = written_files(plan.out_dir)
    console.rule("[bold]Résumé")
    console.print(
        f"Étude d'exemple copiée et traitée dans [bold]{study}[/] (base : {study / 'study.db'})."
    )
    folders: dict[Path, int] = {}
    for path in files:
        folders[path.parent] = folders.get(path.parent, 0) + 1
    for folder, count in sorted(folders.items()):
        console.print(f"  {folder} : {count} fichier(s)")
    console.print(
        f"{len(files)} fichiers écrits sous [bold]{plan.out_dir}[/] en {time.perf_counter() - started:.0f} s. "
        f"Ouvrez par exemple {plan.out_dir / report.territories[0] / 'synthese.docx'}."
    )


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every expected failure into one French line and a non-zero exit."""
    try:
        app.main(args=argv, prog_name="qualipipe", standalone_mode=True)
    except QualipipeError as error:
        err_console.print(
            f"[bold red]Erreur :[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except sqlite3.DatabaseError as error:
        err_console.print(
            f"[bold red]Erreur :[/] la base de l'étude a refusé l'opération ({error}) ; rien n'a été modifié.",
            highlight=False,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("Interrompu : l'étape en cours a été annulée, l'étude est inchangée.")
        sys.exit(130)
