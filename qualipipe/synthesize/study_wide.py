"""What a synthesis does once for the whole study before the territories, shared out among the
worker processes: find the organisations every analysed text names, and pseudonymise every text
the tables will quote (chosen exactly as each territory's synthesis chooses them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from qualipipe.records import Territory
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.load import BatchedPseudonymizer, StudySnapshot
from qualipipe.synthesize.model import SynthesisOptions, TerritoryData
from qualipipe.synthesize.verbatims import VerbatimPicker
from qualipipe.synthesize.workers import pooled_pseudonymizer, warm_entity_cache

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


def study_verbatims(
    snapshot: StudySnapshot,
    features: dict[int, Any],
    territories: Sequence[Territory],
    options: SynthesisOptions,
) -> list[str]:
    """Every territory's quoted texts, chosen as each territory's synthesis will choose them."""
    texts: list[str] = []
    for territory in territories:
        data = snapshot.territory(territory)
        picker = verbatim_picker(territory_features(features, data), data)
        texts += family_verbatims(data, tb.code_stats(data), picker, options)
    return texts


def study_texts(snapshot: StudySnapshot, territories: Sequence[Territory]) -> list[str]:
    """Every analysed text of these territories."""
    return [s.text for t in territories for s in snapshot.segments.get(t.id, {}).values()]


def study_wide_passes(
    conn: sqlite3.Connection,
    snapshot: StudySnapshot,
    features: dict[int, Any],
    territories: Sequence[Territory],
    options: SynthesisOptions,
    pseudonymize: BatchedPseudonymizer,
    workers: Executor,
    on_step: Callable[[str], None],
) -> None:
    """Shared out among the workers before the territories: the organisations named in every
    text (on a study's first synthesis), then the pseudonymised form of every quoted text."""

    def counted(label: str) -> Callable[[int, int], None]:
        return lambda done, total: on_step(f"{label} ({done}/{total} textes)")

    on_step("Organisations citées dans les textes")
    texts = study_texts(snapshot, territories)
    warm_entity_cache(conn, texts, workers, counted("Organisations citées"))
    if not options.keep_names:
        quoted = study_verbatims(snapshot, features, territories, options)
        on_step("Pseudonymisation des verbatims")
        pseudonymize.prefetch(quoted, pooled_pseudonymizer(workers, counted("Pseudonymisation")))
