"""The livrable of the example study, read back from the .docx: real ingest of its interviews,
survey exports (workshop 1 on phones for Limoges Nord, workshop 2, evaluation), the typed
post-its of Sud Creuse, INSEE rows, the analysts' decisions, the filled préconisations workbook.
Headings, TOC and caption fields are checked in the document XML; counts against the input
files; no manifest name may appear anywhere in the documents."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from qualipipe import store
from qualipipe.ingest.workshop import POSTIT_SHEET, category_of
from qualipipe.records import Action, Decision
from qualipipe.report import LivrableWriter, write_bilan
from qualipipe.report.livrable import SECTIONS
from qualipipe.report.preconisations import COL_TEXT, ISSUE_COLUMNS, SHEET
from tests.conftest import output_texts

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"
POSTITS = EXAMPLE / "ateliers" / "postits__sud-creuse.xlsx"
PRECONISATIONS = EXAMPLE / "preconisations" / "preconisations__sud-creuse.xlsx"
ATELIER_CSV = EXAMPLE / "questionnaires" / "atelier_vision__limoges-nord.csv"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# The analyst's coding of the workshop notes, by the theme written on the post-it / the question.
THEME_CODES = {
    "Alimentation": "ENJ_ALIMENTATION",
    "Mobilité": "ENJ_MOBILITE",
    "Emploi et insertion": "ENJ_EMPLOI_INSERTION",
    "Transition écologique": "ENJ_TRANSITION_ECOLOGIQUE",
    "Logement": "ENJ_LOGEMENT",
    "Accès aux services": "ENJ_SERVICES",
    "Tissu économique": "ENJ_TISSU_ECONOMIQUE",
    "Coopération entre acteurs": "TRANS_COOPERATIONS",
}


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


def code_workshop_notes(study: store.Study) -> None:
    """An analyst codes each workshop note with the code of its theme."""
    rows = study.conn.execute(
        """SELECT s.id, s.section, src.metadata FROM segments s JOIN sources src ON src.id = s.source_id
           WHERE src.kind = 'workshop' AND s.retired = 0"""
    ).fetchall()
    with study.transaction() as conn:
        for r in rows:
            theme = r["section"].split(" · ", 1)[1] if " · " in r["section"] else ""
            theme = theme or json.loads(r["metadata"]).get("theme", "")
            if theme in THEME_CODES:
                store.append_decision(
                    conn, Decision(r["id"], Action.ADD, "Claire M.", code_id=THEME_CODES[theme])
                )


@pytest.fixture(scope="module")
def livrables(example_module_copy: Path):
    """The session's example study (interviews and codebook already in) with everything else
    the livrable draws on, and the two livrables and the bilan written from it."""
    root = example_module_copy
    s = str(root)
    for export in sorted((root / "questionnaires").glob("*.csv")):
        instrument, territory = export.stem.split("__")
        run_cli("ingest", str(export), "--instrument", instrument, "-t", territory, "-s", s)
    run_cli("report", "atelier-import", str(root / "ateliers" / POSTITS.name), "-t", "sud-creuse", "-s", s)  # fmt: skip
    run_cli("territory", "load", *map(str, sorted((root / "insee").glob("*.csv"))), "-s", s)
    run_cli("review", "import", str(root / "revue" / "decisions_analyste.csv"), "-s", s)
    run_cli("report", "import", str(root / "preconisations" / PRECONISATIONS.name), "-t", "sud-creuse", "-s", s)  # fmt: skip
    study = store.open_study(root)
    code_workshop_notes(study)
    out = root.parent / "sorties"
    writer = LivrableWriter(study, out, today="15/10/2026")
    reports = {t: writer.write(t) for t in ("sud-creuse", "limoges-nord")}
    # As `report --all --bilan`: the bilan is cut out of the study the livrables have read.
    bilan = write_bilan(study, out, today="15/10/2026", snapshot=writer.context.snapshot)
    yield study, reports, bilan, out
    study.close()


def headings(doc) -> list[str]:
    return [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]


def fields(path: Path) -> list[tuple[str, str]]:
    """(instruction, stored result) of every complex field, in document order."""
    body = Document(str(path)).element.body
    found, instruction, result, state = [], "", "", ""
    for element in body.iter():
        if element.tag == f"{W}fldChar":
            kind = element.get(f"{W}fldCharType")
            if kind == "begin":
                instruction, result, state = "", "", "instr"
            elif kind == "separate":
                state = "result"
            elif kind == "end":
                found.append((instruction.strip(), result))
                state = ""
        elif element.tag == f"{W}instrText" and state == "instr":
            instruction += element.text or ""
        elif element.tag == f"{W}t" and state == "result":
            result += element.text or ""
    return found


def test_livrable_has_the_report_sections_in_order_a_toc_and_numbered_captions(livrables) -> None:
    _, reports, _, _ = livrables
    for report in reports.values():
        doc = Document(str(report.path))
        assert headings(doc) == list(SECTIONS)
        assert doc.paragraphs[0].text == "" and any(p.style.name == "Title" for p in doc.paragraphs)
        found = fields(report.path)
        toc = [r for i, r in found if i.startswith("TOC")]
        assert len(toc) == 1 and "5. Vision partagée (atelier 1)" in toc[0]
        for label, count in (("Tableau", report.tables), ("Figure", report.figures)):
            numbers = [r for i, r in found if i.startswith(f"SEQ {label}")]
            assert numbers == [str(n) for n in range(1, count + 1)]
        captions = [p.text for p in doc.paragraphs if p.style.name == "Caption"]
        assert len(captions) == report.tables + report.figures
        assert all(re.match(r"^(Tableau|Figure) \d+ : \S", c) for c in captions)
        # A figure's caption comes right below it and never starts a page alone.
        for before, caption in zip(doc.paragraphs, doc.paragraphs[1:], strict=False):
            if caption.style.name == "Caption" and caption.text.startswith("Figure"):
                assert before._p.xpath(".//w:drawing") and before.paragraph_format.keep_with_next
    assert reports["sud-creuse"].figures >= 2  # actor map, workshop-2 matrix (+ portrait charts)


def test_every_preconisation_of_the_workbook_is_there_with_its_evidence(livrables) -> None:
    study, reports, _, _ = livrables
    ws = load_workbook(PRECONISATIONS)[SHEET]
    headers = [c.value for c in ws[1]]
    filled = [
        {h: v for h, v in zip(headers, row, strict=False)}
        for row in ws.iter_rows(min_row=2, values_only=True)
        if row[headers.index(COL_TEXT)]
    ]
    assert len(filled) == reports["sud-creuse"].preconisations == 4
    doc = Document(str(reports["sud-creuse"].path))
    text = "\n".join(p.text for p in doc.paragraphs)
    tables = {t.rows[0].cells[0].text: t for t in doc.tables}
    labels = {c.id: c.label for c in store.current_codebook(study.conn).codes}
    for number, row in enumerate(filled, start=1):
        assert row[COL_TEXT] in text
        first = row[ISSUE_COLUMNS[0]].split(" — ")[0]
        assert f"Préconisation {number} — {labels[first]}" in headings_2(doc)
        # Evidence: the caption, and one row per issue answered with its priority rank.
        assert f"Préconisation {number} : les enjeux qu'elle traite" in text
        codes = [row[h].split(" — ")[0] for h in ISSUE_COLUMNS if row.get(h)]
        evidence = [t for t in doc.tables if t.rows[0].cells[0].text == "Enjeu" and t.rows[1].cells[0].text == labels[codes[0]]]  # fmt: skip
        assert evidence and [r.cells[0].text for r in evidence[0].rows[1:]] == [labels[c] for c in codes]  # fmt: skip
        for code, r in zip(codes, evidence[0].rows[1:], strict=True):
            assert r.cells[4].text.isdigit()  # interviewees who raise it
            if code.startswith("ENJ_"):  # issues have a priority rank; needs (BES) do not
                assert r.cells[1].text.isdigit(), (code, r.cells[1].text)
    assert text.count("Ce qu'en disent les personnes rencontrées") == 4
    assert tables  # the document has tables at all
    # Limoges Nord has no préconisations: the section says so and names the commands.
    other = "\n".join(p.text for p in Document(str(reports["limoges-nord"].path)).paragraphs)
    assert "Aucune préconisation importée" in other and "qualipipe report template -t limoges-nord" in other  # fmt: skip
    assert "7. Préconisations" in reports["limoges-nord"].sections_missing


def headings_2(doc) -> list[str]:
    return [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]


def afom_counts(path: Path) -> dict[str, int]:
    """Notes per AFOM quadrant as printed in the livrable's matrix."""
    doc = Document(str(path))
    counts = {}
    for table in doc.tables:
        for cell in (c for row in table.rows for c in row.cells):
            match = re.match(r"^(Atouts|Faiblesses|Opportunités|Menaces) — (\d+) note", cell.text)
            if match:
                counts[match.group(1).lower()] = int(match.group(2))
    return counts


def test_afom_matrix_counts_equal_an_independent_count_of_the_inputs(livrables) -> None:
    _, reports, _, _ = livrables
    ws = load_workbook(POSTITS)[POSTIT_SHEET]
    typed = Counter(category_of(str(row[1])) for row in ws.iter_rows(min_row=2, values_only=True) if row[3])  # fmt: skip
    assert afom_counts(reports["sud-creuse"].path) == {
        q: typed[q] for q in ("atouts", "faiblesses", "opportunités", "menaces")
    }
    # Limoges Nord: one note per non-empty V01…V04 answer (short answers: one sentence each).
    with ATELIER_CSV.open(encoding="utf-8-sig", newline="") as handle:
        answers = list(csv.DictReader(handle, delimiter=";"))
    expected = {
        q: sum(1 for a in answers for column, v in a.items() if column.startswith(f"{code}[") and v)
        for q, code in (("atouts", "V01"), ("faiblesses", "V02"), ("opportunités", "V03"), ("menaces", "V04"))
    }  # fmt: skip
    assert afom_counts(reports["limoges-nord"].path) == expected
    # Themes: the analyst coded each post-it by its theme; "Alimentation" leads the strengths.
    doc = Document(str(reports["sud-creuse"].path))
    strengths = next(c.text for t in doc.tables for r in t.rows for c in r.cells if c.text.startswith("Atouts —"))  # fmt: skip
    food = sum(1 for row in ws.iter_rows(min_row=2, values_only=True) if row[3] and category_of(str(row[1])) == "atouts" and row[2] == "Alimentation")  # fmt: skip
    assert f"Alimentation et agriculture : {food}" in strengths.split("\n")[1]


def test_portrait_and_comparison_with_the_interviews(livrables) -> None:
    _, reports, _, _ = livrables
    doc = Document(str(reports["sud-creuse"].path))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Portrait non disponible" not in text  # INSEE rows of the example are loaded
    assert "Entretiens et atelier 1 : enjeux et besoins soulevés d'un côté seulement" in text
    assert "2. Portrait du territoire" not in reports["sud-creuse"].sections_missing


def test_no_real_name_anywhere_in_the_livrables_and_the_bilan(livrables) -> None:
    study, reports, bilan, out = livrables
    people = store.list_participants(study.conn, with_real_names=True)
    names = {p.real_name for p in people} | {"Claire Morel", "Julien Barreau"}
    texts = output_texts(out)
    assert {r.path for r in reports.values()} | {bilan} <= set(texts)
    for path, content in texts.items():
        for name in names:
            assert name not in content, (path.name, name)
    # The inputs do name people: the post-its quote a founder by her full name.
    typed = [str(r[3]) for r in load_workbook(POSTITS)[POSTIT_SHEET].iter_rows(values_only=True)]
    assert any("Martine Lavaud" in t for t in typed)


def test_bilan_puts_the_pilots_side_by_side(livrables) -> None:
    _, _, bilan, _ = livrables
    doc = Document(str(bilan))
    side = doc.tables[0]
    assert [c.text for c in side.rows[0].cells][1:] == ["Sud Creuse", "Limoges Nord"]
    rows = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in side.rows}
    assert rows["Entretiens analysés"] == ["7", "7"]
    assert rows["Préconisations importées"] == ["4", "0"]
    assert any(t.rows[0].cells[0].text == "Question" for t in doc.tables)  # evaluation scores


def test_the_bilan_alone_reads_the_study_and_says_the_same(livrables, tmp_path: Path) -> None:
    study, _, bilan, _ = livrables
    alone = write_bilan(study, tmp_path, today="15/10/2026")  # as `report --bilan`
    body = [zipfile.ZipFile(path).read("word/document.xml") for path in (alone, bilan)]
    assert body[0] == body[1] and b"Sud Creuse" in body[0]


def test_the_synthesis_gains_the_afom_matrix_and_the_comparison(livrables) -> None:
    from qualipipe.synthesize import synthesize_study

    study, reports, _, out = livrables
    synthesize_study(study, out / "synthese", territory="sud-creuse", with_figures=False)
    workbook = load_workbook(out / "synthese" / "sud-creuse" / "synthese.xlsx")
    matrix = workbook["Matrice AFOM"]
    rows = {r[0]: r[1] for r in matrix.iter_rows(min_row=5, values_only=True) if r[0]}
    assert {k.lower(): v for k, v in rows.items()} == afom_counts(reports["sud-creuse"].path)
    assert "Entretiens et atelier 1" in workbook.sheetnames


def test_portrait_tables_keep_their_words_whole_and_short_tables_move_whole(livrables) -> None:
    from docx.oxml.ns import qn

    from qualipipe.synthesize import docx_report as dr

    _, reports, _, _ = livrables
    doc = Document(str(reports["sud-creuse"].path))
    establishments = next(t for t in doc.tables if t.rows[0].cells[0].text == "Secteur d'activité")
    # Eight columns do not fit side by side at 8 pt: 7 pt, and every column at least as wide as
    # its longest word measured in the table font (no « Établissement-s » over two lines).
    header, *rows = [[c.text for c in r.cells] for r in establishments.rows]
    sizes = {run.font.size.pt for c in establishments.rows[0].cells for run in c.paragraphs[0].runs}
    assert sizes == {7.0}
    for j, column in enumerate(establishments.columns):
        word = max(
            dr.longest_word([header[j]], bold=True, size=7.0),
            dr.longest_word([r[j] for r in rows], bold=j == 0, size=7.0),
        )
        assert column.width.pt >= word + 8, (header[j], column.width.pt, word)
    # A dozen rows of figures move to the next page whole; a table of verbatims splits.
    kept = establishments.rows[0]._tr.trPr.find(qn("w:cantSplit"))
    assert kept is not None and establishments.rows[0].cells[0].paragraphs[0].paragraph_format.keep_with_next  # fmt: skip
    verbatims = next(
        t for t in doc.tables if "Verbatims représentatifs" in t.rows[0].cells[-1].text
    )
    assert verbatims.rows[1]._tr.trPr is None or verbatims.rows[1]._tr.trPr.find(qn("w:cantSplit")) is None  # fmt: skip


def test_livrable_quotes_are_cut_shorter_than_the_synthesis(livrables) -> None:
    from qualipipe.report.livrable import LIVRABLE_QUOTE_CHARS

    _, reports, _, _ = livrables
    doc = Document(str(reports["sud-creuse"].path))
    cells = [c.text for t in doc.tables for r in t.rows[1:] for c in r.cells]
    quotes = [q.strip() for text in cells for q in re.findall(r"«(.*?)»", text, re.S)]
    assert len(quotes) >= 5
    for quote in quotes:
        assert len(quote) <= LIVRABLE_QUOTE_CHARS + 4, quote  # « […] » marks a cut


def test_two_livrable_figures_and_their_captions_share_a_portrait_page(livrables) -> None:
    from docx.shared import Cm

    _, reports, _, _ = livrables
    doc = Document(str(reports["sud-creuse"].path))
    shapes = list(doc.inline_shapes)
    assert len(shapes) >= 3
    usable = Cm(29.7 - 2 * 2.0)  # A4 between 2 cm margins
    for shape in shapes:  # a caption line each (about 1 cm) besides
        assert 2 * (shape.height + Cm(1.0)) <= usable, shape.height.cm
