"""One calibrated score per (segment, code) from the suggesters' signals, and per-code thresholds.

Before enough decisions exist, a fixed prior combination is used (a lexicon hit or a clearly
closest code definition is likely). Once analysts have reviewed segments, a logistic regression
("stacker") learns how much each signal is worth on this study, from out-of-fold signals of the
reviewed segments, so its output is a probability calibrated on the analysts' own decisions.
Thresholds are then tuned per code on those decisions for precision at the review stage: the
lowest threshold at which the out-of-fold suggestions reach PRECISION_TARGET (the share of
suggestions an analyst accepts), never under THRESHOLD_FLOOR however few the decisions. The prior
keeps a share of the say that shrinks as reviewed segments accumulate (see PRIOR_STRENGTH).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from qualipipe.coding.base import SuggesterOutput

SIGNALS = (
    "lexicon",
    "lexicon_weak",
    "lexicon_negated",
    "semantic",
    "semantic_z",
    "semantic_top",
    "semantic_nearest",
    "supervised",
    "supervised_available",
    "feeds_in",
    "feeds_out",
)
# Prior weights (log-odds) used until decisions allow fitting the stacker. An expression matched
# as a whole phrase is a strong clue: only a clearly unrelated meaning (z < -1.4) vetoes it. A
# weak match (a label part that only repeats its family's or question's words, or that several
# codes share) is not enough even when the code is the segment's closest definition: the meaning
# must also stand out clearly (z above ~1.4). Answers echo their question: on the training part of
# the Grand Débat benchmark (never its held-out answers), such matches were right < 1 time in 10.
PRIOR_WEIGHTS = {
    "lexicon": 4.0,
    "lexicon_weak": 1.0,
    "lexicon_negated": -2.5,
    "semantic_z": 0.7,
    "semantic_top": 1.0,
    "feeds_in": 0.3,
    "feeds_out": -3.0,  # as strong against as a whole-phrase expression is for
}
PRIOR_BIAS = -3.0
DEFAULT_THRESHOLD = 0.5
MIN_SEGMENTS_FOR_STACKER = 10
MIN_POSITIVES_FOR_STACKER = 5
MIN_POSITIVES_FOR_OWN_THRESHOLD = 5
# How many reviewed segments the prior is worth. The stacker fitted on n reviewed segments speaks
# with weight n / (n + PRIOR_STRENGTH) in log-odds, the prior with the rest: fitted on a handful
# of decisions, the stacker learns mostly the base rate (few codes apply to a segment), and alone
# it would cut every suggestion of a question after its first 20 decisions.
PRIOR_STRENGTH = 10


def signal_tensor(
    lexicon: SuggesterOutput,
    semantic: SuggesterOutput,
    supervised: SuggesterOutput,
    feeds: np.ndarray,
) -> np.ndarray:
    """(n_segments, n_codes, len(SIGNALS)) matrix of the suggesters' signals."""
    cosine = semantic.scores
    if cosine.shape[1] > 1:
        spread = cosine.std(axis=1, keepdims=True)
        z = (cosine - cosine.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
    else:
        z = np.zeros_like(cosine)
    top = (z == z.max(axis=1, keepdims=True)) & (z > 0) if z.size else z.astype(bool)
    available = ~np.isnan(supervised.scores)
    columns = {
        "lexicon": lexicon.scores,
        "lexicon_weak": lexicon.extra["lexicon_weak"],
        "lexicon_negated": lexicon.extra["lexicon_negated"],
        "semantic": cosine,
        "semantic_z": z,
        "semantic_top": top.astype(float),
        "semantic_nearest": semantic.extra["semantic_nearest"],
        "supervised": np.where(available, supervised.scores, 0.0),
        "supervised_available": available.astype(float),
        "feeds_in": (feeds > 0).astype(float),
        "feeds_out": (feeds < 0).astype(float),
    }
    return np.stack([columns[name] for name in SIGNALS], axis=-1)


def prior_logit(signals: np.ndarray) -> np.ndarray:
    logit = np.full(signals.shape[:-1], PRIOR_BIAS)
    for name, weight in PRIOR_WEIGHTS.items():
        logit += weight * signals[..., SIGNALS.index(name)]
    return logit


def prior_probability(signals: np.ndarray) -> np.ndarray:
    return expit(prior_logit(signals))


@dataclass
class Combiner:
    """Maps signals to a calibrated probability; prior until fitted on reviewed segments."""

    stacker: LogisticRegression | None = None
    reviewed_: int = 0  # reviewed segments the stacker was fitted on

    def fit(self, signals: np.ndarray, labels: np.ndarray) -> Combiner:
        """`signals` (n, codes, S) out-of-fold for reviewed segments, `labels` (n, codes) 0/1."""
        self.stacker = None
        self.reviewed_ = len(labels)
        if len(labels) < MIN_SEGMENTS_FOR_STACKER or labels.sum() < MIN_POSITIVES_FOR_STACKER:
            return self
        x = signals.reshape(-1, signals.shape[-1])
        y = labels.reshape(-1)
        if y.min() == y.max():
            return self
        with threadpool_limits(1):
            self.stacker = LogisticRegression(C=1.0, max_iter=500).fit(x, y)
        return self

    def probability(self, signals: np.ndarray) -> np.ndarray:
        if self.stacker is None:
            return prior_probability(signals)
        flat = signals.reshape(-1, signals.shape[-1])
        with threadpool_limits(1):
            learned = self.stacker.decision_function(flat).reshape(signals.shape[:-1])
        weight = self.reviewed_ / (self.reviewed_ + PRIOR_STRENGTH)
        return expit(weight * learned + (1.0 - weight) * prior_logit(signals))

    @property
    def kind(self) -> str:
        return "calibré sur les décisions" if self.stacker is not None else "a priori"


PRECISION_TARGET = 0.6  # at least 6 suggestions out of 10 accepted at review
THRESHOLD_FLOOR = 0.35  # a threshold never falls under this, whatever the decisions say
THRESHOLD_CEILING = 0.95
MIN_SUGGESTED_FOR_PRECISION = 3  # a precision measured on fewer suggestions is not trusted


def precision_threshold(
    scores: np.ndarray, labels: np.ndarray, target: float = PRECISION_TARGET
) -> float | None:
    """Lowest threshold whose suggestions reach `target` precision on (score, label) pairs.

    Among cuts between distinct scores with at least MIN_SUGGESTED_FOR_PRECISION suggestions
    kept, the one with the most accepted segments whose precision reaches the target. When no cut
    reaches it, the cut of best F0.5 (precision weighs more than recall). None without positives.
    """
    positives = int(labels.sum())
    if positives == 0 or scores.size == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    true_pos = np.cumsum(sorted_labels)
    kept = np.arange(1, len(sorted_scores) + 1)
    precision = true_pos / kept
    # Only cut between distinct scores; place the threshold at the last kept score.
    distinct = np.r_[sorted_scores[1:] < sorted_scores[:-1], True]
    reaching = (
        distinct & (precision >= target) & (kept >= min(MIN_SUGGESTED_FOR_PRECISION, positives))
    )
    if reaching.any():
        best = int(np.flatnonzero(reaching)[-1])
    else:
        recall = true_pos / positives
        b2 = 0.25
        denominator = b2 * precision + recall
        f = (1 + b2) * precision * recall / np.where(denominator > 0, denominator, 1)
        best = int(np.argmax(np.where(distinct, f, -1)))
    return float(sorted_scores[best])


def with_floor(threshold: float) -> float:
    return float(np.clip(threshold, THRESHOLD_FLOOR, THRESHOLD_CEILING))


def tune_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, code_ids: list[str]
) -> dict[str, float]:
    """Per-code thresholds from reviewed segments (common one for sparsely documented codes)."""
    if len(labels) == 0:
        return {code: DEFAULT_THRESHOLD for code in code_ids}
    overall = precision_threshold(probabilities.ravel(), labels.ravel())
    fallback = with_floor(overall if overall is not None else DEFAULT_THRESHOLD)
    thresholds = {}
    for j, code in enumerate(code_ids):
        own = None
        if int(labels[:, j].sum()) >= MIN_POSITIVES_FOR_OWN_THRESHOLD:
            own = precision_threshold(probabilities[:, j], labels[:, j])
        thresholds[code] = round(with_floor(own) if own is not None else fallback, 4)
    return thresholds
