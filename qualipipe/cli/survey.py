"""`qualipipe survey …`: build, deploy, invite, remind, status, fetch (LimeSurvey)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from qualipipe import resolve
from qualipipe.cli.common import (
    INSTRUMENT,
    command_group,
    console,
    open_study_at,
    output_file_option,
    progress_task,
    required_territory_option,
    study_option,
    territory_option,
)
from qualipipe.surveys.client import LimeSurveyError, LimeSurveyServer, credentials_from_env
from qualipipe.surveys.instruments import (
    Instrument,
    load_instrument,
)
from qualipipe.surveys.links import write_links
from qualipipe.surveys.lss import write_lss
from qualipipe.surveys.operations import (
    COMPLETE,
    INVITED,
    MAIL_FAILED,
    NO_EMAIL,
    PARTIAL,
    REGISTERED,
    deploy,
    fetch,
    invite,
    read_emails,
    remind,
    status,
)

# How `survey status` sums up participants (label for the count), in the order shown.
STATE_LABELS = {
    COMPLETE: "complète(s)",
    PARTIAL: "en cours",
    INVITED: "invité(s) par courriel",
    MAIL_FAILED: "courriel en échec",
    NO_EMAIL: "sans courriel (lien à envoyer soi-même)",
    REGISTERED: "inscrit(s)",
}


@command_group("survey")
def survey_group() -> None:
    """Questionnaires LimeSurvey : construire, déployer, inviter, relancer, suivre, récupérer.

    Les identifiants viennent de l'environnement (LIMESURVEY_URL, LIMESURVEY_USER,
    LIMESURVEY_PASSWORD) ; ils ne sont jamais écrits sur disque. Voir docs/questionnaires.md.
    """


def _survey_instrument(instrument: str, study_root: Path | None = None) -> Instrument:
    # Resolved before any login: an unknown name lists the ones that would have worked.
    return load_instrument(resolve.instrument(instrument, study_root=study_root))


def _survey_server():

    return LimeSurveyServer(credentials_from_env())


def _survey_territories(opened, territory: str | None) -> list[str]:
    if territory:
        return [opened.config.territory(territory).id]
    return [t.id for t in opened.config.territories]


@survey_group.command("build")
@click.argument("file", type=INSTRUMENT, metavar="QUESTIONNAIRE")
@output_file_option(
    "Fichier .lss à écrire (par défaut : <nom du questionnaire>.lss dans le dossier courant)."
)
def survey_build_command(file: str, output: Path | None) -> None:
    """Vérifier un questionnaire YAML et écrire sa structure LimeSurvey (.lss).

    QUESTIONNAIRE est un fichier .yaml, ou le nom d'un questionnaire de l'étude (dossier
    surveys/) ou livré avec qualipipe (priorisation_enjeux, evaluation_diagnostic, …).
    Le .lss s'importe dans LimeSurvey 6 (Questionnaires > Créer > Importer).

    Exemple : qualipipe survey build surveys/priorisation_enjeux.yaml --sortie priorisation.lss

    Exemple : qualipipe survey build priorisation_enjeux
    """

    instrument = load_instrument(Path(file))
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

    with open_study_at(study) as opened:
        # Everything local is checked before logging in to the server.
        loaded = _survey_instrument(instrument, opened.root)
        territories = _survey_territories(opened, territory)
        with (
            _survey_server() as server,
            progress_task(f"Déploiement de « {loaded.name} »", total=len(territories)) as progress,
        ):
            report = deploy(
                opened,
                loaded,
                server,
                territories,
                replace=remplacer,
                progress=progress.advance,
            )
        for sid in report.removed_leftovers:
            console.print(
                f"Questionnaire n°{sid} laissé incomplet par un déploiement interrompu : supprimé."
            )
        for d in report.deployments:
            state = (
                "créé et activé"
                if d.created
                else "déjà déployé ; --remplacer pour en déployer un nouveau"
            )
            console.print(f"{d.territory_id} : questionnaire n°{d.survey_id}, {state}")
        if report.created:
            console.print(f"Déploiements enregistrés dans {opened.config.db_path}.")
        else:
            console.print("Rien de nouveau : l'étude n'a pas été modifiée.")


@survey_group.command("invite")
@click.argument("instrument", metavar="QUESTIONNAIRE")
@study_option
@required_territory_option
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
    Chaque participant a un lien personnel ; tous les liens sont écrits dans
    invitations/liens_<questionnaire>_<territoire>.xlsx (à envoyer soi-même à ceux qui n'ont pas
    de courriel, ou si LimeSurvey ne peut pas envoyer de courriel).

    Exemple : qualipipe survey invite entretien_acteurs -t auxois --courriels courriels.csv
    """

    with open_study_at(study) as opened:
        name = _survey_instrument(instrument, opened.root).name
        addresses = read_emails(emails) if emails else None
        with _survey_server() as server:
            report = invite(opened, name, territory, server, emails=addresses)
        links = write_links(opened.root, report)
        table = Table(
            title=f"Invitations « {name} » — questionnaire n°{report.deployment.survey_id}"
        )
        for header in ("Participant", "Code d'accès", "Statut"):
            table.add_column(header)
        for o in report.outcomes:
            table.add_row(o.pseudonym, o.token, o.status + (f" ({o.error})" if o.error else ""))
        console.print(table)
        console.print(f"Liens personnels des participants : [bold]{links}[/]", soft_wrap=True)
        for pseudonym in report.skipped_no_consent:
            console.print(f"{pseudonym} : sans consentement, non inscrit.")
        failures = report.failures
        if failures:
            raise LimeSurveyError(
                f"{len(failures)} invitation(s) sur {len(report.outcomes)} n'ont pas pu être "
                f"envoyées ({failures[0].error}). Les participants sont inscrits : envoyez-leur "
                f"leur lien personnel vous-même ({links.name}), ou réglez l'envoi de courriels de "
                "LimeSurvey puis relancez cette commande : seuls les envois en échec seront "
                "retentés."
            )
        console.print(
            f"{report.count('invité')} invitation(s) envoyée(s), {report.count('sans courriel')} "
            f"sans courriel ; suivi enregistré dans {opened.config.db_path}."
        )


@survey_group.command("remind")
@click.argument("instrument", metavar="QUESTIONNAIRE")
@study_option
@required_territory_option
def survey_remind_command(instrument: str, study: Path | None, territory: str) -> None:
    """Relancer les participants invités qui n'ont pas encore répondu.

    Exemple : qualipipe survey remind entretien_acteurs -t auxois
    """

    with open_study_at(study) as opened:
        name = _survey_instrument(instrument, opened.root).name
        with _survey_server() as server:
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

    with open_study_at(study) as opened:
        name = _survey_instrument(instrument, opened.root).name if instrument else None
        territory_id = opened.config.territory(territory).id if territory else None
        with _survey_server() as server:
            states = status(opened, server, instrument=name, territory=territory_id)
        if not states:
            console.print("Aucun questionnaire déployé (qualipipe survey deploy …).")
        for s in states:
            d = s.deployment
            console.print(
                f"{d.instrument} — {d.territory_id} (n°{d.survey_id}) : {s.completed} "
                f"réponse(s) complète(s), {s.incomplete} en cours ; participants : "
                + ", ".join(
                    f"{s.count(state)} {label}"
                    for state, label in STATE_LABELS.items()
                    if s.count(state)
                ),
                soft_wrap=True,
            )
            table = Table()
            for header in ("Participant", "Où il en est", "Réponses récupérées"):
                table.add_column(header)
            for p in s.participants:
                table.add_row(p.pseudonym, p.state, str(p.stored_responses))
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

    with open_study_at(study) as opened:
        name = _survey_instrument(instrument, opened.root).name if instrument else None
        territory_id = opened.config.territory(territory).id if territory else None
        with _survey_server() as server, progress_task("Export des réponses") as progress:
            report = fetch(
                opened,
                server,
                instrument=name,
                territory=territory_id,
                progress=progress.counted,
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
