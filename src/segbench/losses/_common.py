"""Helpers shared by every loss family: input preparation, class selection, safe ratios, pixel reductions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import torch
from torch import Tensor

from segbench._checks import LossInputs, as_tensor, check_class_weights, check_loss_inputs
from segbench.reduction import Reduction, check_reduction, reduce_loss

Weights: TypeAlias = Sequence[float] | Tensor | None

# What the parameters that the losses share mean (segbench._docs.document_args builds each loss's Args: from it).
LOSS_ARGS: dict[str, str] = {
    "input": "logits ``(N, C, *spatial)`` (probabilities with ``from_logits=False``), 2D or 3D: ``C == 1`` is binary "
    "(sigmoid), ``C >= 2`` multiclass (softmax over C) unless ``multilabel``.",
    "target": "an integer or bool label map ``(N, *spatial)`` (or ``(N, 1, *spatial)``, squeezed), or a dense tensor "
    "of the input's shape ``(N, C, *spatial)``: float one-hot or soft labels in [0, 1], or an integer or bool "
    "one-hot (as MONAI's ``to_onehot_y`` gives). Anything else raises, naming the forms to pass.",
    "from_logits": "True: ``input`` holds logits; False: probabilities.",
    "ignore_index": "pixels whose target label is this count nowhere, in the value and the gradient (label maps "
    "only); None: every pixel counts.",
    "multilabel": "with ``C >= 2``, a sigmoid per channel, each channel its own binary problem (dense target).",
    "per_image": "False (default): each class's loss is computed once over the whole batch (its counts or pixels "
    "pooled, MONAI's ``batch=True``); True: once per (image, class), then the mean over images.",
    "include_background": "False leaves class 0 (channel 0 in multilabel mode) out of the mean over classes; binary "
    "input (``C == 1``) scores its one foreground channel whatever this says.",
    "class_weights": "one weight per class for the mean over classes (normalised: their scale changes nothing); "
    "None: equal weights.",
    "smooth": "``s``, added to numerator and denominator (default 1); 0 is the textbook formula, with 0/0 (nothing "
    "predicted, nothing present) a perfect score.",
    "validate": "True (default): check every value (NaN and inf, label ranges, probabilities, dense targets in "
    "[0, 1]) and raise with a message; False: check shapes and dtypes only, read no tensor value on the host (no "
    "device sync), so that the loss compiles with ``torch.compile(fullgraph=True)``; bad values then give undefined "
    "results.",
    "reduction": '``"mean"`` (default) over images, ``"sum"``, or ``"none"``: one value per image ``(N,)``, '
    "``(1,)`` when the counts are pooled.",
}
# ``reduction`` for the losses that are a mean over pixels (cross-entropy, focal, per-pixel Dice).
PIXEL_REDUCTION = (
    '``"mean"`` (default): the mean over the valid pixels of the whole batch (weighted pixels count by their '
    'weight); ``"sum"``: their sum; ``"none"``: the mean per image, ``(N,)``.'
)

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def prepare(
    input: Any,
    target: Any,
    *,
    from_logits: bool,
    multilabel: bool,
    ignore_index: int | None,
    check_finite: bool = True,
    check_labels: bool = True,
    validate: bool = True,
) -> LossInputs:
    """Validate the inputs of a loss; half-precision logits (e.g. under autocast) are computed in float32.

    ``check_finite=False`` skips the pass over the input that looks for NaN and inf, ``check_labels=False`` the range
    check of labels where the caller's own computation raises the same errors (see
    :func:`segbench._checks.check_loss_inputs`; :func:`segbench.counts.soft_counts`, :func:`cross_entropy_loss
    <segbench.losses.pixelwise.cross_entropy_loss>`).
    """
    x = as_tensor(input, "input")
    if x.dtype in _LOW_PRECISION:
        x = x.float()
    return check_loss_inputs(
        x, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
        check_finite=check_finite, check_labels=check_labels, validate=validate,
    )


def class_selection(li: LossInputs, include_background: bool) -> Tensor | None:
    """Indices of the scored classes: all, or all but channel 0 (multiclass and multilabel, as MONAI's
    ``include_background=False``).

    Binary input has one channel, the foreground: there is no background to leave out, and it is scored either way.
    """
    if include_background or li.mode == "binary":
        return None
    if li.num_classes < 2:
        raise ValueError("include_background=False leaves no channel to score: the multilabel input has 1 channel")
    return torch.arange(1, li.num_classes, device=li.logits.device)


def safe_ratio(num: Tensor, den: Tensor, smooth: float = 0.0) -> Tensor:
    """``(num + smooth) / (den + smooth)`` for ``num, den >= 0``, and 1 where that is 0/0 (nothing to score on either
    side: a perfect match), NaN-free. ``smooth > 0`` never divides by 0, so it takes the plain division."""
    if smooth > 0:
        return (num + smooth) / (den + smooth)
    return ratio_or_one(num, den)[0]


def ratio_or_one(num: Tensor, den: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``num / den`` for ``num, den >= 0`` with 1 where ``den`` is 0 (0/0: a perfect match), the denominator with 1
    there, and the mask of defined ratios (what a hand-written gradient of the ratio needs)."""
    ok = den > 0
    one = torch.ones_like(den)
    den = torch.where(ok, den, one)
    return torch.where(ok, num / den, one), den, ok


def reduce_classes(
    li: LossInputs,
    per_class: Tensor,
    *,
    include_background: bool,
    class_weights: Weights,
    reduction: str,
) -> Tensor:
    """Reduce per-(image, class) losses with the class selection and weights of :func:`reduce_loss`."""
    r = check_reduction(reduction)
    w = check_class_weights(class_weights, li.num_classes, validate=li.validate)
    return reduce_loss(per_class, class_weights=w, classes=class_selection(li, include_background), reduction=r)


def reduce_pixels(loss: Tensor, norm: Tensor | None, reduction: str) -> Tensor:
    """Reduce a per-pixel loss ``(N, ...)`` that already carries its weights (0 on ignored pixels).

    ``norm`` holds each pixel's weight (None: 1 everywhere). ``"mean"``: :math:`\\sum_i l_i / \\sum_i w_i` over the
    batch (0 when every weight is 0); ``"sum"``: :math:`\\sum_i l_i`; ``"none"``: the same mean per image, ``(N,)``.
    """
    r: Reduction = check_reduction(reduction)
    n = loss.shape[0]
    flat = loss.reshape(n, -1)
    if r == "sum":
        return flat.sum()
    if norm is None:
        return flat.mean() if r == "mean" else flat.mean(1)
    w = norm.reshape(n, -1).to(flat.dtype)
    tiny = torch.finfo(flat.dtype).tiny
    if r == "mean":
        return flat.sum() / w.sum().clamp_min(tiny)
    return flat.sum(1) / w.sum(1).clamp_min(tiny)


def channel_weights(weights: float | Weights, li: LossInputs, name: str) -> Tensor | None:
    """Per-channel weights as a ``(1, C, 1, ...)`` tensor of the input's dtype and device, or None."""
    if weights is None:
        return None
    if isinstance(weights, (int, float)) and not isinstance(weights, bool):
        weights = [float(weights)] * li.num_classes
    try:
        w = check_class_weights(weights, li.num_classes, validate=li.validate)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if w is None:  # pragma: no cover - weights is not None here
        return None
    shape = (1, li.num_classes) + (1,) * (li.logits.ndim - 2)
    return w.to(device=li.logits.device, dtype=li.logits.dtype).view(shape)


def check_number(value: Any, name: str, *, low: float | None = 0.0, high: float | None = None) -> float:
    """A finite real hyper-parameter within ``[low, high]`` (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return v
