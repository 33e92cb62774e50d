"""Row heights for wrapped text and print setup of the workbooks qualipipe writes (openpyxl).

Excel fits a wrapped row's height itself, LibreOffice does not: a row without a stored height
stays one line tall there and long verbatims overlap the rows below. So every workbook stores a
generous height estimated from text length and column width.
"""

from __future__ import annotations

import math

from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

LINE_HEIGHT = 15.0  # points per line of 11-pt text
MAX_ROW_HEIGHT = 409.0  # Excel's limit
DEFAULT_COLUMN_WIDTH = 8.43  # Excel's default, in character units


def wrapped_lines(text: str, width: float) -> int:
    """Lines a wrapped cell needs at `width` (Excel character units), estimated generously.

    One character per width unit: Calibri letters are narrower than the "0" that defines the
    unit, and the slack pays for words pushed to the next line.
    """
    per_line = max(1, int(width))
    return sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))


def fit_row_heights(
    ws: Worksheet, first_row: int = 2, line_caps: dict[str, int] | None = None, header_row: int = 1
) -> None:
    """Give each row from `first_row` the height its longest wrapped cell needs.

    Hidden columns do not count; `line_caps` limits how tall a column may make a row
    (header text in `header_row` -> lines).
    """
    headers = {cell.column_letter: str(cell.value or "") for cell in ws[header_row]}
    caps = {
        letter: (line_caps or {}).get(header, 0) for letter, header in headers.items() if header
    }
    widths = {
        letter: None if dim.hidden else dim.width for letter, dim in ws.column_dimensions.items()
    }
    for cells in ws.iter_rows(min_row=first_row):
        lines = 1
        for cell in cells:
            if cell.value is None or not cell.alignment.wrap_text:
                continue
            width = widths.get(cell.column_letter, DEFAULT_COLUMN_WIDTH)
            if width is None:
                continue
            needed = wrapped_lines(str(cell.value), width)
            cap = caps.get(cell.column_letter, 0)
            lines = max(lines, min(needed, cap) if cap else needed)
        if lines > 1:
            ws.row_dimensions[cells[0].row].height = min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT + 3)


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------

# Width of an A4 page between 1 cm margins, in Excel character units at 100 % (about 7 pixels
# a unit at 96 dpi): what a sheet can hold before "fit to width" shrinks the text.
LANDSCAPE_UNITS = 150.0
PORTRAIT_UNITS = 100.0
READABLE_SCALE = 0.85  # "fit to width" may shrink 11-pt text to about 9 points, not less
MIN_TEXT_WIDTH = 16.0  # a column is never squeezed narrower than this
MARGIN_INCHES = 0.4


def visible_widths(ws: Worksheet, columns: int) -> dict[str, float]:
    """Column letter -> width of the first `columns` columns that are not hidden."""
    widths = {}
    for index in range(1, columns + 1):
        letter = get_column_letter(index)
        dimension = ws.column_dimensions[letter]
        if not dimension.hidden:
            widths[letter] = float(dimension.width or DEFAULT_COLUMN_WIDTH)
    return widths


def fit_widths_to_page(
    ws: Worksheet, columns: int, budget: float = LANDSCAPE_UNITS / READABLE_SCALE
) -> None:
    """Narrow the wide columns, each in proportion to its width above MIN_TEXT_WIDTH, until the
    visible ones fit `budget`: "fit to width" then prints at a readable scale (wrapped text
    takes more lines instead)."""
    widths = visible_widths(ws, columns)
    excess = sum(widths.values()) - budget
    spare = {letter: w - MIN_TEXT_WIDTH for letter, w in widths.items() if w > MIN_TEXT_WIDTH}
    if excess <= 0 or not spare:
        return
    share = min(1.0, excess / sum(spare.values()))
    for letter, extra in spare.items():
        ws.column_dimensions[letter].width = round(widths[letter] - extra * share, 1)


def wrapped_banner(ws: Worksheet, row: int, columns: int) -> None:
    """A title or note line over the table's width, wrapped: an unwrapped long line runs to
    the right of the table and LibreOffice prints as wide as the text goes."""
    cell = ws.cell(row, 1)
    if cell.value is None:
        return
    last = columns
    if last > 1:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    width = sum(visible_widths(ws, last).values())
    size = float(cell.font.sz or 11) / 11
    lines = wrapped_lines(str(cell.value), width / size)
    ws.row_dimensions[row].height = min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT * size + 3)


def print_setup(
    ws: Worksheet, title_rows: str | None = None, *, columns: int | None = None
) -> None:
    """A4 one page wide (as many pages long as needed), landscape only when the visible columns
    are wider than a portrait page; repeated title rows; print area on the written columns
    (nothing beside the table prints); page numbers in the footer."""
    columns = columns or ws.max_column
    width = sum(visible_widths(ws, columns).values())
    ws.page_setup.orientation = "landscape" if width > PORTRAIT_UNITS else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(
        left=MARGIN_INCHES, right=MARGIN_INCHES, top=0.5, bottom=0.6, header=0.3, footer=0.3
    )
    ws.print_options.horizontalCentered = True
    if title_rows:
        ws.print_title_rows = title_rows
    ws.print_area = f"A1:{get_column_letter(columns)}{max(ws.max_row, 1)}"
    ws.oddFooter.center.text = "&A — page &P / &N"
    ws.oddFooter.center.size = 8
