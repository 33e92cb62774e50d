"""Write the report's tables and figures as a workbook that prints, a Word document and Markdown.

Every writer renders a `Table` from the same fields (see `model.Table`): the workbook keeps every
row and the raw values (identifiers in hidden columns, the status spelled out); Word and Markdown
show what a reader needs (labels, status symbols, at most `document_rows` rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from qualipipe.synthesize import docx_report as dr
from qualipipe.synthesize.cells import document_table, numbered
from qualipipe.synthesize.cells import french_number as french_number
from qualipipe.synthesize.model import Cell, Figure, Table
from qualipipe.xlsx_layout import fit_row_heights, fit_widths_to_page, print_setup, wrapped_banner

HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
MUTED_FONT = Font(italic=True)
FORMULA_START = ("=", "+", "-", "@")
NO_DATA = "aucune donnée : pas de feuille (rien dans les textes analysés ne relève de ce tableau)"
MAX_XLSX_WIDTH = 60  # characters: a verbatim column wraps rather than pushing the others away


@dataclass(frozen=True)
class Report:
    title: str
    intro: tuple[str, ...]  # lines under the title (study, date, bases, legend)
    blocks: tuple[Table | Figure, ...]
    relative_to: Path = field(default_factory=Path)  # figure paths in Markdown are relative to it


# ---------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------


def sheet_name(key: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", key).strip()[:31] or "Tableau"
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def _set(cell, value: Cell) -> None:
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_START):
        cell.data_type = "s"  # a verbatim is text, never a formula


def write_xlsx(report: Report, path: Path) -> Path:
    wb = Workbook()
    summary = wb.active
    summary.title = "Sommaire"
    _set(summary.cell(1, 1), report.title)
    summary.cell(1, 1).font = Font(bold=True, size=14)
    row = 2
    for line in report.intro:
        _set(summary.cell(row, 1), line)
        row += 1
    row += 1
    used = {"sommaire"}
    for caption, block in numbered(report.blocks):
        if isinstance(block, Table) and not block.rows:
            # a header alone prints as a page lost in the layout: no sheet, the summary says why
            _set(summary.cell(row, 1), caption)
            _set(summary.cell(row, 2), NO_DATA)
            summary.cell(row, 2).font = MUTED_FONT
        elif isinstance(block, Table):
            name = sheet_name(block.key, used)
            _set(summary.cell(row, 1), caption)
            _set(summary.cell(row, 2), f"feuille « {name} »")
            _write_sheet(wb.create_sheet(name), caption, block)
        else:
            _set(summary.cell(row, 1), caption)
            _set(summary.cell(row, 2), str(block.path.relative_to(report.relative_to)))
        row += 1
    summary.column_dimensions["A"].width = 70  # with B: one portrait page wide
    summary.column_dimensions["B"].width = 28
    for cells in summary.iter_rows(min_row=2):
        for cell in cells:
            cell.alignment = WRAP_TOP
    fit_row_heights(summary)
    print_setup(summary, columns=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _write_sheet(ws, caption: str, table: Table) -> None:
    _set(ws.cell(1, 1), caption)
    ws.cell(1, 1).font = Font(bold=True, size=12)
    if table.note:
        _set(ws.cell(2, 1), table.note)
        ws.cell(2, 1).font = Font(italic=True, size=9)
    header_row = 4
    kept = range(len(table.columns))  # every column: the workbook is the data
    shown = set(table.shown_columns())
    for k, j in enumerate(kept, start=1):
        cell = ws.cell(header_row, k)
        _set(cell, table.columns[j])
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, values in enumerate(table.rows):
        muted = i in table.muted_rows
        for k, j in enumerate(kept, start=1):
            cell = ws.cell(header_row + 1 + i, k)
            _set(cell, values[j])
            cell.alignment = WRAP_TOP
            if j in table.percent_columns:
                cell.number_format = "0%"
            if muted:
                cell.font = MUTED_FONT
    for k, j in enumerate(kept, start=1):
        longest = max(
            [max((len(w) for w in table.columns[j].split()), default=0)]
            + [len(line) for r in table.rows for line in str(r[j] or "").split("\n")]
        )
        dimension = ws.column_dimensions[get_column_letter(k)]
        dimension.width = max(9, min(MAX_XLSX_WIDTH, longest + 2))
        # ids and empty columns stay for filters, unseen; details stay visible
        dimension.hidden = j not in shown and j not in table.detail_columns
    fit_widths_to_page(ws, len(kept))
    fit_row_heights(ws, first_row=header_row, header_row=header_row)
    wrapped_banner(ws, 1, len(kept))
    wrapped_banner(ws, 2, len(kept))
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    print_setup(ws, f"{header_row}:{header_row}", columns=len(kept))
    if table.rows:
        last = get_column_letter(len(kept))
        ws.auto_filter.ref = f"A{header_row}:{last}{header_row + len(table.rows)}"


# ---------------------------------------------------------------------------------------------
# Word
# ---------------------------------------------------------------------------------------------


def write_docx(report: Report, path: Path) -> Path:
    blocks = numbered(_document_blocks(report))
    doc = dr.new_document(
        report.title, report.intro, landscape=bool(blocks) and _landscape(blocks[0][1])
    )
    section = None
    for caption, block in blocks:
        if block.section and block.section != section:
            section = block.section
            dr.use_orientation(doc, landscape=_landscape(block))  # heading on the block's page
            doc.add_heading(section, level=1)
        if isinstance(block, Table):
            dr.add_table(doc, document_table(block, block.key), caption)
        else:
            dr.add_figure(doc, block.path, caption)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _landscape(block: Table | Figure) -> bool:
    return isinstance(block, Table) and dr.plan_columns(document_table(block)).landscape


def _document_blocks(report: Report) -> list[Table | Figure]:
    return [b for b in report.blocks if not isinstance(b, Table) or b.in_documents]


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown_table(table: Table) -> str:
    view = document_table(table, table.key)
    lines = [
        "| " + " | ".join(_md_cell(c) for c in view.headers) + " |",
        "|"
        + "|".join("---:" if j in view.numeric else "---" for j in range(len(view.headers)))
        + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in view.rows]
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> Path:
    parts = [f"# {report.title}", "", *[f"{line}  " for line in report.intro], ""]
    section = None
    for caption, block in numbered(_document_blocks(report)):
        if block.section and block.section != section:
            section = block.section
            parts += [f"## {section}", ""]
        if isinstance(block, Table):
            parts += [f"**{caption}**", ""]
            parts += [markdown_table(block) if block.rows else "_Aucune ligne._", ""]
            view = document_table(block, block.key)
            notes = " ".join(t for t in (view.summary, view.note) if t)
            if notes:
                parts += [f"_{notes}_", ""]
        else:
            relative = block.path.relative_to(report.relative_to).as_posix()
            parts += [f"![{block.title}]({relative})", "", f"*{caption}*", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
