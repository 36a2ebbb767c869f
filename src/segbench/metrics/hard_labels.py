"""Turning a network's output into the hard label maps that metrics take."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from segbench._checks import as_tensor, check_probability

__all__ = ["to_labels"]


def to_labels(logits: Any, *, multilabel: bool = False, threshold: float = 0.5, from_logits: bool = True) -> Tensor:
    """Hard label maps from logits (or probabilities), the input every metric takes.

    * ``(N, 1, *spatial)`` (binary): :math:`\\hat y = [\\sigma(z) > t]`, an int64 map ``(N, *spatial)``.
    * ``(N, C, *spatial)`` with ``C >= 2`` (multiclass): :math:`\\hat y = \\arg\\max_c z_c`, int64 ``(N, *spatial)``
      (ties go to the lowest class index).
    * ``multilabel=True``: one sigmoid per channel, :math:`\\hat y_c = [\\sigma(z_c) > t]`, int64
      ``(N, C, *spatial)``.

    ``from_logits=False`` takes probabilities instead and thresholds them directly (``p > t``); argmax is the same
    either way. Metrics never argmax for you: a float prediction passed to a metric is an error that names this
    function.

    >>> z = torch.tensor([[[[-2.0, 0.5]]]])         # (N=1, C=1, 1, 2) binary logits
    >>> to_labels(z).tolist()
    [[[0, 1]]]
    >>> to_labels(torch.tensor([[[0.1], [0.7], [0.2]]])).tolist()  # (1, C=3, 1) -> argmax over C
    [[1]]
    >>> to_labels(torch.tensor([[[0.2], [0.9]]]), multilabel=True, from_logits=False).tolist()
    [[[0], [1]]]
    """
    x = as_tensor(logits, "logits")
    if not x.dtype.is_floating_point:
        raise TypeError(f"to_labels expects floating-point logits or probabilities, got {x.dtype}")
    if x.ndim < 3:
        shape = "(" + ", ".join(str(s) for s in x.shape) + ")"
        raise ValueError(
            f"to_labels expects (N, C, *spatial) with at least one spatial axis, got shape {shape} "
            "(add the batch and channel axes, e.g. x[None, None] for one binary image)"
        )
    if x.numel() == 0:
        raise ValueError("to_labels got an empty tensor")
    if bool(torch.isnan(x).any()):
        raise ValueError("logits hold NaN; cannot turn them into labels")
    check_probability(threshold, "threshold")
    if not from_logits:
        lo, hi = torch.aminmax(x)
        if float(lo) < 0 or float(hi) > 1:
            raise ValueError(
                f"from_logits=False expects probabilities in [0, 1], got values in [{float(lo):.4g}, {float(hi):.4g}]"
            )
    if multilabel or x.shape[1] == 1:
        probs = x.sigmoid() if from_logits else x
        hard = (probs > threshold).long()
        return hard if multilabel else hard[:, 0]
    return x.argmax(dim=1)
