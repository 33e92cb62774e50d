"""Per-code quality: decision counts and cross-validated precision/recall against decisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from qualipipe.codebook.model import load_codebook
from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch
from qualipipe.coding.evaluate import (
    code_quality_table,
    decision_counts,
    fold_assignment,
    render_code_quality,
)
from qualipipe.records import Action, Decision, Participant, Role, Segment, Source, SourceKind
from qualipipe.store import (
    append_decision,
    insert_segments,
    insert_source,
    now_iso,
    save_codebook_version,
    upsert_participant,
)

PTCE_CODEBOOK = Path(__file__).resolve().parents[1] / "codebooks" / "ptce.yaml"

FUNDING = [
    "On cherche des subventions pour financer le poste de coordination du pôle.",
    "Sans financement de la région, on ne pourra pas payer l'animatrice l'an prochain.",
    "Le dossier de subvention au département a été refusé, il faut trouver d'autres soutiens.",
    "Les fondations privées pourraient financer une partie de l'investissement dans l'atelier.",
    "Notre budget dépend à moitié des subventions publiques, c'est fragile.",
    "On a obtenu un financement européen pour trois ans, mais la trésorerie reste tendue.",
]
MOBILITY = [
    "Il n'y a qu'un bus le matin, les salariés sans voiture ne peuvent pas venir travailler.",
    "Le transport à la demande ne dessert pas les hameaux, la mobilité est le premier frein.",
    "Beaucoup de jeunes n'ont pas le permis, sans voiture on ne trouve pas d'emploi ici.",
    "On voudrait lancer du covoiturage entre villages, les déplacements coûtent trop cher.",
    "La gare a fermé, il faut prendre la voiture pour tout, même pour aller au marché.",
]
INTERVIEWER = "Et pour le financement, vous avez des subventions ?"

# code -> (accept, reject, add), counted by hand from the decisions written in `coded_study`.
EXPECTED_COUNTS = {
    "BES_FINANCEMENT": (6, 3, 1),  # 4 on funding segments, 1 later overturned, 1 interviewer turn
    "ENJ_MOBILITE": (4, 3, 1),
}


@pytest.fixture
def coded_study(make_study, nlp):
    """One interview, 11 segments + an interviewer turn, decisions of two coders."""
    study = make_study()
    turns = [(INTERVIEWER, True), *[(t, False) for t in FUNDING + MOBILITY]]
    text = "\n".join(t for t, _ in turns)
    segments, cursor = [], 0
    for turn, is_interviewer in turns:
        segments.append(
            Segment(start=cursor, end=cursor + len(turn), text=turn, is_interviewer=is_interviewer)
        )
        cursor += len(turn) + 1
    with study.transaction() as conn:
        save_codebook_version(conn, load_codebook(PTCE_CODEBOOK), PTCE_CODEBOOK.read_text("utf-8"))
        upsert_participant(
            conn, Participant(id="A1", territory_id="auxois", role=Role.ACTOR, pseudonym="Acteur 1")
        )
        source_id = insert_source(
            conn,
            Source(
                key="a1.txt",
                kind=SourceKind.TRANSCRIPT,
                text=text,
                participant_id="A1",
                territory_id="auxois",
            ),
        )
        ids = insert_segments(conn, source_id, segments)
        interviewer, funding, mobility = ids[0], ids[1:7], ids[7:]

        def decide(segment_id: int, code: str, action: Action, coder: str = "alice") -> None:
            append_decision(
                conn, Decision(segment_id=segment_id, action=action, coder=coder, code_id=code)
            )

        # BES_FINANCEMENT: accepted on 4 funding segments, added on the 5th, one under its old id.
        conn.execute(
            "INSERT INTO code_redirects (codebook_version_id, old_code, new_code, change, created_at) "
            "VALUES (1, 'BES_FINANCES', 'BES_FINANCEMENT', 'renommé', ?)",
            (now_iso(),),
        )
        for segment_id in funding[:3]:
            decide(segment_id, "BES_FINANCEMENT", Action.ACCEPT)
        decide(funding[3], "BES_FINANCES", Action.ACCEPT)  # old id, follows the rename
        decide(funding[4], "BES_FINANCEMENT", Action.ADD, coder="bruno")
        # Rejected on two mobility segments; accepted then rejected (latest wins) on a third.
        decide(mobility[0], "BES_FINANCEMENT", Action.REJECT)
        decide(mobility[1], "BES_FINANCEMENT", Action.REJECT)
        decide(mobility[2], "BES_FINANCEMENT", Action.ACCEPT)
        decide(mobility[2], "BES_FINANCEMENT", Action.REJECT, coder="bruno")
        # ENJ_MOBILITE: accepted on 4 mobility segments, added on the 5th, rejected on 3 funding ones.
        for segment_id in mobility[:4]:
            decide(segment_id, "ENJ_MOBILITE", Action.ACCEPT)
        decide(mobility[4], "ENJ_MOBILITE", Action.ADD)
        for segment_id in funding[:3]:
            decide(segment_id, "ENJ_MOBILITE", Action.REJECT)
        # Interviewer turns count as decisions but are never evaluated; comments are not decisions.
        decide(interviewer, "BES_FINANCEMENT", Action.ACCEPT)
        append_decision(
            conn,
            Decision(
                segment_id=funding[5], action=Action.COMMENT, coder="alice", comment="à revoir"
            ),
        )
    study.ids = {"funding": funding, "mobility": mobility, "interviewer": interviewer}  # type: ignore[attr-defined]
    return study


def test_decision_counts_follow_renames_and_skip_comments(coded_study) -> None:
    counts = decision_counts(coded_study)
    for code, (accepted, rejected, added) in EXPECTED_COUNTS.items():
        assert (counts[code]["accept"], counts[code]["reject"], counts[code]["add"]) == (
            accepted,
            rejected,
            added,
        )
    assert "BES_FINANCES" not in counts


class KeywordSuggester:
    """A transparent rule (word in the segment => code shown), so that outcomes can be hand-counted."""

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words
        self.training_sizes: list[int] = []

    def fit(self, codes: CodeIndex, labelled: LabelledSet, feeds: np.ndarray) -> KeywordSuggester:
        self.ids = codes.ids
        self.training_sizes.append(len(labelled))
        return self

    def shown(self, batch: SegmentBatch, feeds: np.ndarray) -> np.ndarray:
        return np.array(
            [
                [code in self.words and self.words[code] in text.lower() for code in self.ids]
                for text in batch.texts
            ],
            dtype=bool,
        )


class MemorySuggester:
    """Shows a code only on segments whose exact text it was trained on as applied: a leak detector."""

    def fit(self, codes: CodeIndex, labelled: LabelledSet, feeds: np.ndarray) -> MemorySuggester:
        self.known = {
            (text, j)
            for i, text in enumerate(labelled.batch.texts)
            for j in np.flatnonzero(labelled.labels[i])
        }
        self.n_codes = len(codes.ids)
        return self

    def shown(self, batch: SegmentBatch, feeds: np.ndarray) -> np.ndarray:
        return np.array(
            [[(text, j) in self.known for j in range(self.n_codes)] for text in batch.texts],
            dtype=bool,
        )


def by_code(table):
    return {q.code_id: q for q in table}


def test_precision_recall_match_hand_counts(coded_study) -> None:
    # "financ" appears in funding[0,1,3,5] (and in no mobility segment); "voiture" in mobility[0,2,4].
    rule = KeywordSuggester({"BES_FINANCEMENT": "financ", "ENJ_MOBILITE": "voiture"})
    quality = by_code(code_quality_table(coded_study, suggester=rule, n_folds=3))

    funding = quality["BES_FINANCEMENT"]
    # Applied: funding[0..4] (funding[5] has only a comment: not decided). Shown on funding 0,1,3.
    # Rejected: mobility[0,1,2]: never shown. -> TP 3, FN 2 (funding[2], funding[4]), FP 0, TN 3.
    assert (
        funding.true_positives,
        funding.false_negatives,
        funding.false_positives,
        funding.true_negatives,
    ) == (
        3,
        2,
        0,
        3,
    )
    assert funding.precision == 1.0
    assert funding.recall == pytest.approx(3 / 5)
    mobility = quality["ENJ_MOBILITE"]
    # Applied: mobility[0..4], shown on 0, 2, 4 -> TP 3, FN 2; rejected funding[0..2], none shown.
    assert (mobility.true_positives, mobility.false_negatives, mobility.false_positives) == (
        3,
        2,
        0,
    )
    assert mobility.recall == pytest.approx(3 / 5)
    assert (mobility.accepted, mobility.rejected, mobility.added) == EXPECTED_COUNTS["ENJ_MOBILITE"]
    # 11 reviewed non-interviewer segments (funding[5] has a comment only): 10 are evaluated,
    # in 3 folds: each training set holds the other two folds.
    assert sorted(rule.training_sizes) == sorted(10 - np.bincount(fold_assignment(10, 3)))
    # A code without decisions has nothing to be measured on.
    untouched = quality["MOT_VALEURS"]
    assert untouched.decisions == 0 and untouched.precision is None and untouched.recall is None


def test_held_out_segments_are_never_in_the_training_folds(coded_study) -> None:
    quality = by_code(code_quality_table(coded_study, suggester=MemorySuggester(), n_folds=5))
    for code in EXPECTED_COUNTS:
        assert quality[code].true_positives == 0  # it would be > 0 if a held-out text leaked
        assert quality[code].recall == 0.0
        assert quality[code].precision is None


def test_real_pipeline_is_cross_validated_on_every_decided_pair(coded_study) -> None:
    quality = by_code(code_quality_table(coded_study, n_folds=3))
    funding, mobility = quality["BES_FINANCEMENT"], quality["ENJ_MOBILITE"]
    # Every explicit decision on an evaluated segment is scored once: 5 applied and 3 rejected.
    assert funding.true_positives + funding.false_negatives == 5
    assert funding.false_positives + funding.true_negatives == 3
    assert mobility.true_positives + mobility.false_negatives == 5
    assert mobility.false_positives + mobility.true_negatives == 3
    # On such plain segments the codebook's expressions alone find most of them.
    assert funding.recall is not None and funding.recall >= 0.6
    assert mobility.recall is not None and mobility.recall >= 0.6


def test_render_code_quality_in_french(coded_study) -> None:
    rule = KeywordSuggester({"BES_FINANCEMENT": "financ"})
    table = code_quality_table(coded_study, suggester=rule, n_folds=3)
    console = Console(record=True, width=200)
    console.print(
        render_code_quality([q for q in table if q.code_id in ("BES_FINANCEMENT", "MOT_VALEURS")])
    )
    text = console.export_text()
    assert "Précision" in text and "Rappel" in text
    funding_line = next(line for line in text.splitlines() if "BES_FINANCEMENT" in line)
    assert "100%" in funding_line and "60%" in funding_line
    empty_line = next(line for line in text.splitlines() if "MOT_VALEURS" in line)
    assert "—" in empty_line


def test_no_codebook_no_rows(make_study) -> None:
    assert code_quality_table(make_study()) == []
