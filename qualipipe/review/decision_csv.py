"""Import of the analyst decision CSV (`fichier;extrait;code;decision;codeur;commentaire`):
each row located by file name and an exact extract, validated like a workbook row."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter

from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import decode_bytes
from qualipipe.records import Decision, Segment
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    ADDED,
    CSV_DECISIONS,
    CodeCheck,
    PlannedDecision,
    fold_key,
)
from qualipipe.store import Study, clean_coder, coder_key, known_coders, row_to_segment


@dataclass
class _CoderNames:
    """Coder names as the history spells them (`alice` in the file is the study's `Alice`)."""

    study: Study
    known: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.known = known_coders(self.study.conn)

    def __call__(self, name: str) -> str:
        # The first spelling met (in the history, else in this file) is the display form.
        return self.known.setdefault(coder_key(name), clean_coder(name)) if name.strip() else ""


CSV_COLUMNS = ("fichier", "extrait", "code", "decision", "codeur", "commentaire")
CSV_REQUIRED = ("fichier", "extrait", "code", "decision")


def _read_csv_text(path: Path) -> str:
    # UTF-8, Excel's cp1252 "CSV (séparateur : point-virgule)", UTF-16; binary content refused.
    return decode_bytes(path.read_bytes(), path.name).text


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
    try:
        return _csv_rows(reader, file, default_coder)
    except csv.Error as error:
        raise InputError(
            f"{file} n'est pas un fichier CSV lisible.",
            [
                Problem(
                    file,
                    f"CSV invalide ligne {reader.line_num} ({error}) ; réenregistrez-le depuis "
                    "votre tableur au format CSV (séparateur point-virgule).",
                    line=reader.line_num,
                )
            ],
        ) from None


def _csv_rows(
    reader: Any, file: str, default_coder: str | None
) -> tuple[list[_CsvRow], dict[str, str]]:
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
    coders = _CoderNames(study)
    segments = _active_by_source(study)
    planned: list[PlannedDecision] = []
    problems: list[Problem] = []
    seen: dict[tuple[int, str, str], int] = {}
    for row in rows:
        found: list[tuple[str, str]] = []  # (column, message)
        code, word = row.get("code"), fold_key(row.get("decision"))
        coder = coders(row.get("codeur") or (default_coder or ""))
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
        decision = Decision(
            segment_id=segment.id or 0,
            action=CSV_DECISIONS[word],
            coder=coder,
            code_id=code,
            comment=row.get("commentaire"),
            origin=file,
        )
        planned.append(PlannedDecision(decision=decision, line=row.line))
    return planned, problems, len(rows)


def _column_letter(index: int) -> str:
    return get_column_letter(index + 1)
