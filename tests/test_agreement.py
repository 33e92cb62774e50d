"""Inter-coder agreement: figures equal scikit-learn's and krippendorff's; disagreements round trip."""

from __future__ import annotations

import random
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from openpyxl import load_workbook
from sklearn.metrics import cohen_kappa_score

from qualipipe.errors import InputError, StudyError
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Decision,
    Participant,
    Role,
    Suggestion,
)
from qualipipe.review import workbook as wb
from qualipipe.review.agreement import (
    APPLIED,
    MACHINE_CODER,
    NOT_APPLIED,
    agreement,
    compare,
    export_disagreements,
)
from qualipipe.review.importer import import_decisions
from qualipipe.store import (
    append_decision,
    current_coding,
    decision_history,
    replace_suggestions,
    save_codebook_version,
    upsert_participant,
)
from tests.conftest import insert_lines_source


def test_two_coders_with_known_agreement_match_sklearn_and_krippendorff() -> None:
    rng = random.Random(3)
    n = 200
    first = [rng.random() < 0.4 for _ in range(n)]
    flipped = set(rng.sample(range(n), 30))  # exactly 85 % agreement on code A
    second = [not v if i in flipped else v for i, v in enumerate(first)]
    codings = {
        "Alice": {i: frozenset({"A"} if first[i] else set()) for i in range(n)},
        "Bruno": {i: frozenset({"A"} if second[i] else set()) for i in range(n)},
    }
    report = compare(codings, ["Alice", "Bruno"], {"A": "Code A"})
    (figures,) = report.per_code
    assert figures.n_segments == n
    assert figures.percent == pytest.approx(0.85)
    a = [int(v) for v in first]
    b = [int(v) for v in second]
    assert figures.kappa == pytest.approx(cohen_kappa_score(a, b))
    assert figures.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=[a, b], level_of_measurement="nominal")
    )
    assert 0.5 < figures.kappa < 0.8  # 85 % raw agreement, corrected for chance
    assert len(report.disagreements) == 30
    assert {d.segment_id for d in report.disagreements} == flipped


def test_perfect_and_chance_agreement() -> None:
    same = {i: frozenset({"A"} if i % 3 == 0 else set()) for i in range(60)}
    perfect = compare({"X": same, "Y": dict(same)}, ["X", "Y"], {})
    assert perfect.overall.percent == 1.0
    assert perfect.overall.kappa == pytest.approx(1.0)
    assert perfect.overall.alpha == pytest.approx(1.0)
    assert perfect.disagreements == ()
    # Never applied by anyone on the common segments: the code is left out, not counted as 100 %.
    nothing = {i: frozenset() for i in range(10)}
    empty = compare({"X": nothing, "Y": nothing}, ["X", "Y"], {})
    assert empty.per_code == () and empty.overall.kappa is None and empty.overall.alpha is None


def test_realistic_case_with_missing_codings() -> None:
    """Three coders, several codes, each coder skipped some segments."""
    rng = random.Random(11)
    codes = ["BES_FINANCEMENT", "BES_LOCAUX", "ENJ_MOBILITE"]
    truth = {s: {c for c in codes if rng.random() < 0.3} for s in range(80)}
    codings: dict[str, dict[int, frozenset[str]]] = {}
    for coder, noise, skip in (("Alice", 0.05, 0.1), ("Bruno", 0.15, 0.3), ("Chloé", 0.25, 0.5)):
        mine = {}
        for s, applied in truth.items():
            if rng.random() < skip:
                continue  # not coded: missing, not "absent"
            mine[s] = frozenset(c for c in codes if (c in applied) != (rng.random() < noise))
        codings[coder] = mine
    coders = ["Alice", "Bruno", "Chloé"]
    report = compare(codings, coders, {})
    common = sorted(s for s in truth if sum(s in codings[c] for c in coders) >= 2)
    assert [f.code_id for f in report.per_code] == sorted(codes)  # each code has its figures
    for figures in report.per_code:
        matrix = [
            [float(figures.code_id in codings[c][s]) if s in codings[c] else np.nan for s in common]
            for c in coders
        ]
        assert figures.alpha == pytest.approx(
            krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
        )
        assert figures.kappa is None  # Cohen's kappa is for two coders
        assert figures.n_segments == len(common)
    # The same data, two coders: kappa on the segments both coded.
    pair = compare(codings, ["Alice", "Chloé"], {})
    both = sorted(set(codings["Alice"]) & set(codings["Chloé"]))
    assert pair.overall.n_segments == len(both)
    assert [f.code_id for f in pair.per_code] == sorted(codes)
    for figures in pair.per_code:
        a = [int(figures.code_id in codings["Alice"][s]) for s in both]
        b = [int(figures.code_id in codings["Chloé"][s]) for s in both]
        assert figures.kappa == pytest.approx(cohen_kappa_score(a, b))
        assert figures.percent == pytest.approx(np.mean(np.array(a) == np.array(b)))
    # Overall = all (segment, code) pairs pooled.
    a = [int(c in codings["Alice"][s]) for c in sorted(codes) for s in both]
    b = [int(c in codings["Chloé"][s]) for c in sorted(codes) for s in both]
    assert pair.overall.kappa == pytest.approx(cohen_kappa_score(a, b))
    assert pair.overall.n_units == len(a)


# ---------------------------------------------------------------------------------------------
# On a study: coders from the decision history, the machine as one more coder, consensus
# ---------------------------------------------------------------------------------------------

CODES = (
    Code("BES", "Besoins", "BES", codable=False),
    Code("BES_FINANCEMENT", "Financement", "BES", parent="BES"),
    Code("BES_LOCAUX", "Locaux", "BES", parent="BES"),
    Code("ENJ", "Enjeux", "ENJ", codable=False),
    Code("ENJ_MOBILITE", "Mobilité", "ENJ", parent="ENJ"),
)

SENTENCES = [
    "Il nous manque un financement pour la légumerie.",
    "Les locaux sont trop chers.",
    "Sans voiture on ne vient pas travailler.",
    "La banque ne suit pas, et le local est trop petit.",
    "Le bus passe une fois par jour.",
    "On cherche des subventions.",
]


@pytest.fixture
def study(make_study):
    s = make_study()
    with s.transaction():
        save_codebook_version(s.conn, Codebook("PTCE", "1", CODES), "codebook v1")
        upsert_participant(
            s.conn,
            Participant("F1", "auxois", Role.FOUNDER, "Fondatrice 1", real_name="Léa Martin"),
        )
        ids = insert_lines_source(
            s.conn,
            "f1.txt",
            SENTENCES,
            participant_id="F1",
            territory_id="auxois",
            path="f1.txt",
        )
        replace_suggestions(
            s.conn,
            ids,
            [
                Suggestion(ids[0], "BES_FINANCEMENT", 0.9, "combiné", "financement"),
                Suggestion(ids[1], "BES_LOCAUX", 0.8, "combiné", "locaux"),
                Suggestion(ids[4], "ENJ_MOBILITE", 0.7, "combiné", "bus"),
            ],
            None,
        )

        def decide(coder: str, segment: int, code: str, action: Action) -> None:
            append_decision(s.conn, Decision(ids[segment], action, coder, code_id=code))

        # Alice and Bruno code segments 0-4 (Bruno skips 5; Alice skips nothing more).
        for coder in ("Alice", "Bruno"):
            decide(coder, 0, "BES_FINANCEMENT", Action.ACCEPT)
            decide(coder, 1, "BES_LOCAUX", Action.ACCEPT)
            decide(coder, 4, "ENJ_MOBILITE", Action.ACCEPT)
        decide("Alice", 2, "ENJ_MOBILITE", Action.ADD)
        decide("Bruno", 2, "ENJ_MOBILITE", Action.REJECT)  # disagreement 1
        decide("Alice", 3, "BES_FINANCEMENT", Action.ADD)
        decide("Bruno", 3, "BES_FINANCEMENT", Action.ADD)
        decide("Alice", 3, "BES_LOCAUX", Action.ADD)  # disagreement 2 (Bruno coded 3, not this)
        decide("Alice", 5, "BES_FINANCEMENT", Action.ADD)  # only Alice: not compared
    s.segment_ids = ids  # type: ignore[attr-defined]
    return s


def test_agreement_from_the_decision_history(study) -> None:
    ids = study.segment_ids
    report = agreement(study, territory="auxois")
    assert report.coders == ("Alice", "Bruno")
    by_code = {f.code_id: f for f in report.per_code}
    assert by_code["BES_FINANCEMENT"].n_segments == 5
    assert by_code["BES_FINANCEMENT"].percent == 1.0
    assert by_code["ENJ_MOBILITE"].percent == pytest.approx(4 / 5)
    assert by_code["BES_LOCAUX"].percent == pytest.approx(4 / 5)
    assert report.overall.n_units == 15
    assert report.overall.percent == pytest.approx(13 / 15)
    assert {(d.segment_id, d.code_id, d.values) for d in report.disagreements} == {
        (ids[2], "ENJ_MOBILITE", (True, False)),
        (ids[3], "BES_LOCAUX", (True, False)),
    }
    with pytest.raises(StudyError, match="Codeur\\(s\\) sans aucune décision"):
        agreement(study, coders=["Alice", "Zoé"])
    with pytest.raises(StudyError, match="au moins deux codeurs"):
        agreement(study, coders=["Alice"])


def test_machine_is_compared_as_one_more_coder(study) -> None:
    report = agreement(study, coders=["Alice"], machine=True)
    assert report.coders == ("Alice", MACHINE_CODER)
    by_code = {f.code_id: f for f in report.per_code}
    # Alice coded all 6 segments; the machine suggested 3 codes, Alice applied 7.
    assert by_code["BES_FINANCEMENT"].n_segments == 6
    assert by_code["BES_FINANCEMENT"].percent == pytest.approx(4 / 6)
    assert len(report.disagreements) == 4


def test_disagreements_workbook_round_trip_as_consensus(study, tmp_path: Path) -> None:
    ids = study.segment_ids
    report = agreement(study)
    path = export_disagreements(study, report, tmp_path / "desaccords.xlsx")
    book = load_workbook(path)
    sheet = book[wb.DISAGREEMENT_SHEET]
    headers = [c.value for c in sheet[1]]
    assert {"Alice", "Bruno", wb.COL_AGREED} <= set(headers)
    rows = {row[headers.index(wb.COL_CODE_ID)].value: row for row in sheet.iter_rows(min_row=2)}
    mobility = rows["ENJ_MOBILITE"]
    assert mobility[headers.index("Alice")].value == APPLIED
    assert mobility[headers.index("Bruno")].value == NOT_APPLIED
    # The agreement sheet shows the report's figures, one line per code, then the overall line.
    agreement_sheet = list(book[wb.AGREEMENT_SHEET].iter_rows(min_row=2, values_only=True))
    assert agreement_sheet == [
        (
            f.code_id or None,
            f.label,
            f.n_segments,
            pytest.approx(f.percent),
            pytest.approx(f.kappa),
            pytest.approx(f.alpha),
        )
        for f in (*report.per_code, report.overall)
    ]
    assert agreement_sheet[-1][1] == "Ensemble des codes"
    assert "Léa Martin" not in str([c.value for r in sheet.iter_rows() for c in r])

    mobility[headers.index(wb.COL_AGREED)].value = "rejeter"
    mobility[headers.index(wb.COL_COMMENT)].value = "le transport n'est pas évoqué"
    rows["BES_LOCAUX"][headers.index(wb.COL_AGREED)].value = "accepter"
    book.save(path)
    result = import_decisions(study, path)
    assert result.coders == ("consensus",) and result.decisions_added == 2
    assert current_coding(study.conn, coder="consensus") == {
        (ids[2], "ENJ_MOBILITE"): False,
        (ids[3], "BES_LOCAUX"): True,
    }
    consensus = [d for d in decision_history(study.conn) if d.coder == "consensus"]
    assert consensus[0].comment == "le transport n'est pas évoqué"
    assert consensus[0].origin == "desaccords.xlsx"
    # The consensus is not one of the coders compared by default.
    assert agreement(study).coders == ("Alice", "Bruno")


def test_disagreements_workbook_validation(study, tmp_path: Path) -> None:
    path = export_disagreements(study, agreement(study), tmp_path / "d.xlsx")
    book = load_workbook(path)
    sheet = book[wb.DISAGREEMENT_SHEET]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=headers.index(wb.COL_AGREED) + 1, value="d'accord")
    sheet.cell(row=3, column=headers.index(wb.COL_CODE_ID) + 1, value="ENJ_MOBILITE_X")
    sheet.cell(row=3, column=headers.index(wb.COL_AGREED) + 1, value="accepter")
    book.save(path)
    with pytest.raises(InputError) as caught:
        import_decisions(study, path)
    problems = sorted(caught.value.problems, key=lambda p: p.line or 0)
    assert [p.line for p in problems] == [2, 3]
    assert problems[0].sheet == wb.DISAGREEMENT_SHEET
    assert "« d'accord » n'est pas une décision possible" in problems[0].message
    assert "empreinte" in problems[1].message
    assert not [d for d in decision_history(study.conn) if d.coder == "consensus"]


def test_machine_needs_suggestions(study) -> None:
    with study.transaction():
        replace_suggestions(study.conn, study.segment_ids, [], None)
    with pytest.raises(StudyError, match="Aucune suggestion automatique"):
        agreement(study, coders=["Alice"], machine=True)


def test_agreement_command_prints_figures_and_writes_disagreements(
    study, tmp_path: Path, capsys
) -> None:
    from qualipipe.cli import main

    out = tmp_path / "desaccords.xlsx"
    with pytest.raises(SystemExit) as exited:
        main(["agreement", "-s", str(study.root), "--coders", "Alice,Bruno", "--sortie", str(out)])
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    assert "ENJ_MOBILITE" in printed and "80%" in printed
    assert "2 désaccord(s) à discuter" in printed
    rows = list(load_workbook(out)[wb.DISAGREEMENT_SHEET].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 2
