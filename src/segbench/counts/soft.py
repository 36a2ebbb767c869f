"""Soft counts for the losses: ``tp, fp, fn`` per (image, class) from probabilities and a target, differentiable.

Soft counts follow Wang et al. (MICCAI 2023, NeurIPS 2023), so that a prediction equal to a soft target is
perfect:

.. math::
    tp = \\tfrac12\\,(\\lVert p\\rVert_1 + \\lVert y\\rVert_1 - \\lVert p - y\\rVert_1),\\quad
    fp = \\lVert p\\rVert_1 - tp,\\quad fn = \\lVert y\\rVert_1 - tp

For hard labels ``y`` in {0, 1} this is the familiar :math:`tp = \\sum p\\,y`.

Two versions of the same numbers: :func:`soft_counts_reference`, the plain one (a one-hot target, products and
sums, autograd for the gradient), which documents what is computed; and :func:`soft_counts` /
:func:`soft_count_loss`, which the losses call: label maps are counted without a one-hot tensor, with the gradient
written out (:mod:`segbench.counts._kernels`). The tests hold the second to the first, value and gradient.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

from segbench._checks import LossInputs
from segbench.counts._kernels import differences, head_loss, label_count_loss, label_counts
from segbench.counts.formulas import Counts

__all__ = ["CountsHead", "soft_count_loss", "soft_counts", "soft_counts_reference"]

Saved = TypeVar("Saved")


class CountsHead(Protocol[Saved]):
    """A loss computed from soft counts, with its gradient written out (see :func:`soft_count_loss`); ``Saved`` is
    what the forward keeps for the backward."""

    def __call__(self, c: Counts) -> tuple[Tensor, Saved]:
        """The loss from counts ``(N, C)`` (or ``(1, C)`` pooled), and what :meth:`grad` needs."""
        ...

    def grad(self, saved: Saved, g: Tensor) -> Counts:
        """``dL/d(tp, fp, fn)`` from the gradient ``g`` of the loss."""
        ...


def _pooled(c: Counts, per_image: bool) -> Counts:
    """``c`` as it is, or summed over the batch ``(1, C)`` unless ``per_image``."""
    if per_image:
        return c
    return Counts(c.tp.sum(0, keepdim=True), c.fp.sum(0, keepdim=True), c.fn.sum(0, keepdim=True))


def soft_counts_reference(inputs: LossInputs, *, per_image: bool = True) -> Counts:
    """Soft ``tp, fp, fn`` per (image, class) the plain way: the definition that :func:`soft_counts` computes faster.

    With probabilities :math:`p` (``inputs.probs()``), the target :math:`y` as a dense ``(N, C, *spatial)`` tensor
    (one-hot for label maps) and the valid pixels :math:`v` (0 where the target is ``ignore_index``), per (image,
    class):

    .. math::
        tp = \\sum_i v_i\\,p_i\\,y_i \\text{ (label maps)},\\quad
        tp = \\tfrac12 \\textstyle\\sum_i (p_i + y_i - |p_i - y_i|) \\text{ (dense targets)},\\quad
        fp = \\sum_i v_i\\,p_i - tp,\\quad fn = \\sum_i v_i\\,y_i - tp

    (the two ``tp`` agree wherever ``y`` is 0 or 1), summed over the batch (``(1, C)``) unless ``per_image``, and
    ``fp``, ``fn`` clamped at 0 (rounding can leave a near-perfect prediction's a hair below). Gradients come from
    autograd through these formulas. Memory: a one-hot target the size of the prediction and a few products of it.

    Args:
        inputs: checked loss inputs (:func:`segbench._checks.check_loss_inputs`).
        per_image: True: one row per image ``(N, C)``; False: pooled over the batch ``(1, C)``.

    >>> import torch
    >>> from segbench._checks import check_loss_inputs
    >>> p = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])   # probabilities of (1 image, 2 classes, 2 pixels)
    >>> c = soft_counts_reference(check_loss_inputs(p, torch.tensor([[0, 1]]), from_logits=False))
    >>> [round(v, 4) for v in c.tp[0].tolist()], [round(v, 4) for v in c.fp[0].tolist()]
    ([0.9, 0.8], [0.2, 0.1])
    """
    p = inputs.probs()
    y = inputs.dense_target()
    dims = tuple(range(2, p.ndim))
    v = inputs.valid_float()
    if v is not None:
        p, y = p * v, y * v
    p_sum, y_sum = p.sum(dims), y.sum(dims)
    tp = (p_sum + y_sum - (p - y).abs().sum(dims)) / 2 if inputs.dense else (p * y).sum(dims)
    c = _pooled(Counts(tp, p_sum - tp, y_sum - tp), per_image)
    return Counts(c.tp, c.fp.clamp_min(0), c.fn.clamp_min(0))


def soft_counts(inputs: LossInputs, *, per_image: bool = True) -> Counts:
    """Soft ``tp, fp, fn`` per (image, class), shape ``(N, C)``, over the valid pixels; ``per_image=False`` sums
    them over the batch first, ``(1, C)``. The values (and gradients) of :func:`soft_counts_reference`.

    Traced by ``torch.compile`` the counts take the plain route of :func:`soft_counts_reference` (the compiler
    fuses it), with the same values and gradients. In eager mode label-map targets are never expanded to one-hot:
    ``tp`` gathers each pixel's probability of its own label
    and adds it into that label's bin (in float64), so memory stays at the size of the prediction.

    Raises ValueError when the probabilities hold NaN, which is how NaN logits, or +inf logits under a softmax,
    show; so callers may skip the separate pass over the input that looks for them. Infinite logits whose
    probabilities are defined (a sigmoid's 0 or 1) are scored as such. Labels left unchecked
    (``inputs.labels_unchecked``) are checked by the lookup of each pixel's own-label probability, and raise the
    ValueError :func:`segbench._checks.check_loss_inputs` would have.

    Args:
        inputs: checked loss inputs (:func:`segbench._checks.check_loss_inputs`).
        per_image: True: one row per image ``(N, C)``; False: pooled over the batch ``(1, C)``.

    >>> import torch
    >>> from segbench._checks import check_loss_inputs
    >>> p = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]]).log()   # log-probs of (1, 2 classes, 2 pixels)
    >>> li = check_loss_inputs(p, torch.tensor([[0, 1]]), from_logits=True)
    >>> c = soft_counts(li)
    >>> [round(v, 4) for v in c.tp[0].tolist()], [round(v, 4) for v in c.fp[0].tolist()]
    ([0.9, 0.8], [0.2, 0.1])
    """
    if not inputs.dense:
        if torch.compiler.is_compiling():
            return _traced_counts(inputs, per_image)
        return Counts(*label_counts(inputs, per_image))
    n, c = inputs.logits.shape[:2]  # dense targets carry no ignore mask (check_loss_inputs refuses one)
    p = inputs.probs().reshape(n, c, -1)
    y = inputs.target.reshape(n, c, -1)
    p_sum = p.sum(-1)  # pairwise summation: accurate in float32
    y_sum = y.sum(-1)
    tp = (p_sum + y_sum - (p - y).abs().sum(-1)) / 2
    tp, fp, fn = differences(p_sum, tp, y_sum, per_image, check=inputs.validate)
    # rounding can leave fp or fn a hair below 0 for a near-perfect prediction; they are counts, so clamp
    return Counts(tp, fp.clamp_min(0), fn.clamp_min(0))


def soft_count_loss(inputs: LossInputs, head: CountsHead[Any], *, per_image: bool = True) -> Tensor:
    """The loss ``head`` computes from :func:`soft_counts`, as one autograd node for label-map targets: counting,
    the head's formula and reduction, and their gradients (the head's written out, fused with the counting's).
    Dense targets count through autograd, then the head is one node.

    .. math:: L = h(tp, fp, fn),\\quad (tp, fp, fn) = \\mathrm{soft\\_counts}(p, y)

    Args:
        inputs: checked loss inputs (:func:`segbench._checks.check_loss_inputs`).
        head: the loss from the counts and its gradient (:class:`CountsHead`, e.g.
            :class:`segbench.losses._region.RegionHead`).
        per_image: count per image (True) or pooled over the batch (False) before ``head`` sees the counts.

    >>> import torch
    >>> from segbench._checks import check_loss_inputs
    >>> class SumTP:                                       # L = sum tp, dL/dtp = 1
    ...     def __call__(self, c): return c.tp.sum(), None
    ...     def grad(self, saved, g): return Counts(g.expand(1, 2), g.new_zeros(1, 2), g.new_zeros(1, 2))
    >>> p = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]], requires_grad=True)
    >>> loss = soft_count_loss(check_loss_inputs(p, torch.tensor([[0, 1]]), from_logits=False), SumTP())
    >>> loss.backward()
    >>> round(float(loss), 4), p.grad.tolist()            # dtp/dp: 1 on each pixel's own label
    (1.7, [[[1.0, 0.0], [0.0, 1.0]]])
    """
    if torch.compiler.is_compiling():  # the compiler fuses the plain formulas itself; autograd differentiates them
        loss: Tensor = head(soft_counts(inputs, per_image=per_image))[0]
        return loss
    if inputs.dense:
        return head_loss(soft_counts(inputs, per_image=per_image), head)
    return label_count_loss(inputs, per_image, head)


def _traced_counts(inputs: LossInputs, per_image: bool) -> Counts:
    """:func:`soft_counts_reference` of a label-map target, for ``torch.compile``: the hand-written kernels are
    autograd Functions that read a value on the host (the finite check) and write into buffers; traced, the plain
    formulas fuse into as few passes (the one-hot target is never materialised by the compiled code). The finite
    check stays where the inputs are validated (a graph break)."""
    if inputs.validate and inputs.labels_unchecked:
        inputs.check_labels()
    c = soft_counts_reference(inputs, per_image=per_image)
    if inputs.validate:
        differences(c.tp + c.fp, c.tp, c.tp + c.fn, True)
    return c
