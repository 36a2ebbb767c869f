"""Reading saved probability maps for ``segbench evaluate --probabilities``: NPY/NPZ, float TIFF and float NIfTI.

A probability map holds, per case, either one channel per class ``(C, *spatial)`` (the softmax of a multiclass
model, summing to 1 over C) or one foreground channel: ``(*spatial)`` or ``(1, *spatial)`` (the sigmoid of a
binary model; the background is ``1 - p``). Spatial axes follow the masks' convention
(:mod:`segbench.files.masks`): ``(Y, X)`` or ``(Z, Y, X)``; a NIfTI map stores ``(i, j, k[, c])`` and is
transposed to ``(c, k, j, i)``. NPZ: the array named ``probabilities``, or the only array. Every file is read
through the checked readers of :mod:`segbench.files.safe_read` (size limits before decoding).

Checks, each a :class:`~segbench.errors.UsageError` naming the file: floating-point values (a label map is not
a probability map), finite, in ``[0, 1]``, channels summing to 1 (within ``SUM_TOLERANCE``) for multiclass
maps, and a shape that fits the case's ground truth and the class count.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segbench.errors import UsageError
from segbench.files import safe_read
from segbench.files.masks import mask_suffix, naming_file

__all__ = ["PROBABILITY_SUFFIXES", "SUM_TOLERANCE", "read_probability_map"]

PROBABILITY_SUFFIXES = (".npy", ".npz", ".tif", ".tiff", ".nii", ".nii.gz")
"""File types of probability maps (floating point only; PNG holds no floats)."""
SUM_TOLERANCE = 1e-3
"""Largest accepted ``|sum_k p_k - 1|`` of a multiclass map (float16/float32 softmax outputs round)."""


def _raw(path: Path, suffix: str) -> np.ndarray:
    if suffix == ".npy":
        return safe_read.read_npy(path)
    if suffix == ".npz":
        names = safe_read.npz_names(path)
        if "probabilities" in names or len(names) == 1:
            return safe_read.read_npz(path, "probabilities" if "probabilities" in names else names[0])
        raise UsageError(f"probability file {path} holds arrays {names}; expected one array, or one named "
                         "'probabilities'")
    if suffix in (".tif", ".tiff"):
        return safe_read.read_tiff(path)[0]
    array, _, _ = safe_read.read_nifti(path)
    return array


def read_probability_map(path: Path, truth_shape: Sequence[int], num_classes: int) -> np.ndarray:
    """The probability map in ``path`` as float64 ``(K, *truth_shape)``: K = ``num_classes``, or K = 1 (the
    foreground probability) for binary data; :class:`UsageError` naming the file for anything else.

    .. math:: p_k(x) \\in [0, 1],\\qquad \\Big|\\sum_k p_k(x) - 1\\Big| \\le 10^{-3}\\ \\text{(multiclass)}

    Args:
        path: the file (NPY, NPZ, TIFF, NIfTI).
        truth_shape: the spatial shape of the case's ground truth, array axis order.
        num_classes: the number of classes C, background included.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(p, np.array([[0.25, 1.0]], dtype=np.float32))
    >>> read_probability_map(p, (1, 2), 2).tolist()
    [[[0.25, 1.0]]]
    >>> np.save(p, np.array([[[0.5, 0.5]], [[0.25, 0.25]]]))
    >>> read_probability_map(p, (1, 2), 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: probability file ... channels do not sum to 1 (largest |sum - 1| = 0.25...
    """
    path = Path(path)
    suffix = mask_suffix(path)
    if suffix not in PROBABILITY_SUFFIXES:
        raise UsageError(f"file {path} is not a probability-map type ({', '.join(PROBABILITY_SUFFIXES)})")
    with naming_file("probability", path):
        array = _raw(path, suffix)
    if not np.issubdtype(array.dtype, np.floating):
        raise UsageError(f"probability file {path} holds {array.dtype} values; expected floating-point "
                         "probabilities in [0, 1] (label maps go to --pred)")
    shape = tuple(int(s) for s in truth_shape)
    nd = len(shape)
    if suffix in (".nii", ".nii.gz"):  # (i, j, k[, c]) -> ([c,] k, j, i)
        if array.ndim == nd + 1:
            array = np.moveaxis(array, -1, 0)
            array = array.transpose(0, *range(array.ndim - 1, 0, -1))
        else:
            array = array.transpose()
    if array.shape == shape:
        array = array[None]
    k = array.shape[0] if array.ndim == nd + 1 else -1
    if array.shape[1:] != shape or not (k == num_classes or (k == 1 and num_classes == 2)):
        expected = f"({num_classes}, {', '.join(map(str, shape))})"
        if num_classes == 2:
            expected += f" or the foreground channel ({', '.join(map(str, shape))})"
        raise UsageError(f"probability file {path} has shape {tuple(array.shape)}; its ground truth is {shape} with "
                         f"{num_classes} classes, so expected {expected}")
    values = np.asarray(array, dtype=np.float64)
    if not np.isfinite(values).all():
        raise UsageError(f"probability file {path} holds NaN or infinite values")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        raise UsageError(f"probability file {path} holds values in [{lo:.4g}, {hi:.4g}]; expected probabilities "
                         "in [0, 1] (logits? apply softmax or sigmoid first)")
    if k >= 2:
        off = float(np.abs(values.sum(0) - 1).max())
        if off > SUM_TOLERANCE:
            raise UsageError(f"probability file {path}: the {k} channels do not sum to 1 (largest |sum - 1| = "
                             f"{off:.4g}); expected one channel per class of a softmax")
    return values
