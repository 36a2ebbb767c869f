"""Input checks and array helpers shared by the statistics modules (one home for the -inf rule and quantiles)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Statistic = Literal["mean", "median"]
ZeroMethod = Literal["wilcox", "pratt"]


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


