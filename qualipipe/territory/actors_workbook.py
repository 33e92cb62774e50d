"""The cited-actors workbook: analysts mark each organisation « déjà associé » or « à contacter ».

Export writes one row per cited organisation (all territories, or one), pre-filled with the
latest follow-up recorded; import checks the whole file first, then appends the changed rows to
`cited_actor_statuses` under the analyst's name (history kept, latest row wins). An organisation
is identified by the keys of its variants, so a status survives re-runs that regroup variants.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from qualipipe import store
from qualipipe.containers import check_container
from qualipipe.errors import InputError, Problem, QualipipeError
from qualipipe.pseudonymize import pseudonymizer_for
from qualipipe.records import Territory
from qualipipe.review.reading import cell_text, read_sheet
from qualipipe.review.workbook import META_SHEET, put, put_text
from qualipipe.territory.actor_sources import actor_inputs
from qualipipe.territory.actors import CitedActor, CitedActors, cited_actors
from qualipipe.xlsx_layout import fit_row_heights, fit_widths_to_page, print_setup

SHEET = "Acteurs cités"
FORMAT = "acteurs-cites"
ASSOCIATED = "déjà associé"
TO_CONTACT = "à contacter"
STATUSES = (ASSOCIATED, TO_CONTACT)

COL_KEY = "cle"
COL_TERRITORY = "Territoire"
COL_NAME = "Organisation"
COL_STATUS = "Suivi"
COL_COMMENT = "Commentaire"
# Widths (Excel units) that share a landscape A4 page at a readable scale, the excerpt widest.
COLUMNS = (
    (COL_TERRITORY, 11),
    (COL_NAME, 24),
    ("Variantes", 18),
    ("Type d'acteur (supposé)", 14),
    ("Participants", 12),
    ("Cité par", 16),
    ("Enjeux", 20),
    ("Extrait", 42),
    (COL_STATUS, 13),
    (COL_COMMENT, 20),
    (COL_KEY, 10),
)
TO_FILL = PatternFill("solid", fgColor="FFF2CC")
HEADER = PatternFill("solid", fgColor="2F5597")


@dataclass(frozen=True)
class Status:
    """The latest follow-up an analyst recorded for one cited organisation, and who recorded it."""

    status: str
    comment: str
    coder: str
    decided_at: str


@dataclass(frozen=True)
class ExportResult:
    """The workbook written, and how many organisations it lists."""

    path: Path
    rows: int


@dataclass(frozen=True)
class ImportResult:
    """What one workbook import read, and how many statuses it appended or found unchanged."""

    file: str
    rows_read: int
    added: int
    unchanged: int


def latest_statuses(conn: sqlite3.Connection) -> dict[tuple[str, str], Status]:
    """(territory, variant key) -> latest follow-up recorded."""
    latest: dict[tuple[str, str], Status] = {}
    for r in conn.execute("SELECT * FROM cited_actor_statuses ORDER BY id"):
        latest[(r["territory_id"], r["actor_key"])] = Status(
            r["status"], r["comment"], r["coder"], r["decided_at"]
        )
    return latest


def status_of(
    actor: CitedActor, territory_id: str, latest: dict[tuple[str, str], Status]
) -> Status | None:
    """The most recent status recorded under any of the actor's variant keys."""
    found = [latest[(territory_id, k)] for k in actor.member_keys if (territory_id, k) in latest]
    return max(found, key=lambda s: s.decided_at) if found else None


def study_cited_actors(
    study: store.Study, territory: str | None, pseudonymize: Callable[[str], str] | None = None
) -> list[CitedActors]:
    """Cited actors of one territory or all (the NER cache is written in the same step)."""
    territories: Sequence[Territory] = (
        [study.config.territory(territory)] if territory else study.config.territories
    )
    pseudo = pseudonymize or pseudonymizer_for(study)
    with study.transaction() as conn:
        return [cited_actors(conn, actor_inputs(conn, t), pseudo) for t in territories]


def export_actor_workbook(
    study: store.Study, path: Path, *, territory: str | None = None
) -> ExportResult:
    results = study_cited_actors(study, territory)
    latest = latest_statuses(study.conn)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    for j, (name, width) in enumerate(COLUMNS, start=1):
        cell = ws.cell(1, j)
        put_text(cell, name)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEADER
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(j)].width = width
    row = 1
    for result in results:
        for actor in result.actors:
            row += 1
            status = status_of(actor, result.territory.id, latest)
            values: tuple[str | int, ...] = (
                result.territory.id,
                actor.name,
                " ; ".join(actor.variants),
                actor.actor_type,
                len(actor.participants),
                ", ".join(actor.cited_by),
                ", ".join(actor.codes),
                actor.excerpt,
                status.status if status else "",
                status.comment if status else "",
                actor.key,
            )
            for j, value in enumerate(values, start=1):
                cell = ws.cell(row, j)
                put(cell, value)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if COLUMNS[j - 1][0] in (COL_STATUS, COL_COMMENT):
                    cell.fill = TO_FILL
    key_letter = get_column_letter(len(COLUMNS))
    ws.column_dimensions[key_letter].hidden = True
    status_letter = get_column_letter([c for c, _ in COLUMNS].index(COL_STATUS) + 1)
    choice = DataValidation(type="list", formula1=f'"{",".join(STATUSES)}"', allow_blank=True)
    choice.error = f"Choisissez « {ASSOCIATED} » ou « {TO_CONTACT} », ou laissez vide."
    choice.add(f"{status_letter}2:{status_letter}{max(row, 2)}")
    ws.add_data_validation(choice)
    ws.freeze_panes = "C2"
    fit_widths_to_page(ws, len(COLUMNS))
    fit_row_heights(ws)
    print_setup(ws, "1:1", columns=len(COLUMNS))
    meta = wb.create_sheet(META_SHEET)
    put_text(meta.cell(1, 1), "format")
    put_text(meta.cell(1, 2), FORMAT)
    meta.sheet_state = "veryHidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        wb.save(path)
    except OSError as error:
        raise QualipipeError(
            f"Impossible d'écrire {path} ({error.strerror or error}) : fermez le fichier s'il est "
            "ouvert dans Excel ou choisissez un autre dossier avec --sortie."
        ) from None
    return ExportResult(path, row - 1)


def _normalise_status(text: str) -> str | None:
    """« A contacter », « deja associe », « à contacter » → the stored value; None if unknown."""
    plain = "".join(
        c
        for c in unicodedata.normalize("NFD", text.strip().lower())
        if not unicodedata.combining(c)
    )
    if not plain:
        return ""
    for status in STATUSES:
        folded = "".join(
            c for c in unicodedata.normalize("NFD", status) if not unicodedata.combining(c)
        )
        if plain == folded:
            return status
    return None


def _open(path: Path) -> Workbook:
    name = path.name
    if path.is_file():
        check_container(path, "classeur Excel")  # bounded: no zip bomb reaches the parser
    try:
        wb = load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise InputError(
            f"Impossible de lire le classeur {name}.",
            [
                Problem(
                    name,
                    "fichier introuvable, ou pas un classeur Excel .xlsx lisible : enregistrez-le "
                    "au format « Classeur Excel (.xlsx) » puis recommencez.",
                )
            ],
        ) from None
    meta = wb[META_SHEET] if META_SHEET in wb.sheetnames else None
    if meta is None or cell_text(meta.cell(1, 2).value) != FORMAT or SHEET not in wb.sheetnames:
        raise InputError(
            f"{name} n'est pas un classeur d'acteurs cités exporté par qualipipe.",
            [
                Problem(
                    name,
                    "utilisez le classeur produit par « qualipipe territory actors-export » "
                    f"(feuille « {SHEET} »).",
                )
            ],
        )
    return wb


def import_actor_workbook(study: store.Study, path: Path, coder: str) -> ImportResult:
    """Check every row, then record the changed follow-ups in one transaction."""
    coder = coder.strip()
    if not coder:
        raise QualipipeError("Indiquez qui a rempli le classeur avec --coder NOM.")
    sheet = read_sheet(_open(path)[SHEET])
    missing = [
        c
        for c in (COL_TERRITORY, COL_NAME, COL_STATUS, COL_COMMENT, COL_KEY)
        if c not in sheet.headers
    ]
    if missing:
        raise InputError(
            f"{path.name} : colonnes manquantes, rien n'a été importé.",
            [Problem(path.name, f"colonne « {c} » introuvable (renommée ou supprimée ?).") for c in missing],
        )  # fmt: skip
    known = {t.id for t in study.config.territories}
    problems: list[Problem] = []
    rows: list[tuple[str, str, str, str, str]] = []
    for r in sheet.rows:
        territory, key = r.text(COL_TERRITORY), r.text(COL_KEY)
        status = _normalise_status(r.text(COL_STATUS))
        if territory not in known:
            problems.append(Problem(path.name, f"territoire « {territory} » inconnu de l'étude.", line=r.line, column=r.where(COL_TERRITORY)))  # fmt: skip
        if not key:
            problems.append(Problem(path.name, "la colonne cachée « cle » est vide : ne modifiez pas les lignes, exportez à nouveau.", line=r.line))  # fmt: skip
        if status is None:
            problems.append(Problem(path.name, f"« {r.text(COL_STATUS)} » n'est pas un suivi possible : choisissez « {ASSOCIATED} » ou « {TO_CONTACT} », ou laissez vide.", line=r.line, column=r.where(COL_STATUS)))  # fmt: skip
        rows.append((territory, key, r.text(COL_NAME), status or "", r.text(COL_COMMENT)))
    if problems:
        raise InputError(
            f"{path.name} : {len(problems)} problème(s), rien n'a été importé :", problems
        )
    latest = latest_statuses(study.conn)
    added = unchanged = 0
    with study.transaction() as conn:
        for territory, key, name, status, comment in rows:
            before = latest.get((territory, key))
            previous = (before.status, before.comment) if before else ("", "")
            if previous == (status, comment):
                unchanged += 1
                continue
            conn.execute(
                """INSERT INTO cited_actor_statuses
                   (territory_id, actor_key, actor_name, status, comment, coder, decided_at, origin)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (territory, key, name, status, comment, coder, store.now_iso(), path.name),
            )
            added += 1
    return ImportResult(path.name, len(rows), added, unchanged)
