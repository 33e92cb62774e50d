"""The study store: one SQLite file (`study.db`) beside `qualipipe.toml`.

Explicit schema, forward migrations recorded in `schema_version`, foreign keys on, WAL mode.
Every CLI step runs inside `Study.transaction()`: it completes, or the file is left as it was.

The `decisions` table is append-only (triggers refuse UPDATE and DELETE): the current coding is
derived from the history, never stored in place.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qualipipe.config import StudyConfig, load_config
from qualipipe.errors import StoreError, StudyError
from qualipipe.migrations import migrate_v3
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

SCHEMA_V1 = """
CREATE TABLE study_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE territories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ptce_name TEXT NOT NULL,
    ptce_type TEXT NOT NULL CHECK (ptce_type IN ('filière', 'généraliste')),
    stage TEXT NOT NULL CHECK (stage IN ('émergent', 'existant')),
    setting TEXT NOT NULL CHECK (setting IN ('rural', 'urbain')),
    communes TEXT NOT NULL DEFAULT '[]',     -- JSON list of INSEE codes (text)
    epci_siren TEXT NOT NULL DEFAULT '[]'    -- JSON list of SIREN (text)
);
CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    territory_id TEXT NOT NULL REFERENCES territories(id),
    role TEXT NOT NULL CHECK (role IN ('fondateur', 'acteur')),
    pseudonym TEXT NOT NULL UNIQUE,
    organisation TEXT NOT NULL DEFAULT '',
    actor_type TEXT NOT NULL DEFAULT 'autre',
    consent INTEGER NOT NULL DEFAULT 1,
    interview_date TEXT NOT NULL DEFAULT '',
    interviewer TEXT NOT NULL DEFAULT ''
);
-- Real names are personal data: kept apart so that outputs never join them by accident.
CREATE TABLE participant_identities (
    participant_id TEXT PRIMARY KEY REFERENCES participants(id) ON DELETE CASCADE,
    real_name TEXT NOT NULL
);
-- Closed survey answers, usable in syntheses (one value per participant, instrument, question).
CREATE TABLE participant_attributes (
    participant_id TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    instrument TEXT NOT NULL,
    question_code TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (participant_id, instrument, question_code)
);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,                 -- stable identity across re-ingests
    kind TEXT NOT NULL CHECK (kind IN ('transcript', 'survey')),
    participant_id TEXT REFERENCES participants(id),
    territory_id TEXT REFERENCES territories(id),
    path TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL DEFAULT '',
    instrument TEXT NOT NULL DEFAULT '',
    question_code TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    ingested_at TEXT NOT NULL
);
-- Segments are never deleted: a re-ingest keeps the rows whose text is unchanged (same id, new
-- offsets) and retires the others, so decisions always point at a real row.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    speaker TEXT NOT NULL DEFAULT '',
    is_interviewer INTEGER NOT NULL DEFAULT 0,
    section TEXT NOT NULL DEFAULT '',
    start_time REAL,
    end_time REAL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0,
    CHECK ("end" >= start)
);
CREATE INDEX segments_source ON segments(source_id, retired, ordinal);
CREATE INDEX segments_hash ON segments(text_hash);
CREATE TABLE codebook_versions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL,                   -- the codebook as loaded (YAML text)
    loaded_at TEXT NOT NULL
);
CREATE TABLE codes (
    codebook_version_id INTEGER NOT NULL REFERENCES codebook_versions(id),
    code_id TEXT NOT NULL,
    label TEXT NOT NULL,
    family TEXT NOT NULL,
    parent TEXT,
    definition TEXT NOT NULL DEFAULT '',
    include_rule TEXT NOT NULL DEFAULT '',
    exclude_rule TEXT NOT NULL DEFAULT '',
    expressions TEXT NOT NULL DEFAULT '[]',
    examples TEXT NOT NULL DEFAULT '[]',
    color TEXT,
    codable INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (codebook_version_id, code_id)
);
-- Codebook changes (rename, merge, split, removal with a destination): decisions stay as they
-- were written; the current coding follows these redirects.
CREATE TABLE code_redirects (
    id INTEGER PRIMARY KEY,
    codebook_version_id INTEGER NOT NULL REFERENCES codebook_versions(id),
    old_code TEXT NOT NULL,
    new_code TEXT NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('renommé', 'fusionné', 'scindé', 'supprimé')),
    created_at TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    step TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}'
);
-- Machine suggestions: replaced at every `qualipipe code` run, never mixed with decisions.
CREATE TABLE suggestions (
    segment_id INTEGER NOT NULL REFERENCES segments(id),
    code_id TEXT NOT NULL,
    score REAL NOT NULL,
    method TEXT NOT NULL,
    explanation TEXT NOT NULL DEFAULT '',
    model_version TEXT NOT NULL DEFAULT '',
    codebook_version_id INTEGER REFERENCES codebook_versions(id),
    run_id INTEGER REFERENCES runs(id),
    PRIMARY KEY (segment_id, code_id)
);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    coder TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0,
    UNIQUE (file_hash, coder)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    segment_id INTEGER NOT NULL REFERENCES segments(id),
    code_id TEXT,                              -- NULL only for a comment on the segment
    action TEXT NOT NULL CHECK (action IN ('accept', 'reject', 'add', 'comment')),
    coder TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT '',
    import_id INTEGER REFERENCES imports(id),
    codebook_version_id INTEGER REFERENCES codebook_versions(id),
    CHECK (code_id IS NOT NULL OR action = 'comment')
);
CREATE INDEX decisions_segment ON decisions(segment_id, code_id);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TABLE emergent_themes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    label TEXT NOT NULL,
    top_terms TEXT NOT NULL DEFAULT '[]',
    segment_ids TEXT NOT NULL DEFAULT '[]',
    spread TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
-- LimeSurvey: which survey id runs which instrument for which territory.
CREATE TABLE survey_deployments (
    instrument TEXT NOT NULL,
    territory_id TEXT NOT NULL REFERENCES territories(id),
    survey_id INTEGER NOT NULL,
    lss_hash TEXT NOT NULL DEFAULT '',
    deployed_at TEXT NOT NULL,
    PRIMARY KEY (instrument, territory_id)
);
CREATE TABLE survey_invitations (
    survey_id INTEGER NOT NULL,
    participant_id TEXT NOT NULL REFERENCES participants(id),
    token TEXT NOT NULL,
    tid INTEGER,
    invited_at TEXT,
    reminded_at TEXT,
    status TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (survey_id, participant_id)
);
CREATE TABLE survey_responses (
    survey_id INTEGER NOT NULL,
    response_id INTEGER NOT NULL,
    instrument TEXT NOT NULL,
    territory_id TEXT REFERENCES territories(id),
    participant_id TEXT REFERENCES participants(id),
    token TEXT NOT NULL DEFAULT '',
    submitted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,                       -- JSON: question code -> value
    data_hash TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (survey_id, response_id)
);
"""

# v2: the per-segment NLP cache (lemmas, POS, vectors), keyed by text hash and pipeline version,
# so that re-suggesting never re-runs spaCy on unchanged text.
SCHEMA_V2 = """
CREATE TABLE nlp_cache (
    text_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (text_hash, pipeline)
);
-- Coding state per segment (issue 6): last `code` run that scored it, and how much a decision on
-- it would teach the model (active learning order for the review export).
CREATE TABLE IF NOT EXISTS coding_segments (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id),
    run_id INTEGER REFERENCES runs(id),
    uncertainty REAL NOT NULL DEFAULT 0,
    coded_at TEXT NOT NULL
);
-- v2 extra tables: add above this line
"""


def _executescript_in_transaction(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; run statements one by one to stay inside the transaction.
    for statement in _split_sql(script):
        conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    lambda conn: _executescript_in_transaction(conn, SCHEMA_V1),
    lambda conn: _executescript_in_transaction(conn, SCHEMA_V2),
    migrate_v3,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so one CLI step == one transaction.
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to `target` in one transaction; return the new version."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StudyError(
            f"Cette étude utilise le schéma n°{current}, plus récent que cette version de qualipipe "
            f"(n°{SCHEMA_VERSION}). Mettez qualipipe à jour."
        )
    if current >= target:
        return current
    # Table rebuilds need foreign keys off (the pragma is a no-op inside a transaction); they
    # are checked before the commit instead.
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
        )
        for version in range(current + 1, target + 1):
            MIGRATIONS[version - 1](conn)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, now_iso()))
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(f"Migration refusée : {len(broken)} référence(s) cassée(s).")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return target


@dataclass
class Study:
    """An open study: its settings and a connection to its store."""

    config: StudyConfig
    conn: sqlite3.Connection

    @property
    def root(self) -> Path:
        return self.config.root

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One step, all or nothing. Nested use joins the outer transaction."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

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
        raise StudyError(
            f"La base {db_path} est illisible ou corrompue ({error}). "
            f"Restaurez une sauvegarde, ou supprimez-la puis relancez l'ingestion."
        ) from None
    study = Study(config=config, conn=conn)
    with study.transaction():
        sync_territories(study.conn, config.territories)
    return study


# ---------------------------------------------------------------------------------------------
# Typed reads and writes. Stage modules may run their own SQL for their own queries, but
# the basic records go through these helpers.
# ---------------------------------------------------------------------------------------------


def sync_territories(conn: sqlite3.Connection, territories: Iterable[Territory]) -> None:
    for t in territories:
        conn.execute(
            """INSERT INTO territories (id, name, ptce_name, ptce_type, stage, setting, communes, epci_siren)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET name=excluded.name, ptce_name=excluded.ptce_name,
                 ptce_type=excluded.ptce_type, stage=excluded.stage, setting=excluded.setting,
                 communes=excluded.communes, epci_siren=excluded.epci_siren""",
            (
                t.id,
                t.name,
                t.ptce_name,
                t.ptce_type,
                t.stage,
                t.setting,
                json.dumps(list(t.communes)),
                json.dumps(list(t.epci_siren)),
            ),
        )


def upsert_participant(conn: sqlite3.Connection, p: Participant) -> None:
    conn.execute(
        """INSERT INTO participants (id, territory_id, role, pseudonym, organisation, actor_type,
                                     consent, interview_date, interviewer)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET territory_id=excluded.territory_id, role=excluded.role,
             pseudonym=excluded.pseudonym, organisation=excluded.organisation,
             actor_type=excluded.actor_type, consent=excluded.consent,
             interview_date=excluded.interview_date, interviewer=excluded.interviewer""",
        (
            p.id,
            p.territory_id,
            p.role.value,
            p.pseudonym,
            p.organisation,
            p.actor_type,
            int(p.consent),
            p.interview_date,
            p.interviewer,
        ),
    )
    if p.real_name:
        conn.execute(
            """INSERT INTO participant_identities (participant_id, real_name) VALUES (?, ?)
               ON CONFLICT(participant_id) DO UPDATE SET real_name=excluded.real_name""",
            (p.id, p.real_name),
        )


def list_participants(
    conn: sqlite3.Connection, *, with_real_names: bool = False
) -> list[Participant]:
    rows = conn.execute(
        """SELECT p.*, COALESCE(i.real_name, '') AS real_name FROM participants p
           LEFT JOIN participant_identities i ON i.participant_id = p.id ORDER BY p.territory_id, p.id"""
    ).fetchall()
    return [
        Participant(
            id=r["id"],
            territory_id=r["territory_id"],
            role=Role(r["role"]),
            pseudonym=r["pseudonym"],
            real_name=r["real_name"] if with_real_names else "",
            organisation=r["organisation"],
            actor_type=r["actor_type"],
            consent=bool(r["consent"]),
            interview_date=r["interview_date"],
            interviewer=r["interviewer"],
        )
        for r in rows
    ]


def _source_values(source: Source) -> tuple[object, ...]:
    """Column values shared by insert and update, in SOURCE_COLUMNS order."""
    return (
        source.kind.value,
        source.participant_id,
        source.territory_id,
        source.path,
        source.format,
        source.instrument,
        source.question_code,
        source.text,
        text_hash(source.text),
        json.dumps(source.metadata, ensure_ascii=False),
        now_iso(),
    )


SOURCE_COLUMNS = (
    "kind, participant_id, territory_id, path, format, instrument, question_code, text, "
    "content_hash, metadata, ingested_at"
)


def insert_source(conn: sqlite3.Connection, source: Source) -> int:
    cur = conn.execute(
        f"INSERT INTO sources (key, {SOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (source.key, *_source_values(source)),
    )
    return int(cur.lastrowid or 0)


def update_source(conn: sqlite3.Connection, source_id: int, source: Source) -> None:
    """Replace a source's text and description in place (its id, key and segments stay)."""
    assignments = ", ".join(f"{column.strip()} = ?" for column in SOURCE_COLUMNS.split(","))
    conn.execute(
        f"UPDATE sources SET {assignments} WHERE id = ?", (*_source_values(source), source_id)
    )


def insert_segment(conn: sqlite3.Connection, source_id: int, ordinal: int, s: Segment) -> int:
    cur = conn.execute(
        """INSERT INTO segments (source_id, ordinal, start, "end", speaker, is_interviewer, section,
                                 start_time, end_time, text, text_hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            source_id,
            ordinal,
            s.start,
            s.end,
            s.speaker,
            int(s.is_interviewer),
            s.section,
            s.start_time,
            s.end_time,
            s.text,
            text_hash(s.text),
        ),
    )
    return int(cur.lastrowid or 0)


def insert_segments(
    conn: sqlite3.Connection, source_id: int, segments: Iterable[Segment]
) -> list[int]:
    return [insert_segment(conn, source_id, ordinal, s) for ordinal, s in enumerate(segments)]


def row_to_source(r: sqlite3.Row) -> Source:
    return Source(
        id=r["id"],
        key=r["key"],
        kind=SourceKind(r["kind"]),
        text=r["text"],
        participant_id=r["participant_id"],
        territory_id=r["territory_id"],
        path=r["path"],
        format=r["format"],
        instrument=r["instrument"],
        question_code=r["question_code"],
        metadata=json.loads(r["metadata"]),
    )


def row_to_segment(r: sqlite3.Row) -> Segment:
    return Segment(
        id=r["id"],
        source_id=r["source_id"],
        ordinal=r["ordinal"],
        start=r["start"],
        end=r["end"],
        text=r["text"],
        speaker=r["speaker"],
        is_interviewer=bool(r["is_interviewer"]),
        section=r["section"],
        start_time=r["start_time"],
        end_time=r["end_time"],
    )


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
        Code(
            id=r["code_id"],
            label=r["label"],
            family=r["family"],
            parent=r["parent"],
            definition=r["definition"],
            include=r["include_rule"],
            exclude=r["exclude_rule"],
            expressions=tuple(json.loads(r["expressions"])),
            examples=tuple(json.loads(r["examples"])),
            color=r["color"],
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
    cur = conn.execute(
        """INSERT INTO decisions (segment_id, code_id, action, coder, decided_at, comment, origin,
                                  import_id, codebook_version_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            d.segment_id,
            d.code_id,
            d.action.value,
            d.coder,
            d.decided_at or now_iso(),
            d.comment,
            d.origin,
            import_id,
            d.codebook_version_id or current_codebook_version_id(conn),
        ),
    )
    return int(cur.lastrowid or 0)


def decision_history(conn: sqlite3.Connection) -> list[Decision]:
    return [
        Decision(
            id=r["id"],
            segment_id=r["segment_id"],
            code_id=r["code_id"],
            action=Action(r["action"]),
            coder=r["coder"],
            decided_at=r["decided_at"],
            comment=r["comment"],
            origin=r["origin"],
            codebook_version_id=r["codebook_version_id"],
        )
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


def current_coding(
    conn: sqlite3.Connection, *, coder: str | None = None
) -> dict[tuple[int, str], bool]:
    """(segment, code) -> applied?, derived from the decision history.

    The latest decision per (segment, code) wins (per coder when `coder` is given; across all
    coders otherwise). Codes are resolved through the codebook redirects so that renames and
    merges carry decisions over without rewriting history.
    """
    redirects = code_redirect_map(conn)
    sql = "SELECT segment_id, code_id, action, coder FROM decisions WHERE code_id IS NOT NULL"
    params: list[object] = []
    if coder is not None:
        sql += " AND coder = ?"
        params.append(coder)
    coding: dict[tuple[int, str], bool] = {}
    for r in conn.execute(sql + " ORDER BY id", params):
        code = redirects.get(r["code_id"], r["code_id"])
        coding[(r["segment_id"], code)] = r["action"] in (Action.ACCEPT.value, Action.ADD.value)
    return coding


def start_run(
    conn: sqlite3.Connection, step: str, parameters: dict[str, object] | None = None
) -> int:
    cur = conn.execute(
        "INSERT INTO runs (step, started_at, parameters) VALUES (?, ?, ?)",
        (step, now_iso(), json.dumps(parameters or {}, ensure_ascii=False, default=str)),
    )
    return int(cur.lastrowid or 0)


def finish_run(conn: sqlite3.Connection, run_id: int, summary: dict[str, object]) -> None:
    conn.execute(
        "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
        (now_iso(), json.dumps(summary, ensure_ascii=False, default=str), run_id),
    )


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute(
        "INSERT INTO study_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (key, json.dumps(value, ensure_ascii=False)),
    )


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
