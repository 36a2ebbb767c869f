"""Counting true/false positives and negatives, and the score formulas built on them, written once.

Losses count *soft* ``tp, fp, fn`` per (image, class) with :func:`soft_counts`; metrics count *hard*
confusion matrices per image with :func:`confusion_counts` and read ``tp, fp, fn, tn`` off them with
:func:`stat_scores`. Every score (Dice, Jaccard, Tversky, precision, ...) is one formula over those counts.

Soft counts follow Wang et al. (MICCAI 2023, NeurIPS 2023), so that a prediction equal to a soft target is
perfect:

.. math::
    tp = \\tfrac12\\,(\\lVert p\\rVert_1 + \\lVert y\\rVert_1 - \\lVert p - y\\rVert_1),\\quad
    fp = \\lVert p\\rVert_1 - tp,\\quad fn = \\lVert y\\rVert_1 - tp

For hard labels ``y`` in {0, 1} this is the familiar :math:`tp = \\sum p\\,y`.

A ratio whose numerator and denominator are both 0 is NaN (undefined): callers decide what to do with it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from segbench._checks import LabelMaps, LossInputs

__all__ = [
    "Counts",
    "accuracy_formula",
    "confusion_counts",
    "dice_formula",
    "fbeta_formula",
    "jaccard_formula",
    "precision_formula",
    "recall_formula",
    "soft_counts",
    "specificity_formula",
    "stat_scores",
    "tversky_formula",
]


class Counts(NamedTuple):
    """``tp, fp, fn, tn``, each ``(N, C)`` (or reduced); ``tn`` is None for soft counts."""

    tp: Tensor
    fp: Tensor
    fn: Tensor
    tn: Tensor | None = None


class _LabelMapSums(torch.autograd.Function):
    """``(|p|, tp)`` per (image, class) for probabilities ``p`` ``(N, C, X)`` and labels ``t`` ``(N, 1, X)``, where
    ``tp[n, c]`` sums ``p[n, c, i]`` over the pixels ``i`` labelled ``c``, without a one-hot tensor.

    Forward: gather each pixel's own-label probability and add it into its (image, class) bin (``index_add_`` on
    the flat ``bins = n * C + t``, several times faster than ``scatter_add_`` on the CPU; it adds a bin's values one
    after another, so it accumulates in float64: in float32 a running sum of 10^5 probabilities near 1 drifts by
    ~1e-5 relative and ``fp = |p| - tp`` turns negative). Backward: one fused ``where`` writes the gradient of both
    sums, instead of autograd's zeros + scatter for the gather plus an add for the sum.
    """

    @staticmethod
    def forward(ctx: Any, p: Tensor, t: Tensor, bins: Tensor) -> tuple[Tensor, Tensor]:
        n, c = p.shape[:2]
        acc = torch.float64 if p.dtype == torch.float32 else p.dtype
        own = p.gather(1, t).flatten().to(acc)
        tp = torch.zeros(n * c, dtype=acc, device=p.device).index_add_(0, bins, own)
        ctx.save_for_backward(t)
        ctx.num_classes = c
        return p.sum(-1), tp.view(n, c).to(p.dtype)

    @staticmethod
    def backward(
        ctx: Any, grad_sum: Tensor | None, grad_tp: Tensor | None
    ) -> tuple[Tensor, None, None]:
        (t,) = ctx.saved_tensors
        ref = grad_sum if grad_sum is not None else grad_tp
        if ref is None:  # pragma: no cover - autograd calls backward only when an output needs it
            raise RuntimeError("no gradient")
        g_sum = torch.zeros_like(ref) if grad_sum is None else grad_sum
        g_own = g_sum if grad_tp is None else g_sum + grad_tp
        classes = torch.arange(ctx.num_classes, device=t.device).view(1, -1, 1)
        return torch.where(t == classes, g_own.unsqueeze(-1), g_sum.unsqueeze(-1)), None, None


def soft_counts(inputs: LossInputs, probs: Tensor | None = None) -> Counts:
    """Soft ``tp, fp, fn`` per (image, class), shape ``(N, C)``, over the valid pixels.

    Label-map targets are never expanded to one-hot: ``tp`` gathers each pixel's probability of its own label
    and scatters it into that label's bin, so memory stays at the size of the prediction.

    >>> from segbench._checks import check_loss_inputs
    >>> p = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]]).log()   # log-probs of (1, 2 classes, 2 pixels)
    >>> li = check_loss_inputs(p, torch.tensor([[0, 1]]), from_logits=True)
    >>> c = soft_counts(li)
    >>> [round(v, 4) for v in c.tp[0].tolist()], [round(v, 4) for v in c.fp[0].tolist()]
    ([0.9, 0.8], [0.2, 0.1])
    """
    p = inputs.probs() if probs is None else probs
    n, c = p.shape[:2]
    p = p.reshape(n, c, -1)
    valid = None if inputs.valid is None else inputs.valid.reshape(n, 1, -1).to(p.dtype)
    if valid is not None:
        p = p * valid
    if inputs.dense or inputs.mode == "binary":
        p_sum = p.sum(-1)  # pairwise summation: accurate in float32
        y = inputs.dense_target().reshape(n, c, -1)
        if valid is not None:
            y = y * valid
        y_sum = y.sum(-1)
        tp = (p_sum + y_sum - (p - y).abs().sum(-1)) / 2
    else:
        t = inputs.target.reshape(n, 1, -1)
        bins = (t[:, 0] + torch.arange(0, n * c, c, device=t.device).unsqueeze(1)).flatten()
        p_sum, tp = _LabelMapSums.apply(p, t, bins)
        ones = torch.ones((), dtype=torch.float64, device=p.device).expand(bins.shape)
        weights = ones if valid is None else valid.flatten().to(torch.float64)
        y_sum = p.new_zeros(n * c, dtype=torch.float64).index_add_(0, bins, weights).view(n, c).to(p.dtype)
    # rounding can leave fp or fn a hair below 0 for a near-perfect prediction; they are counts, so clamp
    return Counts(tp, (p_sum - tp).clamp_min(0), (y_sum - tp).clamp_min(0))


# Elements per counting chunk on the CPU (one 512 x 512 image): small enough that the index temporaries stay in
# cache instead of allocating (and page-faulting) a fresh int64 copy of the whole batch; accelerators count in one
# pass. benchmarks/bench_confusion.py measures the effect.
_CPU_CHUNK = 1 << 18


def _pair_histogram(target: Tensor, pred: Tensor, k: int, valid: Tensor | None, separate: bool) -> Tensor:
    """Joint histogram of ``(target, pred)`` label pairs per row of ``(G, X)`` int64 maps -> ``(G, k, k)``.

    ``separate=False`` pools the rows (``(1, k, k)``). Pixels with ``valid == False`` land in an extra bin that is
    dropped, so no masked copy is made. Labels must already lie in ``[0, k)``.
    """
    g, x = target.shape
    bins = k * k
    width = bins if valid is None else bins + 1
    out = torch.zeros(g if separate else 1, bins, dtype=torch.long, device=target.device)
    step = _CPU_CHUNK if target.device.type == "cpu" else max(1, g * x)
    rows = max(1, step // x)
    cols = min(x, step)
    for r0 in range(0, g, rows):
        r1 = min(g, r0 + rows)
        for c0 in range(0, x, cols):
            c1 = min(x, c0 + cols)
            idx = torch.add(pred[r0:r1, c0:c1], target[r0:r1, c0:c1], alpha=k)
            if valid is not None:
                idx.masked_fill_(~valid[r0:r1, c0:c1], bins)
            if separate and r1 - r0 > 1:
                idx.add_(torch.arange(r1 - r0, device=idx.device).view(-1, 1) * width)
                hist = torch.bincount(idx.flatten(), minlength=(r1 - r0) * width).view(r1 - r0, width)
                out[r0:r1] += hist[:, :bins]
            else:
                hist = torch.bincount(idx.flatten(), minlength=width)
                out[r0 if separate else 0] += hist[:bins]
    return out.view(-1, k, k)


def confusion_counts(lm: LabelMaps, *, per_image: bool = True) -> Tensor:
    """Hard confusion matrix per image: ``(N, C, C)`` int64, rows = target class, columns = predicted class.

    Multilabel maps give ``(N, C, 2, 2)``: one binary matrix per channel. Ignored pixels are not counted.
    ``per_image=False`` pools the batch into one matrix, ``(1, C, C)`` (``(1, C, 2, 2)``), which is faster.

    .. math:: M_{n,i,j} = \\#\\{x : y_n(x) = i,\\ \\hat y_n(x) = j\\}

    >>> from segbench._checks import check_label_maps
    >>> lm = check_label_maps(torch.tensor([[0, 1, 1, 2]]), torch.tensor([[0, 1, 2, 2]]), num_classes=3)
    >>> confusion_counts(lm)[0].tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    n = lm.target.shape[0]
    c = lm.num_classes
    if lm.multilabel:  # every (image, channel) is its own binary problem
        per = _pair_histogram(lm.target.reshape(n * c, -1), lm.pred.reshape(n * c, -1), 2, None, True)
        per = per.view(n, c, 2, 2)
        return per if per_image else per.sum(0, keepdim=True)
    valid = None if lm.valid is None else lm.valid.reshape(n, -1)
    return _pair_histogram(lm.target.reshape(n, -1), lm.pred.reshape(n, -1), c, valid, per_image)


def stat_scores(confusion: Tensor) -> Counts:
    """``tp, fp, fn, tn`` per (image, class) from confusion matrices ``(N, C, C)`` or ``(N, C, 2, 2)``.

    >>> cm = torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 1, 1]]])
    >>> s = stat_scores(cm)
    >>> s.tp.tolist(), s.fp.tolist(), s.fn.tolist(), s.tn.tolist()
    ([[1, 1, 1]], [[0, 1, 0]], [[0, 0, 1]], [[3, 2, 2]])
    """
    if confusion.ndim == 4:  # multilabel: one 2x2 per channel
        tn, fp = confusion[..., 0, 0], confusion[..., 0, 1]
        fn, tp = confusion[..., 1, 0], confusion[..., 1, 1]
        return Counts(tp, fp, fn, tn)
    tp = torch.diagonal(confusion, dim1=-2, dim2=-1)
    fp = confusion.sum(-2) - tp
    fn = confusion.sum(-1) - tp
    tn = confusion.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
    return Counts(tp, fp, fn, tn)


def tversky_formula(c: Counts, alpha: float, beta: float, smooth: float = 0.0) -> Tensor:
    """Tversky index (Salehi et al. 2017): ``alpha`` weights false positives, ``beta`` false negatives.

    .. math:: T = \\frac{tp + s}{tp + \\alpha\\,fp + \\beta\\,fn + s}

    ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` is Jaccard. 0/0 is NaN.

    >>> float(tversky_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.)), 0.5, 0.5))
    0.5
    """
    return (c.tp + smooth) / (c.tp + alpha * c.fp + beta * c.fn + smooth)


def dice_formula(c: Counts, smooth: float = 0.0) -> Tensor:
    """Dice / F1: :math:`D = (2tp + s) / (2tp + fp + fn + s)`.

    >>> float(dice_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.))))
    0.5
    """
    return (2 * c.tp + smooth) / (2 * c.tp + c.fp + c.fn + smooth)


def jaccard_formula(c: Counts, smooth: float = 0.0) -> Tensor:
    """Jaccard / IoU: :math:`J = (tp + s) / (tp + fp + fn + s)`.

    >>> float(jaccard_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.))))
    0.3333333432674408
    """
    return (c.tp + smooth) / (c.tp + c.fp + c.fn + smooth)


def fbeta_formula(c: Counts, beta: float) -> Tensor:
    """F-beta: :math:`F_\\beta = (1+\\beta^2)\\,tp / ((1+\\beta^2)\\,tp + \\beta^2 fn + fp)`.

    >>> float(fbeta_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.)), 1.0))
    0.5
    """
    b2 = beta * beta
    return (1 + b2) * c.tp / ((1 + b2) * c.tp + b2 * c.fn + c.fp)


def precision_formula(c: Counts) -> Tensor:
    """Precision (positive predictive value): :math:`tp / (tp + fp)`."""
    return c.tp / (c.tp + c.fp)


def recall_formula(c: Counts) -> Tensor:
    """Recall (sensitivity, true positive rate): :math:`tp / (tp + fn)`."""
    return c.tp / (c.tp + c.fn)


def specificity_formula(c: Counts) -> Tensor:
    """Specificity (true negative rate): :math:`tn / (tn + fp)`; needs hard counts (``tn``)."""
    if c.tn is None:
        raise ValueError("specificity needs true negatives, which soft counts do not have")
    return c.tn / (c.tn + c.fp)


def accuracy_formula(c: Counts) -> Tensor:
    """One-vs-rest accuracy of a class: :math:`(tp + tn) / (tp + fp + fn + tn)`; needs hard counts."""
    if c.tn is None:
        raise ValueError("accuracy needs true negatives, which soft counts do not have")
    return (c.tp + c.tn) / (c.tp + c.fp + c.fn + c.tn)
