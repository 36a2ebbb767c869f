"""The two-stage (seeds, then images) paired bootstrap of :func:`segbench.stats.hierarchical_bootstrap_ci`."""

from __future__ import annotations

import numpy as np
import pytest

from segbench import stats


def test_one_seed_has_the_image_level_estimate_and_a_similar_ci() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 40))
    h = stats.hierarchical_bootstrap_ci(x, n_boot=2000)
    p = stats.paired_bootstrap_ci(x[:, 0], n_boot=2000)
    np.testing.assert_allclose(h.estimate, p.estimate)
    np.testing.assert_allclose(h.diff_estimate, p.diff_estimate)
    np.testing.assert_allclose(h.low, p.low, atol=0.03)
    np.testing.assert_allclose(h.diff_high, p.diff_high, atol=0.03)


def test_identical_losses_differ_by_exactly_zero() -> None:
    x = np.random.default_rng(1).random((1, 4, 10))
    h = stats.hierarchical_bootstrap_ci(np.concatenate([x, x]), n_boot=300)
    assert h.diff_low[1] == h.diff_high[1] == 0.0


def test_seed_to_seed_spread_widens_the_ci() -> None:
    """Images agree perfectly across losses within a seed, but each seed shifts loss 1 by a random amount:
    the image-level CI of the seed means is narrow, the hierarchical one holds the seed spread."""
    rng = np.random.default_rng(2)
    base = rng.random((1, 1, 50)).repeat(4, axis=1)
    shift = np.array([0.10, -0.06, 0.08, -0.04])[None, :, None]
    x = np.concatenate([base, base + shift])
    h = stats.hierarchical_bootstrap_ci(x, n_boot=2000)
    p = stats.paired_bootstrap_ci(np.nanmean(x, axis=1), n_boot=2000)
    assert p.diff_low[1] == pytest.approx(p.diff_high[1])  # every image moves by the same mean shift 0.02
    assert h.diff_low[1] < 0 < h.diff_high[1]  # seeds disagree on the sign: no claim
    assert (h.diff_high[1] - h.diff_low[1]) > 0.1


def test_false_claims_stay_rare_when_only_seeds_differ() -> None:
    """No true difference, seed effects (SD 0.05) larger than the image noise of the mean: the image-level
    bootstrap of seed means claims a difference far more often than 5 %, the hierarchical one does not."""
    rng = np.random.default_rng(3)
    claims_h = claims_p = 0
    reps = 60
    for _ in range(reps):
        img = rng.random((1, 1, 30))
        x = img + rng.normal(0, 0.05, size=(2, 5, 1)) + rng.normal(0, 0.01, size=(2, 5, 30))
        h = stats.hierarchical_bootstrap_ci(x, n_boot=400, seed=int(rng.integers(1 << 30)))
        p = stats.paired_bootstrap_ci(x.mean(axis=1), n_boot=400)
        claims_h += bool(h.diff_excludes_zero[1])
        claims_p += bool(p.diff_excludes_zero[1])
    assert claims_p > 0.5 * reps
    assert claims_h <= 0.2 * reps


def test_nan_and_inf_rules() -> None:
    x = np.array([[[0.5, np.nan, 0.7], [0.6, np.nan, np.nan]], [[0.4, 0.3, np.inf], [0.5, np.nan, np.inf]]])
    h = stats.hierarchical_bootstrap_ci(x, n_boot=200, statistic="median")
    assert h.n_used == 2 and h.n_dropped == 1  # image 1 is undefined for loss 0 in every seed
    assert np.isposinf(h.estimate[1]) or h.estimate[1] > 0.4
    with pytest.raises(ValueError, match="n_seeds"):
        stats.hierarchical_bootstrap_ci(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="-inf"):
        stats.hierarchical_bootstrap_ci(np.full((2, 2, 2), -np.inf))


def test_best_vs_runner_up_takes_per_seed_scores() -> None:
    rng = np.random.default_rng(4)
    x = rng.random((1, 3, 40)) + np.array([0.0, 0.3, 0.1])[:, None, None]
    s = stats.best_vs_runner_up(x, higher_is_better=True, n_boot=500)
    assert (s.best, s.runner_up, s.distinguishable) == (1, 2, True)
