"""Command line: parses arguments, calls one stage function, prints the result in French.

One module per command group; no logic lives here.
"""

from __future__ import annotations

import sqlite3
import sys

import click
from rich.markup import escape

from qualipipe import __version__
from qualipipe.cli import (
    codebook,
    coding,
    demo,
    ingest,
    report,
    review,
    study,
    survey,
    synthesize,
    territory,
)
from qualipipe.cli.common import CONTEXT, FrenchGroup, err_console
from qualipipe.errors import QualipipeError
from qualipipe.files import french_os_error


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


for command in (
    study.init_command,
    study.status_command,
    codebook.codebook_group,
    survey.survey_group,
    ingest.ingest_command,
    coding.code_command,
    coding.themes_command,
    review.review_group,
    review.agreement_command,
    synthesize.synthesize_command,
    territory.territory_group,
    report.report_group,
    demo.demo_command,
):
    app.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every expected failure into one French line and a non-zero exit."""
    try:
        app.main(args=argv, prog_name="qualipipe", standalone_mode=True)
    except QualipipeError as error:
        err_console.print(
            f"[bold red]Erreur :[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except OSError as error:
        # Disk full, read-only folder, file locked by Excel…: one French line, no traceback.
        err_console.print(
            f"[bold red]Erreur :[/] {escape(french_os_error(error))}",
            highlight=False,
            soft_wrap=True,
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
