"""Word building blocks of the livrable: cover page, real heading styles, a table-of-contents
field, numbered captions (SEQ fields, as Word's « Insérer une légende » writes them), tables.

Word shows the fields' stored results until the reader updates them (F9); the document asks
Word to update them on opening, and the stored results are already right (captions numbered in
order, the table of contents listing the headings), so LibreOffice and viewers show them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph

from qualipipe.synthesize import docx_report as dr
from qualipipe.synthesize.docx_report import keep_together, repeat_as_header
from qualipipe.synthesize.model import Table
from qualipipe.synthesize.writers import french_number

TABLE_STYLE = "Light Grid Accent 1"
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = Cm(21.0), Cm(29.7), Cm(2.0)
TABLE_LABEL, FIGURE_LABEL = "Tableau", "Figure"
CELL_STYLE = "Texte de tableau"
# Table text is 8 pt: a character takes up to 0.18 cm, a cell 0.3 cm of padding (preferred
# widths; the minimum ones are measured).
CHAR_WIDTH, CELL_PADDING = Cm(0.18), Cm(0.3)
TABLE_FONT_PT, SMALL_FONT_PT = 8.0, 7.0
MAX_PREFERRED = 90  # characters


def _line_chars(texts: Sequence[str]) -> list[int]:
    """Characters of each text's longest line."""
    return [max((len(line) for line in t.split("\n")), default=0) for t in texts]


def _minimum_widths(header: Sequence[str], rows: Sequence[Sequence[str]], size: float) -> list[int]:
    """Per column, the width (EMU) that keeps its longest word on one line: measured in the
    table font (`docx_report.measure`, on the wide side), header and first column in bold."""
    minimum = []
    for j, name in enumerate(header):
        cells = [row[j] for row in rows]
        word = max(
            dr.longest_word([name], bold=True, size=size),
            dr.longest_word(cells, bold=j == 0, size=size),
        )
        minimum.append(int(Pt(min(word, dr.MAX_WORD_PT) + dr.CELL_PADDING_PT)))
    return minimum


def table_font_size(header: Sequence[str], rows: Sequence[Sequence[str]], available: int) -> float:
    """8 pt, or 7 pt when the longest words of the columns do not fit the page side by side at
    8 pt (an eight-column INSEE table): a smaller font rather than « Établissement-s »."""
    fits = sum(_minimum_widths(header, rows, TABLE_FONT_PT)) <= available
    return TABLE_FONT_PT if fits else SMALL_FONT_PT


def fit_widths(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    available: int,
    size: float = TABLE_FONT_PT,
) -> list[int]:
    """Column widths (EMU) that never break a word or a number when the page allows it, and give
    the rest of the page to the columns with long texts (verbatims, definitions)."""
    char_width = int(CHAR_WIDTH * size / TABLE_FONT_PT)
    minimum = _minimum_widths(header, rows, size)
    preferred = []
    for j, low in enumerate(minimum):
        lengths = sorted(_line_chars([row[j] for row in rows])) or [0]
        typical = lengths[int(0.9 * (len(lengths) - 1))]
        preferred.append(max(min(typical, MAX_PREFERRED) * char_width + CELL_PADDING, low))
    if sum(minimum) >= available:
        return [int(w * available / sum(minimum)) for w in minimum]
    if sum(preferred) <= available:
        return [int(w * available / sum(preferred)) for w in preferred]
    room = available - sum(minimum)
    wants = [p - m for p, m in zip(preferred, minimum, strict=True)]
    return [int(m + room * w / sum(wants)) for m, w in zip(minimum, wants, strict=True)]


def _field_run(paragraph: Paragraph, instruction: str, result: str) -> None:
    """A complex field (begin / instruction / separate / stored result / end) in `paragraph`."""

    def char(kind: str) -> None:
        run = paragraph.add_run()
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        run._r.append(element)

    char("begin")
    run = paragraph.add_run()
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    run._r.append(text)
    char("separate")
    paragraph.add_run(result)
    char("end")


class LivrableDocument:
    """A python-docx document with the livrable's conventions; `save` fills the contents."""

    def __init__(self, title: str) -> None:
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, side, MARGIN)
        self.doc.styles[TABLE_STYLE].font.size = Pt(8)
        # LibreOffice ignores a table style's font: cells get their own paragraph style. Arial
        # (Liberation Sans under Linux), as in the synthesis: widths are planned on its metrics.
        self.cell_style = self.doc.styles.add_style(CELL_STYLE, WD_STYLE_TYPE.PARAGRAPH)
        self.cell_style.base_style = self.doc.styles["Normal"]
        self.cell_style.font.size = Pt(8)
        self.cell_style.font.name = dr.TABLE_FONT
        self.cell_style.paragraph_format.space_after = Pt(0)
        self.doc.styles["Normal"].font.size = Pt(10.5)
        self.doc.core_properties.title = title
        self.doc.core_properties.author = "qualipipe"
        self.counters = {TABLE_LABEL: 0, FIGURE_LABEL: 0}
        self.headings: list[tuple[int, str]] = []
        self.toc_paragraph: Paragraph | None = None

    @property
    def width(self) -> int:
        return int(PAGE_WIDTH - 2 * MARGIN)

    # -- structure ----------------------------------------------------------------------------

    def cover(self, title: str, subtitle: str, lines: Sequence[str]) -> None:
        for _ in range(6):
            self.doc.add_paragraph()
        self.doc.add_paragraph(title, style="Title").alignment = WD_ALIGN_PARAGRAPH.CENTER
        sub = self.doc.add_paragraph(subtitle, style="Subtitle")
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
        for _ in range(4):
            self.doc.add_paragraph()
        for line in lines:
            self.doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.CENTER
        self.page_break()

    def table_of_contents(self) -> None:
        self.doc.add_paragraph("Sommaire", style="TOC Heading")
        self.toc_paragraph = self.doc.add_paragraph()
        self.page_break()

    def page_break(self) -> None:
        self.doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)

    def heading(self, text: str, level: int = 1) -> None:
        self.doc.add_heading(text, level=level)
        self.headings.append((level, text))

    def paragraph(self, text: str, *, italic: bool = False, size: float | None = None) -> Paragraph:
        paragraph = self.doc.add_paragraph()
        run = paragraph.add_run(text)
        run.italic = italic
        if size:
            run.font.size = Pt(size)
        return paragraph

    def bullet(self, text: str) -> None:
        self.doc.add_paragraph(text, style="List Bullet")

    def missing(self, what: str, command: str) -> None:
        """A section without material says what is missing and which command provides it."""
        paragraph = self.doc.add_paragraph()
        paragraph.add_run(f"{what} ").bold = True
        paragraph.add_run(f"Commande : {command}")

    # -- captions, tables, figures ------------------------------------------------------------

    def caption(self, label: str, text: str) -> int:
        self.counters[label] += 1
        number = self.counters[label]
        paragraph = self.doc.add_paragraph(style="Caption")
        paragraph.add_run(f"{label} ")
        _field_run(paragraph, f"SEQ {label} \\* ARABIC", str(number))
        paragraph.add_run(f" : {text}")
        paragraph.paragraph_format.keep_with_next = label == TABLE_LABEL
        return number

    def table(
        self, table: Table, *, columns: Sequence[str] | None = None, note: bool = True
    ) -> None:
        """Caption above, the table (chosen columns, in that order), its note below."""
        # The chosen columns, less those that say nothing for this study (founders' columns
        # in a study without founders): the synthesis leaves them out too.
        index = [
            i
            for i in (table.columns.index(c) for c in columns or table.columns)
            if not (i in table.optional_columns and table.rows and table.empty_column(i))
        ]
        shown = [table.columns[i] for i in index]
        view = Table(
            table.key,
            table.title,
            tuple(shown),
            tuple(tuple(row[i] for i in index) for row in table.rows),
        )
        self.caption(TABLE_LABEL, table.title)
        if not table.rows:
            self.paragraph("Aucune ligne.", italic=True)
            return
        percent = {index.index(i) for i in table.percent_columns if i in index}
        texts = [
            [french_number(v, percent=j in percent) for j, v in enumerate(values)]
            for values in view.rows
        ]
        self._grid(shown, texts, table.muted_rows)
        if note and table.note:
            self.paragraph(table.note, italic=True, size=8)

    def _grid(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], muted: frozenset[int]
    ) -> None:
        grid = self.doc.add_table(rows=1 + len(rows), cols=len(header))
        grid.style = TABLE_STYLE
        grid.autofit = False
        size = table_font_size(header, rows, self.width)
        widths = fit_widths(header, rows, self.width, size)
        cells = grid._cells  # row-major, no merged cells; add_row() would re-read the table
        for j, column in enumerate(grid.columns):
            column.width = widths[j]  # LibreOffice reads the grid
        for k, cell in enumerate(cells):
            cell.width = widths[k % len(header)]  # Word reads the cells
        style_id = self.cell_style.style_id
        for cell in cells:  # set on the XML: python-docx's setter re-scans every style each time
            cell._tc.p_lst[0].style = style_id
        repeat_as_header(grid.rows[0])
        keep_together(grid, [header, *rows])
        small = Pt(size) if size != TABLE_FONT_PT else None
        for j, name in enumerate(header):
            run = cells[j].paragraphs[0].add_run(name)
            run.bold = True
            run.font.size = small
        for i, values in enumerate(rows):
            for j, value in enumerate(values):
                run = cells[(i + 1) * len(header) + j].paragraphs[0].add_run(value)
                run.font.size = small
                if i in muted:
                    run.italic = True
                    run.font.color.rgb = RGBColor(0x80, 0x80, 0x80)

    def grid(self, title: str, cells: Sequence[Sequence[str]], header: Sequence[str] = ()) -> None:
        """A small text grid (e.g. the 2 × 2 AFOM matrix), captioned as a table."""
        self.caption(TABLE_LABEL, title)
        rows = ([list(header)] if header else []) + [list(r) for r in cells]
        grid = self.doc.add_table(rows=len(rows), cols=len(rows[0]))
        grid.style = "Table Grid"  # plain: only each cell's first line is bold
        for i, values in enumerate(rows):
            for j, value in enumerate(values):
                cell = grid.cell(i, j)
                first, *rest = value.split("\n")
                cell.paragraphs[0].style = CELL_STYLE
                cell.paragraphs[0].add_run(first).bold = True
                for line in rest:
                    cell.add_paragraph(line, style=CELL_STYLE)

    def figure(self, path: Path, title: str) -> None:
        # the synthesis' width: two 4:3 figures and their captions share a portrait page
        self.doc.add_picture(str(path), width=dr.FIGURE_WIDTH)
        self.doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        # the caption below goes to the next page with its figure, never alone
        self.doc.paragraphs[-1].paragraph_format.keep_with_next = True
        self.caption(FIGURE_LABEL, title)

    # -- saving -------------------------------------------------------------------------------

    def _fill_toc(self) -> None:
        if self.toc_paragraph is None:
            return
        listing = "\n".join(("    " * (level - 1)) + text for level, text in self.headings)
        _field_run(self.toc_paragraph, 'TOC \\o "1-2" \\h \\z \\u', "")
        # The stored result: the headings, one per line (page numbers come with F9 in Word).
        result_run = self.toc_paragraph.runs[-2]
        for k, line in enumerate(listing.split("\n")):
            if k:
                result_run.add_break()
            result_run.add_text(line)
        settings = self.doc.settings.element
        update = OxmlElement("w:updateFields")
        update.set(qn("w:val"), "true")
        settings.append(update)

    def save(self, path: Path) -> Path:
        self._fill_toc()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.doc.save(str(path))
        return path
