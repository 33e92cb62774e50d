"""Cached per-segment NLP features (qualipipe.coding.features)."""

from __future__ import annotations

import numpy as np

from qualipipe.coding import features as features_module
from qualipipe.coding.features import compute_features
from qualipipe.store import active_segments
from qualipipe.text import fold_key as fold
from tests.conftest import insert_lines_source

TEXTS = [
    "Nous coopérons déjà avec les agriculteurs du canton pour la restauration collective.",
    "Le financement reste notre principal souci : les subventions arrivent tard.",
    "Il n'y a pas de problème de mobilité ici, tout le monde a une voiture.",
]


def _study_with_segments(make_study, texts):

    study = make_study()
    with study.transaction() as conn:
        insert_lines_source(conn, "e1.txt", texts, territory_id="auxois")
    return study


def test_features_hold_lemmas_pos_flags_and_vector(make_study, nlp) -> None:
    study = _study_with_segments(make_study, TEXTS)
    feats = compute_features(study, active_segments(study.conn), progress=False)
    first = feats[0]
    assert "coopérer" in first.lemmas
    assert first.pos[first.lemmas.index("coopérer")] == "VERB"
    assert "cooperer" in first.content_lemmas()
    assert "le" not in first.content_lemmas()  # stop words are flagged
    assert first.vector.shape == (300,) and np.linalg.norm(first.vector) > 0
    assert len(first.words) == len(first.lemmas) == len(first.is_stop) == len(first.is_alpha)


def test_second_run_reads_the_cache_and_never_calls_spacy(make_study, nlp, monkeypatch) -> None:
    study = _study_with_segments(make_study, TEXTS)
    segments = active_segments(study.conn)
    first = compute_features(study, segments, progress=False)
    cached_rows = study.conn.execute("SELECT COUNT(*) FROM nlp_cache").fetchone()[0]
    assert cached_rows == len(TEXTS)

    # From now on any use of the spaCy pipeline fails the test; texts seen are recorded.
    seen: list[str] = []

    class RecordingPipeline:
        def pipe(self, texts, **kwargs):
            texts = list(texts)
            seen.extend(texts)
            return nlp.pipe(texts, **kwargs)

    monkeypatch.setattr(features_module, "coding_pipeline", lambda: RecordingPipeline())
    second = compute_features(study, segments, progress=False)
    assert seen == []
    assert [f.lemmas for f in second] == [f.lemmas for f in first]
    assert np.allclose(second[0].vector, first[0].vector)

    # One new text: only that text goes through spaCy.
    new_text = "Les coopérations entre structures de l'ESS se développent."
    third = compute_features(study, [*segments, new_text], progress=False)
    assert seen == [new_text]
    assert "coopération" in third[-1].lemmas


def test_fold_strips_accents_and_case() -> None:
    assert fold("Coopération Économique") == "cooperation economique"


def test_duplicate_texts_are_annotated_once(make_study, nlp) -> None:
    study = _study_with_segments(make_study, [TEXTS[0], TEXTS[0], TEXTS[1]])
    feats = compute_features(study, active_segments(study.conn), progress=False)
    assert feats[0].lemmas == feats[1].lemmas
    assert study.conn.execute("SELECT COUNT(*) FROM nlp_cache").fetchone()[0] == 2
