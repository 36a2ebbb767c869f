"""The dataset class every loader returns: images ``(C, H, W)`` float32 in [0, 1], masks ``(H, W)`` int64
(volumes: ``(C, Z, Y, X)`` and ``(Z, Y, X)``, with their voxel spacing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segbench.data.errors import DatasetError
from segbench.data.transforms import random_flip, resize_image, resize_mask

Loader = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""``loader(i) -> (image (C, H, W) float32 in [0, 1], mask (H, W) int64 labels)`` at native size."""


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Pairs ``(image, mask)``: ``image`` float32 ``(in_channels, H, W)`` in ``[0, 1]``, ``mask`` int64 ``(H, W)``.

    Volumes (``spatial_dims=3``): ``image`` ``(in_channels, Z, Y, X)`` and ``mask`` ``(Z, Y, X)``, never resized
    (``image_size`` must be ``None``), and the cases may differ in shape; ``spacing`` is the voxel size per axis in
    array order (mm) shared by every item, or ``None``. Where the items' spacings differ, ``spacings`` gives one per
    item (:meth:`item_spacing`) and ``spacing`` is ``None``.

    Mask values are class labels in ``[0, num_classes)``, or ``ignore_index`` (when not ``None``) for pixels
    that count nowhere. ``image_size`` (an ``(H, W)`` pair or ``None`` for the native size) is applied to
    every item: images bilinearly, masks by nearest neighbour. Resized items are cached in memory
    (``cache=True``), so files are decoded once.

    With ``augment=True`` each fetch flips the pair horizontally and/or vertically (p = 1/2 each), drawn
    from a :class:`torch.Generator` seeded by ``(seed, epoch, index, k)`` where ``k`` counts earlier fetches
    of that index: a run is reproducible, successive epochs see different flips, and the flips of one
    item do not depend on the order items are read in. :meth:`set_epoch` sets ``epoch`` (do it in
    DataLoader setups with worker processes, whose fetch counters restart every epoch).

    Attributes: ``name`` (the spec), ``ids`` (image stems, in item order), ``num_classes`` (real classes,
    background included), ``in_channels``, ``ignore_index``, ``class_names``, and ``instance_loader``: where a
    dataset ships reference instance maps, ``instance_loader(stem)`` gives one ``(H, W)`` at native size (0 =
    background; :meth:`instances` reads it at ``image_size``), else ``None``.

    >>> def loader(i: int) -> tuple[np.ndarray, np.ndarray]:
    ...     return np.full((1, 4, 4), i / 2, dtype=np.float32), np.eye(4, dtype=np.int64)
    >>> data = SegmentationDataset("demo", ["a", "b"], loader, num_classes=2, in_channels=1,
    ...                            class_names=["background", "object"], image_size=(2, 2))
    >>> image, mask = data[1]
    >>> image.shape, mask.tolist(), len(data)
    (torch.Size([1, 2, 2]), [[1, 0], [0, 1]], 2)
    """

    def __init__(
        self,
        name: str,
        ids: Sequence[str],
        loader: Loader,
        *,
        num_classes: int,
        in_channels: int,
        class_names: Sequence[str],
        ignore_index: int | None = None,
        image_size: tuple[int, int] | None = None,
        augment: bool = False,
        seed: int = 0,
        cache: bool = True,
        spatial_dims: int = 2,
        spacing: Sequence[float] | None = None,
        spacings: Sequence[Sequence[float] | None] | None = None,
        opener: Callable[[int], Any] | None = None,
    ) -> None:
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes: {list(class_names)}")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        if spatial_dims == 3 and image_size is not None:
            raise DatasetError(f"{name}: volumes are not resized; set [dataset] image_size = \"native\" "
                               f"(--image-size native; got {tuple(image_size)})")
        if spacing is not None and len(spacing) != spatial_dims:
            raise ValueError(f"spacing must give one size per spatial axis ({spatial_dims}), got {tuple(spacing)}")
        if spacings is not None and len(spacings) != len(ids):
            raise ValueError(f"spacings must give one spacing per item ({len(ids)}), got {len(spacings)}")
        self.spatial_dims = int(spatial_dims)
        self.spacing = None if spacing is None else tuple(float(s) for s in spacing)
        self.spacings = None if spacings is None else [
            None if sp is None else tuple(float(s) for s in sp) for sp in spacings]
        self.name = name
        self.ids = list(ids)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.class_names = list(class_names)
        self.ignore_index = ignore_index
        self.image_size = image_size
        self.augment = bool(augment)
        self.seed = int(seed)
        self.epoch = 0
        self._loader = loader
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None
        self._fetches = [0] * len(self.ids)
        self.instance_loader: Callable[[str], np.ndarray] | None = None
        self.open_case = opener
        """Where the files allow patch reads (``volumes:``): ``open_case(i)`` opens item ``i`` for them (a
        :class:`segbench.data.volumes.PatchCase`: ``shape``, ``foreground()``, ``patch(origin, size, pad_label)``,
        equal to cropping the unaugmented item); else ``None``."""

    def instances(self, i: int) -> torch.Tensor | None:
        """The reference instance map of item ``i`` ``(H, W)`` int64 at ``image_size`` (nearest neighbour), or
        ``None`` where the dataset has none; DatasetError where its foreground is not the mask's."""
        if self.instance_loader is None:
            return None
        i = self._index(i)
        inst = torch.from_numpy(np.ascontiguousarray(self.instance_loader(self.ids[i]), np.int64))
        mask = self.raw_mask(i)
        if inst.shape != mask.shape or not bool(((inst > 0) == (mask > 0)).all()):
            raise DatasetError(f"{self.name}: the instance map of {self.ids[i]!r} {tuple(inst.shape)} does not "
                               f"cover exactly the foreground of its mask {tuple(mask.shape)}")
        return inst if self.image_size is None else resize_mask(inst, self.image_size)

    def __len__(self) -> int:
        return len(self.ids)

    def item_spacing(self, i: int) -> tuple[float, ...] | None:
        """The voxel spacing of item ``i`` (array axis order, mm): its own where ``spacings`` is given, else the
        shared ``spacing`` (``None``: distances in voxels)."""
        return self.spacing if self.spacings is None else self.spacings[self._index(i)]

    def __repr__(self) -> str:
        size = "native" if self.image_size is None else f"{self.image_size[0]}x{self.image_size[1]}"
        return (
            f"SegmentationDataset({self.name!r}, {len(self)} items, {self.num_classes} classes "
            f"{self.class_names}, in_channels={self.in_channels}, ignore_index={self.ignore_index}, "
            f"size={size}, augment={self.augment})"
        )

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {self.name!r} with {len(self)} items")
        return i % len(self)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that (with the seed, index and fetch count) seeds the flips of each item."""
        self.epoch = int(epoch)

    def raw(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``i`` at its native size, unaugmented: image ``(C, H, W)`` float32, mask ``(H, W)`` int64."""
        i = self._index(i)
        image, mask = self._loader(i)
        image_np, mask_np = np.ascontiguousarray(image, np.float32), np.ascontiguousarray(mask, np.int64)
        image_t = torch.from_numpy(image_np if image_np.flags.writeable else image_np.copy())
        mask_t = torch.from_numpy(mask_np if mask_np.flags.writeable else mask_np.copy())
        if image_t.ndim != 1 + self.spatial_dims or image_t.shape[0] != self.in_channels or \
                mask_t.shape != image_t.shape[1:]:
            axes = "H, W" if self.spatial_dims == 2 else "Z, Y, X"
            raise DatasetError(
                f"{self.name}: item {self.ids[i]!r} has image {tuple(image_t.shape)} and mask "
                f"{tuple(mask_t.shape)}; expected ({self.in_channels}, {axes}) and ({axes})"
            )
        valid = (mask_t >= 0) & (mask_t < self.num_classes)
        if self.ignore_index is not None:
            valid |= mask_t == self.ignore_index
        if not bool(valid.all()):
            bad = sorted(set(mask_t[~valid].unique().tolist()))[:10]
            raise DatasetError(
                f"{self.name}: mask of {self.ids[i]!r} holds labels {bad}; expected 0..{self.num_classes - 1}"
                + ("" if self.ignore_index is None else f" or ignore_index {self.ignore_index}")
            )
        return image_t, mask_t

    def raw_mask(self, i: int) -> torch.Tensor:
        """The label map of item ``i`` at its native size, ``(H, W)`` int64."""
        return self.raw(i)[1]

    def _resized(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        image, mask = self.raw(i)
        if self.image_size is not None:
            image, mask = resize_image(image, self.image_size), resize_mask(mask, self.image_size)
        if self._cache is not None:
            self._cache[i] = (image, mask)
        return image, mask

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._index(i)
        image, mask = self._resized(i)
        if not self.augment:
            return image.clone(), mask.clone()
        state = np.random.SeedSequence([self.seed, self.epoch, i, self._fetches[i]]).generate_state(1)
        self._fetches[i] += 1
        generator = torch.Generator().manual_seed(int(state[0]))
        flipped_image, flipped_mask = random_flip(image, mask, generator)
        return flipped_image.clone(), flipped_mask.clone()

    def class_counts(self) -> torch.Tensor:
        """Pixels per class ``(num_classes,)`` int64 over all items at ``image_size``, ignored pixels excluded.

        The foreground share of a binary dataset is ``counts[1] / counts.sum()``.
        """
        counts = torch.zeros(self.num_classes, dtype=torch.int64)
        for i in range(len(self)):
            mask = self._resized(i)[1]
            if self.ignore_index is not None:
                mask = mask[mask != self.ignore_index]
            counts += torch.bincount(mask.reshape(-1), minlength=self.num_classes)[: self.num_classes]
        return counts
