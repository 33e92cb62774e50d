"""Reading the texts and codes the cited-actors extraction needs straight from the store
(the synthesis passes its own records instead)."""

from __future__ import annotations

import sqlite3

from qualipipe import store
from qualipipe.records import Territory
from qualipipe.territory.actors import ActorInputs, TextSegment

TERRITORY_SEGMENTS = """
SELECT s.id, s.source_id, s.text, src.participant_id
FROM segments s
JOIN sources src ON src.id = s.source_id
LEFT JOIN participants p ON p.id = src.participant_id
WHERE s.retired = 0 AND s.is_interviewer = 0
  AND COALESCE(src.territory_id, p.territory_id) = ?
ORDER BY s.source_id, s.ordinal
"""


def territory_segments(conn: sqlite3.Connection, territory_id: str) -> list[TextSegment]:
    """The territory's texts (interviews, contributions, notes, answers), interviewer excluded."""
    return [
        TextSegment(r["id"], r["participant_id"], r["source_id"], r["text"])
        for r in conn.execute(TERRITORY_SEGMENTS, (territory_id,))
    ]


def applied_codes(conn: sqlite3.Connection, family: str = "ENJ") -> dict[int, set[str]]:
    """segment -> codes of `family` applied: analysts' decisions, else undecided suggestions."""
    codebook = store.current_codebook(conn)
    wanted = {c.id for c in codebook.codes if c.family == family} if codebook else set()
    decided = store.current_coding(conn)
    codes: dict[int, set[str]] = {}
    for (segment_id, code_id), applied in decided.items():
        if applied and code_id in wanted:
            codes.setdefault(segment_id, set()).add(code_id)
    for r in conn.execute("SELECT segment_id, code_id FROM suggestions"):
        key = (r["segment_id"], r["code_id"])
        if key not in decided and r["code_id"] in wanted:
            codes.setdefault(r["segment_id"], set()).add(r["code_id"])
    return codes


def actor_inputs(conn: sqlite3.Connection, territory: Territory) -> ActorInputs:
    codebook = store.current_codebook(conn)
    return ActorInputs(
        territory=territory,
        segments=territory_segments(conn, territory.id),
        participants=store.list_participants(conn, with_real_names=True),
        codebook_codes=list(codebook.codes) if codebook else [],
        codes_by_segment=applied_codes(conn),
    )
