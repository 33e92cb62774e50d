"""Cited actors and portrait on the example study (examples/etude-demo), real ingest and store.

The example transcripts name organisations on purpose (an agglomeration, two social landlords,
a SIAE, a central kitchen, the communauté de communes as « la CC » / « la com com »). Expected
citing participants are found independently: the transcripts that contain the name, mapped to
participants through the manifest with the csv module.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from PIL import Image

from qualipipe import store
from qualipipe.errors import InputError
from qualipipe.pseudonymize import pseudonymizer_for
from qualipipe.territory.actor_sources import actor_inputs
from qualipipe.territory.actors import CitedActors, cited_actors
from qualipipe.territory.actors_workbook import (
    COL_KEY,
    COL_NAME,
    COL_STATUS,
    SHEET,
    export_actor_workbook,
    import_actor_workbook,
    latest_statuses,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


@pytest.fixture(scope="module")
def example(example_module_copy: Path):
    """The session's example study (interviews and codebook already in), plus its INSEE rows."""
    root = example_module_copy
    run_cli("territory", "load", *map(str, sorted((root / "insee").glob("*.csv"))), "-s", str(root))  # fmt: skip
    study = store.open_study(root)
    yield study
    study.close()


@pytest.fixture(scope="module")
def cited(example) -> dict[str, CitedActors]:
    with example.transaction() as conn:
        pseudo = pseudonymizer_for(example)
        return {
            t.id: cited_actors(conn, actor_inputs(conn, t), pseudo)
            for t in example.config.territories
        }


def manifest() -> list[dict[str, str]]:
    with (EXAMPLE / "participants.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def citing(name: str) -> list[str]:
    """Participants whose transcript contains `name` (plain text files only)."""
    found = []
    for person in manifest():
        path = EXAMPLE / "entretiens" / person["fichier"]
        if path.suffix in (".txt", ".md") and name in path.read_text(encoding="utf-8"):
            found.append(person["identifiant"])
    return sorted(found)


def actor_with(result: CitedActors, variant: str):
    matches = [a for a in result.actors + result.excluded if variant in a.variants]
    assert len(matches) == 1, (variant, [a.name for a in result.actors + result.excluded])
    return matches[0]


@pytest.mark.parametrize(
    ("territory", "name", "variants"),
    [
        ("sud-creuse", "Grand Guéret", ["agglo du Grand Guéret", "communauté d'agglomération du Grand Guéret"]),
        ("sud-creuse", "Creuse Habitat", ["bailleur social Creuse Habitat", "bailleur"]),
        ("sud-creuse", "Creuse Services Emploi", ["association intermédiaire Creuse Services Emploi"]),
        ("limoges-nord", "Limoges Habitat", ["bailleur social Limoges Habitat", "bailleur"]),
        ("limoges-nord", "Envie Limousin", ["entreprise d'insertion Envie Limousin"]),
    ],
)  # fmt: skip
def test_planted_organisations_are_grouped_and_counted_by_distinct_participant(
    cited, territory: str, name: str, variants: list[str]
) -> None:
    result = cited[territory]
    actor = actor_with(result, name)
    assert actor in result.actors  # not a participant's organisation
    for variant in variants:
        assert variant in actor.variants, (variant, actor.variants)
    assert actor.participants == citing(name)
    assert len(actor.participants) >= 2
    assert name in actor.name


def test_participants_own_organisations_are_set_apart(cited) -> None:
    sud = cited["sud-creuse"]
    cc = actor_with(sud, "com com")
    assert cc in sud.excluded and cc.owner == "SC-A01"  # Communauté de communes Creuse Grand Sud
    assert {"CC", "com com", "communauté de communes Creuse Grand Sud"} <= set(cc.variants)
    metropole = actor_with(cited["limoges-nord"], "Limoges Métropole")
    assert metropole.owner == "LN-A01"
    for territory, result in cited.items():
        own = {p["organisation"].split(" (")[0].split(",")[0].lower() for p in manifest() if p["territoire"] == territory}  # fmt: skip
        for actor in result.actors:
            assert not own & {v.lower() for v in actor.variants}, actor


def test_ranked_by_distinct_participants_with_pseudonymised_excerpts(cited) -> None:
    names = [p["nom"] for p in manifest()] + ["Claire Morel", "Julien Barreau"]
    for result in cited.values():
        counts = [len(a.participants) for a in result.actors]
        assert counts == sorted(counts, reverse=True)
        for actor in result.actors:
            shown = " ".join([actor.name, actor.excerpt, *actor.variants])
            assert actor.excerpt
            for name in names:
                for part in name.split():
                    assert part not in shown.split(), (part, shown)


def test_cited_actors_workbook_round_trip(example, tmp_path: Path) -> None:
    path = export_actor_workbook(example, tmp_path / "acteurs.xlsx").path
    wb = load_workbook(path)
    ws = wb[SHEET]
    headers = [c.value for c in ws[1]]
    name_col, status_col = headers.index(COL_NAME) + 1, headers.index(COL_STATUS) + 1
    assert ws.column_dimensions["K"].hidden and headers[-1] == COL_KEY
    # Printed: landscape A4, one page wide at 85 % or more (150 units at 100 %), header repeated.
    widths = [d.width for d in ws.column_dimensions.values() if not d.hidden]
    assert ws.page_setup.orientation == "landscape" and sum(widths) <= 150 / 0.85 + 1
    assert ws.page_setup.fitToWidth == 1 and ws.print_title_rows == "$1:$1"
    marked = {}
    for row in range(2, ws.max_row + 1):
        name = ws.cell(row, name_col).value
        if "Limoges Habitat" in name:
            ws.cell(row, status_col).value = "A contacter"  # typed without the accent
            marked[name] = "à contacter"
        elif "Grand Guéret" in name:
            ws.cell(row, status_col).value = "déjà associé"
            marked[name] = "déjà associé"
    assert len(marked) == 2
    wb.save(path)
    result = import_actor_workbook(example, path, "Alice")
    assert result.added == 2
    again = import_actor_workbook(example, path, "Alice")
    assert again.added == 0 and again.unchanged == again.rows_read
    statuses = latest_statuses(example.conn)
    assert sorted(s.status for s in statuses.values()) == ["déjà associé", "à contacter"]
    assert {s.coder for s in statuses.values()} == {"Alice"}
    # Re-export: the follow-up is pre-filled.
    ws = load_workbook(export_actor_workbook(example, tmp_path / "again.xlsx").path)[SHEET]
    shown = {ws.cell(r, name_col).value: ws.cell(r, status_col).value for r in range(2, ws.max_row + 1)}  # fmt: skip
    assert {n: shown[n] for n in marked} == marked


def test_bad_follow_up_is_refused_whole(example, tmp_path: Path) -> None:
    path = export_actor_workbook(example, tmp_path / "acteurs.xlsx", territory="sud-creuse").path
    wb = load_workbook(path)
    ws = wb[SHEET]
    status_col = [c.value for c in ws[1]].index(COL_STATUS) + 1
    ws.cell(2, status_col).value = "à contacter"
    ws.cell(3, status_col).value = "peut-être"
    wb.save(path)
    before = len(latest_statuses(example.conn))
    with pytest.raises(InputError) as error:
        import_actor_workbook(example, path, "Bruno")
    assert "ligne 3" in str(error.value) and "peut-être" in str(error.value)
    assert len(latest_statuses(example.conn)) == before
    review_like = tmp_path / "autre.xlsx"
    load_workbook(path).save(review_like)
    wb = load_workbook(review_like)
    del wb["_qualipipe"]
    wb.save(review_like)
    with pytest.raises(InputError, match="autre.xlsx"):
        import_actor_workbook(example, review_like, "Bruno")


def test_synthesis_shows_portrait_and_cited_actors(example) -> None:
    from qualipipe.synthesize import synthesize_study

    out = example.root.parent / "outputs"
    synthesize_study(example, out, with_figures=False, today="15/06/2026")
    workbook = load_workbook(out / "sud-creuse" / "synthese.xlsx")
    assert {"Portrait population", "Portrait revenus", "Acteurs cités"} <= set(workbook.sheetnames)
    text = "\n".join(
        p.text for p in Document(str(out / "limoges-nord" / "synthese.docx")).paragraphs
    )
    assert "Portrait du territoire (données INSEE)" in text
    assert "Acteurs cités à associer — Limoges Nord" in text
    cells = {
        c.text
        for t in Document(str(out / "limoges-nord" / "synthese.docx")).tables
        for row in t.rows
        for c in row.cells
    }
    assert any("Limoges Habitat" in c for c in cells)
    assert "Source : INSEE" in (out / "sud-creuse" / "synthese.md").read_text(encoding="utf-8")


def test_portrait_command_writes_report_and_three_charts(example) -> None:
    out = example.root.parent / "portrait-seul"
    run_cli("territory", "portrait", "-t", "sud-creuse", "-s", str(example.root), "--sortie", str(out))  # fmt: skip
    folder = out / example.root.name / "portraits" / "sud-creuse"
    charts = sorted((folder / "figures").glob("*.png"))
    assert len(charts) == 3
    for chart in charts:
        assert Image.open(chart).size == (1200, 900)
    text = "\n".join(p.text for p in Document(str(folder / "portrait.docx")).paragraphs)
    assert "Figure 3" in text and "millésime INSEE 2019" in text


def test_portrait_tables_flow_on_portrait_pages_short_ones_kept_whole(example) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn

    out = example.root.parent / "portrait-flux"
    run_cli("territory", "portrait", "-t", "sud-creuse", "-s", str(example.root), "--sortie", str(out))  # fmt: skip
    doc = Document(str(out / example.root.name / "portraits" / "sud-creuse" / "portrait.docx"))
    # A landscape table would be a section of its own, alone on its page between two breaks:
    # the eight-column establishments table stays in portrait, in a smaller font.
    assert [s.orientation for s in doc.sections] == [WD_ORIENT.PORTRAIT]
    assert len(doc.tables) == 5
    short = [t for t in doc.tables if len(t.rows) <= 16]  # not the 26 communes' incomes
    assert len(short) == 4
    for table in short:  # moved whole with its caption, never three rows left behind
        rows = table.rows
        assert all(r._tr.trPr is not None and r._tr.trPr.find(qn("w:cantSplit")) is not None for r in rows)  # fmt: skip
        assert all(p.paragraph_format.keep_with_next for r in rows[:-1] for c in r.cells for p in c.paragraphs)  # fmt: skip
        assert not any(p.paragraph_format.keep_with_next for c in rows[-1].cells for p in c.paragraphs)  # fmt: skip
    body = doc.element.body
    breaks = body.findall(".//" + qn("w:br"))
    assert not [b for b in breaks if b.get(qn("w:type")) == "page"]
