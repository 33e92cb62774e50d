"""Real data from ../shared: ESLO Transcriber files, CFPP2000 transcripts, LimeSurvey exports.

Skipped cleanly when ../shared is absent.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from lxml import etree

from qualipipe.errors import InputError
from qualipipe.ingest import ingest_paths, ingest_survey_responses, read_survey_export
from tests.conftest import require_shared

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "identifiant;nom;role;organisation;type_acteur;territoire;consentement;date_entretien;enqueteur;fichier;jeton\n"


def manifest(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "participants.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def active_segments(study, key_part: str) -> list:
    return study.conn.execute(
        """SELECT s.*, src.text AS source_text FROM segments s JOIN sources src ON src.id = s.source_id
           WHERE src.key LIKE ? AND s.retired = 0 ORDER BY s.ordinal""",
        (f"%{key_part}%",),
    ).fetchall()


def test_eslo_trs_speakers_sections_offsets(make_study, tmp_path: Path) -> None:
    trs = require_shared("data", "eslo1_orleans_trs", "trs", "ESLO1_ENT_001_C.trs")
    study = make_study()
    rows = "ESLO001;BA725;acteur;;citoyen;auxois;oui;;OU;ESLO1_ENT_001_C.trs;\n"
    report = ingest_paths(study, [trs], manifest=manifest(tmp_path, rows))
    assert report.ok, [str(f.error) for f in report.failed]
    segments = active_segments(study, "ESLO1_ENT_001_C")
    for s in segments:
        assert s["source_text"][s["start"] : s["end"]] == s["text"]
    # Expected values read independently from the XML.
    root = etree.parse(str(trs), etree.XMLParser(load_dtd=False, no_network=True)).getroot()
    topics = {t.get("id"): t.get("desc") for t in root.iter("Topic")}
    used_topics = {topics[s.get("topic")] for s in root.iter("Section") if s.get("topic")}
    assert {s["section"] for s in segments} - {""} == used_topics
    speaking = {"BA725", "OU", "001LOC1", "001LOC2"}
    labels = {s["speaker"] for s in segments}
    assert "OU" in labels and labels <= (speaking | {"Acteur·rice 1 — Auxois"})
    assert "BA725" not in labels  # the participant's label became the pseudonym
    assert all(s["is_interviewer"] == (s["speaker"] == "OU") for s in segments)
    # Every word of the transcript is in exactly one segment.
    words_xml = sum(
        len((t.text or "").split()) + sum(len((c.tail or "").split()) for c in t)
        for t in root.iter("Turn")
    )
    assert sum(len(s["text"].split()) for s in segments) == words_xml
    assert len(segments) > 500


def test_cfpp_speakers_roles_words(make_study, tmp_path: Path) -> None:
    folder = require_shared("data", "cfpp2000_interviews")
    name = "Assia-Berrada-F-49_Ivry-v2-1"
    with open(folder / "interviews_index.csv", encoding="utf-8") as handle:
        index = {row["interview_id"]: row for row in csv.DictReader(handle)}[name]
    study = make_study()
    rows = f"CFPP1;Assia Berrada;acteur;;citoyen;besancon-nord;oui;;;{name}.txt;\n"
    report = ingest_paths(
        study, [folder / "transcripts" / f"{name}.txt"], manifest=manifest(tmp_path, rows)
    )
    assert report.ok
    segments = active_segments(study, name)
    for s in segments:
        assert s["source_text"][s["start"] : s["end"]] == s["text"]
    assert sum(len(s["text"].split()) for s in segments) == int(index["n_words"])
    speakers = {s["speaker"]: s["is_interviewer"] for s in segments}
    assert speakers == {"Florence Lefeuvre (ENQ)": 1, "Acteur·rice 1 — Besançon Nord": 0}
    assert all(s["start_time"] is not None and s["end_time"] >= s["start_time"] for s in segments)
    assert max(len(s["text"]) for s in segments) <= 1500


def survey_study(make_study, tmp_path: Path):
    study = make_study()
    # Participant 2's token from the recorded LimeSurvey server.
    rows = "AUX-A9;Jérôme N'Diaye;acteur;Communauté d'agglomération;collectivité;auxois;oui;;;;PMPSv352Ng7D3vv\n"
    ingest_paths(study, [], manifest=manifest(tmp_path, rows))
    return study


def test_limesurvey_csv_export(make_study, tmp_path: Path) -> None:
    export = require_shared("fixtures", "limesurvey", "responses_csv_code_short.csv")
    from qualipipe.surveys.instruments import load_instrument

    study = survey_study(make_study, tmp_path)
    instrument = load_instrument(DATA / "enquete_test.yaml")
    responses = read_survey_export(export, instrument, "auxois")
    assert [r.response_id for r in responses] == [1, 2, 3, 4]
    assert [r.submitted for r in responses] == [True, True, False, True]
    first = responses[0].values["RECIT"]
    assert "\r" not in first and first.count("🚲") == 3 and '"Nous sommes les oubliés' in first

    report = ingest_survey_responses(study, instrument, responses)
    assert report.responses.new == 4
    sources = study.conn.execute(
        "SELECT * FROM sources WHERE kind = 'survey' ORDER BY key"
    ).fetchall()
    keys = {s["key"] for s in sources}
    assert "survey:enquete_test:auxois:1:RECIT" in keys
    recit = next(s for s in sources if s["key"] == "survey:enquete_test:auxois:1:RECIT")
    import json

    metadata = json.loads(recit["metadata"])
    assert metadata["feeds"] == ["BES"] and recit["question_code"] == "RECIT"
    assert recit["instrument"] == "enquete_test"
    # Closed answers are never sources; response 2 (token) is linked to its participant.
    assert not keys & {
        f"survey:enquete_test:auxois:1:{c}" for c in ("ELU", "ENJEU", "SATISF[SQ001]")
    }
    linked = {s["participant_id"] for s in sources if ":2:" in s["key"]}
    assert linked == {"AUX-A9"}
    attributes = dict(
        study.conn.execute(
            "SELECT question_code, value FROM participant_attributes WHERE participant_id = 'AUX-A9'"
        ).fetchall()
    )
    assert (
        attributes["ENJEU"] == "-oth-"
        and attributes["ELU"] == "N"
        and attributes["PRIORITES[1]"] == "P1"
    )
    segments = active_segments(study, "survey:enquete_test")
    for s in segments:
        assert s["source_text"][s["start"] : s["end"]] == s["text"]

    # Idempotent: same export again → nothing new; a changed answer is updated, not duplicated.
    again = ingest_survey_responses(
        study, instrument, read_survey_export(export, instrument, "auxois")
    )
    assert (again.responses.new, again.responses.updated, again.responses.unchanged) == (0, 0, 4)
    assert {c.status for c in again.sources} == {"inchangé"}
    changed = tmp_path / "export.csv"
    changed.write_bytes(export.read_bytes().replace(b"Gare TER", b"Gare SNCF"))
    third = ingest_survey_responses(
        study, instrument, read_survey_export(changed, instrument, "auxois")
    )
    assert (third.responses.new, third.responses.updated) == (0, 1)
    assert study.conn.execute("SELECT count(*) FROM survey_responses").fetchone()[0] == 4
    forces = study.conn.execute(
        "SELECT text FROM sources WHERE key = 'survey:enquete_test:auxois:2:FORCES'"
    ).fetchone()
    assert forces["text"].startswith("Gare SNCF")


def test_limesurvey_export_through_cli_path(make_study, tmp_path: Path) -> None:
    export = require_shared("fixtures", "limesurvey", "responses_csv_code_short.csv")
    study = survey_study(make_study, tmp_path)
    copy = tmp_path / "reponses.csv"
    shutil.copy(export, copy)
    report = ingest_paths(study, [copy], instrument=DATA / "enquete_test.yaml", territory="Auxois")
    assert report.ok and report.surveys[0].responses.new == 4


def test_export_not_matching_instrument(make_study, tmp_path: Path) -> None:
    export = require_shared("fixtures", "limesurvey", "responses_csv_code_short.csv")
    from qualipipe.surveys.instruments import load_instrument

    repo = Path(__file__).resolve().parents[1]
    instrument = load_instrument(repo / "surveys" / "priorisation_enjeux.yaml")
    with pytest.raises(InputError) as raised:
        read_survey_export(export, instrument, "auxois")
    message = str(raised.value)
    assert "responses_csv_code_short.csv" in message
    assert "FORCES" in message and "priorisation_enjeux" in message and "ligne 1" in message


def test_limesurvey_xlsx_export_reads_like_the_csv(make_study, tmp_path: Path) -> None:
    export = require_shared("fixtures", "limesurvey", "responses_csv_code_short.csv")
    from openpyxl import Workbook

    from qualipipe.surveys.instruments import load_instrument

    instrument = load_instrument(DATA / "enquete_test.yaml")
    from_csv = read_survey_export(export, instrument, "auxois")
    with open(export, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    workbook = Workbook()
    for row in rows:
        if row:
            # Excel exports hold numbers as numbers: the reader must give back the same text.
            workbook.active.append([int(c) if c.isdigit() and len(c) < 3 else c for c in row])
    path = tmp_path / "reponses.xlsx"
    workbook.save(path)
    from_xlsx = read_survey_export(path, instrument, "auxois")
    assert from_xlsx == from_csv


def test_wrong_instrument_writes_nothing(make_study, tmp_path: Path) -> None:
    export = require_shared("fixtures", "limesurvey", "responses_csv_code_short.csv")
    study = survey_study(make_study, tmp_path)
    repo = Path(__file__).resolve().parents[1]
    report = ingest_paths(
        study,
        [export],
        instrument=repo / "surveys" / "priorisation_enjeux.yaml",
        territory="auxois",
    )
    assert not report.ok and "ne correspond pas" in str(report.failed[0].error)
    assert study.conn.execute("SELECT count(*) FROM survey_responses").fetchone()[0] == 0
    assert study.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0


def test_every_eslo_file_reads_without_losing_words() -> None:
    from qualipipe.ingest.readers import read_transcript

    folder = require_shared("data", "eslo1_orleans_trs", "trs")
    files = sorted(folder.glob("*.trs"))
    assert len(files) == 25
    for path in files:
        transcript = read_transcript(path)
        root = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True)).getroot()
        expected = sum(
            len((t.text or "").split()) + sum(len((c.tail or "").split()) for c in t)
            for t in root.iter("Turn")
        )
        got = sum(len(transcript.text[t.start : t.end].split()) for t in transcript.turns)
        assert got == expected, path.name
        declared = {s.get("name") for s in root.iter("Speaker")}
        assert {t.speaker for t in transcript.turns} <= declared, path.name
