"""Streamed tables in XlsxWriter workbooks: styled cells, fitted rows, filter, drop-down lists.

Review workbooks are written with XlsxWriter in constant-memory mode: rows go to the file as they
come, so writing costs time proportional to the rows written (thousands per second) and memory
stays flat whatever the size of the study. Rows must be written in order, and a row's height
before its cells: `Table` does it in that order.

Every text is written as a string: a value beginning with `=`, `+`, `-` or `@` is never a formula
and carries Excel's quote prefix, so a verbatim such as `=HYPERLINK("http://...")` cannot run
anything when the workbook is opened, nor become one when the cell is edited.
`put_text` does the same for the openpyxl workbooks of other modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from qualipipe.files import atomic_write
from qualipipe.xlsx_layout import LINE_HEIGHT, MAX_ROW_HEIGHT, wrapped_lines

Value = str | float | int | None

FORMULA_PREFIXES = ("=", "+", "-", "@")
MAX_CELL_TEXT = 32_000  # Excel refuses more than 32 767 characters in a cell

HEADER_FONT_COLOUR = "#FFFFFF"
HEADER_FILL = "#2F5597"
HEADER_TO_FILL = "#BF8F00"  # header of a column the analyst fills


def clean_text(value: str) -> str:
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return text if len(text) <= MAX_CELL_TEXT else text[: MAX_CELL_TEXT - 1] + "…"


def put_text(cell: Cell | WriteOnlyCell, value: str) -> None:
    """Write a string that must stay a string in an openpyxl cell (formula-injection safe)."""
    text = clean_text(value)
    cell.value = text
    if text.startswith(FORMULA_PREFIXES):
        # openpyxl would mark it as a formula; force a shared string and Excel's "'" prefix.
        cell.data_type = "s"
        cell.quotePrefix = True


def put(cell: Cell | WriteOnlyCell, value: Value) -> None:
    if isinstance(value, str):
        put_text(cell, value)
    else:
        cell.value = value


def row_height(lines: int) -> float | None:
    """Stored height of a row of `lines` wrapped lines; None for one line (the default)."""
    return min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT + 3) if lines > 1 else None


@contextmanager
def streamed_workbook(path: Path) -> Iterator[Workbook]:
    """A constant-memory workbook written beside `path`, renamed to it once complete: a crash
    never leaves a half-written workbook under the real name."""
    with atomic_write(path) as temporary:
        workbook = xlsxwriter.Workbook(
            str(temporary),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        yield workbook
        try:
            workbook.close()
        except FileCreateError as error:
            cause = error.args[0] if error.args else None
            raise cause if isinstance(cause, OSError) else OSError(str(error)) from None


@dataclass(frozen=True)
class Style:
    """A cell format, and the same with Excel's quote prefix for formula-like texts."""

    plain: Format
    quoted: Format


def make_style(
    workbook: Workbook,
    *,
    bold: bool = False,
    size: float | None = None,
    colour: str | None = None,
    fill: str | None = None,
    number_format: str | None = None,
    wrap: bool = True,
) -> Style:
    spec: dict[str, object] = {"valign": "top", "text_wrap": True} if wrap else {}
    if bold:
        spec["bold"] = True
    if size is not None:
        spec["font_size"] = size
    if colour is not None:
        spec["font_color"] = colour
    if fill is not None:
        spec["bg_color"] = fill
        spec["pattern"] = 1
    if number_format is not None:
        spec["num_format"] = number_format
    return Style(workbook.add_format(spec), workbook.add_format({**spec, "quote_prefix": True}))


def write_value(ws: Worksheet, row: int, column: int, value: Value, style: Style) -> None:
    if value is None or value == "":
        ws.write_blank(row, column, None, style.plain)
    elif isinstance(value, str):
        text = clean_text(value)
        quoted = text.startswith(FORMULA_PREFIXES)
        ws.write_string(row, column, text, style.quoted if quoted else style.plain)
    else:
        ws.write_number(row, column, value, style.plain)


class Table:
    """One streamed sheet: header row first, then rows of styled cells, then filter and lists.

    Hidden columns (`hidden`) do not count for row heights; `line_caps` limits how tall a column
    may make a row (header -> lines). Empty cells are left out of the file, except in the columns
    the analyst fills (`to_fill`: their colour shows where to write).
    """

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        headers: Sequence[str],
        widths: Sequence[float],
        *,
        to_fill: Iterable[str] = (),
        hidden: Iterable[str] = (),
        line_caps: dict[str, int] | None = None,
        filtered: bool = True,
    ) -> None:
        self.workbook = workbook
        self.ws = workbook.add_worksheet(title)
        self.headers = list(headers)
        self.filtered = filtered
        self.rows = 0
        hidden_set = set(hidden)
        self.widths: list[float | None] = []
        for index, (header, width) in enumerate(zip(self.headers, widths, strict=True)):
            self.ws.set_column(index, index, width, None, {"hidden": header in hidden_set})
            self.widths.append(None if header in hidden_set else width)
        self.caps = [(line_caps or {}).get(header, 0) for header in self.headers]
        self.ws.freeze_panes(1, 0)
        fill_set = set(to_fill)
        self.keep_empty = [header in fill_set for header in self.headers]
        header_style = self.style(bold=True, colour=HEADER_FONT_COLOUR, fill=HEADER_FILL)
        to_fill_style = self.style(bold=True, colour=HEADER_FONT_COLOUR, fill=HEADER_TO_FILL)
        self.ws.set_row(0, 32)
        for column, header in enumerate(self.headers):
            style = to_fill_style if header in fill_set else header_style
            write_value(self.ws, 0, column, header, style)

    def style(self, **spec: object) -> Style:
        return make_style(self.workbook, **spec)  # type: ignore[arg-type]

    def append(
        self,
        values: Sequence[Value],
        styles: Sequence[Style],
        keep_empty: Sequence[bool] | None = None,
    ) -> None:
        """One data row; its height fits its longest wrapped text (see `xlsx_layout`).

        `keep_empty` overrides, for this row, which empty cells are still written (styled)."""
        lines = 1
        for value, width, cap in zip(values, self.widths, self.caps, strict=True):
            if value is None or width is None:
                continue
            needed = wrapped_lines(str(value), width)
            lines = max(lines, min(needed, cap) if cap else needed)
        row = self.rows + 1
        height = row_height(lines)
        if height is not None:
            self.ws.set_row(row, height)
        keep = keep_empty or self.keep_empty
        for column, (value, style) in enumerate(zip(values, styles, strict=True)):
            if value is not None or keep[column]:
                write_value(self.ws, row, column, value, style)
        self.rows += 1

    def list_validation(
        self, columns: Iterable[str], source: str | list[str], message: str
    ) -> None:
        """A drop-down list on every data row of `columns`; other values are refused.

        `source`: the choices, or a range of cells (« 'Codebook'!$G$2:$G$9 »)."""
        if self.rows == 0:
            return
        ranges = [
            xlsxwriter.utility.xl_range(
                1, self.headers.index(header), self.rows, self.headers.index(header)
            )
            for header in columns
        ]
        if not ranges:
            return
        first = self.headers.index(next(iter(columns)))
        self.ws.data_validation(
            1,
            first,
            self.rows,
            first,
            {
                "validate": "list",
                "source": source,
                "ignore_blank": True,
                "show_error": True,
                "error_title": "Valeur non prévue",
                "error_message": message,
                "show_input": True,
                "input_title": "Choisir dans la liste",
                "input_message": message,
                "multi_range": " ".join(ranges),
            },
        )

    def finish(self) -> None:
        if self.filtered:
            self.ws.autofilter(0, 0, max(self.rows, 1), len(self.headers) - 1)
