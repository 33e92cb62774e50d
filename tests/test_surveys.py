"""Survey instruments (YAML): the four shipped instruments, export columns, French validation."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from qualipipe.errors import InputError
from qualipipe.surveys.instruments import ColumnKind, QuestionType, load_instrument

REPO = Path(__file__).resolve().parents[1]
INSTRUMENTS = {
    "entretien_fondateurs": "F",
    "entretien_acteurs": "A",
    "priorisation_enjeux": "P",
    "evaluation_diagnostic": "E",
}


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_shipped_instrument_loads_with_stable_prefixed_codes(name: str) -> None:
    instrument = load_instrument(REPO / "surveys" / f"{name}.yaml")
    codes = [q.code for q in instrument.questions]
    assert instrument.name == name
    assert instrument.language == "fr"
    assert len(codes) == len(set(codes)) >= 12
    assert all(code.startswith(INSTRUMENTS[name]) for code in codes)
    # Every instrument has open questions that feed the coder.
    assert any(q.is_free_text and q.feeds for q in instrument.questions)


def test_instruments_cover_every_required_question_type() -> None:
    types = {
        q.type
        for name in INSTRUMENTS
        for q in load_instrument(REPO / "surveys" / f"{name}.yaml").questions
    }
    assert types == set(QuestionType)
    assert any(
        q.other for q in load_instrument(REPO / "surveys" / "entretien_fondateurs.yaml").questions
    )


def test_priorisation_has_ranking_points_and_importance_feasibility_over_the_same_issues() -> None:
    instrument = load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml")
    importance, feasibility = instrument.question("P04"), instrument.question("P05")
    points = instrument.question("P07")
    ranking = instrument.question("P06")
    assert importance.type is feasibility.type is QuestionType.ARRAY_5
    assert importance.subquestions == feasibility.subquestions == points.subquestions
    assert points.type is QuestionType.MULTIPLE_NUMERICAL and points.total == 10
    assert ranking.type is QuestionType.RANKING and ranking.max_answers == 5
    assert len(ranking.options) == len(importance.subquestions)


def test_feeds_name_families_or_codes_of_the_shipped_codebook() -> None:
    from qualipipe.codebook.model import load_codebook

    known = {code.id for code in load_codebook(REPO / "codebooks" / "ptce.yaml").codes}
    for name in INSTRUMENTS:
        for question in load_instrument(REPO / "surveys" / f"{name}.yaml").questions:
            unknown = set(question.feeds) - known
            assert not unknown, f"{name} {question.code} feeds unknown {unknown}"


def test_export_columns_tell_free_text_from_closed_answers() -> None:
    instrument = load_instrument(REPO / "surveys" / "entretien_fondateurs.yaml")
    kinds = instrument.column_kinds()
    assert kinds["F01"] is ColumnKind.FREE_TEXT  # texte_long
    assert kinds["F02"] is ColumnKind.CLOSED  # liste: the answer code
    assert kinds["F02[other]"] is ColumnKind.FREE_TEXT  # its "Autre" text
    assert kinds["F03[PERIM]"] is ColumnKind.FREE_TEXT  # textes_courts_multiples
    assert kinds["F06[BESOINS]"] is ColumnKind.CLOSED  # choix_multiples: Y or ""
    assert [c for c in kinds if c.startswith("F09[")] == ["F09[1]", "F09[2]", "F09[3]"]
    assert kinds["F17"] is ColumnKind.CLOSED
    priorisation = load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml")
    assert priorisation.column_kinds()["P03"] is ColumnKind.DISPLAY


def test_export_columns_match_a_real_limesurvey_export() -> None:
    from tests.conftest import require_shared

    folder = require_shared("fixtures", "limesurvey")
    from qualipipe.surveys.lss import read_lss

    instrument = read_lss(folder / "survey_424242_structure.lss")
    header = next(
        csv.reader(
            io.StringIO((folder / "responses_csv_code_short.csv").read_text("utf-8-sig")),
            delimiter=";",
        )
    )
    fixed = [
        "id",
        "submitdate",
        "lastpage",
        "startlanguage",
        "seed",
        "token",
        "startdate",
        "datestamp",
    ]
    assert header == fixed + [c.name for c in instrument.export_columns()]


def write(tmp_path: Path, text: str, name: str = "priorisation_enjeux.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_is_reported_in_french_with_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """titre: Essai
groupes:
  - titre: Groupe
    questions:
      - code: P01
        type: liste
        texte: Sans options
      - code: P02
        type: grille
        texte: Type inconnu
      - code: X03
        type: texte_long
        texte: Mauvais préfixe
        alimente: [motivations]
      - code: P04
        type: texte_court
        texte: Condition sur une question inconnue
        condition: {question: P99, reponses: [A1]}
      - code: P01
        type: oui_non
        texte: Code en double
""",
    )
    with pytest.raises(InputError) as caught:
        load_instrument(path)
    by_line = {problem.line: problem.message for problem in caught.value.problems}
    assert all(problem.file == str(path) for problem in caught.value.problems)
    assert "demande une liste « options »" in by_line[5]
    assert "type « grille » inconnu" in by_line[9]
    assert "« motivations » n'est pas un identifiant" in by_line[14]
    assert "commencent par « P »" in by_line[11]
    assert "P99" in by_line[15]
    assert "déjà utilisé ligne 5" in by_line[19]
    assert len(caught.value.problems) == 6
    assert str(caught.value).startswith(
        "Le questionnaire priorisation_enjeux.yaml contient 6 erreur(s)"
    )


def test_condition_answer_must_exist_in_the_target_question(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """titre: Essai
groupes:
  - titre: Groupe
    questions:
      - code: P01
        type: oui_non
        texte: Êtes-vous d'accord ?
      - code: P02
        type: texte_long
        texte: Pourquoi ?
        condition: {question: P01, reponses: [Peut-être]}
""",
    )
    with pytest.raises(InputError, match="erreur") as caught:
        load_instrument(path)
    assert caught.value.problems[0].line == 8
    assert "« Peut-être »" in caught.value.problems[0].message


def test_array_row_and_all_boxes_conditions_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """titre: Essai
groupes:
  - titre: Groupe
    questions:
      - code: P01
        type: tableau_5
        texte: Notez
        sous_questions: [{code: EMPLOI, texte: Emploi}]
      - code: P02
        type: liste
        texte: Choisissez
        options: [{code: A, texte: A}, {code: B, texte: B}]
      - code: P03
        type: texte_court
        texte: Ligne inconnue
        condition: {question: "P01[LOGEMENT]", reponses: ["4"]}
      - code: P04
        type: texte_court
        texte: Note hors échelle
        condition: {question: "P01[EMPLOI]", reponses: ["7"]}
      - code: P05
        type: texte_court
        texte: Toutes sur une liste
        condition: {question: P02, reponses: [A, B], toutes: true}
      - code: P06
        type: texte_court
        texte: Ligne d'une liste
        condition: {question: "P02[A]", reponses: [A]}
""",
    )
    with pytest.raises(InputError) as caught:
        load_instrument(path)
    messages = [p.message for p in caught.value.problems]
    assert "P01 n'a pas de ligne « LOGEMENT » (lignes : EMPLOI)" in messages[0]
    assert "« 7 » en réponse à P01[EMPLOI]" in messages[1]
    assert "« toutes » ne s'emploie qu'avec un choix_multiples" in messages[2]
    assert "désigne une ligne de tableau" in messages[3]
    assert len(messages) == 4


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "titre: Essai\ngroupes:\n  - titre: [ouvert\n")
    with pytest.raises(InputError) as caught:
        load_instrument(path)
    assert caught.value.problems[0].line == 4
    assert "n'est pas un YAML valide" in caught.value.problems[0].message


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """PyYAML keeps the last of two keys silently; an instrument with `titre:` twice is refused."""
    path = write(
        tmp_path,
        "titre: Essai\ntitre: Autre essai\ngroupes:\n  - titre: G1\n    questions:\n"
        "      - code: P01\n        type: texte_court\n        texte: Une question ?\n"
        "        texte: La même ?\n",
    )
    with pytest.raises(InputError) as caught:
        load_instrument(path)
    found = [(p.line, p.column, p.message) for p in caught.value.problems]
    assert found == [
        (
            2,
            "1",
            "la clé « titre » apparaît deux fois dans le même bloc (déjà ligne 1) ; "
            "gardez-en une seule.",
        ),
        (
            9,
            "9",
            "la clé « texte » apparaît deux fois dans le même bloc (déjà ligne 8) ; "
            "gardez-en une seule.",
        ),
    ]
    assert str(path) in str(caught.value.problems[0])


def test_missing_file_is_a_french_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="introuvable"):
        load_instrument(tmp_path / "absent.yaml")
