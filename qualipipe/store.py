"""The study store: one SQLite file (`study.db`) beside `qualipipe.toml`.

The schema lives in `qualipipe.schema` as named forward migrations recorded in `schema_version`;
foreign keys on, WAL mode. Every CLI step runs inside `Study.transaction()`: it completes, or the
file is left as it was. A nested `transaction()` is a SAVEPOINT (as sqlite-utils' `atomic()`):
when it fails, its own writes are undone and the outer step may go on.

The `decisions` table is append-only (triggers refuse UPDATE, DELETE and REPLACE on an existing
id): the current coding is derived from the history, never stored in place.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from qualipipe.config import StudyConfig, load_config
from qualipipe.database import (
    clean_coder,
    coder_key,
    connect,
    first_value,
    french_store_error,
    insert_row,
    migrate,
    now_iso,
    rollback,
    schema_version,
    text_hash,
    upsert_row,
    upsert_rows,
)
from qualipipe.errors import StoreError, StudyError
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Decision,
    Participant,
    Role,
    Segment,
    Source,
    SourceKind,
    Suggestion,
    Territory,
)
from qualipipe.schema import MIGRATIONS, SCHEMA_VERSION

# Re-exported: stage modules and tests reach the schema through the store.
__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "first_value", "schema_version"]

R = TypeVar("R")


@dataclass
class Study:
    """An open study: its settings and a connection to its store."""

    config: StudyConfig
    conn: sqlite3.Connection
    _savepoints: int = field(default=0, repr=False)

    @property
    def root(self) -> Path:
        return self.config.root

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One step, all or nothing. Nested use is a SAVEPOINT: a failure inside it undoes its
        own writes only, and the caller decides whether the outer step goes on."""
        if self.conn.in_transaction:
            with self._savepoint():
                yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                rollback(self.conn)
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as error:
            rollback(self.conn)
            translated = french_store_error(error, self.config.db_path)
            if translated is None:
                raise
            raise translated from None

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"qualipipe_{self._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute(f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_study(root: Path | str, *, create: bool = False) -> Study:
    """Open (and migrate) the study in `root`; French errors for every way it can be unusable."""
    config = load_config(Path(root))
    db_path = config.db_path
    if not db_path.exists() and not create:
        # A study folder whose store was never created (or was deleted): create it, it is empty.
        create = True
    try:
        conn = connect(db_path)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        migrate(conn)
    except sqlite3.DatabaseError as error:
        translated = french_store_error(error, db_path)
        if translated is not None:
            raise translated from None
        raise StudyError(
            f"La base {db_path} est illisible ou corrompue ({error}). "
            f"Restaurez une sauvegarde, ou supprimez-la puis relancez l'ingestion."
        ) from None
    study = Study(config=config, conn=conn)
    if _territories_changed(conn, config.territories):
        # Only write when qualipipe.toml changed: reading a study must work on a read-only copy.
        with study.transaction():
            sync_territories(study.conn, config.territories)
    return study


# ---------------------------------------------------------------------------------------------
# Typed reads and writes. Stage modules may run their own SQL for their own queries, but
# the basic records go through these helpers.
# ---------------------------------------------------------------------------------------------


def _territory_row(t: Territory) -> dict[str, object]:
    return {
        "id": t.id,
        "name": t.name,
        "ptce_name": t.ptce_name,
        "ptce_type": t.ptce_type,
        "stage": t.stage,
        "setting": t.setting,
        "communes": json.dumps(list(t.communes)),
        "epci_siren": json.dumps(list(t.epci_siren)),
    }


def _territories_changed(conn: sqlite3.Connection, territories: Iterable[Territory]) -> bool:
    wanted = [_territory_row(t) for t in territories]
    stored = {
        r["id"]: dict(r)
        for r in conn.execute(
            "SELECT id, name, ptce_name, ptce_type, stage, setting, communes, epci_siren "
            "FROM territories"
        )
    }
    return any(stored.get(str(row["id"])) != row for row in wanted)


def sync_territories(conn: sqlite3.Connection, territories: Iterable[Territory]) -> None:
    upsert_rows(conn, "territories", [_territory_row(t) for t in territories], key=["id"])


def upsert_participant(conn: sqlite3.Connection, p: Participant) -> None:
    upsert_row(
        conn,
        "participants",
        {
            "id": p.id,
            "territory_id": p.territory_id,
            "role": p.role.value,
            "pseudonym": p.pseudonym,
            "organisation": p.organisation,
            "actor_type": p.actor_type,
            "consent": int(p.consent),
            "interview_date": p.interview_date,
            "interviewer": p.interviewer,
        },
        key=["id"],
    )
    if p.real_name:
        upsert_row(
            conn,
            "participant_identities",
            {"participant_id": p.id, "real_name": p.real_name},
            key=["participant_id"],
        )


def participant_ids_by_key(conn: sqlite3.Connection) -> dict[str, str]:
    """Case-folded identifier -> identifier as stored: `sc-f01` and `SC-F01` are one person."""
    return {str(r[0]).casefold(): str(r[0]) for r in conn.execute("SELECT id FROM participants")}


def list_participants(
    conn: sqlite3.Connection, *, with_real_names: bool = False
) -> list[Participant]:
    rows = conn.execute(
        """SELECT p.*, COALESCE(i.real_name, '') AS real_name FROM participants p
           LEFT JOIN participant_identities i ON i.participant_id = p.id ORDER BY p.territory_id, p.id"""
    ).fetchall()
    return [
        record_from_row(
            Participant,
            r,
            role=Role(r["role"]),
            real_name=r["real_name"] if with_real_names else "",
            consent=bool(r["consent"]),
        )
        for r in rows
    ]


def _update_row(conn: sqlite3.Connection, table: str, row_id: int, row: dict[str, object]) -> None:
    """UPDATE the columns of `row` ({column: value}) of the row with this id."""
    assignments = ", ".join(f'"{column}" = ?' for column in row)
    conn.execute(f'UPDATE "{table}" SET {assignments} WHERE id = ?', (*row.values(), row_id))


def record_from_row(cls: type[R], row: sqlite3.Row, **converted: object) -> R:
    """A record from the row's columns named as its fields (as sqlite-utils reads rows into
    dicts); `converted` gives the values that need a type or come from another column."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, object] = {k: row[k] for k in names.intersection(row.keys())}
    return cls(**{**values, **converted})


def _source_row(source: Source) -> dict[str, object]:
    """Columns shared by insert and update (not the key: a source keeps its identity)."""
    return {
        "kind": source.kind.value,
        "participant_id": source.participant_id,
        "territory_id": source.territory_id,
        "path": source.path,
        "format": source.format,
        "instrument": source.instrument,
        "question_code": source.question_code,
        "text": source.text,
        "content_hash": text_hash(source.text),
        "metadata": json.dumps(source.metadata, ensure_ascii=False),
        "ingested_at": now_iso(),
    }


def insert_source(conn: sqlite3.Connection, source: Source) -> int:
    return insert_row(conn, "sources", {"key": source.key, **_source_row(source)})


def update_source(conn: sqlite3.Connection, source_id: int, source: Source) -> None:
    """Replace a source's text and description in place (its id, key and segments stay)."""
    _update_row(conn, "sources", source_id, _source_row(source))


def _segment_place(ordinal: int, s: Segment) -> dict[str, object]:
    """Where a segment stands in its source's text (all but its text)."""
    return {
        "ordinal": ordinal,
        "start": s.start,
        "end": s.end,
        "speaker": s.speaker,
        "is_interviewer": int(s.is_interviewer),
        "section": s.section,
        "start_time": s.start_time,
        "end_time": s.end_time,
    }


def insert_segment(conn: sqlite3.Connection, source_id: int, ordinal: int, s: Segment) -> int:
    row = {"source_id": source_id, **_segment_place(ordinal, s), "text": s.text}
    return insert_row(conn, "segments", {**row, "text_hash": text_hash(s.text)})


def move_segment(conn: sqlite3.Connection, segment_id: int, ordinal: int, s: Segment) -> None:
    """Give a kept segment (same text: same id, same decisions) its place in the source's new
    text, active again if it had been retired."""
    _update_row(conn, "segments", segment_id, {**_segment_place(ordinal, s), "retired": 0})


def insert_segments(
    conn: sqlite3.Connection, source_id: int, segments: Iterable[Segment]
) -> list[int]:
    return [insert_segment(conn, source_id, ordinal, s) for ordinal, s in enumerate(segments)]


def row_to_source(r: sqlite3.Row) -> Source:
    return record_from_row(
        Source, r, kind=SourceKind(r["kind"]), metadata=json.loads(r["metadata"])
    )


def row_to_segment(r: sqlite3.Row) -> Segment:
    return record_from_row(Segment, r, is_interviewer=bool(r["is_interviewer"]))


def active_segments(conn: sqlite3.Connection, *, territory_id: str | None = None) -> list[Segment]:
    sql = """SELECT s.* FROM segments s JOIN sources src ON src.id = s.source_id
             WHERE s.retired = 0"""
    params: list[object] = []
    if territory_id:
        sql += " AND src.territory_id = ?"
        params.append(territory_id)
    sql += " ORDER BY s.source_id, s.ordinal"
    return [row_to_segment(r) for r in conn.execute(sql, params)]


def save_codebook_version(conn: sqlite3.Connection, codebook: Codebook, document: str) -> int:
    """Record a codebook version (idempotent on identical content); return its id."""
    digest = text_hash(document)
    existing = conn.execute(
        "SELECT id FROM codebook_versions WHERE content_hash = ? ORDER BY id DESC LIMIT 1",
        (digest,),
    ).fetchone()
    latest = current_codebook_version_id(conn)
    if existing and existing["id"] == latest:
        return int(existing["id"])
    cur = conn.execute(
        """INSERT INTO codebook_versions (name, version, content_hash, source_path, document, loaded_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (codebook.name, codebook.version, digest, codebook.path, document, now_iso()),
    )
    version_id = int(cur.lastrowid or 0)
    for c in codebook.codes:
        conn.execute(
            """INSERT INTO codes (codebook_version_id, code_id, label, family, parent, definition,
                                  include_rule, exclude_rule, expressions, examples, color, codable)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                version_id,
                c.id,
                c.label,
                c.family,
                c.parent,
                c.definition,
                c.include,
                c.exclude,
                json.dumps(list(c.expressions), ensure_ascii=False),
                json.dumps(list(c.examples), ensure_ascii=False),
                c.color,
                int(c.codable),
            ),
        )
    return version_id


def current_codebook_version_id(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT MAX(id) FROM codebook_versions").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def current_codebook(conn: sqlite3.Connection) -> Codebook | None:
    version_id = current_codebook_version_id(conn)
    if version_id is None:
        return None
    meta = conn.execute("SELECT * FROM codebook_versions WHERE id = ?", (version_id,)).fetchone()
    codes = tuple(
        record_from_row(
            Code,
            r,
            id=r["code_id"],
            include=r["include_rule"],
            exclude=r["exclude_rule"],
            expressions=tuple(json.loads(r["expressions"])),
            examples=tuple(json.loads(r["examples"])),
            codable=bool(r["codable"]),
        )
        for r in conn.execute(
            "SELECT * FROM codes WHERE codebook_version_id = ? ORDER BY rowid", (version_id,)
        )
    )
    return Codebook(
        name=meta["name"], version=meta["version"], codes=codes, path=meta["source_path"]
    )


def replace_suggestions(
    conn: sqlite3.Connection,
    segment_ids: Iterable[int],
    suggestions: Iterable[Suggestion],
    run_id: int | None,
) -> int:
    ids = list(segment_ids)
    conn.executemany("DELETE FROM suggestions WHERE segment_id = ?", [(i,) for i in ids])
    rows = [
        (
            s.segment_id,
            s.code_id,
            s.score,
            s.method,
            s.explanation,
            s.model_version,
            s.codebook_version_id,
            run_id,
        )
        for s in suggestions
    ]
    conn.executemany(
        """INSERT INTO suggestions (segment_id, code_id, score, method, explanation, model_version,
                                    codebook_version_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
    return len(rows)


def append_decision(conn: sqlite3.Connection, d: Decision, *, import_id: int | None = None) -> int:
    return insert_row(
        conn,
        "decisions",
        {
            "segment_id": d.segment_id,
            "code_id": d.code_id,
            "action": d.action.value,
            "coder": d.coder,
            "decided_at": d.decided_at or now_iso(),
            "comment": d.comment,
            "origin": d.origin,
            "import_id": import_id,
            "codebook_version_id": d.codebook_version_id or current_codebook_version_id(conn),
        },
    )


def decision_history(conn: sqlite3.Connection) -> list[Decision]:
    return [
        record_from_row(Decision, r, action=Action(r["action"]))
        for r in conn.execute("SELECT * FROM decisions ORDER BY id")
    ]


def code_redirect_map(conn: sqlite3.Connection) -> dict[str, str]:
    """old code -> current code, following chains (A renamed B, B merged into C ⇒ A → C)."""
    direct: dict[str, str] = {}
    for r in conn.execute("SELECT old_code, new_code FROM code_redirects ORDER BY id"):
        direct[r["old_code"]] = r["new_code"]
    resolved: dict[str, str] = {}
    for old in direct:
        seen = {old}
        target = direct[old]
        while target in direct and target not in seen:
            seen.add(target)
            target = direct[target]
        resolved[old] = target
    return resolved


@dataclass(frozen=True)
class CurrentDecision:
    """The latest decision on a (segment, code): applied or not, and whose it is."""

    applied: bool
    coder: str


def current_decisions(
    conn: sqlite3.Connection, *, coder: str | None = None
) -> dict[tuple[int, str], CurrentDecision]:
    """(segment, code) -> latest decision, derived from the history, with its coder.

    The latest decision per (segment, code) wins (of `coder` only when given — names compared
    without case or extra spaces; across all coders otherwise). Codes are resolved through the
    codebook redirects so that renames and merges carry decisions over without rewriting history.
    """
    redirects = code_redirect_map(conn)
    sql = "SELECT segment_id, code_id, action, coder FROM decisions WHERE code_id IS NOT NULL"
    params: list[object] = []
    if coder is not None:
        sql += " AND coder_key(coder) = ?"
        params.append(coder_key(coder))
    latest: dict[tuple[int, str], CurrentDecision] = {}
    for r in conn.execute(sql + " ORDER BY id", params):
        code = redirects.get(r["code_id"], r["code_id"])
        applied = r["action"] in (Action.ACCEPT.value, Action.ADD.value)
        latest[(r["segment_id"], code)] = CurrentDecision(applied, r["coder"])
    return latest


def current_coding(
    conn: sqlite3.Connection, *, coder: str | None = None
) -> dict[tuple[int, str], bool]:
    """(segment, code) -> applied?, the latest decision (see `current_decisions`)."""
    return {key: d.applied for key, d in current_decisions(conn, coder=coder).items()}


def known_coders(conn: sqlite3.Connection) -> dict[str, str]:
    """Coder key -> display form: the first spelling under which that coder was recorded."""
    coders: dict[str, str] = {}
    for r in conn.execute("SELECT coder FROM decisions GROUP BY coder ORDER BY MIN(id)"):
        coders.setdefault(coder_key(r[0]), r[0])
    return coders


def resolve_coder(conn: sqlite3.Connection, name: str) -> str:
    """The display form of coder `name`: how the history already spells them, else tidied."""
    return known_coders(conn).get(coder_key(name), clean_coder(name))


def start_run(
    conn: sqlite3.Connection, step: str, parameters: dict[str, object] | None = None
) -> int:
    close_interrupted_runs(conn)
    return insert_row(
        conn,
        "runs",
        {
            "step": step,
            "started_at": now_iso(),
            "parameters": json.dumps(parameters or {}, ensure_ascii=False, default=str),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        },
    )


def finish_run(conn: sqlite3.Connection, run_id: int, summary: dict[str, object]) -> None:
    conn.execute(
        "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
        (now_iso(), json.dumps(summary, ensure_ascii=False, default=str), run_id),
    )


def _process_alive(pid: int | None, host: str) -> bool:
    if pid is None or host != socket.gethostname():
        return host != socket.gethostname()  # another machine's run: cannot tell, assume alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupted_runs(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Runs never finished whose process is gone (killed, power cut), oldest first."""
    open_runs = conn.execute("SELECT * FROM runs WHERE finished_at IS NULL ORDER BY id").fetchall()
    return [
        r
        for r in open_runs
        if r["interrupted_at"] is not None or not _process_alive(r["pid"], r["host"] or "")
    ]


def close_interrupted_runs(conn: sqlite3.Connection) -> int:
    """Mark dead runs as interrupted (and finished) so that nothing waits on them."""
    stamp = now_iso()
    dead = [r["id"] for r in interrupted_runs(conn) if r["interrupted_at"] is None]
    conn.executemany(
        "UPDATE runs SET interrupted_at = ?, finished_at = ? WHERE id = ?",
        [(stamp, stamp, run_id) for run_id in dead],
    )
    return len(dead)


def run_history(conn: sqlite3.Connection, limit: int = 10) -> list[RunState]:
    """The latest runs with their state, newest first (for `qualipipe status`)."""
    dead = {r["id"] for r in interrupted_runs(conn)}
    states = []
    for r in conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)):
        if r["interrupted_at"] is not None or r["id"] in dead:
            state = "interrompue"
        elif r["finished_at"] is None:
            state = "en cours"
        else:
            state = "terminée"
        states.append(RunState(r["id"], r["step"], r["started_at"], state))
    return states


@dataclass(frozen=True)
class RunState:
    run_id: int
    step: str
    started_at: str
    state: str  # "terminée" | "en cours" | "interrompue"


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    upsert_row(
        conn, "study_meta", {"key": key, "value": json.dumps(value, ensure_ascii=False)}, ["key"]
    )


def study_identity(conn: sqlite3.Connection) -> str:
    """The study's random identifier (written into review workbooks to recognise them)."""
    return str(get_meta(conn, "study_id", ""))


def latest_comments(
    conn: sqlite3.Connection, coder: str | None = None
) -> dict[int, tuple[str, str]]:
    """Segment -> (latest comment, its coder); of `coder` only when given."""
    sql = "SELECT segment_id, comment, coder FROM decisions WHERE action = 'comment'"
    params: tuple[str, ...] = ()
    if coder:
        sql += " AND coder_key(coder) = ?"
        params = (coder_key(coder),)
    return {
        int(r["segment_id"]): (r["comment"], r["coder"])
        for r in conn.execute(sql + " ORDER BY id", params)
    }


def get_meta(conn: sqlite3.Connection, key: str, default: object = None) -> object:
    row = conn.execute("SELECT value FROM study_meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row["value"]) if row else default


def ensure_writable(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        raise StoreError(
            f"La base de l'étude est verrouillée ou en lecture seule ({error})."
        ) from None


# One chunk of `?` per query: SQLite bounds the host parameters of one statement.
NLP_CACHE_CHUNK = 500


def read_nlp_cache(
    conn: sqlite3.Connection, pipeline: str, hashes: Iterable[str]
) -> dict[str, bytes]:
    """What `pipeline` (a name carrying its model's version) found in these texts, by text hash;
    texts never analysed are left out."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), NLP_CACHE_CHUNK):
        chunk = wanted[start : start + NLP_CACHE_CHUNK]
        marks = ",".join("?" * len(chunk))
        for digest, data in conn.execute(
            f"SELECT text_hash, data FROM nlp_cache WHERE pipeline = ? AND text_hash IN ({marks})",
            [pipeline, *chunk],
        ):
            found[digest] = bytes(data)
    return found


def write_nlp_cache(
    conn: sqlite3.Connection, pipeline: str, data_by_hash: Iterable[tuple[str, bytes]]
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO nlp_cache (text_hash, pipeline, data) VALUES (?, ?, ?)",
        [(digest, pipeline, data) for digest, data in data_by_hash],
    )
