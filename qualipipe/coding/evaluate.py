"""How good are the suggestions of each code? Cross-validated against the analysts' decisions.

For every codable code: how many decisions the analysts made on it (accept / reject / add, every
row of the history, codes followed through renames and merges), and the estimated precision and
recall of its suggestions. The estimate is honest: the reviewed segments are split into folds; for
each fold the whole suggestion pipeline (lexicon, semantic and supervised suggesters, combiner,
per-code thresholds — the coding engineer's components) is retrained on the other folds only, and
its suggestions on the held-out segments are compared with what the analysts decided there.

Only explicit decisions count: on a held-out segment, a code the analysts applied (latest accept
or add) is a positive, a code they rejected (latest reject) is a negative; codes they did not
decide on are left out. Precision = suggested and applied / suggested and decided; recall =
suggested and applied / applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
from rich.table import Table

from qualipipe.coding import suggest
from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch
from qualipipe.coding.features import compute_features
from qualipipe.pseudonymize import Policy, pseudonymizer_for
from qualipipe.records import Action
from qualipipe.store import Study, code_redirect_map, current_codebook, current_coding

DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class CodeQuality:
    """How one code's suggestions fare against the analysts' decisions (counts, then held-out scores)."""

    code_id: str
    label: str
    family: str
    accepted: int  # decision rows, whole history
    rejected: int
    added: int
    true_positives: int = 0  # held-out (segment, code) pairs: suggested and applied
    false_positives: int = 0  # suggested and rejected
    false_negatives: int = 0  # applied but not suggested
    true_negatives: int = 0  # rejected and not suggested

    @property
    def decisions(self) -> int:
        return self.accepted + self.rejected + self.added

    @property
    def precision(self) -> float | None:
        shown = self.true_positives + self.false_positives
        return self.true_positives / shown if shown else None

    @property
    def recall(self) -> float | None:
        applied = self.true_positives + self.false_negatives
        return self.true_positives / applied if applied else None


class FoldSuggester(Protocol):
    """What cross-validation needs: learn from reviewed segments, say which codes it would show."""

    def fit(self, codes: CodeIndex, labelled: LabelledSet, feeds: np.ndarray) -> Self: ...

    def shown(self, batch: SegmentBatch, feeds: np.ndarray) -> np.ndarray:
        """(n_segments, n_codes) booleans: suggestions at or above the code's threshold."""
        ...


class PipelineSuggester:
    """The real `qualipipe code` pipeline (qualipipe.coding.suggest), retrained on each fold."""

    def __init__(self, study: Study) -> None:
        self._analyse = suggest.analyser(study)
        self._show = pseudonymizer_for(study, Policy.REASON)
        self._models: suggest.FittedModels | None = None

    def fit(self, codes: CodeIndex, labelled: LabelledSet, feeds: np.ndarray) -> PipelineSuggester:
        self._models = suggest.fit_models(codes, labelled, feeds, self._analyse, self._show)
        return self

    def shown(self, batch: SegmentBatch, feeds: np.ndarray) -> np.ndarray:
        assert self._models is not None, "fit() first"
        _, probabilities = suggest.score_batch(self._models, batch, feeds)
        return probabilities >= suggest.thresholds_row(self._models)


def decision_counts(study: Study) -> dict[str, Counter[str]]:
    """code -> {accept, reject, add: number of decision rows}, through codebook redirects."""
    redirects = code_redirect_map(study.conn)
    counts: dict[str, Counter[str]] = {}
    for row in study.conn.execute(
        "SELECT code_id, action FROM decisions WHERE code_id IS NOT NULL AND action != ?",
        (Action.COMMENT.value,),
    ):
        code = redirects.get(row["code_id"], row["code_id"])
        counts.setdefault(code, Counter())[row["action"]] += 1
    return counts


def fold_assignment(n: int, n_folds: int, random_state: int = 0) -> np.ndarray:
    """Fold number of each of n items: a fixed shuffle dealt round-robin (balanced, reproducible)."""
    order = np.random.default_rng(random_state).permutation(n)
    folds = np.empty(n, dtype=int)
    folds[order] = np.arange(n) % max(1, n_folds)
    return folds


def code_quality_table(
    study: Study,
    *,
    n_folds: int = DEFAULT_FOLDS,
    random_state: int = 0,
    suggester: FoldSuggester | None = None,
    progress: bool = False,
) -> list[CodeQuality]:
    """Per codable code of the current codebook: decisions and cross-validated precision/recall."""
    codebook = current_codebook(study.conn)
    if codebook is None:
        return []
    codes = CodeIndex.from_codebook(codebook)
    counts = decision_counts(study)
    coding = current_coding(study.conn)
    decided_segments = {segment_id for segment_id, _ in coding}
    rows = [
        r
        for r in suggest.segment_rows(study.conn)
        if r.id in decided_segments and not r.retired and not r.is_interviewer
    ]
    model = suggester or PipelineSuggester(study)
    matrices = _confusion(study, codes, rows, coding, model, n_folds, random_state, progress)
    table = []
    for j, code in enumerate(codes.codes):
        count = counts.get(code.id, Counter())
        tp, fp, fn, tn = (int(m[j]) for m in matrices)
        table.append(
            CodeQuality(
                code_id=code.id,
                label=code.label,
                family=code.family,
                accepted=count[Action.ACCEPT.value],
                rejected=count[Action.REJECT.value],
                added=count[Action.ADD.value],
                true_positives=tp,
                false_positives=fp,
                false_negatives=fn,
                true_negatives=tn,
            )
        )
    return table


def _confusion(
    study: Study,
    codes: CodeIndex,
    rows: Sequence[suggest.SegmentRow],
    coding: dict[tuple[int, str], bool],
    model: FoldSuggester,
    n_folds: int,
    random_state: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-code TP, FP, FN, TN summed over the held-out folds."""
    n_codes = len(codes.codes)
    tp, fp, fn, tn = (np.zeros(n_codes, dtype=int) for _ in range(4))
    folds = min(n_folds, len(rows))
    if folds < 2:
        return tp, fp, fn, tn
    features = compute_features(study, [r.text for r in rows], progress=progress)
    by_id = {r.id: f for r, f in zip(rows, features, strict=True)}
    labelled_all = suggest.labelled_set(study.conn, codes, list(rows), by_id)
    feeds_all = suggest.feeds_matrix(codes, rows)
    # Explicit decisions only: +1 applied, -1 rejected, 0 not decided.
    column = codes.column()
    gold = np.zeros((len(rows), n_codes), dtype=np.int8)
    index = {r.id: i for i, r in enumerate(rows)}
    for (segment_id, code_id), applied in coding.items():
        if segment_id in index and code_id in column:
            gold[index[segment_id], column[code_id]] = 1 if applied else -1
    assignment = fold_assignment(len(rows), folds, random_state)
    for k in range(folds):
        held = [int(i) for i in np.flatnonzero(assignment == k)]
        kept = [int(i) for i in np.flatnonzero(assignment != k)]
        model.fit(codes, labelled_all.subset(kept), feeds_all[kept])
        shown = np.asarray(model.shown(labelled_all.batch.subset(held), feeds_all[held])) > 0
        hidden = np.logical_not(shown)
        truth = gold[held]
        tp += ((truth == 1) & shown).sum(axis=0)
        fp += ((truth == -1) & shown).sum(axis=0)
        fn += ((truth == 1) & hidden).sum(axis=0)
        tn += ((truth == -1) & hidden).sum(axis=0)
    return tp, fp, fn, tn


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def render_code_quality(table: Sequence[CodeQuality]) -> Table:
    """The per-code quality table, in French, for `qualipipe status`."""
    rendered = Table(
        title="Qualité des suggestions par code (validation croisée sur les décisions)"
    )
    for header in (
        "Code",
        "Libellé",
        "Acceptées",
        "Rejetées",
        "Ajoutées",
        "Précision",
        "Rappel",
        "Paires évaluées",
    ):
        justify = "left" if header in ("Code", "Libellé") else "right"
        rendered.add_column(header, justify=justify)  # type: ignore[arg-type]
    for q in table:
        evaluated = q.true_positives + q.false_positives + q.false_negatives + q.true_negatives
        rendered.add_row(
            q.code_id,
            q.label,
            str(q.accepted),
            str(q.rejected),
            str(q.added),
            _percent(q.precision),
            _percent(q.recall),
            str(evaluated),
        )
    return rendered
