"""soft_counts on label maps (fused gather/scatter with a hand-written backward) against the one-hot formula."""

from __future__ import annotations

import pytest
import torch

from segbench._checks import check_loss_inputs
from segbench.counts import soft_counts
from segbench.losses import functional as L


def _one_hot_counts(x: torch.Tensor, t: torch.Tensor, from_logits: bool, ignore_index: int | None):
    """tp, fp, fn by the textbook route: dense one-hot target, probabilities masked by the valid pixels."""
    c = x.shape[1]
    if from_logits:
        p = x.softmax(1) if c > 1 else x.sigmoid()
    else:
        p = x
    valid = torch.ones_like(t, dtype=x.dtype) if ignore_index is None else (t != ignore_index).to(x.dtype)
    labels = torch.where(t == ignore_index, torch.zeros_like(t), t) if ignore_index is not None else t
    y = labels.unsqueeze(1).to(x.dtype) if c == 1 else torch.nn.functional.one_hot(labels, c).movedim(-1, 1).to(x.dtype)
    v = valid.unsqueeze(1)
    dims = tuple(range(2, x.ndim))
    tp = (p * y * v).sum(dims)
    return tp, (p * v).sum(dims) - tp, (y * v).sum(dims) - tp


CASES = [(c, logits, ign) for c in (1, 2, 4) for logits in (True, False) for ign in (None, 7)]


@pytest.mark.parametrize(("c", "from_logits", "ignore_index"), CASES)
def test_label_map_counts_equal_one_hot_route_with_gradient(c: int, from_logits: bool, ignore_index: int | None):
    g = torch.Generator().manual_seed(c * 10 + (ignore_index or 0) + from_logits)
    shape = (3, c, 5, 6)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if not from_logits:
        x = x.softmax(1) if c > 1 else x.sigmoid()
    t = torch.randint(0, max(c, 2), (3, 5, 6), generator=g)
    if ignore_index is not None:
        t[torch.rand(t.shape, generator=g) < 0.3] = ignore_index
    x.requires_grad_(True)
    w = torch.rand(3, 3 * c, generator=g, dtype=torch.float64)  # arbitrary weights on tp, fp, fn

    def ours(inp: torch.Tensor) -> torch.Tensor:
        k = soft_counts(check_loss_inputs(inp, t, from_logits=from_logits, ignore_index=ignore_index))
        return (torch.cat([k.tp, k.fp, k.fn], 1) * w).sum()

    def ref(inp: torch.Tensor) -> torch.Tensor:
        return (torch.cat(_one_hot_counts(inp, t, from_logits, ignore_index), 1) * w).sum()

    assert torch.allclose(ours(x), ref(x), atol=1e-12)
    (g_ours,) = torch.autograd.grad(ours(x), x)
    (g_ref,) = torch.autograd.grad(ref(x), x)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    if ignore_index is not None:
        ignored = (t == ignore_index).unsqueeze(1).expand_as(g_ours)
        assert bool((g_ours[ignored] == 0).all())
    if from_logits:  # probabilities must stay on the simplex, so gradcheck only the logits
        assert torch.autograd.gradcheck(ours, (x,))


def test_float32_sums_do_not_drift_on_large_images():
    """tp accumulates in float64: on 2^20 pixels it is the float64 sum rounded once, where a float32 running sum
    drifts by several units."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 1024, 1024, generator=g)
    t = torch.randint(0, 2, (1, 1024, 1024), generator=g)
    k = soft_counts(check_loss_inputs(x, t))
    own = x.double().softmax(1).gather(1, t.unsqueeze(1))[:, 0]
    exact = torch.stack([own[t == 0].sum(), own[t == 1].sum()])
    ulp = torch.finfo(torch.float32).eps * exact
    assert bool(((k.tp[0].double() - exact).abs() <= ulp).all())
    running = torch.zeros(2).index_add_(0, t.flatten(), own.float().flatten())  # float32, one after another
    assert float((running.double() - exact).abs().max()) > 10 * float(ulp.max())  # the drift this avoids


def test_autocast_leaves_counts_and_gradient_in_float32():
    """Under bfloat16 autocast (backward inside the region too) counts and gradients match float32 ones."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.randint(0, 4, (2, 16, 16), generator=g)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xi = x.clone().requires_grad_(True)
        k = soft_counts(check_loss_inputs(xi, t))
        value = (k.tp / (k.tp + k.fp + k.fn)).sum()
        value.backward()
        assert xi.grad is not None
        return value.detach(), xi.grad

    plain = run()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = run()
    assert cast[0].dtype == torch.float32 and cast[1].dtype == torch.float32
    assert torch.allclose(plain[0], cast[0], atol=1e-6) and torch.allclose(plain[1], cast[1], atol=1e-6)


def test_non_finite_logits_raise_where_probabilities_are_undefined():
    """Region losses skip the input scan: NaN, or +inf under a softmax, still raises from the sums; a sigmoid of
    +-inf is a defined 0 or 1 and scores like a very large logit."""
    t = torch.tensor([[[0, 1], [1, 0]]])
    for bad in (float("nan"), float("inf")):
        x = torch.zeros(1, 3, 2, 2)
        x[0, 1, 0, 0] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            L.dice_loss(x, t)
    with pytest.raises(ValueError, match="NaN or inf"):
        L.dice_loss(torch.full((1, 1, 2, 2), float("nan")), t)
    xb = torch.tensor([[[[float("inf"), float("-inf")], [float("inf"), float("-inf")]]]])
    big = torch.tensor([[[[100.0, -100.0], [100.0, -100.0]]]])
    assert float(L.dice_loss(xb, t, smooth=0)) == pytest.approx(float(L.dice_loss(big, t, smooth=0)))


@pytest.mark.parametrize("with_valid", [False, True])
def test_label_bins_one_complex_scatter_equals_two_float_scatters(with_valid: bool):
    from segbench.counts import _label_bins

    g = torch.Generator().manual_seed(5)
    own = torch.rand(3, 50, generator=g)
    t = torch.randint(0, 4, (3, 50), generator=g)
    valid = (torch.rand(3, 50, generator=g) > 0.3).float() if with_valid else None
    one = _label_bins(own, t, valid, 4, one_scatter=True)
    two = _label_bins(own, t, valid, 4, one_scatter=False)
    v = torch.ones(3, 50) if valid is None else valid
    masked = own * v
    hand_tp = torch.stack([torch.stack([masked[n][t[n] == k].double().sum() for k in range(4)]) for n in range(3)])
    hand_y = torch.stack([torch.stack([v[n][t[n] == k].double().sum() for k in range(4)]) for n in range(3)])
    for tp, y in (one, two):
        assert torch.allclose(tp, hand_tp, atol=1e-12) and torch.allclose(y, hand_y, atol=1e-12)
