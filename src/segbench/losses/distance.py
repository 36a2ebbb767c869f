"""Distance-transform losses: the Hausdorff distance-transform loss and the boundary (surface) loss.

Both compute their distance maps themselves, from the target (and, for the Hausdorff loss, the thresholded
prediction), without gradient: :func:`scipy.ndimage.distance_transform_edt` per (image, class) on the CPU, the
(image, class) maps in parallel on ``torch.get_num_threads()`` threads. Cost: two exact Euclidean distance
transforms per (image, class) and map, linear in the number of pixels (about 1-2 ms for a 256 x 256 image, 0.1 s
for a 128^3 volume, divided by the threads), plus a device-to-host copy of the masks; the Hausdorff loss needs
them for the prediction too, on every call. Ignored pixels count as background in every map and
are left out of the means, so their values change nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from segbench._checks import LossInputs
from segbench._docs import document_args
from segbench.losses._common import LOSS_ARGS, Weights, check_number, prepare, reduce_classes
from segbench.losses.base import FunctionLoss
from segbench.losses.registry import register
from segbench.reduction import Reduction, check_reduction

__all__ = [
    "BoundaryLoss",
    "HausdorffDTLoss",
    "boundary_loss",
    "hausdorff_dt_loss",
    "signed_distance",
    "unsigned_distance",
]


def _edt_pair(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distance of inside pixels to the outside, distance of outside pixels to the inside), or None when the
    mask is empty or full (no boundary)."""
    if not mask.any() or mask.all():
        return None
    return ndimage.distance_transform_edt(mask), ndimage.distance_transform_edt(~mask)


def _maps(masks: Tensor, signed: bool) -> Tensor:
    """:func:`_distance_maps` as one operator that ``torch.compile`` treats as opaque (no graph break: the compiled
    graph calls it, as it calls any PyTorch kernel); its result holds no gradient."""
    out: Tensor = torch.ops.segbench.distance_maps(masks, signed)
    return out


@torch.library.custom_op("segbench::distance_maps", mutates_args=())
def _distance_maps_op(masks: Tensor, signed: bool) -> Tensor:
    return _distance_maps(masks, signed)


@_distance_maps_op.register_fake
def _(masks: Tensor, signed: bool) -> Tensor:
    return torch.empty(masks.shape, dtype=torch.float32, device=masks.device)


def _distance_maps(masks: Tensor, signed: bool) -> Tensor:
    """Distance maps of bool masks ``(N, C, *spatial)``, as float32 on the masks' device; 0 without a boundary.

    The (image, class) maps are independent and scipy's transform releases the GIL, so they run on a pool of as
    many threads as torch uses (``torch.get_num_threads()``); each writes its own slice, so the result does not
    depend on the order.
    """
    m = masks.detach().cpu().numpy()
    out = np.zeros(m.shape, dtype=np.float32)

    def fill(idx: tuple[int, ...]) -> None:
        pair = _edt_pair(m[idx])
        if pair is not None:
            inside, outside = pair
            out[idx] = outside - (inside - 1) * m[idx] if signed else inside + outside

    jobs = list(np.ndindex(*m.shape[:2]))
    workers = min(len(jobs), torch.get_num_threads())
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, jobs))  # list(): re-raises a worker's exception here
    else:
        for idx in jobs:
            fill(idx)
    return torch.from_numpy(out).to(masks.device)


def unsigned_distance(masks: Tensor) -> Tensor:
    """Distance of each pixel to the mask's boundary: :math:`d = \\text{edt}(m) + \\text{edt}(\\lnot m)`.

    ``masks`` is bool ``(N, C, *spatial)``; a (image, class) mask that is empty or full has no boundary and maps
    to 0 (MONAI's convention).

    Args:
        masks: bool masks ``(N, C, *spatial)``, one per (image, class).

    >>> unsigned_distance(torch.tensor([[[True, False, False, False]]])).tolist()
    [[[1.0, 1.0, 2.0, 3.0]]]
    """
    return _maps(masks, signed=False)


def signed_distance(masks: Tensor) -> Tensor:
    """Kervadec et al.'s signed distance: :math:`\\text{edt}(\\lnot m)` outside, :math:`-(\\text{edt}(m) - 1)`
    inside (0 on the inner border, negative deeper inside); 0 for an empty or full mask.

    Args:
        masks: bool masks ``(N, C, *spatial)``, one per (image, class).

    >>> signed_distance(torch.tensor([[[True, True, True, False, False]]])).tolist()
    [[[-2.0, -1.0, 0.0, 1.0, 2.0]]]
    """
    return _maps(masks, signed=True)


def _masked_mean(li: LossInputs, per_pixel: Tensor, per_image: bool) -> Tensor:
    """Mean over valid pixels per (image, class) ``(N, C)``, or pooled over the batch ``(1, C)``."""
    n, c = per_pixel.shape[:2]
    flat = per_pixel.reshape(n, c, -1)
    if li.valid is None:
        return flat.mean(-1) if per_image else flat.mean((0, 2))[None]
    v = li.valid.reshape(n, 1, -1).to(flat.dtype)
    dims = (-1,) if per_image else (0, 2)
    num = (flat * v).sum(dims)
    den = v.sum(dims).clamp_min(1)
    return num / den if per_image else (num / den)[None]


_DISTANCE_REDUCTION = (
    '``"mean"`` (default) over images (and classes), ``"sum"``, or ``"none"``: one value per image ``(N,)``, '
    "``(1,)`` when pooled."
)


@document_args(
    LOSS_ARGS, reduction=_DISTANCE_REDUCTION,
    alpha="the exponent of the distances (default 2, as MONAI's ``HausdorffDTLoss``).",
)
def hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    alpha: float = 2.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Hausdorff distance-transform loss (Karimi & Salcudean 2019), pooled over the batch by default.

    As MONAI's ``HausdorffDTLoss``; ``per_image=False`` takes each class's mean over the pixels of the whole batch.

    .. math:: L_c = \\frac{1}{|V|} \\sum_{i \\in V} (p_{ic} - y_{ic})^2\\, \\big(d^{\\,y}_{ic}{}^{\\alpha} +
              d^{\\,p}_{ic}{}^{\\alpha}\\big)

    :math:`d^y` and :math:`d^p` are the distances to the boundary of the target and of the prediction
    thresholded at 1/2 (:func:`unsigned_distance`, recomputed every call, no gradient). Errors far from either
    boundary cost most. Values are in squared pixels (for ``alpha=2``), so combine with a region loss using a
    small weight. Cost: 4 distance transforms per (image, class) per call (see the module docs).

    >>> p = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])           # probabilities, target [1, 0, 0, 0]
    >>> round(float(hausdorff_dt_loss(p, torch.tensor([[1, 0, 0, 0]]), from_logits=False)), 4)  # (1 * (1 + 1)) / 4
    0.5
    """
    a = check_number(alpha, "alpha")
    check_reduction(reduction)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, validate=validate
    )
    p = li.probs()
    y = li.dense_target()
    with torch.no_grad():
        pred = p > 0.5
        if li.valid is not None:
            pred = pred & li.valid.unsqueeze(1)  # ignored pixels are background in both maps
        both = unsigned_distance(torch.cat([y > 0.5, pred])).to(p.dtype).pow(a)  # one pool for the 2 sets of maps
        dist = both[: p.shape[0]] + both[p.shape[0] :]
    per_class = _masked_mean(li, (p - y).square() * dist, per_image)
    return reduce_classes(
        li, per_class, include_background=include_background, class_weights=class_weights, reduction=reduction
    )


@document_args(LOSS_ARGS, reduction=_DISTANCE_REDUCTION)
def boundary_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Boundary (surface) loss (Kervadec et al. 2019), pooled over the batch by default; 0 for a perfect prediction.

    .. math:: L_c = \\frac{1}{|V|} \\sum_{i \\in V} (p_{ic} - y_{ic})\\, \\phi_{ic}

    :math:`\\phi` is the target's signed distance (:func:`signed_distance`: positive outside, :math:`\\le 0`
    inside). Kervadec's and MONAI's loss is :math:`\\frac{1}{|V|}\\sum p\\,\\phi`, whose minimum is negative and
    depends on the target; subtracting the constant :math:`\\frac{1}{|V|}\\sum y\\,\\phi` keeps the gradient
    identical and makes the loss :math:`\\ge 0` for hard targets, 0 exactly at :math:`p = y`. A class with an
    empty (or full) target has :math:`\\phi = 0` and contributes nothing, as in the reference code: pair the
    boundary loss with a region loss (Kervadec et al. use GDL + boundary). Cost: 2 distance transforms per
    (image, class) per call.

    >>> p = torch.tensor([[[1.0, 1.0, 0.5, 0.0]]])           # target [1, 1, 0, 0]: phi = [-1, 0, 1, 2]
    >>> round(float(boundary_loss(p, torch.tensor([[1, 1, 0, 0]]), from_logits=False)), 4)   # 0.5 * 1 / 4
    0.125
    """
    check_reduction(reduction)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, validate=validate
    )
    p = li.probs()
    y = li.dense_target()
    with torch.no_grad():
        phi = signed_distance(y > 0.5).to(p.dtype)
    per_class = _masked_mean(li, (p - y) * phi, per_image)
    return reduce_classes(
        li, per_class, include_background=include_background, class_weights=class_weights, reduction=reduction
    )


@register("hausdorff_dt")
class HausdorffDTLoss(FunctionLoss, function=hausdorff_dt_loss):
    """Hausdorff distance-transform loss mean((p - y)^2 (d_y^2 + d_p^2)) (Karimi & Salcudean); pooled over the batch.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # both maps' distances: 1, 1, 2
    >>> HausdorffDTLoss(from_logits=False)(p, y)        # (0.01 * 2 + 0.04 * 2 + 0.01 * 8) / 3
    tensor(0.0600)
    """


@register("boundary")
class BoundaryLoss(FunctionLoss, function=boundary_loss):
    """Boundary loss mean((p - y) phi), phi the target's signed distance (Kervadec et al.); pooled over the batch.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # phi = 0, 1, 2
    >>> BoundaryLoss(from_logits=False)(p, y)           # (0.2 * 1 + 0.1 * 2) / 3
    tensor(0.1333)
    """
