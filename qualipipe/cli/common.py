"""What every command module shares: consoles, common options, the French click group."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import Progress

from qualipipe import resolve
from qualipipe.cli import french
from qualipipe.config import CONFIG_NAME, load_config
from qualipipe.errors import QualipipeError
from qualipipe.progress import progress_bar
from qualipipe.store import Study, open_study

french.install()

console = Console()
err_console = Console(stderr=True)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


F = TypeVar("F", bound=Callable[..., Any])


class TerritoryType(click.ParamType):
    """A territory typed by the analyst, resolved to its id by the one territory resolver.

    `--study` is eager, so the study folder is known whichever order the options come in.
    When the folder is not a readable study, the value is left as typed: opening the study
    reports that problem in its own words.
    """

    name = "territoire"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        root = (ctx.params.get("study") if ctx else None) or Path.cwd()
        try:
            config = load_config(root)
        except QualipipeError:
            return str(value)
        # An unknown territory raises the resolver's own error: the same line, and the same exit
        # status, as when a library function resolves it.
        return config.territory(str(value)).id


class InstrumentType(click.ParamType):
    """A survey instrument: a YAML path, or a name looked up in the study then the shipped ones."""

    name = "questionnaire"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        root = (ctx.params.get("study") if ctx else None) or Path.cwd()
        study_root = root if (Path(root) / CONFIG_NAME).is_file() else None
        return str(resolve.instrument(str(value), study_root=study_root))


TERRITORY = TerritoryType()
INSTRUMENT = InstrumentType()


def study_option(function: F) -> F:
    return click.option(
        "--study",
        "-s",
        "study",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        is_eager=True,
        help="Dossier de l'étude (par défaut : le dossier courant).",
    )(function)


def output_root_option(where: str) -> Callable[[F], F]:
    """`--sortie DOSSIER`: the root of the outputs (default `outputs/`); `where` says, in French,
    what goes where under it (the folder layout is `resolve.output_dir`'s)."""
    return click.option(
        "--sortie",
        "out_root",
        type=click.Path(path_type=Path, file_okay=False),
        default=resolve.OUTPUTS,
        show_default=True,
        help=f"Dossier des sorties ; {where}.",
    )


def territory_option(function: F, *, required: bool = False) -> F:
    return click.option(
        "--territory",
        "-t",
        "territory",
        type=TERRITORY,
        default=None,
        required=required,
        help="Territoire (identifiant ou nom, majuscules et accents indifférents).",
    )(function)


def required_territory_option(function: F) -> F:
    return territory_option(function, required=True)


def output_file_option(help: str) -> Callable[[F], F]:
    """`--sortie FICHIER`: the one file a command writes; `help` says, in French, its default."""
    return click.option(
        "--sortie",
        "output",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help=help,
    )


def comma_list(text: str) -> list[str]:
    """The items of a comma-separated value as typed (« Alice, Bruno »), blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def comma_list_option(*names: str, help: str) -> Callable[[F], F]:
    """An option whose value is a comma-separated list; the command gets the items, or None."""
    return click.option(
        *names,
        default=None,
        callback=lambda _ctx, _param, value: comma_list(value) if value else None,
        help=help,
    )


def command_group(name: str, **settings: Any) -> Callable[[Callable[..., Any]], click.Group]:
    """A command group of `qualipipe` (`qualipipe NAME …`): French usage line, `-h`, wide help."""
    return click.group(name, cls=FrenchGroup, context_settings=CONTEXT, **settings)


class StepProgress:
    """A long command's progress bar with its one task, and the callbacks the library takes."""

    def __init__(self, bar: Progress, label: str) -> None:
        self.bar = bar
        self.label = label
        self.task = bar.add_task(label, total=None)

    def named(self, name: str, done: int, total: int) -> None:
        """`done` of `total`, and what is being done now (shown after the step's label)."""
        description = f"{self.label} — {name}" if name else self.label
        self.bar.update(self.task, completed=done, total=total, description=description)

    def counted(self, done: int, total: int) -> None:
        self.named("", done, total)

    def advance(self, *_: object) -> None:
        """One more item done, whatever the library says about it."""
        self.bar.advance(self.task)

    def describe(self, what: str) -> None:
        self.bar.update(self.task, description=what)


@contextmanager
def progress_task(label: str, *, total: int | None = None) -> Iterator[StepProgress]:
    """A command's progress bar, drawn on the console it prints its summary on, gone when done."""
    with progress_bar(console=console) as bar:
        step = StepProgress(bar, label)
        if total is not None:
            bar.update(step.task, total=total)
        yield step


def open_study_at(study: Path | None) -> Study:
    return open_study(study or Path.cwd())


class FrenchGroup(click.Group):
    """A click group whose usage line reads in French; its sub-groups are FrenchGroups too."""

    group_class = type  # click: sub-groups made with @group.group() use this same class

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)
