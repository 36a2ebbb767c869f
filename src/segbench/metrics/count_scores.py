"""Every count metric as one formula over a confusion matrix: :func:`from_confusion`, the one code path of the
functional count metrics (:mod:`segbench.metrics.overlap`) and of :meth:`segbench.metrics.ConfusionMatrix.score`,
so a streamed score equals a one-shot score exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from segbench.counts import (
    Counts,
    accuracy_formula,
    dice_formula,
    fbeta_formula,
    jaccard_formula,
    precision_formula,
    recall_formula,
    specificity_formula,
    stat_scores,
    tversky_formula,
)
from segbench.reduction import Average, aggregate, check_average, fail_undefined, nanmean

__all__ = ["NAN", "canonical_name", "from_confusion"]

NAN = float("nan")


# ---- formulas that exist only for metrics (the shared ones live in segbench.counts) -------------------------------


def _tn(c: Counts) -> Tensor:
    if c.tn is None:
        raise ValueError("this metric needs true negatives, which soft counts do not have")
    return c.tn


def _mcc_formula(c: Counts) -> Tensor:
    """One-vs-rest MCC: (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)); 0/0 (a zero marginal) is NaN."""
    tn = _tn(c)
    den = ((c.tp + c.fp) * (c.tp + c.fn) * (tn + c.fp) * (tn + c.fn)).sqrt()
    return (c.tp * tn - c.fp * c.fn) / den


def _kappa_formula(c: Counts) -> Tensor:
    """One-vs-rest Cohen's kappa: 2 (tp tn - fn fp) / ((tp+fp)(fp+tn) + (tp+fn)(fn+tn))."""
    tn = _tn(c)
    return 2 * (c.tp * tn - c.fn * c.fp) / ((c.tp + c.fp) * (c.fp + tn) + (c.tp + c.fn) * (c.fn + tn))


def _binary_balanced_formula(c: Counts, strict_undefined: bool = False) -> Tensor:
    """Balanced accuracy of one binary channel: the mean of recall and specificity, each under
    :func:`~segbench.reduction.fail_undefined` (recall 0 on a false alarm), skipping one still undefined."""
    r = fail_undefined(recall_formula(c), c.fp, c.fn, strict_undefined=strict_undefined)
    s = fail_undefined(specificity_formula(c), c.fp, c.fn, strict_undefined=strict_undefined)
    return torch.stack([r, s]).nanmean(0)


def _matrix_accuracy(m: Tensor) -> Tensor:
    """trace / total of ``(..., C, C)`` matrices."""
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1) / m.sum((-2, -1))


def _matrix_terms(m: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    t, p = m.sum(-1), m.sum(-2)  # per-class target and prediction totals
    s = m.sum((-2, -1))
    agree = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1) * s - (t * p).sum(-1)
    return agree, s * s - (t * p).sum(-1), s * s - (t * t).sum(-1), s * s - (p * p).sum(-1)


def _matrix_mcc(m: Tensor) -> Tensor:
    """Multiclass MCC (Gorodkin's R_K, as scikit-learn) of ``(..., C, C)`` matrices."""
    agree, _, tt, pp = _matrix_terms(m)
    return agree / (tt * pp).sqrt()


def _matrix_kappa(m: Tensor) -> Tensor:
    """Multiclass Cohen's kappa (p_o - p_e) / (1 - p_e) of ``(..., C, C)`` matrices."""
    agree, chance, _, _ = _matrix_terms(m)
    return agree / chance


@dataclass(frozen=True)
class _Spec:
    formula: Callable[..., Tensor]  # per-class (one-vs-rest) score of Counts
    matrix: Callable[[Tensor], Tensor] | None = None  # statistic of the whole C x C matrix, used for "micro"
    multilabel_formula: Callable[..., Tensor] | None = None  # per-channel score where it differs from `formula`
    all_classes: bool = False  # binary and multiclass input: score every class (balanced accuracy)
    params: tuple[tuple[str, float], ...] = ()  # the metric's own parameters and their defaults


_SPECS: dict[str, _Spec] = {
    "accuracy": _Spec(accuracy_formula, _matrix_accuracy),
    "balanced_accuracy": _Spec(recall_formula, multilabel_formula=_binary_balanced_formula, all_classes=True),
    "precision": _Spec(precision_formula),
    "recall": _Spec(recall_formula),
    "specificity": _Spec(specificity_formula),
    "dice": _Spec(dice_formula),
    "fbeta": _Spec(fbeta_formula, params=(("beta", 1.0),)),
    "iou": _Spec(jaccard_formula),
    "tversky": _Spec(tversky_formula, params=(("alpha", 0.3), ("beta", 0.7))),
    "mcc": _Spec(_mcc_formula, _matrix_mcc),
    "cohen_kappa": _Spec(_kappa_formula, _matrix_kappa),
}
_DEFAULT_AVERAGE = {"accuracy": "micro", "mcc": "micro", "cohen_kappa": "micro"}
_ALIASES = {
    "f1": "dice",
    "f1_score": "dice",
    "dice_score": "dice",
    "jaccard": "iou",
    "jaccard_index": "iou",
    "iou_score": "iou",
    "tversky_index": "tversky",
    "fbeta_score": "fbeta",
    "kappa": "cohen_kappa",
}


def canonical_name(metric: str) -> str:
    """The formula name of a count metric or of its alias (``"f1"`` -> ``"dice"``); ValueError listing the names.

    Args:
        metric: a count-metric name or alias.

    >>> canonical_name("jaccard_index")
    'iou'
    """
    name = _ALIASES.get(metric, metric)
    if name not in _SPECS:
        raise ValueError(
            f"unknown count metric {metric!r}; choose one of {sorted(_SPECS)} (aliases {sorted(_ALIASES)})"
        )
    return name


def _classes(n_classes: int, *, binary: bool, multilabel: bool, include_background: bool, spec: _Spec) -> Tensor | None:
    if binary and not spec.all_classes:
        return torch.tensor([1])
    if include_background or (spec.all_classes and not multilabel):
        return None
    if n_classes < 2:
        raise ValueError(f"include_background=False leaves no class to score (the input has {n_classes} class)")
    return torch.arange(1, n_classes)


def from_confusion(
    confusion: Tensor,
    metric: str,
    *,
    binary: bool = False,
    multilabel: bool = False,
    average: Average | None = None,
    include_background: bool = True,
    per_image: bool = False,
    empty_score: float = NAN,
    strict_undefined: bool = False,
    **params: float,
) -> Tensor:
    """Score a confusion matrix with any count metric: the one code path of every function in this module.

    ``confusion`` holds counts with rows = target class and columns = predicted class: ``(C, C)`` or per image
    ``(N, C, C)``; multilabel ``(C, 2, 2)`` or ``(N, C, 2, 2)``. ``per_image=True`` needs the image axis.
    ``metric`` is a registered name (see :func:`names`), ``average=None`` the metric's default, ``binary=True``
    scores the foreground class of a 2-class matrix as for binary input. ``params`` are the metric's own
    (``beta=1`` for ``"fbeta"``, ``alpha=0.3`` and ``beta=0.7`` for ``"tversky"``, the functions' defaults).

    >>> cm = torch.tensor([[5, 1], [2, 2]])          # rows = target, columns = prediction
    >>> float(from_confusion(cm, "dice", binary=True))   # 2*2 / (2*2 + 1 + 2)
    0.5714285714285714
    >>> float(from_confusion(cm, "accuracy"))            # (5 + 2) / 10
    0.7
    """
    name = canonical_name(metric)
    spec = _SPECS[name]
    avg = check_average(_DEFAULT_AVERAGE.get(name, "macro") if average is None else average)
    defaults = dict(spec.params)
    unknown = set(params) - set(defaults)
    if unknown:
        raise TypeError(f"{name} takes no parameter(s) {sorted(unknown)}; its parameters are {list(defaults)}")
    m = torch.as_tensor(confusion)
    core = 3 if multilabel else 2
    if m.ndim == core and not per_image:
        m = m.unsqueeze(0)
    ok = m.ndim == core + 1 and (m.shape[-2:] == (2, 2) if multilabel else m.shape[-1] == m.shape[-2])
    if not ok:
        want = "(N, C, 2, 2)" if multilabel else "(N, C, C)"
        raise ValueError(
            f"confusion must have shape {want}" + ("" if per_image else " or without the image axis")
            + f", got {tuple(m.shape)}"
        )
    if binary and (multilabel or m.shape[-1] != 2):
        raise ValueError(f"binary=True needs a 2-class matrix, got shape {tuple(m.shape)}")
    n_classes = m.shape[1] if multilabel else m.shape[-1]
    if not per_image:
        m = m.sum(0, keepdim=True)
    if spec.matrix is not None and avg == "micro" and not multilabel:
        m64 = m.to(torch.float64)
        errors = m64.sum((-2, -1)) - torch.diagonal(m64, dim1=-2, dim2=-1).sum(-1)  # off the diagonal
        s = fail_undefined(spec.matrix(m64), errors, torch.zeros_like(errors), strict_undefined=strict_undefined)
        if not math.isnan(empty_score):
            s = torch.where(torch.isnan(s), torch.full_like(s, empty_score), s)
        return nanmean(s, dim=0)
    formula = spec.multilabel_formula if multilabel and spec.multilabel_formula is not None else spec.formula
    if defaults:
        formula = partial(formula, **{**defaults, **params})
    if formula is _binary_balanced_formula:
        formula = partial(formula, strict_undefined=strict_undefined)
    classes = _classes(
        n_classes, binary=binary, multilabel=multilabel, include_background=include_background, spec=spec
    )
    return aggregate(
        stat_scores(m), formula, average=avg, per_image=per_image, classes=classes, empty_score=float(empty_score),
        strict_undefined=strict_undefined,
    )
