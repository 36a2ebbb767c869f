"""Temperature scaling: the fitted T minimises the NLL (scipy as the oracle), recovers a known temperature,
lowers the NLL and never changes the arg max."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.optimize import minimize_scalar

from segbench import metrics as M


def _nll(logits: torch.Tensor, y: torch.Tensor, t: float, binary: bool) -> float:
    z = logits.double() / t
    if binary:
        return float(torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], y.double()))
    return float(torch.nn.functional.cross_entropy(z, y))


def _synthetic(seed: int, c: int, t_true: float, n: int = 20_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits z whose labels are drawn from softmax(z / t_true): the calibrating temperature is t_true."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, c, n, generator=g, dtype=torch.float64) * 3
    if c == 1:
        y = (torch.rand(1, n, generator=g, dtype=torch.float64) < (z[:, 0] / t_true).sigmoid()).long()
    else:
        y = torch.multinomial((z[0] / t_true).softmax(0).T, 1, generator=g).T
    return z, y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("c", [1, 3])
def test_fitted_temperature_is_scipy_s_minimiser(seed: int, c: int) -> None:
    z, y = _synthetic(seed, c, t_true=0.5 + seed)
    t = M.fit_temperature(z, y)
    res = minimize_scalar(lambda log_t: _nll(z, y, math.exp(log_t), c == 1), bounds=(-4, 4), method="bounded",
                          options={"xatol": 1e-10})
    assert t == pytest.approx(math.exp(res.x), rel=1e-5)
    assert _nll(z, y, t, c == 1) <= _nll(z, y, math.exp(res.x), c == 1) + 1e-12
    assert t == pytest.approx(0.5 + seed, rel=0.1)  # the temperature that generated the labels
    assert _nll(z, y, t, c == 1) < _nll(z, y, 1.0, c == 1) or t == pytest.approx(1.0, rel=1e-3)


def test_ignore_index_and_multilabel() -> None:
    z, y = _synthetic(7, 3, t_true=2.0, n=5000)
    noisy = y.clone()
    noisy[0, :1000] = 255
    z_corrupt = z.clone()
    z_corrupt[..., :1000] *= 50  # the ignored pixels' logits must not matter
    assert M.fit_temperature(z_corrupt, noisy, ignore_index=255) == pytest.approx(
        M.fit_temperature(z[..., 1000:], y[:, 1000:]), rel=1e-9)
    g = torch.Generator().manual_seed(1)
    zm = torch.randn(2, 3, 500, generator=g, dtype=torch.float64) * 4
    ym = (torch.rand(zm.shape, generator=g, dtype=torch.float64) < (zm / 2).sigmoid()).long()
    flat_z, flat_y = zm.transpose(0, 1).reshape(1, 1, -1), ym.transpose(0, 1).reshape(1, -1)
    assert M.fit_temperature(zm, ym, multilabel=True) == pytest.approx(M.fit_temperature(flat_z, flat_y), rel=1e-9)


def test_separable_data_returns_the_bound_and_scaling_keeps_the_arg_max() -> None:
    z = torch.tensor([[[5.0, -5.0, 3.0, -3.0]]])
    y = torch.tensor([[1, 0, 1, 0]])
    assert M.fit_temperature(z, y) == 1e-2  # NLL keeps falling as T -> 0: the lower bound
    logits = torch.randn(2, 4, 5, 5)
    scaled = M.apply_temperature(logits, 3.0)
    assert torch.equal(scaled.argmax(1), logits.argmax(1))
    torch.testing.assert_close(scaled * 3.0, logits)
    with pytest.raises(ValueError, match="temperature"):
        M.apply_temperature(logits, 0.0)
    with pytest.raises(ValueError, match="max_iter"):
        M.fit_temperature(z, y, max_iter=0)
