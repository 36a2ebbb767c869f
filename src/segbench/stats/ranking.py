"""Rankings of losses under each metric, and whether those rankings agree.

Public names are re-exported by :mod:`segbench.stats`.

The point of the classic losses-vs-metrics study is that one metric's ranking says little about
another's: pixel accuracy and F1 can order the same models in opposite ways under class imbalance.
:func:`ranking_agreement` makes such flips explicit instead of leaving them to the reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from segbench.stats._arrays import FloatArray, _as_float


def _as_vector(x: npt.ArrayLike, name: str) -> FloatArray:
    """A 1-D float64 copy of ``x`` (:func:`~segbench.stats._arrays._as_float`'s checks); ValueError for the wrong
    shape."""
    arr = _as_float(x, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (one value per loss), got shape {arr.shape}")
    return arr


def rank_losses(scores: npt.ArrayLike, higher_is_better: bool) -> FloatArray:
    r"""Rank losses by one aggregate score: 1 is the best; ties share their average rank; NaN ranks last.

    .. math::

        \mathrm{rank}_i = 1 + \#\{j : s_j \succ s_i\} + \tfrac12\,\#\{j \ne i : s_j = s_i\}

    where :math:`\succ` is "better" (``>`` if ``higher_is_better`` else ``<``). Losses whose score is NaN
    (undefined) come after every defined one and share the average of the remaining ranks. ``+inf``
    is an ordinary value (the worst distance when lower is better).

    Args:
        scores: shape ``(L,)``, one aggregate score per loss.
        higher_is_better: the metric's direction (False for distances).

    Returns:
        shape ``(L,)`` float ranks.

    >>> rank_losses([0.8, 0.9, 0.8, float("nan")], higher_is_better=True)
    array([2.5, 1. , 2.5, 4. ])
    >>> rank_losses([3.0, float("inf"), 1.0], higher_is_better=False)
    array([2., 3., 1.])
    """
    s = _as_vector(scores, "scores")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be a bool, got {type(higher_is_better).__name__}")
    defined = ~np.isnan(s)
    oriented = -s[defined] if higher_is_better else s[defined]
    ranks = np.empty_like(s)
    ranks[defined] = sps.rankdata(oriented, method="average")
    n_def, n_nan = int(defined.sum()), int((~defined).sum())
    ranks[~defined] = n_def + (n_nan + 1) / 2.0
    return ranks


def rank_table(scores: Mapping[str, npt.ArrayLike], higher_is_better: Mapping[str, bool]) -> dict[str, FloatArray]:
    r"""Apply :func:`rank_losses` to each metric: ``{metric: ranks (L,)}``.

    .. math::

        R[m] = \mathrm{rank\_losses}(s[m], \mathrm{hib}[m])

    >>> t = rank_table({"acc": [0.9, 0.8], "hd95": [2.0, 1.0]}, {"acc": True, "hd95": False})
    >>> t["acc"], t["hd95"]
    (array([1., 2.]), array([2., 1.]))
    """
    missing = set(scores) - set(higher_is_better)
    if missing:
        raise ValueError(f"higher_is_better has no direction for metric(s) {sorted(missing)}")
    return {m: rank_losses(v, bool(higher_is_better[m])) for m, v in scores.items()}


@dataclass(frozen=True)
class Disagreement:
    """Two metrics that order at least one pair of losses in opposite directions.

    Attributes:
        metric_a, metric_b: the metric names.
        tau: Kendall's tau-b between their rank vectors (NaN if either ranking is all ties).
        flipped: the loss index pairs ``(i, j)``, ``i < j``, strictly ordered one way by ``metric_a`` and
            the other way by ``metric_b`` (a tie in either metric is not a flip).
        best_differs: whether the sets of best losses (rank minimum) differ.
    """

    metric_a: str
    metric_b: str
    tau: float
    flipped: tuple[tuple[int, int], ...]
    best_differs: bool


@dataclass(frozen=True)
class RankingAgreement:
    """Kendall tau between every pair of metrics' rankings, the flips, and the best loss per metric.

    Attributes:
        metrics: metric names, the row/column order of ``tau``.
        tau: shape ``(M, M)``, Kendall's tau-b (``scipy.stats.kendalltau``); NaN where a ranking is all ties.
        disagreements: one entry per metric pair with at least one flipped loss pair.
        best: ``{metric: indices of the best loss(es)}`` (more than one when tied for first).
    """

    metrics: tuple[str, ...]
    tau: FloatArray
    disagreements: tuple[Disagreement, ...]
    best: dict[str, tuple[int, ...]]

    @property
    def consistent(self) -> bool:
        """True when no metric pair flips any pair of losses."""
        return not self.disagreements


def _flips(a: FloatArray, b: FloatArray) -> tuple[tuple[int, int], ...]:
    """Loss pairs (i, j), i < j, ordered strictly oppositely by rank vectors ``a`` and ``b``."""
    return tuple((i, j) for i, j in combinations(range(a.size), 2) if np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) < 0)


def ranking_agreement(ranks: Mapping[str, npt.ArrayLike]) -> RankingAgreement:
    r"""Compare the losses' rankings under several metrics.

    .. math::

        \tau_b(a, b) = \frac{P - Q}{\sqrt{(P + Q + T_a)(P + Q + T_b)}}

    with :math:`P`/:math:`Q` the concordant/discordant loss pairs and :math:`T` the pairs tied in only one
    ranking (``scipy.stats.kendalltau``, variant b). A metric pair is listed as a disagreement when any
    loss pair is strictly ordered oppositely (a *flip*); :math:`\tau` alone can hide a single flip.

    Args:
        ranks: ``{metric: ranks (L,)}``, e.g. from :func:`rank_table`; every vector has the same length.

    Returns:
        :class:`RankingAgreement`.

    >>> ag = ranking_agreement({"accuracy": [1, 2, 3], "f1": [3, 2, 1]})
    >>> float(ag.tau[0, 1]), ag.disagreements[0].flipped, ag.best
    (-1.0, ((0, 1), (0, 2), (1, 2)), {'accuracy': (0,), 'f1': (2,)})
    """
    if not isinstance(ranks, Mapping) or len(ranks) == 0:
        raise ValueError("ranks must be a non-empty mapping {metric: ranks (L,)}")
    names = tuple(str(m) for m in ranks)
    vecs = [_as_vector(v, f"ranks[{m!r}]") for m, v in ranks.items()]
    sizes = {v.size for v in vecs}
    if len(sizes) != 1:
        raise ValueError(f"every ranking must rank the same losses; got lengths {[v.size for v in vecs]}")
    if any(np.isnan(v).any() for v in vecs):
        raise ValueError("ranks must not contain NaN (rank_losses ranks undefined scores last)")
    m = len(vecs)
    tau = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(i, m):
            if vecs[i].size >= 2 and np.ptp(vecs[i]) > 0 and np.ptp(vecs[j]) > 0:
                tau[i, j] = tau[j, i] = float(sps.kendalltau(vecs[i], vecs[j]).statistic)
    best = {name: tuple(int(k) for k in np.flatnonzero(v == v.min())) for name, v in zip(names, vecs, strict=True)}
    dis = []
    for i, j in combinations(range(m), 2):
        flipped = _flips(vecs[i], vecs[j])
        if flipped:
            dis.append(Disagreement(names[i], names[j], float(tau[i, j]), flipped, best[names[i]] != best[names[j]]))
    return RankingAgreement(names, tau, tuple(dis), best)
