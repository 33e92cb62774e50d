"""Decision-independent inputs of a `code` run, kept between runs (fast re-suggestion).

After a review session only the decisions change: the segments' vectors, their bags of lemmas and
the lexicon matches (which depend on the text and the codebook only) are the same as last time.
The run stores them as one matrix snapshot in the `coding_snapshots` table, keyed by
the feature signature, the codebook version and the exact list of segment texts; the next run
with the same key reads three matrices instead of re-reading and re-scanning every segment.
Any text or codebook change gives another key: the snapshot is then simply rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from qualipipe.coding.base import SuggesterOutput
from qualipipe.coding.features import SegmentFeatures, feature_signature
from qualipipe.store import insert_row, now_iso

SNAPSHOT_FORMAT = 5  # bump when the stored matrices or the lexicon matching rules change


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


def bag_counts(bags: Sequence[list[str]]) -> tuple[sparse.csr_matrix, list[str]]:
    """Term-count matrix of the bags (one row per segment) and its vocabulary."""
    index: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for bag in bags:
        for term in bag:
            indices.append(index.setdefault(term, len(index)))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    matrix = sparse.csr_matrix(
        (data, np.array(indices, dtype=np.int64), np.array(indptr)), shape=(len(bags), len(index))
    )
    matrix.sum_duplicates()
    return matrix, list(index)


def build_static_inputs(
    features: Sequence[SegmentFeatures], lexicon_output: SuggesterOutput
) -> StaticInputs:
    from qualipipe.coding.supervised import bag_of_lemmas

    counts, vocabulary = bag_counts([bag_of_lemmas(f) for f in features])
    vectors = (
        np.vstack([f.vector for f in features]).astype(np.float32)
        if features
        else np.zeros((0, 300), dtype=np.float32)
    )
    return StaticInputs(vectors, counts, vocabulary, LexiconSignals.from_output(lexicon_output))


def snapshot_key(text_hashes: Sequence[str], codebook_hash: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{SNAPSHOT_FORMAT}|{feature_signature()}|{codebook_hash}|".encode())
    for value in text_hashes:
        digest.update(value.encode())
    return digest.hexdigest()


def load_snapshot(conn: sqlite3.Connection, key: str) -> StaticInputs | None:
    row = conn.execute("SELECT data FROM coding_snapshots WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    with np.load(io.BytesIO(row[0]), allow_pickle=False) as stored:
        text = json.loads(bytes(stored["strings"]).decode("utf-8"))
        counts = sparse.csr_matrix(
            (stored["counts_data"], stored["counts_indices"], stored["counts_indptr"]),
            shape=tuple(stored["counts_shape"]),
        )
        reasons = {
            (int(r), int(c)): reason
            for r, c, reason in zip(
                stored["reason_rows"], stored["reason_columns"], text["reasons"], strict=False
            )
        }
        lexicon = LexiconSignals(
            stored["lexicon_hits"], stored["lexicon_weak"], stored["lexicon_negated"], reasons
        )
        return StaticInputs(stored["vectors"], counts, text["vocabulary"], lexicon)


def save_snapshot(conn: sqlite3.Connection, key: str, inputs: StaticInputs) -> None:
    """Replace the study's snapshot (only the latest one is useful)."""
    cells = sorted(inputs.lexicon.reasons)
    strings = json.dumps(
        {"vocabulary": inputs.vocabulary, "reasons": [inputs.lexicon.reasons[c] for c in cells]},
        ensure_ascii=False,
    ).encode("utf-8")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        vectors=inputs.vectors,
        counts_data=inputs.counts.data,
        counts_indices=inputs.counts.indices,
        counts_indptr=inputs.counts.indptr,
        counts_shape=np.array(inputs.counts.shape),
        lexicon_hits=inputs.lexicon.hits,
        lexicon_weak=inputs.lexicon.weak,
        lexicon_negated=inputs.lexicon.negated,
        reason_rows=np.array([r for r, _ in cells], dtype=np.int64),
        reason_columns=np.array([c for _, c in cells], dtype=np.int64),
        strings=np.frombuffer(strings, dtype=np.uint8),
    )
    conn.execute("DELETE FROM coding_snapshots")
    insert_row(
        conn, "coding_snapshots", {"key": key, "data": buffer.getvalue(), "created_at": now_iso()}
    )
