"""Reading review and disagreement workbooks back: streamed, bounded, French errors.

The sheet names, columns and hidden identity sheets are those `qualipipe.review.workbook` writes.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

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


# A review workbook is read streamed (read-only mode): its sheet may be far larger than the
# documents parsed whole. 45,000 exported rows make a 56 Mo sheet; a bomb is still refused.
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
    check_container(path, "classeur Excel", review_limits())
    try:
        # Read-only: streamed rows, memory bounded by what is kept, not by the sheet's size.
        workbook = load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise InputError(
            f"Impossible de lire le classeur {name}.",
            [
                Problem(
                    name,
                    f"ce n'est pas un classeur Excel .xlsx lisible ({type(error).__name__}). "
                    "Enregistrez-le au format « Classeur Excel (.xlsx) » puis recommencez.",
                )
            ],
        ) from None
    try:
        return _read_opened(path, workbook)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        # Read-only sheets are parsed while iterating: a bad sheet shows up here.
        raise InputError(
            f"Impossible de lire le classeur {name}.",
            [
                Problem(
                    name,
                    f"feuille illisible ({type(error).__name__}). Enregistrez le classeur au "
                    "format « Classeur Excel (.xlsx) » puis recommencez.",
                )
            ],
        ) from None
    finally:
        workbook.close()


def _read_opened(path: Path, workbook: Workbook) -> ReadWorkbook:
    name = path.name
    if META_SHEET not in workbook.sheetnames:
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
        for row in workbook[META_SHEET].iter_rows(min_col=1, max_col=2, values_only=True)
        if row and row[0] is not None and len(row) > 1
    }
    kind = meta.get("format", "")
    sheet_name = {KIND_REVIEW: REVIEW_SHEET, KIND_DISAGREEMENTS: DISAGREEMENT_SHEET}.get(kind)
    if sheet_name is None or sheet_name not in workbook.sheetnames:
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
    prefills = (
        _read_prefills(workbook[PREFILL_SHEET]) if PREFILL_SHEET in workbook.sheetnames else {}
    )
    return ReadWorkbook(
        path=path,
        meta=meta,
        sheet=read_sheet(workbook[sheet_name]),
        kind=kind,
        prefills=prefills,
    )


def _read_prefills(ws: Worksheet) -> dict[tuple[int, str], Prefill]:
    found: dict[tuple[int, str], Prefill] = {}
    for row in ws.iter_rows(min_row=2, max_col=len(PREFILL_HEADERS), values_only=True):
        cells = [cell_text(v) for v in row] + [""] * len(PREFILL_HEADERS)
        segment, code, decision, coder, shown = cells[: len(PREFILL_HEADERS)]
        if segment.isdecimal():
            found[(int(segment), code)] = Prefill(decision, coder, shown)
    return found


def read_sheet(ws: Worksheet | ReadOnlyWorksheet) -> ReadSheet:
    if isinstance(ws, ReadOnlyWorksheet):
        # A file saved by another program may carry a wrong <dimension>: read every row it has.
        ws.reset_dimensions()
    rows = ws.iter_rows(values_only=True)
    header_values = next(rows, None)
    if header_values is None:
        return ReadSheet(name=ws.title, headers=(), rows=())
    headers = [
        (cell_text(value), get_column_letter(index))
        for index, value in enumerate(header_values, start=1)
    ]
    read_rows: list[SheetRow] = []
    for line, values in enumerate(rows, start=2):
        cells: dict[str, SheetCell] = {}
        for (header, letter), value in zip(headers, values, strict=False):
            if header:
                cells[header] = SheetCell(text=cell_text(value), column=letter)
        row = SheetRow(line=line, cells=cells)
        if not row.is_blank():
            read_rows.append(row)
    return ReadSheet(
        name=ws.title,
        headers=tuple(h for h, _ in headers if h),
        rows=tuple(read_rows),
        letters={h: letter for h, letter in reversed(headers) if h},
    )
