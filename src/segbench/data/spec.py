"""Dataset spec strings (``sample``, ``synthetic``, ``pets:PATH``, ``folder:PATH``) and ``load_dataset``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError
from segbench.data.kinds import DATASETS, LoadRequest
from segbench.data.share_crop import cropped, pop_crop_options
from segbench.data.share_subsample import pop_subsample_option, subsampled
from segbench.data.splits import Split
from segbench.data.transforms import as_size

# each registers its kind; this is the listing order
for _module in ("sample", "synthetic", "pets", "folder", "synthetic3d", "volumes"):
    importlib.import_module(f"segbench.data.{_module}")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: ``kind`` (one of :func:`available_kinds`) and ``path`` (or ``None``)."""

    kind: str
    path: Path | None = None


def available_kinds() -> dict[str, str]:
    """Dataset kinds -> one-line description with the spec syntax (for ``segbench list``).

    >>> list(available_kinds())
    ['sample', 'synthetic', 'pets', 'folder', 'synthetic3d', 'volumes']
    """
    return dict(DATASETS.describe())


def parse_spec(spec: str) -> DatasetSpec:
    """Parse ``"sample"``, ``"synthetic"``, ``"pets:PATH"`` or ``"folder:PATH"`` (the path need not exist yet).

    >>> parse_spec("folder:data/em")
    DatasetSpec(kind='folder', path=PosixPath('data/em'))
    >>> parse_spec("imagenet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.data.errors.DatasetError: unknown dataset kind 'imagenet' in spec 'imagenet'; valid kinds: sample, ...
    """
    if not isinstance(spec, str):
        raise DatasetError(f"a dataset spec must be a string, got {type(spec).__name__}")
    kind, sep, path = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in DATASETS:
        valid = ", ".join(f"{k}:PATH" if DATASETS.get(k).needs_path else k for k in DATASETS)
        raise DatasetError(f"unknown dataset kind {kind!r} in spec {spec!r}; valid kinds: {valid}")
    path = path.strip()
    needs_path = DATASETS.get(kind).needs_path
    if needs_path and not path:
        raise DatasetError(f"dataset spec {spec!r} needs a path: {kind}:PATH")
    if not needs_path and sep:
        raise DatasetError(f"dataset kind {kind!r} takes no path, got spec {spec!r}")
    return DatasetSpec(kind, Path(path).expanduser() if path else None)


def load_dataset(
    spec: str,
    split: Split,
    *,
    image_size: int | tuple[int, int] | None = None,
    options: Mapping[str, Any] | None = None,
    augment: bool = False,
    seed: int = 0,
) -> SegmentationDataset:
    """Load ``split`` (``train``, ``val``, ``test`` or ``all``) of the dataset named by ``spec``.

    Args:
        spec: ``sample``, ``synthetic``, ``pets:PATH`` or ``folder:PATH``.
        split: which part; splits are fixed per dataset and never depend on ``seed``.
        image_size: resize every item to this (int: square; ``(H, W)``); ``None``: the ``image_size``
            option, else the native size. Images bilinearly, masks by nearest neighbour.
        options: kind-specific options (the TOML ``[dataset]`` table without the spec); an unknown key
            is an error that lists the valid ones. ``crop_share`` and ``crop_size`` (any kind) crop every item
            to a window of that foreground share (:mod:`segbench.data.share_crop`); ``subsample_share`` (any
            kind) keeps the split's items whose pooled foreground share is nearest it
            (:mod:`segbench.data.share_subsample`; after the crop where both are given).
        augment: random horizontal/vertical flips of image and mask together.
        seed: seeds the flips (see :class:`SegmentationDataset`).

    Returns:
        A :class:`SegmentationDataset` of ``(image (C, H, W) float32 in [0, 1], mask (H, W) int64)``.

    >>> data = load_dataset("synthetic", "train", image_size=32, options={"num_images": 10})
    >>> len(data), data.num_classes, data[0][0].shape
    (5, 2, torch.Size([1, 32, 32]))
    """
    parsed = parse_spec(spec)
    opts = dict(options or {})
    crop = pop_crop_options(opts, spec)  # crop_share / crop_size: any kind, cropped after loading (#23)
    size_value = image_size if image_size is not None else opts.get("image_size")
    try:
        size = None if size_value is None else as_size(size_value)
    except ValueError as exc:
        raise DatasetError(f"{spec}: {exc}") from exc
    kind = DATASETS.get(parsed.kind)
    if kind.needs_path and (parsed.path is None or not parsed.path.exists()):
        raise DatasetError(f"{spec}: path {parsed.path} does not exist")
    subsample = pop_subsample_option(opts, spec)  # subsample_share: any kind, items kept after loading (#23)
    if crop is None and subsample is None:
        return kind.load(LoadRequest(split, spec, opts, size, augment, seed, parsed.path))
    from segbench.trivial import background_index  # (lazily: the data layer loads without the metrics)

    loaded = kind.load(LoadRequest(split, spec, opts, size, False, seed, parsed.path))
    background = background_index(loaded.class_names)
    if crop is not None:
        loaded = cropped(loaded, *crop, background=background, augment=augment and subsample is None, seed=seed)
    if subsample is None:
        return loaded
    return subsampled(loaded, subsample, background=background, augment=augment, seed=seed)
