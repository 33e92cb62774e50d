"""Synthesis rules on small hand-computed cases: Borda, points, matrix, dissensus, the
shared-issue rule, survey columns, evaluation distributions, typical verbatims."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualipipe.records import Code
from qualipipe.synthesize.evaluation import MULTIPLE, SINGLE, ClosedQuestion, distributions
from qualipipe.synthesize.model import AnswerSheet
from qualipipe.synthesize.priorities import (
    PrioritisationAnswer,
    PrioritisationQuestions,
    answer_from_values,
    borda_scores,
    is_dissensus,
    parse_score,
    points_totals,
    prioritise,
)
from qualipipe.synthesize.tables import CodeStats, shared_criterion, shared_issues
from qualipipe.synthesize.verbatims import Candidate, VerbatimPicker, shorten

REPO = Path(__file__).resolve().parents[1]


def test_borda_count_by_hand() -> None:
    rankings = [["A", "B", "C"], ["B", "A"], ["C"]]
    # k = 3 positions: 1st 3 points, 2nd 2, 3rd 1, unranked 0.
    assert borda_scores(rankings) == {"A": 3 + 2, "B": 2 + 3, "C": 1 + 3}
    # With the question's 5 ranks: 1st 5, 2nd 4, 3rd 3.
    assert borda_scores(rankings, positions=5) == {"A": 5 + 4, "B": 4 + 5, "C": 3 + 5}
    # Blank ranks and an item repeated by mistake count once, at its first place (k = 2 left).
    assert borda_scores([["A", "", "A", "B"]]) == {"A": 2, "B": 1}
    assert borda_scores([]) == {}


def test_points_totals_by_hand() -> None:
    totals = points_totals([{"A": 5, "B": 5}, {"A": 10}, {"B": 0, "C": 10}])
    assert totals == {"A": (15, 2), "B": (5, 1), "C": (10, 1)}


def test_prioritise_ranks_and_classifies() -> None:
    answers = [
        PrioritisationAnswer(
            "r1",
            ranking=("A", "B"),
            points={"A": 6, "B": 4},
            importance={"A": 5, "B": 2},
            feasibility={"A": 4, "B": 4},
        ),
        PrioritisationAnswer(
            "r2",
            ranking=("B", "A"),
            points={"A": 2, "B": 8},
            importance={"A": 4, "B": 2},
            feasibility={"A": 2, "B": 5},
        ),
        PrioritisationAnswer(
            "r3",
            ranking=("A",),
            points={"A": 10},
            importance={"A": 5, "B": 1},
            feasibility={"A": 4, "B": 3},
        ),
    ]
    ranked = prioritise(answers)
    assert [p.item for p in ranked] == ["A", "B"]
    a, b = ranked
    assert (a.borda, a.first_places, a.points, a.supporters) == (2 + 1 + 2, 2, 18, 3)
    assert (b.borda, b.points, b.points_share) == (1 + 2, 12, 0.4)
    assert a.importance == pytest.approx(14 / 3, abs=1e-4)
    assert a.feasibility == pytest.approx(10 / 3, abs=1e-4)
    assert a.quadrant == "prioritaire" and b.quadrant == "opportunité"
    assert a.index == pytest.approx(round(round(14 / 3, 4) * round(10 / 3, 4), 4))


def test_points_break_borda_ties_then_code() -> None:
    answers = [
        PrioritisationAnswer("r1", ranking=("B", "A"), points={"A": 3}),
        PrioritisationAnswer("r2", ranking=("A", "B")),
        PrioritisationAnswer("r3", ranking=("C",)),
    ]
    assert [p.item for p in prioritise(answers)] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([1, 5, 1, 5], True),  # standard deviation 2
        ([3, 3, 4, 4], False),
        ([2, 2, 4, 4, 3, 3, 3, 3], True),  # polarised: a quarter ≤ 2, a quarter ≥ 4
        ([1, 5], False),  # too few answers to speak of dissensus
    ],
)
def test_dissensus_flag(scores: list[float], expected: bool) -> None:
    assert is_dissensus(scores) is expected


@pytest.mark.parametrize(
    ("founders", "actors", "participants", "types", "threshold", "expected"),
    [
        (1, 1, 2, 1, 3, "fondateurs et acteurs"),
        (0, 3, 3, 2, 3, "≥ 3 participants de plusieurs types d'acteurs"),
        (0, 3, 3, 1, 3, None),  # one actor type only
        (2, 0, 2, 2, 3, None),  # founders only, below N
        (0, 2, 2, 2, 2, "≥ 2 participants de plusieurs types d'acteurs"),  # N is configurable
        (1, 2, 3, 2, 3, "fondateurs et acteurs ; ≥ 3 participants de plusieurs types d'acteurs"),
    ],
)
def test_shared_issue_rule(founders, actors, participants, types, threshold, expected) -> None:
    assert shared_criterion(founders, actors, participants, types, threshold) == expected


def stats(code: str, founders: set[str], actors: dict[str, str], segments: int = 1) -> CodeStats:
    by_type: dict[str, set[str]] = {}
    for pid, actor_type in actors.items():
        by_type.setdefault(actor_type, set()).add(pid)
    return CodeStats(
        code=Code(code, code.title(), code.split("_")[0]),
        validated_segments=tuple(range(segments)),
        suggested_segments=(),
        founders=frozenset(founders),
        actors=frozenset(p for p in actors if p not in founders),
        by_type={t: frozenset(v) for t, v in sorted(by_type.items())},
    )


def test_shared_issues_ranked_with_who_shares() -> None:
    table = {
        "ENJ_A": stats("ENJ_A", {"f1"}, {"f1": "ESS", "a1": "collectivité"}),
        "ENJ_B": stats("ENJ_B", set(), {"a1": "collectivité", "a2": "SIAE", "a3": "SIAE"}, 5),
        "ENJ_C": stats("ENJ_C", set(), {"a1": "SIAE", "a2": "SIAE", "a3": "SIAE"}),
        "ENJ_D": stats("ENJ_D", {"f1", "f2"}, {"f1": "ESS", "f2": "SIAE"}),
        "BES_X": stats("BES_X", {"f1"}, {"f1": "ESS", "a1": "SIAE"}),  # not an issue
    }
    found = shared_issues(table, threshold=3)
    assert [(i.rank, i.stats.code.id) for i in found] == [(1, "ENJ_B"), (2, "ENJ_A")]
    assert shared_issues(table, threshold=2)[-1].stats.code.id == "ENJ_D"  # 2 founders, 2 types


def test_survey_columns_to_answers() -> None:
    q = PrioritisationQuestions(aliases={"MOB": "MOBILITE"})
    values = {
        "P06[10]": "X",
        "P06[2]": "EMPLOI",
        "P06[1]": "MOB",
        "P06[3]": "",
        "P07[EMPLOI]": "7",
        "P04[MOBILITE]": "A4",
        "P04[EMPLOI]": "",
        "P05[MOBILITE]": "2",
        "P99": "9",
    }
    answer = answer_from_values("r", "acteurs", values, q)
    assert answer.ranking == ("MOBILITE", "EMPLOI", "X")  # rank 10 after rank 2
    assert answer.points == {"EMPLOI": 7.0}
    assert answer.importance == {"MOBILITE": 4.0} and answer.feasibility == {"MOBILITE": 2.0}
    assert [parse_score(v) for v in ("4", "4,5", "AO04", "Sans avis", "")] == [
        4.0,
        4.5,
        4.0,
        None,
        None,
    ]


def test_prioritisation_instrument_is_read() -> None:
    from qualipipe.surveys.instruments import load_instrument
    from qualipipe.synthesize.instruments import prioritisation_questions

    path = REPO / "surveys" / "priorisation_enjeux.yaml"
    q = prioritisation_questions(load_instrument(path))
    assert (q.ranking, q.points, q.importance, q.feasibility) == ("P06", "P07", "P04", "P05")
    assert q.member_answer == ("P01", "MEMB")  # "Membre du pôle": anonymous members' group
    # Ranking answer codes (5 characters at most) point at the same issues as the array rows.
    ranking = load_instrument(path).question("P06")
    for option in ranking.options:
        assert q.labels[q.aliases[option.code]] == option.text


def test_distributions_by_hand() -> None:
    sheets = [
        AnswerSheet("a", "evaluation_diagnostic", {"E03": "4", "E02[X]": "Y", "E02[Y]": ""}),
        AnswerSheet("b", "evaluation_diagnostic", {"E03": "5", "E02[X]": "Y", "E02[Y]": "Y"}),
        AnswerSheet("c", "evaluation_diagnostic", {"E03": "", "E02[X]": "", "E02[Y]": ""}),
    ]
    questions = [
        ClosedQuestion("E03", "Satisfaction", SINGLE, tuple((str(i), str(i)) for i in range(1, 6))),
        ClosedQuestion(
            "E02", "Étapes", MULTIPLE, subquestions=(("X", "Entretien"), ("Y", "Atelier"))
        ),
    ]
    e03, e02 = distributions(questions, sheets)
    assert e03.counts == (("1", 0), ("2", 0), ("3", 0), ("4", 1), ("5", 1))
    assert (e03.respondents, e03.mean, e03.share(1)) == (2, 4.5, 0.5)
    assert e02.counts == (("Entretien", 2), ("Atelier", 1)) and e02.respondents == 3


def test_typical_verbatims_not_just_first() -> None:
    texts = {
        1: "Le festival de musique a eu lieu samedi soir sur la place du village.",
        2: "La mobilité rurale est difficile : pas de bus pour aller travailler.",
        3: "Sans bus ni voiture, la mobilité des jeunes pour travailler est difficile.",
        4: "Les transports manquent : la mobilité pour travailler reste difficile ici.",
    }
    picker = VerbatimPicker(texts)
    candidates = [Candidate(i, t, f"p{i}", True) for i, t in texts.items()]
    chosen = [c.segment_id for c in picker.pick(candidates, 2)]
    assert 1 not in chosen and len(chosen) == 2
    # Validated segments come before suggestions, one per participant first.
    mixed = [
        Candidate(1, texts[1], "p1", True),
        Candidate(2, texts[2], "p2", False),
        Candidate(3, texts[3], "p2", True),
    ]
    assert [c.segment_id for c in picker.pick(mixed, 2)] == [3, 1]
    assert picker.pick(mixed, 2) == picker.pick(list(reversed(mixed)), 2)  # stable


def test_a_bare_answer_is_quoted_only_when_nothing_longer_is_there() -> None:
    # On real transcripts a bare « oui » can sit closest to the code's centroid.
    texts = {
        1: "la mobilité",
        2: "oui oui",
        3: "Pour la mobilité des jeunes il faudrait un bus le matin vers la ville.",
        4: "Le festival de musique a eu lieu samedi soir sur la place du village.",
    }
    picker = VerbatimPicker(texts)
    candidates = [Candidate(i, t, f"p{i}", True) for i, t in texts.items()]
    assert picker.typicality([1, 3])[1] >= picker.typicality([1, 3])[3]  # the bare one is typical
    assert [c.segment_id for c in picker.pick(candidates[:3], 2)][0] == 3
    assert {c.segment_id for c in picker.pick(candidates[:3], 3)} == {1, 2, 3}  # still a fallback
    # Validated still comes first: a long suggestion does not pass a short validated segment.
    mixed = [Candidate(1, texts[1], "p1", True), Candidate(3, texts[3], "p3", False)]
    assert [c.segment_id for c in picker.pick(mixed, 1)] == [1]


def test_shorten_cuts_on_a_word() -> None:
    text = "mot " * 100
    short = shorten(text, 30)
    assert short.endswith("[…]") and len(short) <= 35 and "  " not in short


def test_shorten_ends_a_quote_at_a_sentence_or_clause_end() -> None:
    # A Grand Débat report: the cut keeps whole sentences.
    report = (
        "Les services publics ferment les uns après les autres dans nos villages. La poste "
        "n'ouvre plus que deux matinées par semaine, et la trésorerie a fermé l'an dernier "
        "sans concertation avec les élus ni les habitants du canton."
    )
    assert shorten(report, 120) == (
        "Les services publics ferment les uns après les autres dans nos villages."
    )
    assert shorten(report, 150).endswith("deux matinées par semaine […]")  # at the comma
    # An unpunctuated interview: before the word that opens the next clause.
    oral = (
        "alors moi j'ai travaillé à la mairie pendant vingt ans au service des écoles euh et puis "
        "après j'ai fait autre chose parce que les horaires ne me convenaient plus du tout"
    )
    short = shorten(oral, 120)
    assert (
        short == "alors moi j'ai travaillé à la mairie pendant vingt ans au service des écoles […]"
    )


def test_workbook_writes_verbatims_as_text_never_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from qualipipe.synthesize.model import Table
    from qualipipe.synthesize.writers import Report, write_markdown, write_xlsx

    table = Table(
        key="Essai/[1]",  # characters Excel refuses in sheet names
        title="Essai",
        columns=("Code", "Verbatim", "Part"),
        rows=(("A", '=HYPERLINK("http://x.example","clic")', 0.5), ("B", "@SOMME(A1)", None)),
        percent_columns=frozenset({2}),
    )
    report = Report("Essai", ("ligne",), (table,), tmp_path)
    workbook = load_workbook(write_xlsx(report, tmp_path / "t.xlsx"))
    (name,) = [n for n in workbook.sheetnames if n != "Sommaire"]
    ws = workbook[name]
    assert ws["B5"].value == '=HYPERLINK("http://x.example","clic")' and ws["B5"].data_type == "s"
    assert ws["B6"].data_type == "s" and ws["C5"].number_format == "0%"
    markdown = write_markdown(report, tmp_path / "t.md").read_text(encoding="utf-8")
    assert '| A | =HYPERLINK("http://x.example","clic") | 50\u202f% |' in markdown
    assert "| B | @SOMME(A1) | — |" in markdown


def test_large_numbers_read_the_french_way() -> None:
    from qualipipe.synthesize.cells import french_number

    assert french_number(12345) == "12\u202f345"  # grouped by three, narrow no-break space
    assert french_number(1234567.25) == "1\u202f234\u202f567,25"  # decimal comma
    assert french_number(2021) == "2021"  # a year (four digits) stays as written
    assert french_number(3.5) == "3,5" and french_number(0.25, percent=True) == "25\u202f%"


def test_a_string_of_acknowledgements_is_not_a_quote() -> None:
    # ESLO: « ah oui ah oui certainement mais oui certainement hein certainement » has ten
    # words and sits close to any centroid; it says nothing a reader can use.
    texts = {
        1: "ah oui ah oui certainement mais oui certainement hein certainement",
        2: "on manque de bus le dimanche pour aller travailler à la ville",
    }
    picker = VerbatimPicker(texts)
    candidates = [Candidate(i, t, f"p{i}", True) for i, t in texts.items()]
    assert [c.segment_id for c in picker.pick(candidates, 2)] == [2, 1]


def test_the_same_words_are_quoted_once() -> None:
    # Consultations: several contributors paste the same text; one quote of it is enough.
    pasted = "Supprimer la taxe d'habitation pour tous les ménages, sans condition de revenus."
    texts = {
        1: pasted,
        2: pasted,
        3: "Baisser la TVA sur les produits de première nécessité, l'alimentation d'abord.",
    }
    picker = VerbatimPicker(texts)
    candidates = [Candidate(i, t, f"p{i}", True) for i, t in texts.items()]
    chosen = [c.segment_id for c in picker.pick(candidates, 3)]
    assert sorted(chosen) in ([1, 3], [2, 3])
