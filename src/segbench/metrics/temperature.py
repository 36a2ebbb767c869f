r"""Temperature scaling (Guo et al. 2017): one temperature T > 0 that divides the logits, fitted on a validation
split by minimising the negative log-likelihood. It changes no arg max (so no hard-label metric), only the
confidence, and is the usual baseline for "how much of the miscalibration is a single scale".

The NLL of :math:`z / T` is convex in :math:`\beta = 1/T`, so a safeguarded Newton search on
:math:`\beta \in [1/T_{max}, 1/T_{min}]` finds the global minimum:

.. math:: f(\beta) = \frac{1}{n}\sum_i \Big(\log\sum_k e^{\beta z_{ik}} - \beta z_{i y_i}\Big),\quad
          f'(\beta) = \frac{1}{n}\sum_i \big(\mathbb{E}_{p_i}[z_i] - z_{i y_i}\big),\quad
          f''(\beta) = \frac{1}{n}\sum_i \mathrm{Var}_{p_i}[z_i] \ge 0

(binary and multilabel: the binary cross-entropy of :math:`\beta x`, :math:`f' = \overline{(\sigma(\beta x) - y)x}`,
:math:`f'' = \overline{\sigma(1 - \sigma) x^2}`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from segbench._checks import check_positive, check_probability_inputs

__all__ = ["apply_temperature", "fit_temperature"]

T_MIN, T_MAX = 1e-2, 1e2


def _flat(logits: Any, target: Any, multilabel: bool, ignore_index: int | None) -> tuple[Tensor, Tensor, str]:
    li = check_probability_inputs(logits, target, from_logits=True, multilabel=multilabel, ignore_index=ignore_index)
    z = li.logits.detach().double().movedim(1, -1)  # (N, *spatial, C)
    if li.mode == "multiclass":
        y = li.target
        if li.valid is not None:
            return z[li.valid], y[li.valid], li.mode
        return z.reshape(-1, z.shape[-1]), y.reshape(-1), li.mode
    t = li.dense_target().double().movedim(1, -1)
    if li.valid is not None:
        return z[li.valid].flatten(), t[li.valid].flatten(), li.mode
    return z.flatten(), t.flatten(), li.mode


def _derivatives(beta: float, z: Tensor, y: Tensor, mode: str) -> tuple[float, float, float]:
    """NLL f(beta) and its first two derivatives."""
    s = beta * z
    if mode == "multiclass":
        logp = torch.log_softmax(s, -1)
        p = logp.exp()
        zy = z.gather(1, y[:, None])[:, 0]
        ez = (p * z).sum(-1)
        f = -(logp.gather(1, y[:, None])[:, 0]).mean()
        return float(f), float((ez - zy).mean()), float(((p * z * z).sum(-1) - ez * ez).mean())
    f = torch.nn.functional.binary_cross_entropy_with_logits(s, y)
    sig = torch.sigmoid(s)
    return float(f), float(((sig - y) * z).mean()), float((sig * (1 - sig) * z * z).mean())


def fit_temperature(
    logits: Any,
    target: Any,
    *,
    multilabel: bool = False,
    ignore_index: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-12,
) -> float:
    r"""The temperature :math:`T^* = \arg\min_T \mathrm{NLL}(z / T, y)` of validation logits, in
    :math:`[10^{-2}, 10^{2}]` (a bound is returned when the optimum lies beyond it, e.g. separable data).

    Args:
        logits: validation logits ``(N, C, *spatial)`` (C == 1 binary; multilabel with ``multilabel=True``).
        target: label map ``(N, *spatial)`` (multilabel: 0/1 map of the logits' shape).
        multilabel: one sigmoid per channel (one temperature shared by the channels).
        ignore_index: target label whose pixels take no part.
        max_iter: the most Newton/bisection steps.
        tol: stop when the bracket on :math:`\beta = 1/T` is narrower than ``tol`` (relative) or
            :math:`|f'(\beta)| < \mathrm{tol}`.

    >>> import math
    >>> z = torch.tensor([[[2.0, -2.0, 2.0, -2.0]]])       # |logit| 2 everywhere, right 3 times in 4
    >>> y = torch.tensor([[1, 0, 0, 0]])
    >>> t = fit_temperature(z, y)                          # sigmoid(2 / T) = 3/4  ->  T = 2 / log 3
    >>> round(t, 10) == round(2 / math.log(3), 10)
    True
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    check_positive(tol, "tol", allow_zero=False)
    z, y, mode = _flat(logits, target, multilabel, ignore_index)
    lo, hi = 1.0 / T_MAX, 1.0 / T_MIN
    if _derivatives(hi, z, y, mode)[1] <= 0:
        return T_MIN
    if _derivatives(lo, z, y, mode)[1] >= 0:
        return T_MAX
    beta = 1.0
    for _ in range(max_iter):
        _, g, h = _derivatives(beta, z, y, mode)
        if abs(g) < tol:
            break
        if g > 0:
            hi = beta
        else:
            lo = beta
        step = beta - g / h if h > 0 else float("nan")
        beta = step if lo < step < hi else 0.5 * (lo + hi)
        if hi - lo < tol * hi:
            break
    return 1.0 / beta


def apply_temperature(logits: Any, temperature: float) -> Tensor:
    r"""The scaled logits :math:`z / T` (feed them to the metrics with ``from_logits=True``).

    Args:
        logits: logits ``(N, C, *spatial)``.
        temperature: T > 0, e.g. from :func:`fit_temperature`.

    >>> apply_temperature(torch.tensor([[[2.0, -4.0]]]), 2.0).tolist()
    [[[1.0, -2.0]]]
    """
    t = check_positive(temperature, "temperature", allow_zero=False)
    x = logits if isinstance(logits, Tensor) else torch.as_tensor(logits)
    if not x.dtype.is_floating_point:
        raise TypeError(f"logits must be floating point, got {x.dtype}")
    return x / t
