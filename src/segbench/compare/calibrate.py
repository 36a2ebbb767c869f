r"""Temperature scaling in ``segbench compare``: one temperature per trained model, fitted on the validation split.

After a run is trained, the validation logits give the temperature :math:`T^*` that minimises their negative
log-likelihood (:func:`segbench.metrics.temperature.fit_temperature`); the test probabilities are then scored twice:
as the model gives them and after scaling, :math:`\mathrm{softmax}(z / T^*)` (binary: :math:`\sigma(z / T^*)`), on
the calibration metrics with the suffix ``_ts`` (``ece_ts``, ``brier_ts``, ``nll_ts``, ``overconfidence_ts``).
Scaling changes no arg max, so no hard-label metric moves. The trivial predictors' probabilities are 0 and 1, which
every temperature leaves as they are, so their scaled scores equal the raw ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from segbench.compare.train import SplitData, TrainSettings, _forward
from segbench.metrics.calibration import SCALED_SUFFIX, scaled_name
from segbench.metrics.catalogue import get_entry
from segbench.metrics.temperature import apply_temperature, fit_temperature

__all__ = ["FittedTemperature", "fit_model_temperature", "model_logits", "scaled_metrics", "scaled_probabilities"]


def scaled_metrics(metrics: Sequence[str]) -> list[str]:
    """``metrics`` and the temperature-scaled twin of each calibration metric among them (those with a
    registered ``<name>_ts``).

    Args:
        metrics: the run's metric names.

    >>> scaled_metrics(["dice", "ece", "nll", "ap"])
    ['dice', 'ece', 'nll', 'ap', 'ece_ts', 'nll_ts']
    """
    out = list(metrics)
    for m in metrics:
        if m.endswith(SCALED_SUFFIX):
            continue
        try:
            entry = get_entry(scaled_name(m))
        except ValueError:
            continue
        if entry.scaled and entry.name not in out:
            out.append(entry.name)
    return out


@torch.no_grad()
def model_logits(model: nn.Module, images: Tensor, settings: TrainSettings) -> Tensor:
    """The logits ``(N, C, H, W)`` float32 on CPU of ``model`` in eval mode, batch by batch (the forward pass that
    :func:`~segbench.compare.train.predict_with_probabilities` makes)."""
    model.eval()
    parts = [_forward(model, images[s : s + settings.batch_size], settings).to("cpu")
             for s in range(0, images.shape[0], settings.batch_size)]
    return torch.cat(parts) if parts else _forward(model, images, settings).to("cpu")


@dataclass(frozen=True)
class FittedTemperature:
    """A model's temperature and the validation NLL (mean per pixel) before and after scaling by it."""

    temperature: float
    val_nll: float
    val_nll_scaled: float

    def as_json(self) -> dict[str, Any]:
        """What ``temperature.json`` holds."""
        return {"temperature": self.temperature, "fitted_on": "val", "objective": "nll",
                "val_nll": self.val_nll, "val_nll_scaled": self.val_nll_scaled}


def _nll(logits: Tensor, target: Tensor, ignore_index: int | None) -> float:
    from segbench.metrics.calibration import negative_log_likelihood

    return float(negative_log_likelihood(logits.double(), target, from_logits=True, ignore_index=ignore_index))


def fit_model_temperature(model: nn.Module, val: SplitData, settings: TrainSettings,
                          ignore_index: int | None = None) -> FittedTemperature:
    r"""Fit the temperature of ``model`` on the validation split ``val``: :math:`T^* = \arg\min_T
    \mathrm{NLL}(z / T, y)` over every valid validation pixel (one temperature for the whole model; volumes of
    several sizes are laid end to end, the same pixels and mean).

    Args:
        model: the trained model (its selected checkpoint).
        val: the validation images and masks.
        settings: the run's settings (device, batch size).
        ignore_index: a target label whose pixels take no part.
    """
    from segbench.compare import volumetric

    if volumetric.ragged(val):  # volumes of several sizes: each case's voxels laid end to end, (1, C, sum of voxels)
        parts = [(model_logits(model, val.images[k][None], settings), val.masks[k].long()) for k in range(len(val))]
        z = torch.cat([logits.flatten(2) for logits, _ in parts], dim=2)
        target = torch.cat([mask.reshape(1, -1) for _, mask in parts], dim=1)
    else:
        z = model_logits(model, val.images, settings)
        target = val.masks[:].long()  # a tensor, or the stacked cases of a lazy split
    t = fit_temperature(z, target, ignore_index=ignore_index)
    return FittedTemperature(t, _nll(z, target, ignore_index), _nll(apply_temperature(z, t), target, ignore_index))


def scaled_probabilities(model: nn.Module, images: Tensor, temperature: float, settings: TrainSettings) -> Tensor:
    """The probabilities of ``model`` on ``images`` after dividing its logits by ``temperature``: ``(N, 1, H, W)``
    sigmoid (binary) or ``(N, C, H, W)`` softmax, float32 on CPU (the layout of
    :func:`~segbench.compare.train.predict_with_probabilities`).

    Args:
        model: the trained model.
        images: ``(N, C_in, H, W)``.
        temperature: T > 0 (:func:`fit_model_temperature`).
        settings: the run's settings.
    """
    z = apply_temperature(model_logits(model, images, settings), temperature)
    return (torch.sigmoid(z) if settings.binary else z.softmax(1)).float()
