"""LimeSurvey .lss files: the four instruments build, follow LimeSurvey 6's layout, round-trip."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from qualipipe.cli import app
from qualipipe.surveys.instruments import Instrument, QuestionType, load_instrument
from qualipipe.surveys.lss import build_lss, parse_lss, read_lss, read_marker

REPO = Path(__file__).resolve().parents[1]
NAMES = [
    "entretien_fondateurs",
    "entretien_acteurs",
    "priorisation_enjeux",
    "evaluation_diagnostic",
]


def load(name: str) -> Instrument:
    return load_instrument(REPO / "surveys" / f"{name}.yaml")


@pytest.mark.parametrize("name", NAMES)
def test_lss_round_trip_keeps_every_code_type_option_and_condition(name: str) -> None:
    instrument = load(name)
    back = parse_lss(build_lss(instrument), name=name)
    assert back.title == instrument.title
    assert back.welcome == instrument.welcome and back.end == instrument.end
    assert [g.title for g in back.groups] == [g.title for g in instrument.groups]
    assert [q.code for q in back.questions] == [q.code for q in instrument.questions]
    for original, parsed in zip(instrument.questions, back.questions, strict=True):
        # feeds are qualipipe's own (LimeSurvey has no place for them); line is YAML-only.
        assert parsed == replace(original, feeds=(), line=0), original.code
    conditions = [q.condition for q in instrument.questions if q.condition]
    assert conditions, "each instrument shows at least one conditional question"


def _tables(document: etree._Element) -> list[str]:
    return [child.tag for child in document if child.find("rows") is not None]


def test_lss_follows_the_layout_limesurvey_6_exports() -> None:
    data = build_lss(load("priorisation_enjeux"), survey_id=424242)
    document = etree.fromstring(data)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert document.findtext("LimeSurveyDocType") == "Survey"
    assert document.findtext("DBVersion") == "620"
    assert [e.text for e in document.find("languages")] == ["fr"]
    assert _tables(document) == [
        "answers",
        "answer_l10ns",
        "groups",
        "group_l10ns",
        "questions",
        "subquestions",
        "question_l10ns",
        "question_attributes",
        "surveys",
        "surveys_languagesettings",
    ]
    # Every non-empty value is CDATA, as in the server's own export.
    raw = data.decode("utf-8")
    assert "<title><![CDATA[P04]]></title>" in raw
    assert "<![CDATA[Emploi et insertion]]>" in raw
    # Each row carries exactly the fields its table declares.
    for table in document:
        fields = [f.text for f in table.findall("fields/fieldname")]
        for row in table.findall("rows/row"):
            assert [cell.tag for cell in row] == [f for f in fields if row.find(f) is not None]
    # Subquestions carry their parent's type and point at it.
    parents = {r.findtext("qid"): r for r in document.findall("questions/rows/row")}
    subs = document.findall("subquestions/rows/row")
    assert subs
    for sub in subs:
        parent = parents[sub.findtext("parent_qid")]
        assert sub.findtext("type") == parent.findtext("type")
        assert sub.findtext("gid") == parent.findtext("gid")
    # Points allocation: the sum is enforced by LimeSurvey.
    p07 = next(q for q in parents.values() if q.findtext("title") == "P07")
    attributes = {
        (r.findtext("qid"), r.findtext("attribute")): r.findtext("value")
        for r in document.findall("question_attributes/rows/row")
    }
    assert attributes[(p07.findtext("qid"), "equals_num_value")] == "10"


def test_conditions_are_written_as_relevance_only() -> None:
    """No `conditions` rows: LimeSurvey 6.4 would rebuild the relevance from them, wrongly for
    multiple choice (see tests/test_limesurvey_live.py for what respondents then see)."""
    document = etree.fromstring(build_lss(load("priorisation_enjeux"), survey_id=424242))
    questions = {r.findtext("title"): r for r in document.findall("questions/rows/row")}
    assert questions["P12"].findtext("relevance") == '((P11.NAOK == "Y"))'
    assert document.find("conditions") is None
    # On a multiple-choice question any of the listed subquestions ticked shows the question.
    evaluation = etree.fromstring(build_lss(load("evaluation_diagnostic")))
    e05 = next(r for r in evaluation.findall("questions/rows/row") if r.findtext("title") == "E05")
    assert e05.findtext("relevance") == '((E02_LIVRABLE.NAOK == "Y" or E02_RESTIT.NAOK == "Y"))'
    assert evaluation.find("conditions") is None


def test_and_and_array_row_conditions_round_trip() -> None:
    forms = load_instrument(REPO / "tests" / "fixtures" / "limesurvey" / "conditions_formes.yaml")
    document = etree.fromstring(build_lss(forms))
    relevance = {
        r.findtext("title"): r.findtext("relevance") for r in document.findall("questions/rows/row")
    }
    assert relevance["C04"] == '((C01_UN.NAOK == "Y" and C01_DEUX.NAOK == "Y"))'
    assert relevance["C05"] == '((C02_EMPLOI.NAOK == "4" or C02_EMPLOI.NAOK == "5"))'
    assert relevance["C06"] == '((C03_COUT.NAOK == "MAL"))'
    back = {q.code: q.condition for q in parse_lss(build_lss(forms)).questions}
    assert back == {q.code: q.condition for q in forms.questions}


def test_participant_attributes_are_described_and_carry_the_deploy_marker() -> None:
    document = etree.fromstring(build_lss(load("priorisation_enjeux"), marker="qualipipe:x:y:z"))
    descriptions = document.findtext("surveys/rows/row/attributedescriptions")
    assert read_marker(descriptions) == "qualipipe:x:y:z"
    assert {k: v["description"] for k, v in json.loads(descriptions).items()} == {
        "attribute_1": "Rôle",
        "attribute_2": "Identifiant qualipipe",
        "attribute_3": "Territoire",
    }
    captions = document.findtext("surveys_languagesettings/rows/row/surveyls_attributecaptions")
    assert json.loads(captions)["attribute_3"] == "Territoire"
    assert read_marker(None) == read_marker("pas du json") == ""


def test_a_server_exported_lss_is_read_with_every_type_and_option() -> None:
    from tests.conftest import require_shared

    path = require_shared("fixtures", "limesurvey", "survey_424242_structure.lss")
    instrument = read_lss(path)
    by_code = {q.code: q for q in instrument.questions}
    assert list(by_code) == [
        "INTRO", "COMMUNE", "IDENT", "ANCIEN", "ELU", "FORCES", "RECIT",
        "ENJEU", "THEMES", "PRIORITES", "SATISF", "ACCORD", "COMMENT",
    ]  # fmt: skip
    assert by_code["ENJEU"].type is QuestionType.LIST and by_code["ENJEU"].other
    assert [o.code for o in by_code["ENJEU"].options] == ["A1", "A2", "A3", "A4", "A5"]
    assert [o.code for o in by_code["ACCORD"].options][0] == "AO01"
    assert [s.code for s in by_code["IDENT"].subquestions] == ["NOM", "FONCTION", "STRUCT"]
    assert by_code["PRIORITES"].max_answers == 4
    assert by_code["ANCIEN"].minimum == 0 and by_code["ANCIEN"].maximum == 80
    # And what we write from it reads back the same (no loss through our writer either).
    again = parse_lss(build_lss(instrument), name=instrument.name)
    assert again.questions == instrument.questions


def test_parse_rejects_a_document_that_is_not_a_survey() -> None:
    from qualipipe.errors import InputError

    with pytest.raises(InputError, match="pas une structure de questionnaire"):
        parse_lss(b"<document><LimeSurveyDocType>Group</LimeSurveyDocType></document>", name="x")
    with pytest.raises(InputError, match="illisible"):
        parse_lss(b"<document><unclosed>", name="x")


def test_cli_build_writes_the_lss_and_reports_yaml_errors_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    output = tmp_path / "sortie" / "fondateurs.lss"
    result = runner.invoke(
        app,
        [
            "survey",
            "build",
            str(REPO / "surveys" / "entretien_fondateurs.yaml"),
            "--sortie",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    assert str(output.name) in result.output
    assert [q.code for q in read_lss(output).questions] == [
        q.code for q in load("entretien_fondateurs").questions
    ]

    bad = tmp_path / "evaluation_diagnostic.yaml"
    bad.write_text(
        "titre: Essai\ngroupes:\n  - titre: G\n    questions:\n      - code: E01\n        type: liste\n        texte: x\n",
        encoding="utf-8",
    )
    from qualipipe.cli import main

    target = tmp_path / "mauvais.lss"
    with pytest.raises(SystemExit) as exited:
        main(["survey", "build", str(bad), "--sortie", str(target)])
    assert exited.value.code == 1
    assert not target.exists()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{bad}, ligne 5" in err and "le type liste demande une liste « options »" in err
