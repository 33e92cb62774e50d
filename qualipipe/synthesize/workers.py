"""The worker processes of a synthesis, what they run (figures, documents) and the study-wide
work they share out (the organisations named in the texts).

Forked from the main process once the study is read and spaCy's entity recogniser is loaded, so
they start at once with both in memory. They never touch the study: only the main process reads
it and writes its NLP cache.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from qualipipe.nlp import entity_pipeline
from qualipipe.synthesize.model import Figure, Table
from qualipipe.synthesize.writers import Report, write_docx, write_markdown, write_xlsx
from qualipipe.territory.actors import org_spans

if TYPE_CHECKING:
    import sqlite3

    from spacy.language import Language

FigureJob = Callable[[], Figure | None]
Block = Table | Figure | Future[Any] | FigureJob

# Texts per job of the study-wide entity pass: large enough for spaCy's batches, small enough
# for both workers to finish together.
ENTITY_CHUNK = 512


def worker_pool() -> Executor | None:
    """Worker processes when there are several cores: spaCy, matplotlib, wordcloud, python-docx
    and openpyxl are CPU-bound and hold the GIL. None on one core or without `fork`."""
    cores = os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=cores, mp_context=multiprocessing.get_context("fork"))


Progress = Callable[[int, int], None]  # (texts done, texts)


def _no_progress(done: int, total: int) -> None:
    return None


def shared_out(
    workers: Executor,
    job: Callable[[list[str]], list[Any]],
    texts: Sequence[str],
    progress: Progress = _no_progress,
) -> Iterator[Any]:
    """`job` on chunks of the texts in the workers; its results in order, text by text."""
    chunks = [list(texts[i : i + ENTITY_CHUNK]) for i in range(0, len(texts), ENTITY_CHUNK)]
    done = 0
    progress(done, len(texts))
    for chunk, results in zip(chunks, workers.map(job, chunks), strict=True):
        yield from results
        done += len(chunk)
        progress(done, len(texts))


def org_entities(texts: list[str]) -> list[list[tuple[int, int]]]:
    """Runs in a worker: the ORG entity spans of each text."""
    docs = entity_pipeline().pipe(texts, batch_size=128)
    return [[(e.start_char, e.end_char) for e in doc.ents if e.label_ == "ORG"] for doc in docs]


@dataclass(frozen=True)
class _Entity:
    start_char: int
    end_char: int
    label_: str = "ORG"


@dataclass(frozen=True)
class _Entities:
    ents: tuple[_Entity, ...]


class PooledEntityPipeline:
    """Stands for spaCy's entity pipeline in `org_spans`: the texts it has never seen are shared
    out among the workers in chunks, the spans come back in order."""

    def __init__(self, workers: Executor, progress: Progress = _no_progress) -> None:
        self.workers, self.progress = workers, progress

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[_Entities]:
        for found in shared_out(self.workers, org_entities, list(texts), self.progress):
            yield _Entities(tuple(_Entity(start, end) for start, end in found))


def warm_entity_cache(
    conn: sqlite3.Connection,
    texts: Sequence[str],
    workers: Executor,
    progress: Progress = _no_progress,
) -> None:
    """The organisations named in every text, found once for the whole study by the workers and
    kept in the NLP cache: each territory's cited actors then read them (the first synthesis of
    a study would otherwise run the recogniser on each territory's texts in turn). `progress`
    only hears of the texts not in the cache yet."""
    org_spans(conn, texts, cast("Language", PooledEntityPipeline(workers, progress)))


def as_figure(
    draw: Callable[[], Path | None], title: str, section: str, extra: tuple[Path, ...]
) -> Figure | None:
    """Runs in a drawing worker: draw, and describe the figure for the report (None: no figure)."""
    path = draw()
    return Figure(path, title, section, extra) if path is not None else None


def resolved(blocks: Sequence[Block]) -> list[Table | Figure]:
    """The report's blocks once every figure is drawn (in order; figures not drawn left out)."""
    out: list[Table | Figure] = []
    for block in blocks:
        if isinstance(block, Future):
            done = block.result()
        elif isinstance(block, Table | Figure):
            done = block
        else:
            done = block()
        if done is not None:
            out.append(done)
    return out


def render_report(
    title: str, intro: tuple[str, ...], blocks: Sequence[Block], folder: Path, stem: str
) -> dict[str, int]:
    """Draw what is left to draw, write the workbook, Word and Markdown reports into `folder`
    (in a worker when there are some); the number of tables and figures."""
    done = resolved(blocks)
    write_report(Report(title, intro, tuple(done), folder), folder, stem)
    tables = sum(isinstance(b, Table) for b in done)
    return {"tableaux": tables, "figures": len(done) - tables}


def write_report(report: Report, folder: Path, stem: str) -> list[Path]:
    return [
        write_xlsx(report, folder / f"{stem}.xlsx"),
        write_docx(report, folder / f"{stem}.docx"),
        write_markdown(report, folder / f"{stem}.md"),
    ]
