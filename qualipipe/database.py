"""SQLite mechanics of the study store: connection, migrations, French causes of SQLite
failures, and rows written from column lists (as sqlite-utils' insert/upsert).

`qualipipe.store` re-exports what stage modules use; this module knows no study record.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qualipipe.errors import StoreError, StudyError
from qualipipe.schema import MIGRATIONS, SCHEMA_VERSION


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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_coder(name: str) -> str:
    """A coder's name as typed, tidied: Unicode NFC, runs of spaces collapsed, ends trimmed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()


def coder_key(name: str | None) -> str:
    """Identity of a coder: `alice`, ` Alice ` and `ALICE` are the same person."""
    return clean_coder(name or "").casefold()


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so one CLI step == one transaction.
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.create_function("coder_key", 1, coder_key, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # REPLACE's implicit delete then fires DELETE triggers too (belt and braces for the history).
    conn.execute("PRAGMA recursive_triggers = ON")
    return conn


def first_value(conn: sqlite3.Connection, sql: str, parameters: Sequence[object] = ()) -> Any:
    """The first column of the first row the query returns, or None when it returns none."""
    row = conn.execute(sql, parameters).fetchone()
    return None if row is None else row[0]


def schema_version(conn: sqlite3.Connection) -> int:
    if not first_value(
        conn, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ):
        return 0
    return int(first_value(conn, "SELECT MAX(version) FROM schema_version") or 0)


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
    # are checked before the commit instead (SQLite's documented procedure).
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
        )
        for version in range(current + 1, target + 1):
            step = MIGRATIONS[version - 1]
            if step.apply is not None:
                step.apply(conn)
            # executescript() would COMMIT first: statements one by one stay in the transaction.
            for statement in _split_sql(step.sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, now_iso()))
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(f"Migration refusée : {len(broken)} référence(s) cassée(s).")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return target


def rollback(conn: sqlite3.Connection) -> None:
    # After SQLITE_FULL or SQLITE_IOERR, SQLite may already have rolled the transaction back;
    # a second ROLLBACK would hide the real cause behind « cannot rollback - no transaction ».
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# SQLite's messages for the failures an analyst can fix, and what to tell them.
_SQLITE_CAUSES = (
    ("disk is full", "disque plein", "libérez de la place sur le disque puis relancez"),
    (
        "readonly",
        "base en lecture seule",
        "vérifiez les droits d'écriture du dossier de l'étude (ou copiez-le ailleurs) puis relancez",
    ),
    (
        "locked",
        "base verrouillée par un autre programme",
        "attendez la fin de l'autre commande qualipipe (ou fermez le programme qui l'ouvre) "
        "puis relancez",
    ),
    ("disk i/o error", "erreur d'entrée-sortie", "vérifiez le disque ou le partage réseau"),
    ("unable to open", "base impossible à ouvrir", "vérifiez le chemin et les droits du dossier"),
)


def french_store_error(error: sqlite3.Error, db_path: Path) -> StoreError | None:
    """A one-line French StoreError for an environment failure of SQLite, None for others."""
    message = str(error).lower()
    for needle, cause, advice in _SQLITE_CAUSES:
        if needle in message:
            return StoreError(f"{db_path} : {cause} ; {advice}. L'étude est inchangée.")
    return None


# ---------------------------------------------------------------------------------------------
# Writing rows from column lists (as sqlite-utils' insert/upsert): no positional VALUES lists.
# ---------------------------------------------------------------------------------------------


def _quoted(columns: Iterable[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


def insert_row(conn: sqlite3.Connection, table: str, row: Mapping[str, object]) -> int:
    """INSERT one row given as {column: value}; return its rowid."""
    marks = ", ".join("?" for _ in row)
    cur = conn.execute(
        f'INSERT INTO "{table}" ({_quoted(row)}) VALUES ({marks})', tuple(row.values())
    )
    return int(cur.lastrowid or 0)


def upsert_rows(
    conn: sqlite3.Connection,
    table: str,
    rows: Iterable[Mapping[str, object]],
    key: Sequence[str],
    *,
    update: Sequence[str] | None = None,
) -> int:
    """Insert rows, or update the row with the same `key` columns: its `update` columns, by
    default every non-key column.

    Every row must have the same columns. Returns the number of rows written."""
    materialised = list(rows)
    if not materialised:
        return 0
    columns = list(materialised[0])
    updates = [c for c in columns if c not in key] if update is None else list(update)
    marks = ", ".join("?" for _ in columns)
    action = (
        "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in updates)
        if updates
        else "DO NOTHING"
    )
    conn.executemany(
        f'INSERT INTO "{table}" ({_quoted(columns)}) VALUES ({marks}) '
        f"ON CONFLICT({_quoted(key)}) {action}",
        [tuple(row[c] for c in columns) for row in materialised],
    )
    return len(materialised)


def upsert_row(
    conn: sqlite3.Connection,
    table: str,
    row: Mapping[str, object],
    key: Sequence[str],
    *,
    update: Sequence[str] | None = None,
) -> None:
    upsert_rows(conn, table, [row], key, update=update)
