"""Summaries of per-image score distributions: mean, SD, quantiles, NaN/inf counts; seeds; the aggregation gap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segbench.stats._arrays import FloatArray, _as_float, _as_scores_1d, _quantile

__all__ = ["Summary", "aggregation_gap", "seed_mean_sd", "summarize"]

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


