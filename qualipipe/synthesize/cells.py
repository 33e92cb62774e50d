"""How a `Table` reads in a document: French numbers, status symbols, kept columns, captions.

Shared by the Word and Markdown writers (and any report module) so that every table of every
document is rendered by the same rules; the workbook keeps the raw values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qualipipe.synthesize.model import MIXED, SUGGESTED, VALIDATED, Cell, Figure, Table

# Review status in documents: a symbol and a legend instead of greyed text.
STATUS_SYMBOLS = {VALIDATED: "✓", SUGGESTED: "○", MIXED: "✓○"}
STATUS_HEADER = "Revue"
STATUS_LEGEND = (
    "Revue : ✓ codage validé par un·e analyste ; ○ suggéré par la machine, non revu ; "
    "✓○ les deux. Un verbatim précédé de ○ vient d'une suggestion non revue."
)
UNREVIEWED_MARK = "○"


def french_number(value: Cell, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if percent and isinstance(value, (int, float)):
        return f"{round(value * 100):d}\u202f%"
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return _french_separators(text, group=abs(value) >= GROUP_FROM)
    if isinstance(value, int):
        return _french_separators(f"{value:,}", group=abs(value) >= GROUP_FROM)
    return str(value)


# French typography groups digits by three with a narrow no-break space; from five digits on
# only (« 12 345 » but « 2021 »), so that years and small counts stay as written.
GROUP_FROM = 10_000
NARROW_NBSP = "\u202f"


def _french_separators(english: str, *, group: bool) -> str:
    """'12,345.5' (Python's grouping) → '12 345,5'; without grouping → '12345,5'."""
    return english.replace(",", NARROW_NBSP if group else "").replace(".", ",")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts « Acteur 2 » before « Acteur 10 » (digits compared as numbers)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", text)
        if part
    )


def numbered(blocks: Sequence[Table | Figure]) -> list[tuple[str, Table | Figure]]:
    """« Tableau n — … » / « Figure n — … » captions, numbered separately in document order;
    workbook-only tables keep a caption but take no number in documents."""
    tables = figures = 0
    out: list[tuple[str, Table | Figure]] = []
    for block in blocks:
        if isinstance(block, Table):
            tables += 1
            out.append((f"Tableau {tables} — {block.title}", block))
        else:
            figures += 1
            out.append((f"Figure {figures} — {block.title}", block))
    return out


@dataclass(frozen=True)
class DocumentTable:
    """A table as printed: headers and cells as text, which columns are numbers or free text."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int]  # right-aligned
    long: frozenset[int]  # free text that takes the room left
    note: str
    summary: str = ""  # « … et 40 autres lignes (classeur, feuille X) » when rows were cut


def document_table(table: Table, sheet: str = "") -> DocumentTable:
    """The columns a reader needs (no ids, no empty optional columns), status as a symbol, at
    most `document_rows` rows with the rest summarised."""
    kept = table.shown_columns()
    headers = tuple(STATUS_HEADER if j == table.status_column else table.columns[j] for j in kept)
    shown = table.rows[: table.document_rows] if table.document_rows else table.rows
    rows = tuple(
        tuple(
            ""
            if j in table.grouped_columns and i and row[j] == shown[i - 1][j]
            else _cell_text(table, j, row[j])
            for j in kept
        )
        for i, row in enumerate(shown)
    )
    numeric = frozenset(
        k
        for k, j in enumerate(kept)
        if j != table.status_column
        and table.rows
        and all(isinstance(r[j], (int, float)) or r[j] is None for r in table.rows)
    )
    long = frozenset(k for k, j in enumerate(kept) if j in table.long_columns)
    note = table.note
    statuses = (
        {row[table.status_column] for row in table.rows}
        if table.status_column is not None
        else set()
    )
    if table.status_column in kept and statuses - {VALIDATED}:
        note = f"{note} {STATUS_LEGEND}".strip()
    rest = len(table.rows) - len(shown)
    summary = ""
    if rest > 0:
        where = f" (feuille « {sheet} » du classeur)" if sheet else " (voir le classeur)"
        summary = (
            f"Les {len(shown)} premières lignes sur {len(table.rows)} ; les {rest} autres{where}."
        )
    return DocumentTable(headers, rows, numeric, long, note, summary)


ZERO_WIDTH_SPACE = "\u200b"


def breakable(header: str) -> str:
    """Let a header wrap after a slash too (« accompagnement/réseau »), not only at spaces."""
    return header.replace("/", "/" + ZERO_WIDTH_SPACE)


def words(text: str) -> list[str]:
    """The pieces a line may wrap between: split at spaces, at zero-width spaces and after the
    hyphen inside a word (Word and LibreOffice wrap « Hautes-|Alpes » there)."""
    return [p for p in re.split(r"\s+|(?<=\w-)(?=\w)", text.replace(ZERO_WIDTH_SPACE, " ")) if p]


def _cell_text(table: Table, j: int, value: Cell) -> str:
    if j == table.status_column and isinstance(value, str):
        return STATUS_SYMBOLS.get(value, value)
    return french_number(value, percent=j in table.percent_columns)
