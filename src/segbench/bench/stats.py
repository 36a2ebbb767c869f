"""Statistics of the comparison bench: is a difference between losses beyond noise?

Everything here is pure numpy/scipy on per-image scores, with no I/O and no torch.

The input for one metric (and one class) is a matrix ``values`` of shape ``(L, n)``: one row per loss,
one column per test image, with the columns aligned on the same images. A value can be:

- finite: an ordinary score;
- ``NaN``: undefined, e.g. an overlap score with both reference and prediction empty. It is excluded
  from means and *counted* (``n_nan``, ``n_dropped``);
- ``+inf``: a distance metric on a missed structure (exactly one side empty). It is *kept*: a mean with
  a miss in it is ``+inf``, and the rank test orders a miss after every finite distance.

``-inf`` is never a valid score and is rejected.

What this module gives:

- :func:`summarize`: mean, SD, median, quartiles and the NaN/inf counts of one per-image distribution.
- :func:`seed_mean_sd`: mean and SD over seeds.
- :func:`paired_bootstrap_ci`: percentile bootstrap CIs over test images, paired (one set of resampled
  images for every loss), for each loss and for each loss's difference to a reference loss.
- :func:`wilcoxon_holm`: paired Wilcoxon signed-rank tests against a reference loss, Holm-corrected,
  with the matched-pairs rank-biserial effect size.
- :func:`holm`: the Holm step-down adjustment.
- :func:`best_vs_runner_up`: is the best loss distinguishable from the second?
- :func:`aggregation_gap`: per-image mean minus dataset-level score.
- :func:`rank_losses`, :func:`rank_table`, :func:`ranking_agreement`: rankings per metric and their flips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from segbench.bench._ranking import (
    Disagreement,
    RankingAgreement,
    rank_losses,
    rank_table,
    ranking_agreement,
)

__all__ = [
    "BootstrapCI",
    "Comparison",
    "Disagreement",
    "RankingAgreement",
    "Separation",
    "Summary",
    "aggregation_gap",
    "best_vs_runner_up",
    "holm",
    "paired_bootstrap_ci",
    "rank_losses",
    "rank_table",
    "ranking_agreement",
    "seed_mean_sd",
    "summarize",
    "wilcoxon_holm",
]

FloatArray = npt.NDArray[np.float64]
Statistic = Literal["mean", "median"]
ZeroMethod = Literal["wilcox", "pratt"]


# --------------------------------------------------------------------------------------------- checks
def _as_float(x: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    out = arr.astype(np.float64)
    if np.isneginf(out).any():
        raise ValueError(f"{name} contains -inf; scores are finite, NaN (undefined) or +inf (a miss)")
    return out


def _as_scores_1d(x: npt.ArrayLike, name: str) -> FloatArray:
    arr = _as_float(x, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def _as_scores_2d(x: npt.ArrayLike, name: str = "values") -> FloatArray:
    arr = _as_float(x, name)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_losses, n_images) with both > 0, got shape {arr.shape}")
    return arr


def _check_reference(reference: int, n_losses: int) -> int:
    if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)):
        raise TypeError(f"reference must be an int loss index, got {type(reference).__name__}")
    if not 0 <= reference < n_losses:
        raise ValueError(f"reference must be in [0, {n_losses - 1}] (the loss rows), got {reference}")
    return int(reference)


def _differences(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a - b`` with ``inf - inf = 0`` (two misses tie); NaN pairs must be removed beforehand."""
    with np.errstate(invalid="ignore"):
        d = a - b
    d[np.isposinf(a) & np.isposinf(b)] = 0.0
    return d


def _quantile(x: FloatArray, q: float | FloatArray, axis: int = -1) -> FloatArray:
    """Linear-interpolation quantile (numpy's default) that keeps ``+inf`` instead of producing NaN.

    numpy computes ``a + (b - a) * t``, which is NaN when ``a == b == inf`` or when ``t == 0`` and
    ``b == inf``; here equal neighbours or ``t == 0`` return ``a`` and a finite ``a`` below ``inf`` gives
    ``inf``. For finite input the result equals ``np.quantile``.
    """
    s = np.sort(x, axis=axis)
    s = np.moveaxis(s, axis, -1)
    n = s.shape[-1]
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    pos = qs * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    t = pos - lo
    a, b = s[..., lo], s[..., hi]
    with np.errstate(invalid="ignore"):
        out = np.where((t == 0) | (a == b), a, a + (b - a) * t)
    out = np.moveaxis(out, -1, 0)
    return out[0] if np.ndim(q) == 0 else out


# -------------------------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Summary:
    """One per-image distribution, with its undefined and missed cases counted.

    Attributes:
        n: number of images (all of them, NaN and inf included).
        n_nan: undefined scores (excluded from every statistic below).
        n_inf: ``+inf`` scores (misses of a distance metric; kept).
        mean: mean of the defined scores; ``+inf`` when ``n_inf > 0``; NaN when all are NaN.
        sd: sample SD (ddof=1) of the defined scores; ``+inf`` when ``n_inf > 0``; NaN with < 2 defined.
        median, q25, q75: quantiles of the defined scores (``+inf`` sorts last, so a median can stay
            finite with a few misses).
    """

    n: int
    n_nan: int
    n_inf: int
    mean: float
    sd: float
    median: float
    q25: float
    q75: float

    @property
    def n_defined(self) -> int:
        """Images with a defined (non-NaN) score: the sample size of every statistic."""
        return self.n - self.n_nan


def summarize(values: npt.ArrayLike) -> Summary:
    r"""Summarize one loss's per-image scores for one metric, counting NaN and inf, never dropping them.

    With :math:`D` the defined (non-NaN) scores, :math:`|D| = n - n_{nan}`:

    .. math::

        \bar x = \frac{1}{|D|}\sum_{x\in D} x, \qquad
        s = \sqrt{\frac{1}{|D|-1}\sum_{x\in D}(x-\bar x)^2}

    and the median and quartiles of :math:`D` (linear interpolation). Any ``+inf`` in :math:`D` makes
    :math:`\bar x = s = +\infty`; that is the honest mean of a distance with a miss, and ``n_inf`` says so.

    Args:
        values: shape ``(n,)``, per-image scores.

    >>> s = summarize([1.0, 2.0, 3.0, float("nan"), float("inf")])
    >>> (s.n, s.n_nan, s.n_inf, s.mean, s.median)
    (5, 1, 1, inf, 2.5)
    >>> summarize([0.5, 0.7]).sd
    0.1414213562373095
    """
    x = _as_scores_1d(values, "values")
    nan = np.isnan(x)
    d = x[~nan]
    n_inf = int(np.isposinf(d).sum())
    if d.size == 0:
        mean = sd = median = q25 = q75 = float("nan")
    else:
        q25, median, q75 = (float(v) for v in _quantile(d, np.array([0.25, 0.5, 0.75])))
        if n_inf:
            mean = sd = float("inf")
        else:
            mean = float(d.mean())
            sd = float(d.std(ddof=1)) if d.size >= 2 else float("nan")
    return Summary(int(x.size), int(nan.sum()), n_inf, mean, sd, median, q25, q75)


def seed_mean_sd(per_seed_means: npt.ArrayLike) -> tuple[float, float]:
    r"""Mean and sample SD over seeds of a per-seed aggregate (e.g. each seed's mean Dice).

    .. math::

        \bar m = \frac{1}{S}\sum_{s=1}^{S} m_s, \qquad
        \mathrm{sd} = \sqrt{\frac{1}{S-1}\sum_{s}(m_s - \bar m)^2}

    With one seed the SD is NaN (spread over seeds is unknown, not zero). NaN or inf in a seed's value
    propagates: a seed whose aggregate is undefined makes the mean over seeds undefined.

    Args:
        per_seed_means: shape ``(S,)``.

    >>> mean, sd = seed_mean_sd([0.80, 0.82, 0.84])
    >>> round(mean, 6), round(sd, 6)
    (0.82, 0.02)
    >>> seed_mean_sd([0.8])
    (0.8, nan)
    """
    m = _as_scores_1d(per_seed_means, "per_seed_means")
    mean = float(m.mean())
    if m.size < 2:
        return mean, float("nan")
    if np.isposinf(m).any():
        return mean, float("inf")
    return mean, float(m.std(ddof=1))


def aggregation_gap(per_image_mean: npt.ArrayLike, dataset_level: npt.ArrayLike) -> FloatArray:
    r"""Per-image aggregate minus dataset-level score, elementwise (any matching shapes).

    .. math::

        \Delta = \frac{1}{n}\sum_{k=1}^{n} f(\mathrm{tp}_k, \mathrm{fp}_k, \mathrm{fn}_k)
                 - f\Big(\sum_k \mathrm{tp}_k, \sum_k \mathrm{fp}_k, \sum_k \mathrm{fn}_k\Big)

    The *per-image* score is the mean of each image's score (``per_image=True``); the *dataset-level*
    score is the metric of the counts pooled over all images (``per_image=False``). They are equal for
    a linear ``f`` of the counts (e.g. accuracy with equal image sizes) and differ for ratios such as
    Dice/IoU: pooling weights each image by its object size, so a model that fails on small objects
    loses little at dataset level but a lot per image; images with undefined scores (NaN) drop out of
    the per-image mean but still contribute their counts to the pooled score. A report shows both
    wherever ``|Δ|`` is not negligible. NaN propagates (undefined gap).

    >>> float(aggregation_gap(0.70, 0.85))
    -0.15000000000000002
    >>> aggregation_gap([0.5, 0.9], [0.5, 0.8])
    array([0. , 0.1])
    """
    a = _as_float(per_image_mean, "per_image_mean")
    b = _as_float(dataset_level, "dataset_level")
    if a.shape != b.shape:
        raise ValueError(f"per_image_mean and dataset_level must have the same shape, got {a.shape} and {b.shape}")
    with np.errstate(invalid="ignore"):
        return np.asarray(a - b, dtype=np.float64)


# ------------------------------------------------------------------------------------------ bootstrap
@dataclass(frozen=True)
class BootstrapCI:
    """Paired percentile-bootstrap CIs, per loss and for each loss minus the reference loss.

    Arrays have shape ``(L,)``, one entry per loss. The reference's own difference is exactly 0.

    Attributes:
        estimate, low, high: the statistic on all used images and its CI.
        diff_estimate, diff_low, diff_high: loss minus reference in metric units (not oriented) and
            its paired CI: the mean of per-image differences for ``"mean"``, the difference of medians for
            ``"median"`` (see :func:`paired_bootstrap_ci` for ``+inf``). NaN where undefined.
        reference: the reference loss index.
        n_used: images valid (non-NaN) for every loss, the ones resampled.
        n_dropped: images NaN for at least one loss, excluded so that the pairing holds.
        n_boot, confidence, statistic, seed: the settings.
    """

    estimate: FloatArray
    low: FloatArray
    high: FloatArray
    diff_estimate: FloatArray
    diff_low: FloatArray
    diff_high: FloatArray
    reference: int
    n_used: int
    n_dropped: int
    n_boot: int
    confidence: float
    statistic: str
    seed: int

    @property
    def diff_excludes_zero(self) -> npt.NDArray[np.bool_]:
        """Per loss: does the paired-difference CI exclude 0 (a difference beyond resampling noise)?"""
        return np.asarray((self.diff_low > 0) | (self.diff_high < 0))


def _stat(x: FloatArray, statistic: str, axis: int) -> FloatArray:
    if statistic == "mean":
        return np.asarray(np.mean(x, axis=axis), dtype=np.float64)
    return np.asarray(_quantile(x, 0.5, axis=axis), dtype=np.float64)


def paired_bootstrap_ci(
    values: npt.ArrayLike,
    *,
    reference: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    statistic: Statistic = "mean",
) -> BootstrapCI:
    r"""Paired percentile bootstrap over test images, for every loss and every loss minus the reference.

    Images NaN for *any* loss are dropped first (counted in ``n_dropped``), so that every loss is scored
    on the same images. Then one matrix of resampled image indices is drawn and shared by every loss:
    ``idx = np.random.default_rng(seed).integers(0, n_used, size=(n_boot, n_used))``. For resample
    :math:`b` and loss :math:`l`, :math:`\theta^*_{lb} = T(x_{l,\mathrm{idx}_b})` with :math:`T` the mean
    or median, and

    .. math::

        \mathrm{CI}_l = \big[q_{\alpha/2}(\theta^*_{l\cdot}),\; q_{1-\alpha/2}(\theta^*_{l\cdot})\big],
        \qquad
        \mathrm{CI}^{\Delta}_l = \big[q_{\alpha/2}(\theta^*_{l\cdot} - \theta^*_{r\cdot}),\;
                                      q_{1-\alpha/2}(\theta^*_{l\cdot} - \theta^*_{r\cdot})\big]

    with :math:`\alpha = 1 - \mathrm{confidence}`, :math:`r` the reference, and :math:`q` the quantile
    with linear interpolation (numpy's default). Because the differences are taken within each resample,
    shared image difficulty cancels: two losses with identical per-image scores get the interval
    ``[0, 0]``.

    For ``statistic="mean"`` the difference is computed as the mean of the per-image differences
    :math:`x_{lk} - x_{rk}` (equal to the difference of means for finite scores, up to rounding), so
    that ``+inf`` scores follow the same rule as :func:`wilcoxon_holm`: a miss against a finite score is
    an infinite difference, two misses tie (difference 0), and misses on both sides on different images
    give ``inf - inf`` = NaN. For ``statistic="median"`` it is the difference of the two medians, NaN
    when both are ``+inf``. A difference CI with any undefined (NaN) resample is NaN, never computed from
    the defined resamples only. Per loss, ``+inf`` stays in: a resample that draws a miss has an infinite
    mean. For distances with misses prefer ``statistic="median"`` or a finite worst case; note that
    common bootstrap CIs for the *median* can under-cover at small n (prefer the mean for n > 50).

    Args:
        values: shape ``(L, n)``, per-image scores, rows aligned on the same images.
        reference: loss row the differences are taken against.
        n_boot: number of resamples (vectorised; memory is about ``n_boot * n * 8`` bytes per loss).
        confidence: in (0, 1).
        seed: seed of ``np.random.default_rng``.
        statistic: ``"mean"`` or ``"median"``.

    >>> ci = paired_bootstrap_ci([[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5]], n_boot=200)
    >>> ci.estimate
    array([0.25, 0.35])
    >>> ci.diff_low, ci.diff_high, ci.diff_excludes_zero
    (array([0. , 0.1]), array([0. , 0.1]), array([False,  True]))
    """
    x = _as_scores_2d(values)
    ref = _check_reference(reference, x.shape[0])
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    keep = ~np.isnan(x).any(axis=0)
    x = x[:, keep]
    n_loss, n_used = x.shape
    n_dropped = int((~keep).sum())
    nan_l = np.full(n_loss, np.nan)
    if n_used == 0:
        return BootstrapCI(
            nan_l, nan_l, nan_l, nan_l, nan_l, nan_l, ref, 0, n_dropped, int(n_boot), float(confidence),
            statistic, int(seed),
        )  # fmt: skip
    idx = np.random.default_rng(seed).integers(0, n_used, size=(int(n_boot), n_used))
    boot = np.stack([_stat(row[idx], statistic, axis=1) for row in x])  # (L, n_boot)
    est = _stat(x, statistic, axis=1)
    alpha = 1.0 - float(confidence)
    qs = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    low, high = _quantile(boot, qs, axis=1)
    if statistic == "mean":  # mean of paired differences (== difference of means for finite scores)
        d = np.stack([_differences(row, x[ref]) for row in x])
        with np.errstate(invalid="ignore"):
            dboot = np.stack([_stat(row[idx], statistic, axis=1) for row in d])
            dest = _stat(d, statistic, axis=1)
    else:  # difference of medians
        with np.errstate(invalid="ignore"):
            dboot = boot - boot[ref]
            dest = est - est[ref]
        dboot[ref], dest[ref] = 0.0, 0.0
    dlow, dhigh = _quantile(dboot, qs, axis=1)
    undefined = np.isnan(dboot).any(axis=1)
    dlow[undefined] = np.nan
    dhigh[undefined] = np.nan
    return BootstrapCI(
        est, low, high, dest, dlow, dhigh, ref, n_used, n_dropped, int(n_boot), float(confidence),
        statistic, int(seed),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- tests
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


# ----------------------------------------------------------------------------------- best vs second
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
    check; a report should say so instead of crowning a winner.

    Args:
        values: shape ``(L, n)``, ``L >= 2``.
        higher_is_better: the metric's direction.
        n_boot, confidence, seed, statistic: as in :func:`paired_bootstrap_ci`.

    >>> s = best_vs_runner_up([[0.5, 0.6, 0.7], [0.6, 0.7, 0.8], [0.1, 0.2, 0.3]],
    ...                       higher_is_better=True, n_boot=200)
    >>> (s.best, s.runner_up, s.diff_low, s.diff_high, s.distinguishable)
    (1, 0, -0.1, -0.1, True)
    """
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
    ci = paired_bootstrap_ci(x, reference=best, n_boot=n_boot, confidence=confidence, seed=seed, statistic=statistic)
    lo, hi = float(ci.diff_low[second]), float(ci.diff_high[second])
    return Separation(best, second, float(ci.diff_estimate[second]), lo, hi, bool(lo > 0 or hi < 0))
