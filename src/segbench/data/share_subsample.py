r"""A subset of a dataset's items whose pooled foreground share is nearest a chosen share: the other way (besides
:mod:`segbench.data.share_crop`) that ``segbench sweep`` takes a real dataset to several shares (#23).

One dataset option, valid for every kind (``load_dataset`` takes it off before the kind's loader sees the rest):
``subsample_share`` (in (0, 1)). Each split is subsampled on its own, after loading (and after a share crop, where
one is asked for too), from its items at their ``image_size``. With :math:`f_i` the foreground and :math:`n_i` the
valid (non-ignored) pixels of item :math:`i`, the pooled share of a subset :math:`S` is

.. math:: p(S) = \sum_{i \in S} f_i \Big/ \sum_{i \in S} n_i .

If the whole split's share is above the target, the items are dropped one at a time in order of their own share
:math:`f_i / n_i`, highest first; below the target, lowest first (ties: the smaller item first, which moves
:math:`p` by less, then the later item). Each drop moves
:math:`p` toward the target (the dropped item lies on the far side of the current pooled share), so the kept set is
the prefix nearest the target (:func:`subsample_indices`; ties: the larger subset): as many items as possible, the
images themselves untouched. At least one item with valid pixels is kept; items without valid pixels are always
kept (they do not move :math:`p`). A split whose items cannot reach the target stops at the nearest share its items
give, so the reached share is measured, not assumed: compare's ``dataset.json`` records it (and the split sizes)
per split, and the sweep report plots against it. Unlike a crop, subsampling changes which images (and how many)
each split holds, test split included: a sweep by subsampling compares the losses on different test images at each
share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError

__all__ = ["SUBSAMPLE_OPTION", "SubsetLoader", "pop_subsample_option", "subsample_indices", "subsampled"]

SUBSAMPLE_OPTION = "subsample_share"


def pop_subsample_option(options: dict[str, Any], spec: str) -> float | None:
    """Remove ``subsample_share`` from ``options``; its value, or None when it is not set.

    >>> opts = {"subsample_share": 0.05, "border": "class"}
    >>> pop_subsample_option(opts, "pets:P"), opts
    (0.05, {'border': 'class'})
    """
    if SUBSAMPLE_OPTION not in options:
        return None
    share = options.pop(SUBSAMPLE_OPTION)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < float(share) < 1.0:
        raise DatasetError(f"{spec}: option {SUBSAMPLE_OPTION} must be a number in (0, 1), got {share!r}")
    return float(share)


def subsample_indices(foreground: npt.ArrayLike, valid: npt.ArrayLike, share: float) -> list[int]:
    """The kept items (ascending): drop the items furthest on the far side of the target until the pooled share
    ``sum(foreground) / sum(valid)`` of the rest is nearest ``share`` (see the module docstring).

    Args:
        foreground: foreground pixels per item.
        valid: valid (non-ignored) pixels per item, each at least its foreground.
        share: the target pooled share.

    >>> subsample_indices([50, 10, 5, 0], [100, 100, 100, 100], 0.05)  # 16.25% pooled; without the 50% item: 5%
    [1, 2, 3]
    >>> subsample_indices([50, 10, 5, 0], [100] * 4, 0.2)  # without the empty item 21.7%; without the 5% too: 30%
    [0, 1, 2]
    """
    f = np.asarray(foreground, dtype=np.float64).reshape(-1)
    n = np.asarray(valid, dtype=np.float64).reshape(-1)
    if f.shape != n.shape or bool((f < 0).any()) or bool((f > n).any()):
        raise ValueError(f"foreground and valid must be counts with 0 <= foreground <= valid, got {f} and {n}")
    counted = np.flatnonzero(n > 0)
    if counted.size == 0:
        return list(range(f.size))
    pooled = f[counted].sum() / n[counted].sum()
    if pooled == share:
        return list(range(f.size))
    own = f[counted] / n[counted]
    sign = 1.0 if pooled > share else -1.0  # drop the highest shares first (above the target), else the lowest
    order = counted[np.lexsort((-counted, n[counted], -sign * own))]  # ties: the smaller, then the later item first
    # the pooled share after dropping the first k of `order`, k = 0 .. len - 1 (at least one counted item kept)
    kept_f = f[counted].sum() - np.concatenate([[0.0], np.cumsum(f[order])[:-1]])
    kept_n = n[counted].sum() - np.concatenate([[0.0], np.cumsum(n[order])[:-1]])
    drops = int(np.argmin(np.abs(kept_f / kept_n - share)))  # the first minimum: the larger subset
    dropped = set(order[:drops].tolist())
    return [i for i in range(f.size) if i not in dropped]


@dataclass(frozen=True)
class SubsetLoader:
    """``loader(j)`` of a subsampled dataset: item ``keep[j]`` of ``inner`` (unaugmented, at its image size)."""

    inner: SegmentationDataset
    keep: tuple[int, ...]

    def __call__(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``keep[j]``: image ``(C, ...)`` and labels ``(...)``."""
        image, mask = self.inner[self.keep[j]]
        return image.numpy(), mask.numpy()


def subsampled(dataset: SegmentationDataset, share: float, *, background: int, augment: bool, seed: int
               ) -> SegmentationDataset:
    """``dataset`` (loaded without augmentation) restricted to :func:`subsample_indices` of its items.

    Args:
        dataset: the loaded split.
        share: the pooled foreground share the kept items aim at.
        background: the background class's label (every other class is foreground).
        augment, seed: the flips of the subsampled dataset (see :class:`SegmentationDataset`).
    """
    fg, ok = [], []
    for i in range(len(dataset)):
        labels = dataset[i][1].numpy()
        valid = np.ones(labels.shape, bool) if dataset.ignore_index is None else labels != dataset.ignore_index
        fg.append(int((valid & (labels != background)).sum()))
        ok.append(int(valid.sum()))
    keep = tuple(subsample_indices(fg, ok, share))
    out = SegmentationDataset(
        dataset.name, [dataset.ids[i] for i in keep], SubsetLoader(dataset, keep), num_classes=dataset.num_classes,
        in_channels=dataset.in_channels, class_names=dataset.class_names, ignore_index=dataset.ignore_index,
        image_size=None, augment=augment, seed=seed, spatial_dims=dataset.spatial_dims, spacing=dataset.spacing,
    )
    if dataset.instance_loader is not None:  # the kept items' reference instances, at the inner image size
        position = {stem: i for i, stem in enumerate(dataset.ids)}
        out.instance_loader = _InstanceLoader(dataset, position)
    return out


@dataclass(frozen=True)
class _InstanceLoader:
    inner: SegmentationDataset
    position: dict[str, int]

    def __call__(self, stem: str) -> np.ndarray:
        inst = self.inner.instances(self.position[stem])
        if inst is None:
            raise DatasetError(f"{self.inner.name}: item {stem!r} has no reference instance map")
        return inst.numpy()
