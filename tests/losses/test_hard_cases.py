"""The cases peers get wrong (DESIGN.md, peers.md): empty targets, soft labels, batch vs per-image pooling."""

from __future__ import annotations

import pytest
import torch

from segbench import losses
from segbench.losses import functional as L

monai_losses = pytest.importorskip("monai.losses")

REGION = ["dice", "jaccard", "tversky", "focal_tversky", "log_cosh_dice", "generalized_dice", "lovasz"]
EMPTY = torch.zeros(1, 16, 16, dtype=torch.long)


def _logits(value: float) -> torch.Tensor:
    return torch.full((1, 1, 16, 16), value)


@pytest.mark.parametrize("name", [*REGION, "pixel_dice", "pixel_jaccard"])
def test_empty_target_teaches(name: str) -> None:
    """Confident correct empty prediction ~0, all-foreground ~max, and a gradient that lowers the logits."""
    loss = losses.get(name)
    right = float(loss(_logits(-10.0), EMPTY))
    wrong = float(loss(_logits(10.0), EMPTY))
    maximum = float(loss(_logits(1e4), EMPTY))
    assert right < 0.02, right
    if name == "lovasz":  # the hinge is unbounded: relu(1 + max logit)
        assert wrong == pytest.approx(11.0)
    else:
        assert wrong > 0.95 * maximum and wrong > 0.3, (wrong, maximum)
    for start in (-2.0, 0.0, 2.0):
        x = _logits(start).requires_grad_(True)
        loss(x, EMPTY).backward()
        assert x.grad is not None
        if name == "lovasz":  # the hinge moves the worst pixel only, and stops once the margin (logit < -1) holds
            assert bool((x.grad >= 0).all()) and (float(x.grad.sum()) > 0) == (start > -1)
        else:
            assert bool((x.grad > 0).all()), (name, start)  # descent lowers every logit


def test_empty_target_numbers_against_monai() -> None:
    """peers.md: MONAI Dice gives ~1 for both predictions (no signal), its GDL 0 for both; ours tell them apart."""
    right, wrong = _logits(-10.0), _logits(10.0)
    y = EMPTY[:, None].float()
    monai_dice = monai_losses.DiceLoss(sigmoid=True)
    assert float(monai_dice(right, y)) > 0.99 and float(monai_dice(wrong, y)) > 0.99
    monai_gdl = monai_losses.GeneralizedDiceLoss(sigmoid=True)
    assert float(monai_gdl(right, y)) < 1e-6 and float(monai_gdl(wrong, y)) < 1e-6
    assert float(L.dice_loss(right, EMPTY)) < 0.02 < 0.99 < float(L.dice_loss(wrong, EMPTY))
    assert float(L.generalized_dice_loss(right, EMPTY)) < 0.02 < 0.99 < float(L.generalized_dice_loss(wrong, EMPTY))
    # the gradient at a hesitant prediction (logits 0): ours is ~1e5 times MONAI's
    x1 = _logits(0.0).requires_grad_(True)
    x2 = _logits(0.0).requires_grad_(True)
    L.dice_loss(x1, EMPTY).backward()
    monai_dice(x2, y).backward()
    assert x1.grad is not None and x2.grad is not None
    assert float(x1.grad.abs().mean()) > 1e4 * float(x2.grad.abs().mean())


def test_empty_image_in_a_batch_adds_false_positives_when_pooled() -> None:
    y = torch.zeros(2, 8, 8, dtype=torch.long)
    y[0, 2:6, 2:6] = 1
    good = torch.where(y[:, None] == 1, 10.0, -10.0)
    fp_on_empty = good.clone()
    fp_on_empty[1] = 10.0
    assert float(L.dice_loss(fp_on_empty, y)) > float(L.dice_loss(good, y)) + 0.5


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "focal_tversky", "log_cosh_dice", "generalized_dice"])
def test_soft_labels_prediction_equal_to_target_is_perfect(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 6, 6, generator=g)
    for smooth in (0.0, 1.0):
        loss = losses.get(name, from_logits=False, smooth=smooth)
        assert float(loss(y, y)) < 1e-6
        assert float(loss(y.clamp(0.2, 0.8) * 0 + 1.0, y)) > 0.05  # an over-confident prediction is worse
    # the plain product formula (tp = sum p y) prefers p = 1 over p = y = 0.5; the soft-label counts do not
    half = torch.full((1, 1, 4, 4), 0.5)
    assert float(losses.get(name, from_logits=False, smooth=0)(half, half)) < float(
        losses.get(name, from_logits=False, smooth=0)(torch.ones_like(half), half)
    )


def test_soft_labels_monai_default_is_wrong_ours_right() -> None:
    half = torch.full((1, 1, 4, 4), 0.5)
    assert float(monai_losses.DiceLoss()(half, half)) == pytest.approx(0.5, abs=1e-4)
    assert float(L.dice_loss(half, half, from_logits=False, smooth=0)) == 0.0


def test_batch_pooling_differs_from_per_image_as_documented() -> None:
    """pooled: 1 - D(sum of counts); per-image: mean of 1 - D(image counts)."""
    y = torch.zeros(2, 10, 10, dtype=torch.long)
    y[0, :8, :8] = 1  # a large object (64 px)
    y[1, 0, :2] = 1  # a small one (2 px)
    p = torch.zeros(2, 1, 10, 10, dtype=torch.float64)
    p[0, 0, :8, :8] = 1.0  # large object found
    p[1, 0, 5, 5] = 1.0  # small object missed, one false positive
    pooled = float(L.dice_loss(p, y, from_logits=False, smooth=0))
    per_image = float(L.dice_loss(p, y, from_logits=False, smooth=0, per_image=True))
    assert pooled == pytest.approx(1 - 2 * 64 / (2 * 64 + 1 + 2))
    assert per_image == pytest.approx((0 + 1) / 2)
    assert per_image > 10 * pooled  # per-image scoring weighs the small object's miss as much as the large hit


def test_include_background_and_class_weights_select_and_weight() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 5, generator=g)
    t = torch.randint(0, 3, (2, 5, 5), generator=g)
    per_class = L.dice_loss(x, t, reduction="none", per_image=True)  # mean over classes per image
    fg_only = L.dice_loss(x, t, include_background=False)
    only_bg_weight = L.dice_loss(x, t, class_weights=[0.0, 1.0, 1.0])
    assert torch.allclose(fg_only, only_bg_weight)
    assert per_class.shape == (2,)


def test_near_perfect_float32_counts_match_float64() -> None:
    """Label-map counts accumulate in float64: a near-perfect float32 loss neither drifts nor goes below 0."""
    g = torch.Generator().manual_seed(2)
    t = torch.randint(0, 3, (4, 128, 128), generator=g)
    x = torch.nn.functional.one_hot(t, 3).movedim(-1, 1).float() * 12
    for name in ("dice", "jaccard", "tversky"):
        v32 = float(losses.get(name, smooth=0)(x, t))
        v64 = float(losses.get(name, smooth=0)(x.double(), t))
        assert v32 >= 0 and v32 == pytest.approx(v64, rel=1e-2, abs=1e-7), (name, v32, v64)
