"""Hand-written backward passes (binary focal) against autograd through the textbook formula."""

from __future__ import annotations

import pytest
import torch

from segbench.losses import functional as L


def _textbook_focal(x: torch.Tensor, t: torch.Tensor, gamma: float, alpha: float | None) -> torch.Tensor:
    y = t.unsqueeze(1).to(x.dtype)
    p = torch.sigmoid(x)
    pos = -y * (1 - p) ** gamma * torch.log(p)
    neg = -(1 - y) * p**gamma * torch.log(1 - p)
    loss = pos + neg if alpha is None else alpha * pos + (1 - alpha) * neg
    return loss.mean()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_focal_value_and_gradient_equal_autograd_of_the_formula(gamma: float, alpha: float | None) -> None:
    g = torch.Generator().manual_seed(int(gamma * 10))
    x = torch.randn(3, 1, 6, 7, generator=g, dtype=torch.float64) * 3
    t = torch.randint(0, 2, (3, 6, 7), generator=g)
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    a = L.focal_loss(xa, t, gamma=gamma, alpha=alpha)
    b = _textbook_focal(xb, t, gamma, alpha)
    assert torch.allclose(a, b, atol=1e-12)
    a.backward()
    b.backward()
    assert xa.grad is not None and xb.grad is not None
    assert torch.allclose(xa.grad, xb.grad, atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: L.focal_loss(z, t, gamma=gamma, alpha=alpha), (x.requires_grad_(True),))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_binary_focal_saturated_logits_keep_finite_gradients(gamma: float) -> None:
    """Confidently right pixels (+-40) cost ~0, a confidently wrong one (200) costs its margin, all with finite
    gradients; autograd through q ** gamma has an infinite slope at q = 0 for gamma < 1."""
    x = torch.tensor([[[[40.0, -40.0, 0.0, 200.0]]]], requires_grad=True)
    t = torch.tensor([[[1, 0, 1, 0]]])
    loss = L.focal_loss(x, t, gamma=gamma)
    loss.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    expected = (0.5**gamma * torch.log(torch.tensor(2.0)) + 200.0) / 4  # the p = 0.5 pixel and the wrong one
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    assert float(x.grad[..., 3]) == pytest.approx(0.25, rel=1e-6)  # d(200 * 1)/dx / 4 pixels
