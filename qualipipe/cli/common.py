"""What every command module shares: consoles, common options, the French click group."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from qualipipe.cli import french
from qualipipe.store import Study, open_study

french.install()

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


def open_study_at(study: Path | None) -> Study:
    return open_study(study or Path.cwd())


class FrenchGroup(click.Group):
    """A click group whose usage line reads in French; its sub-groups are FrenchGroups too."""

    group_class = type  # click: sub-groups made with @group.group() use this same class

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - click's signature
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)
