"""Workbooks the analysts fill in (post-its of workshop 1, préconisations): writing a form sheet
with drop-downs and a hidden description sheet, and reading it back with French errors.

Cells are written with the review workbook's formula-safe `put_text`, and read back with its
`read_sheet` (header row, one `SheetRow` per non-blank line).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from qualipipe.containers import check_container
from qualipipe.errors import InputError, Problem
from qualipipe.review.reading import ReadSheet, cell_text, read_sheet
from qualipipe.review.workbook import put_text
from qualipipe.xlsx_layout import fit_row_heights, fit_widths_to_page, print_setup

META_SHEET = "_qualipipe"
LISTS_SHEET = "Listes"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="2F5597")
TO_FILL = PatternFill("solid", fgColor="FFF2CC")
WRAP = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 20
    to_fill: bool = False  # yellow: the analyst writes here
    choices: str = ""  # name of a list on the « Listes » sheet (drop-down)


def write_header(ws: Worksheet, columns: Sequence[Column]) -> None:
    for index, column in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index)
        put_text(cell, column.header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = WRAP
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = "A2"
    ws.row_dimensions[1].height = 32


def write_rows(ws: Worksheet, rows: Sequence[Sequence[object]], first_row: int = 2) -> None:
    for i, values in enumerate(rows):
        for j, value in enumerate(values, start=1):
            cell = ws.cell(row=first_row + i, column=j)
            if isinstance(value, str):
                put_text(cell, value)
            else:
                cell.value = value  # type: ignore[assignment]
            cell.alignment = WRAP


def write_lists(workbook: Workbook, lists: dict[str, Sequence[str]]) -> None:
    """One column per list on a hidden sheet, each named (`=Horizons`) for the drop-downs."""
    ws = workbook.create_sheet(LISTS_SHEET)
    for index, (name, values) in enumerate(lists.items(), start=1):
        letter = get_column_letter(index)
        put_text(ws.cell(row=1, column=index), name)
        for row, value in enumerate(values, start=2):
            put_text(ws.cell(row=row, column=index), value)
        last = max(len(values) + 1, 2)
        workbook.defined_names[name] = DefinedName(
            name, attr_text=f"'{LISTS_SHEET}'!${letter}$2:${letter}${last}"
        )
        ws.column_dimensions[letter].width = 40
    ws.sheet_state = "hidden"


def add_drop_downs(ws: Worksheet, columns: Sequence[Column], rows: int, message: str) -> None:
    """A list validation on every column that has `choices`, over `rows` lines under the header."""
    for index, column in enumerate(columns, start=1):
        if column.to_fill:
            for row in range(2, rows + 2):
                ws.cell(row=row, column=index).fill = TO_FILL
        if not column.choices:
            continue
        validation = DataValidation(type="list", formula1=f"={column.choices}", allow_blank=True)
        validation.showErrorMessage = True
        validation.errorTitle = "Valeur non prévue"
        validation.error = message
        validation.showInputMessage = True
        validation.promptTitle = column.header[:32]
        validation.prompt = "Choisissez dans la liste."
        letter = get_column_letter(index)
        validation.add(f"{letter}2:{letter}{rows + 1}")
        ws.add_data_validation(validation)


def write_meta(workbook: Workbook, meta: dict[str, str]) -> None:
    ws = workbook.create_sheet(META_SHEET)
    for index, (key, value) in enumerate(meta.items(), start=1):
        put_text(ws.cell(row=index, column=1), key)
        put_text(ws.cell(row=index, column=2), value)
    ws.sheet_state = "veryHidden"  # nobody edits it by mistake


def write_help(workbook: Workbook, title: str, lines: Sequence[str]) -> None:
    ws = workbook.create_sheet(title)
    ws.column_dimensions["A"].width = 110
    for index, line in enumerate(lines, start=1):
        cell = ws.cell(row=index, column=1)
        put_text(cell, line)
        cell.alignment = Alignment(wrap_text=True)
    ws["A1"].font = Font(bold=True, size=13)


def print_forms(workbook: Workbook) -> None:
    """Every visible sheet prints on A4 one page wide at a readable scale; sheets written by
    `write_header` (their panes frozen under row 1) repeat that header row on every page."""
    for ws in workbook.worksheets:
        if ws.sheet_state != "visible":
            continue
        header = ws.freeze_panes == "A2"
        if header:
            fit_widths_to_page(ws, ws.max_column)
            fit_row_heights(ws)
        print_setup(ws, "1:1" if header else None, columns=ws.max_column)


def save(workbook: Workbook, path: Path) -> Path:
    print_forms(workbook)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        workbook.save(path)
    except OSError as error:
        raise InputError(
            f"Impossible d'écrire {path.name}.",
            [
                Problem(
                    str(path),
                    f"écriture refusée ({error.strerror or error}) ; fermez le fichier s'il est "
                    "ouvert dans un tableur, ou choisissez un autre dossier.",
                )
            ],
        ) from None
    return path


@dataclass(frozen=True)
class FilledForm:
    path: Path
    meta: dict[str, str]
    sheet: ReadSheet
    lists: dict[str, list[str]]  # the drop-down lists the form was written with


def read_form(path: Path, sheet: str, *, what: str, command: str) -> FilledForm:
    """Open a filled form; French errors when it is unreadable or not the expected form.

    `what` names the form in messages (« classeur de préconisations »), `command` is the one that
    writes a fresh template.
    """
    name = path.name
    if not path.is_file():
        raise InputError(f"{name} introuvable.", [Problem(str(path), "le fichier n'existe pas.")])
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(
            f"{name} n'est pas un classeur Excel (.xlsx).",
            [
                Problem(
                    name,
                    f"attendu : le {what} écrit par « {command} », rempli puis enregistré au "
                    "format « Classeur Excel (.xlsx) ».",
                )
            ],
        )
    check_container(path, "classeur Excel")  # bounded: no zip bomb reaches the parser
    try:
        workbook = load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise InputError(
            f"Impossible de lire le {what} {name}.",
            [
                Problem(
                    name,
                    f"ce n'est pas un classeur Excel .xlsx lisible ({type(error).__name__}) ; "
                    "enregistrez-le au format « Classeur Excel (.xlsx) » puis recommencez.",
                )
            ],
        ) from None
    if sheet not in workbook.sheetnames:
        raise InputError(
            f"{name} n'est pas un {what}.",
            [
                Problem(
                    name,
                    f"la feuille « {sheet} » est introuvable (renommée ou supprimée ?) ; "
                    f"rendez-lui son nom ou repartez d'un modèle écrit par « {command} ».",
                )
            ],
        )
    meta: dict[str, str] = {}
    if META_SHEET in workbook.sheetnames:
        meta = {
            cell_text(row[0]): cell_text(row[1])
            for row in workbook[META_SHEET].iter_rows(min_col=1, max_col=2, values_only=True)
            if row[0] is not None
        }
    lists: dict[str, list[str]] = {}
    if LISTS_SHEET in workbook.sheetnames:
        for column in workbook[LISTS_SHEET].iter_cols(values_only=True):
            if column and column[0] is not None:
                lists[cell_text(column[0])] = [cell_text(v) for v in column[1:] if v is not None]
    return FilledForm(path, meta, read_sheet(workbook[sheet]), lists)


def require_headers(form: FilledForm, headers: Sequence[str], command: str) -> None:
    missing = [h for h in headers if h not in form.sheet.headers]
    if missing:
        raise InputError(
            f"{form.path.name} : colonnes manquantes, rien n'a été importé.",
            [
                Problem(
                    form.path.name,
                    f"colonne « {h} » absente de la ligne 1 ; rendez-lui son nom ou repartez "
                    f"d'un modèle écrit par « {command} ».",
                    line=1,
                    sheet=form.sheet.name,
                )
                for h in missing
            ],
        )
