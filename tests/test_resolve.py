"""One resolver per kind of name: every command reads a territory or an instrument the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualipipe import resolve, resources
from qualipipe.cli import main
from qualipipe.errors import StudyError

UNKNOWN_LINE = (
    "Territoire « lune » inconnu dans {toml}. Territoires de l'étude : auxois (Auxois), "
    "besancon-nord (Besançon Nord)."
)

# Every command that takes --territory / -t, with what else it needs to reach the territory.
TERRITORY_COMMANDS = [
    ["code"],
    ["themes"],
    ["review", "export"],
    ["agreement"],
    ["synthesize"],
    ["ingest", "export.csv", "--instrument", "priorisation_enjeux"],
    ["survey", "deploy", "priorisation_enjeux"],
    ["survey", "invite", "priorisation_enjeux"],
    ["survey", "remind", "priorisation_enjeux"],
    ["survey", "status"],
    ["survey", "fetch"],
]


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


@pytest.mark.parametrize("command", TERRITORY_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_unknown_territory_gives_the_same_line_listing_the_valid_ones_in_every_command(
    command: list[str], make_study, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    study = make_study()
    monkeypatch.chdir(study.root)
    code = run([*command, "-t", "lune"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    expected = UNKNOWN_LINE.format(toml=study.root / "qualipipe.toml")
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize("typed", ["auxois", "AUXOIS", " Auxois ", "AUXOÏS"])
def test_territory_id_and_name_match_whatever_the_case_and_accents(make_study, typed: str) -> None:
    config = make_study().config
    assert config.territory(typed).id == "auxois"
    assert config.territory("besançon nord").id == "besancon-nord"
    assert config.territory("BESANCON-NORD").id == "besancon-nord"


def test_review_export_and_code_accept_an_upper_case_territory(
    make_study, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The case that used to differ: `code -t AUXOIS` worked, `review export -t AUXOIS` failed."""
    study = make_study()
    root = str(study.root)
    assert run(["codebook", "load", str(resources.shipped_codebook()), "-s", root]) == 0
    out = tmp_path / "revue.xlsx"
    assert run(["review", "export", "-s", root, "-t", "AUXOIS", "--sortie", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()


def test_unknown_instrument_lists_the_shipped_ones(make_study) -> None:
    study = make_study()
    with pytest.raises(StudyError) as error:
        resolve.instrument("priorisation", study_root=study.root)
    message = str(error.value)
    for name in ("priorisation_enjeux", "evaluation_diagnostic", "entretien_acteurs"):
        assert name in message


def test_instrument_by_name_prefers_the_study_copy_then_the_shipped_one(make_study) -> None:
    study = make_study()
    shipped = resolve.instrument("PRIORISATION_ENJEUX", study_root=study.root)
    assert shipped.name == "priorisation_enjeux.yaml" and "data" in shipped.parts
    own = study.root / "surveys" / "priorisation_enjeux.yaml"
    own.parent.mkdir()
    own.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    assert resolve.instrument("priorisation_enjeux", study_root=study.root) == own


def test_survey_build_finds_a_shipped_instrument_by_name(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["survey", "build", "evaluation_diagnostic"]) == 0
    assert (tmp_path / "evaluation_diagnostic.lss").is_file()
    assert run(["survey", "build", "inconnu"]) == 1
    err = capsys.readouterr().err
    assert "Questionnaire « inconnu » inconnu" in err and "evaluation_diagnostic" in err


def test_output_folder_is_named_after_the_study_folder_even_when_given_as_dot(
    make_study, monkeypatch
) -> None:
    study = make_study()
    monkeypatch.chdir(study.root)
    assert resolve.output_dir(Path("."), "revue") == Path("outputs", study.root.name, "revue")
