"""Review round trip on the example study (examples/etude-demo): real ingest, codebook, suggestions.

Two transcripts (one per territory) keep it fast.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe.records import Action
from qualipipe.review import workbook as wb
from qualipipe.store import decision_history, open_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"
FILES = ("sc_fondateur_01.txt", "ln_acteur_01.txt")


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


def ingested_example(tmp_path: Path):
    needed = [EXAMPLE / "qualipipe.toml", EXAMPLE / "participants.csv"]
    needed += [EXAMPLE / "entretiens" / name for name in FILES]
    needed.append(REPO / "codebooks/ptce.yaml")
    # The example study ships with the repository: a missing file is a failure, not a skip.
    assert all(path.exists() for path in needed), [p for p in needed if not p.exists()]
    root = tmp_path / "etude-demo"
    (root / "entretiens").mkdir(parents=True)
    shutil.copy(EXAMPLE / "qualipipe.toml", root)
    shutil.copy(EXAMPLE / "participants.csv", root)
    for name in FILES:
        shutil.copy(EXAMPLE / "entretiens" / name, root / "entretiens")
    run_cli(
        "ingest",
        str(root / "entretiens"),
        "--manifest",
        str(root / "participants.csv"),
        "-s",
        str(root),
    )
    run_cli("codebook", "load", str(REPO / "codebooks/ptce.yaml"), "-s", str(root))
    return open_study(root)


@pytest.fixture
def example_study(tmp_path: Path, nlp):
    """Ingested, codebook loaded, suggestions computed by the real coding step."""
    from qualipipe.coding.suggest import suggest_codes

    study = ingested_example(tmp_path)
    suggest_codes(study, progress=False)
    yield study
    study.close()


@pytest.fixture
def example_without_suggestions(tmp_path: Path):
    study = ingested_example(tmp_path)
    yield study
    study.close()


def real_names() -> list[str]:
    with (EXAMPLE / "participants.csv").open(encoding="utf-8-sig") as handle:
        return [row["nom"] for row in csv.DictReader(handle, delimiter=";") if row["nom"]]


def test_example_round_trip(example_study, tmp_path: Path) -> None:
    study = example_study
    root = str(study.root)
    first = tmp_path / "alice.xlsx"
    run_cli("review", "export", "-s", root, "--codeur", "Alice", "--sortie", str(first))

    book = load_workbook(first)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    cells = " ".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)
    for name in real_names():
        assert name not in cells  # pseudonyms only
    choices = [r[6] for r in book[wb.CODEBOOK_SHEET].iter_rows(min_row=2, values_only=True)]

    filled: set[tuple[int, str | None, Action, str]] = set()
    rows = [r for r in sheet.iter_rows(min_row=2) if r[headers.index("Code 1")].value][:6]
    assert len(rows) == 6
    for index, row in enumerate(rows):
        segment_id = int(row[headers.index(wb.COL_SEGMENT_ID)].value)
        first_code = wb.code_id_of(row[headers.index("Code 1")].value)
        word = "accepter" if index % 2 == 0 else "rejeter"
        row[headers.index("Décision 1")].value = word
        filled.add(
            (segment_id, first_code, Action.ACCEPT if word == "accepter" else Action.REJECT, "")
        )
        shown = {
            wb.code_id_of(row[headers.index(h)].value)
            for h in headers
            if h.startswith("Code ") and h[5:].isdigit() and row[headers.index(h)].value
        }
        extra = next(c for c in choices if wb.code_id_of(c) not in shown)
        if index < 3:
            row[headers.index("Code à ajouter 1")].value = extra
            filled.add((segment_id, wb.code_id_of(extra), Action.ADD, ""))
        if index == 0:
            row[headers.index(wb.COL_COMMENT)].value = "À discuter en équipe"
            filled.add((segment_id, None, Action.COMMENT, "À discuter en équipe"))
    book.save(first)

    run_cli("review", "import", str(first), "--coder", "Alice", "-s", root)
    history = decision_history(study.conn)
    assert {(d.segment_id, d.code_id, d.action, d.comment) for d in history} == filled
    assert {d.coder for d in history} == {"Alice"} and {d.origin for d in history} == {"alice.xlsx"}
    run_cli("review", "import", str(first), "--coder", "Alice", "-s", root)
    assert len(decision_history(study.conn)) == len(filled)

    again = tmp_path / "alice2.xlsx"
    run_cli("review", "export", "-s", root, "--codeur", "Alice", "--sortie", str(again))
    sheet2 = load_workbook(again)[wb.REVIEW_SHEET]
    shown: dict[tuple[int, str], str] = {}
    for row in sheet2.iter_rows(min_row=2, values_only=True):
        record = dict(zip(headers := [c.value for c in sheet2[1]], row, strict=True))
        k = 1
        while f"Code {k}" in record:
            if record[f"Code {k}"] and record[f"Décision {k}"]:
                key = (int(record[wb.COL_SEGMENT_ID]), wb.code_id_of(record[f"Code {k}"]))
                shown[key] = record[f"Décision {k}"]
            k += 1
    expected = {
        (s, c): "accepter" if a in (Action.ACCEPT, Action.ADD) else "rejeter"
        for s, c, a, _ in filled
        if c is not None
    }
    assert shown == expected


def test_example_analyst_decision_file_imports_cleanly(
    example_without_suggestions, tmp_path: Path
) -> None:
    example_study = example_without_suggestions
    source = EXAMPLE / "revue" / "decisions_analyste.csv"
    from qualipipe.review.importer import import_decisions

    lines = source.read_text(encoding="utf-8-sig").splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(";", 1)[0] in FILES]
    subset = tmp_path / "decisions_analyste.csv"
    subset.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = import_decisions(example_study, subset)
    assert result.rejected == () and result.decisions_added == len(kept) - 1
    assert len(decision_history(example_study.conn)) == len(kept) - 1


def test_example_reingest_of_a_corrected_transcript_keeps_every_decision(
    example_without_suggestions, tmp_path: Path
) -> None:
    study = example_without_suggestions
    root = str(study.root)
    exported = tmp_path / "revue.xlsx"
    run_cli(
        "review",
        "export",
        "-s",
        root,
        "--codeur",
        "Alice",
        "--ordre",
        "document",
        "--sortie",
        str(exported),
    )
    book = load_workbook(exported)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    transcript = study.root / "entretiens" / FILES[0]
    content = transcript.read_text(encoding="utf-8")
    # Decide on the first two segments of the first transcript whose text is found verbatim.
    # The source column shows the kind and the pseudonym, never the file name.
    pseudonym = study.conn.execute(
        "SELECT p.pseudonym FROM sources s JOIN participants p ON p.id = s.participant_id "
        "WHERE s.path LIKE ?",
        (f"%{FILES[0]}",),
    ).fetchone()[0]
    targets = []
    for row in sheet.iter_rows(min_row=2):
        text = str(row[headers.index(wb.COL_SEGMENT)].value)
        source = row[headers.index(wb.COL_SOURCE)].value
        if source == f"Entretien — {pseudonym}" and text[:60] in content:
            row[headers.index(wb.COL_COMMENT)].value = "vu"
            targets.append((row, text))
        if len(targets) == 2:
            break
    assert len(targets) == 2
    book.save(exported)
    run_cli("review", "import", str(exported), "--coder", "Alice", "-s", root)
    before = decision_history(study.conn)
    assert len(before) == 2

    # The transcript is corrected (first target's text changes) and ingested again.
    changed_row, changed_text = targets[0]
    transcript.write_text(
        content.replace(changed_text[:60], changed_text[:60] + " (précision ajoutée)", 1),
        encoding="utf-8",
    )
    run_cli("ingest", str(transcript), "-s", root)
    assert decision_history(study.conn) == before  # nothing removed or altered

    # A decision written on the old text is refused: that segment no longer exists.
    changed_row[headers.index("Code à ajouter 1")].value = None
    changed_row[headers.index(wb.COL_COMMENT)].value = "vu, puis corrigé"
    book.save(exported)
    from qualipipe.errors import InputError
    from qualipipe.review.importer import import_decisions

    with pytest.raises(InputError) as caught:
        import_decisions(study, exported, "Alice")
    (problem,) = caught.value.problems
    assert problem.line == changed_row[0].row and "n'existe plus" in problem.message
    assert decision_history(study.conn) == before
