"""Boundary IoU against MetricsReloaded's definition (written down here from its documentation and code)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segbench.metrics.boundary import boundary_iou


def _metricsreloaded_boundary_iou(pred: np.ndarray, ref: np.ndarray, distance: float) -> float:
    """MetricsReloaded ``BinaryPairwiseMeasures.boundary_iou`` with ``boundary_dist=distance``:
    border = mask - binary_erosion(mask); X_d = {x in X : edt(1 - border)(x) < d}; |P_d & R_d| / |P_d | R_d|."""
    bands = []
    for m in (pred, ref):
        border = m & ~ndimage.binary_erosion(m)
        bands.append(m & (ndimage.distance_transform_edt(~border) < distance))
    return float(np.sum(bands[0] & bands[1]) / np.sum(bands[0] | bands[1]))


def test_hand_built_rings() -> None:
    t = torch.zeros(1, 9, 9, dtype=torch.bool)
    t[0, 1:8, 1:8] = True  # 7x7 square: border ring of 24 pixels
    p = t.roll(1, dims=1)  # one row down
    # d = 1: rings only. Target ring: rows 1 and 7, columns 1 and 7 of rows 1..7; prediction ring: rows 2 and 8,
    # columns 1 and 7 of rows 2..8. Shared: columns 1 and 7 of rows 2..7 (rows 2 and 7 lie on both) = 12 pixels.
    assert boundary_iou(p, t).item() == pytest.approx(12 / (24 + 24 - 12))
    # d = 2: bands two pixels wide (ring plus the next ring, 24 + 16 = 40 pixels each)
    want = _metricsreloaded_boundary_iou(p[0].numpy(), t[0].numpy(), 2.0)
    assert boundary_iou(p, t, dilation=2.0).item() == pytest.approx(want)
    assert boundary_iou(t, t, dilation=3.0).item() == 1.0


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dilation", [1.0, 1.5, 2.0, 3.2])
def test_matches_metricsreloaded_definition(seed: int, dilation: float) -> None:
    rng = np.random.default_rng(seed)
    shape = (12, 14) if seed % 2 else (7, 8, 9)
    p, t = (ndimage.binary_opening(rng.random(shape) < 0.55) for _ in range(2))
    if not (p.any() and t.any()):
        return
    got = boundary_iou(torch.from_numpy(p)[None], torch.from_numpy(t)[None], dilation=dilation).item()
    assert got == pytest.approx(_metricsreloaded_boundary_iou(p, t, dilation), rel=1e-12)


def test_spacing_empty_cases_and_classes() -> None:
    t = torch.zeros(1, 9, 9, dtype=torch.bool)
    t[0, 1:8, 1:8] = True
    # with rows 0.5 apart, d = 1 reaches one row further inward along the columns' direction (distance 0.5 < 1)
    assert boundary_iou(t, t, spacing=(0.5, 1.0)).item() == 1.0
    band = boundary_iou(t, t.roll(1, dims=1), spacing=(0.5, 1.0)).item()
    assert band != boundary_iou(t, t.roll(1, dims=1)).item()
    z = torch.zeros_like(t)
    assert boundary_iou(z, t).item() == 0.0 and boundary_iou(t, z).item() == 0.0
    assert math.isnan(boundary_iou(z, z).item())
    labels = t.long() + (torch.arange(9)[None, :, None] > 4).long() * t.long()  # classes 1 and 2
    per_class = boundary_iou(labels, labels.roll(1, dims=2), num_classes=3)
    assert per_class.shape == (1, 2)
    for j, c in enumerate((1, 2)):
        assert per_class[0, j].item() == boundary_iou(labels == c, (labels == c).roll(1, dims=2)).item()
    with pytest.raises(ValueError, match="dilation"):
        boundary_iou(t, t, dilation=0.0)
