"""Word documents meant to be pasted into a livrable: reusable python-docx helpers.

Portrait A4 by default; a table that cannot fit a portrait page (every column at least as wide
as its longest word, free text at least a readable width) goes into a landscape section, and the
document returns to portrait after it. Column widths are measured with a real font (DejaVu Sans,
shipped with matplotlib and wider than Arial / Calibri, so the estimate errs on the safe side):
no column is narrower than its longest word, headers wrap at spaces only. Header rows repeat on
every page, tables use a Word table style and carry a « Tableau N — … » caption above them.

Used by the synthesis writers and meant for any report module: `new_document`, `add_table`,
`add_figure`, `add_note`, `add_caption`, `use_orientation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Pt
from matplotlib import font_manager
from PIL import ImageFont

from qualipipe.synthesize.cells import DocumentTable, words

TABLE_STYLE = "Light Grid Accent 1"
TABLE_FONT = "Arial"
TABLE_FONT_SIZE = 8.0  # points
SMALL_FONT_SIZE = 7.0  # last resort for very wide tables
A4_SHORT, A4_LONG = Cm(21.0), Cm(29.7)
MARGIN = Cm(2.0)
CELL_PADDING_PT = 12.0  # Word's default cell margins (2 × 0.19 cm) plus a little slack
LONG_MIN_PT = 150.0  # free text (verbatims) never narrower than ~5 cm
MAX_WORD_PT = 170.0  # a URL-like token may break rather than take a whole page
EMPTY_TABLE = (
    "Aucune ligne : rien dans les textes analysés de ce territoire ne relève de ce tableau."
)
MAX_NATURAL_PT = 190.0  # a short column never grows wider than this to avoid wrapping
LONG_SHARE = 0.55  # free-text columns get up to this share of the width before the others grow
KEEP_TOGETHER_ROWS = 15  # a longer table may start at the foot of a page
SHORT_CELL = 120  # characters: a table with a longer cell is too tall to move whole
FIGURE_WIDTH = Cm(15.0)  # 11.25 cm tall: two figures and their captions per portrait page


def text_width(available: Emu | int) -> float:
    return int(available) / 12700  # EMU -> points


PORTRAIT_PT = text_width(A4_SHORT - 2 * MARGIN)
LANDSCAPE_PT = text_width(A4_LONG - 2 * MARGIN)


@lru_cache(maxsize=4)
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")
    )
    return ImageFont.truetype(path, 100)


@lru_cache(maxsize=65536)
def measure(text: str, *, bold: bool = False, size: float = TABLE_FONT_SIZE) -> float:
    """Width of `text` in points at `size`."""
    return _font(bold).getlength(text) * size / 100


def longest_word(texts: Sequence[str], *, bold: bool, size: float) -> float:
    return max((measure(w, bold=bold, size=size) for t in texts for w in words(t)), default=0.0)


def longest_line(texts: Sequence[str], *, bold: bool, size: float) -> float:
    return max(
        (
            measure(line.replace("\u200b", ""), bold=bold, size=size)
            for t in texts
            for line in t.split("\n")
        ),
        default=0.0,
    )


@dataclass(frozen=True)
class Layout:
    widths: tuple[float, ...]  # points
    landscape: bool
    font_size: float


def plan_columns(table: DocumentTable) -> Layout:
    """Portrait when every column fits at its longest word (free text at LONG_MIN_PT), else
    (figures only) portrait in a smaller font, else landscape, else landscape in a smaller font;
    room left goes to short columns up to their longest line, then to free text.

    A landscape table is a section of its own, so it costs page breaks before and after: a table
    of figures (INSEE portrait) rather stays in the flow in a smaller font."""
    plans = [(PORTRAIT_PT, False, TABLE_FONT_SIZE)]
    if not table.long:
        plans.append((PORTRAIT_PT, False, SMALL_FONT_SIZE))
    plans += [(LANDSCAPE_PT, True, TABLE_FONT_SIZE), (LANDSCAPE_PT, True, SMALL_FONT_SIZE)]
    for available, landscape, size in plans:
        widths = _widths(table, available, size)
        if widths is not None:
            return Layout(widths, landscape, size)
    size = SMALL_FONT_SIZE  # still too wide: share the landscape page in proportion
    minimum = _minimum_widths(table, size)
    scale = LANDSCAPE_PT / sum(minimum)
    return Layout(tuple(w * scale for w in minimum), True, size)


def _minimum_widths(table: DocumentTable, size: float) -> list[float]:
    out = []
    for j, header in enumerate(table.headers):
        column = [row[j] for row in table.rows]
        word = max(
            longest_word([header], bold=True, size=size),
            # The table style sets the first column in bold (Word's « first column » look).
            longest_word(column, bold=j == 0, size=size),
        )
        floor = LONG_MIN_PT if j in table.long else 0.0
        out.append(max(min(word, MAX_WORD_PT) + CELL_PADDING_PT, floor))
    return out


def _widths(table: DocumentTable, available: float, size: float) -> tuple[float, ...] | None:
    widths = _minimum_widths(table, size)
    if sum(widths) > available:
        return None
    natural = [
        min(
            max(
                longest_line([h], bold=True, size=size),
                longest_line([r[j] for r in table.rows], bold=j == 0, size=size),
            )
            + CELL_PADDING_PT,
            available if j in table.long else MAX_NATURAL_PT,
        )
        for j, h in enumerate(table.headers)
    ]
    short = [j for j in range(len(widths)) if j not in table.long]
    # Free text first gets up to LONG_SHARE of the page (it is what makes rows tall), then
    # short columns grow toward their longest line, then free text takes what is left.
    if table.long:
        share = LONG_SHARE * available - sum(widths[j] for j in table.long)
        _grow(widths, table.long, natural, min(share, available - sum(widths)))
    _grow(widths, short, natural, available - sum(widths))
    room = available - sum(widths)
    if table.long and room > 0:
        for j in table.long:
            widths[j] += room / len(table.long)
    return tuple(widths)


# ---------------------------------------------------------------------------------------------
# Document, sections, captions
# ---------------------------------------------------------------------------------------------


def _grow(
    widths: list[float], columns: Iterable[int], natural: Sequence[float], room: float
) -> None:
    """Widen `columns` toward their natural width, in proportion to what each lacks."""
    wanted = {j: max(0.0, natural[j] - widths[j]) for j in columns}
    total = sum(wanted.values())
    if room <= 0 or total <= 0:
        return
    factor = min(1.0, room / total)
    for j in columns:
        widths[j] += wanted[j] * factor


def new_document(title: str, intro: Sequence[str] = (), *, landscape: bool = False) -> DocxDocument:
    """An A4 document (portrait unless its first table needs landscape: the title page then
    holds that table too) with its title, intro lines and a small table style."""
    doc = Document()
    _orient(doc.sections[0], landscape=landscape)
    style = doc.styles[TABLE_STYLE]
    style.font.size = Pt(TABLE_FONT_SIZE)
    style.font.name = TABLE_FONT
    doc.core_properties.title = title
    doc.core_properties.author = "qualipipe"
    doc.add_heading(title, level=0)
    for line in intro:
        doc.add_paragraph(line)
    return doc


def _orient(section, *, landscape: bool) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (
        (A4_LONG, A4_SHORT) if landscape else (A4_SHORT, A4_LONG)
    )
    section.left_margin = section.right_margin = MARGIN
    section.top_margin = section.bottom_margin = MARGIN


def is_landscape(doc: DocxDocument) -> bool:
    return doc.sections[-1].orientation == WD_ORIENT.LANDSCAPE


def use_orientation(doc: DocxDocument, *, landscape: bool) -> None:
    """Start a new section (new page) when the orientation must change; else nothing."""
    if is_landscape(doc) != landscape:
        _orient(doc.add_section(WD_SECTION.NEW_PAGE), landscape=landscape)


def add_caption(doc: DocxDocument, text: str) -> None:
    paragraph = doc.add_paragraph(text, style="Caption")
    paragraph.paragraph_format.keep_with_next = True


def add_note(doc: DocxDocument, text: str) -> None:
    if not text:
        return
    run = doc.add_paragraph().add_run(text)
    run.italic = True
    run.font.size = Pt(8)


def add_figure(doc: DocxDocument, path: Path, caption: str) -> None:
    """A figure at text width in portrait, caption below."""
    use_orientation(doc, landscape=False)
    doc.add_picture(str(path), width=FIGURE_WIDTH)
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.paragraphs[-1].paragraph_format.keep_with_next = True
    doc.add_paragraph(caption, style="Caption")


def repeat_as_header(row) -> None:
    """Mark a row as a header row: Word and LibreOffice repeat it at the top of every page."""
    properties = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    properties.append(flag)


def keep_together(grid, texts: Sequence[Sequence[str]]) -> None:
    """A short table (KEEP_TOGETHER_ROWS rows or fewer, no long text: it holds on part of a
    page) moves to the next page whole, with its caption, rather than leave a few rows behind:
    no row splits, every row keeps with the next. A table of verbatims would leave a page half
    empty: it splits."""
    if len(texts) > KEEP_TOGETHER_ROWS + 1 or any(len(t) > SHORT_CELL for r in texts for t in r):
        return
    last = len(grid.rows) - 1
    for index, row in enumerate(grid.rows):
        flag = OxmlElement("w:cantSplit")
        flag.set(qn("w:val"), "true")
        row._tr.get_or_add_trPr().append(flag)
        if index < last:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    paragraph.paragraph_format.keep_with_next = True


def add_table(doc: DocxDocument, table: DocumentTable, caption: str) -> Layout:
    """Caption, table (header repeated on every page), note and summary line; switches to a
    landscape section only when the table needs it. Returns the layout used."""
    layout = plan_columns(table)
    use_orientation(doc, landscape=layout.landscape)
    add_caption(doc, caption)
    if not table.rows:  # a header alone reads as a table lost in the layout
        doc.add_paragraph().add_run(EMPTY_TABLE).italic = True
        add_note(doc, table.note)
        return layout
    # All rows at once: python-docx's add_row() re-reads the whole table each time (slow).
    grid = doc.add_table(rows=1 + len(table.rows), cols=len(table.headers))
    grid.style = TABLE_STYLE
    grid.autofit = False
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = [Pt(w) for w in layout.widths]
    for j, column in enumerate(grid.columns):
        column.width = widths[j]  # LibreOffice reads the grid
    cells = grid._cells  # row-major, one entry per cell (no merged cells here)
    n = len(table.headers)
    small = layout.font_size != TABLE_FONT_SIZE
    for index, cell in enumerate(cells):
        cell.width = widths[index % n]  # Word reads the cells
    repeat_as_header(grid.rows[0])
    keep_together(grid, [table.headers, *table.rows])
    for j, name in enumerate(table.headers):
        run = cells[j].paragraphs[0].add_run(name)
        run.bold = True
        if small:
            run.font.size = Pt(layout.font_size)
    for i, values in enumerate(table.rows):
        for j, value in enumerate(values):
            paragraph = cells[(i + 1) * n + j].paragraphs[0]
            run = paragraph.add_run(value)
            if small:
                run.font.size = Pt(layout.font_size)
            if j in table.numeric:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    add_note(doc, " ".join(t for t in (table.summary, table.note) if t))
    return layout
