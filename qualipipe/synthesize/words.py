"""Lemma frequencies for the word clouds: interviewees' words only, no stop words, no names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from qualipipe.synthesize.verbatims import french_stop_words
from qualipipe.text import fold_key

WORD_POS = frozenset({"NOUN", "ADJ", "VERB"})
# Verbs and fillers of spoken French that fill every cloud and say nothing about the territory.
SPOKEN_FILLERS = frozenset(
    fold_key(w)
    for w in [
        "faire",
        "aller",
        "dire",
        "falloir",
        "pouvoir",
        "vouloir",
        "avoir",
        "être",
        "savoir",
        "voir",
        "mettre",
        "prendre",
        "venir",
        "passer",
        "trouver",
        "penser",
        "croire",
        "parler",
        "donner",
        "chose",
        "truc",
        "gens",
        "fois",
        "euh",
        "bah",
        "ben",
        "voilà",
        "oui",
        "non",
        "bon",
        "genre",
        "sorte",
        "exemple",
        "niveau",
        "côté",
        "moment",
    ]
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
    counts: Counter[str] = Counter()
    for f in features:
        for lemma, pos, is_stop, is_alpha in zip(
            f.lemmas, f.pos, f.is_stop, f.is_alpha, strict=False
        ):
            word = lemma.lower()
            folded = fold_key(word)
            if (
                pos not in WORD_POS
                or is_stop
                or not is_alpha
                or len(word) < 3
                or word in stop
                or folded in stop
                or folded in SPOKEN_FILLERS
                or is_name(word)
            ):
                continue
            counts[word] += 1
    return counts


def name_matcher(names: Sequence[str]) -> Callable[[str], bool]:
    """True for a word that is part of a participant's (or interviewer's) name, folded."""
    parts = {fold_key(p) for name in names for p in re.split(r"[\s\-']+", name) if len(p) >= 3}

    def is_name(word: str) -> bool:
        return fold_key(word) in parts

    return is_name
