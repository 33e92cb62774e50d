"""Writing a table of written answers into the study (read and checked by `answer_tables`).

Respondents become participants (role contributeur) numbered by `assign_pseudonyms` like the
manifest's; short answers go to `participant_attributes` like closed survey answers; each answer
is stored by `store_source`, so a re-import writes nothing for unchanged answers and a corrected
answer keeps the decisions on its unchanged passages. All in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from qualipipe.ingest import reconcile
from qualipipe.ingest.answer_tables import (
    KEY_PREFIX,
    TABLE_FORMAT,
    AnswerTable,
    Respondent,
)
from qualipipe.ingest.manifest import ManifestEntry, assign_pseudonyms
from qualipipe.ingest.reconcile import NEW, UNCHANGED, UPDATED, LostDecision, SourceChange, Tally
from qualipipe.ingest.segment import SegmentationParams, SentenceSplitter, segment_answer
from qualipipe.ingest.tables import header_key
from qualipipe.records import Participant, Role, Source
from qualipipe.store import (
    Study,
    first_value,
    list_participants,
    row_to_source,
    text_hash,
    upsert_participant,
    upsert_row,
)

PROGRESS_EVERY = 25  # respondents between two progress updates


@dataclass
class TableIngestReport:
    path: str
    table: AnswerTable
    respondents: Tally = field(default_factory=Tally)
    attributes: int = 0
    sources: list[SourceChange] = field(default_factory=list)
    removed: list[SourceChange] = field(default_factory=list)  # cells emptied since last import

    @property
    def lost_decisions(self) -> list[LostDecision]:
        return [d for change in self.sources + self.removed for d in change.lost_decisions]

    @property
    def status(self) -> str:
        """The file's state: new at first import, unchanged when no answer changed."""
        statuses = {c.status for c in self.sources + self.removed}
        return UNCHANGED if statuses <= {UNCHANGED} else NEW if statuses == {NEW} else UPDATED

    def total(self, count: str) -> int:
        """Segments, kept, added or retired, over all the answers of the file."""
        return sum(int(getattr(change, count)) for change in self.sources + self.removed)

    def count(self, status: str) -> int:
        return sum(1 for s in self.sources if s.status == status)


# ---------------------------------------------------------------------------------------------


def participant_id(table: AnswerTable, respondent: Respondent) -> str:
    key = respondent.key.replace("ligne ", "L")
    return f"{table.namespace}-{key}"


def text_key(table: AnswerTable, respondent: Respondent, header: str) -> str:
    return f"{KEY_PREFIX}:{table.namespace}:{respondent.key}:{header_key(header)}"


def ingest_answer_table(
    study: Study,
    table: AnswerTable,
    *,
    relative_path: str,
    params: SegmentationParams,
    signature: str,
    splitter: SentenceSplitter | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> TableIngestReport:
    """Participants, attributes and texts of the table, in one transaction; `progress` gets
    (file name, respondents done, respondents) as the answers are cut and stored."""
    report = TableIngestReport(str(table.path), table)
    with study.transaction() as conn:
        existing = list_participants(conn, with_real_names=True)
        stored = {p.id: p for p in existing}
        entries = [
            ManifestEntry(
                Participant(
                    id=participant_id(table, r),
                    territory_id=r.territory_id,
                    role=Role.CONTRIBUTOR,
                    pseudonym="",
                    real_name=r.real_name,
                    actor_type=r.actor_type,
                ),
                row=r.row,
            )
            for r in table.respondents
        ]
        people = assign_pseudonyms(study.config, entries, existing)
        for participant in people:
            before = stored.get(participant.id)
            state = NEW if before is None else UPDATED if before != participant else UNCHANGED
            report.respondents.add(state)
            if state != UNCHANGED:
                upsert_participant(conn, participant)
        instrument = f"{KEY_PREFIX}:{table.namespace}"
        report.attributes = _store_attributes(study, table, people, instrument)
        written: set[str] = set()
        total = len(people)
        for done, (respondent, participant) in enumerate(
            zip(table.respondents, people, strict=True)
        ):
            if progress and done % PROGRESS_EVERY == 0:
                progress(table.path.name, done, total)
            for header, text in respondent.texts.items():
                source = Source(
                    key=text_key(table, respondent, header),
                    kind=table.kind,
                    text=text,
                    participant_id=participant.id,
                    territory_id=respondent.territory_id,
                    path=relative_path,
                    format=TABLE_FORMAT,
                    question_code=header,
                    metadata={
                        "file": table.path.name,
                        "question": header,
                        "respondent": respondent.key,
                    },
                )
                written.add(source.key)
                report.sources.append(
                    reconcile.unchanged_source(conn, source, signature=signature)
                    or reconcile.store_source(
                        conn,
                        source,
                        segment_answer(text, params=params, splitter=splitter),
                        signature=signature,
                    )
                )
        report.removed = _empty_removed_texts(study, table, written, signature)
    return report


def _store_attributes(
    study: Study, table: AnswerTable, people: list[Participant], instrument: str
) -> int:
    """Short answers as the respondents' attributes; only differences are written."""
    conn = study.conn
    stored = {
        (r[0], r[1]): r[2]
        for r in conn.execute(
            "SELECT participant_id, question_code, value FROM participant_attributes "
            "WHERE instrument = ?",
            (instrument,),
        )
    }
    wanted = {
        (participant.id, header): value
        for respondent, participant in zip(table.respondents, people, strict=True)
        for header, value in respondent.attributes.items()
    }
    for participant_key, header in stored.keys() - wanted.keys():
        conn.execute(
            "DELETE FROM participant_attributes WHERE participant_id = ? AND instrument = ? "
            "AND question_code = ?",
            (participant_key, instrument, header),
        )
    for (participant_key, header), value in wanted.items():
        if stored.get((participant_key, header)) != value:
            row = {
                "participant_id": participant_key,
                "instrument": instrument,
                "question_code": header,
                "value": value,
            }
            upsert_row(conn, "participant_attributes", row, key=list(row)[:3])
    return len(wanted)


def _empty_removed_texts(
    study: Study, table: AnswerTable, written: set[str], signature: str
) -> list[SourceChange]:
    """A cell emptied (or a row removed) in a corrected file: its answer leaves the study.

    An answer nobody decided on is deleted with its segments (it would otherwise still count as
    an analysed text); a respondent left without any text goes with it. An answer with analysts'
    decisions is emptied instead: its passages are retired, never deleted, and the decisions on
    them stay in the history and are listed."""
    conn = study.conn
    prefix = f"{KEY_PREFIX}:{table.namespace}:"
    removed = []
    orphans: set[str] = set()
    for row in conn.execute(
        "SELECT * FROM sources WHERE substr(key, 1, ?) = ? AND content_hash != ?",
        (len(prefix), prefix, text_hash("")),
    ).fetchall():
        if row["key"] in written:
            continue
        if _decided(conn, int(row["id"])):
            removed.append(reconcile.store_source(conn, _emptied(row), [], signature=signature))
            continue
        retired = _delete_source(conn, int(row["id"]))
        removed.append(SourceChange(row["key"], UPDATED, int(row["id"]), retired=retired))
        orphans.add(row["participant_id"])
    for participant in sorted(orphans - {None}):
        conn.execute(
            """DELETE FROM participants WHERE id = ?
               AND NOT EXISTS (SELECT 1 FROM sources WHERE participant_id = ?)
               AND NOT EXISTS (SELECT 1 FROM survey_responses WHERE participant_id = ?)
               AND NOT EXISTS (SELECT 1 FROM survey_invitations WHERE participant_id = ?)""",
            (participant,) * 4,
        )
    return removed


def _decided(conn: sqlite3.Connection, source_id: int) -> bool:
    sql = (
        "SELECT 1 FROM decisions d JOIN segments s ON s.id = d.segment_id "
        "WHERE s.source_id = ? LIMIT 1"
    )
    return first_value(conn, sql, (source_id,)) is not None


def _delete_source(conn: sqlite3.Connection, source_id: int) -> int:
    """Delete an undecided answer: its machine suggestions and coding state go with it."""
    segments = "(SELECT id FROM segments WHERE source_id = ?)"
    for dependent in ("suggestions", "coding_segments"):
        conn.execute(f"DELETE FROM {dependent} WHERE segment_id IN {segments}", (source_id,))
    active = conn.execute(
        "SELECT count(*) FROM segments WHERE source_id = ? AND retired = 0", (source_id,)
    ).fetchone()[0]
    conn.execute("DELETE FROM segments WHERE source_id = ?", (source_id,))
    conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    return int(active)


def _emptied(row: sqlite3.Row) -> Source:
    """The stored answer with its text emptied (`store_source` adds the segmentation back)."""
    source = row_to_source(row)
    metadata = {k: v for k, v in source.metadata.items() if k != "segmentation"}
    return replace(source, text="", metadata=metadata)
