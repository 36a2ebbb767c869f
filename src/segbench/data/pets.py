"""``pets:PATH``: the Oxford-IIIT Pet layout (Parkhi et al., CVPR 2012), photos with trimaps.

Layout: ``PATH/images/<stem>.jpg`` (RGB photos; some are really PNG/RGBA or GIF, so files are opened by
content and converted to RGB) and ``PATH/annotations/trimaps/<stem>.png`` with values 1 = pet,
2 = background, 3 = border (the uncertain band along the outline).

Label mappings (option ``border``):

==================  ===========  ====================  ===========  ==================================
``border``          trimap 1     trimap 2              trimap 3     classes
==================  ===========  ====================  ===========  ==================================
``"class"`` (dflt)  0 pet        1 background          2 border     3: ``pet, background, border``
``"ignore"``        1 pet        0 background          255 ignored  2: ``background, pet``
==================  ===========  ====================  ===========  ==================================

``"class"`` is the classic Keras tutorial (label = trimap - 1; note that class 0 is the pet there).
``"ignore"`` gives a binary pet-vs-background task whose border pixels count nowhere
(``ignore_index``, default 255).

Splits: with ``annotations/trainval.txt`` and ``test.txt`` (the official lists) test is ``test.txt`` and
val is a deterministic ``val_fraction`` (default 0.15) carved from ``trainval.txt``; without them every
``images/*.jpg`` that has a trimap is split 60/15/25 deterministically. ``split_seed`` (default 0) fixes
both draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options, float_option
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.data.splits import carve, check_split, split_stems
from segbench.files.images import image_shape, read_image, read_mask

OPTIONS = {
    "border": '"class" (3 classes: pet, background, border) or "ignore" (2 classes, border ignored)',
    "ignore_index": 'label of border pixels with border="ignore" (default 255)',
    "val_fraction": "share of trainval carved out as val (default 0.15)",
    "test_fraction": "share of test when there are no official lists (default 0.25)",
    "split_seed": "seed of the val carve (default 0)",
    "image_size": "resize to this (int or [H, W])",
}


def _read_list(path: Path) -> list[str]:
    """First word of each non-empty, non-comment line of an official split list."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read split list {path}: {exc}") from exc
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def pet_stems(root: Path, split: str, *, val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """The image stems of ``split`` (sorted), from the official lists when present."""
    annotations = root / "annotations"
    trainval, test = annotations / "trainval.txt", annotations / "test.txt"
    if trainval.is_file() and test.is_file():
        official = {"trainval": _read_list(trainval), "test": _read_list(test)}
        if split == "test":
            return sorted(official["test"])
        if split == "all":
            return sorted({*official["trainval"], *official["test"]})
        train, val = carve(official["trainval"], val_fraction, seed)
        return train if split == "train" else val
    stems = [p.stem for p in (root / "images").glob("*.jpg") if (annotations / "trimaps" / f"{p.stem}.png").is_file()]
    if not stems:
        raise DatasetError(f"no images/*.jpg with annotations/trimaps/*.png under {root}")
    return split_stems(stems, split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


def trimap_to_labels(trimap: np.ndarray, border: str, ignore_index: int, path: Path) -> np.ndarray:
    """Labels from a trimap (1 pet, 2 background, 3 border), per the table in the module docstring.

    >>> trimap_to_labels(np.array([1, 2, 3]), "class", 255, Path("t.png")).tolist()
    [0, 1, 2]
    >>> trimap_to_labels(np.array([1, 2, 3]), "ignore", 255, Path("t.png")).tolist()
    [1, 0, 255]
    """
    bad = np.setdiff1d(np.unique(trimap), [1, 2, 3])
    if bad.size:
        raise DatasetError(f"trimap {path} holds values {bad[:10].tolist()}; expected 1 (pet), 2, 3")
    if border == "class":
        return (trimap - 1).astype(np.int64)
    lookup = np.array([0, 1, 0, ignore_index], dtype=np.int64)
    return lookup[trimap]


@dataclass(frozen=True)
class PetsLoader:
    """``loader(i)`` of a pets dataset (a picklable class, so DataLoader workers can be spawned)."""

    pairs: tuple[tuple[Path, Path], ...]
    border: str
    ignore_index: int

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """RGB image ``(3, H, W)`` in [0, 1] and labels ``(H, W)`` of pair ``i``."""
        image, trimap = self.pairs[i]
        return read_image(image, 3), trimap_to_labels(read_mask(trimap), self.border, self.ignore_index, trimap)


def load_pets(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of the Oxford-IIIT Pet tree at ``request.root`` (see the module docstring)."""
    root, split, name, options = request.root, request.split, request.name, request.options
    check_options("pets", options, OPTIONS)
    check_split(split)
    if not root.is_dir():
        raise DatasetError(f"{name}: path {root} does not exist or is not a directory")
    border = options.get("border", "class")
    if border not in ("class", "ignore"):
        raise DatasetError(f'{name}: option border must be "class" or "ignore", got {border!r}')
    ignore_index = int(options.get("ignore_index", 255))
    if border == "ignore" and ignore_index in (0, 1):
        raise DatasetError(f"{name}: ignore_index {ignore_index} collides with the labels 0/1")
    stems = pet_stems(
        root, split, val_fraction=float_option("pets", options, "val_fraction", 0.15),
        test_fraction=float_option("pets", options, "test_fraction", 0.25), seed=int(options.get("split_seed", 0)),
    )
    pairs = []
    for stem in stems:
        image, trimap = root / "images" / f"{stem}.jpg", root / "annotations" / "trimaps" / f"{stem}.png"
        for path, what in ((image, "image"), (trimap, "trimap")):
            if not path.is_file():
                raise DatasetError(f"{name}: {what} {path} of {stem!r} is missing")
        if image_shape(image) != image_shape(trimap):
            raise DatasetError(
                f"size mismatch: image {image} is {image_shape(image)} (HxW) but trimap {trimap} is "
                f"{image_shape(trimap)}"
            )
        pairs.append((image, trimap))
    loader = PetsLoader(tuple(pairs), border, ignore_index)
    three = border == "class"
    return SegmentationDataset(
        name, stems, loader, num_classes=3 if three else 2, in_channels=3,
        class_names=["pet", "background", "border"] if three else ["background", "pet"],
        ignore_index=None if three else ignore_index, image_size=request.image_size,
        augment=request.augment, seed=request.seed,
    )


register_dataset(
    "pets", load_pets, needs_path=True,
    description="pets:PATH: Oxford-IIIT Pet (images/, annotations/trimaps/); option border='class'|'ignore'",
)
