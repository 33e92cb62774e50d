"""Lexicon suggester: the codebook's expressions matched on lemmas.

Expressions (and the parts of each code's label) are lemmatised with the same cached pipeline as
the segments, then matched on the sequence of meaningful tokens (stop words and punctuation
skipped, accents and case folded): "coopération" finds "coopérations", "coopérer" finds
"nous coopérons", "taxe habitation" finds "taxe d'habitation". A match preceded in the same clause
by a negation ("pas de problème de mobilité") is not a statement of the code: it is reported as
negated and counts against the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch, SuggesterOutput
from qualipipe.coding.features import SegmentFeatures
from qualipipe.text import fold_key

NEGATIONS = frozenset(
    {"pas", "jamais", "aucun", "aucune", "sans", "ni", "guere", "nullement", "non", "nul", "nulle"}
)
NEGATION_MARKS = NEGATIONS | {"ne", "n'", "n’"}
NEGATION_WINDOW = 5  # tokens looked back from the first matched word, within the clause
CLAUSE_BREAKS = frozenset({"PUNCT"})
_LABEL_PARTS = re.compile(r"[()\[\]/,;]")

Analyse = Callable[[Sequence[str]], list[SegmentFeatures]]


@dataclass(frozen=True)
class Pattern:
    text: str  # as written in the codebook
    keys: tuple[frozenset[str], ...]  # per meaningful token: folded lemma and folded word
    # False for a label part that only repeats the family's words or that several codes share
    # ("TVA" in four TVA codes): a weaker clue than an expression proper to the code.
    specific: bool = True
    # The expression itself is negative ("pas d'offre"): it matches only a negated mention.
    negative: bool = False


@dataclass(frozen=True)
class Match:
    pattern: str
    found: str  # the words of the segment, as written
    negated: bool
    specific: bool = True


def meaningful_tokens(features: SegmentFeatures) -> list[int]:
    """Indices of tokens that can carry an expression: not stop words, not punctuation."""
    return [
        i
        for i, (lemma, stop, pos) in enumerate(
            zip(features.folded_lemmas, features.is_stop, features.pos, strict=False)
        )
        if not stop and pos not in _NOT_WORDS and _has_alnum(lemma)
    ]


_NOT_WORDS = frozenset({"PUNCT", "SPACE", "SYM"})


@lru_cache(maxsize=200_000)
def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


STEM = 6  # shortest shared beginning taken as the same word family


def bucket(word: str) -> str:
    return word[:STEM]


def similar(a: str, b: str) -> bool:
    """Same folded lemma, or same word family: "fiscal"/"fiscalité", "écologie"/"écologique".

    One word must start with the other (at least 6 letters), or both (8+ letters) share their
    first 7 letters. "commune"/"communication" or "transport"/"transition" do not match.
    """
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= STEM and long_.startswith(short):
        return True
    return len(short) >= 8 and a[: STEM + 1] == b[: STEM + 1]


SHARED_BY = 3  # a label part found in this many codes' labels tells them apart poorly


def _pattern_keys(features: SegmentFeatures) -> tuple[frozenset[str], ...]:
    return tuple(
        frozenset({features.folded_lemmas[i], features.folded_words[i]})
        for i in meaningful_tokens(features)
    )


def _mark_shared(patterns: list[list[Pattern]]) -> list[list[Pattern]]:
    owners: dict[tuple[frozenset[str], ...], set[int]] = {}
    for column, items in enumerate(patterns):
        for p in items:
            owners.setdefault(p.keys, set()).add(column)
    return [
        [
            Pattern(p.text, p.keys, p.specific and len(owners[p.keys]) < SHARED_BY, p.negative)
            for p in items
        ]
        for items in patterns
    ]


def label_parts(label: str) -> list[str]:
    """ "Cotisations sociales (CSG, CRDS)" -> the label, "Cotisations sociales", "CSG", "CRDS"."""
    parts = [label]
    parts.extend(p.strip() for p in _LABEL_PARTS.split(label) if p.strip())
    return list(dict.fromkeys(parts))


class LexiconSuggester:
    name = "lexique"

    def __init__(self, analyse: Analyse, *, use_labels: bool = True) -> None:
        self.analyse = analyse
        self.use_labels = use_labels
        self.patterns: list[list[Pattern]] = []
        self._by_first_key: dict[str, list[tuple[int, Pattern]]] = {}
        self._keys_by_bucket: dict[str, set[str]] = {}
        self._memo: dict[str, frozenset[str]] = {}

    def fit(self, codes: CodeIndex, labelled: LabelledSet) -> LexiconSuggester:
        """Lemmatise the expressions (decisions are not needed: the codebook is the lexicon)."""
        texts_per_code = []
        for code in codes.codes:
            texts = [(t, True) for t in code.expressions]
            if self.use_labels:
                texts.extend((t, False) for t in label_parts(code.label))
            texts_per_code.append(list(dict.fromkeys((t, e) for t, e in texts if t.strip())))
        contexts = [
            " ".join(
                codes.all_codes[a].label for a in codes.ancestors(c.id) if a in codes.all_codes
            )
            for c in codes.codes
        ]
        flat = [t for texts in texts_per_code for t, _ in texts] + contexts
        analysed = dict(zip(flat, self.analyse(flat), strict=False)) if flat else {}
        raw: list[list[Pattern]] = []
        for column, texts in enumerate(texts_per_code):
            context_keys = (
                set(_pattern_keys(analysed[contexts[column]])) if contexts[column] else set()
            )
            patterns = []
            for text, explicit in texts:
                keys = _pattern_keys(analysed[text])
                if not keys or (not explicit and all(k <= NEGATIONS for k in keys)):
                    continue  # "Aucun" as a label part would match every refusal
                generic = not explicit and all(
                    any(similar(a, b) for a in k for ck in context_keys for b in ck) for k in keys
                )
                negative = any(fold_key(w) in NEGATION_MARKS for w in analysed[text].words)
                patterns.append(Pattern(text, keys, specific=not generic, negative=negative))
            raw.append(patterns)
        self.patterns = _mark_shared(raw)
        self._by_first_key = {}
        self._keys_by_bucket = {}
        self._memo = {}
        for column, patterns in enumerate(self.patterns):
            for pattern in patterns:
                for first in pattern.keys[0]:
                    self._by_first_key.setdefault(first, []).append((column, pattern))
                for alternatives in pattern.keys:
                    for key in alternatives:
                        self._keys_by_bucket.setdefault(bucket(key), set()).add(key)
        return self

    def _similar_keys(self, token: str) -> frozenset[str]:
        """Pattern words similar to this token (memoised: vocabularies are small)."""
        known = self._memo.get(token)
        if known is None:
            known = frozenset(
                k for k in self._keys_by_bucket.get(bucket(token), ()) if similar(token, k)
            )
            self._memo[token] = known
        return known

    def find(self, features: SegmentFeatures) -> dict[int, list[Match]]:
        """Matches per code column in one segment."""
        tokens = meaningful_tokens(features)
        lemmas, words = features.folded_lemmas, features.folded_words
        token_sims = [self._similar_keys(lemmas[i]) | self._similar_keys(words[i]) for i in tokens]
        found: dict[int, list[Match]] = {}
        for position, sims in enumerate(token_sims):
            if not sims:
                continue
            candidates = {id(p): (c, p) for k in sims for c, p in self._by_first_key.get(k, ())}
            for column, pattern in candidates.values():
                end = position + len(pattern.keys)
                if end > len(tokens) or not all(
                    pattern.keys[n] & token_sims[position + n] for n in range(1, len(pattern.keys))
                ):
                    continue
                first, last = tokens[position], tokens[end - 1]
                negated = self._negated(features, first)
                if pattern.negative:
                    if not negated:
                        continue
                    negated = False  # "pas d'offre" found as written: a positive match
                found.setdefault(column, []).append(
                    Match(
                        pattern.text,
                        " ".join(features.words[first : last + 1]),
                        negated,
                        pattern.specific,
                    )
                )
        return found

    @staticmethod
    def _negated(features: SegmentFeatures, first: int) -> bool:
        lemmas, words = features.folded_lemmas, features.folded_words
        for i in range(first - 1, max(first - NEGATION_WINDOW, 0) - 1, -1):
            if features.pos[i] in CLAUSE_BREAKS:
                return False
            if lemmas[i] in NEGATION_MARKS or words[i] in NEGATION_MARKS:
                return True
        return False

    def suggest(self, batch: SegmentBatch) -> SuggesterOutput:
        if batch.static is not None:
            return batch.static.lexicon.as_output()
        n_codes = len(self.patterns)
        hits = np.zeros((len(batch), n_codes))
        weak = np.zeros((len(batch), n_codes))
        negated = np.zeros((len(batch), n_codes))
        matches: dict[tuple[int, int], list[Match]] = {}
        for row, features in enumerate(batch.features):
            for column, found in self.find(features).items():
                matches[(row, column)] = found
                if any(not m.negated and m.specific for m in found):
                    hits[row, column] = 1.0
                elif any(not m.negated for m in found):
                    weak[row, column] = 1.0
                else:
                    negated[row, column] = 1.0

        def explain(row: int, column: int) -> str:
            return describe_matches(matches.get((row, column), []))

        return SuggesterOutput(
            scores=hits, explain=explain, extra={"lexicon_negated": negated, "lexicon_weak": weak}
        )


def describe_matches(matches: list[Match]) -> str:
    if not matches:
        return ""
    positive = [m for m in matches if not m.negated]
    if positive:
        shown = list(dict.fromkeys(f"« {m.pattern} » (« {m.found} »)" for m in positive))[:3]
        return "expressions trouvées : " + ", ".join(shown)
    shown = list(dict.fromkeys(f"« {m.found} »" for m in matches))[:2]
    return "expression présente mais niée : " + ", ".join(shown)
