"""Reading a table an analyst hands in: a CSV file (any encoding; `;`, `,` or tab separated) or
the first sheet of an .xlsx workbook, as numbered rows of text cells.

The participants manifest and the LimeSurvey exports are both read here, so a damaged file, a
broken CSV quote or an empty file gets the same French line whichever of them it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

from qualipipe.containers import check_container
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import decode_bytes
from qualipipe.text import fold_key

XLSX_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = ";,\t"  # on a tie, the first one: French CSV files are `;` separated


def header_words(header: str) -> list[str]:
    """A column header's words, accents and case aside (« Tranche d'âge » → tranche, d, age)."""
    return [w for w in re.split(r"[^a-z0-9]+", fold_key(header)) if w]


def header_key(header: str) -> str:
    """A column header as a key that survives accents, case and punctuation (« tranche_d_age »)."""
    return "_".join(header_words(header))


@dataclass(frozen=True)
class TableRows:
    headers: list[str]  # the first non-blank row
    rows: list[
        tuple[int, list[str]]
    ]  # (line or row number in the file, cells); blank rows left out
    sheet: str | None  # the sheet read, for a workbook


def plain_cell(value: object) -> str:
    return "" if value is None else str(value).strip()


def read_table(
    path: Path,
    *,
    advice: str,
    empty: str = "aucune ligne.",
    cell: Callable[[object], str] = plain_cell,
) -> TableRows:
    """Every row of `path`; `cell` turns a workbook value into text (CSV cells are stripped).

    `advice` ends the message for a damaged file (« réexportez-le »…); `empty` says what an
    empty file lacks."""
    if path.suffix.lower() in XLSX_SUFFIXES:
        numbered, sheet = _workbook_rows(path, cell, advice)
    else:
        numbered, sheet = _csv_rows(path, advice), None
    numbered = [(n, row) for n, row in numbered if any(row)]
    if not numbered:
        raise InputError(f"{path.name} est vide.", [Problem(str(path), empty)])
    return TableRows(numbered[0][1], numbered[1:], sheet)


def _workbook_rows(
    path: Path, cell: Callable[[object], str], advice: str
) -> tuple[list[tuple[int, list[str]]], str]:
    check_container(path, "classeur Excel")
    try:
        # Read-only sheets are parsed while iterating: the rows belong inside the guard.
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        rows = [
            (number, [cell(v) for v in row])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
        workbook.close()
    except Exception as error:  # openpyxl raises zipfile/KeyError/... for bad files
        raise InputError(
            f"{path.name} n'est pas un classeur Excel lisible.",
            [Problem(str(path), f"fichier .xlsx corrompu ({type(error).__name__}) ; {advice}.")],
        ) from None
    return rows, sheet.title


def _csv_rows(path: Path, advice: str) -> list[tuple[int, list[str]]]:
    text = decode_bytes(path.read_bytes(), str(path)).text
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=max(DELIMITERS, key=first.count))
    try:
        return [(reader.line_num, [c.strip() for c in row]) for row in reader]
    except csv.Error as error:
        raise InputError(
            f"{path.name} n'est pas un fichier CSV lisible.",
            [Problem(str(path), f"CSV invalide ({error}) ; {advice}.", reader.line_num)],
        ) from None
