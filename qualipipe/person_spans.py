"""spaCy's person entities per text, kept in the study so that they are found only once.

`code` reads every text anyway: `qualipipe.pseudonymize.remember_person_spans` then finds the
people in the texts that may name some and keeps their character offsets in `person_spans`,
keyed by text hash and model; a pseudonymiser reads them back instead of running spaCy.
"""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
from collections.abc import Iterable

from qualipipe.nlp import MODEL, entity_pipeline
from qualipipe.progress import progress_bar
from qualipipe.store import Study


def entity_model() -> str:
    """Names the entity recogniser in the caches of what it found (person spans, organisations):
    spans found by another model are stale."""
    try:
        version = importlib.metadata.version(MODEL.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"{MODEL}-{version}"


def find_person_spans(texts_by_hash: dict[str, str]) -> dict[str, list[tuple[int, int]]]:
    """spaCy's PER entities (character offsets) in each text, keyed like the input."""
    if not texts_by_hash:
        return {}
    docs = entity_pipeline().pipe(texts_by_hash.values(), batch_size=64)
    return {
        digest: [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "PER"]
        for digest, doc in zip(texts_by_hash, docs, strict=True)
    }


def cached_person_spans(
    conn: sqlite3.Connection, hashes: Iterable[str]
) -> dict[str, list[tuple[int, int]]]:
    """Text hash -> the person spans kept for it (hashes never analysed are left out)."""
    model = entity_model()
    wanted = sorted(set(hashes))
    found: dict[str, list[tuple[int, int]]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for digest, spans in conn.execute(
            f"SELECT text_hash, spans FROM person_spans WHERE model = ? AND text_hash IN ({marks})",
            [model, *chunk],
        ):
            found[digest] = [(int(a), int(b)) for a, b in json.loads(spans)]
    return found


def store_person_spans(conn: sqlite3.Connection, found: dict[str, list[tuple[int, int]]]) -> None:
    model = entity_model()
    conn.executemany(
        "INSERT OR REPLACE INTO person_spans (text_hash, model, spans) VALUES (?, ?, ?)",
        [(digest, model, json.dumps(spans)) for digest, spans in found.items()],
    )


def find_and_keep_person_spans(study: Study, texts: dict[str, str], *, progress: bool) -> int:
    """Find and keep the person spans of the texts (by hash) not kept yet; how many were read."""
    kept = cached_person_spans(study.conn, texts)
    texts = {digest: text for digest, text in texts.items() if digest not in kept}
    digests = list(texts)
    with progress_bar(estimate=True, show=progress and bool(digests)) as bar:
        task = bar.add_task("Noms de personnes (spaCy)", total=len(digests))
        for start in range(0, len(digests), 256):
            found = find_person_spans({d: texts[d] for d in digests[start : start + 256]})
            with study.transaction() as conn:
                store_person_spans(conn, found)
            bar.advance(task, len(found))
    return len(digests)
