"""Shared records of the suggesters: the code index, the segments to score, the labelled set.

Every suggester follows the same small interface (scikit-learn-like):
`fit(codes, labelled) -> self` learns from the analysts' decisions, `suggest(batch) ->
SuggesterOutput` returns one score per (segment, code) and can explain any of them in French.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, Self

import numpy as np
from scipy import sparse

from qualipipe.coding.features import SegmentFeatures
from qualipipe.records import Code, Codebook


@dataclass(frozen=True)
class CodeIndex:
    """The codable codes of a codebook in a fixed column order, with their hierarchy."""

    codes: tuple[Code, ...]
    all_codes: dict[str, Code]

    @classmethod
    def from_codebook(cls, codebook: Codebook) -> CodeIndex:
        return cls(codes=tuple(codebook.codable()), all_codes=codebook.by_id())

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.codes]

    def column(self) -> dict[str, int]:
        return {c.id: j for j, c in enumerate(self.codes)}

    def ancestors(self, code_id: str) -> list[str]:
        """Parents up to the family root (cycles in a broken codebook are cut)."""
        chain: list[str] = []
        current = self.all_codes.get(code_id)
        while current is not None and current.parent and current.parent not in chain:
            chain.append(current.parent)
            current = self.all_codes.get(current.parent)
        return chain

    def scope(self, code: Code) -> set[str]:
        """Ids a survey question may name to feed this code: itself, its ancestors, its family."""
        return {code.id, code.family, *self.ancestors(code.id)}


@dataclass(frozen=True)
class SegmentBatch:
    """Segments to score, aligned with their cached features."""

    segment_ids: list[int]
    texts: list[str]
    features: list[SegmentFeatures]
    # Decision-independent matrices from the last run; when set, suggesters use them instead of
    # `features` (which may then be empty).
    static: StaticInputs | None = None

    def __len__(self) -> int:
        return len(self.segment_ids)

    def subset(self, rows: Sequence[int]) -> SegmentBatch:
        return SegmentBatch(
            segment_ids=[self.segment_ids[i] for i in rows],
            texts=[self.texts[i] for i in rows],
            features=[self.features[i] for i in rows],
        )


@dataclass(frozen=True)
class LabelledSet:
    """Segments analysts reviewed, with the current coding as a 0/1 matrix (codes = columns).

    A reviewed segment (any decision on it) is taken as fully coded: a code the analysts did not
    apply to it counts as absent. Accepting a sub-code also applies its codable parents.
    """

    batch: SegmentBatch
    labels: np.ndarray  # (n_segments, n_codes) uint8

    def __len__(self) -> int:
        return len(self.batch)

    def subset(self, rows: Sequence[int]) -> LabelledSet:
        return LabelledSet(batch=self.batch.subset(rows), labels=self.labels[list(rows)])

    @classmethod
    def empty(cls, n_codes: int) -> LabelledSet:
        return cls(SegmentBatch([], [], []), np.zeros((0, n_codes), dtype=np.uint8))


@dataclass
class SuggesterOutput:
    """Scores in [0, 1] per (segment, code); `explain(row, column)` gives the French reason."""

    scores: np.ndarray  # (n_segments, n_codes) float; NaN = this suggester has no opinion
    explain: Callable[[int, int], str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # more signals for the combiner


@dataclass
class LexiconSignals:
    hits: np.ndarray
    weak: np.ndarray
    negated: np.ndarray
    reasons: dict[tuple[int, int], str]

    def as_output(self) -> SuggesterOutput:
        return SuggesterOutput(
            scores=self.hits.astype(float),
            explain=lambda row, column: self.reasons.get((row, column), ""),
            extra={
                "lexicon_negated": self.negated.astype(float),
                "lexicon_weak": self.weak.astype(float),
            },
        )

    @classmethod
    def from_output(cls, output: SuggesterOutput) -> LexiconSignals:
        hits = output.scores > 0
        weak = output.extra["lexicon_weak"] > 0
        negated = output.extra["lexicon_negated"] > 0
        rows, columns = np.nonzero(hits | weak | negated)
        reasons = {
            (int(r), int(c)): output.explain(int(r), int(c))
            for r, c in zip(rows, columns, strict=False)
        }
        return cls(hits.astype(np.uint8), weak.astype(np.uint8), negated.astype(np.uint8), reasons)


@dataclass
class StaticInputs:
    """Per-segment inputs that do not depend on decisions."""

    vectors: np.ndarray  # (n, 300) float32
    counts: sparse.csr_matrix  # (n, len(vocabulary)) term counts of bag_of_lemmas
    vocabulary: list[str]
    lexicon: LexiconSignals

    @cached_property
    def unit_vectors(self) -> np.ndarray:
        """L2-normalised vectors (shared by the semantic and supervised suggesters)."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return self.vectors / np.where(norms > 0, norms, 1.0)


class Suggester(Protocol):
    name: str

    def fit(self, codes: CodeIndex, labelled: LabelledSet) -> Self: ...

    def suggest(self, batch: SegmentBatch) -> SuggesterOutput: ...


def excerpt(text: str, limit: int = 90) -> str:
    """A short single-line quotation for reasons."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
