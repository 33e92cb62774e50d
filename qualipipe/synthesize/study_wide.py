"""What a synthesis does once for the whole study before the territories, shared out among the
worker processes (find the organisations every analysed text names), and how each territory
picks the texts its tables quote."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from qualipipe.records import Territory
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.load import StudySnapshot
from qualipipe.synthesize.model import SynthesisOptions, TerritoryData
from qualipipe.synthesize.verbatims import VerbatimPicker
from qualipipe.synthesize.workers import warm_entity_cache

if TYPE_CHECKING:
    import sqlite3


def territory_features(features: dict[int, Any], data: TerritoryData) -> dict[int, Any]:
    """The cached spaCy features of the territory's segments."""
    return {i: features[i] for i in data.segments if i in features}


def verbatim_picker(features: dict[int, Any], data: TerritoryData) -> VerbatimPicker:
    """Fitted on the territory's coded segments (their cached spaCy vectors when every one has
    one)."""
    coded = {c.segment_id for c in data.codings}
    vectors = {i: f.vector for i, f in features.items() if i in coded and np.any(f.vector)}
    return VerbatimPicker(
        {i: data.segments[i].text for i in coded},
        vectors if len(vectors) == len(coded) else None,
    )


def family_verbatims(
    data: TerritoryData,
    stats: dict[str, tb.CodeStats],
    picker: VerbatimPicker,
    options: SynthesisOptions,
) -> list[str]:
    """The texts the family tables quote (to pseudonymise them all at once)."""
    return [
        c.text
        for s in stats.values()
        for c in tb.chosen_verbatims(s, data, picker, options.verbatims_per_code)
    ]


def study_texts(snapshot: StudySnapshot, territories: Sequence[Territory]) -> list[str]:
    """Every analysed text of these territories."""
    return [s.text for t in territories for s in snapshot.segments.get(t.id, {}).values()]


def study_wide_passes(
    conn: sqlite3.Connection,
    snapshot: StudySnapshot,
    territories: Sequence[Territory],
    workers: Executor,
    on_step: Callable[[str], None],
) -> None:
    """Shared out among the workers before the territories: the organisations named in every
    text (on a study's first synthesis). The quoted texts need no such pass: the person spans
    `code` kept in the study spare spaCy there."""
    on_step("Organisations citées dans les textes")
    warm_entity_cache(
        conn,
        study_texts(snapshot, territories),
        workers,
        lambda done, total: on_step(f"Organisations citées ({done}/{total} textes)"),
    )
