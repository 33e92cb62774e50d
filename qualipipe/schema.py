"""The study schema: named forward migrations, applied in order and recorded in `schema_version`.

The store owns every table here; no other module runs DDL. A migration is a name and SQL text
run statement by statement inside the migration transaction, or a function for the table
rebuilds SQLite needs to change a constraint (`qualipipe.migrations`). New migrations go at the end of
`MIGRATIONS`; their position is their version number.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from qualipipe.migrations import migrate_v3


def append_only(table: str, rows: str) -> str:
    """Triggers refusing UPDATE and DELETE on `table`: its `rows` are a history, never rewritten."""
    refuse = f"BEGIN SELECT RAISE(ABORT, '{rows} are append-only'); END;"
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}\n{refuse}\n"
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}\n{refuse}\n"
    )


SCHEMA_V1 = (
    """
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
"""
    + append_only("decisions", "decisions")
    + """CREATE TABLE emergent_themes (
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
)

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
"""


# Studies migrated to v2 before `coding_segments` joined it created that table lazily: make sure
# it exists. Decision-independent matrices of the last `code` run (one row per snapshot key); they used to
# be stored in `nlp_cache` under a made-up pipeline name.
CODING_SNAPSHOTS = """
CREATE TABLE IF NOT EXISTS coding_segments (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id),
    run_id INTEGER REFERENCES runs(id),
    uncertainty REAL NOT NULL DEFAULT 0,
    coded_at TEXT NOT NULL
);
CREATE TABLE coding_snapshots (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    created_at TEXT NOT NULL
);
DELETE FROM nlp_cache WHERE pipeline = 'instantané-codage';
"""

# The decision history cannot be rewritten through SQL. UPDATE and DELETE triggers existed, but
# `INSERT OR REPLACE` / `REPLACE INTO` on an existing id deletes the old row without firing DELETE
# triggers (unless recursive_triggers is on): refuse any insert whose id is already taken. The
# same guards protect the import log the decisions point to.
HISTORY_GUARDS = """
CREATE TRIGGER decisions_no_replace BEFORE INSERT ON decisions
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM decisions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER imports_no_replace BEFORE INSERT ON imports
WHEN EXISTS (SELECT 1 FROM imports WHERE id = NEW.id
             OR (file_hash = NEW.file_hash AND coder = NEW.coder))
BEGIN SELECT RAISE(ABORT, 'imports are append-only'); END;
""" + append_only("imports", "imports")

# The study's identity, written into every review workbook so that a workbook exported from
# another study is refused as a whole.
STUDY_IDENTITY = """
INSERT INTO study_meta (key, value)
VALUES ('study_id', '"' || lower(hex(randomblob(16))) || '"')
ON CONFLICT(key) DO NOTHING;
"""

# Which process runs a step: a run left open by a killed process is shown as interrupted.
RUN_PROCESS = """
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN interrupted_at TEXT;
"""


# Issue 18: the territorial portrait's INSEE rows (« base du comparateur de territoires »):
# the study's communes with every variable under a year-free name (NULL = withheld by INSEE, never
# 0), the département totals of the loaded files, and the analysts' follow-up of the organisations
# cited in the texts (append-only, latest row per territory and organisation wins).
INSEE_AND_CITED_ACTORS = """
CREATE TABLE insee_files (
    id INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL,
    file_hash TEXT NOT NULL UNIQUE,
    vintage INTEGER NOT NULL,                 -- census year of the file, e.g. 2019
    years TEXT NOT NULL DEFAULT '{}',         -- JSON: census, previous, establishments, fiscal
    layout TEXT NOT NULL DEFAULT '',
    rows_read INTEGER NOT NULL DEFAULT 0,
    loaded_at TEXT NOT NULL
);
CREATE TABLE insee_communes (
    vintage INTEGER NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    departement TEXT NOT NULL,
    epci TEXT NOT NULL DEFAULT '',
    file_id INTEGER NOT NULL REFERENCES insee_files(id),
    pop REAL, pop_prev REAL, superf REAL, nais REAL, dece REAL, men REAL, log REAL, rp REAL,
    rsecocc REAL, logvac REAL, rp_prop REAL, nbmenfisc REAL, pimp REAL, med REAL, tp60 REAL,
    emplt REAL, emplt_sal REAL, emplt_prev REAL, pop1564 REAL, act1564 REAL, chom1564 REAL,
    ettot REAL, etaz REAL, etbe REAL, etfz REAL, etgu REAL, etgz REAL, etoq REAL, ettef1 REAL,
    ettefp10 REAL,
    PRIMARY KEY (vintage, code)
);
-- Sums over every commune of a département present in the loaded file (NULL when one is withheld).
CREATE TABLE insee_departements (
    vintage INTEGER NOT NULL,
    departement TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES insee_files(id),
    communes INTEGER NOT NULL,
    pop REAL, pop_prev REAL, superf REAL, nais REAL, dece REAL, men REAL, log REAL, rp REAL,
    rsecocc REAL, logvac REAL, rp_prop REAL, nbmenfisc REAL, emplt REAL, emplt_sal REAL,
    emplt_prev REAL, pop1564 REAL, act1564 REAL, chom1564 REAL, ettot REAL, etaz REAL,
    etbe REAL, etfz REAL, etgu REAL, etgz REAL, etoq REAL, ettef1 REAL, ettefp10 REAL,
    PRIMARY KEY (vintage, departement)
);
CREATE TABLE cited_actor_statuses (
    id INTEGER PRIMARY KEY,
    territory_id TEXT NOT NULL REFERENCES territories(id),
    actor_key TEXT NOT NULL,                  -- normalised name of the group of variants
    actor_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('', 'déjà associé', 'à contacter')),
    comment TEXT NOT NULL DEFAULT '',
    coder TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cited_actor_statuses_key ON cited_actor_statuses(territory_id, actor_key, id);
""" + append_only("cited_actor_statuses", "cited actor statuses")

# Issue 19: the analysts' préconisations, imported from the workbook written by
# `qualipipe report template`. Every import is kept (append-only); the latest import of a
# territory is its current set, the earlier ones are its history.
PRECONISATIONS = (
    """
CREATE TABLE preconisation_imports (
    id INTEGER PRIMARY KEY,
    territory_id TEXT NOT NULL REFERENCES territories(id),
    file_name TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    coder TEXT NOT NULL DEFAULT '',
    imported_at TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE preconisations (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES preconisation_imports(id),
    territory_id TEXT NOT NULL REFERENCES territories(id),
    number INTEGER NOT NULL,
    text TEXT NOT NULL CHECK (text <> ''),
    issues TEXT NOT NULL DEFAULT '[]',        -- JSON list of code ids
    actors TEXT NOT NULL DEFAULT '[]',        -- JSON list of actor names / types
    horizon TEXT NOT NULL CHECK (horizon IN ('court terme', 'moyen terme', 'long terme')),
    means TEXT NOT NULL DEFAULT '',
    indicator TEXT NOT NULL DEFAULT ''
);
CREATE INDEX preconisations_import ON preconisations(import_id, number);
"""
    + append_only("preconisation_imports", "préconisation imports")
    + append_only("preconisations", "préconisations")
)

# The person names spaCy found in each text (entity recogniser), keyed by text hash and model:
# computed once when `code` reads the texts, so that pseudonymising an export never runs spaCy.
PERSON_SPANS = """
CREATE TABLE person_spans (
    text_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    spans TEXT NOT NULL,                      -- JSON list of [start, end] character offsets
    PRIMARY KEY (text_hash, model)
);
"""


@dataclass(frozen=True)
class Migration:
    """One named schema step: SQL statements, or a function for table rebuilds."""

    name: str
    sql: str = ""
    apply: Callable[[sqlite3.Connection], None] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration("initial schema", SCHEMA_V1),
    Migration("nlp cache and coding state", SCHEMA_V2),
    Migration("source kinds, contributor role, optional territory fields", apply=migrate_v3),
    Migration("INSEE portrait and cited actors", INSEE_AND_CITED_ACTORS),
    Migration("préconisations", PRECONISATIONS),
    Migration("coding snapshots table", CODING_SNAPSHOTS),
    Migration("append-only guards against REPLACE", HISTORY_GUARDS),
    Migration("study identity", STUDY_IDENTITY),
    Migration("run process and interruption", RUN_PROCESS),
    Migration("person spans cache", PERSON_SPANS),
)
SCHEMA_VERSION = len(MIGRATIONS)
