"""Synthesis of the example study (examples/etude-demo): real ingest of its 14 interviews and
survey exports, the shared codebook, the analysts' 120 decisions, then `synthesize --all`.
Key figures are recomputed from the decision history; no manifest name may reach an output.
Skipped when the example study or an upstream stage is absent."""

from __future__ import annotations

import csv
import re
import shutil
import unicodedata
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from qualipipe import store
from qualipipe.records import Action, Role

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"
CODEBOOK = REPO / "codebooks" / "ptce.yaml"
DECISIONS = EXAMPLE / "revue" / "decisions_analyste.csv"


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    needed = [EXAMPLE / "qualipipe.toml", EXAMPLE / "participants.csv", CODEBOOK, DECISIONS]
    if not all(p.exists() for p in needed):
        pytest.skip("étude d'exemple incomplète")
    review = pytest.importorskip("qualipipe.review")
    root = tmp_path_factory.mktemp("exemple") / "etude-demo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("outils", "study.db*"))
    run_cli(
        "ingest",
        str(root / "entretiens"),
        "--manifest",
        str(root / "participants.csv"),
        "-s",
        str(root),
    )
    for export in sorted((root / "questionnaires").glob("*.csv")):
        instrument, territory = export.stem.split("__")
        run_cli("ingest", str(export), "--instrument", instrument, "-t", territory, "-s", str(root))
    run_cli("codebook", "load", str(CODEBOOK), "-s", str(root))
    study = store.open_study(root)
    result = review.import_decisions(study, DECISIONS)
    assert result.decisions_added == 120
    from qualipipe.synthesize import synthesize_study

    out = root.parent / "outputs" / root.name
    report = synthesize_study(
        study, out, include_comparison=True, with_figures=False, today="15/06/2026"
    )
    yield study, report, out
    study.close()


def validated_mentions(study: store.Study, territory: str) -> dict[str, dict[Role, set[str]]]:
    """code -> role -> participants, from the raw history (latest decision wins, all coders)."""
    conn = study.conn
    redirects = store.code_redirect_map(conn)
    latest: dict[tuple[int, str], bool] = {}
    for d in store.decision_history(conn):
        if d.code_id:
            latest[(d.segment_id, redirects.get(d.code_id, d.code_id))] = d.action in (
                Action.ACCEPT,
                Action.ADD,
            )
    rows = conn.execute(
        """SELECT s.id, s.is_interviewer, s.retired, p.id AS pid, p.role, p.territory_id
           FROM segments s JOIN sources src ON src.id = s.source_id
           JOIN participants p ON p.id = src.participant_id"""
    )
    who = {r["id"]: r for r in rows}
    result: dict[str, dict[Role, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (segment, code), applied in latest.items():
        r = who.get(segment)
        if (
            applied
            and r
            and not r["is_interviewer"]
            and not r["retired"]
            and r["territory_id"] == territory
        ):
            result[code][Role(r["role"])].add(r["pid"])
    return result


def sheet_rows(path: Path, sheet: str) -> list[dict[str, object]]:
    rows = list(load_workbook(path)[sheet].iter_rows(min_row=4, values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("territory", ["sud-creuse", "limoges-nord"])
def test_example_validated_figures_match_the_decisions(example, territory: str) -> None:  # noqa: ANN001
    study, report, out = example
    assert territory in report.territories
    expected = validated_mentions(study, territory)
    assert expected, "the analysts' decisions cover this territory"
    workbook = out / territory / "synthese.xlsx"
    seen = 0
    for family in ("MOT", "BES", "ENJ"):
        for row in sheet_rows(workbook, family):
            facts = expected.get(row["Code"], {})
            assert row["Fondateurs"] >= len(facts.get(Role.FOUNDER, ())), row["Code"]
            if row["Segments suggérés"] == 0:  # validated only: exact
                assert row["Fondateurs"] == len(facts.get(Role.FOUNDER, ())), row["Code"]
                assert row["Acteurs"] == len(facts.get(Role.ACTOR, ())), row["Code"]
                seen += 1
    assert seen > 0
    doc = Document(str(out / territory / "synthese.docx"))
    assert len(doc.tables) >= 8


def scan_texts(folder: Path) -> dict[Path, str]:
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".xlsx", ".docx"):
            with zipfile.ZipFile(path) as archive:
                texts[path] = "\n".join(
                    archive.read(n).decode("utf-8")
                    for n in archive.namelist()
                    if n.endswith(".xml")
                )
        elif path.suffix in (".md", ".gexf", ".graphml"):
            texts[path] = path.read_text(encoding="utf-8")
    return texts


def fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(c)
    )


def test_example_outputs_carry_no_manifest_name(example) -> None:  # noqa: ANN001
    _, _, out = example
    with (EXAMPLE / "participants.csv").open(encoding="utf-8-sig") as handle:
        names = [row["nom"] for row in csv.DictReader(handle, delimiter=";") if row["nom"]]
    pieces = {n for n in names} | {p for n in names for p in re.split(r"[\s-]+", n) if len(p) >= 4}
    pattern = re.compile(
        rf"(?<!\w)(?:{'|'.join(re.escape(fold(p)) for p in sorted(pieces))})(?!\w)"
    )
    texts = scan_texts(out)
    assert any(p.name == "comparaison.xlsx" for p in texts) and len(texts) >= 9
    for path, text in texts.items():
        assert not pattern.findall(fold(text)), (pattern.findall(fold(text))[:5], path)


def test_example_priorities_and_evaluation(example) -> None:  # noqa: ANN001
    _, _, out = example
    for territory in ("sud-creuse", "limoges-nord"):
        workbook = load_workbook(out / territory / "synthese.xlsx")
        assert "Priorités" in workbook.sheetnames and "Évaluation" in workbook.sheetnames
        rows = sheet_rows(out / territory / "synthese.xlsx", "Priorités")
        scores = [r["Score de Borda"] for r in rows]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0
