"""Pixel-wise losses: binary cross-entropy, cross-entropy and focal loss.

Each is a mean over the valid pixels (``ignore_index`` excluded). ``reduction="mean"`` averages over every valid
pixel of the batch, ``"sum"`` sums, ``"none"`` gives each image's mean, shape ``(N,)``. Class weights enter as a
weighted mean :math:`\\sum_i w_{y_i} l_i / \\sum_i w_{y_i}` (PyTorch's convention), so their scale changes nothing.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from segbench._checks import NONFINITE_INPUT, LossInputs, labels_looked_up
from segbench._docs import document_args
from segbench.losses._common import (
    LOSS_ARGS,
    PIXEL_REDUCTION,
    Weights,
    channel_weights,
    check_number,
    prepare,
    reduce_pixels,
)
from segbench.losses.base import FunctionLoss
from segbench.losses.registry import register
from segbench.reduction import Reduction

__all__ = ["BCELoss", "CrossEntropyLoss", "FocalLoss", "bce_loss", "cross_entropy_loss", "focal_loss"]

_LOG_FLOOR = -100.0  # PyTorch's BCE clamps log(p) here, so p = 0 gives a finite loss


def _log_probs_sigmoid(li: LossInputs) -> tuple[Tensor, Tensor]:
    """``log p`` and ``log(1 - p)`` of sigmoid outputs, stable for saturated logits."""
    x = li.logits
    if li.from_logits:
        return F.logsigmoid(x), F.logsigmoid(-x)
    return torch.log(x).clamp_min(_LOG_FLOOR), torch.log1p(-x).clamp_min(_LOG_FLOOR)


def _log_probs_softmax(li: LossInputs) -> Tensor:
    x = li.logits
    return x.log_softmax(1) if li.from_logits else torch.log(x).clamp_min(_LOG_FLOOR)


def _sigmoid_elementwise(li: LossInputs, per_element: Tensor, weights: Tensor | None, reduction: str) -> Tensor:
    """Reduce an ``(N, C, *spatial)`` loss over its valid elements, weighting channels by ``weights``."""
    valid = li.valid_float()
    norm = None
    if weights is not None or valid is not None:
        norm = torch.ones_like(per_element[:, :1]) if valid is None else valid
        norm = norm.expand_as(per_element) if weights is None else norm * weights
        per_element = per_element * norm
    return reduce_pixels(per_element, norm, reduction)


_PIXELWISE = {"reduction": PIXEL_REDUCTION}
_CLASS_WEIGHTS = (
    "one weight per class ``w_c`` (softmax: each pixel weighs the weight of its class, and the mean divides by "
    "the weights' sum; sigmoid: channel weights); None: equal."
)


@document_args(
    LOSS_ARGS, **_PIXELWISE,
    pos_weight="``w_+``, the weight of the positive term: a number, or one value per channel; None: 1.",
)
def bce_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    pos_weight: float | Weights = None,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Binary cross-entropy of each channel's sigmoid, by default the mean over the batch's valid pixels (and channels).

    .. math:: \\ell = -\\big[w_+\\, y \\log \\sigma(x) + (1 - y) \\log(1 - \\sigma(x))\\big]

    ``pos_weight`` (:math:`w_+`, a number or one value per channel) weights the positive term, as in
    :func:`torch.nn.functional.binary_cross_entropy_with_logits`. Every channel is an independent sigmoid: with
    ``C >= 2`` and a label map, each channel is scored against the one-hot target (which is materialised).

    Shapes: input ``(N, C, *spatial)``; target ``(N, *spatial)`` labels or ``(N, C, *spatial)`` in [0, 1].

    >>> x = torch.tensor([[[0.0, 2.0]]])                      # (N=1, C=1, 2 pixels)
    >>> round(float(bce_loss(x, torch.tensor([[1, 1]]))), 4)  # (log 2 + log(1 + e^-2)) / 2
    0.4100
    """
    scan = _scans_input(ignore_index, from_logits)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, check_finite=scan,
        validate=validate,
    )
    y = li.dense_target()
    pw = channel_weights(pos_weight, li, "pos_weight")
    if li.from_logits:
        loss = _bce_with_logits(li, y, pw, None, reduction)
    else:
        logp, log1mp = _log_probs_sigmoid(li)
        pos = y * logp if pw is None else pw * y * logp
        loss = _sigmoid_elementwise(li, -(pos + (1 - y) * log1mp), None, reduction)
    return loss if scan or not validate else _finite(loss)


def _scans_input(ignore_index: int | None, from_logits: bool) -> bool:
    """Whether a cross-entropy scans its input for NaN and inf beforehand: with ignored pixels (NaN there would be
    left out of the value but not out of the gradient) and for probabilities; logits are judged by the value."""
    return ignore_index is not None or not from_logits


def _finite(loss: Tensor) -> Tensor:
    """``loss``, or the non-finite-input error: NaN (or +inf) logits make a cross-entropy NaN or infinite."""
    if not bool(torch.isfinite(loss).all()):
        raise ValueError(NONFINITE_INPUT)
    return loss


def _bce_with_logits(li: LossInputs, y: Tensor, pos_weight: Tensor | None, w: Tensor | None, reduction: str) -> Tensor:
    """Sigmoid BCE of logits, reduced over the valid elements with channel weights ``w``; PyTorch's own fused mean
    or sum where nothing is weighted or ignored (one pass, no per-element tensor)."""
    if w is None and li.valid is None and reduction != "none":
        return F.binary_cross_entropy_with_logits(li.logits, y, pos_weight=pos_weight, reduction=reduction)
    loss = F.binary_cross_entropy_with_logits(li.logits, y, pos_weight=pos_weight, reduction="none")
    return _sigmoid_elementwise(li, loss, w, reduction)


@document_args(
    LOSS_ARGS, **_PIXELWISE, class_weights=_CLASS_WEIGHTS,
    label_smoothing="``epsilon`` in [0, 1]: the target becomes ``(1 - epsilon) y + epsilon / C`` (default 0).",
)
def cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    class_weights: Weights = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Cross-entropy of the softmax over classes, by default the mean over the batch's valid pixels.

    Binary (``C == 1``) and multilabel input use the sigmoid BCE.

    .. math:: \\ell_i = -\\sum_c w_c\\, \\tilde y_{ic} \\log p_{ic},\\qquad
              \\tilde y = (1 - \\varepsilon)\\, y + \\varepsilon / C,\\qquad
              L = \\sum_i \\ell_i \\big/ \\sum_i w_{y_i}

    For label maps this is :func:`torch.nn.functional.cross_entropy` with ``weight`` and ``label_smoothing``
    (the floor every region loss is timed against); dense (soft) targets use the same formula with
    :math:`\\sum_c w_c y_{ic}` as each pixel's weight. With ``C == 1`` (or ``multilabel``) it is sigmoid BCE, with
    label smoothing toward 1/2 and ``class_weights`` weighting channels.

    Logits without ``ignore_index`` are not scanned for NaN and inf beforehand: a NaN (or a +inf) logit makes the
    loss NaN, which raises; under the softmax a -inf logit is a probability of 0, scored as such (raising only
    where it makes the loss infinite), as in the region losses; the sigmoid BCE is NaN or inf at any infinite
    logit, which raises. Multiclass labels on the CPU are checked by PyTorch's own lookup.

    >>> x = torch.tensor([[[2.0], [0.0]]])                       # (N=1, C=2, 1 pixel)
    >>> round(float(cross_entropy_loss(x, torch.tensor([[1]]))), 4)   # log(1 + e^2)
    2.1269
    """
    scan = _scans_input(ignore_index, from_logits)
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
        check_finite=scan, check_labels=False, validate=validate,
    )
    eps = check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    w = channel_weights(class_weights, li, "class_weights")
    with labels_looked_up(li):
        loss = _cross_entropy(li, w, eps, reduction)
    return loss if scan or not validate else _finite(loss)


def _cross_entropy(li: LossInputs, w: Tensor | None, eps: float, reduction: str) -> Tensor:
    if li.mode != "multiclass":
        y = li.dense_target()
        if eps:
            y = y * (1 - eps) + eps / 2
        if li.from_logits:
            return _bce_with_logits(li, y, None, w, reduction)
        logp, log1mp = _log_probs_sigmoid(li)
        return _sigmoid_elementwise(li, -(y * logp + (1 - y) * log1mp), w, reduction)
    c = li.num_classes
    if not li.dense:
        logits = li.logits if li.from_logits else torch.log(li.logits).clamp_min(_LOG_FLOOR)
        t = li.target if li.valid is None else li.target.masked_fill(~li.valid, -100)
        wv = None if w is None else w.flatten()
        if reduction == "mean" and li.valid is None:
            return F.cross_entropy(logits, t, weight=wv, ignore_index=-100, label_smoothing=eps)
        loss = F.cross_entropy(logits, t, weight=wv, ignore_index=-100, label_smoothing=eps, reduction="none")
        norm: Tensor | None = None
        if wv is not None:
            norm = wv[li.target]
        if li.valid is not None:
            v = li.valid.to(loss.dtype)
            norm = v if norm is None else norm * v
        return reduce_pixels(loss, norm, reduction)
    logp = _log_probs_softmax(li)
    y = li.target if not eps else li.target * (1 - eps) + eps / c
    wy = y if w is None else w * y
    loss = -(wy * logp).sum(1)
    norm = None if w is None else (w * li.target).sum(1)  # dense targets carry no ignore_index
    return reduce_pixels(loss, norm, reduction)


def _focal_factor(one_minus: Tensor, gamma: float) -> Tensor:
    """``one_minus ** gamma`` with a finite gradient where ``one_minus == 0`` (saturated, any gamma >= 0).

    For ``gamma >= 1`` the power's slope at 0 is finite already (one pass); below 1 it is infinite (and 0 ** 0 has a
    NaN slope), so saturated pixels take the detached value.
    """
    if gamma >= 1:
        return one_minus.clamp_min(0).pow(gamma)
    sat = one_minus <= 0
    return torch.where(sat, one_minus.detach().clamp_min(0).pow(gamma), one_minus.masked_fill(sat, 1.0).pow(gamma))


@document_args(
    LOSS_ARGS, **_PIXELWISE, class_weights=_CLASS_WEIGHTS,
    alpha="the weight of the positives (sigmoid) or of the foreground classes (softmax; ``1 - alpha`` on class 0), "
    "in [0, 1]; None (default): no weighting.",
    gamma="the focusing exponent (default 2; 0 with ``alpha=None`` is the cross-entropy).",
)
def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int | None = None,
    multilabel: bool = False,
    alpha: float | None = None,
    gamma: float = 2.0,
    class_weights: Weights = None,
    reduction: Reduction = "mean",
    validate: bool = True,
) -> Tensor:
    """Focal loss (Lin et al. 2017), by default the mean over the batch's valid pixels.

    Sigmoid for ``C == 1`` and multilabel, softmax over classes for ``C >= 2``.

    .. math::
        \\text{sigmoid: } \\ell = -\\alpha\\, y (1 - p)^\\gamma \\log p - (1 - \\alpha)(1 - y)\\, p^\\gamma \\log(1 - p)

        \\text{softmax: } \\ell_i = -\\sum_c \\alpha_c\\, y_{ic} (1 - p_{ic})^\\gamma \\log p_{ic},\\quad
        \\alpha_0 = 1 - \\alpha,\\ \\alpha_{c \\ge 1} = \\alpha

    ``alpha=None`` weights nothing (:math:`\\alpha` terms are 1); with the softmax, ``alpha`` weights the
    foreground classes and ``1 - alpha`` the background class 0, as MONAI and kornia do. ``class_weights`` give a
    weighted mean like :func:`cross_entropy_loss`. ``gamma = 0`` and ``alpha=None`` is (B)CE. The mean is over
    pixels (summed over classes); MONAI and kornia divide the softmax loss by ``C`` as well.

    >>> x = torch.tensor([[[0.0]]])                          # p = 0.5 for a positive pixel
    >>> round(float(focal_loss(x, torch.tensor([[1]]))), 4)  # 0.5**2 * log 2
    0.1733
    """
    li = prepare(
        input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index, validate=validate
    )
    g = check_number(gamma, "gamma", low=0.0)
    a = None if alpha is None else check_number(alpha, "alpha", low=0.0, high=1.0)
    w = channel_weights(class_weights, li, "class_weights")
    if li.mode == "binary" and not li.dense:  # hard 0/1 labels
        y = li.dense_target()
        if li.from_logits:
            loss = _BinaryFocal.apply(li.logits, y, g, a)
        else:  # -log p_t from PyTorch's BCE on probabilities (log clamped at -100)
            logp_t = -F.binary_cross_entropy(li.logits, y, reduction="none")
            loss = -_focal_factor(-torch.expm1(logp_t), g) * logp_t
            if a is not None:
                loss = loss * _alpha_t(y, a)
        return _sigmoid_elementwise(li, loss, w, reduction)
    if li.mode != "multiclass":
        y = li.dense_target()
        logp, log1mp = _log_probs_sigmoid(li)
        pos = -y * torch.exp(g * log1mp) * logp
        neg = -(1 - y) * torch.exp(g * logp) * log1mp
        loss = pos + neg if a is None else a * pos + (1 - a) * neg
        return _sigmoid_elementwise(li, loss, w, reduction)
    valid = li.valid
    if not li.dense:
        # -log p_t from PyTorch's fused cross-entropy kernels (no one-hot, no gather/scatter in autograd)
        logits = li.logits if li.from_logits else torch.log(li.logits).clamp_min(_LOG_FLOOR)
        logp_t = -F.cross_entropy(logits, li.target, reduction="none")
        loss = -_focal_factor(-torch.expm1(logp_t), g) * logp_t
        if a is not None:
            loss = loss * torch.where(li.target == 0, 1 - a, a)
        norm: Tensor | None = None if w is None else w.flatten()[li.target]
        if norm is not None:
            loss = loss * norm
    else:
        logp = _log_probs_softmax(li)
        y = li.target
        if a is not None:
            y = y * _alpha_vector(a, li).to(y)
        wy = y if w is None else w * y
        loss = -(wy * _focal_factor(-torch.expm1(logp), g) * logp).sum(1)
        norm = None if w is None else (w * li.target).sum(1)
    if valid is not None:
        v = valid.to(loss.dtype)
        loss = loss * v
        norm = v if norm is None else norm * v
    return reduce_pixels(loss, norm, reduction)


def _alpha_t(y: Tensor, alpha: float) -> Tensor:
    """Focal weight of hard 0/1 labels ``y``: ``alpha`` on positives, ``1 - alpha`` on negatives."""
    return y * (2 * alpha - 1) + (1 - alpha)


class _BinaryFocal(torch.autograd.Function):
    """Per-pixel focal loss of binary logits ``x`` against hard labels ``y`` in {0, 1}, with a closed-form backward.

    With the signed logit :math:`z = x\\,(2y - 1)`, :math:`\\log p_t = \\log\\sigma(z)` and :math:`q = 1 - p_t`:

    .. math::
        \\ell = -\\alpha_t\\, q^\\gamma \\log p_t,\\qquad
        \\frac{\\partial \\ell}{\\partial x} = -(2y - 1)\\,\\alpha_t\\, q^\\gamma
        \\big(q - \\gamma\\,(1 - q) \\log p_t\\big)

    finite for every ``gamma >= 0`` (no :math:`q^{\\gamma - 1}` appears), in about half the passes of autograd through
    the log-sigmoid and power.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, gamma: float, alpha: float | None) -> Tensor:
        sign = y * 2 - 1
        logp = F.logsigmoid(x * sign)
        q = torch.expm1(logp).neg_()
        qg = q.square() if gamma == 2 else q.pow(gamma)
        scale = qg if alpha is None else qg * _alpha_t(y, alpha)
        ctx.gamma = gamma
        ctx.save_for_backward(sign, logp, q, scale)
        return torch.mul(scale, logp).neg_()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        sign, logp, q, scale = ctx.saved_tensors
        inner = torch.addcmul(q, 1 - q, logp, value=-ctx.gamma)  # q - gamma (1 - q) log p_t
        return inner.mul_(scale).mul_(sign).mul_(grad).neg_(), None, None, None


def _alpha_vector(a: float, li: LossInputs) -> Tensor:
    shape = (1, li.num_classes) + (1,) * (li.logits.ndim - 2)
    vec = torch.full((li.num_classes,), a, device=li.logits.device)
    vec[0] = 1 - a
    return vec.view(shape)


@register("bce")
class BCELoss(FunctionLoss, function=bce_loss):
    """Binary cross-entropy per channel (sigmoid), with pos_weight; default: the mean over the batch's valid pixels.

    >>> p, y = torch.tensor([[[0.9, 0.2, 0.1]]]), torch.tensor([[1, 0, 0]])
    >>> BCELoss(from_logits=False)(p, y)                # -(log 0.9 + log 0.8 + log 0.9) / 3
    tensor(0.1446)
    """


@register("ce")
class CrossEntropyLoss(FunctionLoss, function=cross_entropy_loss):
    """Cross-entropy (softmax), class weights, label smoothing; default: the mean over the batch's valid pixels.

    >>> x = torch.tensor([[[2.0], [0.0]]])              # (N=1, C=2, 1 pixel) labelled 1
    >>> CrossEntropyLoss()(x, torch.tensor([[1]]))      # log(1 + e^2)
    tensor(2.1269)
    """


@register("focal")
class FocalLoss(FunctionLoss, function=focal_loss):
    """Focal loss (Lin et al.), sigmoid or softmax, gamma=2; default: the mean over the batch's valid pixels.

    >>> FocalLoss(gamma=0.0)(torch.tensor([[[0.0]]]), torch.tensor([[1]]))   # gamma = 0: BCE, log 2
    tensor(0.6931)
    """

