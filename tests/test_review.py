"""Review round trip on a real study: export → analyst fills the workbook → import → export again."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe.errors import InputError
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Participant,
    Role,
    Segment,
    Source,
    SourceKind,
    Suggestion,
)
from qualipipe.review import workbook as wb
from qualipipe.review.common import Order, ReviewFilter, suggestion_uncertainty
from qualipipe.review.export import export_review
from qualipipe.review.importer import import_decisions
from qualipipe.store import (
    current_coding,
    decision_history,
    insert_segments,
    insert_source,
    replace_suggestions,
    save_codebook_version,
    set_meta,
    upsert_participant,
)
from tests.conftest import insert_lines_source

CODES = (
    Code("MOT", "Motivations", "MOT", codable=False),
    Code("MOT_ANCRAGE", "Ancrage territorial", "MOT", parent="MOT"),
    Code("BES", "Besoins", "BES", codable=False),
    Code("BES_FINANCEMENT", "Financement", "BES", parent="BES", definition="Besoin d'argent."),
    Code("BES_LOCAUX", "Locaux", "BES", parent="BES"),
    Code("ENJ", "Enjeux territoriaux", "ENJ", codable=False),
    Code("ENJ_MOBILITE", "Mobilité", "ENJ", parent="ENJ"),
    Code("TRANS", "Transversaux", "TRANS", codable=False),
    Code("TRANS_FREINS", "Freins", "TRANS", parent="TRANS"),
)

INJECTION = '=HYPERLINK("http://exemple.invalid/?x=1";"cliquez")'

TURNS = [
    ("Enquêtrice", True, "Qu'est-ce qui vous a amenée à créer le pôle ?"),
    ("Marie Dupont", False, "Je suis née ici, Marie Dupont ne quittera pas l'Auxois."),
    ("Enquêtrice", True, "Et aujourd'hui, de quoi avez-vous besoin ?"),
    ("Marie Dupont", False, "Il nous manque surtout un financement pour démarrer la légumerie."),
    ("Marie Dupont", False, "Les locaux de la zone artisanale sont trop chers pour nous."),
    ("Marie Dupont", False, INJECTION),
    ("Marie Dupont", False, "Sans voiture, personne ne vient travailler au chantier d'insertion."),
]


def load_codebook(study, codes=CODES, version="1") -> int:
    codebook = Codebook(name="PTCE", version=version, codes=codes)
    document = "\n".join(f"{c.id}:{c.label}:{c.family}:{c.codable}" for c in codes) + version
    return save_codebook_version(study.conn, codebook, document)


def add_transcript(study, key: str, participant_id: str, territory: str, turns) -> list[int]:
    return insert_lines_source(
        study.conn,
        key,
        [said for _, _, said in turns],
        speakers=[speaker for speaker, _, _ in turns],
        interviewer={i for i, (_, is_interviewer, _) in enumerate(turns) if is_interviewer},
        participant_id=participant_id,
        territory_id=territory,
        path=key,
        format="txt",
    )


def suggest(study, pairs: list[tuple[int, str, float]]) -> None:
    segment_ids = sorted({p[0] for p in pairs})
    replace_suggestions(
        study.conn,
        segment_ids,
        [
            Suggestion(seg, code, score, "combiné", f"mots proches de « {code.lower()} »")
            for seg, code, score in pairs
        ],
        None,
    )


@pytest.fixture
def study(make_study):
    s = make_study()
    with s.transaction():
        load_codebook(s)
        upsert_participant(
            s.conn,
            Participant(
                "F1", "auxois", Role.FOUNDER, "Fondatrice 1 — Auxois", real_name="Marie Dupont"
            ),
        )
        upsert_participant(s.conn, Participant("A1", "besancon-nord", Role.ACTOR, "Acteur 1 — BN"))
        ids = add_transcript(s, "entretiens/auxois/f1.txt", "F1", "auxois", TURNS)
        other = add_transcript(
            s,
            "entretiens/bn/a1.txt",
            "A1",
            "besancon-nord",
            [("Karim", False, "Le bus ne passe qu'une fois par jour.")],
        )
        set_meta(s.conn, "thresholds", {"ENJ_MOBILITE": 0.4})
        suggest(
            s,
            [
                (ids[1], "MOT_ANCRAGE", 0.92),
                (ids[3], "BES_FINANCEMENT", 0.81),
                (ids[3], "BES_LOCAUX", 0.52),
                (ids[4], "BES_LOCAUX", 0.55),
                (ids[6], "ENJ_MOBILITE", 0.61),
                (other[0], "ENJ_MOBILITE", 0.9),
            ],
        )
    s.segment_ids = ids  # type: ignore[attr-defined]
    return s


def rows_by_segment(path: Path) -> dict[int, dict[str, object]]:
    sheet = load_workbook(path)[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    out = {}
    for row in sheet.iter_rows(min_row=2, values_only=True):
        record = dict(zip(headers, row, strict=True))
        out[int(record[wb.COL_SEGMENT_ID])] = record
    return out


def fill(path: Path, edits: dict[int, dict[str, str]]) -> None:
    """Edit cells as an analyst would in Excel, addressed by segment id and header."""
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    id_column = headers.index(wb.COL_SEGMENT_ID)
    for row in sheet.iter_rows(min_row=2):
        segment_id = int(row[id_column].value)
        for header, value in edits.get(segment_id, {}).items():
            row[headers.index(header)].value = value
    book.save(path)


def slot_of(record: dict[str, object], code: str) -> int:
    k = 1
    while f"Code {k}" in record:
        if str(record[f"Code {k}"] or "").startswith(code):
            return k
        k += 1
    raise AssertionError(f"{code} absent de la ligne")


def test_export_shows_pseudonymised_rows_with_context_and_suggestions(study, tmp_path) -> None:
    ids = study.segment_ids
    result = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "r.xlsx")
    assert result.rows == 5  # interviewer turns are context only
    rows = rows_by_segment(result.path)
    assert set(rows) == {ids[1], ids[3], ids[4], ids[5], ids[6]}
    first = rows[ids[1]]
    assert "Marie Dupont" not in str(first[wb.COL_SEGMENT])
    assert "Fondatrice 1 — Auxois" in str(first[wb.COL_SEGMENT])
    assert "Marie" not in str(first[wb.COL_LOCATION])
    assert first[wb.COL_PARTICIPANT] == "Fondatrice 1 — Auxois"
    assert first[wb.COL_ROLE] == "fondateur"
    assert "amenée à créer" in str(first[wb.COL_BEFORE])
    assert "de quoi avez-vous besoin" in str(first[wb.COL_AFTER])
    financing = rows[ids[3]]
    k = slot_of(financing, "BES_FINANCEMENT")
    assert financing[f"Code {k}"] == "BES_FINANCEMENT — Financement"
    assert financing[f"Score {k}"] == pytest.approx(0.81)
    assert "financement" in str(financing[f"Raison {k}"])

    book = load_workbook(result.path)
    sheet = book[wb.REVIEW_SHEET]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref.startswith("A1:")
    headers = [c.value for c in sheet[1]]
    hidden = {h for i, h in enumerate(headers, 1) if sheet.column_dimensions[_letter(i)].hidden}
    assert hidden == {wb.COL_SEGMENT_ID, wb.COL_FINGERPRINT}
    assert sheet.column_dimensions[_letter(headers.index(wb.COL_SEGMENT) + 1)].width >= 40
    assert sheet.cell(row=2, column=headers.index(wb.COL_SEGMENT) + 1).alignment.wrap_text
    lists = {dv.formula1: str(dv.sqref) for dv in sheet.data_validations.dataValidation}
    assert '"accepter,rejeter"' in lists
    assert any("Codebook" in f for f in lists)
    assert {wb.CODEBOOK_SHEET, wb.HELP_SHEET} <= set(book.sheetnames)
    codebook_ids = [r[0] for r in book[wb.CODEBOOK_SHEET].iter_rows(min_row=2, values_only=True)]
    assert "BES_FINANCEMENT" in codebook_ids and "BES" not in codebook_ids


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def test_uncertain_suggestions_come_first_and_document_order_is_available(study, tmp_path) -> None:
    ids = study.segment_ids
    uncertain = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "u.xlsx")
    order = list(rows_by_segment(uncertain.path))
    # 0.52 on a 0.5 threshold is the most uncertain; segments without suggestion come last.
    assert order[0] == ids[3]
    assert order[-1] == ids[5]
    assert suggestion_uncertainty(0.52) > suggestion_uncertainty(0.92)
    document = export_review(
        study, ReviewFilter(territory="auxois"), order=Order.DOCUMENT, output=tmp_path / "d.xlsx"
    )
    assert list(rows_by_segment(document.path)) == [ids[1], ids[3], ids[4], ids[5], ids[6]]


def test_filters_by_family_participant_and_not_reviewed(study, tmp_path) -> None:
    ids = study.segment_ids
    needs = export_review(study, ReviewFilter(family="BES"), output=tmp_path / "f.xlsx")
    assert set(rows_by_segment(needs.path)) == {ids[3], ids[4]}
    actor = export_review(study, ReviewFilter(participant="A1"), output=tmp_path / "p.xlsx")
    assert len(rows_by_segment(actor.path)) == 1
    first = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "a.xlsx")
    fill(first.path, {ids[1]: {"Commentaire": "vu"}})
    import_decisions(study, first.path, "Alice")
    rest = export_review(
        study, ReviewFilter(territory="auxois", not_reviewed=True), output=tmp_path / "n.xlsx"
    )
    assert ids[1] not in rows_by_segment(rest.path)
    assert len(rows_by_segment(rest.path)) == 4


def test_round_trip_history_holds_exactly_what_was_filled(study, tmp_path) -> None:
    ids = study.segment_ids
    exported = export_review(study, ReviewFilter(territory="auxois"), output=tmp_path / "r.xlsx")
    rows = rows_by_segment(exported.path)
    k_fin = slot_of(rows[ids[3]], "BES_FINANCEMENT")
    k_loc = slot_of(rows[ids[3]], "BES_LOCAUX")
    fill(
        exported.path,
        {
            ids[3]: {
                f"Décision {k_fin}": "accepter",
                f"Décision {k_loc}": "rejeter",
                "Commentaire": "Le besoin porte sur l'investissement.",
            },
            ids[6]: {
                "Code à ajouter 1": "TRANS_FREINS — Freins",
                f"Décision {slot_of(rows[ids[6]], 'ENJ_MOBILITE')}": "accepter",
            },
        },
    )
    result = import_decisions(study, exported.path, "Alice")
    assert result.decisions_added == 5 and not result.rejected

    history = {
        (d.segment_id, d.code_id, d.action, d.coder, d.comment)
        for d in decision_history(study.conn)
    }
    assert history == {
        (ids[3], "BES_FINANCEMENT", Action.ACCEPT, "Alice", ""),
        (ids[3], "BES_LOCAUX", Action.REJECT, "Alice", ""),
        (ids[3], None, Action.COMMENT, "Alice", "Le besoin porte sur l'investissement."),
        (ids[6], "TRANS_FREINS", Action.ADD, "Alice", ""),
        (ids[6], "ENJ_MOBILITE", Action.ACCEPT, "Alice", ""),
    }
    assert {d.origin for d in decision_history(study.conn)} == {"r.xlsx"}
    assert all(d.decided_at for d in decision_history(study.conn))

    again = export_review(
        study, ReviewFilter(territory="auxois", coder="Alice"), output=tmp_path / "r2.xlsx"
    )
    rows2 = rows_by_segment(again.path)
    row = rows2[ids[3]]
    assert row[f"Décision {slot_of(row, 'BES_FINANCEMENT')}"] == "accepter"
    assert row[f"Décision {slot_of(row, 'BES_LOCAUX')}"] == "rejeter"
    assert row["Commentaire"] == "Le besoin porte sur l'investissement."
    added = rows2[ids[6]]
    assert added[f"Décision {slot_of(added, 'TRANS_FREINS')}"] == "accepter"
    assert "Alice : TRANS_FREINS ajouté" in str(added[wb.COL_HISTORY])

    # Re-importing the pre-filled export changes nothing: same decisions are not appended again.
    unchanged = import_decisions(study, again.path, "Alice")
    assert unchanged.decisions_added == 0 and unchanged.unchanged == 5
    assert len(decision_history(study.conn)) == 5


def test_same_file_twice_adds_nothing(study, tmp_path) -> None:
    ids = study.segment_ids
    exported = export_review(study, output=tmp_path / "r.xlsx")
    fill(exported.path, {ids[1]: {"Décision 1": "rejeter"}})
    assert import_decisions(study, exported.path, "Alice").decisions_added == 1
    second = import_decisions(study, exported.path, "Alice")
    assert second.already_imported and second.decisions_added == 0
    copy = tmp_path / "copie renommée.xlsx"
    copy.write_bytes(exported.path.read_bytes())
    assert import_decisions(study, copy, "Alice").already_imported
    assert len(decision_history(study.conn)) == 1
    # The same file from another analyst is their own coding.
    assert import_decisions(study, exported.path, "Bruno").decisions_added == 1


def test_formula_injection_comes_back_as_text(study, tmp_path) -> None:
    ids = study.segment_ids
    exported = export_review(study, output=tmp_path / "r.xlsx")
    book = load_workbook(exported.path)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    row_of = {
        row[headers.index(wb.COL_SEGMENT_ID)].value: row for row in sheet.iter_rows(min_row=2)
    }
    cell = row_of[ids[5]][headers.index(wb.COL_SEGMENT)]
    assert cell.value == INJECTION
    assert cell.data_type == "s"  # a string, not a formula
    # Its neighbour's "context after" holds the same verbatim, also as text.
    after = row_of[ids[4]][headers.index(wb.COL_AFTER)]
    assert INJECTION in str(after.value) and after.data_type == "s"
    raw = _sheet_xml(exported.path)
    assert "<f>" not in raw  # no formula anywhere in the review sheet
    # An analyst comment typed as a formula is imported as the literal text.
    fill(exported.path, {ids[5]: {"Commentaire": "=1+1"}})
    import_decisions(study, exported.path, "Alice")
    assert [d.comment for d in decision_history(study.conn)] == ["=1+1"]
    again = export_review(study, ReviewFilter(coder="Alice"), output=tmp_path / "r2.xlsx")
    assert rows_by_segment(again.path)[ids[5]]["Commentaire"] == "=1+1"
    assert "<f>" not in _sheet_xml(again.path)


def _sheet_xml(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode("utf-8")


# ---------------------------------------------------------------------------------------------
# Validation: every problem reported in French with sheet, row and column; nothing imported
# ---------------------------------------------------------------------------------------------


def _line_of(path: Path, segment_id: int) -> int:
    sheet = load_workbook(path)[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[headers.index(wb.COL_SEGMENT_ID)].value == segment_id:
            return row[0].row
    raise AssertionError(segment_id)


def _import_error(study, path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        import_decisions(study, path, "Alice")
    assert decision_history(study.conn) == []  # nothing imported
    return caught.value


def test_unknown_code_to_add_is_refused(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(path, {ids[4]: {"Code à ajouter 2": "BES_TELEPORTATION", "Décision 1": "accepter"}})
    error = _import_error(study, path)
    (problem,) = error.problems
    assert problem.sheet == "Revue"
    assert problem.line == _line_of(path, ids[4])
    assert problem.column and "Code à ajouter 2" in problem.column
    assert "BES_TELEPORTATION" in problem.message and "n'existe pas" in problem.message
    assert "rien n'a été importé" in str(error)


def test_family_is_not_a_code(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(path, {ids[4]: {"Code à ajouter 1": "BES — Besoins"}})
    (problem,) = _import_error(study, path).problems
    assert "est une famille du codebook" in problem.message


def test_decision_outside_the_list_is_refused(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(path, {ids[1]: {"Décision 1": "oui"}, ids[3]: {"Décision 1": " Accepter "}})
    (problem,) = _import_error(study, path).problems
    assert problem.line == _line_of(path, ids[1])
    assert problem.column and "Décision 1" in problem.column
    assert problem.message.startswith("« oui » n'est pas une décision possible")


def test_segment_that_no_longer_exists_is_refused(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(path, {ids[4]: {"Décision 1": "accepter"}})
    # The transcript was corrected and re-ingested: this segment was retired (never deleted).
    with study.transaction():
        study.conn.execute("UPDATE segments SET retired = 1 WHERE id = ?", (ids[4],))
    (problem,) = _import_error(study, path).problems
    assert problem.line == _line_of(path, ids[4])
    assert "n'existe plus" in problem.message


def test_edited_hidden_identifier_is_refused(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    line_moved = _line_of(path, ids[4])
    line_erased = _line_of(path, ids[1])
    # Pointing a row at another real segment, or erasing the id: both must be caught.
    fill(path, {ids[4]: {wb.COL_SEGMENT_ID: ids[6]}, ids[1]: {wb.COL_SEGMENT_ID: None}})
    problems = sorted(_import_error(study, path).problems, key=lambda p: p.line or 0)
    by_line = {p.line: p for p in problems}
    assert "empreinte" in by_line[line_moved].message
    assert "a été modifié" in by_line[line_moved].message
    assert "identifiant caché « (vide) » a été modifié" in by_line[line_erased].message
    assert wb.COL_SEGMENT_ID in (by_line[line_erased].column or "")


def test_duplicated_row_is_refused(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    source_line = _line_of(path, ids[3])
    copy_line = sheet.max_row + 1
    for cell in sheet[source_line]:
        sheet.cell(row=copy_line, column=cell.column, value=cell.value)
    book.save(path)
    (problem,) = _import_error(study, path).problems
    assert problem.line == copy_line
    assert f"ligne en double : la ligne {source_line}" in problem.message


def test_all_problems_reported_at_once_and_partial_imports_valid_rows(study, tmp_path) -> None:
    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(
        path,
        {
            ids[1]: {"Décision 1": "peut-être"},
            ids[3]: {"Code à ajouter 1": "INCONNU"},
            ids[6]: {"Décision 1": "accepter", "Commentaire": "mobilité ok"},
        },
    )
    error = _import_error(study, path)
    assert len(error.problems) == 2
    text = str(error)
    assert "feuille « Revue »" in text and "ligne" in text and "colonne" in text
    result = import_decisions(study, path, "Alice", partial=True)
    assert result.decisions_added == 2 and len(result.rejected) == 2
    assert {(d.segment_id, d.action) for d in decision_history(study.conn)} == {
        (ids[6], Action.ACCEPT),
        (ids[6], Action.COMMENT),
    }


def test_not_a_review_workbook(study, tmp_path) -> None:
    from openpyxl import Workbook

    path = tmp_path / "autre.xlsx"
    Workbook().save(path)
    with pytest.raises(InputError, match="n'est pas un classeur exporté par qualipipe"):
        import_decisions(study, path, "Alice")
    broken = tmp_path / "casse.xlsx"
    broken.write_text("pas un classeur", encoding="utf-8")
    with pytest.raises(InputError, match="casse.xlsx : classeur Excel illisible"):
        import_decisions(study, broken, "Alice")


def test_cli_prints_french_errors_without_traceback(study, tmp_path, capsys) -> None:
    from qualipipe.cli import main

    ids = study.segment_ids
    path = export_review(study, output=tmp_path / "r.xlsx").path
    fill(path, {ids[1]: {"Décision 1": "oui"}})
    with pytest.raises(SystemExit) as exited:
        main(["review", "import", str(path), "--coder", "Alice", "--study", str(study.root)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "rien n'a été importé" in err and "Traceback" not in err
    fill(path, {ids[1]: {"Décision 1": "rejeter"}})
    with pytest.raises(SystemExit) as exited:
        main(["review", "import", str(path), "--coder", "Alice", "--study", str(study.root)])
    assert exited.value.code == 0
    assert "1 décision(s) ajoutée(s)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The analyst decision file (CSV: fichier;extrait;code;decision;codeur;commentaire)
# ---------------------------------------------------------------------------------------------

CSV_HEADER = "fichier;extrait;code;decision;codeur;commentaire\n"


def _csv(tmp_path: Path, body: str, name: str = "decisions_analyste.csv") -> Path:
    path = tmp_path / name
    path.write_text(CSV_HEADER + body, encoding="utf-8")
    return path


def test_decision_csv_is_imported_into_the_history(study, tmp_path) -> None:
    ids = study.segment_ids
    path = _csv(
        tmp_path,
        "f1.txt;un financement pour démarrer;BES_FINANCEMENT;accepter;Alice;\n"
        "f1.txt;zone artisanale;BES_LOCAUX;rejeter;Alice;c'est le prix, pas le local\n"
        'f1.txt;"Sans voiture,  personne";TRANS_FREINS;ajouter;Bruno;\n',
    )
    result = import_decisions(study, path)
    assert result.decisions_added == 3 and result.coders == ("Alice", "Bruno")
    assert {
        (d.segment_id, d.code_id, d.action, d.coder, d.comment)
        for d in decision_history(study.conn)
    } == {
        (ids[3], "BES_FINANCEMENT", Action.ACCEPT, "Alice", ""),
        (ids[4], "BES_LOCAUX", Action.REJECT, "Alice", "c'est le prix, pas le local"),
        (ids[6], "TRANS_FREINS", Action.ADD, "Bruno", ""),
    }
    assert import_decisions(study, path).already_imported
    assert len(decision_history(study.conn)) == 3


def test_decision_csv_problems_are_all_reported_with_line_and_column(study, tmp_path) -> None:
    path = _csv(
        tmp_path,
        "absent.txt;un financement;BES_FINANCEMENT;accepter;Alice;\n"  # line 2
        "f1.txt;phrase jamais dite;BES_FINANCEMENT;accepter;Alice;\n"  # line 3
        "f1.txt;Marie Dupont;MOT_ANCRAGE;accepter;Alice;\n"  # line 4: not ambiguous (one segment)
        "f1.txt;financement;BES_FINANCEMENT;peut-être;Alice;\n"  # line 5
        "f1.txt;financement;BES_INCONNU;accepter;Alice;\n"  # line 6
        "f1.txt;zone artisanale;BES_LOCAUX;rejeter;Alice;\n"  # line 7
        "f1.txt;les locaux de la zone;BES_LOCAUX;rejeter;Alice;\n"  # line 8: duplicate of 7
        "f1.txt;pour;BES_LOCAUX;rejeter;Alice;\n",  # line 9: ambiguous
    )
    with pytest.raises(InputError) as caught:
        import_decisions(study, path)
    problems = {p.line: p for p in caught.value.problems}
    assert set(problems) == {2, 3, 5, 6, 8, 9}
    assert "aucune source ingérée ne s'appelle « absent.txt »" in problems[2].message
    assert problems[2].column == "A (fichier)"
    assert "extrait introuvable" in problems[3].message and problems[3].column == "B (extrait)"
    assert "n'est pas une décision possible" in problems[5].message
    assert problems[5].column == "D (decision)"
    assert "BES_INCONNU" in problems[6].message and problems[6].column == "C (code)"
    assert "ligne en double : la ligne 7" in problems[8].message
    assert "extrait ambigu" in problems[9].message
    assert decision_history(study.conn) == []

    result = import_decisions(study, path, partial=True)
    assert result.decisions_added == 2 and len(result.rejected) == 6


def test_decision_csv_missing_columns(study, tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("fichier;extrait;code\nf1.txt;x;BES_LOCAUX\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_decisions(study, path)
    messages = " ".join(p.message for p in caught.value.problems)
    assert "colonne « decision » absente" in messages and "colonne « codeur » absente" in messages


# ---------------------------------------------------------------------------------------------
# Nothing is lost: many cycles of re-suggesting, codebook changes, re-ingest, export and import
# ---------------------------------------------------------------------------------------------


def _fill_randomly(
    path: Path, rng, codable: list[str], expected: dict[tuple[int, str], bool]
) -> None:
    """Decide like an analyst on a random half of the rows; record what the coding must become."""
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if rng.random() < 0.5:
            continue
        segment_id = int(row[headers.index(wb.COL_SEGMENT_ID)].value)
        shown = []
        k = 1
        while f"Code {k}" in headers:
            code_cell = row[headers.index(f"Code {k}")].value
            if code_cell:
                code = wb.code_id_of(code_cell)
                shown.append(code)
                choice = rng.choice(["accepter", "rejeter", None])
                row[headers.index(f"Décision {k}")].value = choice
                if choice:  # an erased pre-filled decision leaves the coding as it was
                    expected[(segment_id, code)] = choice == "accepter"
            k += 1
        extra = rng.choice([c for c in codable if c not in shown])
        if rng.random() < 0.4:
            row[headers.index("Code à ajouter 1")].value = extra
            expected[(segment_id, extra)] = True
        if rng.random() < 0.3:
            row[headers.index("Commentaire")].value = f"remarque {rng.randint(1, 9)}"
    book.save(path)


def test_many_cycles_never_lose_or_alter_a_decision(study, tmp_path) -> None:
    import random

    rng = random.Random(7)
    ids = study.segment_ids
    reviewable = [ids[1], ids[3], ids[4], ids[5], ids[6]]
    codes = [c for c in CODES if c.codable]
    expected: dict[tuple[int, str], bool] = {}
    history_before: list = []
    for cycle in range(6):
        codable = [c.id for c in codes]
        # The machine re-suggests with new scores and codes (replace_suggestions wipes the old ones).
        with study.transaction():
            suggest(
                study,
                [
                    (s, code, round(rng.random(), 2))
                    for s in reviewable
                    for code in rng.sample(codable, 2)
                ],
            )
        if cycle == 2:
            # Codebook change: BES_LOCAUX renamed BES_IMMOBILIER (decisions stay as written).
            codes = [
                Code("BES_IMMOBILIER", "Immobilier", "BES", parent="BES")
                if c.id == "BES_LOCAUX"
                else c
                for c in codes
            ]
            with study.transaction():
                version = load_codebook(
                    study, tuple(c for c in CODES if not c.codable) + tuple(codes), "2"
                )
                study.conn.execute(
                    "INSERT INTO code_redirects (codebook_version_id, old_code, new_code, change, created_at) "
                    "VALUES (?, 'BES_LOCAUX', 'BES_IMMOBILIER', 'renommé', '2026-01-01')",
                    (version,),
                )
            expected = {
                (s, "BES_IMMOBILIER" if c == "BES_LOCAUX" else c): v
                for (s, c), v in expected.items()
            }
        if cycle == 4:
            # A corrected transcript was re-ingested: one reviewed segment is retired.
            with study.transaction():
                study.conn.execute("UPDATE segments SET retired = 1 WHERE id = ?", (ids[5],))
            reviewable.remove(ids[5])
        path = export_review(
            study, ReviewFilter(coder="Alice"), output=tmp_path / f"cycle{cycle}.xlsx"
        ).path
        _fill_randomly(path, rng, [c.id for c in codes], expected)
        import_decisions(study, path, "Alice")
        import_decisions(study, path, "Alice")  # twice: adds nothing
        history = decision_history(study.conn)
        assert history[: len(history_before)] == history_before  # earlier decisions untouched
        history_before = history

    coding = {k: v for k, v in current_coding(study.conn, coder="Alice").items()}
    assert len(expected) >= 10 and set(expected.values()) == {True, False}
    assert coding == expected
    assert not any(code == "BES_LOCAUX" for _, code in coding)
    assert len({d.origin for d in history_before}) >= 5


def test_export_refuses_unknown_selection(study, tmp_path) -> None:
    from qualipipe.errors import StudyError

    with pytest.raises(StudyError, match="Participant « Z9 » inconnu"):
        export_review(study, ReviewFilter(participant="Z9"), output=tmp_path / "x.xlsx")
    with pytest.raises(StudyError, match="Famille de codes « XYZ » inconnue"):
        export_review(study, ReviewFilter(family="XYZ"), output=tmp_path / "x.xlsx")
    with pytest.raises(StudyError, match="Territoire « nulle-part » inconnu"):
        export_review(study, ReviewFilter(territory="nulle-part"), output=tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_survey_answers_filtered_by_instrument_and_question(study, tmp_path) -> None:
    answers = {"P03": "Le manque de transport en commun.", "P04": "Un local partagé."}
    with study.transaction():
        for question, text in answers.items():
            source_id = insert_source(
                study.conn,
                Source(
                    key=f"survey:priorisation_enjeux:7:{question}",
                    kind=SourceKind.SURVEY,
                    text=text,
                    participant_id="A1",
                    territory_id="besancon-nord",
                    instrument="priorisation_enjeux",
                    question_code=question,
                ),
            )
            insert_segments(study.conn, source_id, [Segment(start=0, end=len(text), text=text)])
    both = export_review(
        study, ReviewFilter(instrument="priorisation_enjeux"), output=tmp_path / "i.xlsx"
    )
    assert sorted(r[wb.COL_SOURCE] for r in rows_by_segment(both.path).values()) == [
        "priorisation_enjeux / P03",
        "priorisation_enjeux / P04",
    ]
    one = export_review(
        study,
        ReviewFilter(instrument="priorisation_enjeux", question="P04"),
        output=tmp_path / "q.xlsx",
    )
    (row,) = rows_by_segment(one.path).values()
    assert row[wb.COL_SEGMENT] == "Un local partagé." and row[wb.COL_ROLE] == "acteur"


def test_second_coder_export_does_not_show_the_first_coders_choices(study, tmp_path) -> None:
    ids = study.segment_ids
    alice = export_review(study, ReviewFilter(coder="Alice"), output=tmp_path / "a.xlsx")
    fill(alice.path, {ids[3]: {"Décision 1": "rejeter", "Code à ajouter 1": "ENJ_MOBILITE"}})
    import_decisions(study, alice.path, "Alice")
    bruno = rows_by_segment(
        export_review(study, ReviewFilter(coder="Bruno"), output=tmp_path / "b.xlsx").path
    )[ids[3]]
    assert not bruno[wb.COL_HISTORY]
    assert not any(str(v or "").startswith("ENJ_MOBILITE") for v in bruno.values())
    assert all(bruno[f"Décision {k}"] is None for k in (1, 2))
    team = rows_by_segment(export_review(study, output=tmp_path / "t.xlsx").path)[ids[3]]
    assert "Alice : ENJ_MOBILITE ajouté" in team[wb.COL_HISTORY]


def test_context_skips_a_listeners_acknowledgement(study, tmp_path) -> None:
    # Oral corpora (ESLO, CFPP2000): the interviewer's « oui oui » cuts the speaker's sentence
    # in two. The context of its second half is its first half, not « oui oui ».
    turns = [
        ("OU", True, "Et la Loire, vous l'aimez ?"),
        ("Marie", False, "je suis attirée"),
        ("OU", True, "oui oui"),
        ("Marie", False, "par la Loire, comprenez ?"),
        ("OU", True, "hm"),
        ("OU", True, "Et votre travail ?"),
    ]
    with study.transaction():
        ids = add_transcript(study, "entretiens/auxois/loire.txt", "F1", "auxois", turns)
    result = export_review(
        study, ReviewFilter(participant="F1"), output=tmp_path / "r.xlsx", limit=None
    )
    row = rows_by_segment(result.path)[ids[3]]
    assert "je suis attirée" in str(row[wb.COL_BEFORE])
    assert "Et votre travail ?" in str(row[wb.COL_AFTER])
    first = rows_by_segment(result.path)[ids[1]]
    # A real question stays the context, said by the interviewer (by role, not initials).
    assert str(first[wb.COL_BEFORE]) == "Enquêteur·rice : Et la Loire, vous l'aimez ?"
