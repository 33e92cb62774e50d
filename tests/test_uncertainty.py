"""One uncertainty definition: the review order and the coding engine agree, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from qualipipe.coding.uncertainty import uncertainty
from qualipipe.records import Suggestion
from qualipipe.review.common import segment_uncertainty, suggestion_uncertainty


def test_uncertainty_by_hand() -> None:
    # Threshold 0.3: 0.3 - 0.15 is half the room below it (0.3); 0.65 - 0.3 half the room above (0.7).
    assert suggestion_uncertainty(0.3, 0.3) == pytest.approx(1.0)
    assert suggestion_uncertainty(0.15, 0.3) == pytest.approx(0.5)
    assert suggestion_uncertainty(0.65, 0.3) == pytest.approx(0.5)
    assert suggestion_uncertainty(0.0, 0.3) == pytest.approx(0.0)  # a certain "no"
    assert suggestion_uncertainty(1.0, 0.3) == pytest.approx(0.0)  # a certain "yes"
    assert suggestion_uncertainty(0.7, 0.8) == pytest.approx(0.875)  # 1 - 0.1 / 0.8


def test_review_order_and_coding_engine_give_the_same_value() -> None:
    # A segment takes its most uncertain code; the engine's matrix form agrees row by row.
    limits = {"A": 0.3, "B": 0.8}
    suggestions = [Suggestion(1, "A", 0.65, "combiné", ""), Suggestion(1, "B", 0.7, "combiné", "")]
    assert segment_uncertainty(suggestions, limits) == pytest.approx(0.875)
    matrix = uncertainty(np.array([[0.65, 0.7], [0.0, 1.0]]), np.array([0.3, 0.8]))
    assert matrix.max(axis=1) == pytest.approx([0.875, 0.0])
