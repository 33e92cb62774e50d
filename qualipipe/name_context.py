"""People found from the words around a name, without spaCy: a civility before it
(« monsieur Béranger »), a list of people joined to a known name (« Augustin + Ozgur Kiliç »),
a speaker named in lower case in a transcriber's note (« [christine tousse] »).

Also the word tokens every rule of `qualipipe.pseudonymize` reads.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from qualipipe.study_names import ROLE_WORDS
from qualipipe.text import fold_aligned

Span = tuple[int, int, str]  # start, end, replacement
WORD = re.compile(r"[^\W_]+")
# Capitalised common nouns that are names of days, not of people.
NEVER_ALONE = frozenset({"noel", "paques", "toussaint", "pentecote", "ascension", "assomption"})
# Civilities before a name (« monsieur Béranger »); « M. » and « Pr. » need their dot.
CIVILITIES = frozenset(
    {"monsieur", "madame", "mademoiselle", "mme", "mlle", "mr", "mrs", "dr", "docteur",
     "professeur"}
)  # fmt: skip
_ABBREVIATED = frozenset({"m", "mme", "mlle", "mr", "mrs", "dr", "pr"})
_PARTICLES = frozenset({"de", "du", "d"})  # « Madame de Bordes »; not « professeur d'EPS »
_NOBLE_CIVILITIES = frozenset({"monsieur", "madame", "mademoiselle", "m", "mme", "mlle"})
# Capitalised words after a civility that name nobody: « monsieur Untel », ESLO's « NPERS »
# (a name it already hid), « Monsieur Tout-le-monde », shop names.
NOT_NAMES = frozenset({"untel", "untelle", "unetelle", "npers", "tout", "bricolage", "propre"})
# Words opening a place name (« Saint-Denis », « Sainte-Anne »), never a person.
_PLACE_OPENERS = frozenset({"saint", "sainte", "st", "ste"})
# How transcribers list people speaking together: « Augustin + Ozgur », « Denis et Christine ».
_LIST_JOINT = re.compile(r"[ \t\u00a0]*(?:\+|&|\bet\b)[ \t\u00a0]*")


class Token(NamedTuple):  # a tuple: built for every word of every text, so cheap to make
    start: int
    end: int
    key: str  # folded
    capitalised: bool  # Titlecase or upper case in the text


def tokenize(text: str) -> list[Token]:
    return [
        Token(m.start(), m.end(), fold_token(m.group()), m.group()[0].isupper())
        for m in WORD.finditer(text)
    ]


@lru_cache(maxsize=200_000)  # words are Zipfian: folding each once is far cheaper than per text
def fold_token(token: str) -> str:
    return fold_aligned(token)


def in_note(text: str, position: int) -> bool:
    """Inside a transcriber's note in square brackets (« [rire de christine] »)."""
    opening = text.rfind("[", 0, position)
    return opening > text.rfind("]", 0, position) and "\n" not in text[opening:position]


def _may_be_name(token: Token, places: frozenset[str]) -> bool:
    """A word written as a name that is no role, title, place of the study or feast day."""
    key = token.key
    return (
        token.capitalised
        and len(key) >= 2
        and key.isalpha()
        and key not in ROLE_WORDS
        and key not in places
        and key not in NEVER_ALONE
        and key not in NOT_NAMES
        and key not in _PLACE_OPENERS
        and key.strip("x") != ""  # « XXX »: inaudible
    )


def _name_run(text: str, tokens: list[Token], first: int, step: int, places: frozenset[str]) -> int:
    """The far end of the name that starts at `first`, reading in direction `step`: the words
    written as names right beside it (« Brandon Roger », « Marie-Hélène Matera-Dupont »), four
    words at most, the pieces of a hyphenated one counted once."""
    last, words = first, 0
    while 0 <= (following := last + step) < len(tokens):
        left, right = sorted((tokens[last], tokens[following]))
        gap = text[left.end : right.start]
        if gap not in (" ", "-", "\u00a0") or not _may_be_name(tokens[following], places):
            break
        words += gap != "-"
        if words > 3:
            break
        last = following
    return last


def listed_people(
    text: str, tokens: list[Token], names: list[Span], places: frozenset[str], placeholder: str
) -> list[Span]:
    """People listed with a name already found (« Augustin + Ozgur Kiliç », « Denis et
    Christine »): transcripts write so who speaks together; each becomes `placeholder`."""
    starts = {t.start: i for i, t in enumerate(tokens)}
    ends = {t.end: i for i, t in enumerate(tokens)}
    found: list[Span] = []
    for start, end, _ in names:
        if start not in starts or end not in ends:
            continue
        for step, edge in ((1, ends[end]), (-1, starts[start])):
            while 0 <= (near := edge + step) < len(tokens):
                if tokens[near].key == "et" and 0 <= near + step < len(tokens):
                    near += step  # « et » is a word, « + » is not
                left, right = sorted((tokens[edge], tokens[near]))
                if _LIST_JOINT.fullmatch(text[left.end : right.start]) is None:
                    break
                if not _may_be_name(tokens[near], places):
                    break
                far = _name_run(text, tokens, near, step, places)
                low, high = sorted((near, far))
                found.append((tokens[low].start, tokens[high].end, placeholder))
                edge = far
    return found


def titled_people(
    text: str, tokens: list[Token], places: frozenset[str], placeholder: str
) -> list[Span]:
    """Names written after a civility (« monsieur Béranger », « Mme Picard », « Madame de
    Bordes »): a person, whom spaCy often misses in lower-case transcripts; the civility stays."""
    found: list[Span] = []
    for i, token in enumerate(tokens[:-1]):
        if not _is_civility(text, token):
            continue
        gap = text[token.end : tokens[i + 1].start]
        if gap not in (" ", "\u00a0") and not (token.key in _ABBREVIATED and gap in (". ", ".")):
            continue
        first = i + 1
        particle = tokens[first]
        if (
            particle.key in _PARTICLES
            and token.key in _NOBLE_CIVILITIES
            and not particle.capitalised
            and first + 1 < len(tokens)
            and text[particle.end : tokens[first + 1].start] in (" ", "'", "’")
        ):
            first += 1
        if not _may_be_name(tokens[first], places):
            continue
        last = _name_run(text, tokens, first, 1, places)
        found.append((tokens[i + 1].start, tokens[last].end, placeholder))
    return found


def may_hold_civility(text: str, words: set[str]) -> bool:
    """Whether `titled_people` could find someone in `text` (its folded `words`)."""
    return not CIVILITIES.isdisjoint(words) or "M." in text or "Pr." in text


def _is_civility(text: str, token: Token) -> bool:
    if token.key in CIVILITIES:
        return True
    # « M. Béranger », « Pr. Morel »: these two only with their dot (« m'a », « pr » are words).
    # Not inside an acronym written with dots (« R.M.I. »).
    return (
        token.key in ("m", "pr")
        and token.capitalised
        and text[token.end : token.end + 1] == "."
        and text[token.start - 1 : token.start] != "."
    )
