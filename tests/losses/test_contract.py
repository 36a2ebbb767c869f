"""The contract every registered loss keeps; a new registry entry is covered without writing a test."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segbench import losses
from segbench.losses import functional

NAMES = losses.names()
REGION = [n for n in NAMES if losses.get(n).accepts("per_image")]


def _fn(name: str):  # the pure function behind a registered name
    return type(losses.get(name))._function


def _inputs(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    n_labels = max(shape[1], 2)
    t = torch.randint(0, n_labels, (shape[0], *shape[2:]), generator=g)
    return x, t


def _perfect_logits(t: torch.Tensor, c: int, scale: float = 20.0) -> torch.Tensor:
    oh = F.one_hot(t, max(c, 2)).movedim(-1, 1).float()
    if c == 1:
        oh = oh[:, 1:]
    return (2 * oh - 1) * scale


SHAPES = [(2, 3, 6, 7), (2, 1, 6, 7), (2, 3, 3, 4, 5), (1, 1, 3, 4, 5)]


def test_registry_lists_the_catalogue() -> None:
    expected = {
        "bce", "ce", "focal", "dice", "jaccard", "tversky", "focal_tversky", "lovasz", "generalized_dice",
        "log_cosh_dice", "hausdorff_dt", "boundary", "cldice", "pixel_dice", "pixel_jaccard",
    }
    assert set(NAMES) == expected
    described = dict(losses.describe())
    assert set(described) == expected and all(len(v) > 10 and "\n" not in v for v in described.values())
    assert set(functional.__all__) == {
        f"{n}_loss" if n != "ce" else "cross_entropy_loss" for n in expected
    }


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s) - 2}d-C{s[1]}")
@pytest.mark.parametrize("name", NAMES)
def test_scalar_finite_gradient_and_perfect(name: str, shape: tuple[int, ...]) -> None:
    x, t = _inputs(shape)
    x.requires_grad_(True)
    value = losses.get(name)(x, t)
    (grad,) = torch.autograd.grad(value, x)
    assert value.ndim == 0 and torch.isfinite(value)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert value.item() >= -1e-6
    perfect = losses.get(name)(_perfect_logits(t, shape[1]), t)
    assert abs(perfect.item()) < 1e-3, f"{name} scores {perfect.item()} on perfect logits"
    assert perfect.item() < value.item()


@pytest.mark.parametrize("name", NAMES)
def test_module_equals_function(name: str) -> None:
    x, t = _inputs((2, 3, 5, 6), seed=1)
    kw = {"ignore_index": 255}
    t[0, 0, :2] = 255
    module = losses.get(name, **kw)
    assert torch.equal(module(x, t), _fn(name)(x, t, **kw))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_gradcheck_float64(name: str, c: int) -> None:
    x, t = _inputs((2, c, 3, 4), seed=2)
    x = x.double()
    x = torch.where(x.abs() < 0.05, x + 0.1, x).requires_grad_(True)  # keep clear of the 1/2 threshold (HD maps)
    for kw in ({}, {"ignore_index": 255}):
        tt = t.clone()
        if kw:
            tt[0, 0] = 255
        assert torch.autograd.gradcheck(
            lambda z, tt=tt, kw=kw: _fn(name)(z, tt, **kw), (x,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True
        )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_ignored_pixels_get_zero_gradient(name: str, c: int) -> None:
    x, t = _inputs((2, c, 6, 6), seed=3)
    ignored = torch.zeros_like(t, dtype=torch.bool)
    ignored[0, :3] = True
    ignored[1, :, 4:] = True
    t = t.masked_fill(ignored, 255)
    x.requires_grad_(True)
    value = losses.get(name, ignore_index=255)(x, t)
    value.backward()
    assert torch.isfinite(value)
    grad = x.grad
    assert grad is not None
    assert grad.movedim(1, -1)[ignored].abs().max() == 0
    assert grad.movedim(1, -1)[~ignored].abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_ignored_pixels_change_nothing(name: str) -> None:
    """Whatever the logits at ignored pixels, the loss is the same."""
    x, t = _inputs((2, 3, 6, 6), seed=4)
    t[:, :2] = 255
    x2 = x.clone()
    x2[:, :, :2] = torch.randn_like(x2[:, :, :2]) * 5
    loss = losses.get(name, ignore_index=255)
    assert torch.allclose(loss(x, t), loss(x2, t), atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 1, 64, 64)])  # binary: the region losses' runs of 2048
@pytest.mark.parametrize("name", NAMES)
def test_autocast_bfloat16(name: str, shape: tuple[int, ...]) -> None:
    x, t = _inputs(shape, seed=5)
    xb = x.bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = losses.get(name)(xb, t)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert xb.grad is not None and xb.grad.dtype == torch.bfloat16 and torch.isfinite(xb.grad.float()).all()
    reference = losses.get(name)(xb.detach().float(), t)
    assert torch.allclose(value, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_degenerate_batches_stay_finite(name: str, c: int) -> None:
    """All-empty targets, all-ignored targets and saturated logits: no NaN or inf in values or gradients."""
    n, h, w = 2, 5, 5
    empty = torch.zeros(n, h, w, dtype=torch.long)
    ignored = torch.full((n, h, w), 255)
    cases = [
        (torch.randn(n, c, h, w), empty, {}),
        (torch.randn(n, c, h, w), ignored, {"ignore_index": 255}),
        (torch.full((n, c, h, w), 1e4) * torch.randn(n, c, h, w).sign(), empty, {}),
        (torch.full((n, c, h, w), -1e4), empty, {}),
        (torch.full((n, c, h, w), 1e4), torch.ones(n, h, w, dtype=torch.long), {}),
    ]
    for x, t, kw in cases:
        for extra in ({}, {"smooth": 0.0}) if losses.get(name).accepts("smooth") else ({},):
            x = x.clone().requires_grad_(True)
            value = losses.get(name, **kw, **extra)(x, t)
            (grad,) = torch.autograd.grad(value, x)
            assert torch.isfinite(value), (name, kw, extra)
            assert torch.isfinite(grad).all(), (name, kw, extra)
            if "ignore_index" in kw:
                assert value.item() == 0 and grad.abs().max() == 0


@pytest.mark.parametrize("name", NAMES)
def test_dense_one_hot_target_equals_label_map(name: str) -> None:
    x, t = _inputs((2, 3, 5, 6), seed=6)
    dense = F.one_hot(t, 3).movedim(-1, 1).float()
    assert torch.allclose(losses.get(name)(x, t), losses.get(name)(x, dense), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_probabilities_equal_logits(name: str) -> None:
    x, t = _inputs((2, 3, 5, 6), seed=7)
    xb, tb = _inputs((2, 1, 5, 6), seed=7)
    for logits, target, act in ((x, t, x.softmax(1)), (xb, tb, xb.sigmoid())):
        if name == "bce" and logits.shape[1] > 1:
            continue  # BCE scores each channel's sigmoid: its probabilities are multilabel, not a softmax
        a = losses.get(name)(logits, target)
        b = losses.get(name, from_logits=False)(act, target)
        if name == "lovasz" and logits.shape[1] == 1:
            continue  # the hinge needs logits; probabilities use the |y - p| errors (documented)
        assert torch.allclose(a, b, atol=1e-4), (name, float(a), float(b))


@pytest.mark.parametrize("name", NAMES)
def test_reduction_none_and_sum(name: str) -> None:
    x, t = _inputs((3, 2, 5, 5), seed=8)
    kw = {"per_image": True} if name in REGION else {}
    per_image = losses.get(name, reduction="none", **kw)(x, t)
    assert per_image.shape == (3,)
    mean = losses.get(name, **kw)(x, t)
    total = losses.get(name, reduction="sum", **kw)(x, t)
    if name in REGION:
        assert torch.allclose(per_image.mean(), mean, atol=1e-6)
        assert torch.allclose(per_image.sum(), total, atol=1e-5)
    else:
        assert torch.allclose(per_image.mean(), mean, atol=1e-6)  # equal pixel counts per image


@pytest.mark.parametrize("name", [n for n in NAMES if losses.get(n).accepts("class_weights")])
def test_class_weight_scale_changes_nothing(name: str) -> None:
    x, t = _inputs((2, 3, 5, 6), seed=9)
    a = losses.get(name, class_weights=[1.0, 2.0, 0.5])(x, t)
    b = losses.get(name, class_weights=[10.0, 20.0, 5.0])(x, t)
    c = losses.get(name)(x, t)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_clear_errors(name: str) -> None:
    x, t = _inputs((2, 3, 5, 6))
    loss = losses.get(name)
    with pytest.raises(ValueError, match=r"label map \(N, \*spatial\) = \(2, 5, 6\).*got shape \(2, 4, 6\)"):
        loss(x, t[:, :4])
    with pytest.raises(ValueError, match="labels must lie in"):
        loss(x, t + 3)
    with pytest.raises(ValueError, match="NaN or inf"):
        loss(torch.full_like(x, float("nan")), t)
    with pytest.raises(TypeError, match="floating-point"):
        loss(t[:, None], t)
    with pytest.raises(ValueError, match="reduction"):
        losses.get(name, reduction="avg")(x, t)
    with pytest.raises(TypeError, match="unknown keyword"):
        losses.get(name, smoothing=1)


@pytest.mark.parametrize("name", NAMES)
def test_multilabel_dense_targets(name: str) -> None:
    g = torch.Generator().manual_seed(10)
    y = (torch.rand(2, 3, 6, 6, generator=g) > 0.6).float()
    x = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    value = losses.get(name, multilabel=True)(x, y)
    (grad,) = torch.autograd.grad(value, x)
    assert torch.isfinite(value) and torch.isfinite(grad).all() and grad.abs().sum() > 0
    perfect = losses.get(name, multilabel=True)((2 * y - 1) * 20, y)
    assert abs(perfect.item()) < 1e-3
    # each channel is an independent binary problem: the multilabel loss of one channel is its binary loss
    one = losses.get(name, multilabel=True)(x[:, :1].detach(), y[:, :1])
    assert torch.allclose(one, losses.get(name)(x[:, :1].detach(), y[:, 0].long()), atol=1e-6)
