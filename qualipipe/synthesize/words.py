"""Lemma frequencies for the word clouds: interviewees' words only, no stop words, no names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Protocol

from qualipipe import resources
from qualipipe.synthesize.verbatims import french_stop_words
from qualipipe.text import fold_key

WORD_POS = frozenset({"NOUN", "ADJ", "VERB"})
EXCLUDED_WORDS_FILE = "mots_exclus_nuages.txt"
ANNOTATION_BRACKETS = frozenset({"[", "]"})


@lru_cache(maxsize=1)
def excluded_words() -> frozenset[str]:
    """Fillers and editorial markers kept out of the word clouds, from the package data file
    (folded: no accents, lower case)."""
    text = (resources.data_dir() / EXCLUDED_WORDS_FILE).read_text(encoding="utf-8")
    return frozenset(
        fold_key(line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


class LemmaFeatures(Protocol):
    words: tuple[str, ...]
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
    personal names), outside the transcribers' bracketed annotations (« [pause] », « [rire] »).
    A filler is left out by its lemma or its surface word: spaCy reads the « mm » of a
    transcript as « millimètre »."""
    stop = french_stop_words()
    excluded = excluded_words()
    counts: Counter[str] = Counter()
    for f in features:
        annotation = False
        for surface, lemma, pos, is_stop, is_alpha in zip(
            f.words, f.lemmas, f.pos, f.is_stop, f.is_alpha, strict=False
        ):
            if surface in ANNOTATION_BRACKETS:
                annotation = surface == "["
                continue
            word = lemma.lower()
            folded = fold_key(word)
            if (
                annotation
                or pos not in WORD_POS
                or is_stop
                or not is_alpha
                or len(word) < 3
                or word in stop
                or folded in stop
                or folded in excluded
                or fold_key(surface) in excluded
                or is_name(word)
            ):
                continue
            counts[word] += 1
    return counts


def recurring(counts: Counter[str], at_least: int = 2) -> Counter[str]:
    """The words said at least `at_least` times: a cloud of words said once is noise."""
    return Counter({word: n for word, n in counts.items() if n >= at_least})


def name_matcher(names: Sequence[str]) -> Callable[[str], bool]:
    """True for a word that is part of a participant's (or interviewer's) name, folded."""
    parts = {fold_key(p) for name in names for p in re.split(r"[\s\-']+", name) if len(p) >= 3}

    def is_name(word: str) -> bool:
        return fold_key(word) in parts

    return is_name
