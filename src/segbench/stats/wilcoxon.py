"""Paired Wilcoxon signed-rank tests against a reference loss, Holm-corrected, with the rank-biserial effect size."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from segbench.stats._arrays import FloatArray, ZeroMethod, _as_scores_2d, _check_reference, _differences, _quantile

__all__ = ["Comparison", "holm", "wilcoxon_holm"]

def holm(p_values: npt.ArrayLike) -> FloatArray:
    r"""Holm step-down adjusted p-values (family-wise error control), in the input order.

    Sort the :math:`m` defined p-values ascending, :math:`p_{(1)} \le \dots \le p_{(m)}`; then

    .. math::

        \tilde p_{(i)} = \min\Big(1,\; \max_{j \le i}\,(m - j + 1)\,p_{(j)}\Big)

    Rejecting :math:`\tilde p < \alpha` is Holm's procedure at level :math:`\alpha`. The adjusted values are
    ``>=`` the raw ones and monotone in the raw order. NaN p-values (tests that could not run) stay NaN
    and do not count in :math:`m`.

    >>> holm([0.01, 0.04, 0.03])
    array([0.03, 0.06, 0.06])
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    defined = ~np.isnan(p)
    if ((p[defined] < 0) | (p[defined] > 1)).any():
        raise ValueError(f"p_values must lie in [0, 1], got {p[defined].min()}..{p[defined].max()}")
    where = np.flatnonzero(defined)
    order = where[np.argsort(p[where], kind="stable")]
    m = order.size
    out = np.full(p.shape, np.nan)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


@dataclass(frozen=True)
class Comparison:
    """One loss against the reference loss on one metric: paired Wilcoxon signed-rank over images.

    Attributes:
        loss, reference: loss row indices.
        n: pairs used (both scores defined).
        n_dropped: pairs with a NaN on either side (undefined; not tested, counted).
        n_zero: pairs with equal scores (``inf`` vs ``inf`` included); dropped by ``zero_method="wilcox"``.
        n_inf: pairs where exactly one side is ``+inf`` (ranked as the largest differences).
        statistic: scipy's two-sided statistic, ``min(W+, W-)``.
        w_plus, w_minus: rank sums of the pairs where the loss is better / worse than the reference.
        p_value: two-sided p (``scipy.stats.wilcoxon``); 1 when every difference is zero, NaN when n == 0.
        p_holm: Holm-adjusted across the comparisons of one :func:`wilcoxon_holm` call.
        effect_size: matched-pairs rank-biserial :math:`r = (W^+ - W^-)/(W^+ + W^-)` in [-1, 1];
            positive means the loss beats the reference in the metric's better direction.
        median_difference: median of ``loss - reference`` in metric units (not oriented).
        significant: ``p_holm < alpha``.
        zero_method: how zero differences were treated.
    """

    loss: int
    reference: int
    n: int
    n_dropped: int
    n_zero: int
    n_inf: int
    statistic: float
    w_plus: float
    w_minus: float
    p_value: float
    p_holm: float
    effect_size: float
    median_difference: float
    significant: bool
    zero_method: str


def _finite_for_ranks(d: FloatArray) -> FloatArray:
    """Replace ``±inf`` by ``±M`` with ``M`` above every finite ``|d|``: same ranks of ``|d|``, same signs."""
    inf = np.isinf(d)
    if not inf.any():
        return d
    finite = np.abs(d[~inf])
    big = 2.0 * (float(finite.max()) if finite.size else 1.0) + 1.0
    out = d.copy()
    out[inf] = np.sign(d[inf]) * big
    return out


def _signed_rank_test(d: FloatArray, zero_method: str) -> tuple[float, float, float, float]:
    """(statistic, p, W+, W-) for oriented differences ``d`` (positive = loss better)."""
    nonzero = d != 0
    if not nonzero.any():
        return 0.0, 1.0, 0.0, 0.0
    ranks = sps.rankdata(np.abs(d if zero_method == "pratt" else d[nonzero]))
    if zero_method == "pratt":
        ranks, dn = ranks[nonzero], d[nonzero]
    else:
        dn = d[nonzero]
    w_plus, w_minus = float(ranks[dn > 0].sum()), float(ranks[dn < 0].sum())
    has_ties = np.unique(np.abs(dn)).size < dn.size
    if d.size <= _EXACT_PERMUTATION_MAX_N and (has_ties or not nonzero.all()):
        # scipy's own rule for this case is an exact permutation test over all 2**n sign flips, which
        # scipy >= 1.13 runs with a per-resample Python statistic (seconds per call); enumerate it here.
        return min(w_plus, w_minus), _exact_sign_flip_p(ranks, dn, w_plus), w_plus, w_minus
    res = sps.wilcoxon(d, zero_method=zero_method, alternative="two-sided")
    return float(res.statistic), float(res.pvalue), w_plus, w_minus


_EXACT_PERMUTATION_MAX_N = 13  # scipy.stats.wilcoxon(method="auto"): permutation test for n <= 13 with ties/zeros


def _exact_sign_flip_p(ranks: FloatArray, dn: FloatArray, w_plus: float) -> float:
    r"""Two-sided p of :math:`W^+` over all :math:`2^n` sign patterns of the non-zero differences.

    Zero differences flip to themselves, so enumerating the non-zero ones gives the same proportions as
    scipy's permutation test over every sample; the tolerance on ties of the statistic is scipy's.

    >>> float(_exact_sign_flip_p(np.array([1.5, 1.5, 3.0]), np.array([1.0, 1.0, 2.0]), 6.0))
    0.25
    """
    n = dn.size
    signs = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # (2**n, n): every subset of positive signs
    null = signs @ ranks
    gamma = abs(np.finfo(float).eps * w_plus) * 1e2 if w_plus else 1e-14
    less = float(np.mean(null <= w_plus + gamma))
    greater = float(np.mean(null >= w_plus - gamma))
    return min(1.0, 2 * min(less, greater))


def wilcoxon_holm(
    values: npt.ArrayLike,
    reference: int = 0,
    *,
    higher_is_better: bool,
    alpha: float = 0.05,
    zero_method: ZeroMethod = "wilcox",
) -> list[Comparison]:
    r"""Paired Wilcoxon signed-rank test of every loss against the reference, Holm-corrected.

    For loss :math:`l` and image :math:`k` with both scores defined, the oriented difference is
    :math:`d_k = \pm(x_{lk} - x_{rk})` (``+`` if ``higher_is_better``), so :math:`d_k > 0` means the loss
    did better. With :math:`R_k` the rank of :math:`|d_k|` among the non-zero differences,

    .. math::

        W^+ = \sum_{d_k > 0} R_k, \quad W^- = \sum_{d_k < 0} R_k, \quad
        r = \frac{W^+ - W^-}{W^+ + W^-}

    and the two-sided p-value is ``scipy.stats.wilcoxon(d, zero_method=zero_method)`` (its default
    method: exact for small n without ties, normal approximation otherwise). The :math:`L-1` p-values are
    adjusted together by :func:`holm`.

    Rules for the special values, stated because they decide results on distance metrics:
    pairs with a NaN on either side are dropped and counted (``n_dropped``); ``inf`` vs finite is a
    valid ordering (the miss is worse or better, by the direction) and is ranked as the largest
    magnitude, all such pairs tied with each other; ``inf`` vs ``inf`` is a zero difference (a tie).
    ``zero_method="wilcox"`` (scipy's default) drops zero differences before ranking; ``"pratt"`` ranks
    them and then drops them. If every difference is zero the p-value is 1 and :math:`r = 0`.

    Args:
        values: shape ``(L, n)``, per-image scores, rows aligned on the same images; ``L >= 2``.
        reference: loss row to compare against (default 0, usually cross-entropy).
        higher_is_better: the metric's direction (False for distances).
        alpha: family-wise level for ``significant``.
        zero_method: ``"wilcox"`` or ``"pratt"``.

    Returns:
        one :class:`Comparison` per non-reference loss, in row order.

    >>> x = [[0.60, 0.70, 0.50, 0.80, 0.65, 0.55], [0.70, 0.75, 0.62, 0.90, 0.69, 0.60]]
    >>> c = wilcoxon_holm(x, higher_is_better=True)[0]
    >>> (c.loss, c.n, c.w_plus, c.w_minus, c.effect_size, c.p_value)
    (1, 6, 21.0, 0.0, 1.0, 0.03125)
    """
    x = _as_scores_2d(values)
    ref = _check_reference(reference, x.shape[0])
    if x.shape[0] < 2:
        raise ValueError(f"wilcoxon_holm needs at least 2 losses (rows), got {x.shape[0]}")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be a bool, got {type(higher_is_better).__name__}")
    if zero_method not in ("wilcox", "pratt"):
        raise ValueError(f"zero_method must be 'wilcox' or 'pratt', got {zero_method!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    rows = [i for i in range(x.shape[0]) if i != ref]
    raw: list[Comparison] = []
    for i in rows:
        valid = ~(np.isnan(x[i]) | np.isnan(x[ref]))
        d = _differences(x[i, valid], x[ref, valid])
        if d.size == 0:
            stat = p = w_plus = w_minus = r = median = float("nan")
        else:
            stat, p, w_plus, w_minus = _signed_rank_test(_finite_for_ranks(d if higher_is_better else -d), zero_method)
            r = (w_plus - w_minus) / (w_plus + w_minus) if w_plus + w_minus > 0 else 0.0
            median = float(_quantile(d, 0.5))
        raw.append(
            Comparison(
                loss=i,
                reference=ref,
                n=int(d.size),
                n_dropped=int((~valid).sum()),
                n_zero=int((d == 0).sum()),
                n_inf=int(np.isinf(d).sum()),
                statistic=stat,
                w_plus=w_plus,
                w_minus=w_minus,
                p_value=p,
                p_holm=float("nan"),
                effect_size=r,
                median_difference=median,
                significant=False,
                zero_method=zero_method,
            )
        )
    p_adj = holm([c.p_value for c in raw])
    return [replace(c, p_holm=float(ph), significant=bool(ph < alpha)) for c, ph in zip(raw, p_adj, strict=True)]


