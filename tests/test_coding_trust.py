"""Suggestions an analyst can trust (issue 14): whole-phrase lexicon, codebook scopes, learning
from rejections, threshold floors.

Real SQLite studies, the real spaCy model (loaded once by the session fixture).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import coding_quality as bench
from qualipipe.codebook.model import codebook_to_yaml
from qualipipe.coding.base import CodeIndex, LabelledSet
from qualipipe.coding.combine import THRESHOLD_FLOOR, tune_thresholds
from qualipipe.coding.features import compute_features
from qualipipe.coding.lexicon import LexiconSuggester
from qualipipe.coding.policy import REJECTIONS_TO_MUTE
from qualipipe.coding.suggest import suggest_codes
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Decision,
    Participant,
    Role,
    Scope,
    SourceKind,
)
from qualipipe.store import append_decision, get_meta, save_codebook_version, upsert_participant
from tests.conftest import insert_lines_source, require_shared

CODEBOOK = Codebook(
    name="confiance",
    version="1",
    codes=(
        Code(
            "MOT",
            "Motivations des fondateurs",
            "MOT",
            codable=False,
            applies_to=Scope(roles=("fondateur",), sources=("transcript",)),
        ),
        Code(
            "MOT_ENSEMBLE",
            "Faire ensemble",
            "MOT",
            parent="MOT",
            definition="La coopération comme moyen d'être plus fort.",
            expressions=("coopérer", "unir nos forces"),
        ),
        Code("TRANS", "Transversal", "TRANS", codable=False),
        Code(
            "TRANS_COOPERATIONS",
            "Coopérations existantes",
            "TRANS",
            parent="TRANS",
            definition="Coopérations qui existent déjà.",
            expressions=("on travaille avec",),
        ),
        Code("ENJ", "Enjeux", "ENJ", codable=False),
        Code(
            "ENJ_SERVICES",
            "Services",
            "ENJ",
            parent="ENJ",
            definition="Accès aux services.",
            expressions=("services à la personne",),
        ),
        Code(
            "ENJ_GOUVERNANCE",
            "Gouvernance",
            "ENJ",
            parent="ENJ",
            definition="Qui décide.",
            expressions=("pouvoir",),
        ),
        Code(
            "ENJ_ALIMENTATION",
            "Nourriture",
            "ENJ",
            parent="ENJ",
            definition="Se nourrir.",
            expressions=("alimentation",),
        ),
        Code(
            "ENJ_MOBILITE",
            "Mobilité",
            "ENJ",
            parent="ENJ",
            definition="Se déplacer.",
            expressions=("transport en commun", "car"),
        ),
    ),
)


@pytest.fixture
def study(make_study, nlp):
    opened = make_study()
    with opened.transaction() as conn:
        # The YAML document is what the study keeps of a loaded codebook, scopes included.
        save_codebook_version(conn, CODEBOOK, codebook_to_yaml(CODEBOOK))
    return opened


def found_phrases(study, text: str) -> dict[str, list[str]]:
    codes = CodeIndex.from_codebook(CODEBOOK)
    analyse = lambda texts: compute_features(study, list(texts), progress=False)  # noqa: E731
    lexicon = LexiconSuggester(analyse, use_labels=False).fit(
        codes, LabelledSet.empty(len(codes.codes))
    )
    features = compute_features(study, [text], progress=False)[0]
    return {
        codes.ids[column]: [m.found for m in matches if not m.negated]
        for column, matches in lexicon.find(features).items()
    }


@pytest.mark.parametrize(
    "text",
    [
        "Les travaux de voirie et le travail des élus avancent.",  # « on travaille avec »
        "Les services de la mairie ferment à midi.",  # « services à la personne »
        "Le pouvoir d'achat des ménages baisse.",  # « pouvoir »
        "Les élus peuvent décider, puis voter.",  # « pouvoir » (a verb, lemmatised « pouvoir »)
        "Il vient à pied car il habite tout près.",  # « car » (the bus, not the conjunction)
        "Le carburant qui alimente les mouvements coûte cher.",  # « alimentation »
    ],
)
def test_part_of_an_expression_or_a_neighbouring_word_does_not_match(study, text) -> None:
    assert found_phrases(study, text) == {}


@pytest.mark.parametrize(
    ("text", "code", "quoted"),
    [
        ("On travaillait avec la ressourcerie.", "TRANS_COOPERATIONS", "On travaillait avec"),
        ("Le service à la personne recrute.", "ENJ_SERVICES", "service à la personne"),
        ("Les élus gardent le pouvoir.", "ENJ_GOUVERNANCE", "pouvoir"),
        ("L'alimentation des enfants compte.", "ENJ_ALIMENTATION", "alimentation"),
        ("Les cars scolaires partent tôt.", "ENJ_MOBILITE", "cars"),
    ],
)
def test_whole_expression_still_matches_through_inflection(study, text, code, quoted) -> None:
    assert found_phrases(study, text) == {code: [quoted]}


LABELS_ONLY = Codebook(
    name="libellés",
    version="1",
    codes=(
        Code("Q", "Quels impôts baisser ?", "Q", codable=False),
        Code("Q_TVA", "TVA (produits bio, sains, locaux)", "Q", parent="Q"),
        Code("Q_SOLIDARITE", "Pauvreté et solidarité", "Q", parent="Q"),
        Code("Q_EMPLOI", "Créer des emplois locaux et inclusifs", "Q", parent="Q"),
    ),
)


def label_matches(study, text: str) -> dict[str, list[str]]:
    """What a codebook made of labels only (no expressions) finds in `text`, per code."""
    codes = CodeIndex.from_codebook(LABELS_ONLY)
    analyse = lambda texts: compute_features(study, list(texts), progress=False)  # noqa: E731
    lexicon = LexiconSuggester(analyse).fit(codes, LabelledSet.empty(len(codes.codes)))
    features = compute_features(study, [text], progress=False)[0]
    return {
        codes.ids[column]: sorted({m.pattern for m in matches})
        for column, matches in lexicon.find(features).items()
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A coordinated noun stands for the code on its own…
        ("Plus de solidarité entre générations.", {"Q_SOLIDARITE": ["solidarité"]}),
        ("La pauvreté augmente.", {"Q_SOLIDARITE": ["Pauvreté"]}),
        ("Une TVA plus basse sur les produits bio.", {"Q_TVA": ["TVA", "produits bio"]}),
        # …a qualifier taken out of its label does not.
        ("Des plats sains et des commerces locaux.", {}),
        ("Une société plus inclusive.", {}),
    ],
)
def test_label_parts_are_what_the_label_names_not_its_qualifiers(study, text, expected) -> None:
    assert label_matches(study, text) == expected


def test_a_whole_label_is_quoted_as_the_codebook_writes_it(study) -> None:
    found = label_matches(study, "Une TVA sur les produits bio sains et locaux.")
    assert found == {"Q_TVA": ["TVA", "TVA (produits bio, sains, locaux)", "produits bio"]}


def add_source(study, key: str, lines: list[str], kind: SourceKind, participant=None) -> list[int]:
    with study.transaction() as conn:
        if participant is not None:
            upsert_participant(conn, participant)
        return insert_lines_source(
            conn,
            key,
            lines,
            kind=kind.value,
            territory_id="auxois",
            participant_id=participant.id if participant else None,
        )


def suggested(study, segment_id: int) -> dict[str, str]:
    return {
        r["code_id"]: r["explanation"]
        for r in study.conn.execute(
            "SELECT code_id, explanation FROM suggestions WHERE segment_id = ?", (segment_id,)
        )
    }


SAYING = "Il faut coopérer entre structures, et les transports en commun manquent."


def test_founders_motivations_are_not_suggested_on_a_citizens_written_contribution(study) -> None:
    founder = Participant("F01", "auxois", Role.FOUNDER, "Fondatrice A")
    (interview,) = add_source(study, "entretien.txt", [SAYING], SourceKind.TRANSCRIPT, founder)
    (contribution,) = add_source(study, "contribution-1", [SAYING], SourceKind.WRITTEN)

    report = suggest_codes(study, progress=False)

    assert "MOT_ENSEMBLE" in suggested(study, interview)
    assert "MOT_ENSEMBLE" not in suggested(study, contribution)
    # Codes without a scope still apply to the contribution, with the phrase quoted.
    assert "« transports en commun »" in suggested(study, contribution)["ENJ_MOBILITE"]
    assert report.out_of_scope == 1


def test_a_code_rejected_again_and_again_is_no_longer_suggested_until_accepted(study) -> None:
    lines = [f"Dans la commune {n}, les transports en commun sont rares." for n in range(12)]
    ids = add_source(study, "entretien.txt", lines, SourceKind.TRANSCRIPT)
    suggest_codes(study, progress=False)
    assert all("ENJ_MOBILITE" in suggested(study, i) for i in ids)

    with study.transaction() as conn:
        for segment_id in ids[:REJECTIONS_TO_MUTE]:
            append_decision(conn, Decision(segment_id, Action.REJECT, "Claire", "ENJ_MOBILITE"))
    report = suggest_codes(study, progress=False)
    assert report.muted_codes == ("ENJ_MOBILITE",)
    assert not any("ENJ_MOBILITE" in suggested(study, i) for i in ids)

    with study.transaction() as conn:
        append_decision(conn, Decision(ids[-1], Action.ACCEPT, "Claire", "ENJ_MOBILITE"))
    report = suggest_codes(study, progress=False)
    assert report.muted_codes == ()
    assert any("ENJ_MOBILITE" in suggested(study, i) for i in ids[REJECTIONS_TO_MUTE:-1])


def test_a_few_rejections_in_a_row_raise_the_threshold(study) -> None:
    lines = [f"Au hameau {n}, aucun transport en commun le dimanche." for n in range(4)]
    ids = add_source(study, "entretien.txt", lines, SourceKind.TRANSCRIPT)
    before = suggest_codes(study, progress=False).thresholds["ENJ_MOBILITE"]
    with study.transaction() as conn:
        for segment_id in ids[:2]:
            append_decision(conn, Decision(segment_id, Action.REJECT, "Claire", "ENJ_MOBILITE"))
    after = suggest_codes(study, progress=False).thresholds["ENJ_MOBILITE"]
    assert after > before


def test_thresholds_never_fall_under_their_floor(study) -> None:
    # Decisions that would pull thresholds down to almost nothing: every accepted segment scored
    # very low.
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.0, 0.1, size=(60, 3))
    labels = (rng.uniform(size=(60, 3)) < 0.5).astype(np.uint8)
    thresholds = tune_thresholds(probabilities, labels, ["A", "B", "C"])
    assert min(thresholds.values()) >= THRESHOLD_FLOOR

    # And in a study after a review session, as stored for the review export.
    ids = add_source(
        study,
        "entretien.txt",
        [f"Phrase numéro {n} sans rien de codable." for n in range(12)],
        SourceKind.TRANSCRIPT,
    )
    with study.transaction() as conn:
        for segment_id in ids:
            append_decision(conn, Decision(segment_id, Action.ADD, "Claire", "ENJ_SERVICES"))
    suggest_codes(study, progress=False)
    assert min(get_meta(study.conn, "thresholds").values()) >= THRESHOLD_FLOOR


def test_a_question_does_not_go_silent_after_its_first_decisions(tmp_path) -> None:
    # A real consultation question (42 answers, 22 human categories): zero-shot, the codebook's
    # labels find half of the held-out answers' codes. After an analyst's first 20 decisions,
    # the model fitted on them alone learned mostly that few codes apply to an answer; the prior
    # must keep its say, or the question gets no suggestion at all until many more decisions.
    data = require_shared("data", "granddebat_annotation_fiscalite", "responses.jsonl")
    (question,) = [q for q in bench.read_questions(data) if q.id == "QUXVlc3Rpb246MjA2"]
    scores = bench.run_question(question, [20], 0, tmp_path, baselines=False)[20]
    pairs = list(zip(scores.gold, scores.predicted, strict=True))
    suggested = sum(len(predicted) for _, predicted in pairs)
    right = sum(len(gold & predicted) for gold, predicted in pairs)
    assert suggested >= 3, "no suggestion left on the held-out answers after 20 decisions"
    assert right / suggested >= 0.6
