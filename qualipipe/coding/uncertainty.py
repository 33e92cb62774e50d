"""How much an analyst's decision on a suggestion would teach the model: one definition.

A score on its code's threshold is the most uncertain (1): the model could go either way. A score
at the bound on its side of the threshold (0 below it, 1 above it) is certain (0). In between,
uncertainty falls linearly with the distance to the threshold, measured as a fraction of the room
on that side. So both sides span [0, 1] whatever the threshold: with a threshold of 0.3, a score of
0 is a certain "no" (0), not "57 % uncertain" as a single span of max(t, 1 - t) would say.

The coding engine stores, per segment, the largest value over the codebook's codes; the review
export orders segments by it (and computes the same value from stored suggestions for segments
the engine has not scored).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def uncertainty(scores: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """Element-wise uncertainty of calibrated scores against their codes' thresholds, in [0, 1]."""
    p = np.asarray(scores, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    room = np.where(p >= t, 1.0 - t, t)
    closeness = 1.0 - np.abs(p - t) / np.where(room > 0, room, 1.0)
    return np.clip(closeness, 0.0, 1.0)
