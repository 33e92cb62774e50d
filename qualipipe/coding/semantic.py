"""Semantic suggester: similarity between a segment and each code's prototype.

A code's prototype is the mean direction of its description (label, definition, "when to use"),
its examples and expressions, and the segments analysts accepted for it (which weigh more as
they accumulate). Vectors are the cached static vectors of content words (see features.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch, SuggesterOutput, excerpt
from qualipipe.coding.lexicon import Analyse

_CHUNK = 2048


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def stack_vectors(batch: SegmentBatch) -> np.ndarray:
    if batch.static is not None:
        return batch.static.unit_vectors
    if not len(batch):
        return np.zeros((0, 300), dtype=np.float32)
    return normalise_rows(np.vstack([f.vector for f in batch.features]).astype(np.float32))


class SemanticSuggester:
    name = "sémantique"

    def __init__(self, analyse: Analyse, *, show: Callable[[str], str] = str) -> None:
        self.analyse = analyse
        self.show = show  # pseudonymises quoted excerpts of validated segments
        self.prototypes = np.zeros((0, 300), dtype=np.float32)
        self.accepted = np.zeros((0, 300), dtype=np.float32)
        self.accepted_texts: list[str] = []
        self.accepted_by_code: list[np.ndarray] = []

    def fit(self, codes: CodeIndex, labelled: LabelledSet) -> SemanticSuggester:
        descriptions = [
            ". ".join(p for p in (c.label, c.definition, c.include) if p) for c in codes.codes
        ]
        extras = [[*c.examples, *c.expressions] for c in codes.codes]
        flat = descriptions + [t for texts in extras for t in texts]
        vectors = normalise_rows(np.vstack([f.vector for f in self.analyse(flat)]))
        description_vectors = vectors[: len(descriptions)]
        cursor = len(descriptions)
        self.accepted = stack_vectors(labelled.batch)
        self.accepted_texts = labelled.batch.texts
        self.accepted_by_code = []
        prototypes = []
        for j, texts in enumerate(extras):
            parts = [description_vectors[j]]
            if texts:
                parts.append(vectors[cursor : cursor + len(texts)].mean(axis=0))
                cursor += len(texts)
            rows = np.flatnonzero(labelled.labels[:, j]) if len(labelled) else np.array([], int)
            self.accepted_by_code.append(rows)
            if rows.size:
                weight = 1.0 + min(rows.size, 10) / 5.0  # validated segments weigh up to 3×
                parts.append(weight * self.accepted[rows].mean(axis=0))
            prototypes.append(np.sum(parts, axis=0))
        self.prototypes = normalise_rows(np.vstack(prototypes).astype(np.float32))
        return self

    def suggest(self, batch: SegmentBatch) -> SuggesterOutput:
        segments = stack_vectors(batch)
        cosine = segments @ self.prototypes.T
        nearest = np.zeros_like(cosine)
        nearest_row = np.zeros(cosine.shape, dtype=np.int64)  # which validated segment
        for start in range(0, len(segments), _CHUNK):
            sims = segments[start : start + _CHUNK] @ self.accepted.T
            for j, rows in enumerate(self.accepted_by_code):
                if rows.size:
                    block = sims[:, rows]
                    best = block.argmax(axis=1)
                    nearest[start : start + _CHUNK, j] = block[np.arange(len(block)), best]
                    nearest_row[start : start + _CHUNK, j] = rows[best]
        relative = cosine - cosine.mean(axis=1, keepdims=True) if cosine.size else cosine

        def explain(row: int, column: int) -> str:
            reason = f"proche de la définition du code (similarité {cosine[row, column]:.2f})"
            if self.accepted_by_code[column].size and nearest[row, column] > 0.5:
                best = int(nearest_row[row, column])
                quoted = excerpt(self.show(self.accepted_texts[best]), 80)
                reason += (
                    f" ; ressemble à un extrait validé : « {quoted} » ({nearest[row, column]:.2f})"
                )
            return reason

        return SuggesterOutput(
            scores=np.clip(cosine, 0.0, 1.0),
            explain=explain,
            extra={"semantic_relative": relative, "semantic_nearest": nearest},
        )
