"""Synthesis of the example study (examples/etude-demo): real ingest of its 14 interviews and
survey exports, the shared codebook, the analysts' 120 decisions, then `synthesize --all`.
Key figures are recomputed from the decision history; no manifest name may reach an output."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from benchmarks import render_outputs as render
from qualipipe import store
from qualipipe.records import Action, Role
from tests.conftest import output_texts

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"
CODEBOOK = REPO / "codebooks" / "ptce.yaml"
DECISIONS = EXAMPLE / "revue" / "decisions_analyste.csv"


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


@pytest.fixture(scope="module")
def example(example_module_copy: Path):
    needed = [EXAMPLE / "qualipipe.toml", EXAMPLE / "participants.csv", CODEBOOK, DECISIONS]
    # The example study ships with the repository: a missing file is a failure, not a skip.
    assert all(p.exists() for p in needed), [p for p in needed if not p.exists()]
    from qualipipe.review import importer as review

    root = example_module_copy
    for export in sorted((root / "questionnaires").glob("*.csv")):
        instrument, territory = export.stem.split("__")
        run_cli("ingest", str(export), "--instrument", instrument, "-t", territory, "-s", str(root))
    study = store.open_study(root)
    result = review.import_decisions(study, DECISIONS)
    assert result.decisions_added == 120
    from qualipipe.synthesize import synthesize_study

    out = root.parent / "outputs" / root.name
    report = synthesize_study(
        study, out, include_comparison=True, with_figures=False, today="15/06/2026"
    )
    yield study, report, out
    study.close()


def validated_mentions(study: store.Study, territory: str) -> dict[str, dict[object, set]]:
    """code -> role -> participants (and "segments" -> segment ids), from the raw history
    (latest decision wins, all coders)."""
    conn = study.conn
    redirects = store.code_redirect_map(conn)
    latest: dict[tuple[int, str], bool] = {}
    for d in store.decision_history(conn):
        if d.code_id:
            latest[(d.segment_id, redirects.get(d.code_id, d.code_id))] = d.action in (
                Action.ACCEPT,
                Action.ADD,
            )
    rows = conn.execute(
        """SELECT s.id, s.is_interviewer, s.retired, p.id AS pid, p.role, p.territory_id
           FROM segments s JOIN sources src ON src.id = s.source_id
           JOIN participants p ON p.id = src.participant_id"""
    )
    who = {r["id"]: r for r in rows}
    result: dict[str, dict[object, set]] = defaultdict(lambda: defaultdict(set))
    for (segment, code), applied in latest.items():
        r = who.get(segment)
        if (
            applied
            and r
            and not r["is_interviewer"]
            and not r["retired"]
            and r["territory_id"] == territory
        ):
            result[code][Role(r["role"])].add(r["pid"])
            result[code]["segments"].add(segment)
    return result


def sheet_rows(path: Path, sheet: str) -> list[dict[str, object]]:
    rows = list(load_workbook(path)[sheet].iter_rows(min_row=4, values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("territory", ["sud-creuse", "limoges-nord"])
def test_example_validated_figures_match_the_decisions(example, territory: str) -> None:
    study, report, out = example
    assert territory in report.territories
    expected = validated_mentions(study, territory)
    assert expected, "the analysts' decisions cover this territory"
    workbook = out / territory / "synthese.xlsx"
    rows = {
        row["Code"]: row
        for family in ("MOT", "BES", "ENJ", "TRANS")
        for row in sheet_rows(workbook, family)
    }
    # No suggestion step ran on this study: every code shown is a validated one, with exact figures,
    # and every validated code is shown.
    assert set(rows) == set(expected)
    for code, facts in expected.items():
        row = rows[code]
        assert (
            row["Fondateurs"],
            row["Acteurs"],
            row["Segments validés"],
            row["Segments suggérés"],
        ) == (
            len(facts[Role.FOUNDER]),
            len(facts[Role.ACTOR]),
            len(facts["segments"]),
            0,
        ), code
    doc = Document(str(out / territory / "synthese.docx"))
    assert len(doc.tables) >= 8


def fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(c)
    )


def test_example_outputs_carry_no_manifest_name(example) -> None:
    _, _, out = example
    with (EXAMPLE / "participants.csv").open(encoding="utf-8-sig") as handle:
        names = [row["nom"] for row in csv.DictReader(handle, delimiter=";") if row["nom"]]
    pieces = {n for n in names} | {p for n in names for p in re.split(r"[\s-]+", n) if len(p) >= 4}
    pattern = re.compile(
        rf"(?<!\w)(?:{'|'.join(re.escape(fold(p)) for p in sorted(pieces))})(?!\w)"
    )
    texts = output_texts(out)
    assert any(p.name == "comparaison.xlsx" for p in texts) and len(texts) >= 9
    for path, text in texts.items():
        assert not pattern.findall(fold(text)), (pattern.findall(fold(text))[:5], path)


def survey_totals(territory: str) -> tuple[dict[str, int], dict[str, float]]:
    """Borda score per issue label and points per issue code, counted from the raw LimeSurvey
    export of the example (submitted responses; the ranking question has 5 ranks: 1st = 5)."""
    from qualipipe.surveys.instruments import load_instrument

    ranking = load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml").question("P06")
    label = {option.code: option.text for option in ranking.options}
    export = EXAMPLE / "questionnaires" / f"priorisation_enjeux__{territory}.csv"
    with export.open(encoding="utf-8-sig", newline="") as handle:
        responses = [r for r in csv.DictReader(handle, delimiter=";") if r["submitdate"]]
    borda: dict[str, int] = defaultdict(int)
    points: dict[str, float] = defaultdict(float)
    for response in responses:
        for rank in range(1, ranking.max_answers + 1):
            if response[f"P06[{rank}]"]:
                borda[label[response[f"P06[{rank}]"]]] += ranking.max_answers + 1 - rank
        for column, value in response.items():
            if column.startswith("P07[") and value:
                points[column[4:-1]] += float(value)
    return dict(borda), dict(points)


def test_example_priorities_and_evaluation(example) -> None:
    _, _, out = example
    for territory in ("sud-creuse", "limoges-nord"):
        workbook = load_workbook(out / territory / "synthese.xlsx")
        assert "Priorités" in workbook.sheetnames and "Évaluation" in workbook.sheetnames
        rows = sheet_rows(out / territory / "synthese.xlsx", "Priorités")
        borda, points = survey_totals(territory)
        assert {r["Enjeu"]: r["Score de Borda"] for r in rows} == borda, territory
        assert {r["Code"]: r["Points"] for r in rows} == points, territory
        scores = [r["Score de Borda"] for r in rows]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0


# Pages a reader gets per territory (tables, figures, notes) and for the comparison; a
# regression that stacks letters in narrow columns multiplies pages and breaks these budgets.
SYNTHESIS_PAGES_PER_TERRITORY = 40
WORKBOOK_PAGES_PER_TERRITORY = 35
COMPARISON_PAGES = 6


def code_and_header_words(docx: Path) -> Counter[str]:
    """Words of the table headers and of the first column (code labels, names), as written."""
    words: Counter[str] = Counter()
    for table in Document(str(docx)).tables:
        cells = [c.text for c in table.rows[0].cells] + [r.cells[0].text for r in table.rows[1:]]
        words.update(w for text in cells for w in re.findall(r"\w{4,}", text))
    return words


def test_rendered_documents_split_no_word_and_keep_to_a_page_budget(
    example, tmp_path: Path
) -> None:
    if not render.tools_available():
        pytest.skip("LibreOffice (soffice) et poppler absents : rendu PDF non vérifié")
    study, _, _ = example
    from qualipipe.synthesize import synthesize_study

    out = tmp_path / "sorties"
    report = synthesize_study(study, out, include_comparison=True, today="15/06/2026")
    rendered = {
        r.source.relative_to(out): r
        for r in render.render_folder(out, tmp_path / "rendu", pngs=False)
    }
    territories = len(report.territories)
    assert len(rendered) == 2 * territories + 2
    for relative, r in rendered.items():
        if relative.suffix == ".docx":
            # Every header / label word printed whole as often as the document holds it: a
            # word split by a narrow column ("Fonda" / "teurs") would be missing once.
            printed = Counter(re.findall(r"\w{4,}", r.text))
            for word, count in code_and_header_words(r.source).items():
                assert printed[word] >= count, (relative, word)
        budget = {
            "synthese.docx": SYNTHESIS_PAGES_PER_TERRITORY,
            "synthese.xlsx": WORKBOOK_PAGES_PER_TERRITORY,
        }.get(relative.name, COMPARISON_PAGES)
        assert r.pages <= budget, (relative, r.pages)


def test_synthesis_pseudonymises_from_the_kept_person_spans_as_spacy_does(
    example, tmp_path: Path
) -> None:
    """Once `code` has kept the person spans, the synthesis reads them instead of running spaCy
    on its verbatims: the same verbatims, the same documents."""
    from qualipipe.pseudonymize import Policy, pseudonymizer_for, remember_person_spans
    from qualipipe.synthesize import synthesize_study
    from qualipipe.synthesize import tables as tb
    from qualipipe.synthesize.load import make_pseudonymizer
    from qualipipe.synthesize.model import SynthesisOptions
    from qualipipe.synthesize.pipeline import StudyContext
    from qualipipe.synthesize.study_wide import (
        family_verbatims,
        territory_features,
        verbatim_picker,
    )

    study, _, before = example  # synthesised before any person span was kept
    assert remember_person_spans(study, progress=False) > 0
    options = SynthesisOptions(date="15/06/2026")
    context = StudyContext.build(study, options, make_pseudonymizer(study, keep_names=False))
    quoted: list[str] = []
    for territory in study.config.territories:
        data = context.snapshot.territory(territory)
        picker = verbatim_picker(territory_features(context.features, data), data)
        quoted += family_verbatims(data, tb.code_stats(data), picker, options)
    live = pseudonymizer_for(study, Policy.VERBATIM)
    expected = live.apply_many(quoted)
    assert live.entity_reads > 0  # spaCy had people to look for in these verbatims
    assert sum(a != b for a, b in zip(quoted, expected, strict=True)) >= 3  # names were hidden
    context.pseudonymize.prefetch(quoted)
    assert context.pseudonymize.inner.entity_reads == 0
    assert [context.pseudonymize(t) for t in quoted] == expected

    after = tmp_path / "sorties"
    synthesize_study(study, after, include_comparison=True, with_figures=False, today="15/06/2026")
    documents = sorted(p.relative_to(before) for p in before.rglob("*.md"))
    assert len(documents) == len(study.config.territories) + 1
    for relative in documents:
        assert (after / relative).read_text(encoding="utf-8") == (before / relative).read_text(
            encoding="utf-8"
        ), relative


def test_a_new_synthesis_keeps_the_livrable_and_notes_beside_it(example, tmp_path: Path) -> None:
    """`report` writes livrable.docx into the territory's folder and the analyst edits it there:
    re-running `synthesize` replaces its own files (a figure it no longer draws goes) and keeps
    everything else."""
    from qualipipe.synthesize import synthesize_study

    study, _, _ = example
    territory = study.config.territories[0].id
    out = tmp_path / "sorties"
    synthesize_study(study, out, territory=territory, with_figures=False, today="15/06/2026")
    folder = out / territory
    (folder / "livrable.docx").write_bytes(b"projet de livrable relu par l'analyste")
    (folder / "notes_equipe.txt").write_text("à reprendre", encoding="utf-8")
    (folder / "figures").mkdir(exist_ok=True)
    (folder / "figures" / "ancienne_figure.png").write_bytes(b"png")
    (folder / "synthese.md").write_text("ancienne synthèse", encoding="utf-8")

    synthesize_study(study, out, territory=territory, with_figures=False, today="15/06/2026")
    assert (folder / "livrable.docx").read_bytes() == b"projet de livrable relu par l'analyste"
    assert (folder / "notes_equipe.txt").read_text(encoding="utf-8") == "à reprendre"
    assert not (folder / "figures" / "ancienne_figure.png").exists()
    assert (folder / "synthese.md").read_text(encoding="utf-8") != "ancienne synthèse"
    assert not [p for p in out.iterdir() if p.name.endswith(".en-cours")]
