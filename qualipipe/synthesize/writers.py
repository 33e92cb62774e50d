"""Write the report's tables and figures as a formatted workbook, a Word document and Markdown."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Inches, Pt, RGBColor
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from qualipipe.synthesize.model import Cell, Figure, Table
from qualipipe.xlsx_layout import fit_row_heights

WORD_TABLE_STYLE = "Light Grid Accent 1"
# Landscape A4: report tables have up to ~10 columns, one of them long verbatims.
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = Cm(29.7), Cm(21.0), Cm(1.5)
MIN_COLUMN = Cm(1.4)
HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
MUTED_FONT = Font(italic=True, color="808080")
MUTED = "808080"
FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True)
class Report:
    title: str
    intro: tuple[str, ...]  # lines under the title (study, date, bases, legend)
    blocks: tuple[Table | Figure, ...]
    relative_to: Path = field(default_factory=Path)  # figure paths in Markdown are relative to it


def french_number(value: Cell, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if percent and isinstance(value, (int, float)):
        return f"{round(value * 100):d}\u202f%"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text.replace(".", ",")
    return str(value)


def numbered(blocks: Sequence[Table | Figure]) -> list[tuple[str, Table | Figure]]:
    """'Tableau n' / 'Figure n' captions, numbered separately in document order."""
    tables = figures = 0
    out: list[tuple[str, Table | Figure]] = []
    for block in blocks:
        if isinstance(block, Table):
            tables += 1
            out.append((f"Tableau {tables} : {block.title}", block))
        else:
            figures += 1
            out.append((f"Figure {figures} : {block.title}", block))
    return out


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


def _set(cell, value: Cell) -> None:  # noqa: ANN001 - openpyxl cell
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
        if isinstance(block, Table):
            name = sheet_name(block.key, used)
            _set(summary.cell(row, 1), caption)
            _set(summary.cell(row, 2), f"feuille « {name} »")
            _write_sheet(wb.create_sheet(name), caption, block)
        else:
            _set(summary.cell(row, 1), caption)
            _set(summary.cell(row, 2), str(block.path.relative_to(report.relative_to)))
        row += 1
    summary.column_dimensions["A"].width = 90
    summary.column_dimensions["B"].width = 40
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _write_sheet(ws, caption: str, table: Table) -> None:  # noqa: ANN001 - openpyxl sheet
    _set(ws.cell(1, 1), caption)
    ws.cell(1, 1).font = Font(bold=True, size=12)
    if table.note:
        _set(ws.cell(2, 1), table.note)
        ws.cell(2, 1).alignment = Alignment(wrap_text=False)
        ws.cell(2, 1).font = Font(italic=True, size=9)
    header_row = 4
    for j, name in enumerate(table.columns, start=1):
        cell = ws.cell(header_row, j)
        _set(cell, name)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, values in enumerate(table.rows):
        muted = i in table.muted_rows
        for j, value in enumerate(values, start=1):
            cell = ws.cell(header_row + 1 + i, j)
            _set(cell, value)
            cell.alignment = WRAP_TOP
            if (j - 1) in table.percent_columns:
                cell.number_format = "0%"
            if muted:
                cell.font = MUTED_FONT
    widths = []
    for j, name in enumerate(table.columns, start=1):
        longest = max([len(name)] + [len(str(r[j - 1] or "")) for r in table.rows])
        widths.append(max(10, min(70, longest + 2)))
        ws.column_dimensions[get_column_letter(j)].width = widths[-1]
    fit_row_heights(ws, first_row=header_row, header_row=header_row)
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    if table.rows:
        last = get_column_letter(len(table.columns))
        ws.auto_filter.ref = f"A{header_row}:{last}{header_row + len(table.rows)}"


# ---------------------------------------------------------------------------------------------
# Word
# ---------------------------------------------------------------------------------------------


def write_docx(report: Report, path: Path) -> Path:
    doc = Document()
    _landscape(doc)
    # Small type for every table, set once on the table style (per-run sizes are slow to write).
    doc.styles[WORD_TABLE_STYLE].font.size = Pt(8)
    doc.core_properties.title = report.title
    doc.core_properties.author = "qualipipe"
    doc.add_heading(report.title, level=0)
    for line in report.intro:
        doc.add_paragraph(line)
    section = None
    for caption, block in numbered(report.blocks):
        if block.section and block.section != section:
            section = block.section
            doc.add_heading(section, level=1)
        if isinstance(block, Table):
            doc.add_paragraph(caption, style="Caption")
            _word_table(doc, block)
            if block.note:
                note = doc.add_paragraph()
                run = note.add_run(block.note)
                run.italic = True
                run.font.size = Pt(8)
        else:
            doc.add_picture(str(block.path), width=Inches(6.3))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            doc.add_paragraph(caption, style="Caption")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _landscape(doc) -> None:  # noqa: ANN001 - python-docx Document
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN
    section.top_margin = section.bottom_margin = MARGIN


def column_widths(table: Table, available: int) -> list[int]:
    """Widths (EMU) in proportion to each column's typical text length, so verbatims get room.

    Word and LibreOffice otherwise split the page evenly, which squeezes long quotes into a
    column a few letters wide.
    """
    weights = []
    for j, name in enumerate(table.columns):
        lengths = sorted(len(str(row[j])) for row in table.rows) or [0]
        typical = lengths[
            int(0.9 * (len(lengths) - 1))
        ]  # 90th percentile: one outlier must not win
        header = max((len(word) for word in name.split()), default=0)
        weights.append(max(header, min(typical, 120), 4))
    total = sum(weights)
    widths = [max(int(available * w / total), int(MIN_COLUMN)) for w in weights]
    excess = sum(widths) - available
    if excess > 0:  # minimum widths overflowed the page: take it back from the widest column
        widest = widths.index(max(widths))
        widths[widest] = max(widths[widest] - excess, int(MIN_COLUMN))
    return widths


def _word_table(doc, table: Table) -> None:  # noqa: ANN001 - python-docx Document
    # All rows at once: python-docx's add_row() re-reads the whole table each time (slow).
    grid = doc.add_table(rows=1 + len(table.rows), cols=len(table.columns))
    grid.style = WORD_TABLE_STYLE
    grid.autofit = False
    cells = grid._cells  # row-major list, one entry per cell (no merged cells here)
    width = len(table.columns)
    widths = column_widths(table, int(PAGE_WIDTH - 2 * MARGIN))
    for j, column in enumerate(grid.columns):
        column.width = widths[j]  # LibreOffice reads the grid
    for index, cell in enumerate(cells):
        cell.width = widths[index % width]  # Word reads the cells
    for j, name in enumerate(table.columns):
        cells[j].paragraphs[0].add_run(name).bold = True
    for i, values in enumerate(table.rows):
        for j, value in enumerate(values):
            cell = cells[(i + 1) * width + j]
            run = cell.paragraphs[0].add_run(
                french_number(value, percent=j in table.percent_columns)
            )
            if i in table.muted_rows:
                run.italic = True
                run.font.color.rgb = RGBColor(0x80, 0x80, 0x80)


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def _md_cell(value: Cell, *, percent: bool) -> str:
    text = french_number(value, percent=percent)
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(_md_cell(c, percent=False) for c in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    for i, values in enumerate(table.rows):
        cells = [_md_cell(v, percent=j in table.percent_columns) for j, v in enumerate(values)]
        if i in table.muted_rows:
            cells = [f"*{c}*" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> Path:
    parts = [f"# {report.title}", "", *[f"{line}  " for line in report.intro], ""]
    section = None
    for caption, block in numbered(report.blocks):
        if block.section and block.section != section:
            section = block.section
            parts += [f"## {section}", ""]
        if isinstance(block, Table):
            parts += [f"**{caption}**", ""]
            parts += [markdown_table(block) if block.rows else "_Aucune ligne._", ""]
            if block.note:
                parts += [f"_{block.note}_", ""]
        else:
            relative = block.path.relative_to(report.relative_to).as_posix()
            parts += [f"![{block.title}]({relative})", "", f"*{caption}*", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
