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


@click.group(context_settings=CONTEXT)
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
def status_command(study: Path | None) -> None:
    """Afficher l'avancement de l'étude, par territoire.

    Participants par rôle, sources, segments, part des segments revus, taux de réponse aux
    questionnaires.
    """
    from qualipipe.status import territory_statuses

    with _open(study) as opened:
        table = Table(title=f"Étude « {opened.config.name} »")
        for header in (
            "Territoire",
            "Fondateurs",
            "Acteurs",
            "Sources",
            "Segments",
            "Revus",
            "Réponses / invités",
        ):
            table.add_column(header)
        for s in territory_statuses(opened):
            rate = (
                f"{s.responses}/{s.invited} ({s.response_rate:.0%})"
                if s.response_rate is not None
                else "—"
            )
            table.add_row(
                s.name,
                str(s.founders),
                str(s.actors),
                str(s.sources),
                str(s.segments),
                f"{s.reviewed_segments} ({s.reviewed_share:.0%})",
                rate,
            )
        console.print(table)


# ---------------------------------------------------------------------------------------------
# codebook (issue 3) — commands for `qualipipe codebook ...` go here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# survey (issue 4) — commands for `qualipipe survey ...` go here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# ingest (issue 5) — `qualipipe ingest ...` goes here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# code and themes (issue 6) — `qualipipe code`, `qualipipe themes` go here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# review and agreement (issue 7) — `qualipipe review ...`, `qualipipe agreement` go here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# synthesize (issue 8) — `qualipipe synthesize` goes here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# demo (issue 2) — `qualipipe demo` goes here
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every expected failure into one French line and a non-zero exit."""
    try:
        app.main(args=argv, prog_name="qualipipe", standalone_mode=True)
    except QualipipeError as error:
        err_console.print(f"[bold red]Erreur :[/] {error}", highlight=False, soft_wrap=True)
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
