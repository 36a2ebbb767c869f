"""The formulas of the region losses over soft counts, each with its gradient written out.

A region loss is a formula per (image, class) over the soft counts ``tp, fp, fn`` ``(N, C)``, reduced over classes
and images by :func:`segbench.reduction.reduce_loss`. :class:`RegionHead` holds both, with the gradient of the whole
(the formula's derivative, and :func:`~segbench.reduction.reduce_loss_backward`), so that
:func:`segbench.counts.soft_count_loss` runs counting, formula and reduction as one autograd node: the dozen small
nodes autograd would record for the formula cost more than the counting itself on small inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, NamedTuple, Protocol, TypeVar, get_args

import torch
from torch import Tensor

from segbench.counts import Counts
from segbench.losses._common import ratio_or_one
from segbench.reduction import Reduction, reduce_loss, reduce_loss_backward

__all__ = [
    "GDL_WEIGHT_TYPES",
    "GdlSaved",
    "GdlWeightType",
    "GeneralizedDiceFormula",
    "RatioFormula",
    "RatioSaved",
    "RegionFormula",
    "RegionHead",
    "gdl_weights",
]

_FOCAL_FLOOR = 1e-6  # (1 - T)^gamma has an infinite slope at T = 1 for gamma < 1; linear below this

Outer = Literal["linear", "focal", "log_cosh"]


def _ratio(num: Tensor, extra: Tensor, smooth: float) -> tuple[Tensor, Tensor, Tensor | None]:
    """``T = num / (num + extra)`` for ``num, extra >= 0`` (``smooth`` already in ``num``), 1 where that is 0/0 (only
    possible without smoothing); returns ``T``, the denominator (1 where 0/0) and the mask of defined ratios (None
    when all are)."""
    den = num + extra
    if smooth > 0:
        return num / den, den, None
    return ratio_or_one(num, den)


def _ratio_slopes(g: Tensor, num: Tensor, extra: Tensor, den: Tensor, ok: Tensor | None) -> tuple[Tensor, Tensor]:
    """For ``L`` with ``dL/dT = g`` at ``T = num / (num + extra)``: ``(dL/dnum, dL/dextra) = g (extra, -num) / den^2``,
    0 where the ratio is 0/0. ``extra`` is used as given, not recomputed as ``den - num`` (that difference cancels
    when ``extra`` is small)."""
    r = g / (den * den)
    if ok is not None:
        r = r * ok  # den is 1 where the ratio is 0/0: r is finite there
    return r * extra, -r * num


class RatioSaved(NamedTuple):
    """What :meth:`RatioFormula.grad` needs from its forward: the ratio's parts, and ``f'(1 - T)`` (None for 1)."""

    num: Tensor
    extra: Tensor
    den: Tensor
    ok: Tensor | None
    slope: Tensor | None


@dataclass(frozen=True)
class RatioFormula:
    """Per-(image, class) loss :math:`f(1 - T)` with the Tversky-type ratio

    .. math:: T = \\frac{k\\,tp + s}{k\\,tp + \\alpha\\,fp + \\beta\\,fn + s}

    ``k = 2, alpha = beta = 1`` is Dice, ``k = alpha = beta = 1`` Jaccard; 0/0 (``s = 0``, nothing predicted or
    present) is ``T = 1``, with gradient 0. ``f``: ``"linear"`` (the identity), ``"focal"`` (:math:`d^\\gamma` of
    :math:`d = \\max(1 - T, 0)`, the line :math:`d \\cdot 10^{-6(\\gamma - 1)}` below :math:`d = 10^{-6}` when
    :math:`\\gamma < 1`, where :math:`d^\\gamma` has an infinite slope), ``"log_cosh"`` (:math:`\\log\\cosh d`).

    >>> f = RatioFormula(k=2.0, smooth=0.0)                  # Dice: 1 - 2 * 2 / (2 * 2 + 1 + 3) = 0.5
    >>> loss, _ = f.value(Counts(torch.tensor([[2.0]]), torch.tensor([[1.0]]), torch.tensor([[3.0]])))
    >>> loss.tolist()
    [[0.5]]
    """

    k: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0
    smooth: float = 1.0
    outer: Outer = "linear"
    gamma: float = 1.0

    def value(self, c: Counts) -> tuple[Tensor, RatioSaved]:
        """The loss per (image, class), and what :meth:`grad` needs."""
        num = c.tp if self.k == 1 else self.k * c.tp  # no multiplications by 1
        if self.smooth > 0:
            num = num + self.smooth
        fp = c.fp if self.alpha == 1 else self.alpha * c.fp
        extra = fp + (c.fn if self.beta == 1 else self.beta * c.fn)
        t, den, ok = _ratio(num, extra, self.smooth)
        loss, slope = self._outer(1 - t)
        return loss, RatioSaved(num, extra, den, ok, slope)

    def grad(self, saved: RatioSaved, g: Tensor) -> Counts:
        """``dL/d(tp, fp, fn)`` from ``g = dL/d(loss)`` per (image, class)."""
        num, extra, den, ok, slope = saved
        d_num, d_extra = _ratio_slopes(-g if slope is None else -g * slope, num, extra, den, ok)  # dT = -d(1 - T)
        d_tp = d_num if self.k == 1 else self.k * d_num
        d_fp = d_extra if self.alpha == 1 else self.alpha * d_extra
        return Counts(d_tp, d_fp, d_extra if self.beta == 1 else self.beta * d_extra)

    def _outer(self, d: Tensor) -> tuple[Tensor, Tensor | None]:
        """``f(d)`` and ``f'(d)`` (None for 1)."""
        if self.outer == "linear":
            return d, None
        if self.outer == "log_cosh":
            return torch.log(torch.cosh(d)), torch.tanh(d)
        passed = (d >= 0).to(d.dtype)  # max(d, 0): rounding can put T a hair above 1
        d = d.clamp_min(0)
        gamma = self.gamma
        if gamma >= 1:
            return d.pow(gamma), passed if gamma == 1 else gamma * d.pow(gamma - 1) * passed
        small = d < _FOCAL_FLOOR
        line = _FOCAL_FLOOR ** (gamma - 1)
        far = d.clamp_min(_FOCAL_FLOOR)
        return (
            torch.where(small, d * line, far.pow(gamma)),
            torch.where(small, line * passed, gamma * far.pow(gamma - 1)),
        )


GdlWeightType = Literal["square", "simple", "uniform"]
GDL_WEIGHT_TYPES: tuple[GdlWeightType, ...] = get_args(GdlWeightType)


def gdl_weights(volume: Tensor, weight_type: GdlWeightType) -> Tensor:
    """Raw generalized-Dice weights per (image, class) from target volumes; absent classes take the row's largest
    weight, and a row with no class present weighs all classes equally."""
    present = volume > 0
    if weight_type == "uniform":
        raw = present.to(volume.dtype)
    else:
        raw = volume.reciprocal().masked_fill_(~present, 0)  # 1/0 = inf is replaced
        if weight_type == "square":
            raw = raw.square_()
    top = raw.amax(1, keepdim=True)
    raw = torch.where(present, raw, top)
    return torch.where(top > 0, raw, 1.0)


class GdlSaved(NamedTuple):
    """What :meth:`GeneralizedDiceFormula.grad` needs from its forward."""

    shape: torch.Size
    w: Tensor
    num: Tensor
    extra: Tensor
    den: Tensor
    ok: Tensor | None


@dataclass(frozen=True)
class GeneralizedDiceFormula:
    """Generalized Dice per image, ``(N, 1)``, over the scored ``classes`` (None: all):

    .. math:: L = 1 - \\frac{2 \\sum_k w_k\\, tp_k + s}{2 \\sum_k w_k\\, tp_k + \\sum_k w_k (fp_k + fn_k) + s}

    with :func:`gdl_weights` of the target volumes :math:`tp_k + fn_k` (constants: no gradient flows through them),
    times ``class_weights``, normalised to sum to 1 per image; 0/0 is a loss of 0.
    """

    weight_type: GdlWeightType
    smooth: float
    classes: Tensor | None = None
    class_weights: Tensor | None = None

    def value(self, c: Counts) -> tuple[Tensor, GdlSaved]:
        """The loss per image ``(N, 1)``, and what :meth:`grad` needs."""
        tp, fp, fn = c.tp, c.fp, c.fn
        if self.classes is not None:
            tp, fp, fn = tp[:, self.classes], fp[:, self.classes], fn[:, self.classes]
        w = gdl_weights((tp + fn).detach(), self.weight_type)  # constants (see grad), also under autograd
        if self.class_weights is not None:
            cw = self.class_weights.to(w)
            w = w * (cw if self.classes is None else cw[self.classes])
        w = w / w.sum(1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        num = 2 * (w * tp).sum(1, keepdim=True)
        if self.smooth > 0:
            num = num + self.smooth
        extra = (w * (fp + fn)).sum(1, keepdim=True)
        t, den, ok = _ratio(num, extra, self.smooth)
        return 1 - t, GdlSaved(c.tp.shape, w, num, extra, den, ok)

    def grad(self, saved: GdlSaved, g: Tensor) -> Counts:
        """``dL/d(tp, fp, fn)`` from ``g = dL/d(loss)`` per image."""
        shape, w, num, extra, den, ok = saved
        d_num, d_extra = _ratio_slopes(-g, num, extra, den, ok)
        d_tp, d_fp = 2 * w * d_num, w * d_extra
        if self.classes is None:
            return Counts(d_tp, d_fp, d_fp)
        full_tp, full_fp = d_tp.new_zeros(shape), d_fp.new_zeros(shape)
        full_tp[:, self.classes] = d_tp
        full_fp[:, self.classes] = d_fp
        return Counts(full_tp, full_fp, full_fp)


Saved = TypeVar("Saved")


class RegionFormula(Protocol[Saved]):
    """A loss per (image, class) (or per image) from soft counts, with its gradient: :class:`RatioFormula`,
    :class:`GeneralizedDiceFormula`."""

    def value(self, c: Counts) -> tuple[Tensor, Saved]:
        """The loss from the counts, and what :meth:`grad` needs."""
        ...

    def grad(self, saved: Saved, g: Tensor) -> Counts:
        """``dL/d(tp, fp, fn)`` from ``g = dL/d(loss)``."""
        ...


@dataclass(frozen=True)
class RegionHead(Generic[Saved]):
    """A region loss from soft counts: ``formula`` per (image, class), then :func:`reduce_loss` over the classes
    (``class_weights``, ``classes``) and images; called on counts it returns the loss and what :meth:`grad` needs,
    :meth:`grad` maps the loss's gradient to the counts' (a :class:`segbench.counts.CountsHead` for
    :func:`segbench.counts.soft_count_loss`)."""

    formula: RegionFormula[Saved]
    class_weights: Tensor | None
    classes: Tensor | None
    reduction: Reduction

    def __call__(self, c: Counts) -> tuple[Tensor, tuple[Tensor, Saved]]:
        """The reduced loss from counts ``(N, C)`` (or ``(1, C)`` pooled), and what :meth:`grad` needs: the loss per
        (image, class) and the formula's own."""
        per_class, saved = self.formula.value(c)
        loss = reduce_loss(per_class, class_weights=self.class_weights, classes=self.classes, reduction=self.reduction)
        return loss, (per_class, saved)

    def grad(self, saved: tuple[Tensor, Saved], g: Tensor) -> Counts:
        """``dL/d(tp, fp, fn)`` from the gradient ``g`` of the reduced loss."""
        per_class, formula_saved = saved
        g_class = reduce_loss_backward(
            g, per_class, class_weights=self.class_weights, classes=self.classes, reduction=self.reduction
        )
        return self.formula.grad(formula_saved, g_class)
