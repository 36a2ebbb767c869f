r"""Threshold-free scores of probability maps, per class: pixel-level average precision (area under the
precision-recall curve) and ROC AUC.

Binned and streaming by default: with ``n_bins=R`` the probabilities fall in R + 1 slots
:math:`\lfloor R p \rfloor` (see :mod:`segbench.metrics._probability`) and the curves have their thresholds at the
grid edges :math:`t_j = j/R,\ j = 0..R` (torchmetrics' ``thresholds=R + 1``: the same curve). ``n_bins=None`` is
the exact, sort-based score over every distinct probability (scikit-learn's ``average_precision_score`` and
``roc_auc_score``). The binned scores equal the exact ones of the probabilities rounded down to the grid.

Inputs, ``ignore_index``, ``per_image``, ``average`` and ``include_background`` as in
:mod:`segbench.metrics.calibration`; every channel k is scored as a binary problem (confidence :math:`p_k`, truth
:math:`1[y = k]`): binary input (C == 1) scores the foreground channel.

Edge cases
    AP ranks the positives: a channel with no positive pixel in the reference has no precision-recall curve, so
    its AP is undefined (NaN; macro and image means skip it and it should be counted as undefined), whatever the
    probabilities; its false alarms are what the calibration scores (class-wise ECE, Brier, NLL) measure.
    ROC AUC is likewise NaN when the positives or the negatives are absent. (torchmetrics returns 0 for AP without
    positives; scikit-learn warns and returns 0 for AP and NaN for AUC: see docs/calibration.md.)

>>> p = torch.tensor([[[0.1, 0.4, 0.35, 0.8]]], dtype=torch.float64)
>>> y = torch.tensor([[0, 0, 1, 1]])
>>> float(average_precision(p, y, n_bins=None))       # thresholds .8: P=1, R=1/2; .35: P=2/3, R=1
0.8333333333333333
>>> float(roc_auc(p, y, n_bins=None))                 # 3 of the 4 (positive, negative) pairs ordered right
0.75
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from segbench._docs import document_args
from segbench.metrics._probability import (
    PROBABILITY_ARGS,
    average_precision_from_atoms,
    check_bins,
    exact_atoms,
    prepare,
    reduce_classes,
    roc_auc_from_atoms,
    rows,
)
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric
from segbench.metrics.probability_stream import (
    SCORING_BINS,
    SCORING_SUBDIVISIONS,
    class_columns,
    filled_histogram,
    pooled_score,
    scoring_histogram,
)

__all__ = ["average_precision", "roc_auc"]

_ARGS = {
    **PROBABILITY_ARGS,
    "n_bins": "the grid R (thresholds :math:`j/R`), or ``None`` for the exact sort-based score.",
    "average": '``"macro"`` (NaN-skipping mean over channels) or ``"none"`` (``(K,)``; ``(N, K)`` per image).',
    "include_background": "``False`` leaves out channel 0 of multiclass and multilabel input.",
}


def _score(input: Any, target: Any, which: str, *, n_bins: int | None, from_logits: bool, multilabel: bool,
           ignore_index: int | None, per_image: bool, average: str, include_background: bool) -> Tensor:
    if n_bins is not None:
        h = filled_histogram(input, target, check_bins(n_bins, "n_bins"), from_logits=from_logits,
                             multilabel=multilabel, ignore_index=ignore_index, per_image=per_image)
        method = h.average_precision if which == "ap" else h.roc_auc
        return method(per_image=per_image, average=average, include_background=include_background)
    prep = prepare(input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index)
    formula = average_precision_from_atoms if which == "ap" else roc_auc_from_atoms
    value = torch.stack([torch.stack([formula(exact_atoms(v, h)[1]) for v, h in row])
                         for row in rows(prep, "class-wise", per_image)])
    classes = None if include_background or prep.mode == "binary" else torch.arange(1, prep.channels)
    return reduce_classes(value, average=average, per_image=per_image, classes=classes)


@document_args(_ARGS)
def average_precision(
    input: Any,
    target: Any,
    *,
    n_bins: int | None = 1000,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
    average: str = "macro",
    include_background: bool = True,
) -> Tensor:
    r"""Pixel-level average precision (step-wise area under the PR curve); default: batch-pooled pixels, macro.

    .. math:: \mathrm{AP} = \sum_n (R_n - R_{n-1})\,P_n

    over the thresholds in decreasing order (precision :math:`P_n` and recall :math:`R_n` of the pixels with
    :math:`p_k \ge t_n`). Range [0, 1]; a random ranking scores the positives' prevalence. NaN for a channel with
    no positive pixel.

    >>> p = torch.tensor([[[0.1, 0.4, 0.35, 0.8]]])
    >>> float(average_precision(p, torch.tensor([[0, 0, 1, 1]]), n_bins=2))   # thresholds 0, .5, 1
    0.75
    """
    return _score(input, target, "ap", n_bins=n_bins, from_logits=from_logits, multilabel=multilabel,
                  ignore_index=ignore_index, per_image=per_image, average=average,
                  include_background=include_background)


@document_args(_ARGS)
def roc_auc(
    input: Any,
    target: Any,
    *,
    n_bins: int | None = 1000,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
    average: str = "macro",
    include_background: bool = True,
) -> Tensor:
    r"""Pixel-level ROC AUC per class (trapezoid rule, ties count half); default: batch-pooled pixels, macro.

    .. math:: \mathrm{AUC} = \frac{1}{PN}\sum_{i:\,y_i = 1}\sum_{j:\,y_j = 0}
              \Big(1[p_i > p_j] + \tfrac12\,1[p_i = p_j]\Big)

    (binned: equal slots count as equal). Range [0, 1]; 0.5 for a constant or random prediction. NaN for a
    channel whose positives or negatives are absent.

    >>> p = torch.tensor([[[0.1, 0.4, 0.35, 0.8]]])
    >>> float(roc_auc(p, torch.tensor([[0, 0, 1, 1]]), n_bins=4))   # .35 and .4 share [.25, .5): that pair counts 1/2
    0.875
    """
    return _score(input, target, "auc", n_bins=n_bins, from_logits=from_logits, multilabel=multilabel,
                  ignore_index=ignore_index, per_image=per_image, average=average,
                  include_background=include_background)


_GRID = SCORING_BINS * SCORING_SUBDIVISIONS


def _per_class(score: str) -> Callable[[ScoringInputs], Tensor]:
    def per_image(inputs: ScoringInputs) -> Tensor:
        return class_columns(scoring_histogram(inputs).image_values(score), inputs.num_classes)

    return per_image


register_metric(MetricEntry(
    "ap", partial(average_precision, n_bins=_GRID, average="none"), "threshold", True, "none",
    f"pixel average precision sum_n (R_n - R_n-1) P_n of one class vs the rest, at {_GRID} thresholds j/{_GRID}",
    _per_class("ap"), needs="probabilities", label="AP", pooled_histogram=pooled_score("ap")))
register_metric(MetricEntry(
    "auroc", partial(roc_auc, n_bins=_GRID, average="none"), "threshold", True, "none",
    f"pixel ROC AUC of one class vs the rest (trapezoid), at {_GRID} thresholds (background-dominated under "
    "imbalance)", _per_class("auroc"), needs="probabilities", label="AUROC", default=False,
    pooled_histogram=pooled_score("auroc")))
