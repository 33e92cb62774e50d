"""Préconisations: the workbook the analyst fills (`report template`), its import (`report
import`, all or nothing, every problem reported at once) and its history in the study.

Every import is kept (append-only tables); the latest import of a territory is its current set.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook

from qualipipe import forms
from qualipipe.errors import InputError, Problem
from qualipipe.pseudonymize import Policy, pseudonymizer_for
from qualipipe.records import ActorType, Codebook, Territory
from qualipipe.review.workbook import code_choice, code_id_of
from qualipipe.store import Study, code_redirect_map, first_value, list_participants, now_iso
from qualipipe.synthesize.tables import shown_organisation
from qualipipe.text import fold_key

from .issues import PRIORITY_COLUMNS, PriorityIssue, priority_rows

SHEET = "Préconisations"
ISSUES_SHEET = "Enjeux prioritaires"
FORMAT = "preconisations"
TEMPLATE_COMMAND = "qualipipe report template"
HORIZONS = ("court terme", "moyen terme", "long terme")
SLOTS = 3
OTHER_ACTOR = "Autre : "
COL_NUMBER, COL_TEXT, COL_HORIZON = "N°", "Préconisation", "Horizon"
COL_MEANS, COL_INDICATOR = "Moyens", "Indicateur de suivi"
ISSUE_COLUMNS = tuple(f"Enjeu traité {k}" for k in range(1, SLOTS + 1))
ACTOR_COLUMNS = tuple(f"Acteur à associer {k}" for k in range(1, SLOTS + 1))
COLUMNS = (
    forms.Column(COL_NUMBER, 6),
    forms.Column(COL_TEXT, 60, to_fill=True),
    *(forms.Column(h, 34, to_fill=True, choices="Codes") for h in ISSUE_COLUMNS),
    *(forms.Column(h, 34, to_fill=True, choices="Acteurs") for h in ACTOR_COLUMNS),
    forms.Column(COL_HORIZON, 16, to_fill=True, choices="Horizons"),
    forms.Column(COL_MEANS, 40, to_fill=True),
    forms.Column(COL_INDICATOR, 40, to_fill=True),
)
TEMPLATE_ROWS = 20
ACTORS_LIST = "Acteurs"


@dataclass(frozen=True)
class Preconisation:
    number: int
    text: str
    issues: tuple[str, ...]  # code ids
    actors: tuple[str, ...]
    horizon: str
    means: str = ""
    indicator: str = ""


@dataclass(frozen=True)
class PreconisationImport:
    id: int
    territory_id: str
    file_name: str
    coder: str
    imported_at: str
    rows: int


@dataclass
class ImportResult:
    territory_id: str
    file_name: str
    preconisations: int
    unchanged: bool = False


# ---------------------------------------------------------------------------------------------
# Choices
# ---------------------------------------------------------------------------------------------


def issue_choices(codebook: Codebook, issues: Sequence[PriorityIssue]) -> list[str]:
    """Prioritised issues first, then every other issue and need of the codebook."""
    labels = {c.id: c.label for c in codebook.codable()}
    ordered = [i.code for i in issues if i.code in labels]
    ordered += [c.id for c in codebook.codable() if c.family in ("ENJ", "BES")]
    return [code_choice(code, labels[code]) for code in dict.fromkeys(ordered)]


def actor_choices(study: Study, territory_id: str, cited: Sequence[str] = ()) -> list[str]:
    """Organisations of the territory's participants (masked when named after a person), the
    organisations cited in the texts, then actor types."""
    people = [p for p in list_participants(study.conn, with_real_names=True)]
    names_only = pseudonymizer_for(study, Policy.LABEL)
    organisations = [
        shown_organisation(p.organisation, names_only)
        for p in people
        if p.territory_id == territory_id and p.organisation.strip()
    ]
    types = [f"Type : {t.value}" for t in ActorType]
    choices = [o for o in organisations if o != "[organisation masquée]"]
    return list(dict.fromkeys([*choices, *cited, *types]))


# ---------------------------------------------------------------------------------------------
# Template
# ---------------------------------------------------------------------------------------------


def write_template(
    path: Path,
    territory: Territory,
    issues: Sequence[PriorityIssue],
    codes: Sequence[str],
    actors: Sequence[str],
) -> Path:
    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET
    forms.write_header(ws, COLUMNS)
    forms.write_rows(ws, [(n,) for n in range(1, TEMPLATE_ROWS + 1)])
    forms.write_lists(
        workbook, {"Codes": list(codes), ACTORS_LIST: list(actors), "Horizons": list(HORIZONS)}
    )
    forms.add_drop_downs(ws, COLUMNS, TEMPLATE_ROWS, "Choisissez une valeur de la liste.")
    reference = workbook.create_sheet(ISSUES_SHEET)
    forms.write_header(reference, [forms.Column(h, 14) for h in PRIORITY_COLUMNS])
    reference.column_dimensions["C"].width = 40
    forms.write_rows(reference, priority_rows(issues))
    forms.write_help(
        workbook,
        "Mode d'emploi",
        [
            f"Préconisations — {territory.name} (PTCE {territory.ptce_name})",
            "Une ligne par préconisation (cellules jaunes). La feuille « Enjeux prioritaires » "
            "rappelle le classement de l'atelier 2 et les enjeux partagés des entretiens.",
            "Enjeu traité : au moins un, choisi dans la liste (code — libellé).",
            "Acteur à associer : dans la liste, ou « Autre : nom de la structure ».",
            "Horizon : court terme (moins d'un an), moyen terme (1 à 3 ans), long terme.",
            "Moyens et indicateur de suivi : texte libre, facultatif.",
            f"Import : qualipipe report import CE_FICHIER.xlsx -t {territory.id} — le classeur "
            "est refusé en entier s'il contient une erreur ; chaque import est gardé dans "
            "l'historique de l'étude.",
        ],
    )
    forms.write_meta(workbook, {"format": FORMAT, "territoire": territory.id})
    return forms.save(workbook, path)


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------


def _known_code(choice: str, codebook: Codebook, redirects: dict[str, str]) -> str | None:
    code = code_id_of(choice)
    code = redirects.get(code, code)
    return code if code in {c.id for c in codebook.codable()} else None


def _row_problems(
    row,
    codebook: Codebook,
    redirects: dict[str, str],
    actors: set[str],
    name: str,
) -> tuple[list[Problem], Preconisation | None]:
    problems: list[Problem] = []

    def problem(header: str, message: str) -> None:
        problems.append(Problem(name, message, row.line, row.where(header), SHEET))

    text = row.text(COL_TEXT)
    if not text:
        problem(COL_TEXT, "texte de la préconisation vide ; écrivez-le ou videz la ligne.")
    issues = []
    for header in ISSUE_COLUMNS:
        choice = row.text(header)
        if not choice:
            continue
        code = _known_code(choice, codebook, redirects)
        if code is None:
            problem(header, f"code « {choice} » inconnu de la grille ; choisissez dans la liste.")
        else:
            issues.append(code)
    if not issues and not any(row.text(h) for h in ISSUE_COLUMNS):
        problem(ISSUE_COLUMNS[0], "aucun enjeu traité ; choisissez au moins un code.")
    found_actors = []
    for header in ACTOR_COLUMNS:
        actor = row.text(header)
        if not actor:
            continue
        if fold_key(actor) not in actors and not actor.startswith(OTHER_ACTOR.strip()):
            problem(
                header,
                f"acteur « {actor} » absent de la liste ; choisissez-le dans la liste ou écrivez "
                f"« {OTHER_ACTOR}nom de la structure ».",
            )
        found_actors.append(actor)
    horizon = row.text(COL_HORIZON).strip().lower()
    if horizon not in HORIZONS:
        given = f"horizon « {row.text(COL_HORIZON)} » non prévu" if horizon else "horizon manquant"
        problem(COL_HORIZON, f"{given} ; choisissez court terme, moyen terme ou long terme.")
    number_text = row.text(COL_NUMBER)
    number = int(number_text) if number_text.isdigit() else row.line - 1
    if problems:
        return problems, None
    return [], Preconisation(
        number,
        text,
        tuple(dict.fromkeys(issues)),
        tuple(found_actors),
        horizon,
        row.text(COL_MEANS),
        row.text(COL_INDICATOR),
    )


def read_preconisations(
    path: Path, study: Study, territory_id: str, codebook: Codebook
) -> list[Preconisation]:
    """Every préconisation of the workbook; all problems reported at once, nothing kept on error.

    Actors are checked against the list the template offered (or « Autre : … »), codes against
    the study's current codebook (renamed codes follow their redirect)."""
    form = forms.read_form(path, SHEET, what="classeur de préconisations", command=TEMPLATE_COMMAND)
    name = path.name
    if form.meta.get("format") != FORMAT:
        raise InputError(
            f"{name} n'est pas un classeur de préconisations écrit par qualipipe.",
            [
                Problem(
                    name, f"repartez d'un modèle écrit par « {TEMPLATE_COMMAND} -t TERRITOIRE »."
                )
            ],
        )
    forms.require_headers(
        form, (COL_TEXT, *ISSUE_COLUMNS, *ACTOR_COLUMNS, COL_HORIZON), TEMPLATE_COMMAND
    )
    problems: list[Problem] = []
    written_for = form.meta.get("territoire", "")
    if written_for != territory_id:
        problems.append(
            Problem(
                name,
                f"ce classeur a été préparé pour le territoire « {written_for} », pas pour "
                f"« {territory_id} » ; importez-le avec -t {written_for} ou prenez le bon fichier.",
            )
        )
    redirects = code_redirect_map(study.conn)
    known_actors = {fold_key(a) for a in form.lists.get(ACTORS_LIST, [])}
    found: list[Preconisation] = []
    filled = (COL_TEXT, *ISSUE_COLUMNS, *ACTOR_COLUMNS, COL_HORIZON, COL_MEANS, COL_INDICATOR)
    for row in form.sheet.rows:
        if not any(row.text(h) for h in filled):
            continue  # a numbered template line left empty
        row_problems, preconisation = _row_problems(row, codebook, redirects, known_actors, name)
        problems += row_problems
        if preconisation is not None:
            found.append(preconisation)
    if not problems and not found:
        problems.append(Problem(name, "aucune préconisation : le classeur est vide.", sheet=SHEET))
    if problems:
        raise InputError(
            f"{name} : préconisations refusées, rien n'a été importé ({len(problems)} problème(s)) :",
            problems,
        )
    return found


def import_preconisations(
    study: Study,
    path: Path,
    territory_id: str,
    codebook: Codebook,
    *,
    coder: str = "",
) -> ImportResult:
    found = read_preconisations(path, study, territory_id, codebook)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    latest = latest_import(study.conn, territory_id)
    if latest is not None:
        stored = first_value(
            study.conn, "SELECT file_hash FROM preconisation_imports WHERE id = ?", (latest.id,)
        )
        if stored == digest:
            return ImportResult(territory_id, path.name, len(found), unchanged=True)
    with study.transaction() as conn:
        cur = conn.execute(
            """INSERT INTO preconisation_imports (territory_id, file_name, file_hash, coder,
                   imported_at, rows) VALUES (?, ?, ?, ?, ?, ?)""",
            (territory_id, path.name, digest, coder, now_iso(), len(found)),
        )
        import_id = int(cur.lastrowid or 0)
        conn.executemany(
            """INSERT INTO preconisations (import_id, territory_id, number, text, issues, actors,
                   horizon, means, indicator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    import_id,
                    territory_id,
                    p.number,
                    p.text,
                    json.dumps(list(p.issues)),
                    json.dumps(list(p.actors), ensure_ascii=False),
                    p.horizon,
                    p.means,
                    p.indicator,
                )
                for p in found
            ],
        )
    return ImportResult(territory_id, path.name, len(found))


# ---------------------------------------------------------------------------------------------
# Reading the study
# ---------------------------------------------------------------------------------------------


def import_history(conn: sqlite3.Connection, territory_id: str) -> list[PreconisationImport]:
    return [
        PreconisationImport(
            r["id"], r["territory_id"], r["file_name"], r["coder"], r["imported_at"], r["rows"]
        )
        for r in conn.execute(
            "SELECT * FROM preconisation_imports WHERE territory_id = ? ORDER BY id",
            (territory_id,),
        )
    ]


def latest_import(conn: sqlite3.Connection, territory_id: str) -> PreconisationImport | None:
    history = import_history(conn, territory_id)
    return history[-1] if history else None


def current_preconisations(conn: sqlite3.Connection, territory_id: str) -> list[Preconisation]:
    """The préconisations of the territory's latest import, codes following codebook changes."""
    latest = latest_import(conn, territory_id)
    if latest is None:
        return []
    redirects = code_redirect_map(conn)
    return [
        Preconisation(
            r["number"],
            r["text"],
            tuple(dict.fromkeys(redirects.get(c, c) for c in json.loads(r["issues"]))),
            tuple(json.loads(r["actors"])),
            r["horizon"],
            r["means"],
            r["indicator"],
        )
        for r in conn.execute(
            "SELECT * FROM preconisations WHERE import_id = ? ORDER BY number, id", (latest.id,)
        )
    ]
