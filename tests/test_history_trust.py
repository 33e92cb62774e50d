"""Trust in the decision history (issue 13): right coder, no bypass, foreign workbooks refused,
one identity per coder and per participant, interrupted steps visible. Real SQLite, real .xlsx."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe.errors import InputError, StudyError
from qualipipe.ingest.manifest import apply_manifest
from qualipipe.records import Action, Decision, Participant, Role
from qualipipe.review import workbook as wb
from qualipipe.review.agreement import agreement, study_coders
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review
from qualipipe.review.importer import import_decisions
from qualipipe.store import (
    append_decision,
    decision_history,
    list_participants,
    open_study,
    run_history,
    start_run,
    upsert_participant,
)
from tests.test_review import TURNS, add_transcript, fill, load_codebook, rows_by_segment, slot_of
from tests.test_review import study as study

REPO = Path(__file__).resolve().parents[1]


def claire_decides(study) -> None:
    ids = study.segment_ids
    with study.transaction() as conn:
        for segment, code, action in (
            (ids[1], "MOT_ANCRAGE", Action.ACCEPT),
            (ids[3], "BES_FINANCEMENT", Action.ACCEPT),
            (ids[3], "BES_LOCAUX", Action.REJECT),
            (ids[4], "BES_LOCAUX", Action.ACCEPT),
        ):
            append_decision(conn, Decision(segment, action, "Claire M.", code_id=code))
        append_decision(
            conn, Decision(ids[6], Action.COMMENT, "Claire M.", comment="À revoir ensemble.")
        )


def coders_of_history(study) -> list[str]:
    return [d.coder for d in decision_history(study.conn)]


# --- fault 1: another analyst's decisions recorded as the importer's -------------------------


def test_an_untouched_workbook_adds_nothing_under_the_importers_name(study, tmp_path) -> None:
    claire_decides(study)
    before = decision_history(study.conn)
    path = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "r.xlsx").path
    rows = rows_by_segment(path)
    financing = rows[study.segment_ids[3]]
    assert financing[f"Décision {slot_of(financing, 'BES_FINANCEMENT')}"] == "accepté par Claire M."

    result = import_decisions(study, path, "Alice")

    assert result.decisions_added == 0
    assert result.prefilled_ignored == 5  # four decisions and one comment, all Claire's
    assert decision_history(study.conn) == before
    with pytest.raises(StudyError, match="Alice"):
        agreement(study, coders=["Alice", "Claire M."])  # no fabricated 100 % agreement


def test_choosing_the_value_from_the_list_confirms_a_prefilled_decision(study, tmp_path) -> None:
    claire_decides(study)
    ids = study.segment_ids
    path = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "r.xlsx").path
    row = rows_by_segment(path)[ids[3]]
    financing = f"Décision {slot_of(row, 'BES_FINANCEMENT')}"
    premises = f"Décision {slot_of(row, 'BES_LOCAUX')}"
    fill(path, {ids[3]: {financing: "accepter", premises: "accepter"}})

    result = import_decisions(study, path, "Alice")

    alice = [d for d in decision_history(study.conn) if d.coder == "Alice"]
    assert {(d.code_id, d.action) for d in alice} == {
        ("BES_FINANCEMENT", Action.ACCEPT),  # confirmed
        ("BES_LOCAUX", Action.ACCEPT),  # changed (Claire rejected it)
    }
    assert result.prefilled_ignored == 3
    help_text = " ".join(
        str(r[0]) for r in load_workbook(path)[wb.HELP_SHEET].iter_rows(values_only=True) if r[0]
    )
    assert "accepté par Claire" in help_text and "confirmation explicite" in help_text


def test_a_workbook_exported_for_one_coder_stays_that_coders(study, tmp_path) -> None:
    claire_decides(study)
    path = export_review(
        study, ReviewFilter(territory="auxois", coder="claire m."), output=tmp_path / "c.xlsx"
    ).path
    row = rows_by_segment(path)[study.segment_ids[3]]
    assert row[f"Décision {slot_of(row, 'BES_FINANCEMENT')}"] == "accepter"  # her own: bare
    with pytest.raises(InputError, match="classeur pré-rempli pour claire m."):
        import_decisions(study, path, "Alice")
    assert "Alice" not in coders_of_history(study)
    # Claire herself re-importing her untouched workbook adds nothing either (no duplicates).
    assert import_decisions(study, path, "CLAIRE  M.").decisions_added == 0


# --- fault 2: the append-only history rewritten through SQL ---------------------------------

REWRITES = {
    "insert or replace": "INSERT OR REPLACE INTO decisions (id, segment_id, code_id, action, "
    "coder, decided_at) VALUES ({id}, {segment}, 'BES_LOCAUX', 'reject', 'Mallory', 'x')",
    "replace into": "REPLACE INTO decisions (id, segment_id, code_id, action, coder, decided_at) "
    "VALUES ({id}, {segment}, 'BES_LOCAUX', 'reject', 'Mallory', 'x')",
    "upsert": "INSERT INTO decisions (id, segment_id, code_id, action, coder, decided_at) "
    "VALUES ({id}, {segment}, 'BES_LOCAUX', 'reject', 'Mallory', 'x') "
    "ON CONFLICT(id) DO UPDATE SET coder = 'Mallory'",
    "insert or ignore": "INSERT OR IGNORE INTO decisions (id, segment_id, code_id, action, "
    "coder, decided_at) VALUES ({id}, {segment}, 'BES_LOCAUX', 'reject', 'Mallory', 'x')",
    "update": "UPDATE decisions SET coder = 'Mallory' WHERE id = {id}",
    "update or replace": "UPDATE OR REPLACE decisions SET action = 'reject' WHERE id = {id}",
    "delete": "DELETE FROM decisions WHERE id = {id}",
    "replace an import": "INSERT OR REPLACE INTO imports (id, file_name, file_hash, coder, "
    "imported_at) VALUES (1, 'f', 'h', 'Mallory', 'x')",
    "delete an import": "DELETE FROM imports",
}


@pytest.mark.parametrize("form", sorted(REWRITES))
def test_no_sql_write_form_rewrites_the_history(study, form: str) -> None:
    claire_decides(study)
    with study.transaction() as conn:
        conn.execute(
            "INSERT INTO imports (file_name, file_hash, coder, imported_at) "
            "VALUES ('r.xlsx', 'abc', 'Claire M.', 'x')"
        )
    db = study.config.db_path
    before = decision_history(study.conn)
    target = before[0]
    # A plain sqlite3 connection, as any SQLite tool would open the file (no qualipipe pragmas).
    raw = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(REWRITES[form].format(id=target.id, segment=target.segment_id))
        raw.commit()
        assert raw.execute("SELECT count(*) FROM imports").fetchone()[0] == 1
    finally:
        raw.close()
    assert decision_history(study.conn) == before


# --- fault 6: renamed / deleted columns, foreign workbooks ----------------------------------


def rename_header(path: Path, old: str, new: str | None) -> None:
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    for cell in sheet[1]:
        if cell.value == old:
            if new is None:
                sheet.delete_cols(cell.column)
            else:
                cell.value = new
            break
    book.save(path)


def test_a_renamed_column_is_named_once(study, tmp_path) -> None:
    path = export_review(study, ReviewFilter(), output=tmp_path / "r.xlsx").path
    rename_header(path, wb.COL_SEGMENT_ID, "identifiant")
    with pytest.raises(InputError) as refused:
        import_decisions(study, path, "Alice", partial=True)
    assert len(refused.value.problems) == 1
    assert "« id_segment » a été renommée « identifiant »" in str(refused.value)


def test_a_deleted_add_column_is_refused_by_name(study, tmp_path) -> None:
    path = export_review(study, ReviewFilter(), output=tmp_path / "r.xlsx").path
    rename_header(path, wb.add_header(3), None)
    with pytest.raises(InputError, match="« Code à ajouter 3 » a été supprimée"):
        import_decisions(study, path, "Alice")


def test_moved_columns_are_read_by_header(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "r.xlsx").path
    fill(path, {ids[5]: {wb.add_header(1): "TRANS_FREINS"}})
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    sheet.move_range(f"A1:A{sheet.max_row}", cols=sheet.max_column)  # "N°" to the far right
    sheet.delete_cols(1)
    book.save(path)
    assert import_decisions(study, path, "Alice").decisions_added == 1


def test_a_workbook_from_another_study_is_refused_as_a_whole(study, make_study, tmp_path) -> None:
    path = export_review(study, ReviewFilter(), output=tmp_path / "r.xlsx").path
    fill(path, {sid: {wb.add_header(1): "TRANS_FREINS"} for sid in study.segment_ids[1:3]})
    other = make_study(name="autre")
    # The same rows exist in the other study (same ids): without the identity check, --partial
    # would import them onto unrelated segments.
    with other.transaction():
        load_codebook(other)
        upsert_participant(other.conn, Participant("F1", "auxois", Role.FOUNDER, "F1"))
        add_transcript(other, "entretiens/auxois/f1.txt", "F1", "auxois", TURNS)
    db_before = other.config.db_path.read_bytes()
    for partial in (False, True):
        with pytest.raises(InputError, match="classeur d'une autre étude") as refused:
            import_decisions(other, path, "Alice", partial=partial)
        assert len(refused.value.problems) == 1
    assert decision_history(other.conn) == []
    assert other.config.db_path.read_bytes() == db_before


# --- fault 7: one identity per coder and per participant ------------------------------------


def test_coder_names_differing_by_case_or_spaces_are_one_coder(study, tmp_path) -> None:
    ids = study.segment_ids
    for name, code in (("alice", "BES_FINANCEMENT"), (" ALICE ", "BES_LOCAUX"), ("Alice", None)):
        path = export_review(
            study, ReviewFilter(territory="auxois"), output=tmp_path / f"{code}.xlsx"
        ).path
        if code:
            row = rows_by_segment(path)[ids[3]]
            fill(path, {ids[3]: {f"Décision {slot_of(row, code)}": "accepter"}})
            import_decisions(study, path, name)
    assert set(coders_of_history(study)) == {"alice"}  # the first spelling is the display form
    assert study_coders(study) == ["alice"]


def test_participant_ids_differing_by_case_are_one_participant(study, tmp_path) -> None:
    manifest = tmp_path / "participants.csv"
    header = "identifiant;nom;role;type_acteur;territoire;consentement;fichier\n"
    manifest.write_text(
        header + "SC-F01;Jeanne Roux;fondateur;autre;auxois;oui;sc-f01.txt\n",
        encoding="utf-8",
    )
    apply_manifest(study, manifest)
    manifest.write_text(
        header + "sc-f01;Jeanne Roux;fondateur;autre;auxois;oui;sc-f01.txt\n",
        encoding="utf-8",
    )
    report = apply_manifest(study, manifest)
    assert report.updated == ["SC-F01"] and report.added == []
    assert [p.id for p in list_participants(study.conn)].count("SC-F01") == 1
    assert "sc-f01" not in [p.id for p in list_participants(study.conn)]
    twice = tmp_path / "twice.csv"
    twice.write_text(
        header + "X-1;A B;acteur;autre;auxois;oui;\nx-1;C D;acteur;autre;auxois;oui;\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="« x-1 » en double"):
        apply_manifest(study, twice)


# --- fault 8: a killed step stays open forever ----------------------------------------------

KILLED_STEP = """
import sys, time
from qualipipe.store import open_study, start_run
study = open_study(sys.argv[1])
with study.transaction() as conn:
    start_run(conn, "ingest", {})
print("started", flush=True)
time.sleep(60)
"""


def test_a_killed_step_is_shown_as_interrupted_and_blocks_nothing(study) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_STEP, str(study.root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "started"
    assert run_history(study.conn)[0].state == "en cours"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(0.05)
    assert run_history(study.conn)[0].state == "interrompue"
    status = subprocess.run(
        [sys.executable, "-m", "qualipipe", "status", "-s", str(study.root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        check=True,
    )
    assert "Étape « ingest »" in status.stdout and "interrompue" in status.stdout
    with study.transaction() as conn:
        start_run(conn, "ingest", {})
    states = [r.state for r in run_history(study.conn)]
    assert states[:2] == ["en cours", "interrompue"]
    reopened = open_study(study.root)
    try:
        assert (
            reopened.conn.execute(
                "SELECT count(*) FROM runs WHERE interrupted_at IS NOT NULL"
            ).fetchone()[0]
            == 1
        )
    finally:
        reopened.close()


# --- issue 11: a caught failure inside a nested step leaves nothing of that step ------------


def test_a_caught_failure_in_a_nested_step_leaves_nothing_of_it(study) -> None:
    ids = study.segment_ids
    with study.transaction() as conn:
        append_decision(conn, Decision(ids[1], Action.ACCEPT, "Alice", code_id="MOT_ANCRAGE"))
        try:
            with study.transaction():
                append_decision(
                    conn, Decision(ids[3], Action.ACCEPT, "Alice", code_id="BES_LOCAUX")
                )
                conn.execute("INSERT INTO study_meta (key, value) VALUES ('demi', '1')")
                raise RuntimeError("panne au milieu de l'étape imbriquée")
        except RuntimeError:
            pass
        append_decision(conn, Decision(ids[4], Action.REJECT, "Alice", code_id="BES_LOCAUX"))
    kept = [(d.segment_id, d.code_id) for d in decision_history(study.conn)]
    assert kept == [(ids[1], "MOT_ANCRAGE"), (ids[4], "BES_LOCAUX")]
    assert study.conn.execute("SELECT 1 FROM study_meta WHERE key = 'demi'").fetchone() is None
