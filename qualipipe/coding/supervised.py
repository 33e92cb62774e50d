"""Supervised suggester: a multi-label classifier trained on the analysts' decisions.

One logistic regression per code (one-vs-rest) on TF-IDF of content lemmas (and lemma bigrams)
plus the segment's static vector. Retrained from scratch at every run: decisions are the only
truth and they change between runs. Labels follow the codebook hierarchy (an accepted sub-code
also counts for its codable parents, see LabelledSet). A code without an accepted segment and two
segments without it has no classifier yet: its column is NaN ("no opinion").
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch, SuggesterOutput
from qualipipe.coding.features import bag_of_lemmas

MIN_POSITIVES = 1  # one accepted segment already tells something; the stacker weighs it
MIN_NEGATIVES = 2
VECTOR_WEIGHT = 0.5  # static vector block next to the TF-IDF block (both L2-normalised)


def _identity(bag: list[str]) -> list[str]:
    return bag


class SupervisedSuggester:
    name = "supervisé"

    def __init__(self, *, c: float = 4.0) -> None:
        self.c = c
        self.vectorizer: TfidfVectorizer | None = None
        self.models: list[LogisticRegression | None] = []
        self.n_trained = 0

    def fit(self, codes: CodeIndex, labelled: LabelledSet) -> SupervisedSuggester:
        self.models = [None] * len(codes.codes)
        self.n_trained = len(labelled)
        if len(labelled) < MIN_POSITIVES + MIN_NEGATIVES:
            self.vectorizer = None
            return self
        self.vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
        self.vectorizer.fit([bag_of_lemmas(f) for f in labelled.batch.features])
        x = self._matrix(labelled.batch)
        with threadpool_limits(1):
            for j in range(len(codes.codes)):
                y = labelled.labels[:, j]
                positives = int(y.sum())
                if positives < MIN_POSITIVES or len(y) - positives < MIN_NEGATIVES:
                    continue
                model = LogisticRegression(
                    C=self.c,
                    class_weight="balanced",
                    solver="liblinear",
                    dual=True,  # more features than reviewed segments: the dual is faster
                    max_iter=500,
                )
                self.models[j] = model.fit(x, y)
        return self

    def _blocks(self, batch: SegmentBatch) -> tuple[sparse.csr_matrix, np.ndarray]:
        """TF-IDF block (sparse) and weighted unit static vectors (dense) of the segments."""
        assert self.vectorizer is not None
        if batch.static is not None:
            tfidf = self._tfidf_from_counts(batch.static.counts, batch.static.vocabulary)
            return tfidf, VECTOR_WEIGHT * batch.static.unit_vectors
        tfidf = self.vectorizer.transform([bag_of_lemmas(f) for f in batch.features])
        vectors = np.vstack([f.vector for f in batch.features]).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return tfidf.tocsr(), VECTOR_WEIGHT * vectors / np.where(norms > 0, norms, 1.0)

    def _tfidf_from_counts(
        self, counts: sparse.csr_matrix, vocabulary: list[str]
    ) -> sparse.csr_matrix:
        """Same result as `vectorizer.transform` from stored term counts (no token loop)."""
        assert self.vectorizer is not None
        known = self.vectorizer.vocabulary_
        columns = np.array([known.get(term, -1) for term in vocabulary], dtype=np.int64)
        kept = np.flatnonzero(columns >= 0)
        mapping = sparse.csr_matrix(
            (np.ones(len(kept)), (kept, columns[kept])), shape=(len(vocabulary), len(known))
        )
        tf = (counts @ mapping).tocsr()
        tf.data = 1.0 + np.log(tf.data)  # sublinear_tf
        return normalize(tf.multiply(self.vectorizer.idf_).tocsr(), norm="l2", copy=False)

    def _matrix(self, batch: SegmentBatch) -> sparse.csr_matrix:
        tfidf, vectors = self._blocks(batch)
        return sparse.hstack([tfidf, sparse.csr_matrix(vectors)], format="csr")

    def suggest(self, batch: SegmentBatch) -> SuggesterOutput:
        scores = np.full((len(batch), len(self.models)), np.nan)
        if self.vectorizer is None or not len(batch) or not any(self.models):
            return SuggesterOutput(scores=scores, explain=lambda row, column: "")
        x, vectors = self._blocks(batch)
        vocabulary = self.vectorizer.get_feature_names_out()
        n_terms = len(vocabulary)
        # All codes at once: one sparse and one dense product instead of a predict per code.
        fitted = [j for j, model in enumerate(self.models) if model is not None]
        coef = np.vstack([self.models[j].coef_[0] for j in fitted]).T  # type: ignore[union-attr]
        intercept = np.array([self.models[j].intercept_[0] for j in fitted])  # type: ignore[union-attr]
        with threadpool_limits(1):
            logits = x @ coef[:n_terms] + vectors @ coef[n_terms:] + intercept
        scores[:, fitted] = 1.0 / (1.0 + np.exp(-logits))

        def explain(row: int, column: int) -> str:
            model = self.models[column]
            if model is None:
                return ""
            # Only the segment's own non-zero terms can weigh: read them straight from the CSR row.
            span = slice(x.indptr[row], x.indptr[row + 1])
            terms, values = x.indices[span], x.data[span]
            keep = terms < n_terms
            terms, weights = terms[keep], values[keep] * model.coef_[0, terms[keep]]
            top = [terms[i] for i in np.argsort(weights)[::-1][:3] if weights[i] > 0]
            words = ", ".join(f"« {vocabulary[i]} »" for i in top)
            reason = f"modèle appris sur {self.n_trained} segments revus (probabilité {scores[row, column]:.2f})"
            return f"{reason} ; mots caractéristiques : {words}" if words else reason

        return SuggesterOutput(scores=scores, explain=explain)
