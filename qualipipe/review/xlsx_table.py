"""Streamed tables in openpyxl write-only workbooks: styled cells, fitted rows, filter, lists.

Rows go to the file as they come, so writing costs time proportional to the rows written
(thousands per second) and memory stays flat whatever the size of the study. In write-only mode
column widths, hidden columns and frozen panes must be set before the first row, and a row's
height before the row itself: `Table` does it in that order.

Every text is written with `put_text`: a value beginning with `=`, `+`, `-` or `@` is stored as a
plain string (never a formula), so a verbatim such as `=HYPERLINK("http://...")` cannot run
anything when the workbook is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from qualipipe.xlsx_layout import LINE_HEIGHT, MAX_ROW_HEIGHT, wrapped_lines

Value = str | float | int | None

FORMULA_PREFIXES = ("=", "+", "-", "@")
MAX_CELL_TEXT = 32_000  # Excel refuses more than 32 767 characters in a cell

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="2F5597")
HEADER_TO_FILL = PatternFill("solid", fgColor="BF8F00")  # header of a column the analyst fills
WRAP = Alignment(wrap_text=True, vertical="top")


def clean_text(value: str) -> str:
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return text if len(text) <= MAX_CELL_TEXT else text[: MAX_CELL_TEXT - 1] + "…"


def put_text(cell: Cell | WriteOnlyCell, value: str) -> None:
    """Write a string that must stay a string (formula-injection safe)."""
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


class Table:
    """One streamed sheet: header row first, then rows of styled cells, then filter and lists.

    Each cell's style is copied from a few prepared style arrays (much cheaper than setting font,
    fill and alignment cell by cell). Hidden columns (`widths` None) do not count for row heights;
    `line_caps` limits how tall a column may make a row (header -> lines).
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
        self.ws = workbook.create_sheet(title)
        self.headers = list(headers)
        self.filtered = filtered
        self.rows = 0
        hidden_set = set(hidden)
        self.widths: list[float | None] = []
        for index, (header, width) in enumerate(zip(self.headers, widths, strict=True)):
            dimension = self.ws.column_dimensions[get_column_letter(index + 1)]
            dimension.width = width
            dimension.hidden = header in hidden_set
            self.widths.append(None if header in hidden_set else width)
        self.caps = [(line_caps or {}).get(header, 0) for header in self.headers]
        self.ws.freeze_panes = "A2"
        fill_set = set(to_fill)
        # Empty cells are left out of the file, except in the columns the analyst fills (their
        # colour shows where to write): a wide row costs its values, not its width.
        self.keep_empty = [header in fill_set for header in self.headers]
        header_style = self.style(font=HEADER_FONT, fill=HEADER_FILL)
        to_fill_style = self.style(font=HEADER_FONT, fill=HEADER_TO_FILL)
        self.ws.row_dimensions[1].height = 32
        self.ws.append(
            [
                self.cell(header, to_fill_style if header in fill_set else header_style)
                for header in self.headers
            ]
        )

    def style(
        self,
        *,
        font: Font | None = None,
        fill: PatternFill | None = None,
        number_format: str | None = None,
        alignment: Alignment = WRAP,
    ) -> StyleArray:
        template = WriteOnlyCell(self.ws)
        template.alignment = alignment
        if font is not None:
            template.font = font
        if fill is not None:
            template.fill = fill
        if number_format is not None:
            template.number_format = number_format
        return template._style

    def cell(self, value: Value, style: StyleArray) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws)
        cell._style = StyleArray(style)
        if isinstance(value, str):
            put_text(cell, value)
        else:
            cell.value = value
        return cell

    def append(
        self,
        values: Sequence[Value],
        styles: Sequence[StyleArray],
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
        height = row_height(lines)
        if height is not None:
            self.ws.row_dimensions[self.rows + 2].height = height
        self.ws.append(
            [
                None if value is None and not keep else self.cell(value, style)
                for value, style, keep in zip(
                    values, styles, keep_empty or self.keep_empty, strict=True
                )
            ]
        )
        self.rows += 1

    def list_validation(self, columns: Iterable[str], formula: str, message: str) -> None:
        """A drop-down list on every data row of `columns`; other values are refused."""
        if self.rows == 0:
            return
        validation = DataValidation(type="list", formula1=formula, allow_blank=True)
        validation.showErrorMessage = True
        validation.errorTitle = "Valeur non prévue"
        validation.error = message
        validation.showInputMessage = True
        validation.promptTitle = "Choisir dans la liste"
        validation.prompt = message
        for header in columns:
            letter = get_column_letter(self.headers.index(header) + 1)
            validation.add(f"{letter}2:{letter}{self.rows + 1}")
        self.ws.data_validations.append(validation)

    def finish(self) -> None:
        if self.filtered:
            last = get_column_letter(len(self.headers))
            self.ws.auto_filter.ref = f"A1:{last}{max(self.rows + 1, 2)}"
