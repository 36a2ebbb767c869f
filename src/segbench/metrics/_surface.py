"""Surfaces of binary masks and the distances between them (internal; numpy).

Everything the distance metrics share is computed here once per (image, class):

* the crop: the union bounding box of both masks, padded by a background frame on every side (one voxel, or as
  wide as the local search below reaches). Every point of either surface lies inside it, so nearest-surface
  distances computed in the crop are exact, and the padding is the background that the image border implies (a
  mask touching the border has a surface there, as in MONAI, MedPy and MetricsReloaded, whose erosion treats the
  outside as background);
* the surfaces: ``surface="voxel"`` takes the mask voxels with a background neighbour along an axis (the mask
  minus its erosion by the cross-shaped structuring element, ``mask ^ binary_erosion(mask)``);
  ``surface="surfel"`` takes the vertices of the voxel grid whose 2^d surrounding voxels are mixed, each weighted
  by the length (2D) or area (3D) of the marching-squares/cubes surface element there, as DeepMind's
  surface-distance and MONAI's ``use_subvoxels=True``. Both work on the flattened crop (neighbours along an axis
  are one stride apart), in a few contiguous passes;
* the distances from every point of one surface to the nearest point of the other, exact Euclidean distances in
  physical units (``spacing``). Most points lie near the other surface, so they are found by a local search: the
  integer displacements within a radius (up to 2000 of them, reaching further along the finer axes), sorted by
  their physical length, are tried in that order against the other surface's mask, and the first hit is the
  nearest point (distance 0 first: a point on both surfaces). The search stops when its last displacements
  resolve too few points to pay for themselves; the points left go to a k-d tree over the other surface's
  points. The distance of a pair is computed from the integer displacement ``k`` as
  ``scipy.ndimage.distance_transform_edt(..., sampling=spacing)`` computes it, ``sqrt(sum_i (k_i s_i)^2)``, and
  the result is the least such value over the other surface, to the last bit (lengths equal in exact arithmetic
  may round differently: the smaller one is kept, whichever path found the point), so the values are those of
  the distance-transform implementations (MedPy, surface-distance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

__all__ = [
    "PairSurfaces",
    "check_spacing",
    "crop_pair",
    "directed_distances",
    "pair_surfaces",
    "search_margin",
    "surfel_areas",
    "voxel_surface",
]

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Surface normals of the 256 marching-cubes configurations of a 2x2x2 neighbourhood, from DeepMind's
# surface-distance (lookup_tables.py, Apache-2.0; MONAI carries the same table). The length of a normal is the
# area of its triangle on a unit grid. Encoding: one token per code 0..255; each normal is three digits,
# digit = 8 * component + 4 (components are multiples of 1/8 in [-1/2, 1/2]).
_NORMALS_3D = (
    "444 555 335 224664 535 242646 535335 844666555 355 555355 246246 844226335 624624 844626353 "
    "044266355 844844 533 422466 335533 404666555 535533 440666333 335535533 333222666555 355533 "
    "422466355 246246533 555777426246 533624624 777462333264 044333222555 044333222 535 555535 426462 "
    "404553662 535535 535242646 426462535 117466553242 355535 555535355 448226335 662662553335 535624624 "
    "844626353535 462711355664 044226335 624264 484266533 484535262 484404 624264535 111246333264 "
    "555404222333 404222333 355624264 484662335335 171224353246 484662335 624264624624 224224335 "
    "555224224 224224 335 555335 335335 335224664 426426 448626535 426426335 717422353664 335355 "
    "555335355 335246246 844226335335 484262535 262262353353 242711462355 844262535 246642 448266355 "
    "335246642 242177224355 440662335 448448 555555666448 555666448 246642355 448626535535 246246246642 "
    "535646646 646117264335 448626535 555646646 646646 335535 555335535 335426462 404553662335 426426535 "
    "448626535535 426426426462 466466533 355535335 355535335555 448226335335 555535533 484262535535 "
    "555335533 422466555 555533 844622533 266355266533 717466353246 404266355 117624466335 355266448 "
    "555466466 466466 844666555555 535335555 242646555 555535 224664555 555335 555555 555 555 555555 "
    "555335 224664555 555535 242646555 535335555 844666555555 466466 555466466 355266448 117624466335 "
    "404266355 717466353246 266355266533 844622533 555533 422466555 555335533 484262535535 555535533 "
    "448226335335 355535335555 355535335 466466533 422466466466 448626535535 426426535 404553662335 "
    "335426462 555335535 335535 646646 555646646 448626535 646117264335 535646646 242646646646 "
    "448626535535 246642355 555666448 555555666448 448448 440662335 242177224355 335246642 448266355 "
    "246642 844262535 242711462355 262262353353 484262535 844226335335 335246246 555335355 335355 "
    "717422353664 426426335 448626535 426426 335224664 335335 555335 335 224224 555224224 224224335 "
    "224224224664 484662335 171224353246 484662335335 355624264 404222333 555404222333 111246333264 "
    "624264535 484404 484535262 484266533 624264 044226335 462711355664 844626353535 535624624 "
    "662662553335 448226335 555535355 355535 117466553242 426462535 535242646 535535 404553662 426462 "
    "555535 535 044333222 044333222555 777462333264 533624624 555777426246 246246533 422466355 355533 "
    "333222666555 335535533 440666333 535533 404666555 335533 422466 533 844844 044266355 844626353 "
    "624624 844226335 246246 555355 355 844666555 535335 242646 535 224664 335 555 444 "
)


def _decode_normals() -> tuple[FloatArray, IntArray]:
    """The table above as a (256, 4, 3) array (unused slots are zero) and the number of normals per code."""
    out = np.zeros((256, 4, 3))
    count = np.zeros(256, dtype=np.int64)
    for code, token in enumerate(_NORMALS_3D.split()):
        digits = np.array([int(ch) for ch in token], dtype=np.float64)
        count[code] = len(digits) // 3
        out[code, : count[code]] = (digits.reshape(-1, 3) - 4.0) / 8.0
    return out, count


_NORMALS_TABLE, _NORMALS_COUNT = _decode_normals()


def check_spacing(spacing: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Spacing as one positive finite float per spatial axis (``None`` means 1 on every axis)."""
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, (int, float)):
        values = (float(spacing),) * ndim
    else:
        values = tuple(float(s) for s in spacing)
    if len(values) != ndim:
        raise ValueError(
            f"spacing needs one value per spatial axis ({ndim}, in the array's axis order), got {len(values)}"
        )
    if not all(np.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing values must be finite and > 0, got {values}")
    return values


def crop_pair(
    pred: BoolArray, target: BoolArray, margin: int | Sequence[int] = 1
) -> tuple[BoolArray, BoolArray] | None:
    """Crop both masks to their union bounding box with a background frame; None if both are empty.

    The frame is ``margin`` voxels wide (one value, or one per axis; at least 1), on every side.
    """
    union = pred | target
    nd = union.ndim
    pad = (margin,) * nd if isinstance(margin, int) else tuple(margin)
    lo: list[int] = []
    hi: list[int] = []
    rest = union
    for _ in range(nd):  # the extent along the first remaining axis, then OR its slices together (cheap passes)
        idx = np.flatnonzero(rest.reshape(rest.shape[0], -1).any(axis=1))
        if idx.size == 0:
            return None
        lo.append(int(idx[0]))
        hi.append(int(idx[-1]) + 1)
        rest = np.asarray(rest[lo[-1] : hi[-1]].any(axis=0))
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    inner = tuple(slice(m, m + b - a) for a, b, m in zip(lo, hi, pad, strict=True))
    shape = tuple(b - a + 2 * m for a, b, m in zip(lo, hi, pad, strict=True))
    out = []
    for mask in (pred, target):
        framed = np.zeros(shape, dtype=bool)
        framed[inner] = mask[box]
        out.append(framed)
    return out[0], out[1]


def voxel_surface(framed: BoolArray) -> BoolArray:
    """Voxels of a mask with a background neighbour along some axis: ``mask ^ binary_erosion(mask)``.

    ``framed`` must have a background frame (as :func:`crop_pair` returns), which stands for the image border.
    The erosion works on the flattened array: the neighbours of a voxel along axis ``a`` lie ``stride_a`` before
    and after it, and no mask voxel touches the array's edge, so no neighbour of one wraps to another row.
    """
    flat = np.ascontiguousarray(framed).reshape(-1)
    inner = flat.copy()
    for step in _steps(framed.shape):
        inner[step:] &= flat[:-step]
        inner[:-step] &= flat[step:]
    np.logical_xor(flat, inner, out=inner)  # inner is a subset of the mask: xor removes it
    return inner.reshape(framed.shape)


def _steps(shape: tuple[int, ...]) -> list[int]:
    """Element strides of a C-contiguous array of ``shape``."""
    return [int(np.prod(shape[a + 1 :], dtype=np.int64)) for a in range(len(shape))]


def _neighbour_codes(framed: BoolArray) -> NDArray[np.uint8]:
    """Code of every grid vertex from its 2^d surrounding voxels (DeepMind's kernel: first voxel = high bit).

    The voxel at offset ``o`` in ``{0, 1}^d`` sets bit ``2^d - 1 - (o_0 2^(d-1) + ... + o_(d-1))`` (d <= 3). The
    code is built one axis at a time, last axis first, on the flattened array: ``c * 2^w + c[stride:]`` puts each
    voxel's code above its neighbour's along the axis (``w`` = 1, 2, 4: the bits already used). The vertex grid
    is a strided view: vertex ``v`` reads the code at the flat index of its first voxel.
    """
    flat = np.ascontiguousarray(framed).reshape(-1).view(np.uint8)
    codes = flat
    weight = 2
    for step in reversed(_steps(framed.shape)):
        nxt = np.multiply(codes[:-step], np.uint8(weight))  # a multiply and an add: much faster than shifts
        nxt += codes[step:]
        codes = nxt
        weight *= weight
    shape = tuple(n - 1 for n in framed.shape)
    strides = tuple(st * codes.itemsize for st in _steps(framed.shape))
    return np.lib.stride_tricks.as_strided(codes, shape=shape, strides=strides, writeable=False)


@lru_cache(maxsize=64)
def _code_measure_table(spacing: tuple[float, ...]) -> FloatArray:
    """Surfel length (2D, 16 codes) or area (3D, 256 codes) per neighbourhood code, in physical units."""
    if len(spacing) == 2:
        s0, s1 = spacing
        diag = 0.5 * float(np.sqrt(s0**2 + s1**2))
        table = np.full(16, diag)
        table[[0b0000, 0b1111]] = 0.0
        table[[0b0011, 0b1100]] = s1
        table[[0b0101, 0b1010]] = s0
        table[[0b0110, 0b1001]] = 2 * diag
        return table
    if len(spacing) == 3:
        s0, s1, s2 = spacing
        table = np.zeros(256)
        for code in range(256):  # the operations of surface-distance, in its order, so areas agree bit for bit
            total = 0.0
            for normal in _NORMALS_TABLE[code, : _NORMALS_COUNT[code]]:
                n = np.array([normal[0] * s1 * s2, normal[1] * s0 * s2, normal[2] * s0 * s1])
                total += float(np.linalg.norm(n))
            table[code] = total
        return table
    raise ValueError(f"surface='surfel' supports 2D and 3D masks, got {len(spacing)} spatial axes")


def surfel_areas(framed: BoolArray, spacing: tuple[float, ...]) -> tuple[BoolArray, FloatArray]:
    """Surface vertices (mixed neighbourhoods) on the vertex grid, and their surfel length/area per vertex."""
    codes = _neighbour_codes(framed)
    full = (1 << (2**framed.ndim)) - 1
    border = (codes - np.uint8(1)) < np.uint8(full - 1)  # 0 < code < full (0 - 1 wraps to 255)
    return border, _code_measure_table(spacing)[codes[border]]


# The local search tries at most this many displacements (the nearest first); it stops earlier when its last
# _WINDOW displacements cost more than the k-d tree would for the points they resolved (rough costs in seconds:
# per displacement, per point and displacement, per point queried in the tree). The costs decide only where the
# work is done, never a value.
_LOCAL_OFFSETS = 2000
_WINDOW = 32
_COST_STEP, _COST_LOOKUP, _COST_QUERY = 8e-6, 8e-9, 4e-6


@lru_cache(maxsize=64)
def _local_offsets(spacing: tuple[float, ...]) -> tuple[IntArray, FloatArray, tuple[int, ...]]:
    """Integer displacements ``k`` with physical length ``|k * spacing| <= R``, sorted by length (0 first).

    ``R`` is the radius of the ball that holds about ``_LOCAL_OFFSETS`` grid points (smaller if the spacing is
    so uneven that a displacement would pass 63 steps along an axis, or in many dimensions). Returns the
    displacements ``(K, d)``, their lengths (computed as :func:`directed_distances` computes a distance) and the
    reach along each axis (the largest ``|k_i|``, at most 63).
    """
    nd = len(spacing)
    scale = np.asarray(spacing, dtype=np.float64)
    unit_ball = math.pi ** (nd / 2) / math.gamma(nd / 2 + 1)
    radius = (_LOCAL_OFFSETS * float(np.prod(scale)) / unit_ball) ** (1.0 / nd)
    radius = min(radius, 63.0 * min(spacing))  # so that every displacement within it has |k_i| <= 63
    box = [int(radius / s) + 1 for s in spacing]
    while math.prod(2 * b + 1 for b in box) > 2**20:  # many axes: keep the candidate grid small
        radius *= 0.8
        box = [int(radius / s) + 1 for s in spacing]
    grids = np.meshgrid(*[np.arange(-b, b + 1) for b in box], indexing="ij")
    disp = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    length = _lengths(disp, scale)
    keep = length <= radius
    disp, length = disp[keep], length[keep]
    order = np.argsort(length, kind="stable")
    reach = tuple(int(r) for r in np.abs(disp).max(axis=0))
    return disp[order], length[order], reach


def search_margin(spacing: tuple[float, ...]) -> tuple[int, ...]:
    """Frame width per axis that keeps the local search of :func:`directed_distances` inside a crop."""
    return tuple(r + 1 for r in _local_offsets(spacing)[2])


def _lengths(disp: IntArray, scale: FloatArray) -> FloatArray:
    """Physical lengths of integer displacements ``(K, d)``: ``sqrt(sum_i (k_i s_i)^2)``, summed in axis order."""
    sq = disp.astype(np.float64) * scale
    sq *= sq
    return np.sqrt(np.add.reduce(sq, axis=1))


def directed_distances(
    src: IntArray, dst_mask: BoolArray, dst: IntArray, spacing: tuple[float, ...]
) -> FloatArray:
    """Distance from each ``src`` point to the nearest ``dst`` point, both as flat indices into ``dst_mask``.

    ``dst_mask`` (C-contiguous) marks the ``dst`` points and has a frame of at least ``search_margin(spacing)``
    background voxels around every point. The distance is ``sqrt(sum_i (k_i s_i)^2)`` for the integer
    displacement ``k``, summed in axis order, and each result is the least such value over all ``dst`` points
    (exactly, to the last bit: displacements of equal length in exact arithmetic may round differently).
    """
    out = np.zeros(len(src), dtype=np.float64)
    disp, length, _ = _local_offsets(spacing)
    strides = np.array([st // dst_mask.itemsize for st in dst_mask.strides], dtype=np.int64)
    flat = dst_mask.ravel()
    todo = np.arange(len(src))
    base = src
    spent = saved = 0.0
    for i, (step, dist) in enumerate(zip((disp @ strides).tolist(), length.tolist(), strict=True)):
        hit = flat[base + step]
        n_hit = int(np.count_nonzero(hit))
        spent += _COST_STEP + _COST_LOOKUP * len(base)
        if n_hit:
            saved += _COST_QUERY * n_hit
            out[todo[hit]] = dist
            miss = ~hit
            todo, base = todo[miss], base[miss]
            if todo.size == 0:
                return out
        if i % _WINDOW == _WINDOW - 1:
            if saved < spent:
                break
            spent = saved = 0.0
    # far points: the k-d tree over the destination's grid coordinates finds the nearest point. Where a second
    # point lies within a hair of it, every point that near is scored with the formula above and the least value
    # kept, so that ties (equal in exact arithmetic, rounded differently) resolve as in the local search.
    scale = np.asarray(spacing, dtype=np.float64)
    src_xyz = np.stack(np.unravel_index(base, dst_mask.shape), axis=1)
    dst_xyz = np.stack(np.unravel_index(dst, dst_mask.shape), axis=1)
    tree = cKDTree(dst_xyz * scale, leafsize=32, balanced_tree=False, compact_nodes=False)
    near, nearest = tree.query(src_xyz * scale, k=2)
    values = _lengths(dst_xyz[nearest[:, 0]] - src_xyz, scale)
    hair = near[:, 0] * (1 + 1e-9) + 1e-12
    tied = np.flatnonzero(near[:, 1] <= hair)
    if tied.size:
        found = tree.query_ball_point(src_xyz[tied] * scale, hair[tied], return_sorted=False)
        counts = np.array([len(f) for f in found], dtype=np.int64)
        cand = np.fromiter((j for f in found for j in f), dtype=np.int64, count=int(counts.sum()))
        lengths = _lengths(dst_xyz[cand] - np.repeat(src_xyz[tied], counts, axis=0), scale)
        values[tied] = np.minimum.reduceat(lengths, np.concatenate([[0], np.cumsum(counts)[:-1]]))
    out[todo] = values
    return out


@dataclass(frozen=True)
class PairSurfaces:
    """Both directions' nearest-surface distances of one (image, class) pair, and the surface weights.

    ``weights_*`` is None for voxel surfaces (every point weighs 1) and the surfel length/area otherwise.
    """

    pred_to_target: FloatArray
    target_to_pred: FloatArray
    weights_pred: FloatArray | None
    weights_target: FloatArray | None


def pair_surfaces(
    pred: BoolArray, target: BoolArray, spacing: tuple[float, ...], surface: str
) -> PairSurfaces | None:
    """Surfaces and distances of two non-empty masks; None when either is empty (the caller decides)."""
    if not pred.any() or not target.any():
        return None
    cropped = crop_pair(pred, target, search_margin(spacing))
    if cropped is None:  # pragma: no cover - excluded by the emptiness test above
        return None
    p, t = cropped
    wp: FloatArray | None = None
    wt: FloatArray | None = None
    if surface == "voxel":
        sp, st = voxel_surface(p), voxel_surface(t)
    else:
        sp, wp = surfel_areas(p, spacing)
        st, wt = surfel_areas(t, spacing)
    fp, ft = np.flatnonzero(sp), np.flatnonzero(st)
    d_pt = directed_distances(fp, st, ft, spacing)
    d_tp = directed_distances(ft, sp, fp, spacing)
    return PairSurfaces(d_pt, d_tp, wp, wt)
