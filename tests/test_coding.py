"""Code suggestions (qualipipe.coding): lexicon, negation, survey feeds, decisions untouched, CLI.

Small studies built in tests with a hand-written codebook; real SQLite and the real spaCy model.
"""

from __future__ import annotations

import json

import pytest

from qualipipe.coding.base import CodeIndex, LabelledSet
from qualipipe.coding.features import compute_features
from qualipipe.coding.lexicon import LexiconSuggester
from qualipipe.coding.suggest import suggest_codes, uncertainty_by_segment
from qualipipe.errors import QualipipeError
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Decision,
    SourceKind,
)
from qualipipe.store import (
    append_decision,
    get_meta,
    save_codebook_version,
)
from tests.conftest import insert_lines_source

CODEBOOK = Codebook(
    name="test",
    version="1",
    codes=(
        Code("MOT", "Motivations", "MOT", codable=False),
        Code(
            "MOT_COOPERER",
            "Faire ensemble",
            "MOT",
            parent="MOT",
            definition="Envie de coopérer entre structures du territoire.",
            expressions=("coopérer", "coopération"),
        ),
        Code("BES", "Besoins", "BES", codable=False),
        Code(
            "BES_FINANCEMENT",
            "Financement",
            "BES",
            parent="BES",
            definition="Besoin d'argent : subventions, prêts, fonds propres.",
            expressions=("subvention", "manque de financement"),
        ),
        Code(
            "BES_OFFRE",
            "Offre absente",
            "BES",
            parent="BES",
            expressions=("pas d'offre",),
        ),
        Code("ENJ", "Enjeux territoriaux", "ENJ", codable=False),
        Code(
            "ENJ_MOBILITE",
            "Mobilité",
            "ENJ",
            parent="ENJ",
            definition="Difficultés de déplacement : transports, permis, voiture.",
            expressions=("problème de mobilité", "transport en commun"),
        ),
    ),
)

TEXTS = {
    "cooperer": "Avec les maraîchers, nous coopérons déjà pour livrer les cantines.",
    "cooperations": "Les coopérations entre nos structures se sont multipliées depuis deux ans.",
    "negation": "Il n'y a pas de problème de mobilité ici, tout le monde a une voiture.",
    "affirmation": "Le vrai problème de mobilité, ce sont les jeunes sans permis.",
    "offre": "Sur le canton il n'y a pas d'offre de garde pour les horaires décalés.",
    "subvention": "On attend encore la subvention de la région pour embaucher.",
}


def add_source(study, key, texts, *, kind=SourceKind.TRANSCRIPT, interviewer=(), feeds=None):
    """Insert one source whose segments are `texts`; returns the new segment ids."""
    metadata = {"feeds": feeds} if feeds is not None else {}
    with study.transaction() as conn:
        return insert_lines_source(
            conn,
            key,
            texts,
            interviewer=interviewer,
            kind=kind.value,
            territory_id="auxois",
            metadata=metadata,
        )


@pytest.fixture
def study(make_study, nlp):
    opened = make_study()
    with opened.transaction() as conn:
        save_codebook_version(conn, CODEBOOK, json.dumps([c.id for c in CODEBOOK.codes]))
    return opened


def suggestions_of(study, segment_id: int) -> dict[str, tuple[float, str, str]]:
    return {
        r["code_id"]: (r["score"], r["method"], r["explanation"])
        for r in study.conn.execute("SELECT * FROM suggestions WHERE segment_id = ?", (segment_id,))
    }


def fitted_lexicon(study) -> LexiconSuggester:
    codes = CodeIndex.from_codebook(CODEBOOK)
    analyse = lambda texts: compute_features(study, list(texts), progress=False)  # noqa: E731
    return LexiconSuggester(analyse).fit(codes, LabelledSet.empty(len(codes.codes)))


def test_lexicon_finds_expressions_through_inflection_and_names_the_words(study) -> None:
    lexicon = fitted_lexicon(study)
    column = CodeIndex.from_codebook(CODEBOOK).column()["MOT_COOPERER"]
    for key, written in (("cooperer", "coopérons"), ("cooperations", "coopérations")):
        features = compute_features(study, [TEXTS[key]], progress=False)[0]
        matches = lexicon.find(features)[column]
        assert any(m.found == written and not m.negated for m in matches)

    ids = add_source(study, "e1.txt", [TEXTS["cooperer"], TEXTS["cooperations"]])
    suggest_codes(study, progress=False)
    for segment_id, written in zip(ids, ("coopérons", "coopérations"), strict=False):
        score, method, reason = suggestions_of(study, segment_id)["MOT_COOPERER"]
        assert method == "lexique" and f"« {written} »" in reason
        assert "coopér" in reason and score >= get_meta(study.conn, "thresholds")["MOT_COOPERER"]


def test_negated_expression_is_not_a_statement_of_the_code(study) -> None:
    negated, stated = add_source(study, "e1.txt", [TEXTS["negation"], TEXTS["affirmation"]])
    suggest_codes(study, progress=False)
    assert "ENJ_MOBILITE" not in suggestions_of(study, negated)
    assert "ENJ_MOBILITE" in suggestions_of(study, stated)
    assert "problème de mobilité" in suggestions_of(study, stated)["ENJ_MOBILITE"][2]


def test_negative_expression_matches_only_when_negated_in_the_text(study) -> None:
    lexicon = fitted_lexicon(study)
    column = CodeIndex.from_codebook(CODEBOOK).column()["BES_OFFRE"]
    with_negation, without = compute_features(
        study, [TEXTS["offre"], "Notre offre de garde couvre tout le canton."], progress=False
    )
    assert [m.negated for m in lexicon.find(with_negation)[column]] == [False]
    assert column not in lexicon.find(without)


def test_interviewer_segments_get_no_suggestion(study) -> None:
    question, answer = add_source(
        study, "e1.txt", [TEXTS["subvention"], TEXTS["subvention"] + " Vraiment."], interviewer=(0,)
    )
    report = suggest_codes(study, progress=False)
    assert suggestions_of(study, question) == {}
    assert "BES_FINANCEMENT" in suggestions_of(study, answer)
    assert report.segments_processed == 1 and report.skipped_interviewer == 1


def test_survey_answer_is_coded_within_the_families_its_question_feeds(study) -> None:
    text = TEXTS["subvention"]
    (transcript,) = add_source(study, "e1.txt", [text])
    (feeds_bes,) = add_source(
        study, "survey:a:1:P01", [text], kind=SourceKind.SURVEY, feeds=["BES"]
    )
    (feeds_mot,) = add_source(
        study, "survey:a:1:P02", [text], kind=SourceKind.SURVEY, feeds=["MOT"]
    )
    suggest_codes(study, progress=False)
    assert "BES_FINANCEMENT" in suggestions_of(study, transcript)
    assert "BES_FINANCEMENT" in suggestions_of(study, feeds_bes)
    assert "BES_FINANCEMENT" not in suggestions_of(study, feeds_mot)


def test_suggestions_carry_versions_thresholds_and_uncertainty(study) -> None:
    ids = add_source(study, "e1.txt", list(TEXTS.values()))
    report = suggest_codes(study, progress=False)
    rows = study.conn.execute("SELECT * FROM suggestions").fetchall()
    assert rows and report.suggestions == len(rows)
    version_id = study.conn.execute("SELECT MAX(id) FROM codebook_versions").fetchone()[0]
    assert {r["codebook_version_id"] for r in rows} == {version_id}
    assert {r["model_version"] for r in rows} == {report.model_version}
    thresholds = get_meta(study.conn, "thresholds")
    assert set(thresholds) == {c.id for c in CODEBOOK.codable()}
    assert all(r["score"] >= thresholds[r["code_id"]] for r in rows)
    uncertainty = uncertainty_by_segment(study)
    assert set(uncertainty) == set(ids) and all(0.0 <= u <= 1.0 for u in uncertainty.values())
    assert sum(report.suggestions_per_family.values()) == len(rows)


def test_only_new_segments_keeps_earlier_suggestions(study) -> None:
    (first,) = add_source(study, "e1.txt", [TEXTS["subvention"]])
    suggest_codes(study, progress=False)
    before = suggestions_of(study, first)
    (second,) = add_source(study, "e2.txt", [TEXTS["cooperations"]])
    report = suggest_codes(study, only_new=True, progress=False)
    assert report.segments_processed == 1
    assert suggestions_of(study, first) == before
    assert "MOT_COOPERER" in suggestions_of(study, second)


def test_rerun_never_touches_decisions_and_does_not_resuggest_decided_codes(study) -> None:
    ids = add_source(study, "e1.txt", list(TEXTS.values()))
    suggest_codes(study, progress=False)
    with study.transaction() as conn:
        append_decision(conn, Decision(ids[0], Action.REJECT, "Alice", code_id="MOT_COOPERER"))
        append_decision(conn, Decision(ids[5], Action.ACCEPT, "Alice", code_id="BES_FINANCEMENT"))
        append_decision(conn, Decision(ids[2], Action.ADD, "Alice", code_id="ENJ_MOBILITE"))
        append_decision(conn, Decision(ids[1], Action.COMMENT, "Alice", comment="à revoir"))
    snapshot = [tuple(r) for r in study.conn.execute("SELECT * FROM decisions ORDER BY id")]
    suggest_codes(study, progress=False)
    suggest_codes(study, progress=False)
    assert [tuple(r) for r in study.conn.execute("SELECT * FROM decisions ORDER BY id")] == snapshot
    assert "MOT_COOPERER" not in suggestions_of(study, ids[0])


def test_no_codebook_and_unknown_territory_give_french_errors(make_study, study) -> None:
    empty = make_study(name="vide")
    with pytest.raises(QualipipeError, match="Aucun codebook"):
        suggest_codes(empty, progress=False)
    with pytest.raises(QualipipeError, match="Territoire « lune » inconnu.*auxois"):
        suggest_codes(study, territory="lune", progress=False)


def test_territory_option_limits_the_run(study) -> None:
    (auxois,) = add_source(study, "e1.txt", [TEXTS["subvention"]])
    report = suggest_codes(study, territory="Besançon Nord", progress=False)
    assert report.segments_processed == 0 and suggestions_of(study, auxois) == {}


def test_cli_code_prints_a_summary(study, capsys) -> None:
    from qualipipe.cli import main

    add_source(study, "e1.txt", list(TEXTS.values()))
    with pytest.raises(SystemExit) as exited:
        main(["code", "-s", str(study.root), "--territory", "auxois"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Codage terminé (territoire auxois)" in out and "6 segments" in out
    assert "BES" in out and "Total" in out

    with pytest.raises(SystemExit) as exited:
        main(["code", "-s", str(study.root), "--territory", "lune"])
    assert exited.value.code == 1
    assert "Territoire « lune » inconnu" in capsys.readouterr().err


def test_rerun_from_the_snapshot_gives_the_same_suggestions(study) -> None:
    add_source(study, "e1.txt", list(TEXTS.values()))
    suggest_codes(study, progress=False)
    first = [
        tuple(r)
        for r in study.conn.execute(
            "SELECT segment_id, code_id, score, explanation FROM suggestions ORDER BY 1, 2"
        )
    ]
    snapshots = study.conn.execute("SELECT COUNT(*) FROM coding_snapshots").fetchone()[0]
    assert snapshots == 1
    report = suggest_codes(study, progress=False)
    again = [
        tuple(r)
        for r in study.conn.execute(
            "SELECT segment_id, code_id, score, explanation FROM suggestions ORDER BY 1, 2"
        )
    ]
    assert again == first and report.texts_analysed == 0


def test_tfidf_from_stored_counts_equals_the_vectorizer(study) -> None:
    import numpy as np

    from qualipipe.coding.snapshot import bag_counts
    from qualipipe.coding.supervised import SupervisedSuggester, bag_of_lemmas

    features = compute_features(study, list(TEXTS.values()), progress=False)
    codes = CodeIndex.from_codebook(CODEBOOK)
    labels = np.zeros((len(features), len(codes.codes)), dtype=np.uint8)
    labels[[0, 1], codes.column()["MOT_COOPERER"]] = 1
    from qualipipe.coding.base import SegmentBatch

    batch = SegmentBatch(list(range(len(features))), list(TEXTS.values()), features)
    model = SupervisedSuggester().fit(codes, LabelledSet(batch, labels))
    counts, vocabulary = bag_counts([bag_of_lemmas(f) for f in features])
    expected = model.vectorizer.transform([bag_of_lemmas(f) for f in features]).toarray()
    assert np.allclose(model._tfidf_from_counts(counts, vocabulary).toarray(), expected)
