"""The Word report is laid out for reading: landscape pages, quotes in a wide column."""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT

from qualipipe.synthesize.model import Table
from qualipipe.synthesize.writers import (
    MARGIN,
    MIN_COLUMN,
    PAGE_WIDTH,
    Report,
    column_widths,
    write_docx,
)

QUOTE = "« On n'a pas de légumerie sur le territoire, donc les cantines ne peuvent pas prendre nos carottes. »"
TABLE = Table(
    key="motivations",
    title="Motivations",
    columns=("Code", "Libellé", "Fondateurs", "% fondateurs", "Verbatims représentatifs"),
    rows=tuple((f"MOT_{i}", "Faire ensemble", i, 0.5, QUOTE * 2) for i in range(6)),
    percent_columns=frozenset({3}),
)


def test_column_widths_give_room_to_quotes_and_fit_the_page() -> None:
    available = int(PAGE_WIDTH - 2 * MARGIN)
    widths = column_widths(TABLE, available)
    assert sum(widths) <= available
    assert widths[4] == max(widths) and widths[4] > 3 * widths[2]
    assert min(widths) >= int(MIN_COLUMN)


def test_word_report_is_landscape_with_those_widths(tmp_path: Path) -> None:
    path = write_docx(
        Report(title="Synthèse", intro=("Étude de test",), blocks=(TABLE,)), tmp_path / "s.docx"
    )
    doc = Document(str(path))
    section = doc.sections[0]
    assert section.orientation == WD_ORIENT.LANDSCAPE and section.page_width > section.page_height
    table = doc.tables[0]
    expected = column_widths(TABLE, int(PAGE_WIDTH - 2 * MARGIN))
    # Word stores widths in twentieths of a point (635 EMU): equal up to that rounding.
    grid = [column.width for column in table.columns]
    cells = [cell.width for cell in table.rows[1].cells]
    for stored in (grid, cells):
        assert all(abs(got - want) <= 635 for got, want in zip(stored, expected, strict=True))
