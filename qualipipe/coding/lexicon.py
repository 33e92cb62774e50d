"""Lexicon suggester: the codebook's expressions matched as whole phrases, on lemmas.

Expressions (and the parts of each code's label) are lemmatised with the same cached pipeline as
the segments. An expression matches only as the whole phrase: every word of it, in order, each
word found by its lemma or its surface form (accents and case folded). Inflection is covered
("coopération" finds "coopérations", "service à la personne" finds "services à la personne");
derivational neighbours are different words ("alimentation" does not find "alimente", "travail"
does not find "on travaille"); a single word matches only where the codebook lists a single word.
Between two words the codebook may write « … » (or "...") to allow up to three determiners or
adjectives there: "manque de … moyens" finds "manque de moyens" and "manque de vrais moyens";
nothing else is ever inserted, and nowhere else.
Label parts (the words of a code's label) follow the same rule, except that their stop words may
be absent or different in the text ("taxe habitation" finds "taxe d'habitation"); they remain a
weaker clue than an expression. A match preceded in the same clause by a negation ("pas de
problème de mobilité") is not a statement of the code: it is reported as negated and counts
against the code, unless the expression itself is negative ("pas d'offre").
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
GAP_MARKS = frozenset({"…", "...", "[...]", "[…]"})
GAP_POS = frozenset({"DET", "ADJ"})  # what a « … » between two words may stand for
MAX_GAP = 3
_SKIPPED = frozenset({"SPACE"})
_JOINERS = frozenset({"-", "‑", "'", "’"})  # "vide-grenier" is one phrase with or without "-"
LABEL_STOP_WINDOW = 3  # label parts: stop words of the text skipped between two content words

Analyse = Callable[[Sequence[str]], list[SegmentFeatures]]


@dataclass(frozen=True)
class Pattern:
    text: str  # as written in the codebook
    keys: tuple[frozenset[str], ...]  # per word: folded lemma and folded word
    # gaps[n]: a « … » is written before word n (determiners/adjectives may stand there)
    gaps: tuple[bool, ...] = ()
    # False for a label part that only repeats the family's words or that several codes share
    # ("TVA" in four TVA codes): a weaker clue than an expression proper to the code.
    specific: bool = True
    # The expression itself is negative ("pas d'offre", "il n'y a rien"): found as written, it
    # is a positive statement of the code.
    negative: bool = False
    # A label part (not an expression listed by the codebook): only its content words are kept,
    # and stop words of the text may stand between them.
    loose: bool = False
    # A single word: its part of speech in the codebook ("NOUN" for "commune") and its form.
    pos: str = ""
    word: str = ""

    def fits(self, features: SegmentFeatures, i: int) -> bool:
        """Whether the text's token i can be this single word (not only share its lemma).

        A noun of the codebook is not the adjective or verb of the text with the same spelling
        or lemma ("commune" ≠ "politique commune", "données" ≠ "les aides données"); a light
        verb (pouvoir, faire…) has too many senses to be matched through its lemma: "pouvoir"
        does not find "ils peuvent" nor "puis", only the word itself; a function word of the
        text (conjunction, preposition, pronoun…) is never a single-word expression.
        """
        if features.pos[i] in FUNCTION_POS:  # "car" the bus is not "car" the conjunction
            return False
        if self.pos == "NOUN" and features.pos[i] not in ("NOUN", "PROPN"):
            return False
        if self.keys[0] & LIGHT_VERBS:
            return features.folded_words[i] == self.word
        return True


FUNCTION_POS = frozenset({"CCONJ", "SCONJ", "ADP", "DET", "PRON", "AUX", "PART"})
LIGHT_VERBS = frozenset(
    {"pouvoir", "devoir", "vouloir", "falloir", "faire", "etre", "avoir", "aller", "savoir"}
)


@dataclass(frozen=True)
class Match:
    pattern: str
    found: str  # the words of the segment, as written
    negated: bool
    specific: bool = True


def meaningful_tokens(features: SegmentFeatures) -> list[int]:
    """Indices of tokens that can carry a content word: not stop words, not punctuation."""
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


def similar(a: str, b: str) -> bool:
    """Same folded lemma, or same word family: "fiscal"/"fiscalité", "écologie"/"écologique".

    Only used to tell whether a label part merely repeats its family's words (a weaker clue),
    never to match text. One word must start with the other (at least 6 letters), or both (8+
    letters) share their first 7 letters.
    """
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= STEM and long_.startswith(short):
        return True
    return len(short) >= 8 and a[: STEM + 1] == b[: STEM + 1]


SHARED_BY = 3  # a label part found in this many codes' labels tells them apart poorly


def phrase_tokens(features: SegmentFeatures) -> list[int]:
    """Indices of the tokens a phrase is made of (spaces and joining hyphens left out)."""
    return [
        i
        for i, (pos, word) in enumerate(zip(features.pos, features.words, strict=False))
        if pos not in _SKIPPED and word not in _JOINERS and word.strip()
    ]


def _token_keys(features: SegmentFeatures, i: int) -> frozenset[str]:
    return frozenset({features.folded_lemmas[i], features.folded_words[i]})


def pattern_from(features: SegmentFeatures, *, loose: bool) -> tuple[tuple, tuple]:
    """(keys, gaps) of an expression: every word in order, « … » marking a gap before a word."""
    keys: list[frozenset[str]] = []
    gaps: list[bool] = []
    gap = False
    kept = set(meaningful_tokens(features)) if loose else None
    for i in phrase_tokens(features):
        word = features.words[i]
        if word in GAP_MARKS or set(word) <= {"."} and len(word) >= 3:
            gap = bool(keys)
            continue
        if features.pos[i] == "PUNCT" or (kept is not None and i not in kept):
            continue
        keys.append(_token_keys(features, i))
        gaps.append(gap)
        gap = False
    return tuple(keys), tuple(gaps)


def heads_compound(features: SegmentFeatures, tokens: list[int], position: int) -> bool:
    """The noun at `position` heads a French compound noun « N de N » ("pouvoir d'achat",
    "taxe d'habitation"): as a single-word expression it is then another word."""
    if position + 2 >= len(tokens):
        return False
    noun, de, complement = (tokens[position + n] for n in range(3))
    return (
        features.pos[noun] == "NOUN"
        and features.folded_words[de] in COMPOUND_LINKS
        and features.pos[complement] in ("NOUN", "PROPN")
    )


COMPOUND_LINKS = frozenset({"de", "d'", "d’"})


def quote_words(words: Sequence[str]) -> str:
    """Tokens back to text: no space after an elided word ("d'offre") nor around a hyphen."""
    text = ""
    for word in words:
        if text and not text.endswith(("'", "’", "-")) and word not in ("-", ",", "."):
            text += " "
        text += word
    return text


def _mark_shared(patterns: list[list[Pattern]]) -> list[list[Pattern]]:
    owners: dict[tuple[frozenset[str], ...], set[int]] = {}
    for column, items in enumerate(patterns):
        for p in items:
            owners.setdefault(p.keys, set()).add(column)
    return [
        [
            Pattern(
                p.text,
                p.keys,
                p.gaps,
                p.specific and len(owners[p.keys]) < SHARED_BY,
                p.negative,
                p.loose,
                p.pos,
                p.word,
            )
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
            context = analysed[contexts[column]] if contexts[column] else None
            context_keys = (
                {_token_keys(context, i) for i in meaningful_tokens(context)} if context else set()
            )
            patterns = []
            for text, explicit in texts:
                pattern = self._pattern(analysed[text], text, explicit, context_keys)
                if pattern is not None:
                    patterns.append(pattern)
            raw.append(patterns)
        self.patterns = _mark_shared(raw)
        self._by_first_key = {}
        for column, patterns in enumerate(self.patterns):
            for pattern in patterns:
                for first in pattern.keys[0]:
                    self._by_first_key.setdefault(first, []).append((column, pattern))
        return self

    @staticmethod
    def _pattern(
        features: SegmentFeatures, text: str, explicit: bool, context_keys: set[frozenset[str]]
    ) -> Pattern | None:
        keys, gaps = pattern_from(features, loose=not explicit)
        if not keys or (not explicit and all(k <= NEGATIONS for k in keys)):
            return None  # "Aucun" as a label part would match every refusal
        generic = not explicit and all(
            any(similar(a, b) for a in k for ck in context_keys for b in ck) for k in keys
        )
        negative = explicit and any(fold_key(w) in NEGATION_MARKS for w in features.words)
        single = phrase_tokens(features) if len(keys) == 1 else []
        pos, word = (
            (features.pos[single[0]], features.folded_words[single[0]]) if single else ("", "")
        )
        return Pattern(text, keys, gaps, not generic, negative, not explicit, pos, word)

    def find(self, features: SegmentFeatures) -> dict[int, list[Match]]:
        """Matches per code column in one segment."""
        tokens = phrase_tokens(features)
        token_keys = [_token_keys(features, i) for i in tokens]
        found: dict[int, list[Match]] = {}
        for position, keys in enumerate(token_keys):
            candidates = {id(p): (c, p) for k in keys for c, p in self._by_first_key.get(k, ())}
            for column, pattern in candidates.values():
                end = self._match_end(features, tokens, token_keys, position, pattern)
                if end is None or (
                    len(pattern.keys) == 1
                    and (
                        heads_compound(features, tokens, position)
                        or not pattern.fits(features, tokens[position])
                    )
                ):
                    continue
                first, last = tokens[position], tokens[end]
                negated = False if pattern.negative else self._negated(features, first)
                found.setdefault(column, []).append(
                    Match(
                        pattern.text,
                        quote_words(features.words[first : last + 1]),
                        negated,
                        pattern.specific,
                    )
                )
        return found

    @staticmethod
    def _match_end(
        features: SegmentFeatures,
        tokens: list[int],
        token_keys: list[frozenset[str]],
        position: int,
        pattern: Pattern,
    ) -> int | None:
        """Position of the last matched token when the whole phrase starts here, else None."""
        cursor = position
        for n in range(1, len(pattern.keys)):
            cursor += 1
            allowed = MAX_GAP if pattern.gaps[n] else 0
            stops = LABEL_STOP_WINDOW if pattern.loose else 0
            while cursor < len(tokens) and not pattern.keys[n] & token_keys[cursor]:
                i = tokens[cursor]
                if allowed and features.pos[i] in GAP_POS:
                    allowed -= 1
                elif stops and features.is_stop[i] and features.pos[i] not in CLAUSE_BREAKS:
                    stops -= 1
                else:
                    return None
                cursor += 1
            if cursor >= len(tokens):
                return None
        return cursor

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
