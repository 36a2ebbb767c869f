"""Paired percentile bootstrap CIs over test images, for each loss and its difference to a reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segbench.stats._arrays import FloatArray, Statistic, _as_scores_2d, _check_reference, _differences, _quantile

__all__ = ["BootstrapCI", "hierarchical_bootstrap_ci", "paired_bootstrap_ci"]

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


def _check_settings(n_boot: int, confidence: float, statistic: str) -> None:
    """ValueError unless ``n_boot`` is a positive int, ``confidence`` in (0, 1), ``statistic`` mean or median."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")


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
    _check_settings(n_boot, confidence, statistic)
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




def _masked_stat(v: FloatArray, valid: npt.NDArray[np.bool_], statistic: str) -> FloatArray:
    """The mean or median over the last axis of ``v`` where ``valid``; NaN where nothing is valid."""
    if statistic == "mean":
        count = valid.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.where(valid, v, 0.0).sum(-1)
            return np.asarray(np.where(count > 0, total / np.maximum(count, 1), np.nan), dtype=np.float64)
    w = np.where(valid, v, np.nan)
    s = np.sort(w, axis=-1)  # NaN last
    count = valid.sum(-1)
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, None)
    a = np.take_along_axis(s, lo[..., None], -1)[..., 0]
    b = np.take_along_axis(s, hi[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):
        mid = np.where(a == b, a, (a + b) / 2)
    return np.asarray(np.where(count > 0, mid, np.nan), dtype=np.float64)


def hierarchical_bootstrap_ci(
    values: npt.ArrayLike,
    *,
    reference: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    statistic: Statistic = "mean",
) -> BootstrapCI:
    r"""Two-stage (hierarchical) paired bootstrap: resample training seeds, then test images, for every loss and
    every loss minus the reference, so that the CI holds both sources of noise: which seed trained the model and
    which images were tested.

    ``values`` has shape ``(L, S, n)``: loss, seed, test image, aligned on the same seeds (seed ``s`` of every
    loss shares its data order and initialisation) and images. Resample :math:`b` draws seed indices
    :math:`\sigma_b \in \{1..S\}^S` and image indices :math:`\iota_b \in \{1..n\}^n`, both shared by every loss
    (paired), and computes

    .. math::

        \bar x_{l i}^{(b)} = \frac{1}{|D|} \sum_{s \in \sigma_b,\, x_{lsi} \ne \mathrm{NaN}} x_{l s i}, \qquad
        \theta^*_{lb} = T\big(\bar x_{l,\iota_b}^{(b)}\big), \qquad
        \Delta^*_{lb} = T\big(\bar x_{l,\iota_b}^{(b)} - \bar x_{r,\iota_b}^{(b)}\big)

    (for the median, :math:`\Delta^*` is the difference of medians), over the drawn images defined for every
    loss in that resample; CIs are the :math:`\alpha/2, 1-\alpha/2` quantiles as in :func:`paired_bootstrap_ci`,
    whose ``+inf`` and NaN rules apply. The estimate is the statistic of the per-image seed means. Images NaN for a
    loss in every seed are dropped first (``n_dropped``). With one seed this is :func:`paired_bootstrap_ci` on
    that seed (same estimate; different resamples); with fewer than 3 seeds the seed stage barely varies and
    the seed variance is not estimated: report such CIs as image-level only.

    Args:
        values: shape ``(L, S, n)``, per-image scores per loss and seed.
        reference: loss row the differences are taken against.
        n_boot: number of resamples (memory about ``n_boot * S * n * 8`` bytes per loss).
        confidence: in (0, 1).
        seed: seed of ``np.random.default_rng`` (the random draws, not a training seed).
        statistic: ``"mean"`` or ``"median"``.

    >>> x = [[[0.5, 0.6, 0.7], [0.6, 0.7, 0.8]], [[0.6, 0.7, 0.8], [0.7, 0.8, 0.9]]]   # 2 losses, 2 seeds
    >>> ci = hierarchical_bootstrap_ci(x, n_boot=200)
    >>> [round(float(v), 3) for v in ci.estimate], [round(float(v), 3) for v in ci.diff_low], ci.n_used
    ([0.65, 0.75], [0.0, 0.1], 3)
    """
    raw = np.asarray(values)
    if raw.ndim != 3 or 0 in raw.shape:
        raise ValueError(f"values must have shape (n_losses, n_seeds, n_images) with all > 0, got {raw.shape}")
    n_loss, n_seed, n_img = raw.shape
    x = _as_scores_2d(raw.reshape(n_loss, n_seed * n_img)).reshape(n_loss, n_seed, n_img)
    ref = _check_reference(reference, n_loss)
    _check_settings(n_boot, confidence, statistic)
    keep = (~np.isnan(x)).any(axis=1).all(axis=0)
    x = x[:, :, keep]
    n_used, n_dropped = int(keep.sum()), int((~keep).sum())
    nan_l = np.full(n_loss, np.nan)
    if n_used == 0:
        return BootstrapCI(nan_l, nan_l, nan_l, nan_l, nan_l, nan_l, ref, 0, n_dropped, int(n_boot),
                           float(confidence), statistic, int(seed))
    rng = np.random.default_rng(seed)
    sidx = rng.integers(0, n_seed, size=(int(n_boot), n_seed))
    iidx = rng.integers(0, n_used, size=(int(n_boot), n_used))

    def seed_means(xl: FloatArray, s: npt.NDArray[np.intp]) -> FloatArray:
        drawn = xl[s]  # (B, S, n) or (S, n)
        defined = ~np.isnan(drawn)
        with np.errstate(invalid="ignore"):
            total = np.where(defined, drawn, 0.0).sum(-2)
            k = defined.sum(-2)
            return np.asarray(np.where(k > 0, total / np.maximum(k, 1), np.nan), dtype=np.float64)

    full = np.stack([seed_means(x[i], np.arange(n_seed)) for i in range(n_loss)])  # (L, n)
    means = np.stack([np.take_along_axis(seed_means(x[i], sidx), iidx, axis=1) for i in range(n_loss)])  # (L,B,n)
    valid = np.asarray(~np.isnan(means).any(axis=0), dtype=bool)  # (B, n): defined for every loss in the resample
    boot = _masked_stat(means, valid[None], statistic)
    est = _masked_stat(full, np.ones(full.shape, dtype=bool), statistic)
    alpha = 1.0 - float(confidence)
    qs = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    low, high = _quantile(boot, qs, axis=1)
    with np.errstate(invalid="ignore"):
        if statistic == "mean":
            dboot = np.stack([_masked_stat(_differences(means[i], means[ref]), valid, statistic)
                              for i in range(n_loss)])
            dest = np.stack([_masked_stat(_differences(full[i], full[ref]), np.ones(n_used, dtype=bool), statistic)
                             for i in range(n_loss)])
        else:
            dboot, dest = boot - boot[ref], est - est[ref]
            dboot[ref], dest[ref] = 0.0, 0.0
    dlow, dhigh = _quantile(dboot, qs, axis=1)
    undefined = np.isnan(dboot).any(axis=1)
    dlow[undefined] = np.nan
    dhigh[undefined] = np.nan
    return BootstrapCI(est, low, high, dest, dlow, dhigh, ref, n_used, n_dropped, int(n_boot), float(confidence),
                       statistic, int(seed))
