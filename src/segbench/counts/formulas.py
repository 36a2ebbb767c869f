"""The score formulas over counts, written once: Dice, Jaccard, Tversky, F-beta, precision, recall, specificity and
one-vs-rest accuracy, each a ratio of :class:`Counts` (soft or hard).

A ratio whose numerator and denominator are both 0 is NaN (undefined): callers decide what to do with it.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = [
    "Counts",
    "accuracy_formula",
    "dice_formula",
    "fbeta_formula",
    "jaccard_formula",
    "precision_formula",
    "recall_formula",
    "specificity_formula",
    "tversky_formula",
]


class Counts(NamedTuple):
    """``tp, fp, fn, tn``, each ``(N, C)`` (or reduced); ``tn`` is None for soft counts."""

    tp: Tensor
    fp: Tensor
    fn: Tensor
    tn: Tensor | None = None


def tversky_formula(c: Counts, alpha: float, beta: float, smooth: float = 0.0) -> Tensor:
    """Tversky index (Salehi et al. 2017): ``alpha`` weights false positives, ``beta`` false negatives.

    .. math:: T = \\frac{tp + s}{tp + \\alpha\\,fp + \\beta\\,fn + s}

    ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` is Jaccard. 0/0 is NaN.

    Args:
        c: the counts (``tp, fp, fn``; ``tn`` is not used).
        alpha: the weight of the false positives.
        beta: the weight of the false negatives.
        smooth: ``s``, added to numerator and denominator (0: the textbook ratio).

    >>> import torch
    >>> float(tversky_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.)), 0.5, 0.5))
    0.5
    """
    return (c.tp + smooth) / (c.tp + alpha * c.fp + beta * c.fn + smooth)


def dice_formula(c: Counts, smooth: float = 0.0) -> Tensor:
    """Dice / F1: :math:`D = (2tp + s) / (2tp + fp + fn + s)`.

    Args:
        c: the counts (``tp, fp, fn``).
        smooth: ``s``, added to numerator and denominator (0: the textbook ratio).

    >>> import torch
    >>> float(dice_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.))))
    0.5
    """
    return (2 * c.tp + smooth) / (2 * c.tp + c.fp + c.fn + smooth)


def jaccard_formula(c: Counts, smooth: float = 0.0) -> Tensor:
    """Jaccard / IoU: :math:`J = (tp + s) / (tp + fp + fn + s)`.

    Args:
        c: the counts (``tp, fp, fn``).
        smooth: ``s``, added to numerator and denominator (0: the textbook ratio).

    >>> import torch
    >>> float(jaccard_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.))))
    0.3333333432674408
    """
    return (c.tp + smooth) / (c.tp + c.fp + c.fn + smooth)


def fbeta_formula(c: Counts, beta: float) -> Tensor:
    """F-beta: :math:`F_\\beta = (1+\\beta^2)\\,tp / ((1+\\beta^2)\\,tp + \\beta^2 fn + fp)`.

    Args:
        c: the counts (``tp, fp, fn``).
        beta: recall is ``beta`` times as important as precision (1: F1).

    >>> import torch
    >>> float(fbeta_formula(Counts(torch.tensor(2.), torch.tensor(1.), torch.tensor(3.)), 1.0))
    0.5
    """
    b2 = beta * beta
    return (1 + b2) * c.tp / ((1 + b2) * c.tp + b2 * c.fn + c.fp)


def precision_formula(c: Counts) -> Tensor:
    """Precision (positive predictive value): :math:`tp / (tp + fp)`.

    Args:
        c: the counts (``tp, fp``).

    >>> import torch
    >>> float(precision_formula(Counts(torch.tensor(3.), torch.tensor(1.), torch.tensor(2.))))
    0.75
    """
    return c.tp / (c.tp + c.fp)


def recall_formula(c: Counts) -> Tensor:
    """Recall (sensitivity, true positive rate): :math:`tp / (tp + fn)`.

    Args:
        c: the counts (``tp, fn``).

    >>> import torch
    >>> float(recall_formula(Counts(torch.tensor(3.), torch.tensor(1.), torch.tensor(1.))))
    0.75
    """
    return c.tp / (c.tp + c.fn)


def specificity_formula(c: Counts) -> Tensor:
    """Specificity (true negative rate): :math:`tn / (tn + fp)`; needs hard counts (``tn``).

    Args:
        c: hard counts (``tn, fp``); soft counts (``tn`` None) raise ValueError.

    >>> import torch
    >>> float(specificity_formula(Counts(torch.tensor(1.), torch.tensor(1.), torch.tensor(0.), torch.tensor(3.))))
    0.75
    """
    if c.tn is None:
        raise ValueError("specificity needs true negatives, which soft counts do not have")
    return c.tn / (c.tn + c.fp)


def accuracy_formula(c: Counts) -> Tensor:
    """One-vs-rest accuracy of a class: :math:`(tp + tn) / (tp + fp + fn + tn)`; needs hard counts.

    Args:
        c: hard counts (``tp, fp, fn, tn``); soft counts (``tn`` None) raise ValueError.

    >>> import torch
    >>> float(accuracy_formula(Counts(torch.tensor(1.), torch.tensor(1.), torch.tensor(0.), torch.tensor(2.))))
    0.75
    """
    if c.tn is None:
        raise ValueError("accuracy needs true negatives, which soft counts do not have")
    return (c.tp + c.tn) / (c.tp + c.fp + c.fn + c.tn)
