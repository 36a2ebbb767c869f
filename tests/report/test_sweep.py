"""The sweep report's statistics on constructed numbers: when pixel accuracy separates a trained loss from the
all-background predictor, and the share below which it separates none."""

from __future__ import annotations

import numpy as np
import pytest

from segbench.report.sweep import accuracy_separation, accuracy_threshold

RNG = np.random.default_rng(0)
BG = 1.0 - RNG.uniform(0.005, 0.015, size=30)  # the all-background predictor's accuracy, 1 - f per image


def _seeds(per_image: np.ndarray, spread: float) -> np.ndarray:
    """(3, N): three seeds around ``per_image``."""
    return per_image[None] + spread * RNG.standard_normal((3, per_image.size))


@pytest.mark.parametrize("seed_level", [True, False])
def test_a_loss_above_the_background_accuracy_is_separated(seed_level: bool) -> None:
    better = _seeds(BG + 0.004, 0.0005)  # fixes 0.4% of the pixels more than painting nothing, in every seed
    tied = _seeds(BG + RNG.choice([-0.002, 0.002], size=BG.size), 0.0005)  # as often above as below
    worse = _seeds(BG - 0.004, 0.0005)  # false positives: below the predictor that paints nothing
    sep = accuracy_separation(np.stack([better, tied, worse]), BG, ("better", "tied", "worse"),
                              seed_level=seed_level, n_boot=400)
    assert sep.separated == (True, False, False)
    assert sep.any
    assert sep.low[0] > 0 and sep.low[1] < 0 < sep.high[1] and sep.high[2] < 0
    np.testing.assert_allclose(sep.diff, [0.004, 0.0, -0.004], atol=0.0015)


def test_a_clear_interval_is_not_enough_without_the_test() -> None:
    # 4 images: the interval of a constant +0.01 lead excludes 0, but a Wilcoxon test on 4 pairs cannot reject
    bg = np.full(4, 0.99)
    sep = accuracy_separation((bg + 0.01)[None, None], bg, ("a",), seed_level=False, n_boot=200)
    assert sep.low[0] > 0 and sep.p_holm[0] >= 0.05 and sep.separated == (False,)


def test_nothing_separated_at_tiny_shares_gives_no_lead() -> None:
    sep = accuracy_separation(np.stack([_seeds(BG, 0.001)]), np.stack([BG] * 3), ("ce",), seed_level=True,
                              n_boot=300)
    assert not sep.any


@pytest.mark.parametrize(("shares", "separated", "expected"), [
    ((0.3, 0.1, 0.03, 0.01, 0.003), (True, True, True, False, False), (0.03, 0.01)),
    ((0.003, 0.3, 0.03, 0.1, 0.01), (False, True, True, True, False), (0.03, 0.01)),  # any order in
    ((0.3, 0.1, 0.03), (True, False, True), (0.03, None)),  # separated at the smallest share: below the sweep
    ((0.3, 0.1), (False, False), (None, 0.3)),  # separated nowhere
    ((0.3, 0.1, 0.03, 0.01), (True, False, True, False), (0.03, 0.01)),  # the last separating share counts
])
def test_accuracy_threshold(shares: tuple[float, ...], separated: tuple[bool, ...],
                            expected: tuple[float | None, float | None]) -> None:
    assert accuracy_threshold(shares, separated) == expected


def test_accuracy_threshold_checks_lengths() -> None:
    with pytest.raises(ValueError, match="2 shares but 1 separation flags"):
        accuracy_threshold((0.3, 0.1), (True,))
