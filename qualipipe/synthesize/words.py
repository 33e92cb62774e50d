"""Lemma frequencies for the word clouds: interviewees' words only, no stop words, no names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Protocol

from qualipipe.pseudonymize import fold
from qualipipe.synthesize.verbatims import french_stop_words

WORD_POS = frozenset({"NOUN", "ADJ", "VERB"})
EXCLUDED_WORDS_FILE = "mots_exclus_nuages.txt"


@lru_cache(maxsize=1)
def excluded_words() -> frozenset[str]:
    """Fillers and editorial markers kept out of the word clouds, from the package data file
    (folded: no accents, lower case)."""
    text = resources.files("qualipipe.data").joinpath(EXCLUDED_WORDS_FILE).read_text("utf-8")
    return frozenset(
        fold(line.strip().lower())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


class LemmaFeatures(Protocol):
    lemmas: tuple[str, ...]
    pos: tuple[str, ...]
    is_stop: tuple[bool, ...]
    is_alpha: tuple[bool, ...]


def lemma_frequencies(
    features: Iterable[LemmaFeatures],
    *,
    is_name: Callable[[str], bool] = lambda word: False,
) -> Counter[str]:
    """Count content lemmas (nouns, adjectives, verbs; ≥ 3 letters; not stop words, fillers or
    personal names)."""
    stop = french_stop_words()
    excluded = excluded_words()
    counts: Counter[str] = Counter()
    for f in features:
        for lemma, pos, is_stop, is_alpha in zip(
            f.lemmas, f.pos, f.is_stop, f.is_alpha, strict=False
        ):
            word = lemma.lower()
            folded = fold(word)
            if (
                pos not in WORD_POS
                or is_stop
                or not is_alpha
                or len(word) < 3
                or word in stop
                or folded in stop
                or folded in excluded
                or is_name(word)
            ):
                continue
            counts[word] += 1
    return counts


def name_matcher(names: Sequence[str]) -> Callable[[str], bool]:
    """True for a word that is part of a participant's (or interviewer's) name, folded."""
    parts = {fold(p) for name in names for p in re.split(r"[\s\-']+", name) if len(p) >= 3}

    def is_name(word: str) -> bool:
        return fold(word) in parts

    return is_name
