"""The participants' personal survey links, as a workbook the analyst sends by their own mail.

Written by `survey invite` for every participant (with or without an e-mail address): pseudonym,
study identifier, access code and link. No name and no address: the analyst matches identifiers
with their own contact list.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from qualipipe.errors import QualipipeError
from qualipipe.surveys.operations import InviteReport
from qualipipe.xlsx_layout import fit_row_heights, print_setup

LINKS_FOLDER = "invitations"
HEADERS = ("Participant", "Identifiant", "Code d'accès", "Lien personnel", "Invitation")
WIDTHS = (26, 14, 18, 68, 36)


def links_path(study_root: Path, report: InviteReport) -> Path:
    d = report.deployment
    return study_root / LINKS_FOLDER / f"liens_{d.instrument}_{d.territory_id}.xlsx"


def write_links(study_root: Path, report: InviteReport) -> Path:
    """Write (or rewrite) the links workbook of one survey and territory; return its path."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Liens"
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for outcome in report.outcomes:
        state = outcome.status + (f" ({outcome.error})" if outcome.error else "")
        sheet.append(
            [outcome.pseudonym, outcome.participant_id, outcome.token, outcome.link, state]
        )
        link = sheet.cell(row=sheet.max_row, column=4)
        link.hyperlink = outcome.link
        link.font = Font(color="0563C1", underline="single")
        for cell in sheet[sheet.max_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=cell.column == 5)
    for column, width in zip("ABCDE", WIDTHS, strict=True):
        sheet.column_dimensions[column].width = width
    fit_row_heights(sheet)  # LibreOffice does not size wrapped rows itself
    sheet.freeze_panes = "A2"
    print_setup(sheet, "1:1")  # one A4 page wide (landscape: the links are long)
    destination = links_path(study_root, report)
    temporary = destination.with_name(destination.name + ".tmp")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        workbook.save(temporary)
        temporary.replace(destination)  # never leave a half-written workbook behind
    except OSError as error:
        raise QualipipeError(
            f"Impossible d'écrire le fichier des liens {destination} : {error.strerror}. Fermez-le "
            "s'il est ouvert dans un tableur, puis relancez : les invitations ne seront pas "
            "renvoyées."
        ) from None
    return destination
