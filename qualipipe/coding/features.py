"""Per-segment NLP features, computed once with spaCy and cached in the study.

`compute_features(study, segments)` returns one `SegmentFeatures` per segment: surface words,
lemmas, POS, stop-word and alphabetic flags, and a static vector (mean of the content words'
vectors). Results are stored in the `nlp_cache` table keyed by (text hash, feature signature):
re-suggesting after a review session reads them back and never runs spaCy on unchanged text.
The signature is computed without loading the model, so that a fully cached run does not even
pay the ~5 s model load.
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from qualipipe.nlp import MODEL, coding_pipeline
from qualipipe.progress import progress_bar
from qualipipe.records import Segment
from qualipipe.store import Study, read_nlp_cache, text_hash, write_nlp_cache
from qualipipe.text import fold_key

if TYPE_CHECKING:
    from spacy.tokens import Doc

# Bump when the content of SegmentFeatures or the components of coding_pipeline() change:
# old cache rows are then simply ignored (and recomputed).
FEATURE_FORMAT = 3
PIPE_BATCH_SIZE = 128  # perf_baseline.md: 64-256 is fastest; 1000 costs +0.5 GiB
VECTOR_WIDTH = 300


@dataclass(frozen=True)
class SegmentFeatures:
    """What the suggesters need from spaCy for one text (one row of `nlp_cache`)."""

    text_hash: str
    words: tuple[str, ...]
    lemmas: tuple[str, ...]  # lower-cased lemmas, one per token
    pos: tuple[str, ...]
    is_stop: tuple[bool, ...]
    is_alpha: tuple[bool, ...]
    vector: np.ndarray  # float32 (300,): mean static vector of content words; zeros if none
    folded_lemmas: tuple[str, ...] = ()  # accent- and case-folded lemmas (matching keys)
    folded_words: tuple[str, ...] = ()  # accent- and case-folded surface words

    def content_indices(self) -> list[int]:
        """Tokens that carry meaning: alphabetic, not stop words."""
        return [
            i
            for i, (a, s) in enumerate(zip(self.is_alpha, self.is_stop, strict=False))
            if a and not s
        ]

    def content_lemmas(self) -> list[str]:
        """Folded lemmas of content tokens (the bag of words of the supervised suggester)."""
        folded = self.folded_lemmas
        return [folded[i] for i in self.content_indices()]

    @property
    def n_words(self) -> int:
        return sum(self.is_alpha)

    def to_bytes(self) -> bytes:
        """Separator-joined token fields + float32 vector: compact, fast to read, no pickle."""
        fields = [
            _UNIT.join(map(_clean, self.words)),
            _UNIT.join(map(_clean, self.lemmas)),
            _UNIT.join(self.pos),
            "".join("1" if b else "0" for b in self.is_stop),
            "".join("1" if b else "0" for b in self.is_alpha),
            _UNIT.join(map(_clean, self.folded_lemmas)),
            _UNIT.join(map(_clean, self.folded_words)),
        ]
        header = _RECORD.join(fields).encode("utf-8")
        return len(header).to_bytes(4, "little") + header + self.vector.astype(np.float32).tobytes()

    @classmethod
    def from_bytes(cls, digest: str, data: bytes) -> SegmentFeatures:
        size = int.from_bytes(data[:4], "little")
        words, lemmas, pos, stop, alpha, folded_lemmas, folded_words = (
            data[4 : 4 + size].decode("utf-8").split(_RECORD)
        )
        split = _split_units
        return cls(
            text_hash=digest,
            words=split(words),
            lemmas=split(lemmas),
            pos=split(pos),
            is_stop=tuple(c == "1" for c in stop),
            is_alpha=tuple(c == "1" for c in alpha),
            vector=np.frombuffer(data[4 + size :], dtype=np.float32),
            folded_lemmas=split(folded_lemmas),
            folded_words=split(folded_words),
        )


def bag_of_lemmas(features: SegmentFeatures) -> list[str]:
    """Content lemmas and their bigrams (« économie sociale »)."""
    lemmas = features.content_lemmas()
    return lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:], strict=False)]


# ASCII record/unit separators: never part of a token once _clean has run.
_RECORD, _UNIT = "\x1e", "\x1f"


def _clean(token: str) -> str:
    return token.replace(_RECORD, " ").replace(_UNIT, " ")


def _split_units(field: str) -> tuple[str, ...]:
    return tuple(field.split(_UNIT)) if field else ()


@cache
def feature_signature() -> str:
    """Cache key part identifying the model version and the feature format (no model load)."""
    try:
        version = importlib.metadata.version(MODEL)
    except importlib.metadata.PackageNotFoundError:
        version = "absent"
    return f"{MODEL}-{version}|features-v{FEATURE_FORMAT}"


_TOKEN_ATTRS = ("ORTH", "LOWER", "LEMMA", "POS", "IS_STOP", "IS_ALPHA")


@lru_cache(maxsize=500_000)
def _lower(text: str) -> str:
    return text.lower()


def features_from_doc(doc: Doc, digest: str) -> SegmentFeatures:
    """Extract the cached fields from a processed Doc (the Doc itself is not kept).

    One `to_array` call instead of per-token attribute access: this runs once per segment of
    the whole corpus on the first `code`, so it is on the hot path beside spaCy itself.
    """
    from spacy.attrs import IDS

    array = doc.to_array([IDS[name] for name in _TOKEN_ATTRS])
    strings = doc.vocab.strings
    columns = array.T.tolist() if len(doc) else [[] for _ in _TOKEN_ATTRS]
    orth, _lower_ids, lemma, pos, stop_flags, alpha_flags = columns
    words = tuple(strings[key] for key in orth)
    lemmas = tuple(_lower(strings[key]) for key in lemma)
    stop = [bool(flag) for flag in stop_flags]
    alpha = [bool(flag) for flag in alpha_flags]
    return SegmentFeatures(
        text_hash=digest,
        words=words,
        lemmas=lemmas,
        pos=tuple(strings[key] if key else "" for key in pos),
        is_stop=tuple(stop),
        is_alpha=tuple(alpha),
        vector=_content_vector(doc, array[:, :2] if len(doc) else array, stop, alpha),
        folded_lemmas=tuple(fold_key(lemma) for lemma in lemmas),
        folded_words=tuple(fold_key(word) for word in words),
    )


def _content_vector(doc: Doc, keys: np.ndarray, stop: list[bool], alpha: list[bool]) -> np.ndarray:
    """Mean static vector of content words (stop words blur the topic); all words as fallback.

    `keys` holds the ORTH and LOWER hashes of the tokens (first two `to_array` columns).
    """
    vectors = doc.vocab.vectors
    if len(doc) == 0 or vectors.shape[0] == 0:
        return np.zeros(VECTOR_WIDTH, dtype=np.float32)
    rows = vectors.find(keys=keys[:, 0])
    lower_rows = vectors.find(keys=keys[:, 1])
    rows = np.where(rows >= 0, rows, lower_rows)
    content = np.array([a and not s for a, s in zip(alpha, stop, strict=True)], dtype=bool)
    chosen = rows[content & (rows >= 0)]
    if chosen.size == 0:
        chosen = rows[rows >= 0]
    if chosen.size == 0:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    return np.asarray(vectors.data[chosen].mean(axis=0), dtype=np.float32)


def load_cached(conn: sqlite3.Connection, digests: Iterable[str]) -> dict[str, SegmentFeatures]:
    """Cached features for these text hashes (missing ones are simply absent)."""
    cached = read_nlp_cache(conn, feature_signature(), digests)
    return {digest: SegmentFeatures.from_bytes(digest, data) for digest, data in cached.items()}


def compute_features(
    study: Study,
    segments: Sequence[Segment] | Sequence[str],
    *,
    n_process: int = 1,
    progress: bool = True,
    cache: bool = True,
) -> list[SegmentFeatures]:
    """Features for each segment (or raw text), in order; spaCy runs only on uncached texts.

    New results are written to `nlp_cache` inside the study's transaction, unless `cache` is
    false (a step that must leave the study as it was, like the synthesis, only reads it). `n_process` > 1 lets
    spaCy fork worker processes (worth it on long streams only: each worker loads the model).
    """
    texts = [s if isinstance(s, str) else s.text for s in segments]
    digests = [text_hash(t) for t in texts]
    known = load_cached(study.conn, digests)
    missing: dict[str, str] = {}
    for digest, text in zip(digests, texts, strict=False):
        if digest not in known:
            missing.setdefault(digest, text)
    if missing:
        known.update(
            _annotate_and_cache(study, missing, n_process=n_process, progress=progress, cache=cache)
        )
    return [known[d] for d in digests]


def _annotate_and_cache(
    study: Study, texts_by_hash: dict[str, str], *, n_process: int, progress: bool, cache: bool
) -> dict[str, SegmentFeatures]:
    signature = feature_signature()
    nlp = coding_pipeline()
    digests = list(texts_by_hash)
    docs = nlp.pipe(
        (texts_by_hash[d] for d in digests), batch_size=PIPE_BATCH_SIZE, n_process=n_process
    )
    computed: dict[str, SegmentFeatures] = {}
    pending: list[tuple[str, bytes]] = []
    annotated = zip(digests, _with_progress(docs, len(digests), progress), strict=False)
    if not cache:
        return {digest: features_from_doc(doc, digest) for digest, doc in annotated}
    with study.transaction() as conn:
        for digest, doc in annotated:
            features = features_from_doc(doc, digest)
            computed[digest] = features
            pending.append((digest, features.to_bytes()))
            if len(pending) >= 1000:
                write_nlp_cache(conn, signature, pending)
                pending.clear()
        write_nlp_cache(conn, signature, pending)
    return computed


def _with_progress(docs: Iterable[Doc], total: int, show: bool) -> Iterator[Doc]:
    if not show:
        yield from docs
        return
    with progress_bar(estimate=True) as bar:
        task = bar.add_task("Analyse linguistique (spaCy)", total=total)
        for doc in docs:
            yield doc
            bar.advance(task)
