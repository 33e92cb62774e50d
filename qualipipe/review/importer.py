"""Review import: validate every row of a review workbook or decision CSV, then append decisions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from openpyxl.utils import get_column_letter

from qualipipe.errors import InputError, Problem
from qualipipe.records import Action, Decision
from qualipipe.review import reading as rd
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    CONSENSUS_CODER,
    CodeCheck,
    ImportResult,
    PlannedDecision,
    code_check,
    file_hash,
    fold_key,
    review_fingerprint,
)
from qualipipe.review.decision_csv import validate_decision_csv
from qualipipe.store import (
    Study,
    append_decision,
    code_redirect_map,
    current_coding,
    latest_comments,
    now_iso,
    resolve_coder,
    study_identity,
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


def _check_headers(sheet: rd.ReadSheet, required: Sequence[str], file: str) -> None:
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
    row: rd.SheetRow,
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
    row: rd.SheetRow, slots: int, check: CodeCheck, prefilled: _Prefilled
) -> tuple[list[tuple[str, Action]], list[tuple[str, str]]]:
    """(code, accept|reject) filled in the "Décision k" columns, and (header, problem) found."""
    decisions: list[tuple[str, Action]] = []
    problems: list[tuple[str, str]] = []
    for k in range(1, slots + 1):
        code_header, _, _, decision_header = wb.slot_headers(k)
        code = wb.code_id_of(row.text(code_header))
        word = prefilled.choice(code, row.text(decision_header))
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


@dataclass
class _Prefilled:
    """What the export pre-filled on one row, and whose it was.

    A cell still holding another coder's pre-filled decision (or comment) is not the importer's
    decision: it is skipped and counted. The importer confirms it by choosing the value from the
    list (« accepter » instead of « accepté par Claire »)."""

    prefills: dict[tuple[int, str], wb.Prefill]
    coder: str
    segment_id: int | None = None
    ignored: int = 0

    def _untouched(self, code: str, text: str) -> wb.Prefill | None:
        if self.segment_id is None:
            return None
        prefill = self.prefills.get((self.segment_id, code))
        if prefill is None or fold_key(text) != fold_key(prefill.shown):
            return None
        return prefill

    def choice(self, code: str, text: str) -> str:
        """The decision word of a cell: "" when empty or another coder's untouched pre-fill."""
        prefill = self._untouched(code, text) if text else None
        if prefill is None:
            return _normalise_choice(text)
        if wb.same_coder(prefill.coder, self.coder):
            return prefill.decision  # the importer's own decision, unchanged
        self.ignored += 1
        return ""

    def comment(self, text: str) -> str:
        prefill = self._untouched("", text) if text else None
        if prefill is None or wb.same_coder(prefill.coder, self.coder):
            return text
        self.ignored += 1
        return ""


def _added_codes(row: rd.SheetRow, check: CodeCheck) -> tuple[list[str], list[tuple[str, str]]]:
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
    study: Study, read: rd.ReadWorkbook, coder: str, check: CodeCheck
) -> tuple[list[PlannedDecision], list[Problem], int]:
    """Planned decisions, problems, and how many pre-filled cells of other coders were left."""
    file = read.path.name
    sheet = read.sheet
    _check_headers(sheet, [wb.COL_SEGMENT_ID, wb.COL_FINGERPRINT, wb.COL_COMMENT], file)
    states = _segment_states(study)
    slots = _slot_count(sheet.headers)
    seen: dict[int | tuple[int, str], int] = {}
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    prefilled = _Prefilled(read.prefills, coder)
    for row in sheet.rows:
        shown = [
            wb.code_id_of(row.text(wb.slot_headers(k)[0]))
            for k in range(1, slots + 1)
            if row.text(wb.slot_headers(k)[0])
        ]
        row_problems: list[Problem] = []
        segment_id = _row_segment(row, file, sheet.name, states, seen, None, shown, row_problems)
        prefilled.segment_id = segment_id
        decided, slot_problems = _slot_decisions(row, slots, check, prefilled)
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
        if comment := prefilled.comment(row.text(wb.COL_COMMENT)):
            decisions.append(
                _decision(segment_id, None, Action.COMMENT, coder, file, comment=comment)
            )
        planned.extend(PlannedDecision(decision=d, line=row.line) for d in decisions)
    return planned, problems, prefilled.ignored


def validate_disagreement_sheet(
    study: Study, read: rd.ReadWorkbook, coder: str, check: CodeCheck
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
    coder = resolve_coder(study.conn, coder) if coder and coder.strip() else None
    check = code_check(study)
    suffix = path.suffix.lower()
    ignored = 0
    if suffix == ".csv":
        planned, problems, rows = validate_decision_csv(study, path, coder, check)
    elif suffix in (".xlsx", ".xlsm"):
        read = rd.read_workbook(path)
        check_identity(study, read)
        check_columns(read)
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
            check_coder(read, coder)
            planned, problems, ignored = validate_review_sheet(study, read, coder, check)
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
    result = _append(study, path, planned, coders, rows, tuple(problems))
    return replace(result, prefilled_ignored=ignored)


def check_identity(study: Study, read: rd.ReadWorkbook) -> None:
    """A workbook exported from another study (or by a qualipipe without study identity) is
    refused as a whole: its hidden ids would point at unrelated segments."""
    name = read.path.name
    theirs = read.meta.get(wb.META_STUDY_ID, "")
    if not theirs:
        raise InputError(
            f"{name} : classeur sans identité d'étude, rien n'a été importé.",
            [
                Problem(
                    name,
                    "ce classeur a été exporté par une version antérieure de qualipipe (ou sa "
                    "feuille cachée a été modifiée) : exportez un nouveau classeur avec "
                    "« qualipipe review export » et reportez-y vos décisions.",
                )
            ],
        )
    if theirs != study_identity(study.conn):
        origin = read.meta.get("etude", "") or "?"
        folder = read.meta.get("dossier", "") or "?"
        raise InputError(
            f"{name} : classeur d'une autre étude, rien n'a été importé.",
            [
                Problem(
                    name,
                    f"il a été exporté de l'étude « {origin} » (dossier {folder}), pas de "
                    f"« {study.config.name} » ({study.root.name}) : importez-le dans l'étude "
                    "d'où il vient, ou exportez un classeur depuis celle-ci.",
                )
            ],
        )


def check_coder(read: rd.ReadWorkbook, coder: str) -> None:
    """A workbook pre-filled for one coder (`--codeur`) shows that coder's decisions as bare
    choices: nobody else can tell them from their own, so nobody else may import it."""
    owner = read.meta.get(wb.META_CODER, "")
    if owner and not wb.same_coder(owner, coder):
        raise InputError(
            f"{read.path.name} : classeur pré-rempli pour {owner}, rien n'a été importé.",
            [
                Problem(
                    read.path.name,
                    f"ce classeur a été exporté avec --codeur « {owner} » : ses cases montrent les "
                    f"décisions de {owner}. Importez-le avec --coder « {owner} », ou exportez votre "
                    f"propre classeur (qualipipe review export --codeur « {coder} ») ou un classeur "
                    "sans --codeur.",
                )
            ],
        )


def check_columns(read: rd.ReadWorkbook) -> None:
    """Columns renamed or deleted since the export are named, once, before any row is read.

    Moving columns is harmless (cells are read by header) and accepted."""
    expected = read.columns
    found = read.sheet.letters
    if not expected:
        return
    missing = [(index, header) for index, header in enumerate(expected) if header not in found]
    extra = {letter: header for header, letter in found.items() if header not in expected}
    problems = []
    for index, header in missing:
        letter = get_column_letter(index + 1)
        if letter in extra:
            message = (
                f"la colonne « {header} » a été renommée « {extra[letter]} » : rendez-lui "
                "son nom d'origine."
            )
        else:
            message = (
                f"la colonne « {header} » a été supprimée (ou renommée) : reprenez-la depuis "
                "le classeur exporté, même vide."
            )
        problems.append(
            Problem(read.path.name, message, line=1, column=letter, sheet=read.sheet.name)
        )
    if problems:
        raise InputError(
            f"{read.path.name} : colonnes modifiées depuis l'export, rien n'a été importé.",
            problems,
        )


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
    coders_key = ",".join(coders)
    with study.transaction() as conn:
        previous = conn.execute(
            "SELECT imported_at FROM imports WHERE file_hash = ? AND coder = ?",
            (digest, coders_key),
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
            (path.name, digest, coders_key, now_iso(), len(fresh)),
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
            comments[d.coder] = {
                segment: text for segment, (text, _) in latest_comments(study.conn, d.coder).items()
            }
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
