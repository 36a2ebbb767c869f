r"""Crops of a dataset's images that reach a chosen foreground share: how ``segbench sweep`` takes a real dataset
to several shares (#23).

Two dataset options, valid for every kind (``load_dataset`` takes them off before the kind's loader sees the rest):
``crop_share`` (in (0, 1)) and ``crop_size`` (an int or ``[H, W]``, at most the loaded image size). Each item, at
its ``image_size``, is cropped to the ``crop_size`` window whose foreground share is nearest ``crop_share``
(:func:`crop_window`): around the foreground for a large share, over its edge or the background for a small one.
An image cannot give a share its windows do not hold (no window of an all-background image has foreground), so the
reached share is measured, not assumed: compare's ``dataset.json`` records it per split, and the sweep report plots
against it. Flips (``augment``) are drawn after the crop, as for any dataset; reference instance maps are not
cropped, so a cropped dataset has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError
from segbench.data.transforms import as_size

__all__ = ["CROP_OPTIONS", "CropLoader", "crop_window", "cropped", "pop_crop_options"]

CROP_OPTIONS = ("crop_share", "crop_size")


def pop_crop_options(options: dict[str, Any], spec: str) -> tuple[float, tuple[int, int]] | None:
    """Remove ``crop_share`` and ``crop_size`` from ``options``; ``(share, (h, w))``, or None when neither is set.

    >>> opts = {"crop_share": 0.1, "crop_size": 32, "border": "ignore"}
    >>> pop_crop_options(opts, "pets:P"), opts
    ((0.1, (32, 32)), {'border': 'ignore'})
    """
    found = {k: options.pop(k) for k in CROP_OPTIONS if k in options}
    if not found:
        return None
    if len(found) != 2:
        raise DatasetError(f"{spec}: options crop_share and crop_size go together; got only {sorted(found)}")
    share = found["crop_share"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < float(share) < 1.0:
        raise DatasetError(f"{spec}: option crop_share must be a number in (0, 1), got {share!r}")
    try:
        size = as_size(found["crop_size"])
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{spec}: option crop_size: {exc}") from exc
    return float(share), size


def crop_window(foreground: npt.ArrayLike, valid: npt.ArrayLike, size: tuple[int, int], share: float
                ) -> tuple[int, int]:
    r"""The top-left corner ``(y, x)`` of the ``size`` window whose foreground share is nearest ``share``.

    With :math:`F(w)` and :math:`V(w)` the foreground and valid (not ignored) pixels of window :math:`w` (summed
    area tables), the window minimises :math:`|F(w) / \max(V(w), 1) - f|`; ties go to the window whose centre is
    nearest the image's centre, then to the first in raster order.

    >>> fg = np.zeros((6, 6), bool); fg[0:2, 0:2] = True
    >>> crop_window(fg, np.ones((6, 6), bool), (2, 2), 1.0), crop_window(fg, np.ones((6, 6), bool), (2, 2), 0.25)
    ((0, 0), (1, 1))
    """
    fg = np.asarray(foreground, dtype=np.int64)
    ok = np.asarray(valid, dtype=np.int64)
    h, w = size
    height, width = fg.shape
    if h > height or w > width:
        raise DatasetError(f"crop_size {[h, w]} is larger than the image {[height, width]}")

    def window_sums(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        table = np.pad(x.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        return np.asarray(table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w])

    shares = window_sums(fg) / np.maximum(window_sums(ok), 1)
    gap = np.abs(shares - share)
    ys, xs = np.mgrid[0 : gap.shape[0], 0 : gap.shape[1]]
    centre = np.hypot(ys + h / 2 - height / 2, xs + w / 2 - width / 2)
    best = np.lexsort((np.arange(gap.size), centre.ravel(), np.round(gap.ravel(), 12)))[0]
    return int(best // gap.shape[1]), int(best % gap.shape[1])


@dataclass(frozen=True)
class CropLoader:
    """``loader(i)`` of a cropped dataset: item ``i`` of ``inner`` (unaugmented, at its image size), cropped."""

    inner: SegmentationDataset
    share: float
    size: tuple[int, int]
    background: int

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The crop of item ``i``: image ``(C, h, w)`` and labels ``(h, w)``."""
        image, mask = self.inner[i]
        labels = mask.numpy()
        ignore = self.inner.ignore_index
        valid = np.ones(labels.shape, bool) if ignore is None else labels != ignore
        foreground = valid & (labels != self.background)
        try:
            y, x = crop_window(foreground, valid, self.size, self.share)
        except DatasetError as exc:
            raise DatasetError(f"{self.inner.name}: item {self.inner.ids[i]!r}: {exc}") from None
        h, w = self.size
        return image.numpy()[:, y : y + h, x : x + w], labels[y : y + h, x : x + w]


def cropped(dataset: SegmentationDataset, share: float, size: tuple[int, int], *, background: int,
            augment: bool, seed: int) -> SegmentationDataset:
    """``dataset`` (loaded without augmentation) with every item cropped by :class:`CropLoader`.

    Args:
        dataset: the loaded split.
        share: the foreground share each crop aims at.
        size: the crops' ``(h, w)``.
        background: the background class's label.
        augment, seed: the flips of the cropped dataset (see :class:`SegmentationDataset`).
    """
    return SegmentationDataset(
        dataset.name, dataset.ids, CropLoader(dataset, share, size, background), num_classes=dataset.num_classes,
        in_channels=dataset.in_channels, class_names=dataset.class_names, ignore_index=dataset.ignore_index,
        image_size=None, augment=augment, seed=seed,
    )
