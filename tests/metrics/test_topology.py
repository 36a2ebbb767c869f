"""Topology metrics (segbench.metrics.topology): Betti numbers of hand-built shapes, the Euler characteristic
against component counts, skeletons of hand-built shapes and their topology, clDice on hand-derived cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from segbench.metrics import topology as T

SETTINGS = settings(max_examples=40, deadline=None)


def disc(shape: tuple[int, int], c: tuple[float, float], r: float) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (y - c[0]) ** 2 + (x - c[1]) ** 2 < r * r


def ring(shape: tuple[int, int], c: tuple[float, float], r_out: float, r_in: float) -> np.ndarray:
    return disc(shape, c, r_out) & ~disc(shape, c, r_in)


def betti(mask: np.ndarray, connectivity: int | None = None) -> list[int]:
    return T.betti_numbers(mask[None], connectivity=connectivity)[0].tolist()


# ---- Betti numbers of hand-built shapes -------------------------------------------------------------------------


def test_betti_2d_shapes() -> None:
    s = (30, 40)
    assert betti(np.zeros(s, bool)) == [0, 0]
    assert betti(disc(s, (15, 15), 8)) == [1, 0]
    assert betti(disc(s, (15, 10), 6) | disc(s, (15, 30), 6)) == [2, 0]
    assert betti(ring(s, (15, 15), 10, 5)) == [1, 1]
    eight = ring(s, (15, 11), 9, 4) | ring(s, (15, 27), 9, 4)  # two rings that overlap: a figure eight
    assert betti(eight) == [1, 2]
    assert betti(np.ones(s, bool)) == [1, 0]  # touching the border changes nothing


def test_betti_2d_connectivity_pairs() -> None:
    diamond = np.zeros((5, 5), bool)  # 4 pixels around a centre, touching only at corners
    diamond[1, 2] = diamond[2, 1] = diamond[2, 3] = diamond[3, 2] = True
    assert betti(diamond, 8) == [1, 1]  # a closed curve; the centre is a 4-connected hole
    assert betti(diamond, 4) == [4, 0]  # four pixels; the background is 8-connected through the corners
    with pytest.raises(ValueError, match="connectivity 4 or 8"):
        betti(diamond, 6)


def _ball(shape: tuple[int, int, int], c: tuple[float, ...], r: float) -> np.ndarray:
    g = np.mgrid[: shape[0], : shape[1], : shape[2]]
    return sum((gi - ci) ** 2 for gi, ci in zip(g, c, strict=True)) < r * r


def test_betti_3d_shapes() -> None:
    s = (20, 22, 24)
    assert betti(np.zeros(s, bool)) == [0, 0, 0]
    assert betti(_ball(s, (10, 11, 12), 7)) == [1, 0, 0]
    hollow = np.zeros(s, bool)  # a hollow cube: one cavity
    hollow[3:17, 3:17, 3:17] = True
    hollow[6:14, 6:14, 6:14] = False
    assert betti(hollow) == [1, 0, 1]
    z, y, x = np.mgrid[:20, :40, :40]
    torus = (np.sqrt((y - 20) ** 2 + (x - 20) ** 2) - 11) ** 2 + (z - 10) ** 2 < 16  # a solid torus: one tunnel
    assert betti(torus) == [1, 1, 0]
    slab = np.zeros(s, bool)  # a slab with two holes drilled through: a double torus
    slab[5:15, 2:20, 2:22] = True
    slab[:, 5:9, 5:9] = False
    slab[:, 12:16, 14:18] = False
    assert betti(slab) == [1, 2, 0]
    both = hollow.copy()  # the hollow cube with a tunnel drilled through both walls and the cavity
    both[:, 9:11, 9:11] = False
    assert betti(both) == [1, 1, 0]


def test_betti_3d_connectivity_pairs() -> None:
    loop = np.zeros((3, 5, 5), bool)  # four voxels of one slice around a centre, touching along edges
    loop[1, 1, 2] = loop[1, 2, 1] = loop[1, 2, 3] = loop[1, 3, 2] = True
    assert betti(loop, 26) == [1, 1, 0]
    assert betti(loop, 6) == [4, 0, 0]
    corner = np.zeros((2, 2, 2), bool)
    corner[0, 0, 0] = corner[1, 1, 1] = True
    assert betti(corner, 26) == [1, 0, 0] and betti(corner, 6) == [2, 0, 0]
    shell = np.ones((3, 3, 3), bool)
    shell[1, 1, 1] = False  # with 6-connectivity the cavity is still enclosed (the background is 26-connected)
    assert betti(shell, 6) == betti(shell, 26) == [1, 0, 1]
    with pytest.raises(ValueError, match="connectivity 6 or 26"):
        betti(shell, 18)


@st.composite
def masks(draw: st.DrawFn, dims: int) -> np.ndarray:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 12 if dims == 2 else 7, dims))
    m = rng.uniform(size=shape) < draw(st.floats(0.2, 0.8))
    if draw(st.booleans()):
        m = ndimage.binary_opening(m) | ndimage.binary_closing(m) & m
    return m


@SETTINGS
@given(masks(2), st.sampled_from([4, 8]))
def test_euler_characteristic_2d_equals_b0_minus_b1(m: np.ndarray, conn: int) -> None:
    b0, b1 = betti(m, conn)  # b0 and b1 by component counts; chi by counting cells: independent routes
    assert int(T.euler_characteristic(m[None], connectivity=conn)[0]) == b0 - b1


@SETTINGS
@given(masks(2), st.sampled_from([(4, 6), (8, 26)]))
def test_a_2d_slice_in_3d_has_the_same_betti_numbers(m: np.ndarray, conns: tuple[int, int]) -> None:
    # one slice thick: b0 and b1 of the 3D set are those of the 2D set (b1 in 3D comes from the Euler characteristic)
    assert betti(m[None], conns[1]) == [*betti(m, conns[0]), 0]


@SETTINGS
@given(masks(3), st.integers(0, 3), st.sampled_from([6, 26]))
def test_betti_numbers_are_translation_invariant(m: np.ndarray, a: int, conn: int) -> None:
    assert betti(np.pad(m, ((a, 3 - a), (1, 0), (0, 2))), conn) == betti(m, conn)


def test_betti_error() -> None:
    s = (20, 20)
    t = ring(s, (10, 10), 8, 4)
    broken = t.copy()
    broken[:, 9:11] = False  # cut in two: one more component, the hole opened
    assert T.betti_error(broken[None], t[None]).tolist() == [[1.0, 1.0]]
    empty = np.zeros((1, *s), bool)
    assert T.betti_error(empty, empty).tolist() == [[0.0, 0.0]]  # both empty: defined, no error
    assert T.betti_error(empty, t[None]).tolist() == [[1.0, 1.0]]  # a miss loses the component and the hole
    with pytest.raises(ValueError, match="binary"):
        T.betti_error(np.full((1, 3, 3), 2), np.zeros((1, 3, 3), int))
    with pytest.raises(TypeError, match="bool or 0/1"):
        T.betti_numbers(np.zeros((1, 3, 3)))


# ---- skeletons --------------------------------------------------------------------------------------------------


def _neighbours(s: np.ndarray) -> np.ndarray:
    k = np.ones((3,) * s.ndim, int)
    return ndimage.convolve(s.astype(int), k, mode="constant") - s


def test_skeleton_of_a_bar_is_its_middle_line() -> None:
    bar = np.zeros((11, 30), bool)
    bar[2:9, 3:27] = True  # 7 wide
    s = T.skeletonize(bar[None])[0].numpy()
    rows = np.flatnonzero(s.any(1))
    assert rows.tolist() == [5]  # the middle row only
    cols = np.flatnonzero(s[5])
    assert cols.min() <= 7 and cols.max() >= 22 and np.all(np.diff(cols) == 1)  # one unbroken line, most of it


def test_skeleton_of_a_ring_is_a_thin_closed_curve() -> None:
    r = ring((31, 31), (15, 15), 12, 6)
    s = T.skeletonize(r[None])[0].numpy()
    assert betti(s) == [1, 1]
    assert np.all(_neighbours(s)[s] == 2)  # every pixel of a simple closed curve has two neighbours


def test_skeleton_3d_tube_torus_and_hollow_cube() -> None:
    tube = np.zeros((24, 9, 9), bool)
    tube[2:22, 2:7, 2:7] = True
    s = T.skeletonize(tube[None])[0].numpy()
    assert np.argwhere(s)[:, 1:].tolist() == [[4, 4]] * int(s.sum()) and s.sum() >= 12  # the axis of the tube
    z, y, x = np.mgrid[:12, :30, :30]
    torus = (np.sqrt((y - 15) ** 2 + (x - 15) ** 2) - 9) ** 2 + (z - 6) ** 2 < 12
    st_ = T.skeletonize(torus[None])[0].numpy()
    assert betti(st_) == [1, 1, 0] and np.all(_neighbours(st_)[st_] == 2)  # a closed curve
    hollow = np.zeros((12, 12, 12), bool)
    hollow[2:10, 2:10, 2:10] = True
    hollow[4:8, 4:8, 4:8] = False
    assert betti(T.skeletonize(hollow[None])[0].numpy()) == [1, 0, 1]  # the cavity stays enclosed


@SETTINGS
@given(st.one_of(masks(2), masks(3)))
def test_skeleton_keeps_topology_and_is_idempotent(m: np.ndarray) -> None:
    s = T.skeletonize(m[None])[0].numpy()
    assert not np.any(s & ~m)
    assert betti(s) == betti(m)
    assert np.array_equal(T.skeletonize(s[None])[0].numpy(), s)


# ---- clDice -----------------------------------------------------------------------------------------------------


def test_cldice_hand_built() -> None:
    t = np.zeros((1, 5, 9), bool)
    t[0, 1:4, 1:8] = True  # skeleton: the middle row, 7 pixels
    assert T.skeletonize(t)[0, 2].tolist() == [False] + [True] * 7 + [False]
    broken = t.copy()
    broken[0, :, 4] = False  # the reference skeleton loses 1 of 7 pixels; the prediction's stays inside
    assert float(T.cldice(broken, t)[0]) == pytest.approx(2 * 1 * (6 / 7) / (1 + 6 / 7))
    thick = np.zeros_like(t)
    thick[0, 1:4, 1:8] = True
    thick[0, 0, :] = True  # a prediction wider than the reference: its skeleton may leave the reference
    sp = T.skeletonize(thick)[0].numpy()
    tprec = (sp & t[0]).sum() / sp.sum()
    assert float(T.cldice(thick, t)[0]) == pytest.approx(2 * tprec / (tprec + 1))
    assert float(T.cldice(t, t)[0]) == 1.0


def test_cldice_empty_cases_and_pooling() -> None:
    t = np.zeros((1, 5, 9), bool)
    t[0, 1:4, 1:8] = True
    empty = np.zeros_like(t)
    assert math.isnan(float(T.cldice(empty, empty)[0]))
    assert float(T.cldice(empty, t)[0]) == 0.0 and float(T.cldice(t, empty)[0]) == 0.0
    batch_p, batch_t = np.concatenate([t, empty, empty]), np.concatenate([t, empty, t])
    assert T.cldice(batch_p, batch_t).tolist() == pytest.approx([1.0, math.nan, 0.0], nan_ok=True)
    # pooled: T_prec = 7/7, T_sens = 7/14
    assert float(T.cldice(batch_p, batch_t, per_image=False)) == pytest.approx(2 * 0.5 / 1.5)
    with pytest.raises(ValueError, match="binary"):
        T.cldice(torch.tensor([[[0, 2]]]), torch.tensor([[[0, 1]]]), per_image=True)


def test_cldice_3d_vessel_break() -> None:
    tube = np.zeros((1, 30, 9, 9), bool)
    tube[0, 2:28, 2:7, 2:7] = True
    broken = tube.copy()
    broken[0, 14:16] = False  # a 2-voxel break
    st_ = T.skeletonize(tube)[0].numpy()
    sens = (st_ & broken[0]).sum() / st_.sum()
    assert float(T.cldice(broken, tube)[0]) == pytest.approx(2 * sens / (1 + sens))
    assert sens < 1


def test_skeleton_of_random_3d_tubes_keeps_their_topology() -> None:
    rng = np.random.default_rng(0)
    grid = np.stack(np.mgrid[:48, :48, :48], -1).astype(float)
    m = np.zeros((48, 48, 48), bool)
    for _ in range(6):  # crossing tubes: components, tunnels and enclosed cavities appear
        p0, d = rng.uniform(6, 42, 3), rng.normal(size=3)
        d /= np.linalg.norm(d)
        v = grid - p0
        t = v @ d
        m |= (np.linalg.norm(v - t[..., None] * d, axis=-1) < rng.uniform(1.5, 3.5)) & (np.abs(t) < 20)
    s = T.skeletonize(m[None])[0].numpy()
    assert betti(s) == betti(m) and not np.any(s & ~m) and s.sum() < m.sum() / 5


def test_real_isbi_membranes(shared_data: Path) -> None:
    from PIL import Image

    folder = shared_data / "isbi2012-em-membrane" / "train" / "label"
    membranes = np.stack([np.asarray(Image.open(folder / f"{k}.png")) == 0 for k in range(3)])
    b = T.betti_numbers(membranes)
    assert bool((b[:, 1] > 20).all())  # a membrane network encloses many cells
    s = T.skeletonize(membranes).numpy()
    assert torch.equal(T.betti_numbers(s), b) and not np.any(s & ~membranes)
    assert T.cldice(membranes, membranes).tolist() == [1.0, 1.0, 1.0]
    thinner = np.stack([ndimage.binary_erosion(m) for m in membranes])  # breaks the thinnest membranes
    dice = 2 * (thinner & membranes).sum() / (thinner.sum() + membranes.sum())
    err = T.betti_error(thinner, membranes)
    assert bool((err.sum(1) > 0).all())  # the breaks merge cells and split the network
    assert bool((T.cldice(thinner, membranes) < 1).all()) and dice > 0.5


@SETTINGS
@given(st.one_of(masks(2), masks(3)), st.integers(0, 3), st.integers(0, 3))
def test_skeleton_and_cldice_are_translation_invariant(m: np.ndarray, a: int, b: int) -> None:
    pad = [(a, 3 - a), (b, 3 - b)] + [(1, 0)] * (m.ndim - 2)
    s = T.skeletonize(m[None])[0].numpy()
    assert np.array_equal(T.skeletonize(np.pad(m, pad)[None])[0].numpy(), np.pad(s, pad))
    p = ndimage.binary_dilation(m) if m.sum() % 2 else ndimage.binary_erosion(m)
    x = T.cldice(np.pad(p, pad)[None], np.pad(m, pad)[None])
    assert torch.allclose(x, T.cldice(p[None], m[None]), equal_nan=True)


@SETTINGS
@given(st.one_of(masks(2), masks(3)))
def test_perfect_prediction_has_no_topology_error(m: np.ndarray) -> None:
    assert bool((T.betti_error(m[None], m[None]) == 0).all())
    value = float(T.cldice(m[None], m[None])[0])
    assert value == 1.0 if m.any() else math.isnan(value)
