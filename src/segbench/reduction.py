"""The one place for reductions: per-image vs pooled, micro/macro/weighted class averages, NaN rules, and the
reduction of a loss over classes (weighted) and images.

Metrics
    :func:`aggregate` turns per-(image, class) counts into a score.

    * ``per_image=False`` pools the counts over the batch first (a dataset-level score);
      ``per_image=True`` scores each image, then takes the mean over images.
    * ``average="micro"`` pools the counts over classes before scoring; ``"macro"`` is the unweighted mean of
      per-class scores; ``"weighted"`` weights each class by its support (target pixels); ``"none"`` keeps the
      class axis (and, with ``per_image=True``, the image axis: ``(N, C)``).
    * The empty-and-miss policy (:func:`fail_undefined`): a score is undefined (NaN, or ``empty_score`` where that
      is given) only where the prediction agrees exactly with the reference on the class (``fp = fn = 0``: both
      empty, e.g. Dice with an empty target *and* an empty prediction). Any other 0/0 of a formula is a failure and
      scores 0: precision of a miss, recall of a false alarm, MCC and kappa of a constant prediction.
      ``strict_undefined=True`` keeps every 0/0 as NaN (scikit-learn's ``zero_division=nan``). Means skip NaN, so
      a class both empty never drags a mean down or up, while a miss or a false alarm always does.

Losses
    :func:`reduce_loss` takes per-(image, class) losses, averages over the selected classes with weights whose
    scale changes nothing, then over images (``"mean"``), or sums (``"sum"``), or returns per-image values
    (``"none"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from segbench.counts import Counts

Average = Literal["micro", "macro", "weighted", "none"]
Reduction = Literal["mean", "sum", "none"]

__all__ = [
    "Average", "Reduction", "aggregate", "check_average", "check_reduction", "class_mean_weights", "fail_undefined",
    "nanmean",
    "reduce_loss", "reduce_loss_backward",
]

_AVERAGES = ("micro", "macro", "weighted", "none")
_REDUCTIONS = ("mean", "sum", "none")


def check_average(average: str) -> Average:
    """Reject an unknown ``average`` with the list of valid ones (ValueError); return it, typed.

    Args:
        average: ``"micro"``, ``"macro"``, ``"weighted"`` or ``"none"`` (see :func:`aggregate`).

    >>> check_average("macro")
    'macro'
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    return average  # type: ignore[return-value]


def check_reduction(reduction: str) -> Reduction:
    """Reject an unknown loss ``reduction`` with the list of valid ones (ValueError); return it, typed.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :func:`reduce_loss`).

    >>> check_reduction("sum")
    'sum'
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def nanmean(x: Tensor, dim: int) -> Tensor:
    """Mean over ``dim`` skipping NaN; NaN where every value is NaN.

    .. math:: \\bar x = \\frac{1}{|\\{i : x_i \\ne \\mathrm{NaN}\\}|} \\sum_{i : x_i \\ne \\mathrm{NaN}} x_i

    Args:
        x: the values.
        dim: the axis to average over.

    >>> nanmean(torch.tensor([[1.0, float("nan")], [float("nan"), float("nan")]]), dim=1).tolist()
    [1.0, nan]
    """
    return torch.nanmean(x, dim=dim)


def fail_undefined(score: Tensor, fp: Tensor, fn: Tensor, *, strict_undefined: bool = False) -> Tensor:
    """The empty-and-miss policy: a 0/0 score becomes 0 (a failure) unless the prediction made no error on the class.

    .. math:: s' = \\begin{cases} 0 & s = 0/0 \\text{ and } fp + fn > 0 \\\\ s & \\text{otherwise} \\end{cases}

    So NaN (undefined) is left only where ``fp = fn = 0`` and the formula still divides by zero: reference and
    prediction both empty (or, for specificity, MCC and kappa, both covering everything). A miss (``fn > 0``, nothing
    predicted) and a false alarm (``fp > 0`` on an empty reference) score 0: the worst precision, recall, Dice...;
    for MCC and kappa 0 is the chance level, the score of any constant prediction.

    Args:
        score: the formula's values, NaN where it divided 0 by 0.
        fp: false positives of each value (broadcastable to ``score``).
        fn: false negatives of each value (broadcastable to ``score``).
        strict_undefined: True leaves every 0/0 as NaN (the textbook convention; a miss is then skipped by means).

    >>> s, fp, fn = torch.tensor([float("nan")] * 3), torch.tensor([0.0, 0.0, 2.0]), torch.tensor([0.0, 3.0, 0.0])
    >>> fail_undefined(s, fp, fn).tolist()     # both empty, a miss, a false alarm
    [nan, 0.0, 0.0]
    >>> fail_undefined(s, fp, fn, strict_undefined=True).tolist()
    [nan, nan, nan]
    """
    if strict_undefined:
        return score
    return torch.where(torch.isnan(score) & ((fp + fn) > 0), torch.zeros_like(score), score)


def _map(c: Counts, fn: Callable[[Tensor], Tensor]) -> Counts:
    return Counts(fn(c.tp), fn(c.fp), fn(c.fn), None if c.tn is None else fn(c.tn))


def _sum(c: Counts, dim: int) -> Counts:
    return _map(c, lambda t: t.sum(dim, keepdim=True))


def aggregate(
    counts: Counts,
    score: Callable[[Counts], Tensor],
    *,
    average: Average = "macro",
    per_image: bool = False,
    classes: Tensor | None = None,
    empty_score: float = float("nan"),
    strict_undefined: bool = False,
) -> Tensor:
    """Reduce per-(image, class) counts ``(N, C)`` to a score, in float64.

    ``classes`` is an index or bool mask of the classes that take part (e.g. without background).

    .. math::
        \\text{macro} = \\frac{1}{|K|}\\sum_{k \\in K} s(tp_k, fp_k, fn_k),\\quad
        \\text{micro} = s\\big(\\textstyle\\sum_k tp_k, \\sum_k fp_k, \\sum_k fn_k\\big)

    where :math:`K` holds the classes whose score is defined (after :func:`fail_undefined`: a miss or a false alarm
    scores 0 and takes part; only a class with reference and prediction both empty is left out); ``"weighted"``
    weighs each defined class by its support :math:`tp_k + fn_k`, and where no defined class has support (an image
    whose reference holds none of the scored classes, every score a false alarm) it is the macro mean of the defined
    scores, so false positives on an empty image count (torchmetrics scores such an image 0); ``per_image=True``
    scores each image, then takes the NaN-skipping mean.

    Args:
        counts: ``tp, fp, fn`` (and ``tn``) per (image, class), ``(N, C)``.
        score: the formula from counts to a score (e.g. :func:`segbench.counts.dice_formula`).
        average: ``"macro"`` (default), ``"micro"``, ``"weighted"`` or ``"none"`` (the class axis kept).
        per_image: False (default): the counts pooled over the batch first; True: per image, then the mean.
        classes: an index or bool mask of the classes that take part; None: all.
        empty_score: the score of an undefined case (both empty); NaN (default) leaves it out of the means.
        strict_undefined: False (default): the policy of :func:`fail_undefined`; True: every 0/0 is undefined.

    >>> from segbench.counts import dice_formula, precision_formula
    >>> t = torch.tensor
    >>> c = Counts(t([[1, 0], [0, 0]]), t([[1, 0], [0, 2]]), t([[0, 0], [0, 0]]))
    >>> aggregate(c, dice_formula, average="none", per_image=True).tolist()   # image 1, class 0 is 0/0
    [[0.6666666666666666, nan], [nan, 0.0]]
    >>> float(aggregate(c, dice_formula, average="macro", per_image=True))    # (2/3 + 0) / 2
    0.3333333333333333
    >>> float(aggregate(c, dice_formula, average="macro", per_image=False))   # class 1 pooled: 0/2
    0.3333333333333333
    >>> miss = Counts(t([[0, 5]]), t([[0, 0]]), t([[4, 0]]))                    # class 0 missed, class 1 perfect
    >>> float(aggregate(miss, precision_formula)), float(aggregate(miss, precision_formula, strict_undefined=True))
    (0.5, 1.0)
    """
    check_average(average)
    c = _map(counts, lambda t: (t if classes is None else t[..., classes]).to(torch.float64))
    if not per_image:
        c = _sum(c, 0)
    support = c.tp + c.fn
    if average == "micro":
        c = _sum(c, 1)
    s = fail_undefined(score(c), c.fp, c.fn, strict_undefined=strict_undefined)
    if empty_score == empty_score:  # not NaN: substitute the undefined cases
        s = torch.where(torch.isnan(s), torch.full_like(s, empty_score), s)
    if average == "none":
        return s if per_image else s[0]
    if average == "weighted":
        w = torch.where(torch.isnan(s), torch.zeros_like(support), support)
        den = w.sum(1)
        s = torch.where(den > 0, (torch.nan_to_num(s) * w).sum(1) / den.clamp_min(1e-300), nanmean(s, dim=1))
    else:
        s = nanmean(s, dim=1)
    return nanmean(s, dim=0)


def class_mean_weights(class_weights: Tensor | None, classes: Tensor | None, num_classes: int, like: Tensor) -> Tensor:
    """The weight of each class in :func:`reduce_loss`'s class average, ``(C,)`` like ``like``: :math:`w_k / \\sum_{j
    \\in K} w_j` for the selected classes :math:`K` (all by default), 0 for the others; unweighted, :math:`1/|K|`.

    Args:
        class_weights: ``(C,)`` weights, or None (equal).
        classes: indices of the selected classes, or None (all).
        num_classes: ``C``.
        like: a tensor whose dtype and device the weights take.

    >>> w = class_mean_weights(torch.tensor([1.0, 3.0, 4.0]), torch.tensor([1, 2]), 3, torch.zeros(1))
    >>> [round(v, 4) for v in w.tolist()]   # 0, 3/7, 4/7
    [0.0, 0.4286, 0.5714]
    """
    if class_weights is None:
        w = torch.ones(num_classes, dtype=like.dtype, device=like.device)
    else:
        w = class_weights.to(like)
    if classes is not None:
        w = torch.zeros_like(w).index_copy_(0, classes, w[classes])
    return w / w.sum()


def reduce_loss(
    per_class: Tensor,
    *,
    class_weights: Tensor | None = None,
    classes: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Reduce per-(image, class) losses ``(N, C)`` to a scalar (``"mean"``, ``"sum"``) or ``(N,)`` (``"none"``).

    .. math:: L_n = \\frac{\\sum_{k \\in K} w_k\\,L_{n,k}}{\\sum_{k \\in K} w_k}

    Weights are normalised by their sum over the selected classes (:func:`class_mean_weights`), so multiplying them
    all by a constant changes nothing. ``N`` is 1 when the loss pooled its counts over the batch.

    Args:
        per_class: the losses per (image, class), ``(N, C)``.
        class_weights: ``(C,)`` weights of the class mean, or None (equal).
        classes: indices of the classes that take part, or None (all).
        reduction: ``"mean"`` (default) over images, ``"sum"``, or ``"none"`` (one value per image).

    >>> x = torch.tensor([[0.25, 0.5], [0.0, 1.0]], dtype=torch.float64)
    >>> reduce_loss(x, class_weights=torch.tensor([1.0, 3.0])).item()   # ((0.25 + 1.5) / 4 + 3 / 4) / 2
    0.59375
    """
    check_reduction(reduction)
    x = per_class if classes is None else per_class[:, classes]
    if class_weights is None:
        if reduction == "mean":  # every image has the same classes: the mean of the means is the mean
            return x.mean()
        per_image = x.mean(1)
    else:
        w = class_mean_weights(class_weights, classes, per_class.shape[1], per_class)
        per_image = (x * (w if classes is None else w[classes])).sum(1)
    if reduction == "none":
        return per_image
    return per_image.sum() if reduction == "sum" else per_image.mean()


def reduce_loss_backward(
    grad: Tensor,
    per_class: Tensor,
    *,
    class_weights: Tensor | None = None,
    classes: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """The gradient of :func:`reduce_loss` with respect to ``per_class`` ``(N, C)``, given the gradient ``grad`` of
    its output. The reduction is linear, so this is its transpose: :math:`g_n\\,W_k` (``"none"``), :math:`g\\,W_k`
    (``"sum"``), :math:`g\\,W_k / N` (``"mean"``), with :math:`W` from :func:`class_mean_weights`.

    Args:
        grad: the gradient of :func:`reduce_loss`'s output (a scalar, or ``(N,)`` for ``"none"``).
        per_class: the losses per (image, class) that went in, ``(N, C)``.
        class_weights: as given to :func:`reduce_loss`.
        classes: as given to :func:`reduce_loss`.
        reduction: as given to :func:`reduce_loss`.

    >>> x = torch.tensor([[0.25, 0.5], [0.0, 1.0]], dtype=torch.float64)
    >>> reduce_loss_backward(torch.tensor(1.0, dtype=torch.float64), x, class_weights=torch.tensor([1.0, 3.0])).tolist()
    [[0.125, 0.375], [0.125, 0.375]]
    """
    check_reduction(reduction)
    n, c = per_class.shape
    if class_weights is None and classes is None:  # 1/C each
        g = grad / (n * c) if reduction == "mean" else grad / c
        return (g.unsqueeze(1) if reduction == "none" else g).expand(n, c)
    w = class_mean_weights(class_weights, classes, c, per_class)
    if reduction == "none":
        return grad.unsqueeze(1) * w
    return (grad / n if reduction == "mean" else grad) * w.expand(n, c)
