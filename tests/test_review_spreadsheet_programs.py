"""Workbooks opened, filled and saved by a spreadsheet program other than Excel (LibreOffice).

What LibreOffice changes when it re-saves a review workbook is reproduced with openpyxl (CI has
no LibreOffice); one test does the real round trip through `soffice` and skips without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe import xlsx_layout as layout
from qualipipe.errors import InputError
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Participant,
    Role,
    Suggestion,
)
from qualipipe.review import workbook as wb
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review
from qualipipe.review.importer import import_decisions
from qualipipe.store import (
    decision_history,
    replace_suggestions,
    save_codebook_version,
    upsert_participant,
)
from tests.conftest import insert_lines_source

CODES = (
    Code("BES", "Besoins", "BES", codable=False),
    Code("BES_FINANCEMENT", "Financement", "BES", parent="BES"),
    Code("BES_LOCAUX", "Locaux", "BES", parent="BES"),
    Code("TRANS", "Transversaux", "TRANS", codable=False),
    Code("TRANS_FREINS", "Freins", "TRANS", parent="TRANS"),
)

LONG_ANSWER = (
    "Il nous manque surtout un financement pour démarrer la légumerie : la région attend que "
    "les communes s'engagent, les communes attendent la région, et pendant ce temps les "
    "producteurs vendent à perte. On a monté trois dossiers en deux ans, chaque fois refusés "
    "pour une question de calendrier, alors que le besoin est là et que les cantines attendent."
)
TURNS = (
    "Les locaux de la zone artisanale sont trop chers pour nous.",
    LONG_ANSWER,
    "-- note de l'enquêtrice : =à relancer",
)


@pytest.fixture
def study(make_study):
    s = make_study()
    with s.transaction():
        save_codebook_version(s.conn, Codebook(name="PTCE", version="1", codes=CODES), "v1")
        upsert_participant(s.conn, Participant("F1", "auxois", Role.FOUNDER, "Fondatrice 1"))
        ids = insert_lines_source(
            s.conn,
            "entretiens/f1.txt",
            TURNS,
            speakers="F1",
            participant_id="F1",
            territory_id="auxois",
            path="entretiens/f1.txt",
            format="txt",
        )
        replace_suggestions(
            s.conn,
            ids,
            [
                Suggestion(ids[0], "BES_LOCAUX", 0.8, "combiné", "mots proches de « locaux »"),
                Suggestion(ids[1], "BES_FINANCEMENT", 0.7, "combiné", "« financement »"),
                Suggestion(ids[1], "BES_LOCAUX", 0.55, "combiné", "raison " * 200),
            ],
            None,
        )
    s.segment_ids = ids  # type: ignore[attr-defined]
    return s


def _columns(sheet) -> dict[str, int]:
    return {str(cell.value): cell.column for cell in sheet[1] if cell.value}


def _row_of(sheet, segment_id: int) -> int:
    id_column = _columns(sheet)[wb.COL_SEGMENT_ID]
    for row in range(2, sheet.max_row + 1):
        if int(sheet.cell(row, id_column).value) == segment_id:
            return row
    raise AssertionError(f"segment {segment_id} absent du classeur")


def _slot(sheet, row: int, code: str) -> int:
    columns = _columns(sheet)
    k = 1
    while f"Code {k}" in columns:
        if str(sheet.cell(row, columns[f"Code {k}"]).value or "").startswith(code):
            return k
        k += 1
    raise AssertionError(f"{code} absent de la ligne {row}")


def _fill_as_analyst(path: Path, ids: list[int]) -> None:
    """Decisions typed the way LibreOffice leaves them: capitalised choice, autocorrected dash."""
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    columns = _columns(sheet)
    first, second = _row_of(sheet, ids[0]), _row_of(sheet, ids[1])
    sheet.cell(first, columns[f"Décision {_slot(sheet, first, 'BES_LOCAUX')}"], "Accepter ")
    sheet.cell(second, columns[f"Décision {_slot(sheet, second, 'BES_LOCAUX')}"], "rejeter")
    # " - " typed by hand becomes " – " (en dash) through LibreOffice's autocorrect.
    sheet.cell(second, columns[wb.add_header(1)], "TRANS_FREINS – Freins")
    sheet.cell(second, columns[wb.COL_COMMENT], "=à revoir\nen équipe")
    book.save(path)


def _store_integers_as_floats(path: Path, letter: str) -> None:
    """Rewrite one column's numbers as `<v>12.0</v>`, as some programs save them (openpyxl
    itself writes `12`)."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet_xml = "xl/worksheets/sheet1.xml"
    parts[sheet_xml] = re.sub(
        rf'(<c r="{letter}\d+"[^>]*><v>)(\d+)(</v>)', r"\1\2.0\3", parts[sheet_xml].decode()
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def _decisions(study) -> set[tuple[int, str | None, Action, str]]:
    return {(d.segment_id, d.code_id, d.action, d.comment) for d in decision_history(study.conn)}


def _expected(ids: list[int]) -> set[tuple[int, str | None, Action, str]]:
    return {
        (ids[0], "BES_LOCAUX", Action.ACCEPT, ""),
        (ids[1], "BES_LOCAUX", Action.REJECT, ""),
        (ids[1], "TRANS_FREINS", Action.ADD, ""),
        (ids[1], None, Action.COMMENT, "=à revoir\nen équipe"),
    }


def test_workbook_resaved_by_libreoffice_is_imported(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, ReviewFilter(), output=tmp_path / "revue.xlsx").path
    # What a re-save outside Excel changes: the metadata sheet is merely "hidden" (LibreOffice
    # has no "very hidden"), text loses its "'" prefix, and numbers may come back as floats.
    book = load_workbook(path)
    book[wb.META_SHEET].sheet_state = "hidden"
    sheet = book[wb.REVIEW_SHEET]
    id_letter = sheet.cell(1, _columns(sheet)[wb.COL_SEGMENT_ID]).column_letter
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.quotePrefix = False
    book.save(path)
    _store_integers_as_floats(path, id_letter)
    sheet = load_workbook(path)[wb.REVIEW_SHEET]
    assert isinstance(sheet[f"{id_letter}2"].value, float)

    _fill_as_analyst(path, ids)
    result = import_decisions(study, path, "Lou")
    assert not result.rejected and result.decisions_added == 4
    assert _decisions(study) == _expected(ids)


def test_workbook_saved_as_ods_gets_a_french_way_out(study, tmp_path) -> None:
    path = export_review(study, ReviewFilter(), output=tmp_path / "revue.xlsx").path
    ods = tmp_path / "revue.ods"
    shutil.copy(path, ods)
    with pytest.raises(InputError) as error:
        import_decisions(study, ods, "Lou")
    (problem,) = error.value.problems
    assert "format .ods" in problem.message and "Enregistrer sous" in problem.message
    assert decision_history(study.conn) == []


def test_wrapped_rows_get_a_height_for_libreoffice(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, ReviewFilter(), output=tmp_path / "revue.xlsx").path
    sheet = load_workbook(path)[wb.REVIEW_SHEET]
    columns = _columns(sheet)
    before_row, long_row = _row_of(sheet, ids[0]), _row_of(sheet, ids[1])

    def width(header: str) -> float:
        return sheet.column_dimensions[sheet.cell(1, columns[header]).column_letter].width

    # The long answer needs several lines, as the segment of its own row and as the context
    # after the previous one; LibreOffice would otherwise keep one-line rows and print the
    # text over the next rows.
    lines = layout.wrapped_lines(LONG_ANSWER, width(wb.COL_SEGMENT))
    assert lines >= 4
    assert sheet.row_dimensions[long_row].height >= lines * layout.LINE_HEIGHT
    context_lines = layout.wrapped_lines(LONG_ANSWER, width(wb.COL_AFTER))
    assert sheet.row_dimensions[before_row].height >= context_lines * layout.LINE_HEIGHT
    # A 1 400-character reason does not make the row hundreds of points tall.
    assert sheet.row_dimensions[long_row].height <= (wb.REASON_MAX_LINES + 1) * layout.LINE_HEIGHT


def test_report_table_rows_fit_their_verbatims(tmp_path) -> None:
    from qualipipe.synthesize.model import Table
    from qualipipe.synthesize.writers import Report, write_xlsx

    table = Table(
        key="BES",
        title="Besoins",
        columns=("Code", "Verbatims représentatifs"),
        rows=(("BES_FINANCEMENT", f"« {LONG_ANSWER} »\n« {LONG_ANSWER} »"), ("BES_LOCAUX", "—")),
    )
    workbook = load_workbook(
        write_xlsx(Report("Essai", (), (table,), tmp_path), tmp_path / "s.xlsx")
    )
    ws = workbook["BES"]
    verbatim_width = ws.column_dimensions["B"].width
    assert ws["B5"].alignment.wrap_text
    assert ws.row_dimensions[5].height >= 2 * (len(LONG_ANSWER) / verbatim_width) * 15
    assert ws.row_dimensions[6].height is None  # one-line rows keep the default height


# ---------------------------------------------------------------------------------------------
# The real program, when installed
# ---------------------------------------------------------------------------------------------


def _libreoffice_resave(path: Path, out_dir: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) absent")
    out_dir.mkdir()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(out_dir / 'profil').as_uri()}",
            "--headless",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(out_dir),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out_dir / path.name


def test_libreoffice_round_trip_keeps_lists_hidden_ids_and_imports(study, tmp_path) -> None:
    ids = study.segment_ids
    exported = export_review(study, ReviewFilter(), output=tmp_path / "revue.xlsx").path
    path = _libreoffice_resave(exported, tmp_path / "libreoffice")

    sheet = load_workbook(path)[wb.REVIEW_SHEET]
    columns = _columns(sheet)
    letters = {header: sheet.cell(1, index).column_letter for header, index in columns.items()}
    lists = {str(v.formula1): str(v.sqref) for v in sheet.data_validations.dataValidation}
    assert f'"{wb.ACCEPT},{wb.REJECT}"' in lists
    assert letters["Décision 1"] in lists[f'"{wb.ACCEPT},{wb.REJECT}"']
    (codebook_range,) = [f for f in lists if wb.CODEBOOK_SHEET in f]
    assert codebook_range.endswith("$G$2:$G$4")  # the three codable codes
    # LibreOffice groups adjacent hidden columns into one <col min max> element.
    hidden = {
        index
        for dim in sheet.column_dimensions.values()
        if dim.hidden
        for index in range(dim.min, dim.max + 1)
    }
    assert {columns[wb.COL_SEGMENT_ID], columns[wb.COL_FINGERPRINT]} <= hidden
    assert sheet.auto_filter.ref
    note = sheet.cell(_row_of(sheet, ids[2]), columns[wb.COL_SEGMENT])
    assert note.value == TURNS[2] and note.data_type == "s"  # still text, not a formula

    _fill_as_analyst(path, ids)
    result = import_decisions(study, path, "Lou")
    assert not result.rejected and result.decisions_added == 4
    assert _decisions(study) == _expected(ids)
