"""Topology-aware losses: clDice (Shit et al., CVPR 2021) over soft skeletons."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segbench._docs import document_args
from segbench.losses._common import LOSS_ARGS, Weights, check_number, prepare, reduce_classes, safe_ratio
from segbench.losses.base import FunctionLoss
from segbench.losses.registry import register
from segbench.reduction import Reduction, check_reduction

__all__ = ["ClDiceLoss", "cldice_loss", "soft_skeleton"]


def _erode(x: Tensor) -> Tensor:
    if x.ndim == 4:
        p1 = -F.max_pool2d(-x, (3, 1), 1, (1, 0))
        p2 = -F.max_pool2d(-x, (1, 3), 1, (0, 1))
        return torch.minimum(p1, p2)
    p1 = -F.max_pool3d(-x, (3, 1, 1), 1, (1, 0, 0))
    p2 = -F.max_pool3d(-x, (1, 3, 1), 1, (0, 1, 0))
    p3 = -F.max_pool3d(-x, (1, 1, 3), 1, (0, 0, 1))
    return torch.minimum(torch.minimum(p1, p2), p3)


def _dilate(x: Tensor) -> Tensor:
    if x.ndim == 4:
        return F.max_pool2d(x, 3, 1, 1)
    return F.max_pool3d(x, 3, 1, 1)


def soft_skeleton(x: Tensor, iterations: int = 3) -> Tensor:
    """Soft skeleton of maps in [0, 1], ``(N, C, H, W)`` or ``(N, C, D, H, W)``, by iterated min/max pooling.

    .. math:: S_0 = \\operatorname{relu}(x - \\operatorname{open}(x)),\\quad
              S_{k+1} = S_k + \\operatorname{relu}\\big(\\delta_k - S_k\\,\\delta_k\\big),\\quad
              \\delta_k = \\operatorname{relu}(x_k - \\operatorname{open}(x_k)),\\ x_k = \\operatorname{erode}^k(x)

    (the reference code of Shit et al., also MONAI's ``soft_skel``; here each erosion is computed once, where the
    reference erodes :math:`x_k` twice, for the next :math:`x_{k+1}` and inside the opening).

    Args:
        x: the maps in [0, 1], ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        iterations: the number of erosions ``k`` (default 3; about the largest radius thinned to its skeleton).

    >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 1:4, 2] = 1           # a vertical bar, 3 pixels long, 1 wide
    >>> soft_skeleton(x)[0, 0, :, 2].tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    if x.ndim not in (4, 5):
        raise ValueError(f"soft skeletons need 2D (N, C, H, W) or 3D (N, C, D, H, W) maps, got shape {tuple(x.shape)}")
    eroded = _erode(x)
    skel = F.relu(x - _dilate(eroded))
    for _ in range(iterations):  # x_k = erode(x_{k-1}) is the erosion the previous opening computed: reuse it
        x, eroded = eroded, _erode(eroded)
        delta = F.relu(x - _dilate(eroded))
        skel = skel + F.relu(delta - skel * delta)
    return skel


@document_args(
    LOSS_ARGS,
    input="logits ``(N, C, H, W)`` or ``(N, C, D, H, W)`` (probabilities with ``from_logits=False``): ``C == 1`` "
    "is binary (sigmoid), ``C >= 2`` multiclass (softmax over C) unless ``multilabel``.",
    iterations="the soft skeleton's steps of min/max pooling (default 3; about the largest radius thinned).",
    smooth="``s``, added to the numerators and denominators of the two topology ratios (default 1).",
)
def cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    iterations: int = 3,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Soft clDice loss, pooled over the batch by default: one minus the harmonic mean of topology precision and
    sensitivity.

    .. math::
        T_{prec} = \\frac{\\sum S(p)\\, y + s}{\\sum S(p) + s},\\quad
        T_{sens} = \\frac{\\sum S(y)\\, p + s}{\\sum S(y) + s},\\quad
        L = 1 - \\frac{2\\, T_{prec}\\, T_{sens}}{T_{prec} + T_{sens}}

    :math:`S` is :func:`soft_skeleton` with ``iterations`` steps; sums run over pixels (and the batch when
    ``per_image=False``). MONAI's ``SoftclDiceLoss`` sums over all channels of each image as well and adds
    ``1e-4`` to the harmonic mean's denominator; for one channel and ``per_image=True`` the two agree. The target
    is expanded to one-hot (skeletons need each class's map); ignored pixels are background in both skeletons.
    2D and 3D only. A constant prediction has an empty skeleton, so on an empty target clDice does not penalise
    false positives: pair it with Dice, as Shit et al. do.

    >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 1:4, 2] = 1
    >>> float(cldice_loss(x, x[:, 0].long(), from_logits=False))
    0.0
    """
    s = check_number(smooth, "smooth")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    check_reduction(reduction)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, validate=validate
    )
    if li.logits.ndim not in (4, 5):
        raise ValueError(f"clDice needs 2D or 3D input (N, C, H, W[, D]), got shape {tuple(li.logits.shape)}")
    p = li.probs()
    y = li.dense_target()
    v = li.valid_float()
    if v is not None:
        p, y = p * v, y * v
    skel_p = soft_skeleton(p, iterations)
    with torch.no_grad():
        skel_y = soft_skeleton(y, iterations)
    dims = tuple(range(2, p.ndim))
    sums = torch.stack([(skel_p * y).sum(dims), skel_p.sum(dims), (skel_y * p).sum(dims), skel_y.sum(dims)])
    if not per_image:
        sums = sums.sum(1, keepdim=True)  # (4, N or 1, C)
    tprec = safe_ratio(sums[0], sums[1], s)
    tsens = safe_ratio(sums[2], sums[3], s)
    per_class = 1 - safe_ratio(2 * tprec * tsens, tprec + tsens)
    return reduce_classes(
        li, per_class, include_background=include_background, class_weights=class_weights, reduction=reduction
    )


@register("cldice")
class ClDiceLoss(FunctionLoss, function=cldice_loss):
    """Soft clDice, harmonic mean of skeleton precision and sensitivity (Shit et al.); pooled over the batch.

    >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 1:4] = 1  # a bar, predicted exactly
    >>> ClDiceLoss(from_logits=False)(x, x[:, 0].long())
    tensor(0.)
    """
