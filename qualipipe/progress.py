"""The one look of a long step's progress bar (rich), for the library and the commands alike."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    *, console: Console | None = None, estimate: bool = False, show: bool = True
) -> Progress:
    """What the step is doing, how far (n / total) and since when — or, with `estimate`, how long
    is left (for steps whose items take about the same time). Gone from the screen when done."""
    clock: ProgressColumn = TimeRemainingColumn() if estimate else TimeElapsedColumn()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        clock,
        console=console,
        transient=True,
        disable=not show,
    )
