"""What a synthesis reads once for the whole study before the territories: every analysed text
(for the organisations they name) and every text the tables will quote (to pseudonymise them
all in one pass), chosen exactly as each territory's synthesis chooses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qualipipe.records import Territory
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.load import StudySnapshot
from qualipipe.synthesize.model import SynthesisOptions, TerritoryData
from qualipipe.synthesize.verbatims import VerbatimPicker


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
