"""``synthetic``: seeded random shapes with exact masks, for controlled class imbalance.

Each image is drawn from its own generator ``numpy.random.default_rng([seed, index])``, so image ``k`` is
the same whatever the split or the number of images. Objects (rotated ellipses, rectangles and
star-shaped blobs; a pixel belongs to an object when its centre lies inside) get a random class in
``1..num_classes-1`` and are painted in order (later ones occlude earlier ones); label 0 is background.
Objects are drawn until the image's foreground share reaches ``foreground_fraction`` (the last object is
shrunk to fit, but never below a 1-pixel radius, so tiny targets give one or two small objects), or a
fixed ``num_objects`` are drawn when that option is set.

The image is the class intensity map, blurred by a Gaussian of ``blur`` pixels, plus Gaussian noise of
standard deviation ``noise``, clipped to ``[0, 1]``:

.. math:: x = \\operatorname{clip}\\big(G_{\\sigma} * \\mu_{y} + \\varepsilon,\\ 0,\\ 1\\big),
          \\quad \\varepsilon \\sim \\mathcal N(0, \\text{noise}^2)

Options (all settable from the TOML ``[dataset]`` table): ``num_classes`` (2), ``num_images`` (48, all
splits together), ``image_size`` (64), ``foreground_fraction`` (0.1), ``num_objects`` (int or
``[lo, hi]``; overrides ``foreground_fraction``), ``object_radius`` (``[lo, hi]`` px; default
``[2, max(3, min(H, W) / 8)]``), ``shapes`` (subset of ellipse, rectangle, blob), ``noise`` (0.1),
``blur`` (1.0), ``intensities`` (one per class; default background 0.2, classes evenly in [0.5, 0.9]),
``seed`` (0: the data, not the run seed, which drives only augmentation), ``val_fraction`` (0.15),
``test_fraction`` (0.25).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options, float_option
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.data.splits import check_split, split_stems
from segbench.data.transforms import as_size

SHAPES = ("ellipse", "rectangle", "blob")
OPTIONS = {
    "num_classes": "classes incl. background (default 2)",
    "num_images": "images over all splits (default 48)",
    "image_size": "int or [H, W] (default 64)",
    "foreground_fraction": "target foreground share per image (default 0.1)",
    "num_objects": "int or [lo, hi]: a fixed object count instead of foreground_fraction",
    "object_radius": "[lo, hi] object radius in pixels",
    "shapes": f"subset of {list(SHAPES)}",
    "noise": "Gaussian noise std (default 0.1)",
    "blur": "Gaussian blur sigma in pixels (default 1.0)",
    "intensities": "mean intensity per class",
    "seed": "seed of the data (default 0)",
    "val_fraction": "default 0.15",
    "test_fraction": "default 0.25",
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Validated generator settings (see the module docstring for their meaning)."""

    num_classes: int = 2
    num_images: int = 48
    size: tuple[int, int] = (64, 64)
    foreground_fraction: float = 0.1
    num_objects: tuple[int, int] | None = None
    object_radius: tuple[float, float] | None = None
    shapes: tuple[str, ...] = SHAPES
    noise: float = 0.1
    blur: float = 1.0
    intensities: tuple[float, ...] | None = None
    seed: int = 0

    def radius_range(self) -> tuple[float, float]:
        """``object_radius`` or its default ``[2, max(3, min(H, W) / 8)]``."""
        return self.object_radius or (2.0, max(3.0, min(self.size) / 8))

    def class_intensities(self) -> np.ndarray:
        """Mean intensity per class, ``(num_classes,)``."""
        if self.intensities is not None:
            return np.asarray(self.intensities, dtype=np.float64)
        return np.array([0.2, *np.linspace(0.5, 0.9, self.num_classes - 1)])


def _pair(value: Any, key: str, kind: type) -> tuple[Any, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, Sequence) or len(value) != 2 or value[0] > value[1] or value[0] < 0:
        raise DatasetError(f"synthetic: option {key} must be a number or [lo, hi] with 0 <= lo <= hi, got {value!r}")
    return kind(value[0]), kind(value[1])


def parse_config(options: Mapping[str, Any], image_size: tuple[int, int] | None) -> SyntheticConfig:
    """A :class:`SyntheticConfig` from the options dict; ``image_size`` (if given) overrides the option.

    >>> parse_config({"num_classes": 3, "foreground_fraction": 0.005}, (32, 32)).size
    (32, 32)
    """
    check_options("synthetic", options, OPTIONS)
    try:
        size = image_size or as_size(options.get("image_size", 64))
    except ValueError as exc:
        raise DatasetError(f"synthetic: {exc}") from exc
    num_classes = options.get("num_classes", 2)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise DatasetError(f"synthetic: num_classes must be an int >= 2, got {num_classes!r}")
    num_images = options.get("num_images", 48)
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise DatasetError(f"synthetic: num_images must be a positive int, got {num_images!r}")
    fraction = float_option("synthetic", options, "foreground_fraction", 0.1)
    if not 0.0 < fraction <= 0.95:
        raise DatasetError(f"synthetic: foreground_fraction must be in (0, 0.95], got {fraction!r}")
    shapes = tuple(options.get("shapes", SHAPES))
    if not shapes or not set(shapes) <= set(SHAPES):
        raise DatasetError(f"synthetic: shapes must be a non-empty subset of {list(SHAPES)}, got {shapes!r}")
    intensities = options.get("intensities")
    if intensities is not None and len(intensities) != num_classes:
        raise DatasetError(f"synthetic: {len(intensities)} intensities for {num_classes} classes")
    noise, blur = float_option("synthetic", options, "noise", 0.1), float_option("synthetic", options, "blur", 1.0)
    if noise < 0 or blur < 0:
        raise DatasetError(f"synthetic: noise and blur must be >= 0, got noise={noise}, blur={blur}")
    objects = options.get("num_objects")
    radius = options.get("object_radius")
    return SyntheticConfig(
        num_classes=num_classes, num_images=num_images, size=size, foreground_fraction=fraction,
        num_objects=None if objects is None else _pair(objects, "num_objects", int),
        object_radius=None if radius is None else _pair(radius, "object_radius", float),
        shapes=shapes, noise=noise, blur=blur,
        intensities=None if intensities is None else tuple(float(v) for v in intensities),
        seed=int(options.get("seed", 0)),
    )


def _inside(shape: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixels inside a unit shape in normalised coordinates ``(u, v)``."""
    if shape == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    rho = np.hypot(u, v)
    if shape == "ellipse":
        return rho <= 1.0
    phi = np.arctan2(v, u)
    boundary = np.ones_like(rho)
    for k in (2, 3, 4):
        boundary += rng.uniform(0.0, 0.15) * np.cos(k * phi + rng.uniform(0.0, 2 * np.pi))
    return rho <= boundary


def _paint(labels: np.ndarray, label: int, shape: str, a: float, b: float, rng: np.random.Generator) -> None:
    """Paint one object of radii ``(a, b)`` at a random pixel with a random rotation."""
    height, width = labels.shape
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    angle = rng.uniform(0.0, np.pi)
    if shape == "rectangle":  # half-sides with the ellipse's area
        a, b = a * math.sqrt(math.pi) / 2, b * math.sqrt(math.pi) / 2
    reach = math.ceil(1.5 * math.hypot(a, b))
    y0, y1 = max(cy - reach, 0), min(cy + reach + 1, height)
    x0, x1 = max(cx - reach, 0), min(cx + reach + 1, width)
    dy, dx = np.mgrid[y0 - cy : y1 - cy, x0 - cx : x1 - cx].astype(np.float64)
    u = (dx * math.cos(angle) + dy * math.sin(angle)) / a
    v = (-dx * math.sin(angle) + dy * math.cos(angle)) / b
    inside = _inside(shape, u, v, rng)
    labels[y0:y1, x0:x1][inside] = label


def generate(config: SyntheticConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(1, H, W)`` float32 in [0, 1] and mask ``(H, W)`` int64 of synthetic item ``index``.

    >>> image, mask = generate(SyntheticConfig(size=(32, 32), foreground_fraction=0.2), 0)
    >>> image.shape, mask.shape, bool(0.1 < (mask > 0).mean() < 0.3)
    ((1, 32, 32), (32, 32), True)
    """
    rng = np.random.default_rng([config.seed, index])
    labels = np.zeros(config.size, dtype=np.int64)
    lo, hi = config.radius_range()
    target = config.foreground_fraction * labels.size
    count = None if config.num_objects is None else int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    drawn = 0
    while drawn < (count if count is not None else 500):
        remaining = target - np.count_nonzero(labels)
        if count is None and drawn > 0 and remaining < 1.0:
            break
        a, b = rng.uniform(lo, hi, size=2)
        if count is None and math.pi * a * b > remaining:
            scale = math.sqrt(max(remaining, 1.0) / (math.pi * a * b))
            a, b = max(a * scale, 1.0), max(b * scale, 1.0)
        shape = config.shapes[int(rng.integers(len(config.shapes)))]
        _paint(labels, int(rng.integers(1, config.num_classes)), shape, float(a), float(b), rng)
        drawn += 1
    clean = config.class_intensities()[labels]
    if config.blur > 0:
        clean = ndimage.gaussian_filter(clean, config.blur, mode="nearest")
    image = np.clip(clean + rng.normal(0.0, config.noise, size=clean.shape), 0.0, 1.0)
    return image[None].astype(np.float32), labels


@dataclass(frozen=True)
class SyntheticLoader:
    """``loader(i)`` of a synthetic dataset (a picklable class, so DataLoader workers can be spawned)."""

    config: SyntheticConfig
    indices: tuple[int, ...]

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(1, H, W)`` and labels ``(H, W)`` of the ``i``-th item of this split."""
        return generate(self.config, self.indices[i])


def load_synthetic(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of a synthetic dataset; images are generated at ``request.image_size`` (no resizing)."""
    split, name, options = request.split, request.name, request.options
    check_split(split)
    config = parse_config(options, request.image_size)
    ids = [f"synthetic_{k:05d}" for k in range(config.num_images)]
    stems = split_stems(
        ids, split, val_fraction=float_option("synthetic", options, "val_fraction", 0.15),
        test_fraction=float_option("synthetic", options, "test_fraction", 0.25), seed=config.seed,
    )
    indices = [int(s.rsplit("_", 1)[1]) for s in stems]
    names = ["background", "foreground"] if config.num_classes == 2 else [
        "background", *(f"class{k}" for k in range(1, config.num_classes))
    ]
    return SegmentationDataset(
        name, stems, SyntheticLoader(config, tuple(indices)), num_classes=config.num_classes, in_channels=1,
        class_names=names, image_size=None, augment=request.augment, seed=request.seed,
    )


register_dataset("synthetic", load_synthetic, needs_path=False,
                 description="synthetic: seeded shapes with exact masks; options set classes, imbalance, noise, size")
