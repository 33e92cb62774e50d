"""Schema changes that rewrite tables (SQLite cannot alter a constraint in place).

`store.migrate` runs them in its one transaction, with foreign keys off and checked before
the commit (SQLite's documented table-rebuild procedure).
"""

from __future__ import annotations

import sqlite3

from qualipipe.errors import StoreError


def rebuild_table(conn: sqlite3.Connection, table: str, changes: dict[str, str]) -> None:
    """Apply text `changes` (old -> new) to a table's definition (a CHECK, say): SQLite cannot
    alter a constraint, so the table is rebuilt under its name, rows, indexes and triggers kept.

    Runs inside `migrate`, where foreign keys are off and checked before the commit (SQLite's
    documented procedure): the other tables' REFERENCES keep pointing at the table's name."""
    sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()[0]
    extras = [
        row[0]
        for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    for old, new in changes.items():
        if old not in sql:
            raise StoreError(f"Migration impossible : « {old} » absent de la table {table}.")
        sql = sql.replace(old, new)
    temporary = f"{table}_rebuilt"
    body = sql[sql.index("(") :]  # after `CREATE TABLE name` (quoted or not)
    conn.execute(f"CREATE TABLE {temporary} {body}")
    conn.execute(f"INSERT INTO {temporary} SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {temporary} RENAME TO {table}")
    for statement in extras:
        conn.execute(statement)


def migrate_v3(conn: sqlite3.Connection) -> None:
    """v3: written contributions, workshop notes and meeting reports as source kinds; citizens
    and contributors as a participant role; territories may leave PTCE, type, stage and setting
    empty (studies that are not PTCE diagnostics)."""
    rebuild_table(
        conn,
        "sources",
        {
            "CHECK (kind IN ('transcript', 'survey'))": (
                "CHECK (kind IN ('transcript', 'survey', 'written', 'workshop', 'report'))"
            )
        },
    )
    rebuild_table(
        conn,
        "participants",
        {
            "CHECK (role IN ('fondateur', 'acteur'))": (
                "CHECK (role IN ('fondateur', 'acteur', 'contributeur'))"
            )
        },
    )
    rebuild_table(
        conn,
        "territories",
        {
            "CHECK (ptce_type IN ('filière', 'généraliste'))": (
                "CHECK (ptce_type IN ('', 'filière', 'généraliste'))"
            ),
            "CHECK (stage IN ('émergent', 'existant'))": (
                "CHECK (stage IN ('', 'émergent', 'existant'))"
            ),
            "CHECK (setting IN ('rural', 'urbain'))": "CHECK (setting IN ('', 'rural', 'urbain'))",
        },
    )
