"""Writing a source and its segments so that a re-ingest never loses an analyst's work.

Same text and same segmentation → nothing is written. Changed text → segments whose text is
unchanged keep their row (same id, new offsets and ordinal), so every decision on them still
applies; the others are retired (never deleted), and the decisions on them are reported.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace

from qualipipe.records import Segment, Source
from qualipipe.store import insert_segment, insert_source, move_segment, text_hash, update_source

NEW = "nouveau"
UNCHANGED = "inchangé"
UPDATED = "mis à jour"


@dataclass(frozen=True)
class LostDecision:
    """A decision whose segment changed in the corrected file: kept in history, not re-applied."""

    decision_id: int
    segment_id: int
    action: str
    code_id: str | None
    coder: str
    segment_text: str
    source_key: str

    def describe(self) -> str:
        excerpt = (
            self.segment_text if len(self.segment_text) <= 80 else self.segment_text[:77] + "…"
        )
        code = f" {self.code_id}" if self.code_id else ""
        return (
            f"{self.source_key} : décision n°{self.decision_id} ({self.action}{code}, {self.coder}) "
            f"sur « {excerpt} » — ce passage a changé ; recodez-le."
        )


@dataclass
class Tally:
    """How many records an import found new, changed and unchanged (NEW, UPDATED, UNCHANGED)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, state: str) -> None:
        if state == NEW:
            self.new += 1
        elif state == UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1

    @property
    def changed(self) -> int:
        return self.new + self.updated


@dataclass
class SourceChange:
    key: str
    status: str
    source_id: int
    segments: int = 0
    kept: int = 0
    added: int = 0
    retired: int = 0
    lost_decisions: list[LostDecision] = field(default_factory=list)


def _same_source(row: sqlite3.Row, source: Source) -> bool:
    return (
        row["content_hash"] == text_hash(source.text)
        and json.loads(row["metadata"]) == source.metadata
        and row["participant_id"] == source.participant_id
        and row["territory_id"] == source.territory_id
        and row["path"] == source.path
    )


def unchanged_source(
    conn: sqlite3.Connection, source: Source, *, signature: str
) -> SourceChange | None:
    """The stored source when it is identical (text, metadata, segmentation): nothing to do."""
    source = replace(source, metadata={**source.metadata, "segmentation": signature})
    row = conn.execute("SELECT * FROM sources WHERE key = ?", (source.key,)).fetchone()
    if row is None or not _same_source(row, source):
        return None
    count = conn.execute(
        "SELECT count(*) FROM segments WHERE source_id = ? AND retired = 0", (row["id"],)
    ).fetchone()[0]
    return SourceChange(source.key, UNCHANGED, int(row["id"]), count, kept=count)


def store_source(
    conn: sqlite3.Connection, source: Source, segments: list[Segment], *, signature: str
) -> SourceChange:
    """Insert or reconcile `source`; `signature` identifies the segmentation settings."""
    source = replace(source, metadata={**source.metadata, "segmentation": signature})
    for s in segments:
        assert s.within(source.text) == s.text, "segment offsets out of sync"
    row = conn.execute("SELECT * FROM sources WHERE key = ?", (source.key,)).fetchone()
    if row is None:
        source_id = insert_source(conn, source)
        for ordinal, segment in enumerate(segments):
            insert_segment(conn, source_id, ordinal, segment)
        return SourceChange(source.key, NEW, source_id, len(segments), added=len(segments))
    source_id = int(row["id"])
    if _same_source(row, source):
        return SourceChange(source.key, UNCHANGED, source_id, len(segments), kept=len(segments))
    update_source(conn, source_id, source)
    return _reanchor(conn, source_id, source.key, segments)


def _reanchor(
    conn: sqlite3.Connection, source_id: int, key: str, segments: list[Segment]
) -> SourceChange:
    # Active rows first, then retired ones: a passage restored in a later correction gets its
    # old row (and decisions) back.
    old_rows = conn.execute(
        "SELECT id, text_hash, retired FROM segments WHERE source_id = ? ORDER BY retired, ordinal",
        (source_id,),
    ).fetchall()
    pool: dict[str, deque[int]] = defaultdict(deque)
    was_active = {r["id"] for r in old_rows if not r["retired"]}
    for r in old_rows:
        pool[r["text_hash"]].append(int(r["id"]))
    change = SourceChange(key, UPDATED, source_id, len(segments))
    reused: set[int] = set()
    for ordinal, s in enumerate(segments):
        candidates = pool.get(text_hash(s.text))
        if candidates:
            segment_id = candidates.popleft()
            reused.add(segment_id)
            move_segment(conn, segment_id, ordinal, s)
            if s.is_interviewer:  # now known to be the interviewer's words: never suggested
                conn.execute("DELETE FROM suggestions WHERE segment_id = ?", (segment_id,))
            change.kept += 1
        else:
            insert_segment(conn, source_id, ordinal, s)
            change.added += 1
    to_retire = sorted(was_active - reused)
    change.retired = len(to_retire)
    for segment_id in to_retire:
        conn.execute("UPDATE segments SET retired = 1 WHERE id = ?", (segment_id,))
        # Suggestions are recomputed by `qualipipe code`; decisions stay in the history.
        conn.execute("DELETE FROM suggestions WHERE segment_id = ?", (segment_id,))
    if to_retire:
        marks = ",".join("?" * len(to_retire))
        for d in conn.execute(
            f"""SELECT d.id, d.segment_id, d.action, d.code_id, d.coder, s.text FROM decisions d
                JOIN segments s ON s.id = d.segment_id WHERE d.segment_id IN ({marks}) ORDER BY d.id""",
            to_retire,
        ):
            change.lost_decisions.append(
                LostDecision(
                    d["id"], d["segment_id"], d["action"], d["code_id"], d["coder"], d["text"], key
                )
            )
    return change
