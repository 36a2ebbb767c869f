"""Is the best loss distinguishable from the second best?"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segbench.stats._arrays import Statistic, _as_scores_2d
from segbench.stats.bootstrap import _stat, hierarchical_bootstrap_ci, paired_bootstrap_ci
from segbench.stats.ranking import rank_losses

__all__ = ["Separation", "best_vs_runner_up"]

@dataclass(frozen=True)
class Separation:
    """Is the best loss (by the bootstrap statistic) distinguishable from the runner-up?

    Attributes:
        best, runner_up: loss indices (ties broken by the lower index).
        diff_estimate, diff_low, diff_high: ``stat(runner_up) - stat(best)`` and its paired CI.
        distinguishable: the CI excludes 0. False also when the CI is undefined (NaN).
    """

    best: int
    runner_up: int
    diff_estimate: float
    diff_low: float
    diff_high: float
    distinguishable: bool


def best_vs_runner_up(
    values: npt.ArrayLike,
    *,
    higher_is_better: bool,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    statistic: Statistic = "mean",
) -> Separation:
    r"""Whether the best loss's lead over the runner-up is beyond resampling noise.

    Losses are ranked by the statistic on the images valid for every loss (:func:`rank_losses`, ties to
    the lower index); then :func:`paired_bootstrap_ci` with the best as reference gives the CI of

    .. math::

        \Delta = T(x_{\mathrm{runner\text{-}up}}) - T(x_{\mathrm{best}})

    and the lead is *distinguishable* iff that CI excludes 0. Most published loss comparisons fail this
    check; a report should say so instead of crowning a winner. Given ``(L, S, n)`` scores (per seed), losses
    are ranked by the statistic of their per-image seed means and the CI is
    :func:`~segbench.stats.bootstrap.hierarchical_bootstrap_ci` (seeds, then images).

    Args:
        values: shape ``(L, n)`` or ``(L, S, n)``, ``L >= 2``.
        higher_is_better: the metric's direction.
        n_boot, confidence, seed, statistic: as in :func:`paired_bootstrap_ci`.

    >>> s = best_vs_runner_up([[0.5, 0.6, 0.7], [0.6, 0.7, 0.8], [0.1, 0.2, 0.3]],
    ...                       higher_is_better=True, n_boot=200)
    >>> (s.best, s.runner_up, s.diff_low, s.diff_high, s.distinguishable)
    (1, 0, -0.1, -0.1, True)
    """
    raw = np.asarray(values)
    per_seed = raw.ndim == 3
    if per_seed:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            x = _as_scores_2d(np.nanmean(raw.astype(np.float64), axis=1))
    else:
        x = _as_scores_2d(values)
    if x.shape[0] < 2:
        raise ValueError(f"best_vs_runner_up needs at least 2 losses (rows), got {x.shape[0]}")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    used = x[:, ~np.isnan(x).any(axis=0)]
    if used.shape[1] == 0:
        raise ValueError("best_vs_runner_up: no image has a defined score for every loss")
    ranks = rank_losses(_stat(used, statistic, axis=1), bool(higher_is_better))
    order = np.lexsort((np.arange(ranks.size), ranks))
    best, second = int(order[0]), int(order[1])
    boot = hierarchical_bootstrap_ci if per_seed else paired_bootstrap_ci
    ci = boot(raw if per_seed else x, reference=best, n_boot=n_boot, confidence=confidence, seed=seed,
              statistic=statistic)
    lo, hi = float(ci.diff_low[second]), float(ci.diff_high[second])
    return Separation(best, second, float(ci.diff_estimate[second]), lo, hi, bool(lo > 0 or hi < 0))
