"""``synthetic``: seeded random shapes with exact masks, for controlled class imbalance.

Each image is drawn from its own generator ``numpy.random.default_rng([seed, index])``, so image ``k`` is
the same whatever the split or the number of images. Objects (rotated ellipses, rectangles and
star-shaped blobs; a pixel belongs to an object when its centre lies inside) get a random class in
``1..num_classes-1`` and are painted in order (later ones occlude earlier ones); label 0 is background.
Objects are drawn until the image's foreground share reaches ``foreground_fraction`` (the last object is
shrunk to fit, but never below a 1-pixel radius, so tiny targets give one or two small objects), or a
fixed ``num_objects`` are drawn when that option is set.

``foreground_share`` (the imbalance sweep's option, #23) instead fixes one layout per image whatever the share:
``num_objects`` objects (default 3 to 6) with their centres, shapes, rotations, relative sizes and classes, and
the noise, all drawn from the image's generator before the share is looked at; then every object is scaled by
one common factor so that the mask has exactly :math:`k = \\max(1, \\operatorname{round}(f H W))` foreground
pixels. Objects shrink as the share falls, and thin out: while the smallest object would be narrower than
``MIN_RADIUS`` pixels, it is dropped (the largest always stays). So two shares of the same image differ only in
the objects' sizes and count (:func:`share_labels`).

The image is the class intensity map, blurred by a Gaussian of ``blur`` pixels, plus Gaussian noise of
standard deviation ``noise``, clipped to ``[0, 1]``:

.. math:: x = \\operatorname{clip}\\big(G_{\\sigma} * \\mu_{y} + \\varepsilon,\\ 0,\\ 1\\big),
          \\quad \\varepsilon \\sim \\mathcal N(0, \\text{noise}^2)

Options (all settable from the TOML ``[dataset]`` table): ``num_classes`` (2), ``num_images`` (48, all
splits together), ``image_size`` (64), ``foreground_fraction`` (0.1), ``num_objects`` (int or
``[lo, hi]``; overrides ``foreground_fraction``), ``foreground_share`` (unset; see above: exact shares, and
``num_objects`` is then the layout's count), ``object_radius`` (``[lo, hi]`` px; default
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
MIN_RADIUS = 1.5
"""With ``foreground_share``: the narrowest object radius (pixels) kept; a smaller object is dropped."""
SHARE_OBJECTS = (3, 6)
"""With ``foreground_share``: the objects per image when ``num_objects`` is not set."""
OPTIONS = {
    "num_classes": "classes incl. background (default 2)",
    "num_images": "images over all splits (default 48)",
    "image_size": "int or [H, W] (default 64)",
    "foreground_fraction": "target foreground share per image (default 0.1)",
    "foreground_share": "exact foreground share per image, one layout scaled to it (instead of foreground_fraction)",
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
    foreground_share: float | None = None

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
    share = None
    if "foreground_share" in options:
        if "foreground_fraction" in options:
            raise DatasetError("synthetic: give foreground_share or foreground_fraction, not both")
        share = float_option("synthetic", options, "foreground_share", 0.1)
        if not 0.0 < share <= 0.95:
            raise DatasetError(f"synthetic: foreground_share must be in (0, 0.95], got {share!r}")
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
        seed=int(options.get("seed", 0)), foreground_share=share,
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


@dataclass(frozen=True)
class _Object:
    """One object of a ``foreground_share`` layout: centre, rotation, radii at scale 1, shape, class, and the
    blob's boundary harmonics ``(amplitude, phase)`` for k = 2, 3, 4."""

    cy: float
    cx: float
    angle: float
    a: float
    b: float
    shape: str
    label: int
    harmonics: tuple[tuple[float, float], ...]


def _layout(config: SyntheticConfig, rng: np.random.Generator) -> list[_Object]:
    """The share-independent layout of one image (a fixed number of draws per object)."""
    height, width = config.size
    lo, hi = config.num_objects or SHARE_OBJECTS
    r_lo, r_hi = config.radius_range()
    objects = []
    for _ in range(int(rng.integers(lo, hi + 1))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        angle = rng.uniform(0.0, np.pi)
        a, b = rng.uniform(max(r_lo, 1e-3), max(r_hi, 1e-3), size=2)
        shape = config.shapes[int(rng.integers(len(config.shapes)))]
        label = int(rng.integers(1, config.num_classes))
        harmonics = tuple((float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.0, 2 * np.pi))) for _ in range(3))
        objects.append(_Object(float(cy), float(cx), float(angle), float(a), float(b), shape, label, harmonics))
    return objects


def _entry_scale(obj: _Object, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)``: the scale from which each pixel centre lies inside ``obj`` (the object at scale ``s`` is the
    set ``e <= s``; 0 at its centre, growing outward, so every object grows monotonically with ``s``)."""
    dy, dx = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    dy, dx = dy + 0.5 - obj.cy, dx + 0.5 - obj.cx
    u = (dx * math.cos(obj.angle) + dy * math.sin(obj.angle)) / obj.a
    v = (-dx * math.sin(obj.angle) + dy * math.cos(obj.angle)) / obj.b
    if obj.shape == "rectangle":  # half-sides with the ellipse's area, as _paint
        return np.maximum(np.abs(u), np.abs(v)) / (math.sqrt(math.pi) / 2)
    rho = np.hypot(u, v)
    if obj.shape == "ellipse":
        return rho
    phi = np.arctan2(v, u)
    boundary = np.ones_like(rho)
    for k, (amplitude, phase) in zip((2, 3, 4), obj.harmonics, strict=True):
        boundary += amplitude * np.cos(k * phi + phase)
    return rho / boundary


def share_labels(objects: list[_Object], size: tuple[int, int], share: float) -> np.ndarray:
    r"""The label map ``(H, W)`` of ``objects`` scaled so that exactly :math:`k` pixels are foreground.

    With :math:`e_i(p)` the entry scale of pixel :math:`p` in object :math:`i` and :math:`E(p) = \min_i e_i(p)`,
    the foreground is the :math:`k = \max(1, \operatorname{round}(f H W))` pixels of smallest :math:`E` (ties
    in raster order); the common scale is :math:`s^* = E` of the :math:`k`-th, each foreground pixel takes the
    class of the last object with :math:`e_i(p) \le s^*` (painting order, later ones on top). While the
    narrowest kept object, :math:`s^* \min(a_i, b_i)`, is under ``MIN_RADIUS`` pixels, it is dropped and
    :math:`s^*` found again (the largest object always stays).

    >>> rng = np.random.default_rng(0)
    >>> objs = _layout(SyntheticConfig(size=(40, 40)), rng)
    >>> [int((share_labels(objs, (40, 40), f) > 0).sum()) for f in (0.3, 0.01, 0.001)]  # round(f * 1600)
    [480, 16, 2]
    """
    k = max(1, round(share * size[0] * size[1]))
    kept = sorted(objects, key=lambda o: -min(o.a, o.b))  # widest first: the narrowest are dropped first
    scales = {id(o): _entry_scale(o, size) for o in kept}
    while True:
        entry = np.min(np.stack([scales[id(o)] for o in kept]), axis=0).ravel()
        order = np.argsort(entry, kind="stable")
        s_star = float(entry[order[k - 1]])
        narrowest = kept[-1]
        if len(kept) == 1 or s_star * min(narrowest.a, narrowest.b) >= MIN_RADIUS:
            break
        kept = kept[:-1]
    foreground = np.zeros(size[0] * size[1], dtype=bool)
    foreground[order[:k]] = True
    foreground = foreground.reshape(size)
    labels = np.zeros(size, dtype=np.int64)
    for obj in objects:  # painting order
        if any(o is obj for o in kept):
            labels[foreground & (scales[id(obj)] <= s_star)] = obj.label
    return labels


def generate(config: SyntheticConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(1, H, W)`` float32 in [0, 1] and mask ``(H, W)`` int64 of synthetic item ``index``.

    >>> image, mask = generate(SyntheticConfig(size=(32, 32), foreground_fraction=0.2), 0)
    >>> image.shape, mask.shape, bool(0.1 < (mask > 0).mean() < 0.3)
    ((1, 32, 32), (32, 32), True)
    >>> int((generate(SyntheticConfig(size=(32, 32), foreground_share=0.05), 0)[1] > 0).sum())  # round(0.05 * 1024)
    51
    """
    rng = np.random.default_rng([config.seed, index])
    if config.foreground_share is not None:
        labels = share_labels(_layout(config, rng), config.size, config.foreground_share)
        return _render(config, labels, rng), labels
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
    return _render(config, labels, rng), labels


def _render(config: SyntheticConfig, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image ``(1, H, W)`` float32 of ``labels``: class intensities, blurred, plus noise, clipped."""
    clean = config.class_intensities()[labels]
    if config.blur > 0:
        clean = ndimage.gaussian_filter(clean, config.blur, mode="nearest")
    image = np.clip(clean + rng.normal(0.0, config.noise, size=clean.shape), 0.0, 1.0)
    return image[None].astype(np.float32)


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
