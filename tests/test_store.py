"""The study store: real SQLite file, transactions, migrations, append-only decisions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qualipipe import store
from qualipipe.records import Action, Decision, Participant, Role, Segment, Source, SourceKind


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def add_source_with_segment(study: store.Study) -> int:
    store.upsert_participant(
        study.conn,
        Participant(
            id="F1",
            territory_id="auxois",
            role=Role.FOUNDER,
            pseudonym="Fondateur·rice 1 — Auxois",
            real_name="Hélène Moreau",
        ),
    )
    text = "Enquêtrice : Pourquoi coopérer ?\nHélène : Parce que seuls on n'y arrive pas."
    source_id = store.insert_source(
        study.conn,
        Source(
            key="entretiens/f1.txt",
            kind=SourceKind.TRANSCRIPT,
            text=text,
            participant_id="F1",
            territory_id="auxois",
        ),
    )
    start = text.index("Parce")
    store.insert_segments(
        study.conn,
        source_id,
        [Segment(start=start, end=len(text), text=text[start:], speaker="Hélène")],
    )
    return source_id


def test_study_is_a_real_sqlite_file_in_wal_mode_with_foreign_keys(make_study) -> None:
    study = make_study()
    assert (study.root / "study.db").is_file()
    assert study.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert study.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version(study.conn) == store.SCHEMA_VERSION
    territories = [r["id"] for r in study.conn.execute("SELECT id FROM territories ORDER BY id")]
    assert territories == ["auxois", "besancon-nord"]


def test_a_step_failing_half_way_leaves_the_study_exactly_as_before(make_study) -> None:
    study = make_study()
    with study.transaction():
        add_source_with_segment(study)
    before = dump(study.root / "study.db")

    with pytest.raises(RuntimeError, match="panne simulée"), study.transaction():
        store.upsert_participant(
            study.conn,
            Participant(
                id="A1", territory_id="auxois", role=Role.ACTOR, pseudonym="Acteur·rice 1 — Auxois"
            ),
        )
        store.insert_source(
            study.conn,
            Source(
                key="entretiens/a1.txt",
                kind=SourceKind.TRANSCRIPT,
                text="Bonjour.",
                participant_id="A1",
                territory_id="auxois",
            ),
        )
        raise RuntimeError("panne simulée au milieu de l'étape")

    assert dump(study.root / "study.db") == before
    assert study.conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 1


def test_foreign_keys_reject_a_segment_of_an_unknown_source(make_study) -> None:
    study = make_study()
    with pytest.raises(sqlite3.IntegrityError), study.transaction():
        store.insert_segments(study.conn, 999, [Segment(start=0, end=3, text="abc")])


def test_decisions_are_append_only(make_study) -> None:
    study = make_study()
    with study.transaction():
        add_source_with_segment(study)
        segment_id = study.conn.execute("SELECT id FROM segments").fetchone()[0]
        store.append_decision(
            study.conn,
            Decision(
                segment_id=segment_id,
                action=Action.ACCEPT,
                coder="Claire",
                code_id="MOT_MUTUALISER",
            ),
        )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        study.conn.execute("UPDATE decisions SET action = 'reject'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        study.conn.execute("DELETE FROM decisions")
    assert [d.action for d in store.decision_history(study.conn)] == [Action.ACCEPT]


def test_current_coding_follows_the_latest_decision_and_code_redirects(make_study) -> None:
    study = make_study()
    with study.transaction():
        add_source_with_segment(study)
        seg = study.conn.execute("SELECT id FROM segments").fetchone()[0]
        for action, code in [
            (Action.ACCEPT, "ENJ_MOBILITE"),
            (Action.REJECT, "ENJ_MOBILITE"),
            (Action.ADD, "BES_LOCAUX"),
        ]:
            store.append_decision(
                study.conn, Decision(segment_id=seg, action=action, coder="Claire", code_id=code)
            )
        version = study.conn.execute(
            "INSERT INTO codebook_versions (name, version, content_hash, document, loaded_at) "
            "VALUES ('ptce', '2', 'x', '', 'now')"
        ).lastrowid
        study.conn.execute(
            "INSERT INTO code_redirects (codebook_version_id, old_code, new_code, change, created_at) "
            "VALUES (?, 'BES_LOCAUX', 'BES_FONCIER', 'fusionné', 'now')",
            (version,),
        )
    coding = store.current_coding(study.conn)
    assert coding == {(seg, "ENJ_MOBILITE"): False, (seg, "BES_FONCIER"): True}
    # The history itself is untouched: the merged code is still written as the analyst wrote it.
    assert [d.code_id for d in store.decision_history(study.conn)][-1] == "BES_LOCAUX"


def test_a_study_created_with_an_older_schema_is_migrated(make_study, tmp_path: Path) -> None:
    study = make_study()
    db_path = study.root / "study.db"
    study.close()
    db_path.unlink()
    # Build a version-1 store by hand, as an older qualipipe would have left it, with data in it.
    conn = store.connect(db_path)
    store.migrate(conn, target=1)
    conn.execute(
        "INSERT INTO territories (id, name, ptce_name, ptce_type, stage, setting) "
        "VALUES ('auxois', 'Auxois', 'Pôle', 'filière', 'émergent', 'rural')"
    )
    old_study = store.Study(study.config, conn)
    with old_study.transaction():
        add_source_with_segment(old_study)
        segment_id = conn.execute("SELECT id FROM segments").fetchone()[0]
        store.append_decision(
            conn, Decision(segment_id, Action.ACCEPT, "Claire", code_id="MOT_MUTUALISER")
        )
    history_before = store.decision_history(conn)
    conn.close()
    assert "nlp_cache" not in {
        r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master")
    }

    reopened = store.open_study(study.root)
    try:
        assert store.schema_version(reopened.conn) == store.SCHEMA_VERSION == len(store.MIGRATIONS)
        tables = {
            r[0] for r in reopened.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert "nlp_cache" in tables
        assert {"insee_communes", "cited_actor_statuses"} <= tables  # v4, issue 18
        assert reopened.conn.execute(
            "SELECT ptce_name FROM territories WHERE id='auxois'"
        ).fetchone()[0] == (
            "Pôle alimentaire de l'Auxois"  # data kept, then refreshed from qualipipe.toml
        )
        versions = [
            r[0]
            for r in reopened.conn.execute("SELECT version FROM schema_version ORDER BY version")
        ]
        assert versions == list(range(1, store.SCHEMA_VERSION + 1))
        # The analyst's work stored by the older version is all there.
        assert store.decision_history(reopened.conn) == history_before
        assert [
            p.real_name for p in store.list_participants(reopened.conn, with_real_names=True)
        ] == ["Hélène Moreau"]
        assert [s.text for s in store.active_segments(reopened.conn)] == [
            "Parce que seuls on n'y arrive pas."
        ]
        _check_v3_kinds_roles_and_references(reopened)
    finally:
        reopened.close()


def _check_v3_kinds_roles_and_references(study: store.Study) -> None:
    """After the v3 table rebuilds: new kinds and role accepted, references still enforced,
    decisions still append-only, indexes still there."""
    conn = study.conn
    with study.transaction():
        for kind in SourceKind:
            store.insert_source(
                conn, Source(key=f"k-{kind.value}", kind=kind, text="Texte.", territory_id="auxois")
            )
        store.upsert_participant(
            conn, Participant("C1", "auxois", Role.CONTRIBUTOR, "Contributeur·rice 1 — Auxois")
        )
    with pytest.raises(sqlite3.IntegrityError), study.transaction():
        store.insert_source(
            conn, Source(key="bad", kind=SourceKind.WRITTEN, text="x", territory_id="nulle-part")
        )
    with pytest.raises(sqlite3.IntegrityError), study.transaction():
        conn.execute(
            "INSERT INTO sources (key, kind, text, content_hash, ingested_at) "
            "VALUES ('k', 'lettre', 'x', 'h', 'now')"
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM decisions")
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"segments_source", "decisions_segment"} <= indexes
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_newer_schema_than_this_qualipipe_is_refused(make_study) -> None:
    study = make_study()
    study.conn.execute("INSERT INTO schema_version VALUES (99, 'futur')")
    with pytest.raises(store.StudyError, match="plus récent"):
        store.migrate(study.conn)


def test_an_upsert_updates_only_the_columns_it_is_told_to(make_study) -> None:
    # The same INSEE file loaded again under another name keeps its first reading (vintage,
    # rows), while its name and loading date follow the latest load.
    study = make_study()
    first = {
        "file_name": "comparateur.csv",
        "file_hash": "h1",
        "vintage": 2019,
        "years": "{}",
        "layout": "comparateur",
        "rows_read": 12,
        "loaded_at": "2026-01-01T00:00:00+00:00",
    }
    again = first | {"file_name": "copie.csv", "vintage": 2020, "rows_read": 0}
    again["loaded_at"] = "2026-02-01T00:00:00+00:00"
    with study.transaction() as conn:
        store.upsert_row(conn, "insee_files", first, key=["file_hash"])
        store.upsert_row(
            conn, "insee_files", again, key=["file_hash"], update=["file_name", "loaded_at"]
        )
    rows = study.conn.execute(
        "SELECT file_name, vintage, rows_read, loaded_at FROM insee_files"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("copie.csv", 2019, 12, "2026-02-01T00:00:00+00:00")]
    sql = "SELECT rows_read FROM insee_files WHERE file_hash = ?"
    assert store.first_value(study.conn, sql, ["h1"]) == 12
    assert store.first_value(study.conn, sql, ["nope"]) is None
