"""Seeded synthetic 3D volumes with exact label maps, anisotropic voxels and controlled imbalance (issue #21).

The ``synthetic3d`` dataset kind (the 3D counterpart of :mod:`segbench.data.synthetic`; options: see
:data:`OPTIONS`). Volume ``k`` is drawn from its own generator ``numpy.random.default_rng([seed, k])``, so it does
not depend on the split or the number of volumes; splits are a seeded 60/15/25 draw of the volume names.

Objects are ellipsoids whose radii are drawn in **millimetres** (so they are round in physical space and span
fewer voxels along the coarse axis), each with a random class in ``1..num_classes-1``, painted in order (later
ones occlude earlier ones) until the foreground share reaches ``foreground_fraction`` (the last object is shrunk
to fit, but keeps at least one voxel per axis, so targets far under 1% give one small object). The image is the
class intensity map blurred by a Gaussian of ``blur`` mm (``blur / spacing_i`` voxels per axis), plus Gaussian
noise of standard deviation ``noise``, clipped to ``[0, 1]``:

.. math:: x = \\operatorname{clip}\\big(G_{\\sigma} * \\mu_{y} + \\varepsilon,\\ 0,\\ 1\\big)

Arrays are in array axis order ``(Z, Y, X)``; ``spacing`` is ``(Z, Y, X)`` in mm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options, float_option
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.data.splits import check_split, split_stems

__all__ = ["OPTIONS", "Synthetic3DConfig", "generate_volume", "load_synthetic3d", "parse_config3d"]

OPTIONS = {
    "num_volumes": "number of volumes before the split (default 12)",
    "num_classes": "classes incl. background (default 2)",
    "size": "[Z, Y, X] voxels (default [32, 64, 64])",
    "spacing": "[Z, Y, X] mm (default [2.5, 0.8, 0.8])",
    "foreground_fraction": "foreground share per volume (default 0.01)",
    "object_radius": "[lo, hi] mm (default [2, 8])",
    "noise": "Gaussian noise sd (default 0.1)",
    "blur": "Gaussian blur sd in mm (default 1.0)",
    "seed": "generator seed (default 0)",
    "val_fraction": "default 0.15",
    "test_fraction": "default 0.25",
}


@dataclass(frozen=True)
class Synthetic3DConfig:
    """Generator settings: ``size`` and ``spacing`` are ``(Z, Y, X)``; ``object_radius`` is ``[lo, hi]`` mm."""

    num_classes: int = 2
    size: tuple[int, int, int] = (32, 64, 64)
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8)
    foreground_fraction: float = 0.01
    object_radius: tuple[float, float] = (2.0, 8.0)
    noise: float = 0.1
    blur: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"synthetic3d: num_classes must be an int >= 2, got {self.num_classes!r}")
        if len(self.size) != 3 or any(int(n) < 1 for n in self.size):
            raise ValueError(f"synthetic3d: size must be three positive ints (Z, Y, X), got {self.size!r}")
        if len(self.spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in self.spacing):
            raise ValueError(f"synthetic3d: spacing must be three positive numbers (Z, Y, X), got {self.spacing!r}")
        if not 0.0 < self.foreground_fraction <= 0.95:
            raise ValueError(f"synthetic3d: foreground_fraction must be in (0, 0.95], got {self.foreground_fraction!r}")
        lo, hi = self.object_radius
        if not 0 < lo <= hi:
            raise ValueError(f"synthetic3d: object_radius must be [lo, hi] with 0 < lo <= hi, got {self.object_radius}")


def _paint(labels: np.ndarray, label: int, radii_mm: np.ndarray, spacing: np.ndarray,
           rng: np.random.Generator) -> None:
    centre = np.array([rng.integers(n) for n in labels.shape])
    reach = np.ceil(radii_mm / spacing).astype(int)
    lo = np.maximum(centre - reach, 0)
    hi = np.minimum(centre + reach + 1, labels.shape)
    grids = np.ogrid[tuple(slice(int(a - c), int(b - c)) for a, b, c in zip(lo, hi, centre, strict=True))]
    inside = sum(((g * s) / r) ** 2 for g, s, r in zip(grids, spacing, radii_mm, strict=True)) <= 1.0
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    labels[box][np.asarray(inside)] = label


def generate_volume(config: Synthetic3DConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(1, Z, Y, X)`` float32 in ``[0, 1]`` and labels ``(Z, Y, X)`` int64 of volume ``index``.

    Args:
        config: the generator settings.
        index: the volume's index (with ``config.seed``, the seed of its generator).

    >>> image, labels = generate_volume(Synthetic3DConfig(size=(8, 32, 32), foreground_fraction=0.005), 0)
    >>> image.shape, labels.shape, bool(0 < (labels > 0).mean() < 0.01)
    ((1, 8, 32, 32), (8, 32, 32), True)
    """
    rng = np.random.default_rng([config.seed, index])
    labels = np.zeros(config.size, dtype=np.int64)
    spacing = np.asarray(config.spacing, dtype=np.float64)
    voxel = float(np.prod(spacing))
    target = config.foreground_fraction * labels.size
    for drawn in range(500):
        remaining = target - np.count_nonzero(labels)
        if drawn > 0 and remaining < 1.0:
            break
        radii = rng.uniform(*config.object_radius, size=3)
        volume_voxels = 4 / 3 * math.pi * float(np.prod(radii)) / voxel
        if volume_voxels > remaining:
            radii = radii * (max(remaining, 1.0) / volume_voxels) ** (1 / 3)
        radii = np.maximum(radii, spacing * 0.5)  # at least the voxel itself
        _paint(labels, int(rng.integers(1, config.num_classes)), radii, spacing, rng)
    intensities = np.array([0.2, *np.linspace(0.5, 0.9, config.num_classes - 1)])
    clean = intensities[labels]
    if config.blur > 0:
        clean = ndimage.gaussian_filter(clean, tuple(config.blur / s for s in config.spacing), mode="nearest")
    image = np.clip(clean + rng.normal(0.0, config.noise, size=clean.shape), 0.0, 1.0)
    return image[None].astype(np.float32), labels


def _triple(options: Mapping[str, Any], key: str, default: tuple[Any, ...], kind: type) -> tuple[Any, ...]:
    value = options.get(key, list(default))
    if not isinstance(value, (list, tuple)) or len(value) != len(default) or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int))
            for v in value):
        raise DatasetError(f"synthetic3d: option {key} must be a list of {len(default)} "
                           f"{'integers' if kind is int else 'numbers'}, got {value!r}")
    return tuple(kind(v) for v in value)


def parse_config3d(options: Mapping[str, Any]) -> tuple[Synthetic3DConfig, int]:
    """The generator settings and the number of volumes from the ``[dataset] options`` of ``synthetic3d``.

    >>> config, n = parse_config3d({"size": [8, 16, 16], "num_volumes": 4})
    >>> config.size, config.spacing, n
    ((8, 16, 16), (2.5, 0.8, 0.8), 4)
    """
    check_options("synthetic3d", options, OPTIONS)
    default = Synthetic3DConfig()
    count = options.get("num_volumes", 12)
    for key, value in (("num_volumes", count), ("num_classes", options.get("num_classes", 2)),
                       ("seed", options.get("seed", 0))):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DatasetError(f"synthetic3d: option {key} must be a non-negative integer, got {value!r}")
    if count < 3:
        raise DatasetError(f"synthetic3d: option num_volumes must be >= 3 (train, val and test), got {count}")
    try:
        config = Synthetic3DConfig(
            num_classes=int(options.get("num_classes", 2)),
            size=_triple(options, "size", default.size, int),
            spacing=_triple(options, "spacing", default.spacing, float),
            foreground_fraction=float_option("synthetic3d", options, "foreground_fraction",
                                             default.foreground_fraction),
            object_radius=_triple(options, "object_radius", default.object_radius, float),
            noise=float_option("synthetic3d", options, "noise", default.noise),
            blur=float_option("synthetic3d", options, "blur", default.blur),
            seed=int(options.get("seed", 0)),
        )
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    return config, int(count)


@dataclass(frozen=True)
class Synthetic3DLoader:
    """``loader(i)`` of a ``synthetic3d`` split (picklable): volume ``indices[i]`` of the generator."""

    config: Synthetic3DConfig
    indices: tuple[int, ...]

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(1, Z, Y, X)`` and labels ``(Z, Y, X)`` of the ``i``-th volume of this split."""
        return generate_volume(self.config, self.indices[i])


def load_synthetic3d(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of a ``synthetic3d`` dataset: volumes ``(1, Z, Y, X)`` with the configured ``spacing``.

    >>> data = load_synthetic3d(LoadRequest("test", "synthetic3d", {"size": [8, 16, 16], "num_volumes": 4}))
    >>> len(data), data[0][0].shape, data.spacing
    (1, torch.Size([1, 8, 16, 16]), (2.5, 0.8, 0.8))
    """
    check_split(request.split)
    config, count = parse_config3d(request.options)
    stems = split_stems(
        [f"synthetic3d_{k:04d}" for k in range(count)], request.split,
        val_fraction=float_option("synthetic3d", request.options, "val_fraction", 0.15),
        test_fraction=float_option("synthetic3d", request.options, "test_fraction", 0.25), seed=config.seed,
    )
    names = ["background", "foreground"] if config.num_classes == 2 else [
        "background", *(f"class{k}" for k in range(1, config.num_classes))
    ]
    loader = Synthetic3DLoader(config, tuple(int(s.rsplit("_", 1)[1]) for s in stems))
    return SegmentationDataset(
        request.name, stems, loader, num_classes=config.num_classes, in_channels=1, class_names=names,
        image_size=request.image_size, augment=request.augment, seed=request.seed, spatial_dims=3,
        spacing=config.spacing, cache=False,  # regenerated when asked for: a split is never held whole
    )


register_dataset("synthetic3d", load_synthetic3d, needs_path=False,
                 description="synthetic3d: seeded 3D ellipsoids, anisotropic spacing (mm), foreground down to <1%")
