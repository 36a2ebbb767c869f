r"""Volume error per (image, class): how much a segmentation over- or under-estimates a structure's volume.

Soft Dice is reported to bias predicted volumes (Bertels et al. 2019); the signed error shows the bias, its
absolute value the spread. Volumes come from hard label maps (pixel counts), or from probabilities (the soft
volume :math:`\sum_x p_k(x)`, the expected volume under the model), in voxels or physical units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from segbench._checks import as_tensor, check_label_maps, check_probability_inputs
from segbench.counts import confusion_counts, stat_scores
from segbench.metrics._probability import check_choice
from segbench.metrics._surface import check_spacing
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric

__all__ = ["VolumeErrors", "volume_error"]

UNITS = ("voxel", "mm3", "ml")


@dataclass(frozen=True)
class VolumeErrors:
    r"""Per-(image, class) volumes and errors, ``(N, K)`` float64, in ``unit``.

    ``signed`` :math:`= V_{pred} - V_{ref}` (positive: over-segmentation); ``relative`` :math:`= (V_{pred} -
    V_{ref}) / V_{ref}`: -1 for a missed structure, ``+inf`` for a false alarm (reference empty, prediction not),
    NaN when both are empty (undefined; :attr:`n_undefined` counts them). ``signed`` is 0 when both are empty.
    """

    predicted: Tensor
    reference: Tensor
    unit: str

    @property
    def signed(self) -> Tensor:
        """:math:`V_{pred} - V_{ref}` per (image, class)."""
        return self.predicted - self.reference

    @property
    def relative(self) -> Tensor:
        """:math:`(V_{pred} - V_{ref}) / V_{ref}` per (image, class) (see the class docstring for empty cases)."""
        d = self.signed
        both_empty = (self.reference == 0) & (self.predicted == 0)
        rel = d / self.reference  # x / 0 = inf for a false alarm
        return torch.where(both_empty, torch.full_like(rel, float("nan")), rel)

    @property
    def bias(self) -> Tensor:
        r"""Mean signed error per class over images, :math:`\frac{1}{N}\sum_n (V_{pred} - V_{ref})`, ``(K,)``."""
        return self.signed.mean(0)

    @property
    def spread(self) -> Tensor:
        r"""Mean absolute error per class over images, :math:`\frac{1}{N}\sum_n |V_{pred} - V_{ref}|`, ``(K,)``."""
        return self.signed.abs().mean(0)

    @property
    def relative_bias(self) -> Tensor:
        """Mean relative error per class over the images where it is defined (``inf`` after any false alarm)."""
        return torch.nanmean(self.relative, 0)

    @property
    def relative_spread(self) -> Tensor:
        """Mean absolute relative error per class over the images where it is defined."""
        return torch.nanmean(self.relative.abs(), 0)

    @property
    def n_undefined(self) -> Tensor:
        """Images per class whose relative error is undefined (reference and prediction both empty), ``(K,)``."""
        return ((self.reference == 0) & (self.predicted == 0)).sum(0)


def volume_error(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    spacing: float | Sequence[float] | None = None,
    unit: str | None = None,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    include_background: bool = True,
) -> VolumeErrors:
    r"""Predicted and reference volume and their signed and relative errors, one value per (image, class).

    .. math:: V_k = v \cdot \#\{x : \hat y(x) = k\}\ \text{(hard)},\qquad V_k = v \sum_x p_k(x)\ \text{(soft)},\qquad
              \Delta V_k = V_k^{pred} - V_k^{ref}

    with :math:`v = \prod_i s_i` the voxel volume (``spacing`` :math:`s_i` in mm), or 1 without spacing.

    ``pred`` is a hard label map ``(N, *spatial)`` (int or bool; multilabel ``(N, C, *spatial)`` 0/1), validated
    as the overlap metrics do, or floating-point probabilities ``(N, C, *spatial)`` (logits with
    ``from_logits=True``; C == 1 binary), validated as the calibration metrics do: then the volume is soft.
    Binary input scores the foreground class only.

    Args:
        pred: hard label map or probabilities (see above).
        target: reference label map ``(N, *spatial)`` (multilabel: 0/1 maps of ``pred``'s shape).
        num_classes: hard label maps: the number of classes (``None``: binary); probabilities: taken from C.
        spacing: voxel size per spatial axis in mm (one number for all), in the array's axis order.
        unit: ``"voxel"`` (default without spacing), ``"mm3"`` (default with spacing) or ``"ml"`` (1 ml =
            1000 mm^3; needs spacing).
        from_logits: soft ``pred`` holds logits.
        multilabel: one 0/1 map (or sigmoid) per channel.
        ignore_index: target label whose pixels count in neither volume.
        include_background: ``False`` leaves out class 0 (multiclass and multilabel).

    >>> t = torch.zeros(1, 4, 4, dtype=torch.long); t[0, :2, :2] = 1          # 4 voxels
    >>> p = torch.zeros(1, 4, 4, dtype=torch.long); p[0, :2, :3] = 1          # 6 voxels
    >>> v = volume_error(p, t, spacing=(0.5, 2.0))                            # 1 mm^3 per voxel
    >>> v.signed.tolist(), v.relative.tolist(), v.unit
    ([[2.0]], [[0.5]], 'mm3')
    >>> volume_error(p, t, spacing=10.0, unit="ml").signed.tolist()           # 2 voxels of 0.1 ml
    [[0.2]]
    """
    p = as_tensor(pred, "pred")
    ndim = p.ndim - (2 if (p.dtype.is_floating_point or multilabel) else 1)
    voxel = float(torch.tensor(check_spacing(spacing, ndim), dtype=torch.float64).prod())
    chosen = unit if unit is not None else ("voxel" if spacing is None else "mm3")
    check_choice(chosen, "unit", UNITS)
    if chosen != "voxel" and spacing is None:
        raise ValueError(f"unit={chosen!r} needs the voxel spacing (in mm); pass spacing=")
    if chosen == "voxel" and spacing is not None:
        raise ValueError("unit='voxel' counts voxels; drop spacing, or ask for unit='mm3' or 'ml'")
    scale = voxel / (1000.0 if chosen == "ml" else 1.0)
    if p.dtype.is_floating_point:
        li = check_probability_inputs(p, target, from_logits=from_logits, multilabel=multilabel,
                                      ignore_index=ignore_index)
        probs = li.probs().detach().double()
        ref = li.dense_target().double()
        if li.valid is not None:
            w = li.valid.unsqueeze(1).double()
            probs, ref = probs * w, ref * w
        pv, rv = probs.flatten(2).sum(-1), ref.flatten(2).sum(-1)
        binary = li.mode == "binary"
        channels = pv.shape[1]
    else:
        lm = check_label_maps(p, target, num_classes=num_classes, multilabel=multilabel, ignore_index=ignore_index)
        s = stat_scores(confusion_counts(lm))
        pv, rv = (s.tp + s.fp).double(), (s.tp + s.fn).double()
        binary = lm.binary
        if binary:
            pv, rv = pv[:, 1:], rv[:, 1:]
        channels = pv.shape[1]
    if not include_background and not binary and channels > 1:
        pv, rv = pv[:, 1:], rv[:, 1:]
    return VolumeErrors(pv * scale, rv * scale, chosen)


def _relative(soft: bool, absolute: bool) -> Callable[[ScoringInputs], Tensor]:
    """The per-image ``(N, C)`` relative volume error of a scoring call's labels (or probabilities, ``soft``)."""

    def per_image(inputs: ScoringInputs) -> Tensor:
        if soft:
            if inputs.probabilities is None:
                raise ValueError("the soft volume error needs the model's probabilities; none were given")
            v = volume_error(inputs.probabilities, inputs.target, ignore_index=inputs.ignore_index)
        else:  # hard labels only here (volume_error itself takes probabilities as the soft volume)
            check_label_maps(inputs.pred, inputs.target, num_classes=inputs.num_classes,
                             ignore_index=inputs.ignore_index, to_long=False)
            v = volume_error(inputs.pred, inputs.target, num_classes=inputs.num_classes,
                             ignore_index=inputs.ignore_index)
        rel = v.relative.abs() if absolute else v.relative
        if rel.shape[1] == 1 and inputs.num_classes == 2:  # binary: the foreground class only
            rel = torch.cat([torch.full_like(rel, math.nan), rel], 1)
        return rel

    return per_image


def _relative_function(absolute: bool) -> Callable[..., Tensor]:
    def relative(pred: Any, target: Any, **options: Any) -> Tensor:
        rel = volume_error(pred, target, **options).relative
        return rel.abs() if absolute else rel

    relative.__doc__ = (f"The {'absolute ' if absolute else ''}relative volume error per (image, class): "
                        "``volume_error(pred, target, **options).relative``" + (".abs()." if absolute else "."))
    return relative


register_metric(MetricEntry(
    "volume_error", _relative_function(True), "volume", False, "none",
    "absolute relative volume error |V_pred - V_ref| / V_ref (1 for a miss, inf for a false alarm)",
    _relative(False, True), label="|dV|/V", value_range=(0.0, math.inf)))
register_metric(MetricEntry(
    "volume_bias", _relative_function(False), "volume", False, "none",
    "signed relative volume error (V_pred - V_ref) / V_ref: > 0 over-, < 0 under-segmentation (ideal 0; "
    "its size is volume_error)", _relative(False, False), label="dV/V", value_range=(-1.0, math.inf), ideal=0.0))
register_metric(MetricEntry(
    "soft_volume_bias", _relative_function(False), "volume", False, "none",
    "signed relative soft volume error (sum p - V_ref) / V_ref of the probabilities (ideal 0)",
    _relative(True, False), needs="probabilities", label="soft dV/V", value_range=(-1.0, math.inf), ideal=0.0))
