"""Topic model behind emergent themes: NMF on lemma TF-IDF, and the coherence that picks k.

The number of themes is the one whose top terms are the most coherent (mean NPMI over document
co-occurrence, Bouma 2009 / Lau et al. 2014, computed on the corpus itself) while staying distinct
from one theme to the next (topic quality = coherence × diversity, Dieng et al. 2020).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from qualipipe.errors import QualipipeError

DEFAULT_K_RANGE = (2, 8)
N_TOP_TERMS = 10
MIN_RELATIVE_WEIGHT = 0.1

# ---------------------------------------------------------------------------------------------
# Coherence
# ---------------------------------------------------------------------------------------------


def share_a_word(a: str, b: str) -> bool:
    # "circuit" and "circuit court" co-occur by construction: such pairs would inflate coherence.
    return bool(set(a.split()) & set(b.split()))


def npmi_coherence(
    presence: sparse.spmatrix, topics: Sequence[Sequence[int]], terms: Sequence[str]
) -> np.ndarray:
    """Mean normalised PMI of each topic's top-term pairs, from document co-occurrence.

    `presence` is the binary document × term matrix. NPMI(i, j) = log(p_ij / (p_i p_j)) / -log p_ij,
    in [-1, 1]; -1 when the two terms never share a document. Pairs sharing a word (a bigram and
    one of its words) are skipped.
    """
    presence = sparse.csc_matrix(presence, dtype=np.float64)
    presence.data[:] = 1.0
    n_docs = presence.shape[0]
    used = sorted({index for topic in topics for index in topic})
    position = {index: p for p, index in enumerate(used)}
    sub = presence[:, used]
    together = (sub.T @ sub).toarray() / n_docs
    alone = np.diag(together)
    scores = []
    for topic in topics:
        pair_scores = []
        for i, j in itertools.combinations(topic, 2):
            if share_a_word(terms[i], terms[j]):
                continue
            p_ij = together[position[i], position[j]]
            if p_ij <= 0:
                pair_scores.append(-1.0)
            elif p_ij >= 1:
                pair_scores.append(1.0)
            else:
                p_i, p_j = alone[position[i]], alone[position[j]]
                pair_scores.append(float(np.log(p_ij / (p_i * p_j)) / -np.log(p_ij)))
        scores.append(float(np.mean(pair_scores)) if pair_scores else 0.0)
    return np.array(scores)


def topic_diversity(topics: Sequence[Sequence[int]], terms: Sequence[str]) -> float:
    """Share of distinct single-word terms among all themes' top terms (1 = no word shared).

    Bigrams are left out: they repeat their own words by construction.
    """
    words = [terms[i] for topic in topics for i in topic if " " not in terms[i]]
    return len(set(words)) / len(words) if words else 0.0


def topic_quality(coherence: float, topics: Sequence[Sequence[int]], terms: Sequence[str]) -> float:
    """Coherence × diversity (Dieng et al. 2020), NPMI rescaled to [0, 1] to keep it monotone.

    Coherence alone rewards splitting a theme in two halves whose words still co-occur; the
    halves share their top words, which diversity penalises.
    """
    return (coherence + 1.0) / 2.0 * topic_diversity(topics, terms)


# ---------------------------------------------------------------------------------------------
# The topic model
# ---------------------------------------------------------------------------------------------


def _identity(tokens: Sequence[str]) -> Sequence[str]:
    return tokens


def _smallest_theme(weights: np.ndarray) -> int:
    """Number of documents of the least frequent dominant theme (0 if one dominates none)."""
    explained = weights.max(axis=1) > 0
    dominant = np.argmax(weights, axis=1)[explained]
    return int(np.bincount(dominant, minlength=weights.shape[1]).min())


class ThemeFinder:
    """NMF on lemma TF-IDF (1-2 grams); K chosen by the coherence (NPMI) × diversity of top terms.

    scikit-learn-like: `fit(term_lists)` sets `n_themes_`, `coherence_by_k_` (mean NPMI),
    `quality_by_k_` (what chooses K), `terms_`,
    `components_` (themes × terms), `document_weights_` (documents × themes) and
    `topic_coherence_`. Deterministic for a given `random_state`.
    """

    def __init__(
        self,
        *,
        n_themes: int | None = None,
        k_range: tuple[int, int] = DEFAULT_K_RANGE,
        n_top_terms: int = N_TOP_TERMS,
        min_df: int = 2,
        max_df: float = 0.85,
        min_theme_size: int = 3,
        random_state: int = 0,
    ) -> None:
        self.n_themes = n_themes
        self.k_range = k_range
        self.n_top_terms = n_top_terms
        self.min_df = min_df
        self.max_df = max_df
        self.min_theme_size = min_theme_size
        self.random_state = random_state

    def fit(self, documents: Sequence[Sequence[str]]) -> ThemeFinder:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            tokenizer=_identity,
            preprocessor=_identity,
            lowercase=False,
            token_pattern=None,
            ngram_range=(1, 2),
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=True,
        )
        try:
            matrix = vectorizer.fit_transform([list(d) for d in documents])
        except ValueError:
            raise QualipipeError(
                "Les segments peu couverts n'ont pas assez de mots en commun pour dégager des "
                "thèmes (il faut des mots présents dans au moins deux segments)."
            ) from None
        self.terms_ = [str(t) for t in vectorizer.get_feature_names_out()]
        self.coherence_by_k_: dict[int, float] = {}
        self.quality_by_k_: dict[int, float] = {}
        best: tuple[float, int, object, np.ndarray] | None = None
        fallback: tuple[float, int, object, np.ndarray] | None = None  # the smallest K
        for k in self._candidate_ks(matrix.shape[0], matrix.shape[1]):
            model, weights = self._factorise(matrix, k)
            tops = self._top_indices(model.components_)  # type: ignore[attr-defined]
            coherence = float(npmi_coherence(matrix, tops, self.terms_).mean())
            quality = topic_quality(coherence, tops, self.terms_)
            self.coherence_by_k_[k] = round(coherence, 4)
            self.quality_by_k_[k] = round(quality, 4)
            if self.n_themes is None and _smallest_theme(weights) < self.min_theme_size:
                # A theme carried by one or two segments is an anecdote, not a pattern.
                fallback = fallback or (quality, k, model, weights)
                continue
            # Strictly better only: on a tie the smaller number of themes wins.
            if best is None or quality > best[0] + 1e-9:
                best = (quality, k, model, weights)
        best = best or fallback
        assert best is not None
        _, self.n_themes_, model, self.document_weights_ = best
        self.components_ = model.components_  # type: ignore[attr-defined]
        self.topic_coherence_ = npmi_coherence(
            matrix, self._top_indices(self.components_), self.terms_
        )
        return self

    def _candidate_ks(self, n_docs: int, n_terms: int) -> list[int]:
        if self.n_themes is not None:
            return [max(1, min(self.n_themes, n_docs, n_terms))]
        low, high = self.k_range
        # At least three segments per theme on average, or a theme is an anecdote.
        high = max(low, min(high, n_docs // 3, n_terms))
        return list(range(low, high + 1))

    def _factorise(self, matrix: sparse.spmatrix, k: int) -> tuple[object, np.ndarray]:
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        model = NMF(n_components=k, init="nndsvda", random_state=self.random_state, max_iter=800)
        with warnings.catch_warnings():
            # A factorisation still short of full convergence ranks terms just as well; the
            # warning would only worry analysts.
            warnings.simplefilter("ignore", ConvergenceWarning)
            weights = model.fit_transform(matrix)
        return model, weights

    def _top_indices(self, components: np.ndarray, *, min_relative: float = 0.0) -> list[list[int]]:
        tops = []
        for row in components:
            order = np.argsort(-row, kind="stable")[: self.n_top_terms]
            floor = max(min_relative * row.max(), 0.0)
            tops.append([int(i) for i in order if row[i] > floor])
        return tops

    def top_terms(self, theme: int) -> list[str]:
        """The theme's leading terms. Coherence is measured on the full top-N (the standard
        measure); the terms shown drop those weighing under a tenth of the first (noise)."""
        rows = self.components_[theme : theme + 1]
        return [
            self.terms_[i] for i in self._top_indices(rows, min_relative=MIN_RELATIVE_WEIGHT)[0]
        ]

    def dominant_theme(self) -> np.ndarray:
        """Index of each document's main theme, -1 for documents no theme explains."""
        dominant = np.argmax(self.document_weights_, axis=1)
        dominant[self.document_weights_.max(axis=1) <= 0] = -1
        return dominant
