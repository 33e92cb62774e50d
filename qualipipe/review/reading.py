"""Reading review and disagreement workbooks back: fast, bounded, French errors.

The sheet names, columns and hidden identity sheets are those `qualipipe.review.workbook` writes.
A review workbook can hold tens of thousands of rows: it is read with calamine (python-calamine,
the reader pandas offers as `engine="calamine"`), which parses a 45,000-row sheet in about a second
where openpyxl takes tens of seconds. qualipipe writes no formula; a
workbook where the analyst or a spreadsheet program left one (« =à revoir » typed in a comment) is
read with openpyxl instead, which gives the formula as written where calamine would give its last
result, or nothing. The small forms (`qualipipe.forms`) are read with openpyxl too.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineError, CalamineWorkbook

from qualipipe.containers import MB, ContainerLimits, check_container
from qualipipe.errors import InputError, Problem
from qualipipe.review.workbook import (
    DISAGREEMENT_SHEET,
    KIND_DISAGREEMENTS,
    KIND_REVIEW,
    META_COLUMNS,
    META_SHEET,
    PREFILL_HEADERS,
    PREFILL_SHEET,
    REVIEW_SHEET,
    Prefill,
)


@dataclass(frozen=True)
class SheetCell:
    text: str  # the cell as text, stripped; "" when empty
    column: str  # letter, for error messages


@dataclass(frozen=True)
class SheetRow:
    line: int
    cells: dict[str, SheetCell]

    def text(self, header: str) -> str:
        cell = self.cells.get(header)
        return cell.text if cell else ""

    def where(self, header: str) -> str:
        cell = self.cells.get(header)
        return f"{cell.column} ({header})" if cell else header

    def is_blank(self) -> bool:
        return all(not cell.text for cell in self.cells.values())


@dataclass(frozen=True)
class ReadSheet:
    name: str
    headers: tuple[str, ...]
    rows: tuple[SheetRow, ...]
    letters: dict[str, str] = field(default_factory=dict)  # header -> column letter


@dataclass(frozen=True)
class ReadWorkbook:
    path: Path
    meta: dict[str, str]
    sheet: ReadSheet  # the sheet that carries decisions ("Revue" or "Désaccords")
    kind: str = KIND_REVIEW
    extra: dict[str, str] = field(default_factory=dict)
    # (segment id, code id) -> pre-filled decision; code id "" for the pre-filled comment.
    prefills: dict[tuple[int, str], Prefill] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The header row as exported (empty for a workbook without that record)."""
        try:
            value = json.loads(self.meta.get(META_COLUMNS, "[]"))
        except ValueError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# A review workbook's sheet may be far larger than the other documents: 45,000 exported rows make
# a 56 Mo sheet (their whole import peaked at 570 Mio, measured); a bomb is still refused.
STREAMED_SHEET = 512 * MB
STREAMED_TOTAL = 1024 * MB


def review_limits() -> ContainerLimits:
    limits = ContainerLimits.from_environment()
    return replace(
        limits,
        max_xml=max(limits.max_xml, STREAMED_SHEET),
        max_total=max(limits.max_total, STREAMED_TOTAL),
    )


def read_workbook(path: Path) -> ReadWorkbook:
    """Open a review or disagreement workbook; French errors when it is not one."""
    name = path.name
    check_container(path, "classeur Excel", review_limits())  # no zip bomb reaches the parser
    if _holds_formulas(path):
        return _read_with_openpyxl(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, ValueError) as error:
        raise _unreadable(name, "ce n'est pas un classeur Excel .xlsx lisible", error) from None
    try:
        return _read_opened(path, _calamine_sheets(workbook))
    except (CalamineError, ValueError) as error:
        # Sheets are parsed when asked for: a damaged sheet shows up here.
        raise _unreadable(name, "feuille illisible", error) from None
    finally:
        workbook.close()


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _holds_formulas(path: Path) -> bool:
    """Whether a worksheet of the file has a formula cell (`<f>` in its XML), read in chunks."""
    try:
        with zipfile.ZipFile(path) as archive:
            for part in archive.namelist():
                if not part.startswith("xl/worksheets/") or not part.endswith(".xml"):
                    continue
                with archive.open(part) as stream:
                    tail = b""
                    while chunk := stream.read(1 << 20):
                        if _FORMULA.search(tail + chunk):
                            return True
                        tail = chunk[-8:]
    except (zipfile.BadZipFile, KeyError, ValueError):
        return False  # calamine then says, in French, that the file is not readable
    return False


def _read_with_openpyxl(path: Path) -> ReadWorkbook:
    name = path.name
    try:
        # Read-only: streamed rows, memory bounded by what is kept, not by the sheet's size.
        workbook = load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise _unreadable(name, "ce n'est pas un classeur Excel .xlsx lisible", error) from None
    try:
        return _read_opened(path, _openpyxl_sheets(workbook))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise _unreadable(name, "feuille illisible", error) from None
    finally:
        workbook.close()


def _unreadable(name: str, what: str, error: Exception) -> InputError:
    return InputError(
        f"Impossible de lire le classeur {name}.",
        [
            Problem(
                name,
                f"{what} ({type(error).__name__}). Enregistrez-le au format « Classeur Excel "
                "(.xlsx) » puis recommencez.",
            )
        ],
    )


@dataclass(frozen=True)
class _Sheets:
    """The sheets of an opened workbook, whichever library opened it."""

    names: list[str]
    rows: Callable[[str], Iterator[Sequence[object]]]  # a sheet's rows from A1, values only


def _calamine_sheets(workbook: CalamineWorkbook) -> _Sheets:
    def rows(sheet_name: str) -> Iterator[Sequence[object]]:
        # Calamine starts at the first cell used; openpyxl and Excel number rows from A1, and
        # row numbers in messages must be those Excel shows.
        sheet = workbook.get_sheet_by_name(sheet_name)
        first_row, first_column = sheet.start or (0, 0)
        for _ in range(first_row):
            yield []
        padding: list[object] = [None] * first_column
        for row in sheet.iter_rows():
            yield padding + list(row)

    return _Sheets(list(workbook.sheet_names), rows)


def _openpyxl_sheets(workbook: Workbook) -> _Sheets:
    def rows(sheet_name: str) -> Iterator[Sequence[object]]:
        sheet = workbook[sheet_name]
        if isinstance(sheet, ReadOnlyWorksheet):
            # A file saved by another program may carry a wrong <dimension>: read every row.
            sheet.reset_dimensions()
        return sheet.iter_rows(values_only=True)

    return _Sheets(list(workbook.sheetnames), rows)


def _read_opened(path: Path, workbook: _Sheets) -> ReadWorkbook:
    name = path.name
    sheet_names = workbook.names
    if META_SHEET not in sheet_names:
        raise InputError(
            f"{name} n'est pas un classeur exporté par qualipipe.",
            [
                Problem(
                    name,
                    "la feuille cachée de qualipipe est absente : utilisez un classeur produit par "
                    "« qualipipe review export » ou « qualipipe agreement --sortie ».",
                )
            ],
        )
    meta = {
        cell_text(row[0]): cell_text(row[1])
        for row in workbook.rows(META_SHEET)
        if len(row) > 1 and cell_text(row[0])
    }
    kind = meta.get("format", "")
    sheet_name = {KIND_REVIEW: REVIEW_SHEET, KIND_DISAGREEMENTS: DISAGREEMENT_SHEET}.get(kind)
    if sheet_name is None or sheet_name not in sheet_names:
        raise InputError(
            f"{name} : classeur qualipipe incomplet.",
            [
                Problem(
                    name,
                    f"la feuille « {sheet_name or REVIEW_SHEET} » est introuvable (renommée ou "
                    "supprimée ?). Rendez-lui son nom d'origine ou exportez à nouveau.",
                )
            ],
        )
    prefills = _read_prefills(workbook.rows(PREFILL_SHEET)) if PREFILL_SHEET in sheet_names else {}
    return ReadWorkbook(
        path=path,
        meta=meta,
        sheet=sheet_from_rows(sheet_name, workbook.rows(sheet_name)),
        kind=kind,
        prefills=prefills,
    )


def _read_prefills(rows: Iterable[Sequence[object]]) -> dict[tuple[int, str], Prefill]:
    found: dict[tuple[int, str], Prefill] = {}
    for row in rows:
        cells = [cell_text(v) for v in row] + [""] * len(PREFILL_HEADERS)
        segment, code, decision, coder, shown = cells[: len(PREFILL_HEADERS)]
        if segment.isdecimal():
            found[(int(segment), code)] = Prefill(decision, coder, shown)
    return found


def read_sheet(ws: Worksheet) -> ReadSheet:
    """An openpyxl sheet (the small forms) read as header + non-blank rows."""
    return sheet_from_rows(ws.title, ws.iter_rows(values_only=True))


def sheet_from_rows(name: str, values: Iterable[Sequence[object]]) -> ReadSheet:
    """Header row, then one `SheetRow` per non-blank line (numbered as Excel shows them)."""
    rows = iter(values)
    header_values = next(rows, None)
    if header_values is None:
        return ReadSheet(name=name, headers=(), rows=())
    headers = [
        (cell_text(value), get_column_letter(index))
        for index, value in enumerate(header_values, start=1)
    ]
    read_rows: list[SheetRow] = []
    for line, row_values in enumerate(rows, start=2):
        cells: dict[str, SheetCell] = {}
        for (header, letter), value in zip(headers, row_values, strict=False):
            if header:
                cells[header] = SheetCell(text=cell_text(value), column=letter)
        row = SheetRow(line=line, cells=cells)
        if not row.is_blank():
            read_rows.append(row)
    return ReadSheet(
        name=name,
        headers=tuple(h for h, _ in headers if h),
        rows=tuple(read_rows),
        letters={h: letter for h, letter in reversed(headers) if h},
    )
