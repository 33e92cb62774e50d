"""The review workbooks as files: writing them with XlsxWriter (`reading` reads them back).

This module knows sheets, columns, styles and drop-down lists; it knows nothing of the study store.
`qualipipe.review` builds the rows to write and validates what is read back.

Sheets are streamed with `qualipipe.review.xlsx_table` (write-only mode, cost proportional to the
rows written); every text goes through its formula-injection-safe `put_text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from xlsxwriter.workbook import Workbook

from qualipipe.records import Codebook
from qualipipe.review.xlsx_table import (
    Table,
    Value,
    make_style,
    row_height,
    streamed_workbook,
    write_value,
)

# Re-exported: the other (openpyxl) workbooks write their cells the same formula-safe way.
from qualipipe.review.xlsx_table import put as put
from qualipipe.review.xlsx_table import put_text as put_text
from qualipipe.xlsx_layout import wrapped_lines

# Sheet names and the format marker written in the hidden metadata sheet.
REVIEW_SHEET = "Revue"
DISAGREEMENT_SHEET = "Désaccords"
AGREEMENT_SHEET = "Accord"
CODEBOOK_SHEET = "Codebook"
HELP_SHEET = "Mode d'emploi"
META_SHEET = "_qualipipe"
PREFILL_SHEET = "_qualipipe_prerempli"
KIND_REVIEW = "revue"
KIND_DISAGREEMENTS = "desaccords"
# 2: study identity, export id, column list and pre-filled decisions with their coder.
FORMAT_VERSION = "2"
META_STUDY_ID = "id_etude"
META_EXPORT_ID = "id_export"
META_CODER = "codeur"
META_COLUMNS = "colonnes"
PREFILL_COMMENT = "commentaire"
PREFILL_HEADERS = ("id_segment", "id_code", "decision", "codeur", "texte_affiche")

ACCEPT = "accepter"
REJECT = "rejeter"
DECISION_CHOICES = (ACCEPT, REJECT)
CODE_SEPARATOR = " — "
# Also " - " typed by hand, which LibreOffice's autocorrect turns into " – ".
CODE_SEPARATOR_RE = re.compile(r"\s+[—–-]\s+")

# Hidden columns: what makes the import exact.
COL_SEGMENT_ID = "id_segment"
COL_FINGERPRINT = "empreinte"
COL_CODE_ID = "id_code"

# Visible review columns (the slot and "to add" columns are numbered).
COL_NUMBER = "N°"
COL_TERRITORY = "Territoire"
COL_PARTICIPANT = "Participant"
COL_ROLE = "Rôle"
COL_SOURCE = "Source"
COL_LOCATION = "Emplacement"
COL_BEFORE = "Contexte avant"
COL_SEGMENT = "Segment"
COL_AFTER = "Contexte après"
COL_COMMENT = "Commentaire"
COL_HISTORY = "Décisions déjà enregistrées"
COL_AGREED = "Décision retenue"
COL_CODE = "Code"
ADD_COLUMNS = 3


# Row heights are written, not left to the spreadsheet: LibreOffice keeps rows without a stored
# height at one line, so wrapped verbatims overlap the next rows (Excel would fit them itself).
REASON_MAX_LINES = 6  # reasons are long; the full text stays readable in the cell itself

FILL_TO_FILL = "#FFF2CC"  # columns the analyst fills


@cache  # asked for every slot of every row read back: the same few tuples
def slot_headers(k: int) -> tuple[str, str, str, str]:
    return (f"Code {k}", f"Score {k}", f"Raison {k}", f"Décision {k}")


def add_header(k: int) -> str:
    return f"Code à ajouter {k}"


@dataclass(frozen=True)
class CodeSlot:
    """A code shown on a review row: suggested by the machine, or already applied by someone."""

    code_id: str
    label: str
    score: float | None
    reason: str
    decision: str = ""  # "accepter" | "rejeter" | "" (pre-filled from the current coding)
    decided_by: str = ""  # the coder whose decision pre-fills the cell


@dataclass(frozen=True)
class ReviewRow:
    """One segment on the review sheet: where it comes from, its context, the codes to decide on."""

    segment_id: int
    fingerprint: str
    territory: str
    participant: str
    role: str
    source: str
    location: str
    before: str
    text: str
    after: str
    slots: tuple[CodeSlot, ...]
    comment: str = ""
    history: str = ""
    comment_by: str = ""  # the coder whose comment pre-fills the cell


@dataclass(frozen=True)
class Prefill:
    """A cell the export pre-filled, as recorded in the hidden sheet: what, whose, as shown."""

    decision: str  # "accepter" | "rejeter" | "commentaire"
    coder: str
    shown: str  # the exact cell text written


@dataclass(frozen=True)
class DisagreementRow:
    """One (segment, code) on which the compared coders disagree, with each coder's cell."""

    segment_id: int
    code_id: str
    code_label: str
    fingerprint: str
    territory: str
    participant: str
    source: str
    text: str
    codings: tuple[str, ...]  # one cell per coder: "appliqué" | "non appliqué" | "—"


@dataclass(frozen=True)
class AgreementLine:
    """One line of the agreement table written beside the disagreements."""

    code: str
    label: str
    n_segments: int
    percent: float | None
    kappa: float | None
    alpha: float | None


def code_choice(code_id: str, label: str) -> str:
    return f"{code_id}{CODE_SEPARATOR}{label}" if label else code_id


def code_id_of(choice: str) -> str:
    """`BES_FINANCEMENT — Financement` → `BES_FINANCEMENT` (a bare identifier passes through)."""
    return CODE_SEPARATOR_RE.split(choice, maxsplit=1)[0].strip()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
# Written in XlsxWriter's constant-memory mode through `xlsx_table.Table`: rows stream to the file.


def review_headers(slot_count: int) -> list[str]:
    headers = [
        COL_NUMBER,
        COL_TERRITORY,
        COL_PARTICIPANT,
        COL_ROLE,
        COL_SOURCE,
        COL_LOCATION,
        COL_BEFORE,
        COL_SEGMENT,
        COL_AFTER,
    ]
    for k in range(1, slot_count + 1):
        headers.extend(slot_headers(k))
    headers.extend(add_header(k) for k in range(1, ADD_COLUMNS + 1))
    headers.extend([COL_COMMENT, COL_HISTORY, COL_SEGMENT_ID, COL_FINGERPRINT])
    return headers


COLUMN_WIDTHS = {
    COL_NUMBER: 6,
    COL_TERRITORY: 14,
    COL_PARTICIPANT: 22,
    COL_ROLE: 11,
    COL_SOURCE: 24,
    COL_LOCATION: 18,
    COL_BEFORE: 36,
    COL_SEGMENT: 60,
    COL_AFTER: 36,
    COL_COMMENT: 36,
    COL_HISTORY: 30,
    COL_AGREED: 16,
    COL_CODE: 30,
    # Hidden; widths that differ keep each its own <col> entry (adjacent equal ones are merged).
    COL_SEGMENT_ID: 10,
    COL_CODE_ID: 16,
    COL_FINGERPRINT: 18,
}


def _width_for(header: str) -> float:
    if header in COLUMN_WIDTHS:
        return COLUMN_WIDTHS[header]
    if header.startswith("Score"):
        return 8
    if header.startswith("Raison"):
        return 34
    if header.startswith("Décision"):
        return 12
    return 28


def prefill_text(decision: str, decided_by: str, coder: str) -> str:
    """The cell text of a pre-filled decision: the bare choice when it is the workbook's own
    coder's, else « accepté par Claire » — not a choice of the list, so that leaving it as it is
    never records it under the importer's name, and choosing « accepter » confirms it."""
    if not decision or not decided_by or same_coder(decided_by, coder):
        return decision
    done = "accepté" if decision == ACCEPT else "rejeté"
    return f"{done} par {decided_by}"


def same_coder(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def write_identity_sheets(
    workbook: Workbook, meta: dict[str, str], prefills: Iterable[tuple[int, str, Prefill]] = ()
) -> None:
    """The hidden sheets that identify the workbook (study, export, columns) and record every
    pre-filled cell with its coder. Rows are appended only, so this works in write-only mode."""
    text = make_style(workbook, wrap=False)
    ws = workbook.add_worksheet(META_SHEET)
    ws.very_hidden()  # only visible through Excel's VBA editor: nobody edits it by mistake
    for row, (key, entry) in enumerate(meta.items()):
        write_value(ws, row, 0, key, text)
        write_value(ws, row, 1, entry, text)
    filled = workbook.add_worksheet(PREFILL_SHEET)
    filled.very_hidden()
    for column, header in enumerate(PREFILL_HEADERS):
        write_value(filled, 0, column, header, text)
    for row, (segment_id, code_id, prefill) in enumerate(prefills, start=1):
        values: tuple[Value, ...] = (
            segment_id,
            code_id,
            prefill.decision,
            prefill.coder,
            prefill.shown,
        )
        for column, value in enumerate(values):
            write_value(filled, row, column, value, text)


def row_prefills(row: ReviewRow, coder: str) -> list[tuple[int, str, Prefill]]:
    """Every decision and comment the export pre-fills on `row`, with its coder and cell text."""
    found: list[tuple[int, str, Prefill]] = []
    for slot in row.slots:
        if slot.decision:
            shown = prefill_text(slot.decision, slot.decided_by, coder)
            found.append(
                (row.segment_id, slot.code_id, Prefill(slot.decision, slot.decided_by, shown))
            )
    if row.comment:
        found.append(
            (row.segment_id, "", Prefill(PREFILL_COMMENT, row.comment_by or coder, row.comment))
        )
    return found


def review_prefills(rows: Iterable[ReviewRow], coder: str) -> list[tuple[int, str, Prefill]]:
    """Every decision and comment the export pre-fills, with its coder and its cell text."""
    return [prefill for row in rows for prefill in row_prefills(row, coder)]


CODEBOOK_HEADERS = (
    "Identifiant",
    "Libellé",
    "Famille",
    "Définition",
    "Quand l'utiliser",
    "Quand ne pas l'utiliser",
    "Choix (liste déroulante)",
)


def _write_codebook(workbook: Workbook, codebook: Codebook) -> str:
    """Codebook sheet (the codes analysts may apply, with their family's label); returns the
    range of the "code to add" choices for drop-downs."""
    table = Table(workbook, CODEBOOK_SHEET, CODEBOOK_HEADERS, [24, 30, 22, 50, 40, 40, 40])
    styles = [table.style()] * len(CODEBOOK_HEADERS)
    labels = {code.id: code.label for code in codebook.codes}
    codable = codebook.codable()
    for code in codable:
        family = labels.get(code.family, code.family)
        choice = code_choice(code.id, code.label)
        values = (code.id, code.label, family, code.definition, code.include, code.exclude, choice)
        table.append(values, styles)
    table.finish()
    return f"'{CODEBOOK_SHEET}'!$G$2:$G${max(len(codable) + 1, 2)}"


REVIEW_HELP = [
    "Comment remplir ce classeur de revue",
    "",
    "Chaque ligne de la feuille « Revue » est un extrait (segment) d'entretien ou une réponse libre "
    "à un questionnaire, avec le contexte qui le précède et le suit. Les noms des personnes sont "
    "remplacés par leurs pseudonymes.",
    "",
    "1. Colonnes « Code 1, 2… » : codes proposés par la machine (avec le score de 0 à 1 et la raison) "
    "ou déjà appliqués par un·e analyste. Dans « Décision » à côté de chaque code, choisissez "
    "« accepter » ou « rejeter » dans la liste. Laissez vide si vous ne décidez pas.",
    "   Décisions pré-remplies : « accepté par Claire » ou « rejeté par Claire » rappelle la "
    "décision d'un·e autre codeur·se. Laissée telle quelle, elle reste la sienne et n'est jamais "
    "enregistrée à votre nom. Pour la reprendre à votre compte, choisissez vous-même « accepter » "
    "ou « rejeter » dans la liste : c'est votre confirmation explicite. De même, un commentaire "
    "pré-rempli d'un·e autre codeur·se n'est enregistré à votre nom que si vous le modifiez. Un "
    "classeur exporté pour un·e codeur·se (--codeur) affiche ses décisions sans « par … » : "
    "seul·e ce codeur ou cette codeuse peut l'importer.",
    "2. Colonnes « Code à ajouter 1 à 3 » : choisissez dans la liste un code du codebook qui manque "
    "(la feuille « Codebook » donne les définitions et les règles d'usage).",
    "3. Colonne « Commentaire » : toute remarque utile à l'équipe (texte libre).",
    "4. Ne modifiez pas les autres colonnes, ne copiez pas une ligne en double et ne touchez pas "
    "aux colonnes masquées (id_segment, empreinte) : elles permettent de rattacher exactement vos "
    "décisions aux extraits.",
    "5. Vous pouvez trier et filtrer librement, et supprimer des lignes que vous ne revoyez pas.",
    "6. Enregistrez au format .xlsx puis importez le fichier :",
    "      qualipipe review import FICHIER.xlsx --coder VOTRE_NOM",
    "   Le fichier est d'abord entièrement vérifié ; s'il contient des erreurs, rien n'est importé et "
    "chaque erreur est indiquée avec sa feuille, sa ligne et sa colonne. L'option --partial importe "
    "les lignes correctes et liste les autres.",
    "",
    "Vos décisions s'ajoutent à l'historique de l'étude (qui, quand, quel fichier) : rien n'est "
    "jamais écrasé, et importer deux fois le même fichier n'ajoute rien.",
]

DISAGREEMENT_HELP = [
    "Comment remplir ce classeur de désaccords",
    "",
    "Chaque ligne de la feuille « Désaccords » est un couple (extrait, code) sur lequel les codeurs "
    "n'ont pas pris la même décision. Les colonnes des codeurs indiquent ce que chacun a décidé.",
    "",
    "1. Discutez-en en équipe, puis choisissez dans « Décision retenue » : « accepter » (le code "
    "s'applique à l'extrait) ou « rejeter » (il ne s'applique pas). Laissez vide si rien n'est tranché.",
    "2. Notez si besoin la raison dans « Commentaire ».",
    "3. Ne modifiez pas les colonnes masquées (id_segment, id_code, empreinte).",
    "4. Importez le fichier ; les décisions sont enregistrées au nom du codeur « consensus » :",
    "      qualipipe review import desaccords.xlsx",
    "",
    "La feuille « Accord » rappelle, par code, le pourcentage d'accord, le kappa de Cohen et l'alpha "
    "de Krippendorff, avec le nombre d'extraits sur lequel chaque chiffre repose.",
]


def _write_help(workbook: Workbook, lines: Sequence[str]) -> None:
    """A one-column sheet; its first line is the title (not a table: no filter, no frozen row)."""
    ws = workbook.add_worksheet(HELP_SHEET)
    ws.set_column(0, 0, 110)
    title = make_style(workbook, bold=True, size=14)
    text = make_style(workbook)
    for row, line in enumerate(lines):
        height = row_height(wrapped_lines(line, 110))
        if height is not None:
            ws.set_row(row, height)
        write_value(ws, row, 0, line, title if row == 0 else text)


def write_review_workbook(
    path: Path,
    rows: Iterable[ReviewRow],
    codebook: Codebook,
    meta: dict[str, str],
    *,
    slot_count: int | None = None,
) -> Path:
    """Write the review workbook. `rows` may be a generator (then give `slot_count`, the largest
    number of code slots on a row): rows are streamed to the file, never all held at once."""
    if slot_count is None:
        rows = list(rows)
        slot_count = max([len(row.slots) for row in rows] + [1])
    slot_count = max(slot_count, 1)
    with streamed_workbook(path) as workbook:
        _write_review_sheets(workbook, rows, codebook, meta, slot_count)
    return path


def _write_review_sheets(
    workbook: Workbook,
    rows: Iterable[ReviewRow],
    codebook: Codebook,
    meta: dict[str, str],
    slot_count: int,
) -> None:
    headers = review_headers(slot_count)
    coder = meta.get(META_CODER, "")
    decision_headers = [slot_headers(k)[3] for k in range(1, slot_count + 1)]
    add_headers = [add_header(k) for k in range(1, ADD_COLUMNS + 1)]
    to_fill = {*decision_headers, *add_headers, COL_COMMENT}
    table = Table(
        workbook,
        REVIEW_SHEET,
        headers,
        [_width_for(header) for header in headers],
        to_fill=to_fill,
        hidden=[COL_SEGMENT_ID, COL_FINGERPRINT],
        line_caps={slot_headers(k)[2]: REASON_MAX_LINES for k in range(1, slot_count + 1)},
    )
    plain = table.style()
    fill = table.style(fill=FILL_TO_FILL)
    bold = table.style(bold=True)
    score = table.style(number_format="0.00")
    styles = [
        fill
        if header in to_fill
        else bold
        if header == COL_SEGMENT
        else score
        if header.startswith("Score")
        else plain
        for header in headers
    ]
    prefills: list[tuple[int, str, Prefill]] = []  # gathered as rows stream by
    # A decision cell is coloured only where a code stands beside it.
    absent = [[header in decision_headers[n:] for header in headers] for n in range(slot_count + 1)]
    keep = [[k and not a for k, a in zip(table.keep_empty, gone, strict=True)] for gone in absent]
    for number, row in enumerate(rows, start=1):
        table.append(
            _review_values(number, row, slot_count, coder),
            styles,
            keep[min(len(row.slots), slot_count)],
        )
        prefills.extend(row_prefills(row, coder))
    table.finish()
    choices_range = _write_codebook(workbook, codebook)
    table.list_validation(
        decision_headers,
        [ACCEPT, REJECT],
        "Choisissez « accepter » ou « rejeter », ou laissez vide.",
    )
    table.list_validation(
        add_headers, f"={choices_range}", "Choisissez un code du codebook (feuille « Codebook »)."
    )
    _write_help(workbook, REVIEW_HELP)
    write_identity_sheets(
        workbook,
        {
            **meta,
            "format": KIND_REVIEW,
            "version_format": FORMAT_VERSION,
            META_COLUMNS: json.dumps(headers, ensure_ascii=False),
        },
        prefills,
    )


def _review_values(number: int, row: ReviewRow, slot_count: int, coder: str) -> list[Value]:
    values: list[Value] = [
        number,
        row.territory,
        row.participant,
        row.role,
        row.source,
        row.location,
        row.before,
        row.text,
        row.after,
    ]
    for k in range(slot_count):
        slot = row.slots[k] if k < len(row.slots) else None
        if slot is None:
            values.extend([None, None, None, None])
        else:
            values.extend(
                [
                    code_choice(slot.code_id, slot.label),
                    round(slot.score, 3) if slot.score is not None else None,
                    slot.reason,
                    prefill_text(slot.decision, slot.decided_by, coder) or None,
                ]
            )
    values.extend([None] * ADD_COLUMNS)
    values.extend([row.comment or None, row.history, row.segment_id, row.fingerprint])
    return values


def disagreement_headers(coders: Sequence[str]) -> list[str]:
    return [
        COL_NUMBER,
        COL_TERRITORY,
        COL_PARTICIPANT,
        COL_SOURCE,
        COL_SEGMENT,
        COL_CODE,
        *coders,
        COL_AGREED,
        COL_COMMENT,
        COL_SEGMENT_ID,
        COL_CODE_ID,
        COL_FINGERPRINT,
    ]


def write_disagreement_workbook(
    path: Path,
    rows: Sequence[DisagreementRow],
    coders: Sequence[str],
    agreement: Sequence[AgreementLine],
    codebook: Codebook,
    meta: dict[str, str],
) -> Path:
    with streamed_workbook(path) as workbook:
        _write_disagreement_sheets(workbook, rows, coders, agreement, codebook, meta)
    return path


def _write_disagreement_sheets(
    workbook: Workbook,
    rows: Sequence[DisagreementRow],
    coders: Sequence[str],
    agreement: Sequence[AgreementLine],
    codebook: Codebook,
    meta: dict[str, str],
) -> None:
    headers = disagreement_headers(coders)
    table = Table(
        workbook,
        DISAGREEMENT_SHEET,
        headers,
        [_width_for(header) for header in headers],
        to_fill=[COL_AGREED, COL_COMMENT],
        hidden=[COL_SEGMENT_ID, COL_CODE_ID, COL_FINGERPRINT],
    )
    plain = table.style()
    fill = table.style(fill=FILL_TO_FILL)
    styles = [fill if header in (COL_AGREED, COL_COMMENT) else plain for header in headers]
    for number, row in enumerate(rows, start=1):
        values: list[Value] = [
            number,
            row.territory,
            row.participant,
            row.source,
            row.text,
            code_choice(row.code_id, row.code_label),
            *row.codings,
            None,
            None,
            row.segment_id,
            row.code_id,
            row.fingerprint,
        ]
        table.append(values, styles)
    table.finish()
    table.list_validation(
        [COL_AGREED],
        [ACCEPT, REJECT],
        "Choisissez « accepter » ou « rejeter », ou laissez vide.",
    )
    _write_agreement_sheet(workbook, agreement)
    _write_codebook(workbook, codebook)
    _write_help(workbook, DISAGREEMENT_HELP)
    write_identity_sheets(
        workbook,
        {
            **meta,
            "format": KIND_DISAGREEMENTS,
            "version_format": FORMAT_VERSION,
            META_COLUMNS: json.dumps(headers, ensure_ascii=False),
        },
    )


AGREEMENT_HEADERS = (
    "Code",
    "Libellé",
    "Extraits (n)",
    "Accord (%)",
    "Kappa de Cohen",
    "Alpha de Krippendorff",
)


def _write_agreement_sheet(workbook: Workbook, lines: Sequence[AgreementLine]) -> None:
    table = Table(
        workbook, AGREEMENT_SHEET, AGREEMENT_HEADERS, [26, 34, 12, 12, 16, 20], filtered=False
    )
    plain = table.style(wrap=False)
    formats = [table.style(number_format=f, wrap=False) for f in ("0.0%", "0.00")]
    styles = [plain, plain, plain, formats[0], formats[1], formats[1]]
    for line in lines:
        figures = [line.percent, line.kappa, line.alpha]
        values: list[Value] = [
            line.code,
            line.label,
            line.n_segments,
            *("—" if value is None else value for value in figures),
        ]
        table.append(values, styles)
