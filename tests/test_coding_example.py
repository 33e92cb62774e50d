"""Suggestions on the example study (examples/etude-demo): real ingest, codebook, analyst decisions.

The study is ingested once for the module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qualipipe.coding.base import CodeIndex
from qualipipe.coding.suggest import labelled_segments, suggest_codes
from qualipipe.coding.supervised import SupervisedSuggester
from qualipipe.store import current_codebook, current_coding, open_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"
DECISIONS = EXAMPLE / "revue" / "decisions_analyste.csv"


def run_cli(*args: str) -> None:
    from qualipipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


@pytest.fixture(scope="module")
def example(example_module_copy: Path):
    """The whole example study ingested, codebook loaded, analyst decisions imported."""
    from qualipipe.review.importer import import_decisions

    study = open_study(example_module_copy)
    result = import_decisions(study, DECISIONS)
    assert result.rejected == ()
    yield study
    study.close()


def source_of_segments(study) -> dict[int, str]:
    return {
        r[0]: r[1]
        for r in study.conn.execute(
            "SELECT s.id, src.key FROM segments s JOIN sources src ON src.id = s.source_id"
        )
    }


def test_supervised_ranks_accepted_codes_above_rejected_on_held_out_segments(example) -> None:
    study = example
    codes = CodeIndex.from_codebook(current_codebook(study.conn))
    column = codes.column()
    sources = source_of_segments(study)
    keys = sorted(set(sources[s] for s, _ in current_coding(study.conn)))
    accepted_scores: list[float] = []
    rejected_scores: list[float] = []
    # Two folds by interview: the model never sees the held-out interviews' decisions.
    for fold in (0, 1):
        held_keys = set(keys[fold::2])
        held = [s for s in sources if sources[s] in held_keys]
        train = [s for s in sources if sources[s] not in held_keys]
        model = SupervisedSuggester().fit(codes, labelled_segments(study, codes, train))
        test = labelled_segments(study, codes, held)
        scores = model.suggest(test.batch).scores
        row = {sid: i for i, sid in enumerate(test.batch.segment_ids)}
        for (segment_id, code_id), applied in current_coding(study.conn).items():
            if segment_id in row and code_id in column:
                value = scores[row[segment_id], column[code_id]]
                if not np.isnan(value):
                    (accepted_scores if applied else rejected_scores).append(float(value))
    assert len(accepted_scores) >= 10 and len(rejected_scores) >= 5
    # Pairwise: an accepted (segment, code) outranks a rejected one most of the time (AUC).
    wins = sum(a > r for a in accepted_scores for r in rejected_scores)
    auc = wins / (len(accepted_scores) * len(rejected_scores))
    assert auc > 0.6


def test_code_on_the_example_keeps_every_decision_and_explains_in_french(example) -> None:
    study = example
    snapshot = [tuple(r) for r in study.conn.execute("SELECT * FROM decisions ORDER BY id")]
    assert len(snapshot) >= 100
    first = suggest_codes(study, progress=False)
    second = suggest_codes(study, progress=False)
    assert [tuple(r) for r in study.conn.execute("SELECT * FROM decisions ORDER BY id")] == snapshot
    assert first.reviewed_segments == second.reviewed_segments > 50
    assert second.texts_analysed == 0  # unchanged texts: read from the cache
    assert second.combination == "calibré sur les décisions"
    rows = study.conn.execute("SELECT code_id, explanation FROM suggestions").fetchall()
    assert rows and all(r["explanation"].startswith("Score ") for r in rows)
    decided = set(current_coding(study.conn))
    suggested = {
        (r[0], r[1]) for r in study.conn.execute("SELECT segment_id, code_id FROM suggestions")
    }
    assert not suggested & decided
    # No real name of a participant appears in any reason (quoted excerpts are pseudonymised).
    names = [r[0] for r in study.conn.execute("SELECT real_name FROM participant_identities")]
    text = " ".join(r["explanation"] for r in rows)
    assert names and not any(name in text for name in names)
