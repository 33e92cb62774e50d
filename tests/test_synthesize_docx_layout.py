"""Documents laid out for a livrable: labels not ids, no word split by a narrow column, portrait
unless a table needs landscape, header rows repeated, empty columns left out, workbooks that
print on pages of the right width."""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries

from qualipipe.synthesize import docx_report as dr
from qualipipe.synthesize.cells import document_table
from qualipipe.synthesize.model import SUGGESTED, VALIDATED, Table
from qualipipe.synthesize.writers import Report, write_docx, write_markdown, write_xlsx

QUOTE = "« On n'a pas de légumerie sur le territoire, donc les cantines ne peuvent pas prendre nos carottes. »"
FAMILY = Table(
    key="MOT",
    title="Motivations : mentions par code",
    columns=(
        "Code",
        "Libellé",
        "Statut",
        "Fondateurs",
        "% fondateurs",
        "Acteurs",
        "Verbatims représentatifs",
    ),
    rows=tuple(
        (
            f"MOT_BESOINS_NON_COUVERTS_{i}",
            "Répondre à des besoins non couverts",
            SUGGESTED if i % 2 else VALIDATED,
            0,
            None,
            i + 1,
            QUOTE * 2,
        )
        for i in range(6)
    ),
    percent_columns=frozenset({4}),
    id_columns=frozenset({0}),
    status_column=2,
    optional_columns=frozenset({3, 4, 5}),
    long_columns=frozenset({6}),
)
WIDE = Table(
    key="Par type",
    title="Mentions par type d'acteur",
    columns=("Libellé", *(f"Établissements intercommunaux {k} (n=12)" for k in range(9))),
    rows=(("Mobilité", *range(9)),),
)


def word_text(path: Path) -> str:
    doc = Document(str(path))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_label_instead_of_id_and_no_empty_founder_columns(tmp_path: Path) -> None:
    report = Report("Synthèse", ("Étude",), (FAMILY,), tmp_path)
    docx = write_docx(report, tmp_path / "s.docx")
    table = Document(str(docx)).tables[0]
    headers = [c.text for c in table.rows[0].cells]
    assert headers == ["Libellé", "Revue", "Acteurs", "Verbatims représentatifs"]
    assert [c.text for c in table.rows[1].cells][:2] == ["Répondre à des besoins non couverts", "✓"]
    assert table.rows[2].cells[1].text == "○"
    text = word_text(docx)
    assert "MOT_BESOINS" not in text and "Fondateurs" not in text
    assert "○ suggéré par la machine, non revu" in text  # the legend of the symbols
    markdown = write_markdown(report, tmp_path / "s.md").read_text(encoding="utf-8")
    assert "MOT_BESOINS" not in markdown and "| Libellé | Revue | Acteurs |" in markdown
    # The workbook keeps the ids and the empty columns for filters, hidden from print.
    ws = load_workbook(write_xlsx(report, tmp_path / "s.xlsx"))["MOT"]
    assert ws["A5"].value == "MOT_BESOINS_NON_COUVERTS_0" and ws.column_dimensions["A"].hidden
    assert ws["D4"].value == "Fondateurs" and ws.column_dimensions["D"].hidden
    assert not ws.column_dimensions["B"].hidden and ws["C5"].value == VALIDATED


def test_columns_never_narrower_than_their_longest_word() -> None:
    view = document_table(FAMILY)
    layout = dr.plan_columns(view)
    assert not layout.landscape  # four columns fit a portrait page
    assert sum(layout.widths) <= dr.PORTRAIT_PT + 0.01
    for j, header in enumerate(view.headers):
        words = header.split() + [w for row in view.rows for w in row[j].split()]
        longest = max(dr.measure(w, bold=True) for w in words)
        assert layout.widths[j] >= min(longest, dr.MAX_WORD_PT), header
    assert layout.widths[3] == max(layout.widths)  # the quotes get the room left


def test_free_text_never_pushes_a_table_off_the_page() -> None:
    # Short columns already take most of a landscape page: free text gets what is left only.
    crowded = Table(
        key="Enjeux partagés",
        title="Enjeux partagés",
        columns=(*(f"Colonne numéro {k}" for k in range(8)), "Qui le partage"),
        rows=((*(f"valeur{k} assez longue" for k in range(8)), QUOTE * 3),),
        long_columns=frozenset({8}),
    )
    layout = dr.plan_columns(document_table(crowded))
    assert layout.landscape and sum(layout.widths) <= dr.LANDSCAPE_PT + 0.01
    assert layout.widths[8] >= dr.LONG_MIN_PT


def test_wide_table_alone_in_landscape_with_repeated_header(tmp_path: Path) -> None:
    report = Report("Synthèse", (), (FAMILY, WIDE, FAMILY), tmp_path)
    doc = Document(str(write_docx(report, tmp_path / "s.docx")))
    orientations = [s.orientation for s in doc.sections]
    assert orientations == [WD_ORIENT.PORTRAIT, WD_ORIENT.LANDSCAPE, WD_ORIENT.PORTRAIT]
    landscape = doc.sections[1]
    assert landscape.page_width > landscape.page_height
    for table in doc.tables:
        assert table.style.name == dr.TABLE_STYLE
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    captions = [p.text for p in doc.paragraphs if p.style.name == "Caption"]
    assert captions[:2] == [
        "Tableau 1 — Motivations : mentions par code",
        "Tableau 2 — Mentions par type d'acteur",
    ]


def test_document_rows_summarise_the_rest(tmp_path: Path) -> None:
    long = Table(
        key="Participants",
        title="Personnes rencontrées",
        columns=("Participant", "Enjeux"),
        rows=tuple((f"Acteur·rice {i}", i) for i in range(1, 110)),
        document_rows=30,
    )
    report = Report("Synthèse", (), (long,), tmp_path)
    doc = Document(str(write_docx(report, tmp_path / "s.docx")))
    assert len(doc.tables[0].rows) == 31
    assert "les 79 autres (feuille « Participants » du classeur)" in word_text(tmp_path / "s.docx")
    ws = load_workbook(write_xlsx(report, tmp_path / "s.xlsx"))["Participants"]
    assert ws.max_row == 4 + 109


def test_workbook_prints_one_page_wide_with_title_rows_landscape_where_wide(
    tmp_path: Path,
) -> None:
    report = Report("Synthèse", ("Étude",), (FAMILY, WIDE), tmp_path)
    workbook = load_workbook(write_xlsx(report, tmp_path / "s.xlsx"))
    for ws in workbook.worksheets:
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.page_margins.left <= 0.5
    assert workbook["Sommaire"].page_setup.orientation == "portrait"  # two columns
    assert workbook["Par type"].page_setup.orientation == "landscape"  # ten columns
    assert workbook["MOT"].print_title_rows == "$4:$4"


def printed_columns(ws) -> int:
    """The last column of the sheet's print area."""
    area = ws.print_area if isinstance(ws.print_area, str) else ws.print_area[0]
    return range_boundaries(area.split("!")[-1].replace("$", ""))[2]


def printed_width(ws) -> float:
    dims = ws.column_dimensions
    letters = [get_column_letter(i) for i in range(1, printed_columns(ws) + 1)]
    return sum(dims[c].width or 8.43 for c in letters if not dims[c].hidden)


def test_a_wide_sheet_prints_at_a_readable_scale_its_note_wrapped_over_the_table(
    tmp_path: Path,
) -> None:
    # The cited actors' sheet: eight columns, two of free text, and a long note under the title.
    long_text = "qu'il faudrait associer la mission locale et le bailleur social au projet " * 3
    actors = Table(
        key="Acteurs cités",
        title="Acteurs cités à associer",
        columns=(
            "Organisation",
            "Variantes",
            "Type",
            "Participants",
            "Cité par",
            "Enjeux",
            "Extrait",
            "Suivi",
        ),  # fmt: skip
        rows=tuple(
            (
                f"Mission locale {i}",
                "mission locale ; ML",
                "État",
                2,
                "Acteur·rice 1 — Aisne, Acteur·rice 2 — Aisne",
                long_text,
                long_text,
                "",
            )  # fmt: skip
            for i in range(40)
        ),
        note="Organisations nommées dans les textes du territoire " * 12,
    )
    ws = load_workbook(write_xlsx(Report("S", (), (actors,), tmp_path), tmp_path / "a.xlsx"))[
        "Acteurs cités"
    ]
    assert ws.page_setup.orientation == "landscape"
    # 150 units fill a landscape A4 page at 100 %: "fit to width" keeps at least 85 %.
    assert printed_width(ws) <= 150 / 0.85 + 1
    assert printed_columns(ws) == 8  # nothing right of the table prints
    assert "A2:H2" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A2"].alignment.wrap_text and ws.row_dimensions[2].height > 15
    assert ws.print_title_rows == "$4:$4"


def test_a_table_without_rows_says_so_instead_of_a_lone_header(tmp_path: Path) -> None:
    # A study without founders: the founders' motivations table has no row.
    empty = Table("MOT", "Motivations des fondateurs", FAMILY.columns, (), note="Base : 0.")
    report = Report("Synthèse", (), (empty, FAMILY), tmp_path)
    doc = Document(str(write_docx(report, tmp_path / "vide.docx")))
    assert len(doc.tables) == 1  # only the table that has rows
    texts = [p.text for p in doc.paragraphs]
    caption = next(i for i, t in enumerate(texts) if "Motivations des fondateurs" in t)
    assert texts[caption + 1] == dr.EMPTY_TABLE and texts[caption + 2] == "Base : 0."
    # The workbook has no header-only sheet to print; its summary says why.
    workbook = load_workbook(write_xlsx(report, tmp_path / "vide.xlsx"))
    assert workbook.sheetnames == ["Sommaire", "MOT"]  # the one with rows
    summary = {r[0]: r[1] for r in workbook["Sommaire"].iter_rows(values_only=True) if r[0]}
    line = next(k for k in summary if "Motivations des fondateurs" in k)
    assert summary[line].startswith("aucune donnée")


def test_an_eight_column_table_of_figures_stays_in_portrait_wrapping_after_hyphens() -> None:
    # The INSEE establishments table of a territory with a hyphenated name: a landscape section
    # would stand alone on its page between two page breaks.
    from qualipipe.synthesize.cells import DocumentTable

    places = ["Hautes-Alpes, 2 communes", "Creuse (23), 256 communes du fichier", "Départements chargés (23, 87), 451 communes"]  # fmt: skip
    headers = ("Secteur d'activité", *(f"{p} : {m}" for p in places for m in ("nombre", "part (%)")), "Source")  # fmt: skip
    rows = tuple(
        (sector, "309", "100", "4046", "100", "15 095", "100", "INSEE, Sirene / REE 2019")
        for sector in (
            "Établissements actifs (total)",
            "Agriculture, sylviculture et pêche",
            "Administration publique, enseignement, santé, action sociale",
        )  # fmt: skip
    )
    layout = dr.plan_columns(DocumentTable(headers, rows, frozenset(range(1, 7)), frozenset(), ""))
    assert not layout.landscape and layout.font_size == dr.SMALL_FONT_SIZE
    assert sum(layout.widths) <= dr.PORTRAIT_PT + 0.01
