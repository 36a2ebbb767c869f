"""Region (overlap) losses over soft counts: Dice, Jaccard, Tversky, focal Tversky, log-cosh Dice, generalized Dice,
and the per-pixel Dice / Jaccard variants.

Counts are soft ``tp, fp, fn`` per (image, class) from :func:`segbench.counts.soft_counts`, with
:math:`tp = (|p| + |y| - |p - y|) / 2` so that a prediction equal to a soft target is perfect. Label-map targets are
never expanded to one-hot. ``per_image=False`` (default) pools the counts over the batch, ``True`` scores each image
and averages. Class weights are normalised (their scale changes nothing); ``include_background=False`` drops class 0
(channel 0 in multilabel mode); ``C == 1`` scores the single (foreground) channel.

Smoothing and empty targets. ``smooth`` (:math:`s`, default 1) is added to numerator and denominator; ``smooth=0``
is the textbook formula, with 0/0 (nothing predicted and nothing to find) scored as a perfect 1. On an image with an
empty target the Dice loss is :math:`\\sum p / (\\sum p + s)`: about 0 for a confident empty prediction, about 1 for
an all-foreground one, with gradient :math:`s / (\\sum p + s)^2` toward the empty answer. MONAI's default
:math:`s = 10^{-5}` makes that ~1 whatever the prediction (no signal), and SMP zeroes empty classes (no
false-positive penalty); pooling over the batch (the default) adds the empty images' false positives to the batch's
denominator as well.

``reduction="none"`` returns one value per image (``(N,)``), or ``(1,)`` when the counts are pooled.

Speed. The formulas and their gradients are written out once, in :mod:`segbench.losses._region`; with a label-map
target, counting, formula and reduction run as one autograd node (:func:`segbench.counts.soft_count_loss`) instead of
the dozen small ones autograd would record, which is most of the cost on small inputs. The gradient is
first-order only: differentiating it again (``create_graph=True``) raises an error.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segbench._checks import LossInputs, check_class_weights
from segbench._docs import document_args
from segbench.counts import soft_count_loss
from segbench.losses._common import (
    LOSS_ARGS,
    PIXEL_REDUCTION,
    Weights,
    check_number,
    class_selection,
    prepare,
    reduce_pixels,
    safe_ratio,
)
from segbench.losses._region import (
    GDL_WEIGHT_TYPES,
    GdlWeightType,
    GeneralizedDiceFormula,
    RatioFormula,
    RegionHead,
)
from segbench.losses.base import FunctionLoss
from segbench.losses.registry import register
from segbench.reduction import Reduction, check_reduction

__all__ = [
    "DiceLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "LogCoshDiceLoss",
    "PixelDiceLoss",
    "PixelJaccardLoss",
    "TverskyLoss",
    "dice_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "log_cosh_dice_loss",
    "pixel_dice_loss",
    "pixel_jaccard_loss",
    "tversky_loss",
]

_TVERSKY = {
    "alpha": "the weight of the false positives (default 0.3).",
    "beta": "the weight of the false negatives (default 0.7; > alpha favours recall).",
}
_GAMMA = (
    "the exponent of each (image, class) Tversky loss (default 0.75; 1 is the Tversky loss, < 1 raises the loss "
    "of the well-segmented cases relative to the rest)."
)
_WEIGHT_TYPE = (
    '``"square"`` (default): :math:`1/|y_k|^2`; ``"simple"``: :math:`1/|y_k|`; ``"uniform"``: 1 for every class '
    "present (:math:`|y_k|` the target volume of class k)."
)
_PIXEL = {
    "include_background": "False leaves class 0 (channel 0 in multilabel mode) out of each pixel's sums over "
    "classes; binary input (``C == 1``) scores its one foreground channel whatever this says.",
    "reduction": PIXEL_REDUCTION,
}


def _region(
    input: Tensor,
    target: Tensor,
    formula: RatioFormula,
    *,
    from_logits: bool,
    ignore_index: int | None,
    multilabel: bool,
    per_image: bool,
    include_background: bool,
    class_weights: Weights,
    reduction: Reduction,
    validate: bool,
) -> Tensor:
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
        check_finite=False, check_labels=False, validate=validate,
    )
    r = check_reduction(reduction)
    w = check_class_weights(class_weights, li.num_classes)
    head = RegionHead(formula, w, class_selection(li, include_background), r)
    return soft_count_loss(li, head, per_image=per_image)


@document_args(LOSS_ARGS)
def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Soft Dice loss over soft counts, pooled over the batch by default (``per_image=False``), mean over classes.

    .. math:: L = 1 - \\frac{2\\,tp + s}{2\\,tp + fp + fn + s}

    Shapes: input ``(N, C, *spatial)`` logits; target ``(N, *spatial)`` labels or ``(N, C, *spatial)`` in [0, 1].

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])                 # probabilities, N=1, C=1, 3 pixels
    >>> y = torch.tensor([[1, 0, 0]])                         # tp = 0.9, fp = 0.3, fn = 0.1
    >>> round(float(dice_loss(p, y, from_logits=False, smooth=0)), 4)   # 1 - 1.8 / 2.2
    0.1818
    """
    s = check_number(smooth, "smooth")
    return _region(
        input, target, RatioFormula(k=2.0, smooth=s),
        from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel, per_image=per_image,
        include_background=include_background, class_weights=class_weights, reduction=reduction,
        validate=validate,
    )


@document_args(LOSS_ARGS)
def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Soft Jaccard (IoU) loss over soft counts, pooled over the batch by default (``per_image=False``).

    .. math:: L = 1 - \\frac{tp + s}{tp + fp + fn + s}

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])
    >>> round(float(jaccard_loss(p, torch.tensor([[1, 0, 0]]), from_logits=False, smooth=0)), 4)  # 1 - 0.9/1.3
    0.3077
    """
    s = check_number(smooth, "smooth")
    return _region(
        input, target, RatioFormula(smooth=s),
        from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel, per_image=per_image,
        include_background=include_background, class_weights=class_weights, reduction=reduction,
        validate=validate,
    )


@document_args(LOSS_ARGS, **_TVERSKY)
def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Tversky loss (Salehi et al. 2017) over soft counts, pooled over the batch by default (``per_image=False``).

    .. math:: L = 1 - \\frac{tp + s}{tp + \\alpha\\,fp + \\beta\\,fn + s}

    ``alpha`` weights false positives, ``beta`` false negatives: ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1``
    Jaccard; the default 0.3 / 0.7 favours recall.

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])
    >>> round(float(tversky_loss(p, torch.tensor([[1, 0, 0]]), from_logits=False, smooth=0)), 4)  # 1 - .9/1.06
    0.1509
    """
    s = check_number(smooth, "smooth")
    a = check_number(alpha, "alpha")
    b = check_number(beta, "beta")
    return _region(
        input, target, RatioFormula(alpha=a, beta=b, smooth=s),
        from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel, per_image=per_image,
        include_background=include_background, class_weights=class_weights, reduction=reduction,
        validate=validate,
    )


@document_args(LOSS_ARGS, **_TVERSKY, gamma=_GAMMA)
def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Focal Tversky loss (Abraham & Khan 2019): Tversky loss ** ``gamma`` per class, counts pooled over the batch.

    The counts are pooled over the batch by default (``per_image=False``; True: per (image, class)).

    .. math:: L = (1 - T)^{\\gamma},\\quad T = \\frac{tp + s}{tp + \\alpha\\,fp + \\beta\\,fn + s}

    ``gamma = 0.75`` is the paper's :math:`1/\\gamma` with :math:`\\gamma = 4/3` (SMP's ``TverskyLoss(gamma)``
    exponent). For ``gamma < 1``, :math:`x^\\gamma` has an infinite slope at 0; below :math:`x = 10^{-6}` it is
    replaced by the line :math:`x \\cdot 10^{-6(\\gamma - 1)}` (same value at the joint, 0 at a perfect prediction).

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])
    >>> y = torch.tensor([[1, 0, 0]])
    >>> round(float(focal_tversky_loss(p, y, from_logits=False, smooth=0, gamma=1.0)), 4)   # gamma = 1: Tversky
    0.1509
    """
    s = check_number(smooth, "smooth")
    a = check_number(alpha, "alpha")
    b = check_number(beta, "beta")
    g = check_number(gamma, "gamma", low=0.0)
    return _region(
        input, target, RatioFormula(alpha=a, beta=b, smooth=s, outer="focal", gamma=g),
        from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel, per_image=per_image,
        include_background=include_background, class_weights=class_weights, reduction=reduction,
        validate=validate,
    )


@document_args(LOSS_ARGS)
def log_cosh_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Log-cosh Dice loss (Jadon 2020): log cosh of the Dice loss per class, counts pooled over the batch by default.

    .. math:: L = \\log\\cosh\\!\\Big(1 - \\frac{2\\,tp + s}{2\\,tp + fp + fn + s}\\Big)

    Smooth near 0 (:math:`\\approx x^2/2`) and bounded by :math:`\\log\\cosh 1 \\approx 0.4338`.

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])
    >>> round(float(log_cosh_dice_loss(p, torch.tensor([[1, 0, 0]]), from_logits=False, smooth=0)), 4)
    0.0164
    """
    s = check_number(smooth, "smooth")
    return _region(
        input, target, RatioFormula(k=2.0, smooth=s, outer="log_cosh"),
        from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel, per_image=per_image,
        include_background=include_background, class_weights=class_weights, reduction=reduction,
        validate=validate,
    )



@document_args(LOSS_ARGS, weight_type=_WEIGHT_TYPE)
def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    class_weights: Weights = None,
    weight_type: GdlWeightType = "square",
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Generalized Dice loss (Sudre et al. 2017): weighted counts summed over classes, pooled over the batch by default.

    Class-weighted counts are summed over classes, then one ratio per image, or for the batch (``per_image=False``).

    .. math::
        L = 1 - \\frac{2 \\sum_k w_k\\, tp_k + s}{\\sum_k w_k (2\\,tp_k + fp_k + fn_k) + s},\\qquad
        w_k \\propto \\frac{1}{|y_k|^2}\\ (\\texttt{square}),\\ \\frac{1}{|y_k|}\\ (\\texttt{simple}),\\ 1

    The weights are normalised to sum to 1 over the scored classes (so ``smooth`` acts on the scale of pixel
    counts, and the scale of ``class_weights``, multiplied in, changes nothing). A class absent from the target
    takes the largest weight of the present classes (MONAI's rule; the inverse volume would be infinite); with
    no class present all weights are equal, so an empty image still penalises false positives (MONAI's loss is 0
    there whatever the prediction). With ``smooth=0`` it equals MONAI's ``GeneralizedDiceLoss``.

    >>> p = torch.tensor([[[0.9, 0.2, 0.1]]])
    >>> round(float(generalized_dice_loss(p, torch.tensor([[1, 0, 0]]), from_logits=False, smooth=0)), 4)
    0.1818
    """
    s = check_number(smooth, "smooth")
    if weight_type not in GDL_WEIGHT_TYPES:
        raise ValueError(f"weight_type must be one of {GDL_WEIGHT_TYPES}, got {weight_type!r}")
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
        check_finite=False, check_labels=False, validate=validate,
    )
    r = check_reduction(reduction)
    sel = class_selection(li, include_background)
    if (li.num_classes if sel is None else int(sel.numel())) == 1:  # its weight normalises to 1: the Dice loss
        return soft_count_loss(li, RegionHead(RatioFormula(k=2.0, smooth=s), None, sel, r), per_image=per_image)
    cw = check_class_weights(class_weights, li.num_classes)
    head = RegionHead(GeneralizedDiceFormula(weight_type, s, sel, cw), None, None, r)
    return soft_count_loss(li, head, per_image=per_image)


def _pixel_terms(li: LossInputs, include_background: bool) -> tuple[Tensor, Tensor]:
    """Per-pixel ``sum_c min(p_c, y_c)`` and ``sum_c (p_c + y_c)`` over the scored classes, ``(N, *spatial)``."""
    p = li.probs()
    drop_bg = class_selection(li, include_background) is not None  # multiclass or multilabel, raises on 1 channel
    if li.mode == "binary" and not li.dense:  # one channel, hard labels: min(p, y) = p y
        p0, y0 = p[:, 0], li.dense_target()[:, 0]
        return p0 * y0, p0 + y0
    if li.dense:
        y = li.dense_target()
        if drop_bg:
            p, y = p[:, 1:], y[:, 1:]
        return torch.minimum(p, y).sum(1), (p + y).sum(1)
    t = li.target
    p_t = p.gather(1, t.unsqueeze(1)).squeeze(1)
    if not drop_bg:
        return p_t, p.sum(1) + 1
    fg = (t != 0).to(p.dtype)
    return p_t * fg, p[:, 1:].sum(1) + fg


def _pixel(
    input: Tensor,
    target: Tensor,
    jaccard: bool,
    *,
    from_logits: bool,
    ignore_index: int | None,
    multilabel: bool,
    include_background: bool,
    smooth: float,
    reduction: Reduction,
    validate: bool,
) -> Tensor:
    s = check_number(smooth, "smooth")
    check_reduction(reduction)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, validate=validate
    )
    inter, total = _pixel_terms(li, include_background)
    score = safe_ratio(inter, total - inter, s) if jaccard else safe_ratio(2 * inter, total, s)
    loss = 1 - score
    valid = None if li.valid is None else li.valid.to(loss.dtype)
    return reduce_pixels(loss if valid is None else loss * valid, valid, reduction)


@document_args(LOSS_ARGS, **_PIXEL)
def pixel_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    include_background: bool = True,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Per-pixel Dice loss: a Dice over the class axis of each pixel, by default the mean over the batch's valid pixels.

    .. math:: L = \\frac{1}{|V|} \\sum_{i \\in V} \\Big(1 - \\frac{2 \\sum_c \\min(p_{ic}, y_{ic}) + s}
              {\\sum_c (p_{ic} + y_{ic}) + s}\\Big)

    Unlike :func:`dice_loss`, nothing is summed over pixels, so the loss is a pixel-wise (CE-like) loss that does
    not rebalance classes. For hard labels :math:`\\min(p, y) = p\\,y`. With ``C == 1`` a background pixel scores
    :math:`1 - s / (p + s)`, at most 1/2 for the default ``smooth=1``.

    >>> p = torch.tensor([[[0.9, 0.2]]])                     # C = 1: pixels (1: p=0.9) and (0: p=0.2)
    >>> round(float(pixel_dice_loss(p, torch.tensor([[1, 0]]), from_logits=False)), 4)   # (1 - 2.8/2.9 + 1 - 1/1.2)/2
    0.1006
    """
    return _pixel(
        input, target, False, from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel,
        include_background=include_background, smooth=smooth, reduction=reduction,
        validate=validate,
    )


@document_args(LOSS_ARGS, **_PIXEL)
def pixel_jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    include_background: bool = True,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Per-pixel Jaccard loss, by default the mean over the batch's valid pixels (the Keras ``jaccard_distance_loss``).

    The often-copied Keras loss: a Jaccard over each pixel's classes.

    .. math:: L = \\frac{1}{|V|} \\sum_{i \\in V} \\Big(1 - \\frac{\\sum_c \\min(p_{ic}, y_{ic}) + s}
              {\\sum_c (p_{ic} + y_{ic}) - \\sum_c \\min(p_{ic}, y_{ic}) + s}\\Big)

    The Keras version sums ``y * p`` over the last (class) axis with ``smooth=100`` and multiplies the result by
    ``smooth``; here the loss is not rescaled (with the default ``smooth=1`` the two agree).

    >>> p = torch.tensor([[[0.9, 0.2]]])
    >>> round(float(pixel_jaccard_loss(p, torch.tensor([[1, 0]]), from_logits=False)), 4)   # (1 - 1.9/2 + 1 - 1/1.2)/2
    0.1083
    """
    return _pixel(
        input, target, True, from_logits=from_logits, ignore_index=ignore_index, multilabel=multilabel,
        include_background=include_background, smooth=smooth, reduction=reduction,
        validate=validate,
    )


@register("dice")
class DiceLoss(FunctionLoss, function=dice_loss):
    """Soft Dice loss 1 - (2tp + s) / (2tp + fp + fn + s); default: counts pooled over the batch (per_image=False).

    >>> p = torch.tensor([[[0.9, 0.1]], [[0.2, 0.2]]])           # probabilities of 2 images, C = 1, 2 pixels each
    >>> y = torch.tensor([[1, 0], [0, 0]])                       # image 1 has an empty target
    >>> DiceLoss(from_logits=False, smooth=0)(p, y)              # pooled: 1 - 2 * 0.9 / (1.4 + 1)
    tensor(0.2500)
    >>> DiceLoss(from_logits=False, smooth=0, per_image=True, reduction="none")(p, y)   # 1 - 1.8 / 2, 1 - 0 / 0.4
    tensor([0.1000, 1.0000])
    """


@register("jaccard", aliases=("iou",))
class JaccardLoss(FunctionLoss, function=jaccard_loss):
    """Soft Jaccard / IoU loss 1 - (tp + s) / (tp + fp + fn + s); default: counts pooled over the batch.

    >>> p = torch.tensor([[[0.9, 0.1]], [[0.2, 0.2]]])           # 2 images: tp 0.9, fp 0.1 + 0.4, fn 0.1 pooled
    >>> JaccardLoss(from_logits=False, smooth=0)(p, torch.tensor([[1, 0], [0, 0]]))   # 1 - 0.9 / 1.5
    tensor(0.4000)
    """


@register("tversky")
class TverskyLoss(FunctionLoss, function=tversky_loss):
    """Tversky loss 1 - (tp + s) / (tp + 0.3 fp + 0.7 fn + s) by default; counts pooled over the batch by default.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> TverskyLoss(alpha=0.5, beta=0.5, from_logits=False, smooth=0)(p, y)   # Dice: 1 - 0.9 / 1.1
    tensor(0.1818)
    """


@register("focal_tversky")
class FocalTverskyLoss(FunctionLoss, function=focal_tversky_loss):
    """Focal Tversky loss (1 - T)^gamma, gamma=0.75 (Abraham & Khan 2019); default: counts pooled over the batch.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> FocalTverskyLoss(gamma=2.0, from_logits=False, smooth=0)(p, y)   # (1 - 0.9 / (0.9 + 0.09 + 0.07))^2
    tensor(0.0228)
    """


@register("generalized_dice")
class GeneralizedDiceLoss(FunctionLoss, function=generalized_dice_loss):
    """Generalized Dice loss, inverse-squared-volume class weights (Sudre et al.); counts pooled over the batch.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> GeneralizedDiceLoss(from_logits=False, smooth=0)(p, y)     # one class: its weight is 1, the Dice loss
    tensor(0.1818)
    """


@register("log_cosh_dice")
class LogCoshDiceLoss(FunctionLoss, function=log_cosh_dice_loss):
    """Log-cosh Dice loss log(cosh(1 - Dice)) (Jadon 2020); default: counts pooled over the batch.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> LogCoshDiceLoss(from_logits=False, smooth=0)(p, y)         # log cosh(1 - 1.8 / 2.2)
    tensor(0.0164)
    """


@register("pixel_dice")
class PixelDiceLoss(FunctionLoss, function=pixel_dice_loss):
    """Per-pixel Dice over the class axis (smooth=1); default: the mean over the batch's valid pixels.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> PixelDiceLoss(from_logits=False)(p, y)          # (1 - 2.8 / 2.9 + 1 - 1 / 1.2 + 1 - 1 / 1.1) / 3
    tensor(0.0974)
    """


@register("pixel_jaccard")
class PixelJaccardLoss(FunctionLoss, function=pixel_jaccard_loss):
    """Per-pixel Jaccard over the class axis (Keras jaccard_distance_loss); the mean over the batch's valid pixels.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])   # tp 0.9, fp 0.3, fn 0.1
    >>> PixelJaccardLoss(from_logits=False)(p, y)       # (1 - 1.9 / 2 + 1 - 1 / 1.2 + 1 - 1 / 1.1) / 3
    tensor(0.1025)
    """
