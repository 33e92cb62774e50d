"""Workshop-1 post-its and préconisations workbooks: real .xlsx written by qualipipe, filled with
openpyxl as an analyst would, read back into a real study; bad workbooks are refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe import store
from qualipipe.errors import InputError
from qualipipe.ingest.workshop import POSTIT_SHEET, ingest_postits, write_postit_template
from qualipipe.report.preconisations import (
    ACTOR_COLUMNS,
    COL_HORIZON,
    COL_TEXT,
    ISSUE_COLUMNS,
    SHEET,
    current_preconisations,
    import_history,
    import_preconisations,
    write_template,
)

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "codebooks" / "ptce.yaml"


def fill(path: Path, sheet: str, rows: list[dict[str, str]]) -> Path:
    workbook = load_workbook(path)
    ws = workbook[sheet]
    headers = [c.value for c in ws[1]]
    for line, values in enumerate(rows, start=2):
        for header, value in values.items():
            ws.cell(row=line, column=headers.index(header) + 1, value=value)
    workbook.save(path)
    return path


@pytest.fixture
def study(make_study):
    from qualipipe.codebook.model import load_codebook

    opened = make_study()
    codebook = load_codebook(CODEBOOK)
    with opened.transaction() as conn:
        store.save_codebook_version(conn, codebook, CODEBOOK.read_text(encoding="utf-8"))
    return opened


# ---------------------------------------------------------------------------------------------
# Post-its
# ---------------------------------------------------------------------------------------------

POSTITS = [
    {"Groupe": "Table 1", "Catégorie AFOM": "Atouts", "Texte du post-it": "Des producteurs bio"},
    {"Groupe": "Table 1", "Catégorie AFOM": "Menaces", "Texte du post-it": "Les sécheresses"},
    {"Groupe": "Table 2", "Catégorie AFOM": "atout", "Texte du post-it": "Un lycée agricole"},
    {"Groupe": "Table 2", "Catégorie AFOM": "Vision à 10 ans", "Texte du post-it": "Des cantines locales"},
]  # fmt: skip


def test_postits_become_workshop_notes_one_segment_each(study, tmp_path: Path) -> None:
    territory = study.config.territory("auxois")
    path = fill(write_postit_template(tmp_path / "p.xlsx", territory), POSTIT_SHEET, POSTITS)
    change = ingest_postits(study, path, "auxois")
    assert change.status == "nouveau" and change.segments == 4
    rows = study.conn.execute(
        """SELECT src.kind, s.section, s.speaker, s.text FROM segments s
           JOIN sources src ON src.id = s.source_id ORDER BY s.ordinal"""
    ).fetchall()
    assert [r["kind"] for r in rows] == ["workshop"] * 4
    assert [r["section"] for r in rows] == ["atouts", "menaces", "atouts", "vision à 10 ans"]
    assert [r["speaker"] for r in rows] == ["Table 1", "Table 1", "Table 2", "Table 2"]
    # Re-importing the same workbook changes nothing (decisions on the post-its stay valid).
    assert ingest_postits(study, path, "auxois").status == "inchangé"


def test_bad_postits_are_refused_whole_with_every_problem(study, tmp_path: Path) -> None:
    territory = study.config.territory("auxois")
    rows = [
        *POSTITS[:2],
        {"Groupe": "Table 3", "Catégorie AFOM": "Peut-être", "Texte du post-it": "Idée"},
        {"Groupe": "Table 3", "Catégorie AFOM": "Atouts", "Texte du post-it": ""},
    ]
    path = fill(write_postit_template(tmp_path / "p.xlsx", territory), POSTIT_SHEET, rows)
    with pytest.raises(InputError) as refused:
        ingest_postits(study, path, "auxois")
    message = str(refused.value)
    assert "rien n'a été importé" in message
    assert "ligne 4" in message and "catégorie « Peut-être » inconnue" in message
    assert "ligne 5" in message and "texte du post-it vide" in message
    assert study.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0
    with pytest.raises(InputError, match="préparé pour le territoire « auxois »"):
        ingest_postits(study, fill(path, POSTIT_SHEET, POSTITS), "besancon-nord")


# ---------------------------------------------------------------------------------------------
# Préconisations
# ---------------------------------------------------------------------------------------------

CODES = ["ENJ_MOBILITE — Mobilité", "BES_ANIMATION — Animation et coordination"]
ACTORS = ["Conseil départemental", "Type : collectivité"]


def template(study, tmp_path: Path, territory: str = "auxois") -> Path:
    t = study.config.territory(territory)
    return write_template(tmp_path / f"preco_{territory}.xlsx", t, [], CODES, ACTORS)


def good_rows() -> list[dict[str, str]]:
    return [
        {
            COL_TEXT: "Créer un service de covoiturage solidaire",
            ISSUE_COLUMNS[0]: CODES[0],
            ACTOR_COLUMNS[0]: ACTORS[0],
            ACTOR_COLUMNS[1]: "Autre : association de covoiturage",
            COL_HORIZON: "moyen terme",
        },
        {
            COL_TEXT: "Recruter une personne à l'animation",
            ISSUE_COLUMNS[0]: "BES_ANIMATION",  # a bare code is accepted too
            COL_HORIZON: "court terme",
        },
    ]


def test_a_filled_workbook_is_imported_with_history(study, tmp_path: Path) -> None:
    path = fill(template(study, tmp_path), SHEET, good_rows())
    codebook = store.current_codebook(study.conn)
    result = import_preconisations(study, path, "auxois", codebook, coder="Claire M.")
    assert result.preconisations == 2 and not result.unchanged
    current = current_preconisations(study.conn, "auxois")
    assert [p.issues for p in current] == [("ENJ_MOBILITE",), ("BES_ANIMATION",)]
    assert current[0].actors == ("Conseil départemental", "Autre : association de covoiturage")
    assert import_preconisations(study, path, "auxois", codebook).unchanged
    # A corrected workbook becomes the current set; the first import stays in the history.
    rows = good_rows()[:1]
    second = fill(template(study, tmp_path / "v2"), SHEET, rows)
    import_preconisations(study, second, "auxois", codebook)
    assert [p.text for p in current_preconisations(study.conn, "auxois")] == [rows[0][COL_TEXT]]
    assert [h.rows for h in import_history(study.conn, "auxois")] == [2, 1]
    assert current_preconisations(study.conn, "besancon-nord") == []


def test_unknown_code_empty_text_or_foreign_territory_refuse_the_whole_workbook(
    study, tmp_path: Path
) -> None:
    rows = good_rows()
    rows[0][ISSUE_COLUMNS[1]] = "ENJ_TELEPORTATION — Téléportation"
    rows[1][COL_TEXT] = ""
    rows.append({COL_TEXT: "Une idée sans horizon", ISSUE_COLUMNS[0]: CODES[0], ACTOR_COLUMNS[0]: "Mairie de Nulle-Part"})  # fmt: skip
    path = fill(template(study, tmp_path), SHEET, rows)
    codebook = store.current_codebook(study.conn)
    with pytest.raises(InputError) as refused:
        import_preconisations(study, path, "auxois", codebook)
    message = str(refused.value)
    assert "préconisations refusées, rien n'a été importé" in message
    assert "ligne 2" in message and "code « ENJ_TELEPORTATION — Téléportation » inconnu" in message
    assert "ligne 3" in message and "texte de la préconisation vide" in message
    assert "ligne 4" in message and "acteur « Mairie de Nulle-Part » absent de la liste" in message
    assert "ligne 4, colonne I (Horizon) : horizon manquant" in message
    assert study.conn.execute("SELECT count(*) FROM preconisations").fetchone()[0] == 0
    assert study.conn.execute("SELECT count(*) FROM preconisation_imports").fetchone()[0] == 0

    foreign = fill(template(study, tmp_path / "autre", "besancon-nord"), SHEET, good_rows())
    with pytest.raises(InputError, match="préparé pour le territoire « besancon-nord »"):
        import_preconisations(study, foreign, "auxois", codebook)
    assert import_history(study.conn, "auxois") == []


def test_a_workbook_that_is_not_a_preconisations_form_gets_a_french_message(
    study, tmp_path: Path
) -> None:
    other = tmp_path / "autre.xlsx"
    territory = study.config.territory("auxois")
    write_postit_template(other, territory)
    codebook = store.current_codebook(study.conn)
    with pytest.raises(InputError, match="feuille « Préconisations » est introuvable"):
        import_preconisations(study, other, "auxois", codebook)
    broken = tmp_path / "casse.xlsx"  # a text file saved under an Excel name
    broken.write_text("pas un classeur", encoding="utf-8")
    with pytest.raises(InputError, match="classeur Excel illisible ou corrompu"):
        import_preconisations(study, broken, "auxois", codebook)


def test_a_csv_given_as_a_workbook_is_refused_in_french(study, tmp_path: Path) -> None:
    csv_file = tmp_path / "postits.csv"
    csv_file.write_text(
        "Groupe;Catégorie AFOM;Texte du post-it\nTable 1;Atouts;Idée\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"n'est pas un classeur Excel \(\.xlsx\)") as refused:
        ingest_postits(study, csv_file, "auxois")
    assert "qualipipe report atelier-modele" in str(refused.value)


def test_forms_print_one_page_wide_at_a_readable_scale_header_on_every_page(
    study, tmp_path: Path
) -> None:
    territory = study.config.territories[0]
    forms = [
        (template(study, tmp_path), SHEET),
        (write_postit_template(tmp_path / "p.xlsx", territory), POSTIT_SHEET),
    ]
    for path, sheet in forms:
        ws = load_workbook(path)[sheet]
        widths = [d.width for d in ws.column_dimensions.values() if not d.hidden]
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$1:$1"
        # a landscape A4 page holds 150 width units at 100 %: printed at 85 % or more
        assert ws.page_setup.orientation == "landscape" and sum(widths) <= 150 / 0.85 + 1
