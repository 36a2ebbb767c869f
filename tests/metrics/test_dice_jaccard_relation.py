"""Eelbode et al. 2020 (IEEE TMI, "Optimization for medical image segmentation: theory and practice when
evaluating with Dice score or Jaccard index"): per image, Jaccard is a fixed increasing function of Dice,

    J = D / (2 - D),    D = 2 J / (1 + J),

because both are ratios of the same counts: D = 2tp / (2tp + fp + fn), J = tp / (tp + fp + fn). The relation
holds for hard label maps (the metrics) and for soft counts (the losses with ``smooth=0``), which is why the two
losses can only differ in how they weight images and classes, not in what a perfect or a worse image is.
docs/findings.md (claim 2) uses this test.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.losses import functional as F
from segbench.metrics import f1_score, iou_score

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def label_maps(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int]:
    c = draw(st.integers(2, 4))
    n = draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    target = torch.randint(0, c, (n, h, w), generator=g)
    keep = torch.rand((n, h, w), generator=g) < draw(st.floats(0.0, 1.0))
    pred = torch.where(keep, target, torch.randint(0, c, (n, h, w), generator=g))
    return pred, target, c


def test_known_value() -> None:
    # tp = 2, fp = 1, fn = 1: D = 4 / 6, J = 2 / 4, and D / (2 - D) = (2/3) / (4/3) = 1/2
    pred = torch.tensor([[1, 1, 1, 0]])
    target = torch.tensor([[1, 1, 0, 1]])
    d = float(f1_score(pred, target, num_classes=2, include_background=False))
    j = float(iou_score(pred, target, num_classes=2, include_background=False))
    assert (d, j) == (2 / 3, 0.5)
    assert abs(j - d / (2 - d)) < 1e-12


@SETTINGS
@given(label_maps(), st.booleans())
def test_jaccard_is_dice_over_two_minus_dice_per_image_and_class(
    case: tuple[torch.Tensor, torch.Tensor, int], per_image: bool
) -> None:
    pred, target, c = case
    d = f1_score(pred, target, num_classes=c, average="none", per_image=per_image).double()
    j = iou_score(pred, target, num_classes=c, average="none", per_image=per_image).double()
    assert d.shape == j.shape
    # undefined (both empty) in one exactly where undefined in the other
    assert torch.equal(torch.isnan(d), torch.isnan(j))
    ok = ~torch.isnan(d)
    assert torch.allclose(j[ok], d[ok] / (2 - d[ok]), atol=1e-6)
    assert torch.allclose(d[ok], 2 * j[ok] / (1 + j[ok]), atol=1e-6)


@SETTINGS
@given(label_maps())
def test_the_relation_does_not_survive_the_mean_over_images(case: tuple[torch.Tensor, torch.Tensor, int]) -> None:
    """f(D) = D / (2 - D) is convex on [0, 1] (f'' = 4 / (2 - D)^3 > 0), so by Jensen mean J >= f(mean D): the
    means over images are only ordered by f, not tied by it. This is what lets two losses swap places on mean
    Dice and mean IoU at all."""
    pred, target, c = case
    d = f1_score(pred, target, num_classes=c, average="none", per_image=True).double()
    j = iou_score(pred, target, num_classes=c, average="none", per_image=True).double()
    for k in range(c):
        ok = ~torch.isnan(d[:, k])
        if not ok.any():
            continue
        md, mj = d[ok, k].mean(), j[ok, k].mean()
        assert mj >= md / (2 - md) - 1e-9


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_soft_losses_obey_the_relation_with_smooth_zero(n: int, size: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((n, 1, size, size), generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, 2, (n, size, size), generator=g)
    target[:, 0, 0] = 1  # a foreground pixel per image: the soft ratios are defined
    ld = F.dice_loss(logits, target, per_image=True, smooth=0.0, reduction="none").double().reshape(n)
    lj = F.jaccard_loss(logits, target, per_image=True, smooth=0.0, reduction="none").double().reshape(n)
    d, j = 1 - ld, 1 - lj
    assert torch.allclose(j, d / (2 - d), atol=1e-9)
