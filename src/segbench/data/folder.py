"""``folder:PATH``: images and masks in two subfolders, paired by file stem.

Layout: ``PATH/<images>/<stem>.<ext>`` and ``PATH/<masks>/<stem><mask_suffix>.<ext>`` with ext in png,
jpg/jpeg, tif/tiff, npy, bmp, gif (subfolder names default to ``images`` and ``masks``). Masks hold 0/255
binary values (255 -> label 1), integer labels, or anything a ``mapping`` option turns into labels.
If ``PATH/split.json`` exists (``{"train": [stems], "val": [...], "test": [...]}``) it defines the splits;
otherwise a deterministic 60/15/25 split of the sorted stems is drawn with ``split_seed``.

Every pair is checked when the dataset is built: each image has exactly one mask and vice versa, sizes
match, every file reads, and mask values are labels; each error names the file(s).

Options: ``images``, ``masks``, ``mask_suffix``, ``mapping`` (``"binary"`` or ``{raw: label}``),
``num_classes``, ``ignore_index``, ``class_names``, ``channels`` (1 or 3; default: the first image's),
``val_fraction``, ``test_fraction``, ``split_seed``, ``image_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options, float_option
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.data.label_maps import LabelMap, infer_label_map, parse_mapping
from segbench.data.splits import check_split, read_split_file, split_stems
from segbench.files import safe_read
from segbench.files.images import IMAGE_SUFFIXES, image_channels, image_shape, read_image, read_mask

OPTIONS = {
    "images": 'image subfolder (default "images")',
    "masks": 'mask subfolder (default "masks")',
    "mask_suffix": 'mask stem = image stem + this (default "")',
    "mapping": '"binary" (>0 -> 1) or {raw value: label}',
    "num_classes": "number of classes incl. background (default: inferred)",
    "ignore_index": "mask value of ignored pixels",
    "class_names": "list of class names",
    "channels": "1 (grey) or 3 (RGB); default: the first image's",
    "val_fraction": "default 0.15",
    "test_fraction": "default 0.25",
    "split_seed": "seed of the split permutation (default 0)",
    "image_size": "resize to this (int or [H, W])",
}


def _files_by_stem(folder: Path, suffix: str = "") -> dict[str, Path]:
    """Map stem (minus ``suffix``) -> file for the image files in ``folder``; two files per stem is an error."""
    safe_read.check_link(folder)
    if not folder.is_dir():
        raise DatasetError(f"folder {folder} does not exist")
    found: dict[str, Path] = {}
    for path in safe_read.list_folder(folder):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not safe_read.regular_file(path):
            continue  # (a folder is skipped; a link loop, a named pipe... raise)
        stem = path.stem
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        if stem in found:
            raise DatasetError(f"two files for stem {stem!r}: {found[stem]} and {path}")
        found[stem] = path
    if not found:
        raise DatasetError(f"folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return found


def pair_files(root: Path, images: str, masks: str, mask_suffix: str = "") -> dict[str, tuple[Path, Path]]:
    """``stem -> (image, mask)`` for ``root/images`` and ``root/masks``, checking partners and sizes."""
    image_files = _files_by_stem(root / images)
    mask_files = _files_by_stem(root / masks, mask_suffix)
    for stem, path in image_files.items():
        if stem not in mask_files:
            raise DatasetError(f"image {path} has no mask: expected {root / masks / (stem + mask_suffix)}.<ext>")
    for stem, path in mask_files.items():
        if stem not in image_files:
            raise DatasetError(f"mask {path} has no image: expected {root / images / stem}.<ext>")
    pairs = {stem: (image_files[stem], mask_files[stem]) for stem in sorted(image_files)}
    for image, mask in pairs.values():
        image_hw, mask_hw = image_shape(image), image_shape(mask)
        if image_hw != mask_hw:
            raise DatasetError(
                f"size mismatch: image {image} is {image_hw[1]}x{image_hw[0]} (WxH) but mask {mask} is "
                f"{mask_hw[1]}x{mask_hw[0]}"
            )
    return pairs


@dataclass(frozen=True)
class FolderLoader:
    """``loader(i)`` of a folder dataset (a picklable class, so DataLoader workers can be spawned)."""

    pairs: tuple[tuple[Path, Path], ...]
    channels: int
    label_map: LabelMap

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(channels, H, W)`` in [0, 1] and labels ``(H, W)`` of pair ``i``."""
        image_path, mask_path = self.pairs[i]
        return read_image(image_path, self.channels), self.label_map.apply(read_mask(mask_path), mask_path)


def _int_option(options: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = options.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise DatasetError(f"folder: option {key} must be an int, got {value!r}")
    return value


def load_folder(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of the image/mask folder pair under ``request.root`` (see the module docstring)."""
    root, split, name, options = request.root, request.split, request.name, request.options
    check_options("folder", options, OPTIONS)
    check_split(split)
    safe_read.check_link(root)
    if not root.is_dir():
        raise DatasetError(f"{name}: path {root} does not exist or is not a directory")
    for key in ("images",):  # the first thing a user of another layout meets (masks/ is looked for once pairing)
        sub = str(options.get(key, key))
        if not (root / sub).is_dir() and not (root / sub).is_symlink():  # (a broken link has its own error)
            found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            raise DatasetError(
                f"{name}: no {sub}/ folder under {root} (its subfolders: {', '.join(found) or 'none'}); name yours "
                f"with -o images=NAME -o masks=NAME (TOML: [dataset] options). folder options: {', '.join(OPTIONS)}"
            )
    pairs = pair_files(
        root, str(options.get("images", "images")), str(options.get("masks", "masks")),
        str(options.get("mask_suffix", "")),
    )
    ignore_index = _int_option(options, "ignore_index", None)
    label_map: LabelMap = infer_label_map(
        ((mask, np.unique(read_mask(mask))) for _, mask in pairs.values()),
        parse_mapping(options.get("mapping")),
        num_classes=_int_option(options, "num_classes", None),
        ignore_index=ignore_index,
    )
    split_file = root / "split.json"
    if split == "all":
        stems = sorted(pairs)
    elif split_file.is_file():
        stems = read_split_file(split_file, list(pairs))[split]
    else:
        stems = split_stems(
            list(pairs), split,
            val_fraction=float_option("folder", options, "val_fraction", 0.15),
            test_fraction=float_option("folder", options, "test_fraction", 0.25),
            seed=_int_option(options, "split_seed", 0) or 0,
        )
    channels = _int_option(options, "channels", None)
    if channels is None:
        channels = image_channels(next(iter(pairs.values()))[0])
    if channels not in (1, 3):
        raise DatasetError(f"folder: option channels must be 1 or 3, got {channels!r}")
    default_names = ["background", "foreground"] if label_map.num_classes == 2 else [
        "background", *(f"class{k}" for k in range(1, label_map.num_classes))
    ]
    class_names = [str(c) for c in options.get("class_names", default_names)]
    if len(class_names) != label_map.num_classes:
        raise DatasetError(f"{name}: {len(class_names)} class_names for {label_map.num_classes} classes")
    loader = FolderLoader(tuple(pairs[s] for s in stems), channels, label_map)
    return SegmentationDataset(
        name, stems, loader, num_classes=label_map.num_classes, in_channels=channels,
        class_names=class_names, ignore_index=ignore_index, image_size=request.image_size,
        augment=request.augment, seed=request.seed,
    )


register_dataset("folder", load_folder, needs_path=True,
                 description="folder:PATH: PATH/images and PATH/masks paired by file stem (png, jpg, tif, npy)")
