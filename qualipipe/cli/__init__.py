"""Command line: parses arguments, calls one stage function, prints the result in French.

One module per command group; no logic lives here.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys

import click
from rich.markup import escape

from qualipipe import __version__
from qualipipe.cli.common import CONTEXT, FrenchGroup, err_console
from qualipipe.errors import QualipipeError
from qualipipe.files import french_os_error

# Where each command lives. A command's module is imported only when that command runs, so that
# `review export` or `ingest` does not first load scikit-learn, spaCy and matplotlib for the other
# commands (about 3 s of CPU at every start). This is click's documented pattern for lazily
# loaded subcommands; `qualipipe --help` still lists them all.
COMMANDS = {
    "init": "study:init_command",
    "status": "study:status_command",
    "codebook": "codebook:codebook_group",
    "survey": "survey:survey_group",
    "ingest": "ingest:ingest_command",
    "code": "coding:code_command",
    "themes": "coding:themes_command",
    "review": "review:review_group",
    "agreement": "review:agreement_command",
    "synthesize": "synthesize:synthesize_command",
    "territory": "territory:territory_group",
    "report": "report:report_group",
    "demo": "demo:demo_command",
}


class LazyGroup(FrenchGroup):
    """The top-level group: commands listed by name, each imported from its module on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(f"qualipipe.cli.{module}"), name)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(
    __version__, "--version", prog_name="qualipipe", message="%(prog)s %(version)s"
)
def app() -> None:
    """qualipipe : l'analyse qualitative d'un diagnostic territorial partagé de PTCE.

    Questionnaires LimeSurvey, entretiens, codage assisté, revue par les analystes et synthèses
    pour le livrable. L'étude est le dossier courant, ou celui donné par --study.

    Étapes, dans l'ordre : init → survey → ingest → code → review → synthesize (status à tout moment).
    """


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
