"""REFI-QDA (.qdc) round trips and the printable .xlsx / .docx codebooks, read back for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from qualipipe.cli import main
from qualipipe.codebook.exchange import (
    QDC_NAMESPACE,
    code_guid,
    codebook_to_qdc,
    read_qdc,
)
from qualipipe.codebook.model import check_codebook, load_codebook
from qualipipe.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PTCE = REPO / "codebooks" / "ptce.yaml"
FOREIGN_QDC = Path(__file__).parent / "data" / "qdc" / "grille_autre_logiciel.qdc"
NS = {"q": QDC_NAMESPACE}


def run(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None), exit_info.value.code


def test_qdc_validates_against_the_refi_qda_xsd() -> None:
    from qualipipe.codebook.exchange import XSD_PATH

    # The packaged copy of the standard XSD (checked byte for byte against ../shared below), so
    # that this check also runs where ../shared is absent.
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    document = etree.fromstring(codebook_to_qdc(load_codebook(PTCE)))
    assert schema.validate(document), schema.error_log


def test_qdc_keeps_hierarchy_codability_colours_and_stable_guids() -> None:
    codebook = load_codebook(PTCE)
    root = etree.fromstring(codebook_to_qdc(codebook))
    families = root.findall("q:Codes/q:Code", NS)
    assert [f.get("name") for f in families] == [
        "Motivations des fondateurs à coopérer",
        "Besoins du PTCE",
        "Enjeux territoriaux",
        "Codes transversaux",
    ]
    assert {f.get("isCodable") for f in families} == {"false"}
    assert families[0].get("color") == "#1F77B4"
    nested = root.find(".//q:Code[@name='Transition écologique']/q:Code", NS)
    assert nested.get("name") == "Économie circulaire et réemploi"
    assert nested.get("guid") == code_guid("ENJ_ECONOMIE_CIRCULAIRE")
    assert nested.get("isCodable") == "true"
    assert len(root.findall(".//q:Code", NS)) == len(codebook.codes)
    guids = [code.get("guid") for code in root.iter(f"{{{QDC_NAMESPACE}}}Code")]
    assert len(set(guids)) == len(guids)
    mobility = root.find(".//q:Code[@name='Mobilité']/q:Description", NS).text
    assert mobility.startswith("Difficultés à se déplacer")
    assert "- permis de conduire" in mobility


def test_export_import_export_gives_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "grille.qdc", tmp_path / "grille2.qdc"
    yaml_path = tmp_path / "importe.yaml"
    run(["codebook", "export", str(PTCE), "--format", "qdc", "--sortie", str(first)])
    run(["codebook", "import", str(first), "--sortie", str(yaml_path)])
    _, problems = check_codebook(yaml_path)
    assert problems == []
    run(["codebook", "export", str(yaml_path), "--format", "qdc", "--sortie", str(second)])
    assert first.read_bytes() == second.read_bytes()
    # and what came back is the same codebook, accents included
    assert load_codebook(yaml_path).codes == load_codebook(PTCE).codes
    assert "Économie circulaire et réemploi" in yaml_path.read_text(encoding="utf-8")


def test_foreign_qdc_is_imported_with_accents_hierarchy_and_warnings(tmp_path: Path) -> None:
    result = read_qdc(FOREIGN_QDC)
    by_label = {code.label: code for code in result.codebook.codes}
    assert set(by_label) >= {
        "Enjeux du territoire",
        "Mobilité & déplacements",
        "Permis de conduire",
        "Économie circulaire, réemploi",
        "Freins à la coopération",
    }
    permit, mobility = by_label["Permis de conduire"], by_label["Mobilité & déplacements"]
    assert permit.parent == mobility.id and permit.family == by_label["Enjeux du territoire"].id
    assert mobility.color == "#AABBCC"  # short colour normalised
    assert by_label["Freins à la coopération"].codable  # a codable root keeps its codability
    assert any("Permis de conduire" in w and "définition" in w for w in result.warnings)
    assert any("Freins à la coopération" in w for w in result.warnings)
    target = tmp_path / "autre.yaml"
    run(["codebook", "import", str(FOREIGN_QDC), "--sortie", str(target)])
    _, problems = check_codebook(target)
    # the only thing left to do: write the missing definition
    assert [p.message for p in problems] == [
        "code ENJEUX_PERMIS_DE_CONDUIRE : « definition » est vide ; écrivez-le."
    ]


def test_invalid_qdc_is_refused_in_french(tmp_path: Path) -> None:
    broken = tmp_path / "casse.qdc"
    broken.write_text(
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code name="Sans guid" '
        'isCodable="true"/></Codes></CodeBook>',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        read_qdc(broken)
    assert "n'est pas un codebook REFI-QDA valide" in str(error.value)
    assert error.value.problems[0].line == 1
    not_xml = tmp_path / "pas_xml.qdc"
    not_xml.write_text("bonjour", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_qdc(not_xml)
    assert "n'est pas un fichier XML lisible" in str(error.value)


def test_import_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "existe.yaml"
    target.write_text("à garder", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["codebook", "import", str(FOREIGN_QDC), "--sortie", str(target)])
    assert exit_info.value.code == 1
    assert "existe déjà" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "à garder"


def test_xlsx_codebook_reads_back(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "grille.xlsx"
    run(["codebook", "export", str(PTCE), "--format", "xlsx", "--sortie", str(path)])
    codebook = load_codebook(PTCE)
    sheet = load_workbook(path)["Codebook"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Famille", "Identifiant", "Libellé")
    assert len(rows) == 1 + len(codebook.codes)
    by_id = {row[1]: row for row in rows[1:]}
    mobility = by_id["ENJ_MOBILITE"]
    assert mobility[0] == "ENJ" and mobility[4] == "oui"
    assert "permis de conduire" in mobility[8]
    assert by_id["ENJ"][4] == "non"
    assert by_id["ENJ_ECONOMIE_CIRCULAIRE"][2].strip() == "Économie circulaire et réemploi"
    assert by_id["ENJ_ECONOMIE_CIRCULAIRE"][3] == "ENJ_TRANSITION_ECOLOGIQUE"
    family_row = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == "MOT")
    assert family_row[1].font.b
    assert sheet.freeze_panes == "C2" and sheet.print_title_rows == "$1:$1"


def test_docx_codebook_reads_back(tmp_path: Path, make_study) -> None:
    from docx import Document

    from qualipipe.codebook.changes import load_into_study

    study = make_study()
    load_into_study(study, PTCE)
    path = tmp_path / "grille.docx"
    # from the study's loaded codebook this time
    run(
        [
            "codebook",
            "export",
            "--study",
            str(study.root),
            "--format",
            "docx",
            "--sortie",
            str(path),
        ]
    )
    document = Document(str(path))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert "Famille BES — Besoins du PTCE" in headings
    assert "Mobilité (ENJ_MOBILITE)" in headings
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Définition : Difficultés à se déplacer" in text
    assert "« Sans voiture ici tu ne fais rien, le premier bus passe à 9 heures. »" in text
    table = document.tables[0]
    assert len(table.rows) == 1 + len(load_codebook(PTCE).codes)


def test_packaged_xsd_is_the_standard_one(shared_dir: Path) -> None:
    from qualipipe.codebook.exchange import XSD_PATH

    standard = shared_dir / "refi-qda" / "Codebook.xsd"
    if not standard.exists():
        pytest.skip(f"../shared absent : {standard}")
    assert XSD_PATH.read_bytes() == standard.read_bytes()


def test_xlsx_codebook_rows_are_tall_enough_for_their_definitions(tmp_path: Path) -> None:
    # LibreOffice shows a row without a stored height one line tall: long definitions would overlap.
    from openpyxl import load_workbook

    from qualipipe.codebook.exchange import codebook_to_xlsx
    from qualipipe.xlsx_layout import LINE_HEIGHT, wrapped_lines

    codebook = load_codebook(PTCE)
    path = tmp_path / "codebook.xlsx"
    codebook_to_xlsx(codebook, path)
    sheet = load_workbook(path).active
    headers = [cell.value for cell in sheet[1]]
    column = headers.index("Définition") + 1
    width = sheet.column_dimensions[sheet.cell(1, column).column_letter].width
    checked = 0
    for row in range(2, sheet.max_row + 1):
        definition = sheet.cell(row, column).value or ""
        needed = wrapped_lines(definition, width)
        if needed > 1:
            assert sheet.row_dimensions[row].height >= needed * LINE_HEIGHT
            checked += 1
    assert checked >= 10
