"""Every input check of segbench, and the preparation of losses' and metrics' inputs.

Each check raises :class:`TypeError` (wrong kind of tensor) or :class:`ValueError` (wrong shape or values) with a
message that says what was expected and what was got. Nothing here uses ``assert``.

Two entry points:

* :func:`check_label_maps` for metrics: hard label maps ``(N, *spatial)`` (``(N, C, *spatial)`` 0/1 maps when
  ``multilabel=True``).
* :func:`check_loss_inputs` for losses: logits or probabilities ``(N, C, *spatial)`` with an integer label map
  ``(N, *spatial)`` or a dense ``(N, C, *spatial)`` target.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

Mode = Literal["binary", "multiclass", "multilabel"]

__all__ = [
    "LabelMaps",
    "LossInputs",
    "as_tensor",
    "check_class_weights",
    "check_label_maps",
    "check_loss_inputs",
    "check_positive",
    "check_probability",
    "check_probability_inputs",
]


def as_tensor(x: Any, name: str) -> Tensor:
    """Return ``x`` as a tensor (numpy arrays are wrapped without a copy); reject anything else."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _check_nonempty(t: Tensor, name: str) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {_shape(t)}); expected at least one image and one pixel")


def _is_integer(t: Tensor) -> bool:
    return t.dtype == torch.bool or not (t.dtype.is_floating_point or t.dtype.is_complex)


def _label_range(t: Tensor, valid: Tensor | None) -> tuple[int, int]:
    """Min and max label of ``t`` over the valid pixels, in one pass over the data."""
    vals = t if valid is None else t[valid]
    if vals.numel() == 0:
        return 0, 0
    lo, hi = torch.aminmax(vals)
    return int(lo), int(hi)


def _binary_floats(t: Tensor, dtype: torch.dtype) -> tuple[Tensor, int, int]:
    """A binary label map ``(N, *spatial)`` as floats ``(N, 1, *spatial)``, and its lowest and highest label, read
    off the copy (half the bytes of an int64 map to scan; integers outside {0, 1} stay outside [0, 1] as floats)."""
    y = t.unsqueeze(1).to(dtype)
    lo, hi = torch.aminmax(y)
    return y, int(lo), int(hi)


@dataclass(frozen=True)
class LabelMaps:
    """Validated hard label maps, ready to count.

    ``pred`` and ``target`` are ``int64`` (their own dtype with ``check_label_maps(..., to_long=False)``) with
    equal shapes: ``(N, *spatial)``, or ``(N, C, *spatial)`` 0/1 maps when ``multilabel``. Ignored pixels
    (``valid == False``) hold label 0 in both, so they can be indexed safely; every count must still exclude
    them through ``valid``.
    """

    pred: Tensor
    target: Tensor
    num_classes: int
    binary: bool
    multilabel: bool
    valid: Tensor | None
    validate: bool = True  # False: labels were not read (check_label_maps(validate=False)); count without a sync

    @property
    def spatial_ndim(self) -> int:
        return self.target.ndim - (2 if self.multilabel else 1)


def check_label_maps(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    multilabel: bool = False,
    ignore_index: int | None = None,
    to_long: bool = True,
    validate: bool = True,
) -> LabelMaps:
    """Validate a pair of hard label maps for a metric.

    Binary input is a bool map, or labels in {0, 1} with ``num_classes=None``; it scores the foreground class.
    With ``num_classes=C`` labels must lie in ``[0, C)`` (except ``ignore_index`` in the target).

    Fast path: bool maps are 0/1 by type and are not scanned for their range, and ``to_long=False`` keeps each
    map in its own dtype (no ``int64`` copies; for callers that only compare labels, such as the distance
    metrics). The checks and messages are the same either way.

    ``validate=False`` checks dtypes, shapes and devices only and reads no label on the host (so that the counting
    compiles with ``torch.compile(fullgraph=True)``): labels are taken to lie in ``[0, num_classes)``, or in {0, 1}
    with ``num_classes=None``; out-of-range labels then give undefined counts.

    >>> lm = check_label_maps(torch.tensor([[0, 1]]), torch.tensor([[1, 1]]))
    >>> lm.binary, lm.num_classes
    (True, 2)
    >>> check_label_maps(torch.rand(1, 4), torch.ones(1, 4, dtype=torch.long))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: metrics take hard label maps, but pred is floating point (torch.float32)...
    """
    pred = as_tensor(pred, "pred")
    target = as_tensor(target, "target")
    for name, t in (("pred", pred), ("target", target)):
        if not _is_integer(t):
            hint = (
                "; convert logits or probabilities first with segbench.metrics.to_labels(logits)"
                if name == "pred"
                else "; pass an integer or bool label map"
            )
            raise TypeError(f"metrics take hard label maps, but {name} is floating point ({t.dtype}){hint}")
        _check_nonempty(t, name)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {_shape(pred)} and target {_shape(target)}"
        )
    min_ndim = 3 if multilabel else 2
    if pred.ndim < min_ndim:
        layout = "(N, C, *spatial)" if multilabel else "(N, *spatial)"
        raise ValueError(
            f"label maps need a leading batch axis, {layout}; got shape {_shape(pred)} "
            "(add one with x[None] for a single image)"
        )
    if pred.device != target.device:
        raise ValueError(f"pred is on {pred.device} but target on {target.device}")
    valid: Tensor | None = None
    if ignore_index is not None:
        if multilabel:
            raise ValueError("ignore_index is not defined for multilabel maps (each channel is a 0/1 map)")
        valid = target != ignore_index
    binary_input = pred.dtype == torch.bool and target.dtype == torch.bool
    bool_or_trusted = (0, 1) if num_classes is None or multilabel else (0, num_classes - 1)
    p_lo, p_hi = (0, 1) if pred.dtype == torch.bool else bool_or_trusted if not validate else _label_range(pred, valid)
    t_lo, t_hi = (0, 1) if target.dtype == torch.bool else bool_or_trusted if not validate else _label_range(
        target, valid
    )
    lo, hi = min(p_lo, t_lo), max(p_hi, t_hi)
    if lo < 0:
        raise ValueError(f"labels must be >= 0, got {lo}" + ("" if ignore_index is None else
                         f" (ignore_index={ignore_index} is excluded from this check in the target only)"))
    if multilabel:
        if hi > 1:
            raise ValueError(f"multilabel maps must hold 0/1 values per channel, got a value {hi}")
        c = pred.shape[1]
        if num_classes is not None and num_classes != c:
            raise ValueError(f"num_classes={num_classes} but the multilabel maps have {c} channels")
        if not to_long:
            return LabelMaps(pred, target, c, False, True, None, validate)
        return LabelMaps(pred.long(), target.long(), c, False, True, None, validate)
    if num_classes is None:
        if hi > 1:
            raise ValueError(
                f"labels up to {hi} found but num_classes was not given; pass num_classes "
                "(binary input must be bool or hold only 0 and 1)"
            )
        binary, n_cls = True, 2
    else:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background included), got {num_classes}")
        if hi >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}), got a label {hi}")
        binary, n_cls = binary_input and num_classes == 2, num_classes
    pred_l, target_l = (pred.long(), target.long()) if to_long else (pred, target)
    if valid is not None:
        pred_l = torch.where(valid, pred_l, torch.zeros((), dtype=pred_l.dtype, device=pred.device))
        target_l = torch.where(valid, target_l, torch.zeros((), dtype=target_l.dtype, device=pred.device))
    return LabelMaps(pred_l, target_l, n_cls, binary, False, valid, validate)


@dataclass(frozen=True)
class LossInputs:
    """Validated loss inputs.

    ``logits`` is the raw input (logits, or probabilities when ``from_logits=False``), ``(N, C, *spatial)``.
    ``target`` is an ``int64`` label map ``(N, *spatial)`` (ignored pixels set to 0) when ``dense`` is False,
    otherwise a float tensor of the input's shape. ``valid`` is a bool ``(N, *spatial)`` mask or None.
    """

    logits: Tensor
    target: Tensor
    dense: bool
    valid: Tensor | None
    mode: Mode
    from_logits: bool
    binary_float: Tensor | None = None  # binary label map as input-dtype floats (N, 1, *spatial), made by the check
    ignore_index: int | None = None
    labels_unchecked: bool = False  # labels left to the caller (check_labels=False): see check_loss_inputs
    validate: bool = True  # False: no value is checked or read on the host (check_loss_inputs(validate=False))

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])

    def probs(self) -> Tensor:
        """Probabilities ``(N, C, *spatial)``: sigmoid (binary, multilabel) or softmax over C (multiclass)."""
        if not self.from_logits:
            return self.logits
        if self.mode == "multiclass":
            return self.logits.softmax(dim=1)
        return self.logits.sigmoid()

    def dense_target(self) -> Tensor:
        """The target as a float ``(N, C, *spatial)`` tensor (one-hot for label maps; materialises it)."""
        if self.dense:
            return self.target
        if self.mode == "binary":
            if self.binary_float is not None:
                return self.binary_float
            if not self.labels_unchecked or not self.validate:  # checked (or not to be): a plain copy
                return self.target.unsqueeze(1).to(self.logits.dtype)
            y, lo, hi = _binary_floats(self.target, self.logits.dtype)
            if lo < 0 or hi > 1:
                raise self.label_error()
            return y
        onehot = torch.nn.functional.one_hot(self.target, self.num_classes)
        return onehot.movedim(-1, 1).to(self.logits.dtype)

    def label_error(self) -> ValueError:
        """The error for label-map labels outside ``[0, C)`` (binary: outside {0, 1}), naming their range."""
        lo, hi = _label_range(self.target, self.valid)
        return _label_error(self.mode, self.num_classes, self.ignore_index, lo, hi)

    def check_labels(self) -> None:
        """Raise :meth:`label_error` when a label-map label lies outside ``[0, C)`` (binary: {0, 1}); reads them."""
        lo, hi = _label_range(self.target, self.valid)
        if lo < 0 or hi >= (2 if self.mode == "binary" else self.num_classes):
            raise _label_error(self.mode, self.num_classes, self.ignore_index, lo, hi)

    def valid_float(self) -> Tensor | None:
        """``valid`` as ``(N, 1, *spatial)`` floats of the input's dtype, or None."""
        return None if self.valid is None else self.valid.unsqueeze(1).to(self.logits.dtype)


NONFINITE_INPUT = "input holds NaN or inf; the loss needs finite logits (or probabilities)"


@contextmanager
def labels_looked_up(li: LossInputs) -> Iterator[None]:
    """Around the code that indexes with labels left unchecked (``li.labels_unchecked``): PyTorch's CPU lookups
    (``gather``, ``F.cross_entropy``) refuse a label outside ``[0, C)``, and that error becomes the ValueError
    :func:`check_loss_inputs` would have raised."""
    try:
        yield
    except (RuntimeError, IndexError) as e:
        if li.labels_unchecked and "out of bounds" in str(e):
            raise li.label_error() from None
        raise


def _label_error(mode: Mode, c: int, ignore_index: int | None, lo: int, hi: int) -> ValueError:
    what = "binary (C=1) targets must be 0 or 1" if mode == "binary" else f"labels must lie in [0, {c})"
    extra = "" if ignore_index is None else f" (ignore_index={ignore_index} excluded)"
    return ValueError(f"{what}{extra}, got labels in [{lo}, {hi}]")


def _target_error(x: Tensor, t: Tensor, multilabel: bool) -> ValueError:
    """The error for a target of none of the accepted forms: what was got, and the forms to pass instead."""
    lm = _shape(x[:, 0])
    forms = (
        f"a dense 0/1 target of the input's shape {_shape(x)} (float, integer or bool)"
        if multilabel
        else f"an integer or bool label map (N, *spatial) = {lm}, the same with a channel axis "
        f"{_shape(x[:, :1])}, or a dense target of the input's shape {_shape(x)} (float one-hot or soft labels, "
        "integer or bool one-hot)"
    )
    return ValueError(f"{'multilabel losses take' if multilabel else 'a loss target must be'} {forms}; "
                      f"got shape {_shape(t)} ({t.dtype})")


def _target_form(x: Tensor, t: Tensor, multilabel: bool) -> tuple[bool, Tensor]:
    """Whether ``t`` is a dense target (True) or a label map (False), and the target in that form: ``(N, 1,
    *spatial)`` label maps lose their channel axis. Decided on shapes and dtypes only (no value is read)."""
    integer = _is_integer(t)
    if t.shape == x.shape:
        if not integer or multilabel or x.shape[1] > 1:
            return True, t
        return False, t[:, 0]  # binary (C == 1): an integer (N, 1, *spatial) map is its own label map
    if multilabel:
        raise _target_error(x, t, multilabel)
    if t.ndim == x.ndim and t.shape[1] == 1 and t.shape[2:] == x.shape[2:] and t.shape[0] == x.shape[0]:
        if not integer:
            raise TypeError(
                f"a {_shape(t)} target with C = {x.shape[1]} classes is read as a label map, which must be an integer "
                f"or bool tensor, got {t.dtype}; pass target.long() (labels), or a dense {_shape(x)} one-hot target"
            )
        return False, t[:, 0]
    if tuple(t.shape) != (x.shape[0], *x.shape[2:]):
        raise _target_error(x, t, multilabel)
    if not integer:
        raise TypeError(
            f"a label-map target must be an integer or bool tensor, got {t.dtype}; pass target.long() (labels in "
            f"[0, C)), or a dense {_shape(x)} target of floats for soft labels"
        )
    return False, t


def check_loss_inputs(
    input: Any,
    target: Any,
    *,
    from_logits: bool = True,
    multilabel: bool = False,
    ignore_index: int | None = None,
    check_finite: bool = True,
    check_labels: bool = True,
    validate: bool = True,
) -> LossInputs:
    """Validate a loss's prediction and target and say which mode they are in.

    ``C == 1`` is binary (sigmoid), ``C >= 2`` multiclass (softmax) unless ``multilabel=True``.

    Targets: an integer or bool label map ``(N, *spatial)``, or the same with a channel axis ``(N, 1, *spatial)``
    (squeezed); or a dense target of the input's shape: float one-hot or soft labels in [0, 1], or an integer or
    bool one-hot (converted to the input's float dtype). Multilabel input takes dense targets only. Any other shape
    or dtype raises, naming what was got and the forms to pass. The form is read off shapes and dtypes alone.

    ``validate=False`` keeps the checks of shapes, dtypes and devices (free: nothing is read from the tensors) and
    skips every check of values: NaN and inf, probabilities in [0, 1], label ranges, dense targets in [0, 1]. No
    tensor value is read on the host, so a loss compiles with ``torch.compile(fullgraph=True)`` and never waits for a
    device; out-of-range labels then give undefined results (an index error at best).

    ``check_finite=False`` skips the scan of a logit input for NaN and inf; ``check_labels=False`` skips the range
    check of binary labels, and of multiclass labels on the CPU (``labels_unchecked`` says so), for callers whose
    own computation raises on them, then raises :meth:`LossInputs.label_error`: :func:`segbench.counts.soft_counts`
    (its ``gather`` bounds-checks every multiclass label; its binary sums test :math:`\\sum y^2 = \\sum y`), and
    :meth:`LossInputs.dense_target` checks the binary float copy it makes. Multiclass labels elsewhere (CUDA
    asserts on the device instead of raising) are checked.

    >>> li = check_loss_inputs(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    >>> li.mode, li.dense
    ('multiclass', False)
    >>> check_loss_inputs(torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4, dtype=torch.uint8)).target.shape
    torch.Size([2, 4, 4])
    >>> check_loss_inputs(torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 5, dtype=torch.long))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a loss target must be ...; got shape (2, 5, 5) (torch.int64)
    """
    x = as_tensor(input, "input")
    t = as_tensor(target, "target")
    if not x.dtype.is_floating_point:
        raise TypeError(f"loss input must be floating-point logits or probabilities, got {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"loss input must have shape (N, C, *spatial) with at least one spatial axis, got {_shape(x)}")
    _check_nonempty(x, "input")
    _check_nonempty(t, "target")
    if t.device != x.device:
        raise ValueError(f"input is on {x.device} but target on {t.device}")
    c = x.shape[1]
    mode: Mode = "multilabel" if multilabel else ("binary" if c == 1 else "multiclass")
    dense, t = _target_form(x, t, multilabel)
    if dense and ignore_index is not None:
        raise ValueError(
            "ignore_index applies to integer label-map targets; got a dense target of the input's shape "
            "(drop ignore_index, or pass a label map)"
        )
    if validate:
        _check_values(x, t if dense else None, from_logits=from_logits, multiclass=mode == "multiclass",
                      check_finite=check_finite)
    if dense:
        return LossInputs(x, t.to(x.dtype), True, None, mode, from_logits, validate=validate)
    valid = None if ignore_index is None else t != ignore_index
    n_labels = 2 if mode == "binary" else c
    binary_float = None
    unchecked = not validate or (not check_labels and (mode == "binary" or x.device.type == "cpu"))
    if mode == "binary" and valid is None and not unchecked:  # check the float copy binary losses use: half the bytes
        binary_float, t_lo, t_hi = _binary_floats(t, x.dtype)
    else:
        t_lo, t_hi = (0, 0) if unchecked else _label_range(t, valid)
    if t_lo < 0 or t_hi >= n_labels:
        raise _label_error(mode, c, ignore_index, t_lo, t_hi)
    tl = t.long()
    if valid is not None:
        tl = torch.where(valid, tl, torch.zeros((), dtype=torch.long, device=tl.device))
    return LossInputs(x, tl, False, valid, mode, from_logits, binary_float, ignore_index, unchecked, validate)


SUM_TOLERANCE = 1e-3 + 1e-5  # torch.allclose(sums, 1, atol=1e-3) with its default rtol


def _check_values(x: Tensor, dense: Tensor | None, *, from_logits: bool, multiclass: bool, check_finite: bool) -> None:
    """The checks of a loss's values (each reads the tensors on the host): finite input, probabilities in [0, 1]
    (summing to 1 over classes for a softmax), a dense target in [0, 1]."""
    if check_finite or not from_logits:
        x_lo, x_hi = torch.aminmax(x.detach())  # one pass; NaN propagates into both, inf shows at an end
        if not bool(torch.isfinite(x_lo) & torch.isfinite(x_hi)):
            raise ValueError(NONFINITE_INPUT)
        if not from_logits:
            if float(x_lo) < 0 or float(x_hi) > 1:
                raise ValueError(
                    f"from_logits=False expects probabilities in [0, 1], got values in [{float(x_lo):.4g}, "
                    f"{float(x_hi):.4g}]"
                )
            if multiclass:
                s_lo, s_hi = torch.aminmax(x.detach().sum(1))  # |sum - 1| <= 1e-3 (+ allclose's rtol), one pass
                if float(s_lo) < 1 - SUM_TOLERANCE or float(s_hi) > 1 + SUM_TOLERANCE:
                    raise ValueError("from_logits=False with C >= 2 expects probabilities that sum to 1 over axis 1")
    if dense is not None:
        lo, hi = torch.aminmax(dense.detach() if dense.dtype != torch.bool else dense.to(torch.uint8))
        if float(lo) < 0 or float(hi) > 1:
            raise ValueError(f"a dense target must hold values in [0, 1], got [{float(lo):.4g}, {float(hi):.4g}]")


def check_class_weights(weights: Any, num_classes: int, *, validate: bool = True) -> Tensor | None:
    """Validate per-class weights (non-negative, one per channel, not all zero); their scale never matters.

    Weights given as numbers (a list or tuple, as the loss modules store them) are checked in Python; a tensor of
    weights is checked on its values unless ``validate=False`` (which reads nothing on the host).
    """
    if weights is None:
        return None
    if isinstance(weights, Tensor):
        w = weights.detach().to(torch.float64).flatten()
        values = None
    else:
        seq = weights if isinstance(weights, (list, tuple)) else np.asarray(weights, dtype=np.float64).ravel().tolist()
        values = [float(v) for v in seq]
        w = torch.tensor(values, dtype=torch.float64)
    if w.numel() != num_classes:
        raise ValueError(f"class weights need one value per class ({num_classes}), got {w.numel()}")
    if values is not None:
        bad = not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0
    elif validate:
        bad = not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0
    else:
        bad = False
    if bad:
        raise ValueError(f"class weights must be finite, >= 0 and not all zero, got {w.tolist()}")
    return w


def check_positive(value: float, name: str, *, allow_zero: bool = True) -> float:
    """Reject negative (or zero, where not allowed) hyper-parameters with a message naming them."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


def check_probability(value: float, name: str) -> float:
    """Reject values outside [0, 1] with a message naming them."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return float(value)


def check_probability_inputs(
    input: Any,
    target: Any,
    *,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
) -> LossInputs:
    """Validate the inputs of a probability metric (calibration, threshold-free scores): probabilities (or logits
    with ``from_logits=True``) ``(N, C, *spatial)`` and a hard target.

    The checks of :func:`check_loss_inputs` (finite values, probabilities in [0, 1] that sum to 1 over C for
    multiclass, shapes, label range, ``ignore_index``), plus: the target must be hard. Binary (C == 1) and
    multiclass inputs take an integer label map ``(N, *spatial)``; multilabel inputs a 0/1 map of the input's
    shape. Soft (dense float) targets are rejected: a calibration score counts how often a label occurs.

    Args:
        input: probabilities (or logits) ``(N, C, *spatial)``.
        target: label map ``(N, *spatial)``; multilabel: 0/1 map of the input's shape.
        from_logits: ``input`` holds logits (no range or sum check).
        multilabel: one independent sigmoid per channel.
        ignore_index: target label excluded from the label-range check (its pixels get ``valid == False``).

    >>> li = check_probability_inputs(torch.full((1, 1, 2), 0.5), torch.tensor([[0, 1]]))
    >>> li.mode, li.probs().tolist()
    ('binary', [[[0.5, 0.5]]])
    >>> check_probability_inputs(torch.full((1, 3, 2), 0.5), torch.tensor([[0, 1]]))
    Traceback (most recent call last):
    ...
    ValueError: from_logits=False with C >= 2 expects probabilities that sum to 1 over axis 1
    """
    t = as_tensor(target, "target")
    if t.dtype.is_floating_point and not multilabel:
        raise TypeError(
            "probability metrics take a hard integer label map (N, *spatial) as target for binary (C == 1) and "
            f"multiclass input, got a floating-point target ({t.dtype}, shape {_shape(t)})"
        )
    li = check_loss_inputs(input, t, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index)
    if li.dense and li.mode == "multiclass":  # losses take integer one-hot targets; these metrics count labels
        raise ValueError(
            f"probability metrics take a label map (N, *spatial) as target for multiclass input, got a one-hot of the "
            f"input's shape {_shape(t)}; pass target.argmax(1)"
        )
    if li.dense:
        tf = li.target
        if not bool(((tf == 0) | (tf == 1)).all()):
            raise ValueError("a multilabel target must hold 0/1 values only (soft targets are not counted)")
    return li
