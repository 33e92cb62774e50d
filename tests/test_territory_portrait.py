"""Territorial portrait from the real INSEE comparateur files (both shared vintages).

Every figure checked here is recomputed straight from the CSV rows with the csv module: sums over
the territory's communes (listed, plus EPCI members when the file has an EPCI column), rates from
summed counts, compound annual change, and the département totals.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from qualipipe.errors import InputError
from qualipipe.territory.portrait import SECRET, territory_portrait
from qualipipe.territory.storage import load_insee_files
from tests.conftest import require_shared

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_TOML = (REPO / "examples" / "etude-demo" / "qualipipe.toml").read_text(encoding="utf-8")

# Header names per vintage, written out by hand from the shared README (not from the reader).
VINTAGES = {
    "2019": {"c": "19", "p": "13", "e": "19", "chom": "P19_CHOMEUR1564", "years": 6},
    "2017": {"c": "17", "p": "12", "e": "15", "chom": "P17_CHOM1564", "years": 5},
}


def csv_rows(folder: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="ascii", newline="") as handle:
            for row in csv.DictReader(handle, delimiter=";"):
                code = row.get("CODGEO") or row["INSEE_COM"]
                rows[code] = row
    return rows


def total(rows: list[dict[str, str]], column: str) -> float:
    return sum(float(r[column]) for r in rows)


def row_of(table, label: str) -> tuple:
    return next(r for r in table.rows if r[0] == label)


@pytest.fixture(params=sorted(VINTAGES))
def loaded(request: pytest.FixtureRequest, make_study):
    folder = require_shared("data", "insee_comparateur", request.param)
    study = make_study(EXAMPLE_TOML)
    report = load_insee_files(study, sorted(folder.glob("*.csv")))
    return study, report, csv_rows(folder), VINTAGES[request.param]


def expected_perimeter(territory, rows: dict[str, dict[str, str]]) -> list[str]:
    return sorted(
        code
        for code, row in rows.items()
        if code in territory.communes or row.get("EPCI", "") in territory.epci_siren
    )


def test_portrait_figures_equal_a_recomputation_from_the_csv_rows(loaded) -> None:
    study, _, rows, v = loaded
    c, p, e = v["c"], v["p"], v["e"]
    for territory in study.config.territories:
        portrait = territory_portrait(study.conn, territory)
        codes = expected_perimeter(territory, rows)
        assert portrait.perimeter == codes
        mine = [rows[code] for code in codes]
        dep = territory.communes[0][:2]
        department = [r for code, r in rows.items() if code.startswith(dep)]
        population, housing, jobs, establishments = portrait.tables[:4]
        for level, subset in ((1, mine), (2, department)):
            pop, prev = total(subset, f"P{c}_POP"), total(subset, f"P{p}_POP")
            assert row_of(population, f"Population 20{c}")[level] == round(pop)
            change = ((pop / prev) ** (1 / v["years"]) - 1) * 100
            label = f"Variation annuelle moyenne 20{p}-20{c} (%)"
            assert row_of(population, label)[level] == round(change, 2)
            emplt = total(subset, f"P{c}_EMPLT")
            assert row_of(jobs, f"Emplois au lieu de travail 20{c}")[level] == round(emplt)
            unemployment = total(subset, v["chom"]) / total(subset, f"P{c}_ACT1564") * 100
            label = "Taux de chômage des 15-64 ans, au sens du recensement (%)"
            assert row_of(jobs, label)[level] == round(unemployment, 1)
            vacancy = total(subset, f"P{c}_LOGVAC") / total(subset, f"P{c}_LOG") * 100
            assert row_of(housing, "Logements vacants (%)")[level] == round(vacancy, 1)
            ettot = total(subset, f"ETTOT{e}")
            count_col, share_col = 2 * level - 1, 2 * level
            assert row_of(establishments, "Établissements actifs (total)")[count_col] == ettot
            for column, label in (
                (f"ETAZ{e}", "Agriculture, sylviculture et pêche"),
                (f"ETBE{e}", "Industrie"),
                (f"ETFZ{e}", "Construction"),
                (f"ETGU{e}", "Commerce, transports et services divers"),
                (f"ETOQ{e}", "Administration publique, enseignement, santé, action sociale"),
            ):
                count = total(subset, column)
                assert row_of(establishments, label)[count_col] == round(count)
                assert row_of(establishments, label)[share_col] == round(count / ettot * 100, 1)
        # Every figure says where it comes from.
        for table in portrait.tables:
            assert all(str(row[-1]).startswith("INSEE") for row in table.rows)
            assert table.columns[-1] == "Source"


def test_withheld_values_are_shown_as_s_never_zero(loaded) -> None:
    study, _, rows, v = loaded
    territory = study.config.territory("sud-creuse")
    income = territory_portrait(study.conn, territory).tables[4]
    poverty = income.columns.index("Taux de pauvreté à 60 % (%)")
    median = income.columns.index("Médiane du revenu disponible par unité de consommation (€)")
    withheld = [
        code for code in expected_perimeter(territory, rows) if rows[code][f"TP60{v['c']}"] == ""
    ]
    assert "23079" in withheld  # Felletin: INSEE does not publish its poverty rate
    for row in income.rows:
        code = str(row[0]).split("(")[-1].rstrip(")")
        published = rows[code][f"TP60{v['c']}"]
        assert row[poverty] == (SECRET if published == "" else round(float(published), 1))
        published = rows[code][f"MED{v['c']}"]
        assert row[median] == (SECRET if published == "" else round(float(published)))


def test_epci_expansion_follows_the_file_epci_column(loaded) -> None:
    study, report, rows, v = loaded
    matches = {m.territory_id: m for m in report.territories}
    limoges = matches["limoges-nord"]
    if v["c"] == "19":  # the 2019 extracts carry the EPCI of every commune
        members = sorted(code for code, r in rows.items() if r["EPCI"] == "248719312")
        assert len(members) > 1 and "87085" in members
        assert limoges.communes == members
        assert not limoges.epci_not_expanded
    else:  # the 2017 extracts have no EPCI column: only the listed communes, and it is said
        assert limoges.communes == ["87085"]
        assert limoges.epci_not_expanded == ["248719312"]


def test_unknown_commune_and_epci_are_listed(make_study) -> None:
    folder = require_shared("data", "insee_comparateur", "2019")
    toml = EXAMPLE_TOML.replace('communes = ["87085"]', 'communes = ["87085", "87999"]').replace(
        '"248719312"', '"200067270"'
    )
    study = make_study(toml)
    report = load_insee_files(study, sorted(folder.glob("*.csv")))
    limoges = next(m for m in report.territories if m.territory_id == "limoges-nord")
    assert limoges.missing_communes == ["87999"]
    assert limoges.missing_epci == ["200067270"]
    portrait = territory_portrait(study.conn, study.config.territory("limoges-nord"))
    assert portrait.missing_communes == ["87999"]
    assert "87999" in portrait.tables[0].note


def stored_rows(study) -> int:
    conn: sqlite3.Connection = study.conn
    return conn.execute(
        "SELECT (SELECT count(*) FROM insee_files) + (SELECT count(*) FROM insee_communes)"
    ).fetchone()[0]


def test_bad_files_get_a_french_error_naming_the_file_and_nothing_is_stored(
    make_study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = require_shared("data", "insee_comparateur", "2019", "base_cc_comparateur_23.csv")
    study = make_study(EXAMPLE_TOML)
    manifest = REPO / "examples" / "etude-demo" / "participants.csv"
    tabbed = tmp_path / "tabulations.csv"
    tabbed.write_text(good.read_text().replace(";", "\t"), encoding="utf-8")
    binary = tmp_path / "classeur.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 20)
    for bad, words in (
        (manifest, "comparateur de territoires"),
        (tabbed, "séparateur"),
        (binary, "pas un fichier texte"),
    ):
        # The good file comes first: a batch is all or nothing.
        with pytest.raises(InputError) as error:
            load_insee_files(study, [good, bad])
        message = str(error.value)
        assert bad.name in message and words in message, message
        assert stored_rows(study) == 0
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["territory", "load", str(tabbed), "-s", str(study.root)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Erreur" in err and tabbed.name in err and "Traceback" not in err


def test_national_layout_with_names_and_commas_is_read(make_study, tmp_path: Path) -> None:
    """The insee.fr national file: CODGEO;LIBGEO first, no DEP/EPCI column (here with `,`)."""
    extract = require_shared("data", "insee_comparateur", "2017", "base_cc_comparateur_23.csv")
    with extract.open(encoding="ascii", newline="") as handle:
        source = list(csv.DictReader(handle, delimiter=";"))
    names = {"23008": "Aubusson", "23079": "Felletin"}
    variables = [k for k in source[0] if k not in ("CODGEO", "INSEE_COM", "REG", "DEP")]
    national = tmp_path / "base_cc_comparateur.csv"
    with national.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=",")
        writer.writerow(["CODGEO", "LIBGEO", *variables])
        for row in source:
            writer.writerow(
                [row["CODGEO"], names.get(row["CODGEO"], "X"), *[row[k] for k in variables]]
            )
    study = make_study(EXAMPLE_TOML)
    load_insee_files(study, [national])
    portrait = territory_portrait(study.conn, study.config.territory("sud-creuse"))
    assert [r[0] for r in portrait.tables[4].rows] == ["Aubusson (23008)", "Felletin (23079)"]
    pop = sum(float(r["P17_POP"]) for r in source if r["CODGEO"] in names)
    assert row_of(portrait.tables[0], "Population 2017")[1] == round(pop)
