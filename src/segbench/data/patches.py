"""Random training patches with a stated foreground-oversampling share, as nnU-Net samples them.

Of a batch of ``B`` patches, the last ``round(foreground_share * B)`` are centred on a foreground voxel drawn
uniformly from all foreground voxels of the case (nnU-Net's ``oversample_foreground_percent``, 1/3 by default
there); the others are placed uniformly at random. The share is exact per batch, not a probability, so every
batch holds the stated number of foreground-centred patches (fewer only when the case has no foreground).
A patch's origin is clipped so that the patch lies inside the volume; an axis shorter than the patch is
padded by the caller (:func:`crop_patch` pads with zeros and the label ``pad_label``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PatchDraw", "crop_patch", "draw_patch_origins", "sample_patch_origins"]


@dataclass(frozen=True)
class PatchDraw:
    """Where a patch starts (may be negative or pass the end on an axis shorter than the patch: padding),
    and whether it was centred on foreground."""

    origin: tuple[int, ...]
    foreground: bool


def _clip(centre: np.ndarray, shape: Sequence[int], patch: Sequence[int]) -> tuple[int, ...]:
    out = []
    for c, n, p in zip(centre.tolist(), shape, patch, strict=True):
        lo = int(c) - p // 2
        out.append(min(max(lo, 0), n - p) if n >= p else -((p - n) // 2))
    return tuple(out)


def sample_patch_origins(
    labels: np.ndarray,
    patch: Sequence[int],
    batch: int,
    foreground_share: float,
    rng: np.random.Generator,
) -> list[PatchDraw]:
    """``batch`` patch origins for one labelled case (see the module docstring).

    Args:
        labels: the case's label map (any integer array; foreground is every label > 0).
        patch: the patch size per axis.
        batch: the number of patches.
        foreground_share: the fraction of the batch centred on foreground, in ``[0, 1]``.
        rng: the random generator (seeded per step for identical batches per seed).

    >>> lab = np.zeros((20, 20), np.int64); lab[15, 3] = 1
    >>> draws = sample_patch_origins(lab, (8, 8), 3, 1 / 3, np.random.default_rng(0))
    >>> [d.foreground for d in draws], draws[-1].origin
    ([False, False, True], (11, 0))
    """
    n_fg = round(foreground_share * batch) if 0 <= foreground_share <= 1 else 0
    foreground = np.flatnonzero(labels.reshape(-1) > 0) if n_fg else np.empty(0, np.int64)
    return draw_patch_origins(labels.shape, foreground, patch, batch, foreground_share, rng)


def draw_patch_origins(
    shape: Sequence[int],
    foreground: np.ndarray,
    patch: Sequence[int],
    batch: int,
    foreground_share: float,
    rng: np.random.Generator,
) -> list[PatchDraw]:
    """:func:`sample_patch_origins` from a case's shape and its foreground voxels (flat C-order indices of the
    labels > 0) alone, for a case opened for patch reads: the same draws from the same generator.

    Args:
        shape: the case's spatial shape.
        foreground: the flat indices of its foreground voxels (any order-preserving copy of
            ``np.flatnonzero(labels > 0)``).
        patch: the patch size per axis.
        batch: the number of patches.
        foreground_share: the fraction of the batch centred on foreground, in ``[0, 1]``.
        rng: the random generator.

    >>> lab = np.zeros((20, 20), np.int64); lab[15, 3] = 1
    >>> a = draw_patch_origins(lab.shape, np.flatnonzero(lab), (8, 8), 3, 1 / 3, np.random.default_rng(0))
    >>> a == sample_patch_origins(lab, (8, 8), 3, 1 / 3, np.random.default_rng(0))
    True
    """
    shape = tuple(int(n) for n in shape)
    if not 0 <= foreground_share <= 1:
        raise ValueError(f"foreground_share must lie in [0, 1], got {foreground_share!r}")
    if len(patch) != len(shape) or any(int(p) < 1 for p in patch):
        raise ValueError(f"patch must give one positive size per axis of {shape}, got {tuple(patch)}")
    n_fg = round(foreground_share * batch)
    draws = []
    for k in range(batch):
        if k >= batch - n_fg and foreground.size:
            centre = np.array(np.unravel_index(int(foreground[rng.integers(foreground.size)]), shape))
            draws.append(PatchDraw(_clip(centre, shape, patch), True))
            continue
        origin = tuple(int(rng.integers(n - p + 1)) if n >= p else -((p - n) // 2)
                       for n, p in zip(shape, patch, strict=True))
        draws.append(PatchDraw(origin, False))
    return draws


def crop_patch(
    array: np.ndarray, origin: Sequence[int], patch: Sequence[int], pad_value: int | float = 0
) -> np.ndarray:
    """The patch of ``array`` at ``origin`` (its last ``len(patch)`` axes), padded with ``pad_value`` outside.

    Args:
        array: the image ``(C, *S)`` or labels ``(*S)``.
        origin: the patch start per spatial axis (negative: padding before).
        patch: the patch size per spatial axis.
        pad_value: the value of voxels outside the array.

    >>> crop_patch(np.arange(6).reshape(2, 3), (-1, 1), (3, 2), pad_value=-1).tolist()
    [[-1, -1], [1, 2], [4, 5]]
    """
    lead = array.ndim - len(patch)
    out = np.full(array.shape[:lead] + tuple(patch), pad_value, dtype=array.dtype)
    src: list[slice] = []
    dst: list[slice] = []
    for o, p, n in zip(origin, patch, array.shape[lead:], strict=True):
        lo, hi = max(o, 0), min(o + p, n)
        src.append(slice(lo, hi))
        dst.append(slice(lo - o, hi - o))
    into: tuple[Any, ...] = (Ellipsis, *dst)
    take: tuple[Any, ...] = (Ellipsis, *src)
    out[into] = array[take]
    return out
