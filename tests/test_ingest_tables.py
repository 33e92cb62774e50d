"""The participants manifest and the LimeSurvey exports are read by one table reader: the same
French line for a broken CSV, the same separators, whichever file it is."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from qualipipe.errors import InputError
from qualipipe.ingest.manifest import read_manifest
from qualipipe.ingest.survey_answers import read_survey_export
from qualipipe.surveys.instruments import load_instrument
from tests.conftest import EXAMPLE_DIR

EXPORT = EXAMPLE_DIR / "questionnaires" / "evaluation_diagnostic__sud-creuse.csv"
INSTRUMENT = Path(__file__).resolve().parents[1] / "surveys" / "evaluation_diagnostic.yaml"
MANIFEST = "identifiant;nom;role;territoire\nAUX-F1;Martine Lefèvre;fondateur;auxois\n"


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def as_tabs(text: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows_of(text))
    return out.getvalue()


def test_a_field_too_large_for_csv_is_one_french_line_in_both_files(
    make_study, tmp_path: Path
) -> None:
    # Over the csv module's field limit (131,072 characters): a runaway quote in a real export.
    huge = "x" * 200_000
    manifest = tmp_path / "participants.csv"
    manifest.write_text(MANIFEST + f'AUX-A1;"{huge}";acteur;auxois\n', encoding="utf-8")
    export = tmp_path / "export.csv"
    lines = EXPORT.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    export.write_text("".join(lines[:2]) + f'"9";"{huge}"\n', encoding="utf-8")
    study = make_study()
    for read, path in (
        (lambda: read_manifest(manifest, study.config), manifest),
        (lambda: read_survey_export(export, load_instrument(INSTRUMENT), "sud-creuse"), export),
    ):
        with pytest.raises(InputError) as raised:
            read()
        assert raised.value.summary == f"{path.name} n'est pas un fichier CSV lisible."
        (problem,) = raised.value.problems
        assert problem.file == str(path) and problem.line == 3
        assert "field larger than field limit" in problem.message


def test_tab_separated_files_are_read_like_semicolon_ones(make_study, tmp_path: Path) -> None:
    study = make_study()
    tabbed = tmp_path / "participants.tsv"
    tabbed.write_text(as_tabs(MANIFEST), encoding="utf-8")
    entries = read_manifest(tabbed, study.config)
    assert [(e.participant.id, e.participant.real_name) for e in entries] == [
        ("AUX-F1", "Martine Lefèvre")
    ]
    export = tmp_path / "export.tsv"
    export.write_text(as_tabs(EXPORT.read_text(encoding="utf-8-sig")), encoding="utf-8")
    instrument = load_instrument(INSTRUMENT)
    expected = rows_of(EXPORT.read_text(encoding="utf-8-sig"))
    responses = read_survey_export(export, instrument, "sud-creuse")
    assert [r.response_id for r in responses] == [int(row[0]) for row in expected[1:] if row]
    assert responses[0].values["E01"] == expected[1][expected[0].index("E01")]
