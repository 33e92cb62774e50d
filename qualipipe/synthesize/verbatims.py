"""Representative verbatims: the segments closest to the centroid of a code's segments.

"Typical" rather than "first": each segment is a vector — the cached spaCy static vector of its
content words when the coding stage computed it, else a TF-IDF vector (French stop words removed,
accents folded) fitted on the territory's coded segments. A code's verbatims are its segments with
the highest cosine similarity to the mean vector of its segments, preferring validated ones and one
verbatim per participant. A segment long enough to say something (`QUOTABLE_WORDS`) comes before
a shorter one, however typical: on real transcripts a bare « oui », « douze ans » or « ah oui ah
oui certainement hein » can sit closest to the centroid, and says nothing to the reader. Words are counted once the
transcription marks are out (`qualipipe.quotes`): « c'est [pause] [rire] euh + » is not a quote,
and a segment made mostly of marks comes after one that is mostly words. The quote shown is the
readable text (marks out); the stored segment is untouched. Ties break on the segment id, so the
choice is stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from qualipipe.quotes import mostly_marks, readable_quote, said_words, telling_words
from qualipipe.synthesize.cells import UNREVIEWED_MARK
from qualipipe.synthesize.model import MAX_QUOTE_CHARS
from qualipipe.text import fold_key

MAX_CHARS = MAX_QUOTE_CHARS
QUOTABLE_WORDS = 6  # fewer words than this: quoted only when nothing longer is there


@lru_cache(maxsize=1)
def french_stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold_key(word) for word in STOP_WORDS) | frozenset(STOP_WORDS)


TOKEN_PATTERN = r"(?u)\b\w\w\w+\b"


@lru_cache(maxsize=1)
def tfidf_stop_words() -> list[str]:
    """Stop words as the vectorizer's own tokens (accents folded), so that it finds them all."""

    return sorted({t for w in french_stop_words() for t in re.findall(TOKEN_PATTERN, fold_key(w))})


@dataclass(frozen=True)
class Candidate:
    segment_id: int
    text: str
    participant_id: str | None
    validated: bool


class VerbatimPicker:
    """Fit once per territory on the coded segments; `pick` for each code."""

    def __init__(self, texts: dict[int, str], vectors: dict[int, np.ndarray] | None = None) -> None:
        self.ids_ = sorted(texts)
        self.row_ = {segment_id: i for i, segment_id in enumerate(self.ids_)}
        self.matrix_ = None
        if self.ids_ and vectors and all(i in vectors for i in self.ids_):
            dense = np.vstack([np.asarray(vectors[i], dtype=np.float64) for i in self.ids_])
            norms = np.linalg.norm(dense, axis=1, keepdims=True)
            self.matrix_ = dense / np.where(norms == 0, 1.0, norms)
        elif self.ids_:
            vectorizer = TfidfVectorizer(
                strip_accents="unicode",
                lowercase=True,
                stop_words=tfidf_stop_words(),
                token_pattern=TOKEN_PATTERN,
            )
            try:
                # « pause », « rire » are marks, not what the segment is about
                self.matrix_ = vectorizer.fit_transform(
                    [readable_quote(texts[i]) for i in self.ids_]
                )
            except ValueError:  # only stop words: every segment is as typical as any other
                self.matrix_ = None

    def typicality(self, segment_ids: Sequence[int]) -> dict[int, float]:
        """Cosine similarity of each segment to the centroid of the given segments."""
        if self.matrix_ is None or not segment_ids:
            return dict.fromkeys(segment_ids, 0.0)
        rows = self.matrix_[[self.row_[i] for i in segment_ids]]
        centroid = np.asarray(rows.mean(axis=0)).ravel()
        # Rows are L2-normalised (TF-IDF and vectors alike): the dot product with the unit
        # centroid is the cosine.
        norm = float(np.linalg.norm(centroid))
        if norm == 0:
            return dict.fromkeys(segment_ids, 0.0)
        sims = rows @ (centroid / norm)
        return {i: round(float(s), 9) for i, s in zip(segment_ids, np.ravel(sims), strict=True)}

    def pick(self, candidates: Sequence[Candidate], k: int) -> list[Candidate]:
        """Up to k candidates: validated first, then long enough to quote, most typical first,
        one per participant first."""
        if not candidates:
            return []
        if any(quotable(c.text) for c in candidates):
            # a lone word (« se », « [rire] ») says nothing beside a real quote
            candidates = [
                c for c in candidates if len(re.findall(r"\w+", readable_quote(c.text))) > 1
            ]
        scores = self.typicality([c.segment_id for c in candidates])
        ordered = sorted(
            candidates,
            key=lambda c: (
                not c.validated,
                not quotable(c.text),
                -scores[c.segment_id],
                c.segment_id,
            ),
        )
        # The same words twice (a text pasted by several contributors, a repeated answer) are
        # quoted once: the first of them in this order.
        firsts: dict[str, Candidate] = {}
        for c in ordered:
            firsts.setdefault(" ".join(said_words(c.text)), c)
        ordered = list(firsts.values())
        chosen: list[Candidate] = []
        seen: set[str | None] = set()
        for c in ordered:  # first pass: diversity of speakers
            if c.participant_id not in seen or c.participant_id is None:
                chosen.append(c)
                seen.add(c.participant_id)
            if len(chosen) == k:
                return chosen
        for c in ordered:
            if c not in chosen:
                chosen.append(c)
            if len(chosen) == k:
                break
        return chosen


def quotable(text: str) -> bool:
    """Whether a segment says enough, once its transcription marks and acknowledgements are out,
    to be quoted on its own (not « ah oui ah oui certainement mais oui certainement hein »), and
    is not mostly marks (« oui [pause] non [pause] euh [pause] bon »)."""
    return len(telling_words(text)) >= QUOTABLE_WORDS and not mostly_marks(text)


# Where a quote may end when it must be cut: a sentence end, a clause end, or (oral, without
# punctuation) before a word that opens the next clause. Tried in this order.
SENTENCE_END = re.compile(r"[.!?…](?=\s)")
CLAUSE_END = re.compile(r"[;:,](?=\s)")
NEXT_CLAUSE = re.compile(r"\s(?=(?:euh|bon|alors|donc|enfin|mais|et puis|parce que|voilà)\b)")
TRAILING_FILLERS = re.compile(r"(?:\s+(?:euh|heu|ben|bon|hein))+$")
CUT_SHARE = 0.5  # a cut at a sentence or clause end keeps at least half of what fits


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    """`text` in at most about `limit` characters: whole, or cut at the last sentence end, else
    clause end, else before a word opening the next clause (oral transcripts), that keeps at
    least half of it; else at a word. « […] » marks the cut."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    for pattern, keep in ((SENTENCE_END, True), (CLAUSE_END, False), (NEXT_CLAUSE, False)):
        ends = [m.end() if keep else m.start() for m in pattern.finditer(head)]
        ends = [e for e in ends if e >= CUT_SHARE * limit]
        if ends:
            cut = TRAILING_FILLERS.sub("", head[: ends[-1]].rstrip())
            return cut if keep else cut + " […]"
    return head.rsplit(" ", 1)[0].rstrip(",;:") + " […]"


def format_verbatim(
    candidate: Candidate,
    label: str,
    pseudonymize: Callable[[str], str],
    limit: int = MAX_CHARS,
) -> str:
    marker = "" if candidate.validated else f"{UNREVIEWED_MARK} "
    return f"{marker}« {shorten(readable_quote(pseudonymize(candidate.text)), limit)} » ({label})"
