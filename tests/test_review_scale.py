"""Review at scale: an export reads what it writes, not the study; one uncertainty definition."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from qualipipe.cli import app
from qualipipe.records import Participant, Role, Suggestion
from qualipipe.review import workbook as wb
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review
from qualipipe.store import replace_suggestions, set_meta, upsert_participant
from tests.conftest import insert_lines_source
from tests.test_review import load_codebook

PARTICIPANTS = 120
LINES = 40  # per interview: every other line is the interviewer's


@pytest.fixture
def large_study(make_study):  # noqa: ANN001, ANN201
    """120 interviews of 40 lines (2,400 coded segments) with two suggestions on each."""
    study = make_study()
    with study.transaction():
        load_codebook(study)
        set_meta(study.conn, "thresholds", {"BES_LOCAUX": 0.4})
        pairs = []
        for n in range(PARTICIPANTS):
            territory = "auxois" if n % 2 else "besancon-nord"
            pid = f"P{n:03d}"
            upsert_participant(
                study.conn,
                Participant(pid, territory, Role.ACTOR, f"Acteur {n}", real_name=f"Jean Martin{n}"),
            )
            ids = insert_lines_source(
                study.conn,
                f"entretiens/{pid}.txt",
                [f"Ligne {i} de l'entretien {n} : les locaux manquent." for i in range(LINES)],
                speakers=["Enquêtrice" if i % 2 == 0 else "Acteur" for i in range(LINES)],
                interviewer=set(range(0, LINES, 2)),
                participant_id=pid,
                territory_id=territory,
                path=f"entretiens/{pid}.txt",
                format="txt",
            )
            for i, segment_id in enumerate(ids):
                if i % 2:
                    score = 0.3 + ((n * LINES + i) % 60) / 100
                    pairs.append((segment_id, "BES_LOCAUX", score))
                    pairs.append((segment_id, "ENJ_MOBILITE", 0.9))
        replace_suggestions(
            study.conn,
            sorted({p[0] for p in pairs}),
            [Suggestion(s, c, v, "combiné", "mots proches") for s, c, v in pairs],
            None,
        )
    return study


def count_fetched_rows(conn: sqlite3.Connection) -> list[int]:
    """Counts every row SQLite hands back to Python on this connection from now on."""
    counter = [0]
    base = conn.row_factory

    def counted(cursor: sqlite3.Cursor, row: tuple) -> object:
        counter[0] += 1
        return base(cursor, row) if base else row

    conn.row_factory = counted
    return counter


def test_one_participant_export_reads_only_that_participants_rows(large_study, tmp_path) -> None:  # noqa: ANN001
    counter = count_fetched_rows(large_study.conn)
    result = export_review(
        large_study, ReviewFilter(participant="Acteur 42"), output=tmp_path / "p.xlsx", limit=None
    )
    fetched = counter[0]
    mine = LINES // 2  # the participant's coded segments
    assert result.rows == mine
    total_segments = PARTICIPANTS * LINES
    # Per exported row a handful of reads (outline, neighbours, suggestions); the participants are
    # read whole once per pseudonymiser (every name must be hidden, speaker labels too) and once
    # for the rows.
    assert fetched <= 10 * mine + 3 * PARTICIPANTS + 150, fetched
    assert fetched < total_segments / 4
    sheet = load_workbook(result.path, read_only=True)[wb.REVIEW_SHEET]
    participants = {row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert participants == {"Acteur 42"}


def test_batch_takes_the_most_uncertain_rows_and_counts_the_rest(large_study, tmp_path) -> None:  # noqa: ANN001
    batch = export_review(large_study, output=tmp_path / "b.xlsx", limit=25)
    assert (batch.rows, batch.selected) == (25, PARTICIPANTS * LINES // 2)
    sheet = load_workbook(batch.path, read_only=True)[wb.REVIEW_SHEET]
    headers = [c.value for c in next(sheet.iter_rows(max_row=1))]
    rows = [
        dict(zip(headers, r, strict=False)) for r in sheet.iter_rows(min_row=2, values_only=True)
    ]
    # BES_LOCAUX's threshold is 0.4: the batch holds the scores closest to it, nothing certain.
    scores = [
        float(row[f"Score {k}"])
        for row in rows
        for k in (1, 2)
        if str(row[f"Code {k}"]).startswith("BES_LOCAUX")
    ]
    assert len(scores) == 25
    assert max(abs(score - 0.4) for score in scores) <= 0.02


def test_cli_prints_an_import_command_that_runs_as_pasted(
    large_study, tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    exported = runner.invoke(
        app, ["review", "export", "--study", str(large_study.root), "--lignes", "3"]
    )
    assert exported.exit_code == 0, exported.output
    assert "3 extraits" in exported.output
    assert "--tout" in exported.output  # the rest waits for another batch
    line = next(x for x in exported.output.splitlines() if x.startswith("qualipipe review import"))
    args = shlex.split(line.replace("VOTRE_NOM", "Alice"))
    workbook = Path(args[args.index("--study") + 2])
    assert workbook.is_absolute() and workbook.is_file()
    monkeypatch.chdir(Path("/"))  # pasted from anywhere
    imported = runner.invoke(app, args[1:])
    assert imported.exit_code == 0, imported.output
    assert "3 lignes lues" in imported.output


def test_review_workbook_larger_than_a_parsed_document_still_imports(
    large_study, tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    # Review workbooks are read streamed, so the size limit of documents parsed whole (here
    # lowered to 50 Ko: 1,200 rows make a larger sheet) does not refuse a big export.
    from qualipipe.review.importer import import_decisions
    from tests.test_review import fill

    exported = export_review(large_study, output=tmp_path / "tout.xlsx", limit=None)
    first = rows_of(exported.path)[0]
    fill(exported.path, {first: {"Décision 1": "accepter"}})
    monkeypatch.setenv("QUALIPIPE_MAX_XML_MO", "0.05")
    result = import_decisions(large_study, exported.path, "Alice")
    assert (result.rows_read, result.decisions_added) == (PARTICIPANTS * LINES // 2, 1)


def rows_of(path: Path) -> list[int]:
    sheet = load_workbook(path, read_only=True)[wb.REVIEW_SHEET]
    rows = sheet.iter_rows(values_only=True)
    headers = list(next(rows))
    return [int(row[headers.index(wb.COL_SEGMENT_ID)]) for row in rows]
