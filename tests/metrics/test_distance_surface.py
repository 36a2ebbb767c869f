"""The shared surface machinery of the distance metrics (segbench.metrics._surface) against plain definitions.

Every nearest-surface distance must be the least value of ``sqrt(sum_i (k_i s_i)^2)`` over the other surface's
points, to the last bit, whether the local search or the k-d tree found it; surfaces must equal their textbook
definitions; the metrics' validation fast path must keep the caller's dtype without changing any check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from segbench._checks import check_label_maps
from segbench.metrics import _surface as S


def _brute_min(src: np.ndarray, dst: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    d = (dst[None, :, :] - src[:, None, :]).astype(np.float64) * np.asarray(spacing)
    d *= d
    return np.sqrt(np.add.reduce(d, axis=2)).min(axis=1)


def _surfaces(p: np.ndarray, t: np.ndarray, spacing: tuple[float, ...], surface: str) -> tuple[np.ndarray, ...]:
    cropped = S.crop_pair(p, t, S.search_margin(spacing))
    assert cropped is not None
    if surface == "voxel":
        return S.voxel_surface(cropped[0]), S.voxel_surface(cropped[1])
    return S.surfel_areas(cropped[0], spacing)[0], S.surfel_areas(cropped[1], spacing)[0]


@pytest.mark.parametrize("m", [1, 6])  # 5 and 30 steps: inside the local search's radius, and beyond it
def test_equal_lengths_that_round_differently_give_the_least(m: int) -> None:
    # Displacements (5m, 0) and (3m, 4m) have equal length 3.5m at spacing 0.7, but 3m * 0.7 and 4m * 0.7 round so
    # that the second computes one ulp below the first. The nearest distance is the smaller float, as the
    # distance transform (MedPy, surface-distance) gives it.
    sp = (0.7, 0.7)
    straight = math.sqrt((5 * m * 0.7) ** 2)
    slanted = math.sqrt((3 * m * 0.7) ** 2 + (4 * m * 0.7) ** 2)
    assert slanted < straight and straight == 3.5 * m
    assert (slanted > S._local_offsets(sp)[1][-1]) == (m == 6)  # m = 6: found by the k-d tree, not the search
    p = np.zeros((5 * m + 6, 4 * m + 6), dtype=bool)
    t = np.zeros_like(p)
    p[2, 2] = True
    t[2 + 5 * m, 2] = True
    t[2 + 3 * m, 2 + 4 * m] = True
    pair = S.pair_surfaces(p, t, sp, "voxel")
    assert pair is not None
    assert pair.pred_to_target.tolist() == [slanted]
    assert sorted(pair.target_to_pred.tolist()) == [slanted, straight]
    assert pair.pred_to_target[0] == ndimage.distance_transform_edt(~t, sampling=sp)[2, 2]


SPACINGS = [(1.0, 1.0, 1.0), (0.7, 0.7, 2.1), (1.0, 0.8, 2.5), (0.3, 1.7, 0.9)]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31), st.sampled_from([2, 3]), st.sampled_from(range(len(SPACINGS))),
    st.sampled_from(["voxel", "surfel"]),
)
def test_distances_are_the_exact_minimum(seed: int, nd: int, spacing_index: int, surface: str) -> None:
    rng = np.random.default_rng(seed)
    shape = (9, 10, 8)[:nd] if nd == 3 else (12, 14)
    sp = SPACINGS[spacing_index][:nd]
    far = (4,) * nd if nd == 3 else (2, 40)  # a far blob: its points go past the local search, to the k-d tree
    size = tuple(n + f for n, f in zip(shape, far, strict=True))
    p, t = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    inner = tuple(slice(0, n) for n in shape)
    p[inner] = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.5
    t[inner] = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.5
    p[tuple(slice(n - 2, n) for n in size)] = rng.random() < 0.7
    if not p.any() or not t.any():
        return
    pair = S.pair_surfaces(p, t, sp, surface)
    assert pair is not None
    sa, sb = _surfaces(p, t, sp, surface)
    a, b = np.argwhere(sa), np.argwhere(sb)
    assert np.array_equal(pair.pred_to_target, _brute_min(a, b, sp))
    assert np.array_equal(pair.target_to_pred, _brute_min(b, a, sp))


def test_local_offsets_cover_the_ball_in_order() -> None:
    sp = (1.0, 0.8, 2.5)
    disp, length, reach = S._local_offsets(sp)
    assert disp[0].tolist() == [0, 0, 0] and length[0] == 0.0
    assert np.all(np.diff(length) >= 0)
    # every displacement of the grid no longer than the largest one is in the table (nothing skipped)
    radius = length[-1]
    grid = np.stack(np.meshgrid(*[np.arange(-20, 21)] * 3, indexing="ij"), -1).reshape(-1, 3)
    within = grid[np.sqrt(((grid * np.asarray(sp)) ** 2).sum(1)) <= radius]
    assert len(within) == len(disp)
    assert reach == tuple(int(r) for r in np.abs(within).max(0))
    assert S.search_margin(sp) == tuple(r + 1 for r in reach)


def test_crop_pair_frame() -> None:
    p = np.zeros((6, 7), dtype=bool)
    t = np.zeros_like(p)
    p[1, 2] = True
    t[3, 5] = True
    framed = S.crop_pair(p, t, (2, 1))
    assert framed is not None
    fp, ft = framed
    # union box rows 1..3, columns 2..5 (3 x 4), framed by 2 rows and 1 column on each side
    assert fp.shape == (3 + 4, 4 + 2)
    assert np.argwhere(fp).tolist() == [[2, 1]] and np.argwhere(ft).tolist() == [[4, 4]]
    assert S.crop_pair(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) is None


@pytest.mark.parametrize("nd", [1, 2, 3, 4])
def test_voxel_surface_is_mask_minus_cross_erosion(nd: int) -> None:
    rng = np.random.default_rng(nd)
    shape = (30, 9, 6, 5)[:nd] if nd > 1 else (40,)
    mask = rng.random(shape) < 0.6
    framed = S.crop_pair(mask, mask, 1)
    assert framed is not None
    cross = ndimage.generate_binary_structure(nd, 1)
    want = framed[0] & ~ndimage.binary_erosion(framed[0], cross, border_value=0)
    assert np.array_equal(S.voxel_surface(framed[0]), want)


@pytest.mark.parametrize("nd", [2, 3])
def test_neighbour_codes_follow_the_kernel(nd: int) -> None:
    rng = np.random.default_rng(10 + nd)
    framed = rng.random((7, 6, 5)[:nd] if nd == 3 else (9, 8)) < 0.5
    codes = S._neighbour_codes(framed)
    want = np.zeros(tuple(n - 1 for n in framed.shape), dtype=np.int64)
    for bit, offset in enumerate(np.ndindex(*(2,) * nd)):  # DeepMind's kernel: the first voxel is the high bit
        window = tuple(slice(o, o + n - 1) for o, n in zip(offset, framed.shape, strict=True))
        want += framed[window].astype(np.int64) << (2**nd - 1 - bit)
    assert np.array_equal(codes, want)


def test_label_map_fast_path_keeps_dtype_and_checks() -> None:
    p = torch.tensor([[0, 2, 1]], dtype=torch.uint8)
    t = torch.tensor([[1, 2, 255]], dtype=torch.uint8)
    lm = check_label_maps(p, t, num_classes=3, ignore_index=255, to_long=False)
    assert lm.pred.dtype == torch.uint8 and lm.target.dtype == torch.uint8
    assert lm.target.tolist() == [[1, 2, 0]]  # the ignored pixel is 0, in the caller's dtype
    assert check_label_maps(p, t, num_classes=3, ignore_index=255).target.dtype == torch.int64
    b = torch.tensor([[True, False]])
    fast = check_label_maps(b, b, to_long=False)
    assert fast.pred is b and fast.binary  # bool maps are used as they are: no copy, no scan
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got a label 2"):
        check_label_maps(p, t, num_classes=2, ignore_index=255, to_long=False)
