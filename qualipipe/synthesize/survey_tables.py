"""Tables built from survey answers: workshop-2 priorities and the evaluation of the diagnostic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qualipipe.records import Role
from qualipipe.synthesize.evaluation import (
    SINGLE,
    ClosedQuestion,
    Distribution,
    distributions,
    infer_questions,
    questions_from_instrument,
)
from qualipipe.synthesize.model import AnswerSheet, Cell, SynthesisOptions, Table, TerritoryData
from qualipipe.synthesize.priorities import (
    ItemPriority,
    PrioritisationAnswer,
    PrioritisationQuestions,
    answer_from_values,
    has_prioritisation,
    prioritise,
)
from qualipipe.synthesize.tables import participant_label
from qualipipe.synthesize.verbatims import Candidate, VerbatimPicker, format_verbatim

SECTION_PRIORITIES = "Priorisation des enjeux (atelier 2)"
SECTION_EVALUATION = "Évaluation du diagnostic"
GROUP_FOUNDERS = "membres du pôle (fondateurs)"
GROUP_ACTORS = "acteurs du territoire"
GROUP_UNKNOWN = "non rattachés"


def respondent_group(data: TerritoryData, sheet: AnswerSheet, q: PrioritisationQuestions) -> str:
    """By the participant's role; for an anonymous response, by its "member of the PTCE" answer."""
    participant = data.participant(sheet.participant_id)
    if participant is not None:
        return GROUP_FOUNDERS if participant.role == Role.FOUNDER else GROUP_ACTORS
    if q.member_answer is not None:
        question, member = q.member_answer
        answer = sheet.values.get(question, "").strip()
        if answer:
            return GROUP_FOUNDERS if answer == member else GROUP_ACTORS
    return GROUP_UNKNOWN


def prioritisation_answers(
    data: TerritoryData, sheets: Sequence[AnswerSheet], q: PrioritisationQuestions
) -> list[PrioritisationAnswer]:
    return [
        answer_from_values(s.respondent, respondent_group(data, s, q), s.values, q)
        for s in sheets
        if has_prioritisation(s.values, q)
    ]


def item_label(code: str, q: PrioritisationQuestions, data: TerritoryData) -> str:
    if code in q.labels:
        return q.labels[code]
    known = data.codebook.by_id().get(code)
    return known.label if known else code


def priorities_table(
    ranked: Sequence[ItemPriority], q: PrioritisationQuestions, data: TerritoryData, n: int
) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (
            rank,
            p.item,
            item_label(p.item, q, data),
            p.borda,
            p.first_places,
            p.points,
            p.points_share,
            p.supporters,
            p.importance,
            p.feasibility,
            p.index,
            p.quadrant,
            p.importance_std,
            "oui" if p.dissensus else "non",
            p.top_scores,
            p.answers,
        )
        for rank, p in enumerate(ranked, start=1)
    ]
    return Table(
        key="Priorités",
        title="Priorisation des enjeux : classement agrégé",
        columns=(
            "Rang",
            "Code",
            "Enjeu",
            "Score de Borda",
            "Classé 1er",
            "Points",
            "Part des points",
            "Participants donnant des points",
            "Importance (moy.)",
            "Faisabilité (moy.)",
            "Indice importance × faisabilité",
            "Quadrant",
            "Écart-type de l'importance",
            "Dissensus",
            "Importance 5 (réponses)",
            "Réponses (importance)",
        ),
        rows=tuple(rows),
        note=(
            f"{n} réponse(s) au questionnaire de priorisation. Borda : avec k rangs, le 1er reçoit "
            "k points, le k-ième 1 point, un enjeu non classé 0. Quadrant : moyennes comparées au "
            "milieu de l'échelle (3). Dissensus : écart-type de l'importance ≥ 1,2, ou avis "
            "polarisés (au moins un quart ≤ 2 et un quart ≥ 4), à partir de 3 réponses. "
            "« Importance 5 » : nombre de participants qui jugent l'enjeu très important, pour ne "
            "pas perdre un enjeu crucial pour quelques-uns derrière une moyenne basse."
        ),
        percent_columns=frozenset({6}),
        section=SECTION_PRIORITIES,
        id_columns=frozenset({1}),
        detail_columns=frozenset({6, 10, 12, 15}),
    )


def priorities_by_group_table(
    answers: Sequence[PrioritisationAnswer], q: PrioritisationQuestions, data: TerritoryData
) -> Table:
    order = [GROUP_FOUNDERS, GROUP_ACTORS, GROUP_UNKNOWN]
    groups = [g for g in order if any(a.group == g for a in answers)]
    per_group = {
        g: {
            p.item: p
            for p in prioritise([a for a in answers if a.group == g], positions=q.rank_positions)
        }
        for g in groups
    }
    items = sorted({item for ranked in per_group.values() for item in ranked})
    columns = ["Code", "Enjeu"]
    for g in groups:
        n = sum(a.group == g for a in answers)
        columns += [f"Borda — {g} (n={n})", f"Points — {g}", f"Importance — {g}"]
    rows = []
    for item in items:
        row: list[Cell] = [item, item_label(item, q, data)]
        for g in groups:
            p = per_group[g].get(item)
            row += [p.borda, p.points, p.importance] if p else [0, 0.0, None]
        rows.append(tuple(row))
    return Table(
        key="Priorités par groupe",
        title="Priorisation : fondateurs et acteurs comparés",
        columns=tuple(columns),
        rows=tuple(rows),
        note="Mêmes règles de calcul, groupe par groupe, pour voir où les avis convergent.",
        section=SECTION_PRIORITIES,
        id_columns=frozenset({0}),
    )


def distribution_table(key: str, title: str, dists: Sequence[Distribution], section: str) -> Table:
    rows = []
    for d in dists:
        for label, n in d.counts:
            rows.append((d.question, d.title, label, n, d.share(n), d.respondents, d.mean))
    return Table(
        key=key,
        title=title,
        columns=("Question", "Intitulé", "Réponse", "Effectif", "Part", "Base", "Moyenne"),
        rows=tuple(rows),
        note="Part : effectif rapporté à la base (répondants à la question ; pour les cases à "
        "cocher, tous les répondants au questionnaire).",
        percent_columns=frozenset({4}),
        section=section,
        id_columns=frozenset({0}),
        optional_columns=frozenset({6}),
        long_columns=frozenset({1}),
        grouped_columns=frozenset({1, 5, 6}),
    )


def agreement_distribution(
    q: PrioritisationQuestions, sheets: Sequence[AnswerSheet]
) -> list[Distribution]:
    question = ClosedQuestion(
        q.agreement,
        "Accord avec la priorisation collective (1 = pas du tout, 5 = tout à fait)",
        SINGLE,
        tuple((str(i), str(i)) for i in range(1, 6)),
    )
    return distributions([question], sheets)


def evaluation_questions(
    instrument: Any | None, sheets: Sequence[AnswerSheet]
) -> list[ClosedQuestion]:
    return (
        questions_from_instrument(instrument) if instrument is not None else infer_questions(sheets)
    )


def evaluation_distributions(
    instrument: Any | None, sheets: Sequence[AnswerSheet]
) -> list[Distribution]:
    return distributions(evaluation_questions(instrument, sheets), sheets)


def coded_answers_table(
    data: TerritoryData,
    instrument_name: str,
    picker: VerbatimPicker,
    pseudonymize: Callable[[str], str],
    options: SynthesisOptions,
    question_texts: dict[str, str],
) -> Table:
    """Free-text answers of one instrument: per question and code, answers and respondents."""
    by_key: dict[tuple[str, str], list[Candidate]] = {}
    for c in data.codings:
        segment = data.segments[c.segment_id]
        if segment.instrument != instrument_name:
            continue
        by_key.setdefault((segment.question_code, c.code_id), []).append(
            Candidate(c.segment_id, segment.text, segment.participant_id, c.validated)
        )
    codes = data.codebook.by_id()
    order = {code.id: i for i, code in enumerate(data.codebook.codes)}
    rows = []
    for (question, code_id), candidates in sorted(
        by_key.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 10**6))
    ):
        validated = [c for c in candidates if c.validated]
        quotes = [
            format_verbatim(
                c,
                participant_label(
                    data.participant(c.participant_id), keep_names=options.keep_names
                ),
                pseudonymize,
                options.quote_chars,
            )
            for c in picker.pick(candidates, options.verbatims_per_code)
        ]
        rows.append(
            (
                question,
                question_texts.get(question, ""),
                code_id,
                codes[code_id].label if code_id in codes else code_id,
                len({c.segment_id for c in validated}),
                len({c.segment_id for c in candidates if not c.validated}),
                len({c.participant_id for c in candidates if c.participant_id}),
                "\n".join(quotes),
            )
        )
    return Table(
        key="Évaluation réponses libres",
        title="Évaluation : réponses libres codées",
        columns=(
            "Question",
            "Intitulé",
            "Code",
            "Libellé",
            "Segments validés",
            "Segments suggérés",
            "Répondants",
            "Verbatims représentatifs",
        ),
        rows=tuple(rows),
        note="Réponses aux questions ouvertes, codées comme les entretiens.",
        section=SECTION_EVALUATION,
        id_columns=frozenset({0, 2}),
        optional_columns=frozenset({4, 5}),
        long_columns=frozenset({1, 7}),
        grouped_columns=frozenset({1}),
    )
