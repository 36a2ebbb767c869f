"""The autograd kernels behind :func:`segbench.counts.soft_counts` and :func:`segbench.counts.soft_count_loss`
(private: their routes and tuning constants may change; :func:`segbench.counts.soft_counts_reference` is the plain
version they must equal, value and gradient).

:class:`_LabelCounts` counts a label-map target without a one-hot tensor and writes the gradient out, fused with
the activation (and, given a :class:`~segbench.counts.soft.CountsHead`, with the loss formula and reduction: one
autograd node); :class:`_HeadNode` runs a head on counts that carry their own graph (dense targets).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import Tensor

from segbench._checks import NONFINITE_INPUT, LossInputs, labels_looked_up
from segbench.counts.formulas import Counts

if TYPE_CHECKING:
    from segbench.counts.soft import CountsHead

__all__ = ["FIRST_ORDER", "differences", "head_loss", "label_count_loss", "label_counts"]

_Backward = TypeVar("_Backward", bound=Callable[..., tuple[Tensor | None, ...]])

FIRST_ORDER = "segbench's region losses are first-order: their backward cannot be differentiated (create_graph=True)"


def _first_order(backward: _Backward) -> _Backward:
    """For a Function's backward, in place of ``once_differentiable``: under ``create_graph=True`` (the only time a
    backward runs with grad enabled) raise at once, where ``once_differentiable`` would let the gradient flow on
    without the written-out terms' own derivatives, a silently wrong second derivative."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():
            raise RuntimeError(FIRST_ORDER)
        return backward(ctx, *grads)

    return cast(_Backward, wrapper)


def _no_autocast(device_type: str) -> AbstractContextManager[object]:
    """A context that turns autocast off where it is on (entering ``torch.autocast`` costs ~20 us per call)."""
    try:
        on = torch.is_autocast_enabled(device_type)  # type: ignore[call-arg,unused-ignore]  # torch >= 2.4
    except TypeError:  # torch < 2.4: one flag per device kind
        on = torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()
    return torch.autocast(device_type, enabled=False) if on else nullcontext()


# Up to this many classes the multiclass backward reads G per pixel from a (C, C) table (one gather of C values per
# pixel); above it, one gather and one scatter per pixel and three passes cost less (measured on (8, C, 65536):
# table / passes 0.55 at C = 2, 0.69 at 3, 0.88 at 6, 1.01 at 8, 1.18 at 21).
_TABLE_CLASSES = 6
# Elements of G made at once (whole images) before the softmax backward: one G the size of the prediction took the
# peak memory of the 3D case (2, 4, 64, 128, 128) from 97 MiB (the product route) to 104 (MONAI's); one image at a
# time, 88.5 MiB.
_G_CHUNK = 1 << 21


class _LabelCounts(torch.autograd.Function):
    """Soft ``(tp, fp, fn)`` per (image, class) for a label map ``t`` ``(N, 1, X)``, without a one-hot tensor.

    ``x`` ``(N, C, X)`` holds logits (``activation`` ``"softmax"`` over C, or ``"sigmoid"`` for one binary channel)
    or probabilities (``"none"``). ``tp[n, c]`` sums ``p[n, c, i]`` over the valid pixels ``i`` labelled ``c``
    (``valid`` ``(N, 1, X)`` of 0/1, or None); with one channel the labels are 0/1 and ``tp`` sums ``p`` over the 1s.
    ``fp = max(|p| - tp, 0)`` and ``fn = max(|y| - tp, 0)``, with ``|y|`` the valid pixels of each label: rounding
    can leave a near-perfect prediction's difference a hair below 0, and they are counts. Raises ValueError when
    ``|p|`` is not finite (NaN logits, or +inf under a softmax).

    One channel: :func:`_binary_sums` and :func:`_binary_grad`. Two or more, forward: each pixel's own-label
    probability is gathered and added into its (image, class) bin by ``scatter_add_`` in float64 (it adds a bin's
    values one after another: in float32 a running sum of 10^5 probabilities near 1 drifts by ~1e-5 relative and
    ``fp = |p| - tp`` turns negative), the pixel counts by a second one; ``|p|`` is a pairwise sum. Backward, fused
    with the activation and the two differences (one autograd node for all of it): with ``a = dL/d|p|`` and
    ``b = dL/dtp`` per (image, class), the probabilities' gradient is :math:`G_c = v\\,(a_c + [t = c]\\,b_c)`,
    and through the softmax

    .. math:: \\frac{\\partial L}{\\partial x_c} = p_c\\,(G_c - \\textstyle\\sum_k p_k G_k)

    Up to ``_TABLE_CLASSES`` classes ``G`` is read per pixel from the ``(C, C)`` table :math:`a_c + [c = k]\\,b_c`
    of its label ``k`` by one ``gather``, then PyTorch's softmax backward kernel: two passes over the prediction
    (two classes: :math:`\\partial L/\\partial x_0 = p_0 p_1 (G_0 - G_1) = -\\partial L/\\partial x_1`, one value
    looked up per pixel); ``G`` is made for as many whole images as fit in ``_G_CHUNK`` elements (at least one) at
    a time, which bounds the backward's peak memory. Above ``_TABLE_CLASSES`` the C-fold lookup costs more than
    the expanded form :math:`v\\,(p_c\\,(a_c - \\sum_k p_k a_k - p_t b_t) + [t = c]\\,p_t b_t)`: one batched
    product, two passes and one scatter. Neither makes a one-hot tensor.

    With a ``head`` (:class:`~segbench.counts.soft.CountsHead`) the node returns the head's loss instead of the
    counts, and its backward starts from the head's written-out gradient: counting, formula and reduction in one
    node.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, t: Tensor, valid: Tensor | None, activation: str, per_image: bool,
        head: CountsHead[Any] | None, check: bool = True,
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        with _no_autocast(x.device.type):  # in the input's precision, also under autocast
            p_sum, tp, y_sum = _LabelCounts._forward(ctx, x, t, valid, activation, check)
        tp, fp, fn = differences(p_sum, tp, y_sum, per_image, check=check)
        ctx.kept = (fp >= 0, fn >= 0)  # where max(., 0) passes the gradient (as clamp_min's backward)
        counts = Counts(tp, fp.clamp_min_(0), fn.clamp_min_(0))
        ctx.head = head
        if head is None:
            return counts.tp, counts.fp, counts.fn
        loss, ctx.head_saved = head(counts)
        return loss

    @staticmethod
    def _forward(
        ctx: Any, x: Tensor, t: Tensor, valid: Tensor | None, activation: str, check: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        c = x.shape[1]
        ctx.width = x.shape[-1]  # the binary runs may pad it
        ctx.binary = c == 1
        if c == 1:  # binary: labels 0/1; the backward needs y, not p_t
            p, own, valid, (p_sum, tp, y_sum) = _binary_sums(x, t, valid, activation, check)
        else:
            p = x.softmax(1) if activation == "softmax" else x
            own = p.gather(1, t)
            tp, y_sum = _label_bins(own[:, 0], t[:, 0], None if valid is None else valid[:, 0], c)
            tp, y_sum = tp.to(p.dtype), y_sum.to(p.dtype)
            p_sum = p.sum(-1) if valid is None else (p * valid).sum(-1)
        ctx.activation = activation
        ctx.save_for_backward(p, t, None if 1 < c <= _TABLE_CLASSES else own, valid)  # p_t: the backward's route
        return p_sum, tp, y_sum

    @staticmethod
    @_first_order
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor, None, None, None, None, None, None]:
        grad_tp: Tensor | None
        grad_fp: Tensor | None
        grad_fn: Tensor | None
        if ctx.head is not None:  # the head's gradient (given, since the loss is the only output)
            g = cast(Tensor, grads[0])  # materialized by autograd: the loss is the node's only output
            grad_tp, grad_fp, grad_fn = ctx.head.grad(ctx.head_saved, g)[:3]
        else:
            grad_tp, grad_fp, grad_fn = grads
        p, t, own, valid = ctx.saved_tensors
        kept_fp, kept_fn = ctx.kept
        # fp = |p| - tp and fn = |y| - tp where kept: dL/d|p| = dL/dfp, dL/dtp (in all) = dL/dtp - dL/dfp - dL/dfn
        a = torch.zeros(kept_fp.shape, dtype=p.dtype, device=p.device) if grad_fp is None else grad_fp * kept_fp
        b = -a if grad_tp is None else grad_tp - a
        if grad_fn is not None:
            b = b - grad_fn * kept_fn
        with _no_autocast(p.device.type):
            if ctx.binary:  # own holds y
                g = _binary_grad(ctx.activation, p, own, valid, a, b)
            else:
                g = _LabelCounts._backward(ctx.activation, p, t, own, valid, a, b)
        return g[..., : ctx.width], None, None, None, None, None, None

    @staticmethod
    def _backward(
        activation: str, p: Tensor, t: Tensor, own: Tensor | None, valid: Tensor | None, a: Tensor, b: Tensor
    ) -> Tensor:
        """dL/dx from ``a = dL/d|p|`` and ``b = dL/dtp``, ``(N, C)`` each, or ``(1, C)`` when the counts were pooled
        over the batch (every image's sums feed the batch's); two or more classes (one: :func:`_binary_grad`).
        ``own`` (``p_t``) is given for more than ``_TABLE_CLASSES`` classes."""
        n, c, x = p.shape
        if own is None:  # up to _TABLE_CLASSES: G read from the table of its C values per label, softmax backward
            table = (torch.diag_embed(b) + a.unsqueeze(-1)).expand(n, c, c)  # a_c + [c = k] b_c: G_c where t = k
            if activation == "softmax" and c == 2:  # p_0 p_1 (G_0 - G_1) and its negative: one lookup per pixel
                d = (table[:, 0] - table[:, 1]).gather(1, t[:, 0])
                g = p.new_empty(n, 2, x)
                torch.mul(p[:, 0], p[:, 1], out=g[:, 0]).mul_(d)
                torch.neg(g[:, 0], out=g[:, 1])
            elif activation == "softmax":  # p_c (G_c - sum_k p_k G_k), G for at most _G_CHUNK elements at a time
                step = max(1, _G_CHUNK // (c * x))  # whole images
                if step >= n:
                    g = torch.ops.aten._softmax_backward_data(table.gather(2, t.expand(n, c, x)), p, 1, p.dtype)
                else:
                    g, buffer = torch.empty_like(p), p.new_empty(step, c, x)
                    for i in range(0, n, step):
                        j = min(n, i + step)
                        gi = torch.gather(table[i:j], 2, t[i:j].expand(j - i, c, x), out=buffer[: j - i])
                        torch.ops.aten._softmax_backward_data.out(gi, p[i:j], 1, p.dtype, grad_input=g[i:j])
            else:
                g = table.gather(2, t.expand(n, c, x))
        else:  # many classes: the C-fold lookup costs more than a product, two passes and one scatter
            a, b = a.expand(n, c), b.expand(n, c)  # a row per image for the lookups and the batched product
            if activation == "softmax":  # v (p_c (a_c - sum_k p_k a_k - p_t b_t) + [t = c] p_t b_t)
                own_b = b.gather(1, t[:, 0]).mul_(own[:, 0])  # p_t b_t per pixel
                s = torch.baddbmm(own_b.unsqueeze(1), a.unsqueeze(1), p)[:, 0]  # sum_k p_k a_k + p_t b_t
                g = (a.unsqueeze(-1) - s.unsqueeze(1)).mul_(p)
                g.scatter_add_(1, t, own_b.unsqueeze(1))
            else:
                g = a.unsqueeze(-1).expand(n, c, x).contiguous()
                g.scatter_add_(1, t, b.gather(1, t[:, 0]).unsqueeze(1))
        if valid is not None:
            g.mul_(valid)
        return g


# A batched product sums each run of products one after another in ways that depend on the BLAS: on runs of 2048
# it was as accurate as torch.sum's pairwise sum (1e-7 relative, float32), twice as far off on runs of 8192, and
# 5.6e-5 over 2^20 probabilities near 1 in one run (tests/losses/test_soft_counts.py).
_RUN = 2048


@functools.lru_cache(maxsize=64)
def _runs(width: int) -> tuple[int, int]:
    """``(m, w)``: :func:`_binary_sums` sums a row of ``width`` pixels in runs of ``m``, over the row padded to
    ``w``: the largest divisor of ``width`` in [512, 2048] with no padding, or runs of 1024 and a padded tail."""
    if width <= _RUN:
        return width, width
    for m in range(_RUN, 511, -1):
        if width % m == 0:
            return m, width
    return 1024, -(-width // 1024) * 1024


def _exact_products(x: Tensor) -> bool:
    """Whether a matrix product of ``x``'s dtype on its device runs in that precision: float64, or float32 on the
    CPU with the matmul precision left at "highest" (a reduced one multiplies in bfloat16 or TF32)."""
    if x.dtype == torch.float64:
        return True
    if x.device.type != "cpu":
        return False
    try:
        return torch.get_float32_matmul_precision() == "highest"
    except RuntimeError:  # torch >= 2.9 with the per-backend precision settings: not known to be exact
        return False


def _binary_sums(
    x: Tensor, t: Tensor, valid: Tensor | None, activation: str, check: bool = True
) -> tuple[Tensor, Tensor, Tensor | None, tuple[Tensor, Tensor, Tensor]]:
    """One channel: ``p``, ``y`` and ``valid`` as ``(N, K, M)`` runs of ``M`` pixels, and ``(|p|, tp, |y|)`` per
    image ``(N, 1)``, from logits or probabilities ``x`` and 0/1 labels ``t`` ``(N, 1, X)``.

    ``p`` and ``y`` are interleaved run by run in one buffer ``(N, K, 2, M)``: one sum gives each run's
    :math:`\\sum p` and :math:`\\sum y`, one batched product its :math:`\\sum p y` and :math:`\\sum y^2`, in four
    passes where separate products and sums take seven. Labels are 0/1 exactly when :math:`\\sum y^2 = \\sum y`
    in every run (:math:`y (y - 1)` is >= 0 for every integer and 0 only at 0 and 1): both sums are exact in
    floating point while below :math:`2^{24}`, and beyond it :math:`\\sum y^2 - \\sum y \\ge (\\sum y^2 - M) / 2`
    is far above the rounding (tested only with ``check``: it reads the sums on the host). Otherwise an
    IndexError "out of bounds" (:func:`segbench._checks.labels_looked_up` turns it into the label check's
    ValueError). A padded tail (logit -inf, label 0) adds nothing. Ignored pixels
    (``valid`` 0) have label 0 and are masked out of ``p``.
    """
    n, _, width = x.shape
    m, padded = _runs(width)
    if padded > width:
        fill = -math.inf if activation == "sigmoid" else 0.0
        x = torch.nn.functional.pad(x, (0, padded - width), value=fill)
        t = torch.nn.functional.pad(t, (0, padded - width))
        valid = None if valid is None else torch.nn.functional.pad(valid, (0, padded - width))
    k = padded // m
    rows = x.new_empty(n, k, 2, m)
    p, y = rows[:, :, 0], rows[:, :, 1]
    if activation == "sigmoid":
        torch.sigmoid(x.view(n, k, m), out=p)
    else:
        p.copy_(x.view(n, k, m))
    y.copy_(t.view(n, k, m))
    if valid is not None:
        valid = valid.view(n, k, m)
        p.mul_(valid)
    sums = rows.sum(-1)  # (N, K, 2): sum p, sum y per run
    if _exact_products(rows):
        flat = rows.view(n * k, 2, m)
        dots = torch.bmm(flat, flat[:, 1:].transpose(1, 2)).view(n, k, 2)  # sum p y, sum y y per run
    else:
        dots = (rows * y.unsqueeze(2)).sum(-1)
    if check and not torch.equal(dots[..., 1], sums[..., 1]):
        raise IndexError("binary label out of bounds: labels must be 0 or 1")
    sums, dots = sums.sum(1), dots.sum(1)
    return p, y, valid, (sums[:, :1], dots[:, :1], sums[:, 1:])


def _binary_grad(activation: str, p: Tensor, y: Tensor, valid: Tensor | None, a: Tensor, b: Tensor) -> Tensor:
    """dL/dx ``(N, 1, K M)`` for one channel from :func:`_binary_sums`' runs and ``a = dL/d|p|``, ``b = dL/dtp``
    ``(N, 1)`` (``(1, 1)`` pooled): :math:`(a + b\\,y)\\,p\\,(1 - p)` through the sigmoid, on the valid pixels."""
    n, k, m = p.shape
    g = p.new_empty(n, 1, k * m)
    runs = g.view(n, k, m)
    torch.mul(y, b.unsqueeze(-1), out=runs).add_(a.unsqueeze(-1))  # 2-3x faster than addcmul's three-way broadcast
    if activation == "sigmoid":
        torch.ops.aten.sigmoid_backward.grad_input(runs, p, grad_input=runs)  # in place: g p (1 - p)
    if valid is not None:
        runs.mul_(valid)
    return g


def _label_bins(own: Tensor, t: Tensor, valid: Tensor | None, c: int) -> tuple[Tensor, Tensor]:
    """Float64 sums of ``own`` ``(N, X)`` and of the valid pixels per (image, label) of ``t`` ``(N, X)``: ``(N, C)``.

    Two float64 ``scatter_add_`` (measured faster in a loss call than one into complex128 bins, whose inputs cost
    a pass of their own to build).
    """
    src = own.to(torch.float64)
    if valid is None:
        weight = torch.ones((), dtype=torch.float64, device=own.device).expand(src.shape)
    else:
        weight = valid.to(torch.float64)
        src = src.mul_(weight)
    zeros = own.new_zeros((own.shape[0], c), dtype=torch.float64)
    return zeros.scatter_add(1, t, src), zeros.scatter_add(1, t, weight)


def differences(
    p_sum: Tensor, tp: Tensor, y_sum: Tensor, per_image: bool, *, check: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """``(tp, |p| - tp, |y| - tp)`` from the sums per (image, class), summed over the batch first unless
    ``per_image``, before clamping at 0. With ``check`` (the one read on the host), raises ValueError when ``|p|`` is
    not finite."""
    if check and not math.isfinite(float(p_sum.detach().sum())):  # NaN anywhere (or +inf under a softmax) reaches all
        raise ValueError(NONFINITE_INPUT)
    if not per_image:  # pooled over the batch: (1, C)
        p_sum, tp, y_sum = p_sum.sum(0, keepdim=True), tp.sum(0, keepdim=True), y_sum.sum(0, keepdim=True)
    return tp, p_sum - tp, y_sum - tp


def _node_inputs(inputs: LossInputs) -> tuple[Tensor, Tensor, Tensor | None, str]:
    """:class:`_LabelCounts`' inputs from a label-map target: ``x`` ``(N, C, X)``, ``t`` and ``valid``
    ``(N, 1, X)``, and the activation."""
    x = inputs.logits
    n, c = x.shape[:2]
    t = (inputs.target if inputs.binary_float is None else inputs.binary_float).reshape(n, 1, -1)  # the check's copy
    valid = None if inputs.valid is None else inputs.valid.reshape(n, 1, -1).to(x.dtype)
    activation = "none" if not inputs.from_logits else "softmax" if c > 1 else "sigmoid"
    return x.reshape(n, c, -1), t, valid, activation


def label_counts(inputs: LossInputs, per_image: bool) -> tuple[Tensor, Tensor, Tensor]:
    """:class:`_LabelCounts` on a label-map target: ``(tp, fp, fn)``."""
    with labels_looked_up(inputs):
        tp, fp, fn = _LabelCounts.apply(*_node_inputs(inputs), per_image, None, inputs.validate)
    return tp, fp, fn


def label_count_loss(inputs: LossInputs, per_image: bool, head: CountsHead[Any]) -> Tensor:
    """:class:`_LabelCounts` on a label-map target with a head: ``head``'s loss from the counts, one node."""
    with labels_looked_up(inputs):
        loss: Tensor = _LabelCounts.apply(*_node_inputs(inputs), per_image, head, inputs.validate)
    return loss


class _HeadNode(torch.autograd.Function):
    """A :class:`~segbench.counts.soft.CountsHead` on counts that carry their own autograd graph: one node, the
    head's gradient."""

    @staticmethod
    def forward(ctx: Any, tp: Tensor, fp: Tensor, fn: Tensor, head: CountsHead[Any]) -> Tensor:
        loss, ctx.saved = head(Counts(tp, fp, fn))
        ctx.head = head
        return loss

    @staticmethod
    @_first_order
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        d = ctx.head.grad(ctx.saved, g)
        return d.tp, d.fp, d.fn, None




def head_loss(c: Counts, head: CountsHead[Any]) -> Tensor:
    """``head``'s loss from counts that carry their own autograd graph, as one node (:class:`_HeadNode`)."""
    loss: Tensor = _HeadNode.apply(c.tp, c.fp, c.fn, head)
    return loss
