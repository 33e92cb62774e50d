"""Survey answers: LimeSurvey export files (code headings) and `survey fetch` results.

Each response row is kept whole in `survey_responses` (idempotent through its data hash). Each
non-empty free-text answer becomes a Source of its participant, tagged with the instrument, the
question code and the codebook families/codes the question feeds, and is cut into segments.
Closed answers go to `participant_attributes`, usable in syntheses.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qualipipe.containers import check_container
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import decode_bytes
from qualipipe.ingest.manifest import load_links
from qualipipe.ingest.reconcile import SourceChange, store_source
from qualipipe.ingest.segment import SegmentationParams, SentenceSplitter, segment_answer
from qualipipe.ingest.workshop import answer_metadata, answer_source_kind
from qualipipe.records import Source, SurveyResponse
from qualipipe.store import Study, now_iso, text_hash

if TYPE_CHECKING:
    from qualipipe.surveys.instruments import ExportColumn, Instrument

# Columns LimeSurvey adds before the questions (and the participant table's, when joined).
FIXED_COLUMNS = {
    "id",
    "submitdate",
    "lastpage",
    "startlanguage",
    "seed",
    "token",
    "startdate",
    "datestamp",
    "ipaddr",
    "refurl",
    "firstname",
    "lastname",
    "email",
    "tid",
    "participant_id",
}


@dataclass
class SurveyIngestReport:
    instrument: str
    territory_id: str
    responses_new: int = 0
    responses_updated: int = 0
    responses_unchanged: int = 0
    unlinked_responses: list[int] = field(default_factory=list)  # no participant found
    attributes: int = 0
    sources: list[SourceChange] = field(default_factory=list)


def is_fixed_column(column: str) -> bool:
    """A LimeSurvey bookkeeping column (response or participant table), not a question."""
    return column.lower() in FIXED_COLUMNS or column.lower().startswith("attribute_")


def check_columns(headers: list[str], instrument: Instrument, file: str) -> None:
    """Export columns must be those of the instrument (code headings); French error otherwise."""
    expected = [c.name for c in instrument.export_columns()]
    known = set(expected)
    unknown = [h for h in headers if h and not is_fixed_column(h) and h not in known]
    advice = (
        "exportez les réponses avec les codes des questions comme en-têtes, ou choisissez le "
        "bon --instrument."
    )
    problems: list[Problem] = []
    if len(unknown) <= 5:
        problems = [
            Problem(
                file,
                f"la colonne « {header} » n'est pas une question de l'instrument "
                f"« {instrument.name} » ; {advice}",
                line=1,
                column=header,
            )
            for header in unknown
        ]
    else:
        shown = ", ".join(unknown[:12]) + ("…" if len(unknown) > 12 else "")
        problems = [
            Problem(
                file,
                f"{len(unknown)} colonnes ne sont pas des questions de l'instrument "
                f"« {instrument.name} » ({shown}) ; {advice}",
                line=1,
            )
        ]
    if "id" not in headers:
        problems.append(
            Problem(
                file, "colonne « id » absente : ce n'est pas un export de réponses LimeSurvey.", 1
            )
        )
    if not problems and not known.intersection(headers):
        problems.append(
            Problem(
                file,
                f"aucune colonne de l'instrument « {instrument.name} » "
                f"(attendues : {', '.join(expected[:8])}…).",
                1,
            )
        )
    if problems:
        raise InputError(
            f"L'export {Path(file).name} ne correspond pas à l'instrument « {instrument.name} » ; "
            "rien n'a été importé :",
            problems,
        )


def _table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        check_container(path, "classeur Excel")
        try:
            # Read-only sheets are parsed while iterating: the rows belong inside the guard.
            workbook = load_workbook(path, read_only=True, data_only=True)
            rows = [
                (number, ["" if v is None else str(v) for v in row])
                for number, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1)
            ]
            workbook.close()
        except Exception as error:  # openpyxl raises several types for bad files
            raise InputError(
                f"{path.name} n'est pas un classeur Excel lisible.",
                [Problem(str(path), f"fichier corrompu ({type(error).__name__}) ; réexportez-le.")],
            ) from None
    else:
        text = decode_bytes(path.read_bytes(), str(path)).text
        first = text.split("\n", 1)[0]
        reader = csv.reader(
            io.StringIO(text), delimiter=";" if first.count(";") >= first.count(",") else ","
        )
        try:
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as error:
            raise InputError(
                f"{path.name} n'est pas un fichier CSV lisible.",
                [Problem(str(path), f"CSV invalide ({error}) ; réexportez-le.", reader.line_num)],
            ) from None
    rows = [(n, r) for n, r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{path.name} est vide.", [Problem(str(path), "aucune ligne.")])
    return [h.strip() for h in rows[0][1]], rows[1:]


def read_survey_export(
    path: Path, instrument: Instrument, territory_id: str
) -> list[SurveyResponse]:
    """Responses of a LimeSurvey export file (CSV or XLSX, headings = question codes)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} introuvable.", [Problem(str(path), "le fichier n'existe pas.")])
    headers, rows = _table(path)
    check_columns(headers, instrument, str(path))
    columns = {c.name for c in instrument.export_columns()}
    responses: list[SurveyResponse] = []
    problems: list[Problem] = []
    for line, row in rows:
        record = dict(zip(headers, [cell.strip() for cell in row], strict=False))
        try:
            response_id = int(float(record.get("id", "")))
        except ValueError:
            problems.append(
                Problem(
                    str(path),
                    f"identifiant de réponse « {record.get('id')} » invalide.",
                    line,
                    "id",
                )
            )
            continue
        responses.append(
            SurveyResponse(
                survey_id=0,
                response_id=response_id,
                instrument=instrument.name,
                territory_id=territory_id,
                token=record.get("token", ""),
                submitted=bool(record.get("submitdate", "")),
                values={k: v for k, v in record.items() if k in columns},
            )
        )
    if problems:
        raise InputError(f"L'export {path.name} contient des lignes invalides :", problems)
    return responses


def survey_source_key(response: SurveyResponse, column: str) -> str:
    return f"survey:{response.instrument}:{response.territory_id}:{response.response_id}:{column}"


def effective_survey_id(study: Study, response: SurveyResponse) -> int:
    """The deployment's survey id; for an export file not linked to one, a stable negative id.

    `survey_responses` is keyed by (survey_id, response_id): two exports of different
    instruments both numbering responses from 1 must not overwrite each other.
    """
    if response.survey_id:
        return response.survey_id
    row = study.conn.execute(
        "SELECT survey_id FROM survey_deployments WHERE instrument = ? AND territory_id = ?",
        (response.instrument, response.territory_id),
    ).fetchone()
    if row:
        return int(row["survey_id"])
    return (
        -(zlib.crc32(f"{response.instrument}:{response.territory_id}".encode()) % 1_000_000_000) - 1
    )


def _participant_for_token(study: Study, response: SurveyResponse) -> str | None:
    if not response.token:
        return None
    row = study.conn.execute(
        "SELECT participant_id FROM survey_invitations WHERE token = ? ORDER BY survey_id = ? DESC",
        (response.token, response.survey_id),
    ).fetchone()
    if row:
        return str(row["participant_id"])
    return load_links(study).tokens.get(response.token)


def _upsert_response(study: Study, response: SurveyResponse, participant_id: str | None) -> str:
    data = json.dumps(response.values, ensure_ascii=False, sort_keys=True)
    digest = text_hash(f"{data}|{response.submitted}|{response.token}|{participant_id}")
    row = study.conn.execute(
        "SELECT data_hash FROM survey_responses WHERE survey_id = ? AND response_id = ? AND instrument = ?",
        (response.survey_id, response.response_id, response.instrument),
    ).fetchone()
    if row and row["data_hash"] == digest:
        return "unchanged"
    study.conn.execute(
        """INSERT INTO survey_responses (survey_id, response_id, instrument, territory_id,
               participant_id, token, submitted, data, data_hash, fetched_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(survey_id, response_id) DO UPDATE SET instrument=excluded.instrument,
             territory_id=excluded.territory_id, participant_id=excluded.participant_id,
             token=excluded.token, submitted=excluded.submitted, data=excluded.data,
             data_hash=excluded.data_hash, fetched_at=excluded.fetched_at""",
        (
            response.survey_id,
            response.response_id,
            response.instrument,
            response.territory_id,
            participant_id,
            response.token,
            int(response.submitted),
            data,
            digest,
            now_iso(),
        ),
    )
    return "updated" if row else "new"


def ingest_survey_responses(
    study: Study,
    instrument: Instrument,
    responses: Iterable[SurveyResponse],
    *,
    params: SegmentationParams | None = None,
    splitter: SentenceSplitter | None = None,
) -> SurveyIngestReport:
    """Store responses, their free-text answers as sources and their closed answers as attributes.

    Used by `qualipipe ingest --instrument` (export files) and `qualipipe survey fetch` (API).
    Runs in one transaction (joins the caller's when there is one).
    """
    params = params or SegmentationParams()
    signature = text_hash(json.dumps(params.as_dict(), sort_keys=True))[:16]
    columns = {c.name: c for c in instrument.export_columns()}
    responses = list(responses)
    territory = responses[0].territory_id if responses else ""
    report = SurveyIngestReport(instrument.name, territory)
    with study.transaction() as conn:
        for response in responses:
            response = replace(response, survey_id=effective_survey_id(study, response))
            participant_id = _participant_for_token(study, response)
            if participant_id is None:
                report.unlinked_responses.append(response.response_id)
            state = _upsert_response(study, response, participant_id)
            if state == "new":
                report.responses_new += 1
            elif state == "updated":
                report.responses_updated += 1
            else:
                report.responses_unchanged += 1
            for name, value in response.values.items():
                column = columns.get(name)
                if column is None or not value.strip():
                    continue
                if column.is_free_text:
                    report.sources.append(
                        _store_answer(
                            conn,
                            response,
                            column,
                            value,
                            participant_id,
                            params,
                            splitter,
                            signature,
                        )
                    )
                elif participant_id and column.kind.value == "fermée":
                    conn.execute(
                        """INSERT INTO participant_attributes (participant_id, instrument, question_code, value)
                           VALUES (?, ?, ?, ?) ON CONFLICT(participant_id, instrument, question_code)
                           DO UPDATE SET value = excluded.value""",
                        (participant_id, response.instrument, name, value),
                    )
                    report.attributes += 1
    return report


def _store_answer(
    conn: sqlite3.Connection,
    response: SurveyResponse,
    column: ExportColumn,
    value: str,
    participant_id: str | None,
    params: SegmentationParams,
    splitter: SentenceSplitter | None,
    signature: str,
) -> SourceChange:
    from qualipipe.ingest.encoding import normalize_text

    text = normalize_text(value).strip()
    question = column.question
    source = Source(
        key=survey_source_key(response, column.name),
        kind=answer_source_kind(response.instrument),  # workshop-1 answers: workshop notes
        text=text,
        participant_id=participant_id,
        territory_id=response.territory_id,
        format="limesurvey",
        instrument=response.instrument,
        question_code=question.code,
        metadata={
            "feeds": list(question.feeds),
            "instrument": response.instrument,
            "question_code": question.code,
            "column": column.name,
            "response_id": str(response.response_id),
            "survey_id": str(response.survey_id),
            **answer_metadata(response.instrument, question.text, _subquestion_text(column)),
        },
    )
    segments = segment_answer(text, params=params, splitter=splitter)
    return store_source(conn, source, segments, signature=signature)


def _subquestion_text(column: ExportColumn) -> str:
    """The wording of the column's sub-question (a workshop theme), or ""."""
    return next(
        (sub.text for sub in column.question.subquestions if sub.code == column.subquestion), ""
    )
