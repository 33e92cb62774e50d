"""The codebook file: the shipped PTCE codebook, and validation of broken codebooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualipipe.cli import main
from qualipipe.codebook.model import (
    check_codebook,
    codebook_from_text,
    codebook_to_yaml,
    load_codebook,
)
from qualipipe.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PTCE = REPO / "codebooks" / "ptce.yaml"
BROKEN = Path(__file__).parent / "data" / "codebooks_casses"

# file -> (line, fragment of the French message) for each problem the file must report.
EXPECTED_PROBLEMS = {
    "01_champ_inconnu.yaml": [(9, "champ inconnu « libellé ». Vouliez-vous dire « libelle » ?")],
    "02_identifiant_double.yaml": [
        (11, "identifiant « BES_FINANCEMENT » en double (déjà utilisé ligne 8)")
    ],
    "03_identifiant_mal_forme.yaml": [(8, "identifiant « Bes-Financement é » mal formé")],
    "04_parent_inexistant.yaml": [
        (12, "le parent « BES_FINANCEMNT » n'existe pas. Vouliez-vous dire « BES_FINANCEMENT » ?")
    ],
    "05_cycle.yaml": [(9, "cycle de parents : BES_FINANCEMENT → BES_SUBVENTION → BES_FINANCEMENT")],
    "06_libelle_vide.yaml": [(9, "code BES_FINANCEMENT : « libelle » est vide")],
    "07_definition_manquante.yaml": [(8, "le champ « definition » est obligatoire")],
    "08_couleur_invalide.yaml": [(11, "couleur « rouge » invalide")],
    "09_yaml_invalide.yaml": [(6, "n'est pas un YAML valide")],
    "10_famille_sans_codes.yaml": [(7, "famille BES : « codes » doit être une liste non vide")],
    "11_champ_en_double.yaml": [(11, "« definition » apparaît deux fois")],
    "12_parent_autre_famille.yaml": [
        (16, "le parent « BES_FINANCEMENT » est dans la famille BES, pas dans ENJ")
    ],
    "13_expressions_pas_liste.yaml": [(11, "« expressions » doit être une liste")],
    "14_codable_invalide.yaml": [(11, "« codable » doit valoir oui ou non (lu : « peut-être »)")],
    "15_sans_familles.yaml": [
        (3, "champ inconnu « codes »"),
        (1, "le champ « familles » est obligatoire"),
    ],
    "16_plusieurs_problemes.yaml": [
        (7, "couleur « #12345G » invalide"),
        (11, "code MOT_VALEURS : « definition » est vide"),
        (12, "identifiant « mot_sens » mal formé"),
        (15, "le parent « MOT_INCONNU » n'existe pas"),
    ],
    "17_s_applique_a_invalide.yaml": [
        (
            8,
            "« citoyen » n'est pas une valeur possible de « roles » ; valeurs possibles : fondateur",
        ),
        (9, "champ inconnu « source ». Vouliez-vous dire « sources » ?"),
        (
            15,
            "« entretien » n'est pas une valeur possible de « sources » ; valeurs possibles : transcript",
        ),
    ],
}


def test_every_broken_fixture_has_its_expected_messages() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED_PROBLEMS)
    assert len(EXPECTED_PROBLEMS) >= 10


@pytest.mark.parametrize("name", sorted(EXPECTED_PROBLEMS))
def test_broken_codebook_reports_each_problem_with_its_line(name: str) -> None:
    _, problems = check_codebook(BROKEN / name)
    found = [(problem.line, problem.message) for problem in problems]
    assert len(found) == len(EXPECTED_PROBLEMS[name]), found
    for line, fragment in EXPECTED_PROBLEMS[name]:
        assert any(line == got_line and fragment in message for got_line, message in found), (
            line,
            fragment,
            found,
        )


@pytest.mark.parametrize("name", sorted(EXPECTED_PROBLEMS))
def test_check_command_fails_with_french_message(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["codebook", "check", str(BROKEN / name)])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{BROKEN / name}" in err
    for line, fragment in EXPECTED_PROBLEMS[name]:
        assert f"ligne {line} :" in err or f"ligne {line}, colonne" in err
        assert fragment in err


def test_ptce_codebook_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["codebook", "check", str(PTCE)])
    assert exit_info.value.code in (0, None)
    assert "aucun problème" in capsys.readouterr().out


def test_ptce_codebook_has_the_shared_families_and_codes() -> None:
    codebook = load_codebook(PTCE)
    by_id = codebook.by_id()
    families = [code for code in codebook.codes if code.parent is None]
    assert [f.id for f in families] == ["MOT", "BES", "ENJ", "TRANS"]
    assert not any(f.codable for f in families)
    for code in codebook.codes:
        # family = the root reached by following parents
        root = code
        while root.parent is not None:
            root = by_id[root.parent]
        assert code.family == root.id
    for required in (
        "BES_FINANCEMENT",
        "BES_ANIMATION",
        "BES_GOUVERNANCE",
        "BES_COMPETENCES",
        "BES_LOCAUX_FONCIER",
        "BES_VISIBILITE",
        "BES_PARTENARIATS",
        "ENJ_EMPLOI_INSERTION",
        "ENJ_MOBILITE",
        "ENJ_ALIMENTATION",
        "ENJ_TRANSITION_ECOLOGIQUE",
        "ENJ_ECONOMIE_CIRCULAIRE",
        "ENJ_LOGEMENT",
        "ENJ_SERVICES",
        "ENJ_VIEILLISSEMENT",
        "ENJ_ATTRACTIVITE",
        "ENJ_NUMERIQUE",
        "TRANS_FREIN",
        "TRANS_LEVIER",
        "TRANS_COOPERATIONS",
        "TRANS_ACTEURS_CITES",
        "TRANS_RESSOURCES",
    ):
        assert by_id[required].codable, required
    assert len(codebook.codable()) >= 35
    for code in codebook.codable():
        # the lexicon suggester needs expressions; analysts need rules and an example
        assert len(code.expressions) >= 8, code.id
        assert code.include and code.exclude and code.examples, code.id
    assert "permis de conduire" in by_id["ENJ_MOBILITE"].expressions
    assert by_id["ENJ_ECONOMIE_CIRCULAIRE"].parent == "ENJ_TRANSITION_ECOLOGIQUE"


def test_codebook_written_back_to_yaml_reads_the_same(tmp_path: Path) -> None:
    codebook = load_codebook(PTCE)
    text = codebook_to_yaml(codebook)
    again = codebook_from_text(text, "copie.yaml")
    assert again.codes == codebook.codes
    assert again.description == codebook.description


def test_ptce_codebook_says_where_motivations_and_needs_apply() -> None:
    by_id = load_codebook(PTCE).by_id()
    motivations, needs = by_id["MOT"].applies_to, by_id["BES"].applies_to
    assert motivations is not None and needs is not None
    assert motivations.allows("fondateur", "transcript")
    assert not motivations.allows("acteur", "transcript")
    assert not motivations.allows(None, "written")  # a citizen's contribution: no participant
    assert needs.allows("acteur", "survey") and not needs.allows(None, "report")
    assert by_id["ENJ"].applies_to is None  # territorial issues: anywhere


def test_load_codebook_raises_one_error_listing_all_problems() -> None:
    with pytest.raises(InputError) as error:
        load_codebook(BROKEN / "16_plusieurs_problemes.yaml")
    assert len(error.value.problems) == 4
    assert "4 problème(s)" in str(error.value)


def test_missing_codebook_file_is_a_french_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        load_codebook(tmp_path / "absent.yaml")
    assert "introuvable" in str(error.value)
