"""Row heights for wrapped text in the workbooks qualipipe writes (openpyxl).

Excel fits a wrapped row's height itself, LibreOffice does not: a row without a stored height
stays one line tall there and long verbatims overlap the rows below. So every workbook stores a
generous height estimated from text length and column width.
"""

from __future__ import annotations

import math

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
