"""Boundary IoU (Cheng et al., CVPR 2021): IoU of the bands of each mask that lie within ``dilation`` of its border."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from segbench._docs import document_args
from segbench.metrics._surface import BoolArray, check_spacing, crop_pair, voxel_surface
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric
from segbench.metrics.distance import DISTANCE_ARGS, _case_masks

__all__ = ["boundary_iou"]


def _band(framed: BoolArray, dilation: float, spacing: tuple[float, ...]) -> BoolArray:
    """Voxels of the mask closer than ``dilation`` to its voxel surface (the surface itself included)."""
    surface = voxel_surface(framed)
    if dilation <= min(spacing):  # no inner voxel is nearer than one step: the band is the surface
        return surface
    dist = ndimage.distance_transform_edt(~surface, sampling=spacing)
    return framed & (dist < dilation)


def _pair_boundary_iou(pred: BoolArray, target: BoolArray, dilation: float, spacing: tuple[float, ...]) -> float:
    cropped = crop_pair(pred, target)
    if cropped is None:
        return float("nan")
    bp, bt = (_band(m, dilation, spacing) if m.any() else m for m in cropped)
    union = int(np.count_nonzero(bp | bt))
    return int(np.count_nonzero(bp & bt)) / union


@document_args(
    DISTANCE_ARGS,
    dilation="``d``, the band's width: voxels nearer than this to their mask's border (in voxels, or physical "
    "units with ``spacing``; default 1: the border voxels only).",
)
def boundary_iou(
    pred: Any,
    target: Any,
    *,
    dilation: float = 1.0,
    spacing: float | Sequence[float] | None = None,
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
) -> Tensor:
    r"""Boundary IoU: the IoU of both masks' parts within ``dilation`` of their own border; one value per image.

    .. math::

        \mathrm{BIoU}_d(P, T) = \frac{|P_d \cap T_d|}{|P_d \cup T_d|}, \qquad
        X_d = \{x \in X : d(x, \partial X) < d\}

    where :math:`\partial X` is the voxel surface of ``X`` (its voxels with a background neighbour along an
    axis, as the distance metrics' ``surface="voxel"``) and :math:`d(x, \partial X)` the Euclidean distance,
    in voxels, or in physical units when ``spacing`` is given. This is MetricsReloaded's ``boundary_iou`` with
    ``boundary_dist=dilation``; its default 1 keeps only the border voxels. MetricsReloaded ignores the
    voxel spacing (its ``pixdim``) here; with ``spacing=None`` the two agree. Cheng et al. choose ``d`` as 2 %
    of the image diagonal for natural images.

    Returns float64 ``(N,)`` (binary) or ``(N, C')`` (per class, background left out unless
    ``include_background``); 0 when exactly one mask is empty, NaN when both are.

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 1:6, 1:6] = True
    >>> boundary_iou(t.roll(1, dims=2), t).tolist()  # border rings of 16 pixels sharing 8: 8 / 24
    [0.3333333333333333]
    """
    d = float(dilation)
    if not (np.isfinite(d) and d > 0):
        raise ValueError(f"dilation must be a finite number > 0, got {dilation}")
    cases, shape, spatial = _case_masks(pred, target, num_classes, include_background, multilabel, ignore_index)
    sp = check_spacing(spacing, len(spatial))
    values = [_pair_boundary_iou(pm, tm, d, sp) for pm, tm in cases]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def _per_image(inputs: ScoringInputs) -> Tensor:
    found = boundary_iou(inputs.pred, inputs.target, spacing=inputs.spacing, num_classes=inputs.num_classes,
                         include_background=True, ignore_index=inputs.ignore_index)
    return found.reshape(inputs.pred.shape[0], inputs.num_classes).double()


register_metric(MetricEntry("boundary_iou", boundary_iou, "distance", True, "none",
                            "IoU of the two masks' border bands, dilation 1 (Cheng et al. 2021)", _per_image))
