"""Review import: validate every row of a review workbook or decision CSV, then append decisions."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qualipipe.errors import InputError, Problem
from qualipipe.records import Action, Decision, Segment
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    ADDED,
    CONSENSUS_CODER,
    CSV_DECISIONS,
    CodeCheck,
    ImportResult,
    PlannedDecision,
    code_check,
    file_hash,
    fold_key,
    review_fingerprint,
)
from qualipipe.review.export import (
    _latest_comments,
)
from qualipipe.store import (
    Study,
    append_decision,
    code_redirect_map,
    current_coding,
    now_iso,
    row_to_segment,
)


def _normalise_choice(text: str) -> str:
    return fold_key(text)


@dataclass(frozen=True)
class _SegmentState:
    text_hash: str
    retired: bool


def _segment_states(study: Study) -> dict[int, _SegmentState]:
    return {
        int(r["id"]): _SegmentState(text_hash=r["text_hash"], retired=bool(r["retired"]))
        for r in study.conn.execute("SELECT id, text_hash, retired FROM segments")
    }


def _check_headers(sheet: wb.ReadSheet, required: Sequence[str], file: str) -> None:
    missing = [h for h in required if h not in sheet.headers]
    if missing:
        raise InputError(
            f"{file} : colonnes absentes, rien n'a été importé.",
            [
                Problem(
                    file,
                    f"la colonne « {h} » a disparu (renommée ou supprimée ?) : reprenez le classeur "
                    "exporté sans modifier les en-têtes.",
                    line=1,
                    sheet=sheet.name,
                )
                for h in missing
            ],
        )


def _slot_count(headers: Sequence[str]) -> int:
    k = 0
    while wb.slot_headers(k + 1)[3] in headers:
        k += 1
    return k


def _row_segment(
    row: wb.SheetRow,
    file: str,
    sheet: str,
    states: dict[int, _SegmentState],
    seen: dict[int | tuple[int, str], int],
    key_extra: str | None,
    shown_codes: Sequence[str],
    problems: list[Problem],
) -> int | None:
    """Checks shared by both workbook kinds: hidden id, duplicates, fingerprint, retired segment."""

    def fail(message: str, header: str | None = None) -> None:
        problems.append(
            Problem(
                file,
                message,
                line=row.line,
                column=row.where(header) if header else None,
                sheet=sheet,
            )
        )

    raw_id = row.text(wb.COL_SEGMENT_ID)
    segment_id = int(raw_id) if raw_id.isdecimal() else None
    if segment_id is None or segment_id not in states:
        fail(
            f"l'identifiant caché « {raw_id or '(vide)'} » a été modifié ou effacé : cette ligne "
            "ne peut plus être rattachée à un extrait. Reprenez-la depuis le classeur exporté.",
            wb.COL_SEGMENT_ID,
        )
        return None
    key: int | tuple[int, str] = segment_id if key_extra is None else (segment_id, key_extra)
    if key in seen:
        fail(
            f"ligne en double : la ligne {seen[key]} porte déjà sur le même extrait"
            + (f" et le même code ({key_extra})" if key_extra else "")
            + ". Supprimez l'une des deux.",
        )
        return None
    seen[key] = row.line
    state = states[segment_id]
    expected = review_fingerprint(segment_id, state.text_hash, shown_codes)
    if row.text(wb.COL_FINGERPRINT) != expected:
        fail(
            "un identifiant caché (colonnes masquées id_segment, empreinte) ou un code proposé "
            "a été modifié : la ligne ne correspond plus à l'extrait exporté. Reprenez-la "
            "depuis le classeur exporté.",
            wb.COL_SEGMENT_ID,
        )
        return None
    if state.retired:
        fail(
            "cet extrait n'existe plus dans l'étude (la source a été corrigée et ré-ingérée "
            "depuis l'export). Exportez un nouveau classeur pour revoir le texte actuel.",
            wb.COL_SEGMENT,
        )
        return None
    return segment_id


DECISION_CHOICE_MESSAGE = (
    f"n'est pas une décision possible : choisissez « {wb.ACCEPT} » ou « {wb.REJECT} » dans la "
    "liste, ou laissez vide."
)


def _slot_decisions(
    row: wb.SheetRow, slots: int, check: CodeCheck
) -> tuple[list[tuple[str, Action]], list[tuple[str, str]]]:
    """(code, accept|reject) filled in the "Décision k" columns, and (header, problem) found."""
    decisions: list[tuple[str, Action]] = []
    problems: list[tuple[str, str]] = []
    for k in range(1, slots + 1):
        code_header, _, _, decision_header = wb.slot_headers(k)
        code = wb.code_id_of(row.text(code_header))
        word = _normalise_choice(row.text(decision_header))
        if not word:
            continue
        if word not in wb.DECISION_CHOICES:
            problems.append(
                (decision_header, f"« {row.text(decision_header)} » {DECISION_CHOICE_MESSAGE}")
            )
        elif not code:
            problems.append((decision_header, "décision sans code en face : laissez-la vide."))
        elif reason := check.problem(code):
            problems.append((code_header, reason))
        else:
            decisions.append((code, Action.ACCEPT if word == wb.ACCEPT else Action.REJECT))
    return decisions, problems


def _added_codes(row: wb.SheetRow, check: CodeCheck) -> tuple[list[str], list[tuple[str, str]]]:
    """Codes chosen in the "Code à ajouter k" columns (";" also separates several codes)."""
    codes: list[str] = []
    problems: list[tuple[str, str]] = []
    for header in (wb.add_header(k) for k in range(1, wb.ADD_COLUMNS + 1)):
        for choice in re.split(r"[;\n]", row.text(header)):
            code = wb.code_id_of(choice)
            if not code:
                continue
            if reason := check.problem(code):
                problems.append((header, reason))
            else:
                codes.append(code)
    return codes, problems


def validate_review_sheet(
    study: Study, read: wb.ReadWorkbook, coder: str, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem]]:
    file = read.path.name
    sheet = read.sheet
    _check_headers(sheet, [wb.COL_SEGMENT_ID, wb.COL_FINGERPRINT, wb.COL_COMMENT], file)
    states = _segment_states(study)
    slots = _slot_count(sheet.headers)
    seen: dict[int | tuple[int, str], int] = {}
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    for row in sheet.rows:
        shown = [
            wb.code_id_of(row.text(wb.slot_headers(k)[0]))
            for k in range(1, slots + 1)
            if row.text(wb.slot_headers(k)[0])
        ]
        row_problems: list[Problem] = []
        segment_id = _row_segment(row, file, sheet.name, states, seen, None, shown, row_problems)
        decided, slot_problems = _slot_decisions(row, slots, check)
        added, add_problems = _added_codes(row, check)
        row_problems.extend(
            Problem(file, message, line=row.line, column=row.where(header), sheet=sheet.name)
            for header, message in (*slot_problems, *add_problems)
        )
        if row_problems or segment_id is None:
            problems.extend(row_problems)
            continue
        decisions = [_decision(segment_id, code, action, coder, file) for code, action in decided]
        decisions += [_decision(segment_id, code, Action.ADD, coder, file) for code in added]
        if comment := row.text(wb.COL_COMMENT):
            decisions.append(
                _decision(segment_id, None, Action.COMMENT, coder, file, comment=comment)
            )
        planned.extend(PlannedDecision(decision=d, line=row.line) for d in decisions)
    return planned, problems


def validate_disagreement_sheet(
    study: Study, read: wb.ReadWorkbook, coder: str, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem]]:
    file = read.path.name
    sheet = read.sheet
    _check_headers(
        sheet, [wb.COL_SEGMENT_ID, wb.COL_CODE_ID, wb.COL_FINGERPRINT, wb.COL_AGREED], file
    )
    states = _segment_states(study)
    seen: dict[int | tuple[int, str], int] = {}
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    for row in sheet.rows:
        row_problems: list[Problem] = []
        code = row.text(wb.COL_CODE_ID)
        segment_id = _row_segment(row, file, sheet.name, states, seen, code, [code], row_problems)
        word = _normalise_choice(row.text(wb.COL_AGREED))
        decision: Decision | None = None
        if word and word not in wb.DECISION_CHOICES:
            row_problems.append(
                Problem(
                    file,
                    f"« {row.text(wb.COL_AGREED)} » {DECISION_CHOICE_MESSAGE}",
                    line=row.line,
                    column=row.where(wb.COL_AGREED),
                    sheet=sheet.name,
                )
            )
        elif word and segment_id is not None:
            reason = check.problem(code)
            if reason:
                row_problems.append(
                    Problem(
                        file,
                        reason,
                        line=row.line,
                        column=row.where(wb.COL_CODE_ID),
                        sheet=sheet.name,
                    )
                )
            else:
                action = Action.ACCEPT if word == wb.ACCEPT else Action.REJECT
                decision = _decision(
                    segment_id, code, action, coder, file, comment=row.text(wb.COL_COMMENT)
                )
        if row_problems or segment_id is None:
            problems.extend(row_problems)
            continue
        if decision is not None:
            planned.append(PlannedDecision(decision=decision, line=row.line))
    return planned, problems


def _decision(
    segment_id: int | None,
    code: str | None,
    action: Action,
    coder: str,
    origin: str,
    *,
    comment: str = "",
) -> Decision:
    return Decision(
        segment_id=segment_id or 0,
        action=action,
        coder=coder,
        code_id=code,
        comment=comment,
        origin=origin,
    )


# ---------------------------------------------------------------------------------------------
# Import: the analyst decision CSV (fichier;extrait;code;decision;codeur;commentaire)
# ---------------------------------------------------------------------------------------------

CSV_COLUMNS = ("fichier", "extrait", "code", "decision", "codeur", "commentaire")
CSV_REQUIRED = ("fichier", "extrait", "code", "decision")


def _read_csv_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel "CSV (séparateur : point-virgule)" on Windows writes cp1252.
        return raw.decode("cp1252", errors="replace")


def _squash(text: str) -> str:
    # Tolerate what copy-paste from Word or Excel changes: spacing, case, apostrophes.
    text = unicodedata.normalize("NFC", text).replace("’", "'").casefold()
    return re.sub(r"\s+", " ", text).strip()


def _sources_by_file(study: Study) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for r in study.conn.execute("SELECT id, key, path FROM sources ORDER BY id"):
        names = {r["key"], r["path"], Path(r["path"]).name, Path(r["key"]).name}
        for name in names - {""}:
            if r["id"] not in index[name]:
                index[name].append(r["id"])
    return index


def _active_by_source(study: Study) -> dict[int, list[Segment]]:
    found: dict[int, list[Segment]] = defaultdict(list)
    for r in study.conn.execute(
        "SELECT * FROM segments WHERE retired = 0 ORDER BY source_id, ordinal"
    ):
        found[r["source_id"]].append(row_to_segment(r))
    return found


def _find_segment(extract: str, segments: Sequence[Segment]) -> list[Segment]:
    exact = [s for s in segments if extract in s.text]
    if exact:
        return exact
    squashed = _squash(extract)
    return [s for s in segments if squashed in _squash(s.text)]


@dataclass(frozen=True)
class _CsvRow:
    line: int
    values: dict[str, str]  # folded header -> stripped value

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def _read_decision_csv(
    path: Path, default_coder: str | None
) -> tuple[list[_CsvRow], dict[str, str]]:
    """Rows keyed by folded header, and the column letter of each known header."""
    file = path.name
    text = _read_csv_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{file} est vide.", [Problem(file, "aucune ligne d'en-tête.", line=1)])
    columns = {fold_key(name): index for index, name in enumerate(header)}
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if not default_coder and "codeur" not in columns:
        missing.append("codeur")
    if missing:
        raise InputError(
            f"{file} : colonnes obligatoires absentes, rien n'a été importé.",
            [
                Problem(
                    file,
                    f"colonne « {name} » absente ; en-têtes attendus : {';'.join(CSV_COLUMNS)} "
                    "(ou donnez --coder si la colonne codeur manque).",
                    line=1,
                )
                for name in missing
            ],
        )
    rows = []
    for values in reader:
        if any(v.strip() for v in values):
            rows.append(
                _CsvRow(
                    line=reader.line_num,
                    values={
                        name: values[index].strip()
                        for name, index in columns.items()
                        if index < len(values)
                    },
                )
            )
    letters = {name: _column_letter(columns[name]) for name in CSV_COLUMNS if name in columns}
    return rows, letters


def _locate_extract(
    name: str, extract: str, sources: dict[str, list[int]], segments: dict[int, list[Segment]]
) -> tuple[Segment | None, tuple[str, str] | None]:
    """The one active segment of file `name` holding `extract`, or (column, French problem)."""
    source_ids = sources.get(name, [])
    if not source_ids:
        return None, (
            "fichier",
            f"aucune source ingérée ne s'appelle « {name} » : vérifiez le nom du fichier "
            "(tel qu'il est dans le dossier entretiens/) et que l'ingestion a été faite.",
        )
    if not extract:
        return None, ("extrait", "extrait vide : copiez un passage exact du segment concerné.")
    found = _find_segment(extract, [s for sid in source_ids for s in segments.get(sid, [])])
    if not found:
        return None, (
            "extrait",
            f"extrait introuvable dans les segments actuels de « {name} » (texte modifié ou "
            "ré-ingéré ?) : copiez un passage exact de la transcription.",
        )
    if len(found) > 1:
        numbers = ", ".join(str(s.ordinal + 1) for s in found[:5])
        return None, (
            "extrait",
            f"extrait ambigu : il apparaît dans {len(found)} segments (n° {numbers}) ; "
            "allongez-le pour qu'il désigne un seul segment.",
        )
    return found[0], None


def validate_decision_csv(
    study: Study, path: Path, default_coder: str | None, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem], int]:
    file = path.name
    rows, letters = _read_decision_csv(path, default_coder)
    sources = _sources_by_file(study)
    segments = _active_by_source(study)
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    seen: dict[tuple[int, str, str], int] = {}
    for row in rows:
        found: list[tuple[str, str]] = []  # (column, message)
        code, word = row.get("code"), fold_key(row.get("decision"))
        coder = row.get("codeur") or (default_coder or "")
        if not coder:
            found.append(("codeur", "codeur manquant : indiquez qui a pris la décision."))
        if word not in CSV_DECISIONS:
            found.append(
                (
                    "decision",
                    f"« {row.get('decision')} » n'est pas une décision possible : écrivez "
                    f"« {wb.ACCEPT} », « {wb.REJECT} » ou « {ADDED} ».",
                )
            )
        reason = check.problem(code) if code else "code manquant."
        if reason:
            found.append(("code", reason))
        segment, located = _locate_extract(
            row.get("fichier"), row.get("extrait"), sources, segments
        )
        if located:
            found.append(located)
        if segment is not None and coder and not reason:
            key = (segment.id or 0, check.resolve(code), coder)
            if key in seen:
                found.append(
                    (
                        "extrait",
                        f"ligne en double : la ligne {seen[key]} porte déjà sur le même extrait, "
                        "le même code et le même codeur. Supprimez l'une des deux.",
                    )
                )
            seen.setdefault(key, row.line)
        problems.extend(
            Problem(file, message, line=row.line, column=f"{letters.get(column, '?')} ({column})")
            for column, message in found
        )
        if found or segment is None:
            continue
        decision = _decision(
            segment.id, code, CSV_DECISIONS[word], coder, file, comment=row.get("commentaire")
        )
        planned.append(PlannedDecision(decision=decision, line=row.line))
    return planned, problems, len(rows)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


# ---------------------------------------------------------------------------------------------
# Import: applying
# ---------------------------------------------------------------------------------------------


def import_decisions(
    study: Study, path: Path | str, coder: str | None = None, *, partial: bool = False
) -> ImportResult:
    """Validate a review workbook (.xlsx) or an analyst decision file (.csv), then append it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"Fichier introuvable : {path}", [Problem(str(path), "ce fichier n'existe pas.")]
        )
    check = code_check(study)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        planned, problems, rows = validate_decision_csv(study, path, coder, check)
    elif suffix in (".xlsx", ".xlsm"):
        read = wb.read_workbook(path)
        if read.kind == wb.KIND_DISAGREEMENTS:
            coder = coder or CONSENSUS_CODER
            planned, problems = validate_disagreement_sheet(study, read, coder, check)
        else:
            if not coder:
                raise InputError(
                    f"{path.name} : codeur manquant.",
                    [
                        Problem(
                            path.name,
                            "indiquez qui a rempli ce classeur : --coder VOTRE_NOM.",
                        )
                    ],
                )
            planned, problems = validate_review_sheet(study, read, coder, check)
        rows = len(read.sheet.rows)
    else:
        raise InputError(
            f"{path.name} : format non pris en charge.",
            [Problem(path.name, _unsupported_format_hint(suffix))],
        )
    problems.sort(key=_problem_order)
    if problems and not partial:
        raise InputError(
            f"{path.name} : {len(problems)} problème(s) ; rien n'a été importé. Corrigez-les, "
            "ou relancez avec --partial pour importer les lignes correctes.",
            problems,
        )
    coders = tuple(sorted({p.decision.coder for p in planned} | ({coder} if coder else set())))
    return _append(study, path, planned, coders, rows, tuple(problems))


def _unsupported_format_hint(suffix: str) -> str:
    if suffix in (".ods", ".xls"):
        # The usual slip with LibreOffice: "Keep current format" was not chosen on save.
        return (
            f"le classeur a été enregistré au format {suffix}. Ouvrez-le et enregistrez-le au "
            "format .xlsx (LibreOffice : Fichier > Enregistrer sous…, type « Excel 2007-365 "
            "(.xlsx) »), puis importez le fichier .xlsx."
        )
    return "importez un classeur de revue .xlsx ou un fichier de décisions .csv."


def _problem_order(problem: Problem) -> tuple[int, int, str]:
    letters = (problem.column or "").split(" ", 1)[0]
    return (problem.line or 0, len(letters), letters)


def _append(
    study: Study,
    path: Path,
    planned: Sequence[PlannedDecision],
    coders: tuple[str, ...],
    rows: int,
    rejected: tuple[Problem, ...],
) -> ImportResult:
    digest = file_hash(path)
    coder_key = ",".join(coders)
    with study.transaction() as conn:
        previous = conn.execute(
            "SELECT imported_at FROM imports WHERE file_hash = ? AND coder = ?",
            (digest, coder_key),
        ).fetchone()
        if previous:
            return ImportResult(
                file=path.name,
                coders=coders,
                rows_read=rows,
                decisions_added=0,
                unchanged=len(planned),
                already_imported=True,
                rejected=rejected,
            )
        fresh = _new_decisions(study, planned)
        cur = conn.execute(
            "INSERT INTO imports (file_name, file_hash, coder, imported_at, rows) VALUES (?, ?, ?, ?, ?)",
            (path.name, digest, coder_key, now_iso(), len(fresh)),
        )
        import_id = int(cur.lastrowid or 0)
        stamp = now_iso()
        for decision in fresh:
            append_decision(
                conn,
                replace(decision, decided_at=stamp),
                import_id=import_id,
            )
    return ImportResult(
        file=path.name,
        coders=coders,
        rows_read=rows,
        decisions_added=len(fresh),
        unchanged=len(planned) - len(fresh),
        rejected=rejected,
    )


def _new_decisions(study: Study, planned: Sequence[PlannedDecision]) -> list[Decision]:
    """Drop decisions that would not change the coder's current coding (re-exported pre-fills)."""
    redirects = code_redirect_map(study.conn)
    by_coder: dict[str, dict[tuple[int, str], bool]] = {}
    comments: dict[str, dict[int, str]] = {}
    fresh: list[Decision] = []
    for item in planned:
        d = item.decision
        if d.coder not in by_coder:
            by_coder[d.coder] = current_coding(study.conn, coder=d.coder)
            comments[d.coder] = _latest_comments(study, d.coder)
        if d.action is Action.COMMENT:
            if comments[d.coder].get(d.segment_id) == d.comment:
                continue
            comments[d.coder][d.segment_id] = d.comment
        else:
            key = (d.segment_id, redirects.get(d.code_id or "", d.code_id or ""))
            applied = d.action in (Action.ACCEPT, Action.ADD)
            if by_coder[d.coder].get(key) == applied and not d.comment:
                continue
            by_coder[d.coder][key] = applied
        fresh.append(d)
    return fresh
