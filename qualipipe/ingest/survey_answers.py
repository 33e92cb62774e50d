"""Survey answers: LimeSurvey export files (code headings) and `survey fetch` results.

Each response row is kept whole in `survey_responses` (idempotent through its data hash). Each
non-empty free-text answer becomes a Source of its participant, tagged with the instrument, the
question code and the codebook families/codes the question feeds, and is cut into segments.
Closed answers go to `participant_attributes`, usable in syntheses.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import normalize_text
from qualipipe.ingest.manifest import load_links
from qualipipe.ingest.reconcile import NEW, UNCHANGED, UPDATED, SourceChange, Tally, store_source
from qualipipe.ingest.segment import SegmentationParams, SentenceSplitter, segment_answer
from qualipipe.ingest.tables import read_table
from qualipipe.ingest.workshop import answer_metadata, answer_source_kind
from qualipipe.records import Source, SurveyResponse
from qualipipe.store import Study, first_value, now_iso, text_hash, upsert_row
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
    responses: Tally = field(default_factory=Tally)
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


def read_survey_export(
    path: Path, instrument: Instrument, territory_id: str
) -> list[SurveyResponse]:
    """Responses of a LimeSurvey export file (CSV or XLSX, headings = question codes)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} introuvable.", [Problem(str(path), "le fichier n'existe pas.")])
    table = read_table(path, advice="réexportez-le")
    headers, rows = table.headers, table.rows
    check_columns(headers, instrument, str(path))
    columns = {c.name for c in instrument.export_columns()}
    responses: list[SurveyResponse] = []
    problems: list[Problem] = []
    for line, row in rows:
        record = dict(zip(headers, row, strict=False))
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
    deployed = first_value(
        study.conn,
        "SELECT survey_id FROM survey_deployments WHERE instrument = ? AND territory_id = ?",
        (response.instrument, response.territory_id),
    )
    return _unlisted_survey_id(response) if deployed is None else int(deployed)


def _unlisted_survey_id(response: SurveyResponse) -> int:
    """Negative (no LimeSurvey id is), and the same at every import of the same export."""
    place = f"{response.instrument}:{response.territory_id}"
    return -(zlib.crc32(place.encode()) % 1_000_000_000) - 1


def _participant_for_token(study: Study, response: SurveyResponse) -> str | None:
    if not response.token:
        return None
    invited = first_value(
        study.conn,
        "SELECT participant_id FROM survey_invitations WHERE token = ? ORDER BY survey_id = ? DESC",
        (response.token, response.survey_id),
    )
    # A response exported before qualipipe sent the invitations: the token file links it.
    return load_links(study).tokens.get(response.token) if invited is None else str(invited)


def _upsert_response(study: Study, response: SurveyResponse, participant_id: str | None) -> str:
    data = json.dumps(response.values, ensure_ascii=False, sort_keys=True)
    digest = text_hash(f"{data}|{response.submitted}|{response.token}|{participant_id}")
    stored = first_value(
        study.conn,
        "SELECT data_hash FROM survey_responses WHERE survey_id = ? AND response_id = ? AND instrument = ?",
        (response.survey_id, response.response_id, response.instrument),
    )
    if stored == digest:
        return UNCHANGED
    row = {
        "survey_id": response.survey_id,
        "response_id": response.response_id,
        "instrument": response.instrument,
        "territory_id": response.territory_id,
        "participant_id": participant_id,
        "token": response.token,
        "submitted": int(response.submitted),
        "data": data,
        "data_hash": digest,
        "fetched_at": now_iso(),
    }
    upsert_row(study.conn, "survey_responses", row, key=("survey_id", "response_id"))
    return NEW if stored is None else UPDATED


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
            report.responses.add(_upsert_response(study, response, participant_id))
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
                    attribute = {
                        "participant_id": participant_id,
                        "instrument": response.instrument,
                        "question_code": name,
                        "value": value,
                    }
                    upsert_row(conn, "participant_attributes", attribute, key=list(attribute)[:3])
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
