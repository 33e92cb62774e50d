"""Tables of written answers (consultation exports, typed paper forms) ingested without a
LimeSurvey instrument: real CSV and .xlsx files, a real SQLite study, the review workbook read
back, and the CLI as an analyst runs it."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from qualipipe.codebook import changes as codebook
from qualipipe.errors import InputError
from qualipipe.ingest import TableOptions, ingest_paths
from qualipipe.ingest.answer_tables import (
    actor_type_of,
    looks_like_free_text,
    read_answer_table,
)
from qualipipe.records import Action, Decision, Role, SourceKind
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review
from qualipipe.store import append_decision, current_coding, list_participants
from tests.conftest import CODEBOOK, require_shared

Q_BESOINS = "Quels sont les besoins de votre territoire ?"
Q_IDEES = "Vos idées pour y répondre"
HEADERS = ["Référence", "Nom", "Courriel", "Territoire", "Tranche d'âge", Q_BESOINS, Q_IDEES]
ROWS = [
    [
        "C-001",
        "Martine Lefèvre",
        "martine.lefevre@exemple.fr",
        "AUXOIS",
        "40-59 ans",
        "Il manque un service de transport à la demande pour les personnes âgées des villages.",
        "Une navette solidaire portée par une association, avec des chauffeurs bénévoles. "
        "Martine Lefèvre, habitante de Semur.",
    ],
    [
        "C-002",
        "Jean Dubois",
        "jean.dubois@exemple.fr",
        "Besancon nord",
        "60 ans et plus",
        "Les jeunes du quartier ne trouvent pas de stage ni de premier emploi près de chez eux.",
        "",
    ],
    [
        "C-003",
        "",
        "",
        "auxois",
        "40-59 ans",
        "Les producteurs locaux n'ont pas de lieu pour vendre ensemble leurs légumes.",
        "Un magasin de producteurs en coopérative, ouvert le samedi matin sur la place du marché.",
    ],
    ["C-004", "Paul Henry", "", "Auxois", "18-39 ans", "", ""],  # no open answer
]


def write_csv(path: Path, rows: list[list[str]], headers: list[str] = HEADERS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";").writerows([headers, *rows])
    return path


def write_xlsx(path: Path, rows: list[list[str]], headers: list[str]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def table_texts(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """(participant pseudonym, question) -> text of every table answer in the study."""
    return {
        (r["pseudonym"], r["question_code"]): r["text"]
        for r in conn.execute(
            "SELECT p.pseudonym, s.question_code, s.text FROM sources s "
            "JOIN participants p ON p.id = s.participant_id WHERE s.format = 'tableau'"
        )
    }


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in ("participants", "sources", "segments", "participant_attributes")
    }


def test_a_csv_consultation_becomes_contributions_of_pseudonymised_respondents(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    path = write_csv(tmp_path / "consultation.csv", ROWS)
    report = ingest_paths(study, [path], kind=SourceKind.WRITTEN)

    assert report.ok, [str(f.error) for f in report.failed]
    columns = report.tables[0].table.columns
    assert columns.texts == [Q_BESOINS, Q_IDEES]
    assert columns.attributes == ["Tranche d'âge"]
    assert columns.personal == ["Nom", "Courriel"]
    assert (columns.id_column, columns.territory_column) == ("Référence", "Territoire")
    people = {p.id: p for p in list_participants(study.conn)}
    # Territories typed as « AUXOIS » or « Besancon nord » are the study's territories.
    assert {p.territory_id for p in people.values()} == {"auxois", "besancon-nord"}
    assert {p.role for p in people.values()} == {Role.CONTRIBUTOR}
    assert sorted(p.pseudonym for p in people.values()) == [
        "Contributeur·rice 1 — Auxois",
        "Contributeur·rice 1 — Besançon Nord",
        "Contributeur·rice 2 — Auxois",
    ]  # the row without any open answer is no respondent
    texts = table_texts(study.conn)
    assert len(texts) == 5 and report.tables[0].table.rows_without_text == 1
    kinds = {r[0] for r in study.conn.execute("SELECT kind FROM sources")}
    assert kinds == {SourceKind.WRITTEN.value}
    everything = json.dumps(dump(study.conn), ensure_ascii=False, default=str)
    assert "@exemple.fr" not in everything and "Jean Dubois" not in everything
    ages = study.conn.execute(
        "SELECT value FROM participant_attributes WHERE question_code = ?", ("Tranche d'âge",)
    ).fetchall()
    assert sorted(r[0] for r in ages) == ["40-59 ans", "40-59 ans", "60 ans et plus"]


def test_names_and_emails_never_reach_the_review_workbook(make_study, tmp_path: Path) -> None:
    study = make_study()
    codebook.load_into_study(study, CODEBOOK)
    path = write_csv(tmp_path / "consultation.csv", ROWS)
    assert ingest_paths(study, [path]).ok
    written = export_review(study, ReviewFilter(), output=tmp_path / "revue.xlsx", limit=None)
    sheet = load_workbook(written.path).worksheets[0]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    shown = "\n".join(cells)
    assert "Une navette solidaire portée par une association" in shown
    assert Q_IDEES in shown  # the question is the source a reader sees
    assert "Contributeur·rice 1 — Auxois" in shown
    # The author who signed her answer is replaced by her pseudonym; contacts never appear.
    assert "Lefèvre" not in shown and "@exemple.fr" not in shown and "Dubois" not in shown


def test_reimporting_the_same_xlsx_changes_nothing(make_study, tmp_path: Path) -> None:
    study = make_study()
    rows = [[r[5], r[6], r[4]] for r in ROWS]
    path = write_xlsx(tmp_path / "saisie_papier.xlsx", rows, [Q_BESOINS, Q_IDEES, "Âge"])
    # Typed as on the command line: one value per option, or headers separated by commas.
    options = TableOptions(text_columns=(f"{Q_BESOINS.upper()}, {Q_IDEES}",))
    first = ingest_paths(study, [path], territory="auxois", table_options=options)
    assert first.ok and first.files[0].status == "nouveau"
    # No identifier column: rows are respondents by their row number in this file.
    assert first.tables[0].table.columns.id_column is None
    assert len(table_texts(study.conn)) == 5
    before = dump(study.conn)

    again = ingest_paths(study, [path], territory="auxois", table_options=options)
    assert again.files[0].status == "inchangé"
    assert again.tables[0].respondents.unchanged == 3
    assert dump(study.conn) == before


def test_a_question_with_a_comma_is_named_whole(make_study, tmp_path: Path) -> None:
    study = make_study()
    question = "Selon vous, que manque-t-il ?"
    path = write_csv(tmp_path / "t.csv", [["court", "auxois"]], [question, "territoire"])
    report = ingest_paths(study, [path], table_options=TableOptions(text_columns=(question,)))
    assert report.ok and report.tables[0].table.columns.texts == [question]


def test_the_territory_typed_for_the_file_wins_over_a_territory_column(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    path = write_csv(tmp_path / "consultation.csv", ROWS)
    report = ingest_paths(study, [path], territory="Besançon Nord")
    assert report.ok and report.tables[0].table.columns.territory_column is None
    assert "Territoire" in report.tables[0].table.columns.attributes
    assert {p.territory_id for p in list_participants(study.conn)} == {"besancon-nord"}


def test_a_corrected_cell_updates_only_its_text_and_keeps_other_decisions(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    path = write_csv(tmp_path / "consultation.csv", ROWS)
    assert ingest_paths(study, [path]).ok
    segments = {
        r["text"]: r["id"]
        for r in study.conn.execute("SELECT id, text FROM segments WHERE retired = 0")
    }
    kept = segments[ROWS[2][5]]
    changed = segments[ROWS[1][5]]
    emptied = segments[ROWS[2][6]]
    with study.transaction() as conn:
        for segment_id, code in ((kept, "ENJ_ALIMENTATION"), (changed, "ENJ_EMPLOI_INSERTION")):
            append_decision(conn, Decision(segment_id, Action.ACCEPT, "alice", code))
        append_decision(conn, Decision(emptied, Action.ADD, "alice", "TRANS_PISTES_ACTION"))
    corrected = [list(r) for r in ROWS]
    corrected[1][5] = "Les jeunes du quartier ne trouvent ni stage ni premier emploi ici."
    corrected[2][6] = ""  # the analyst removes an answer typed in the wrong row
    corrected[0][6] = ""  # and one nobody has coded yet
    write_csv(path, list(reversed(corrected)))  # rows reordered too

    report = ingest_paths(study, [path])
    table = report.tables[0]
    assert [c.status for c in table.sources].count("mis à jour") == 1
    assert [c.status for c in table.sources].count("inchangé") == 2
    assert len(table.removed) == 2
    # The undecided answer is gone (it must not count as an analysed text); the decided one is
    # emptied, its passages retired and its decisions kept in the history.
    assert study.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 4
    assert ROWS[0][6] not in {r[0] for r in study.conn.execute("SELECT text FROM segments")}
    assert current_coding(study.conn)[(kept, "ENJ_ALIMENTATION")] is True
    assert sorted(d.segment_id for d in report.lost_decisions) == sorted([changed, emptied])
    retired = {r[0] for r in study.conn.execute("SELECT id FROM segments WHERE retired = 1")}
    assert retired == {changed, emptied}
    texts = table_texts(study.conn)
    assert corrected[1][5] in texts.values() and ROWS[2][6] not in texts.values()


def test_a_respondent_removed_from_the_file_leaves_the_study(make_study, tmp_path: Path) -> None:
    study = make_study()
    path = write_csv(tmp_path / "consultation.csv", ROWS)
    assert ingest_paths(study, [path]).ok
    write_csv(path, [ROWS[0], ROWS[2]])  # C-002 withdrew her answer
    report = ingest_paths(study, [path])
    assert report.ok and len(report.tables[0].removed) == 1
    pseudonyms = sorted(p.pseudonym for p in list_participants(study.conn))
    assert pseudonyms == ["Contributeur·rice 1 — Auxois", "Contributeur·rice 2 — Auxois"]
    assert study.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 4


def test_unknown_territory_values_refuse_the_whole_file(make_study, tmp_path: Path) -> None:
    study = make_study()
    rows = [list(r) for r in ROWS]
    rows[1][3] = "Dijon"
    rows[2][3] = ""
    path = write_csv(tmp_path / "consultation.csv", rows)
    report = ingest_paths(study, [path])

    error = report.failed[0].error
    assert isinstance(error, InputError)
    assert "2 ligne(s) dont le territoire (colonne « Territoire »)" in error.summary
    assert "--ignorer-hors-territoire" in error.summary and "auxois (Auxois)" in error.summary
    assert [(p.line, p.column) for p in error.problems] == [(3, "Territoire"), (4, "Territoire")]
    assert "« Dijon » inconnu (1 ligne(s) : 3)" in error.problems[0].message
    assert "vide" in error.problems[1].message
    assert study.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0
    assert study.conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 0

    skipping = TableOptions(skip_other_territories=True)
    report = ingest_paths(study, [path], table_options=skipping)
    assert report.ok and report.tables[0].table.outside_rows == 2
    assert {p.territory_id for p in list_participants(study.conn)} == {"auxois"}


@pytest.mark.parametrize(
    ("rows", "options", "expected"),
    [
        (
            [["A1", "auxois", "x" * 80], ["a1", "auxois", "y" * 80]],
            TableOptions(id_column="IDENTIFIANT"),
            "ligne 3, colonne identifiant : identifiant en double (lignes 2, 3)",
        ),
        ([["A1", "auxois", "court"]], TableOptions(), "--colonnes-texte"),
        (
            [["A1", "auxois", "x" * 80]],
            TableOptions(text_columns=("Question 9",)),
            "« Question 9 » (--colonnes-texte) n'existe pas",
        ),
    ],
)
def test_bad_tables_get_one_french_message_and_write_nothing(
    make_study, tmp_path: Path, rows, options, expected
) -> None:
    study = make_study()
    path = write_csv(tmp_path / "t.csv", rows, ["identifiant", "territoire", "Réponse"])
    report = ingest_paths(study, [path], table_options=options)
    assert expected in str(report.failed[0].error)
    assert study.conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 0


def test_an_id_column_with_repeated_values_is_not_taken_as_identity(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    rows = [["A1", "auxois", "x" * 80], ["A1", "auxois", "y" * 80]]
    path = write_csv(tmp_path / "t.csv", rows, ["identifiant", "territoire", "Réponse"])
    report = ingest_paths(study, [path])
    columns = report.tables[0].table.columns
    assert columns.id_column is None and "numéro de ligne" in columns.notes[0]
    assert len(table_texts(study.conn)) == 2


def test_a_long_table_gathers_each_respondents_answers_under_their_questions(
    make_study, tmp_path: Path
) -> None:
    # Open-data exports (Grand Débat): one row per answer, the question in its own column, the
    # respondent's reference repeated on each of their answers, an id unique to each answer.
    study = make_study()
    headers = ["id", "contribution_ref", "question_text", "text", "territoire"]
    rows = [
        ["1__Q1", "C-1", Q_BESOINS, "Il manque un bus le dimanche pour les anciens.", "auxois"],
        [
            "1__Q2",
            "C-1",
            Q_IDEES,
            "Un transport solidaire avec des bénévoles du village.",
            "auxois",
        ],
        ["2__Q1", "C-2", Q_BESOINS, "Pas de médecin à moins de vingt kilomètres d'ici.", "auxois"],
    ]
    report = ingest_paths(study, [write_csv(tmp_path / "long.csv", rows, headers)])
    assert report.ok, [str(f.error) for f in report.failed]
    columns = report.tables[0].table.columns
    assert (columns.id_column, columns.question_column) == ("contribution_ref", "question_text")
    texts = table_texts(study.conn)
    assert sorted(texts) == [
        ("Contributeur·rice 1 — Auxois", Q_BESOINS),
        ("Contributeur·rice 1 — Auxois", Q_IDEES),
        ("Contributeur·rice 2 — Auxois", Q_BESOINS),
    ]
    twice = write_csv(
        tmp_path / "twice.csv", [*rows, ["3", "C-2", Q_BESOINS, "x" * 60, "auxois"]], headers
    )
    with pytest.raises(InputError, match="répond deux fois"):
        read_answer_table(twice, study.config, None, None)


@pytest.mark.parametrize(
    ("author_type", "actor_type"),
    [
        ("Citoyen / Citoyenne", "citoyen"),
        ("Élu / élue et Institution", "collectivité"),
        ("Organisation à but non lucratif", "structure de l'ESS"),
        ("Organisation à but lucratif", "entreprise"),
        ("SIAE", "SIAE"),
        ("Journaliste", "autre"),
    ],
)
def test_consultation_author_types_become_actor_types(author_type: str, actor_type: str) -> None:
    assert actor_type_of(author_type) == actor_type


def test_free_text_is_told_from_closed_answers() -> None:
    assert not looks_like_free_text(["Oui", "Non", "Oui", "Oui", "Non", "Ne sait pas"])
    assert not looks_like_free_text([f"2019-01-{d:02d} 10:00:00" for d in range(1, 20)])
    assert looks_like_free_text(["La TVA", "CSG", "Aucun, il faut baisser les dépenses " * 5])


def ingest_cli(study_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`qualipipe ingest` as an analyst runs it, output one line per message (never folded)."""
    return subprocess.run(
        [sys.executable, "-m", "qualipipe", "ingest", "--study", str(study_root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "1000"},
    )


def test_the_cli_says_which_columns_were_taken_and_refuses_a_folder_table(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    folder = tmp_path / "consultation"
    folder.mkdir()
    path = write_csv(folder / "reponses.csv", ROWS)
    result = ingest_cli(study.root, str(path), "--type", "contribution")
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stderr
    assert f"textes (réponses ouvertes) : « {Q_BESOINS} », « {Q_IDEES} »" in out
    assert "données personnelles écartées (jamais affichées) : « Nom », « Courriel »" in out
    assert "caractéristiques des répondant·es : « Tranche d'âge »" in out
    assert "3 répondant·e(s) nouveau·elle(s)" in out and "1 ligne(s) sans réponse" in out
    # Inside a folder, a table may be a manifest: it is listed, never read as answers.
    said = " ".join(ingest_cli(study.root, str(folder)).stdout.split())
    assert "Ignorés (format non pris en charge) : reponses.csv" in said
    assert f"« qualipipe ingest {path} --type contribution -t TERRITOIRE »" in said
    result = ingest_cli(study.root, str(path), "--type", "entretien")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "un tableau de réponses n'est pas un entretien" in result.stderr


def test_grand_debat_answers_by_department(make_study, tmp_path: Path) -> None:
    """Real consultation answers: one column per question, the department as territory."""
    source = require_shared("data", "granddebat_annotation_fiscalite", "responses.jsonl")
    answers: dict[str, dict[str, str]] = defaultdict(dict)
    questions: list[str] = []
    for line in source.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        answers[record["contribution_ref"]].update(
            contribution_ref=record["contribution_ref"],
            department=record["department"],
            author_type=record["author_type"] or "",
            published_at=record["published_at"],
            author_zipcode=record["author_zipcode"] or "",
            contribution_title=record["contribution_title"] or "",
        )
        answers[record["contribution_ref"]][record["question_text"]] = record["text"]
        if record["question_text"] not in questions:
            questions.append(record["question_text"])
    headers = list(next(iter(answers.values())))[:6] + questions
    path = write_csv(
        tmp_path / "fiscalite.csv",
        [[row.get(h, "") for h in headers] for row in answers.values()],
        headers,
    )
    toml = '[etude]\nnom = "GDN"\n' + "".join(
        f'[[territoires]]\nid = "{d}"\nnom = "{n}"\n'
        for d, n in (("75", "Paris"), ("13", "Bouches-du-Rhône"))
    )
    study = make_study(toml)
    options = TableOptions(territory_column="department", skip_other_territories=True)
    table = read_answer_table(path, study.config, options, None)
    assert sorted(table.columns.texts) == sorted(questions)
    assert table.columns.id_column == "contribution_ref"
    assert "contribution_title" in table.columns.attributes
    assert {r.territory_id for r in table.respondents} == {"75", "13"}
    assert table.outside_rows > 1000 and "61" in table.outside_values
    citizens = [r for r in table.respondents if r.actor_type == "citoyen"]
    assert len(citizens) > len(table.respondents) * 0.8


def test_a_synthesis_counts_a_respondents_form_once_and_its_contributors(
    make_study, tmp_path: Path
) -> None:
    # Two open questions per form: « 2 contributions analysées » for two forms, not four.
    from qualipipe.records import Code, Codebook
    from qualipipe.store import save_codebook_version
    from qualipipe.synthesize.load import StudySnapshot
    from qualipipe.synthesize.model import SynthesisOptions
    from qualipipe.synthesize.tables import code_stats, family_table
    from qualipipe.synthesize.verbatims import VerbatimPicker

    study = make_study()
    ingest_paths(study, [write_csv(tmp_path / "consultation.csv", ROWS)])
    codes = (
        Code("ENJ", "Enjeux", "ENJ", codable=False),
        Code("ENJ_MOBILITE", "Mobilité", "ENJ", parent="ENJ"),
    )
    with study.transaction() as conn:
        save_codebook_version(conn, Codebook("PTCE", "1", codes), "ENJ,ENJ_MOBILITE")
        segment = conn.execute(
            "SELECT s.id FROM segments s JOIN sources src ON src.id = s.source_id "
            "WHERE src.text LIKE 'Il manque un service de transport%'"
        ).fetchone()[0]
        append_decision(conn, Decision(segment, Action.ADD, "Claire", "ENJ_MOBILITE"))
    data = StudySnapshot.read(study, validated_only=False).territory(
        study.config.territory("auxois")
    )
    assert data.source_counts == ((SourceKind.WRITTEN, 2),)
    stats = code_stats(data)
    table = family_table(
        codes[0], data, stats, VerbatimPicker({}), lambda text: text, SynthesisOptions()
    )
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert (row["Contributeurs"], row["% contributeurs"]) == (1, 0.5)
    assert table.note.startswith("Base : 2 contributeur·rice(s) dont au moins un texte")


def test_contacts_are_told_by_their_values_and_dates_are_not_contacts(
    make_study, tmp_path: Path
) -> None:
    # A column without a telling header is personal data when its values are phone numbers or
    # e-mails as the pseudonymiser recognises them; a column of dates is an attribute.
    study = make_study()
    headers = ["Référence", "Territoire", "Pour vous joindre", "Publié le", Q_BESOINS]
    rows = [
        ["C-1", "auxois", "06 12 34 56 78", "2019-01-25", "Il manque un bus le dimanche matin."],
        ["C-2", "auxois", "01.23.45.67.89", "2019-02-03", "Pas de médecin à moins de vingt km."],
    ]
    report = ingest_paths(study, [write_csv(tmp_path / "t.csv", rows, headers)])
    columns = report.tables[0].table.columns
    assert columns.personal == ["Pour vous joindre"]
    assert columns.attributes == ["Publié le"]
