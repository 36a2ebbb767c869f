"""Count metrics on hard label maps: accuracy, balanced accuracy, precision, recall, specificity, Dice/F1, F-beta,
IoU/Jaccard, Tversky, MCC and Cohen's kappa.

Every metric here is one formula over a confusion matrix. The functions validate their input with
:func:`segbench._checks.check_label_maps`, count with :func:`segbench.counts.confusion_counts`, and score with
:func:`from_confusion`, the same code path as :meth:`segbench.metrics.ConfusionMatrix.score`, so a streamed score
equals a one-shot score exactly.

Shared arguments
    ``pred, target``: hard label maps ``(N, *spatial)`` (int or bool; 2D, 3D or any rank), or ``(N, C, *spatial)``
    0/1 maps with ``multilabel=True``. Floats are rejected: convert logits with
    :func:`segbench.metrics.to_labels` first.

    ``num_classes``: ``None`` means binary input (bool, or labels in {0, 1}); binary input scores the foreground
    class only. With ``num_classes=C`` labels lie in ``[0, C)`` and every class is scored.

    ``average``: ``"macro"`` (mean of per-class scores), ``"micro"`` (score of counts pooled over classes),
    ``"weighted"`` (per-class scores weighted by target support) or ``"none"`` (one value per scored class:
    ``(K,)``, or ``(N, K)`` with ``per_image=True``; K = C, C - 1 without background, 1 for binary input).

    ``include_background``: ``False`` drops class 0 (channel 0 of multilabel maps) from the per-class scores and
    their averages. Statistics of the whole C x C matrix (``accuracy``, ``mcc``, ``cohen_kappa`` with
    ``average="micro"``, and ``balanced_accuracy``) have no classes to select and always use all of them.

    ``ignore_index``: target label whose pixels count nowhere (neither in the target nor the prediction).

    ``per_image``: ``False`` pools the counts of the batch (a dataset-level score); ``True`` scores each image, then
    takes the mean over images (images whose score is undefined are skipped).

    ``empty_score``: the value of an undefined score: a class absent from both target and prediction (for
    specificity, MCC and kappa also one covering every pixel of both). NaN by default: macro, weighted and image
    means skip it (and reports count it as *undefined*). ``1.0`` is the Kaggle convention.

    ``strict_undefined``: the empty-and-miss policy (:func:`segbench.reduction.fail_undefined`, table in
    ``docs/conventions.md``). False (default): only "both empty" is undefined; any other 0/0 is a failure and
    scores 0: precision of a class never predicted but present (a miss), recall of a class predicted but absent (a
    false alarm), MCC and kappa of a constant prediction against a varying reference. So a miss never scores better
    than a partial detection, and false positives on an empty image always count. True keeps the textbook
    "every 0/0 is NaN" (scikit-learn's ``zero_division=nan``), under which a macro mean skips a missed class.

    ``validate``: True (default) checks the label values (range, binary-ness) eagerly; False checks dtypes, shapes
    and devices only and reads no tensor value on the host, so that the whole metric traces as one graph under
    ``torch.compile(fullgraph=True)`` and causes no device-to-host sync (the caller vouches for the labels: binary
    input must then be bool or ``num_classes`` given, labels in range).

Results are float64 tensors on the input's device.

The accuracy paradox, on 10 % foreground predicted as all background:

>>> target = torch.zeros(1, 10, dtype=torch.bool); target[0, 0] = True
>>> pred = torch.zeros(1, 10, dtype=torch.bool)
>>> [round(float(f(pred, target)), 3) for f in (accuracy, iou_score, f1_score, recall, balanced_accuracy)]
[0.9, 0.0, 0.0, 0.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from segbench._checks import check_label_maps, check_positive
from segbench.counts import confusion_counts
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric
from segbench.metrics.count_scores import NAN, canonical_name, from_confusion
from segbench.reduction import Average, check_average

__all__ = [
    "METRICS",
    "accuracy",
    "balanced_accuracy",
    "cohen_kappa",
    "dice_score",
    "f1_score",
    "fbeta_score",
    "from_confusion",
    "get",
    "iou_score",
    "jaccard_index",
    "mcc",
    "names",
    "precision",
    "recall",
    "specificity",
    "tversky_index",
]

CountMetric = Callable[..., Tensor]


def _score(
    metric: str,
    pred: Any,
    target: Any,
    *,
    num_classes: int | None,
    average: Average,
    include_background: bool,
    ignore_index: int | None,
    per_image: bool,
    empty_score: float,
    multilabel: bool,
    strict_undefined: bool = False,
    validate: bool = True,
    **params: float,
) -> Tensor:
    check_average(average)
    lm = check_label_maps(pred, target, num_classes=num_classes, multilabel=multilabel, ignore_index=ignore_index,
                          validate=validate)
    confusion = confusion_counts(lm, per_image=per_image)
    return from_confusion(
        confusion,
        metric,
        binary=lm.binary,
        multilabel=lm.multilabel,
        average=average,
        include_background=include_background,
        per_image=per_image,
        empty_score=empty_score,
        strict_undefined=strict_undefined,
        **params,
    )


def accuracy(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "micro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Pixel accuracy; default: counts pooled over the batch (``per_image=False``), micro average.

    .. math:: \\text{micro: } \\frac{\\operatorname{tr} M}{\\sum_{ij} M_{ij}} \\qquad
              \\text{per class: } \\frac{tp_k + tn_k}{tp_k + fp_k + fn_k + tn_k}

    The default ``average="micro"`` is the global fraction of correctly labelled pixels (scikit-learn's
    ``accuracy_score``, torchmetrics' micro accuracy), the number people mean by "pixel accuracy"; it is the
    statistic whose paradox the imbalance literature warns about. ``"macro"``, ``"weighted"`` and ``"none"`` use
    the one-vs-rest accuracy of each class (MONAI's confusion-matrix ``"accuracy"``); torchmetrics' macro accuracy
    is the mean *recall*, which is :func:`balanced_accuracy` here. Multilabel micro accuracy pools the
    per-channel counts. Returns a scalar, or ``(K,)``/``(N, K)`` for ``average="none"``.

    Cases of one (image, class), per class: both empty 1 (every pixel a true negative); a miss :math:`1 - fn/n`;
    a false alarm :math:`1 - fp/n`; a constant prediction of class k: the share of k in the reference (micro too).
    Never undefined except on an image with no pixel.

    >>> pred, target = torch.tensor([[0, 1, 2, 2]]), torch.tensor([[0, 1, 1, 2]])
    >>> float(accuracy(pred, target, num_classes=3))
    0.75
    >>> accuracy(pred, target, num_classes=3, average="none").tolist()
    [1.0, 0.75, 0.75]
    """
    return _score("accuracy", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def balanced_accuracy(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Balanced accuracy, the mean recall over the classes present in the target (scikit-learn); batch-pooled counts.

    .. math:: BA = \\frac{1}{|K|} \\sum_{k \\in K} \\frac{tp_k}{tp_k + fn_k},\\quad K = \\{k : tp_k + fn_k > 0\\}

    Always over every class, background included, binary input too (there it is the mean of sensitivity and
    specificity, so predicting all background scores 0.5): dropping a class would make it a different statistic,
    which is ``recall(average="macro", include_background=False)``. ``include_background`` therefore only
    selects channels of multilabel maps, each of which is scored as its own binary problem. ``average="none"``
    gives the per-class recalls, ``"micro"`` and ``"weighted"`` equal :func:`accuracy` (as in scikit-learn).
    MONAI's confusion-matrix ``"balanced accuracy"`` is the one-vs-rest (TPR + TNR) / 2 of each class instead.

    Cases, per class (the recall): both empty NaN (left out of K); a miss 0; a false alarm (class predicted, absent
    from the reference) 0 and *counted in K*, where scikit-learn leaves it out with a warning; a constant prediction
    :math:`1/|K|`. ``strict_undefined=True`` gives scikit-learn's :math:`K = \\{k : tp_k + fn_k > 0\\}`.

    >>> pred, target = torch.tensor([[0, 0, 0, 2]]), torch.tensor([[0, 1, 1, 2]])
    >>> float(balanced_accuracy(pred, target, num_classes=3))   # (1 + 0 + 1) / 3
    0.6666666666666666
    """
    return _score("balanced_accuracy", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def precision(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Precision (positive predictive value) per class, then averaged; default: counts pooled over the batch.

    .. math:: P_k = \\frac{tp_k}{tp_k + fp_k}

    Cases of one (image, class): both empty NaN (undefined, or ``empty_score``); a miss (present, never predicted)
    0, where scikit-learn's ``zero_division=nan`` and torchmetrics give NaN or skip it; a false alarm 0; a constant
    prediction of class k: the share of k in the reference (0 for the classes not predicted but present).

    >>> float(precision(torch.tensor([[1, 1, 0, 1]]), torch.tensor([[1, 0, 0, 1]])))   # 2 / 3
    0.6666666666666666
    """
    return _score("precision", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def recall(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Recall (sensitivity, true positive rate) per class, then averaged; default: counts pooled over the batch.

    .. math:: R_k = \\frac{tp_k}{tp_k + fn_k}

    Cases of one (image, class): both empty NaN (undefined, or ``empty_score``); a miss 0; a false alarm (absent from
    the target, predicted) 0, not NaN; a constant prediction of class k: 1 for k, 0 for every other present class.

    >>> float(recall(torch.tensor([[1, 0, 0, 1]]), torch.tensor([[1, 1, 0, 1]])))   # 2 / 3
    0.6666666666666666
    """
    return _score("recall", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def specificity(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Specificity (true negative rate) per class, one-vs-rest, then averaged; default: batch-pooled counts.

    .. math:: S_k = \\frac{tn_k}{tn_k + fp_k}

    Cases of one (image, class): both empty 1 (no false positive among only negatives); a miss 1; a false alarm
    :math:`tn/(tn + fp) < 1`; a constant prediction of class k: 0 for k, 1 for the others. Undefined (NaN) only
    where reference and prediction both cover every pixel with the class; 0 where only the reference does.

    >>> float(specificity(torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 0, 0]])))   # 2 / 3
    0.6666666666666666
    """
    return _score("specificity", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def f1_score(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Dice coefficient, the F1 score (:func:`dice_score` is the same function); default: batch-pooled counts.

    .. math:: D_k = \\frac{2\\,tp_k}{2\\,tp_k + fp_k + fn_k}

    Cases of one (image, class): both empty NaN (undefined; ``empty_score`` otherwise); a miss 0; a false alarm 0;
    a constant prediction of class k: :math:`2q/(1+q)` for k, q its share of the reference, 0 for the others present.
    Macro Dice without background is what most papers report: ``include_background=False``.

    >>> pred, target = torch.tensor([[0, 1, 1, 2]]), torch.tensor([[0, 1, 2, 2]])
    >>> f1_score(pred, target, num_classes=3, average="none").tolist()
    [1.0, 0.6666666666666666, 0.6666666666666666]
    >>> float(dice_score(pred, target, num_classes=3, include_background=False))
    0.6666666666666666
    """
    return _score("dice", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


dice_score = f1_score


def fbeta_score(
    pred: Any,
    target: Any,
    *,
    beta: float = 1.0,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """F-beta score: recall weighs ``beta`` times as much as precision (1: Dice); default: batch-pooled counts.

    .. math:: F_{\\beta,k} = \\frac{(1+\\beta^2)\\,tp_k}{(1+\\beta^2)\\,tp_k + \\beta^2 fn_k + fp_k}

    Cases of one (image, class): both empty NaN (undefined); a miss 0; a false alarm 0; a constant prediction of
    class k: :math:`(1+\\beta^2)q/(\\beta^2 + q)` for k (q its share of the reference), 0 for the others present.

    >>> float(fbeta_score(torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 1, 1]]), beta=2.0))   # 5 / (5 + 4*2 + 1)
    0.35714285714285715
    """
    return _score("fbeta", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate,
                  beta=check_positive(beta, "beta", allow_zero=False))


def iou_score(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Intersection over union, the Jaccard index (:func:`jaccard_index` is the same); default: batch-pooled counts.

    .. math:: J_k = \\frac{tp_k}{tp_k + fp_k + fn_k}

    Cases of one (image, class): both empty NaN, skipped by the means (torchmetrics' ``MeanIoU`` writes -1 there);
    a miss 0; a false alarm 0; a constant prediction of class k: q for k (its share of the reference), 0 for others.

    >>> pred, target = torch.tensor([[0, 1, 1, 2]]), torch.tensor([[0, 1, 2, 2]])
    >>> iou_score(pred, target, num_classes=3, average="none").tolist()
    [1.0, 0.5, 0.5]
    """
    return _score("iou", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


jaccard_index = iou_score


def tversky_index(
    pred: Any,
    target: Any,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    num_classes: int | None = None,
    average: Average = "macro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Tversky index (Salehi et al.): ``alpha`` weighs false positives, ``beta`` false negatives; batch-pooled counts.

    .. math:: T_k = \\frac{tp_k}{tp_k + \\alpha\\,fp_k + \\beta\\,fn_k}

    The defaults ``alpha=0.3, beta=0.7`` are Salehi et al.'s (and the Tversky loss's); ``alpha = beta = 0.5`` is
    Dice, ``alpha = beta = 1`` is IoU. Cases of one (image, class): both empty NaN (undefined); a miss 0; a false
    alarm 0 (also with ``alpha=0``, where the formula is 0/0); a constant prediction of class k:
    :math:`q/(q + \\alpha(1-q))` for k, 0 for the others present.

    >>> pred, target = torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 1, 1]])
    >>> round(float(tversky_index(pred, target)), 6)   # 1 / (1 + 0.3 + 1.4)
    0.37037
    """
    return _score("tversky", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate, alpha=check_positive(alpha, "alpha"),
                  beta=check_positive(beta, "beta"))


def mcc(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "micro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Matthews correlation coefficient; default: counts pooled over the batch (``per_image=False``), micro.

    The default ``average="micro"`` is the multiclass statistic of the whole C x C matrix ``M`` (scikit-learn's
    ``matthews_corrcoef``), with :math:`t = M\\mathbf 1` (target totals), :math:`p = M^\\top \\mathbf 1`
    (prediction totals), :math:`c = \\operatorname{tr} M`, :math:`s = \\sum M`:

    .. math:: MCC = \\frac{c\\,s - t \\cdot p}{\\sqrt{(s^2 - p \\cdot p)(s^2 - t \\cdot t)}}

    ``"macro"``, ``"weighted"`` and ``"none"`` use the one-vs-rest MCC of each class (MONAI's confusion-matrix
    style), :math:`(tp\\,tn - fp\\,fn)/\\sqrt{(tp+fp)(tp+fn)(tn+fp)(tn+fn)}`. For binary input both agree.
    Cases of one (image, class), one-vs-rest: both empty NaN (undefined: also both covering every pixel); a miss 0;
    a false alarm 0; a constant prediction against a varying reference 0, the chance level (scikit-learn agrees,
    with a warning); ``strict_undefined=True`` makes every zero marginal NaN. Micro: 0 for any constant prediction
    or constant reference with an error, NaN only where both are the same constant.

    >>> float(mcc(torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 0, 0]])))   # 2 / sqrt(2 * 2 * 3 * 1)
    0.5773502691896258
    """
    return _score("mcc", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


def cohen_kappa(
    pred: Any,
    target: Any,
    *,
    num_classes: int | None = None,
    average: Average = "micro",
    include_background: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    empty_score: float = NAN,
    multilabel: bool = False,
    strict_undefined: bool = False,
    validate: bool = True,
) -> Tensor:
    """Cohen's kappa, agreement corrected for chance; default: counts pooled over the batch (``per_image=False``).

    The default ``average="micro"`` is the multiclass statistic of the whole matrix (scikit-learn's
    ``cohen_kappa_score``), with observed agreement :math:`p_o = c / s` and chance agreement
    :math:`p_e = t \\cdot p / s^2` (notation of :func:`mcc`):

    .. math:: \\kappa = \\frac{p_o - p_e}{1 - p_e}

    ``"macro"``, ``"weighted"`` and ``"none"`` use the one-vs-rest kappa of each class,
    :math:`2(tp\\,tn - fn\\,fp) / ((tp+fp)(fp+tn) + (tp+fn)(fn+tn))`. Cases as :func:`mcc`: both empty NaN
    (:math:`p_e = 1` with no error); a miss, a false alarm and a constant prediction 0.

    >>> float(cohen_kappa(torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 0, 0]])))   # (3/4 - 1/2) / (1 - 1/2)
    0.5
    """
    return _score("cohen_kappa", pred, target, num_classes=num_classes, average=average,
                  include_background=include_background, ignore_index=ignore_index, per_image=per_image,
                  empty_score=empty_score, multilabel=multilabel,
                  strict_undefined=strict_undefined, validate=validate)


METRICS: dict[str, CountMetric] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "precision": precision,
    "recall": recall,
    "specificity": specificity,
    "dice": f1_score,
    "iou": iou_score,
    "tversky": tversky_index,
    "fbeta": fbeta_score,
    "mcc": mcc,
    "cohen_kappa": cohen_kappa,
}
"""The count metrics by formula name (the names :func:`from_confusion` takes): every one takes
``(pred, target, **shared arguments)`` with the library's defaults. The names under which the tables score them
are the metric catalogue's (:mod:`segbench.metrics.catalogue`, registered at the end of this module)."""


def names() -> list[str]:
    """The count-metric formula names, the keys of :data:`METRICS` (aliases such as ``"f1"`` resolve too).

    >>> names()[:3]
    ['accuracy', 'balanced_accuracy', 'precision']
    """
    return list(METRICS)


def get(name: str) -> CountMetric:
    """The count metric registered as ``name`` (or an alias: ``f1``, ``jaccard``, ...).

    >>> get("f1") is f1_score
    True
    """
    return METRICS[canonical_name(name)]


# ---- the catalogue entries of the count metrics: one confusion matrix per image, shared by all of them --------


def _per_image_confusion(inputs: ScoringInputs) -> Tensor:
    """``(N, C, C)`` confusion matrices of the scoring call, counted once for every count metric."""

    def count() -> Tensor:
        lm = check_label_maps(inputs.pred, inputs.target, num_classes=inputs.num_classes,
                              ignore_index=inputs.ignore_index)
        return confusion_counts(lm)

    return inputs.shared("confusion", count)


def _per_class(metric: str, **params: float) -> tuple[Callable[[ScoringInputs], Tensor], Callable[[Tensor], Tensor]]:
    """The per-image ``(N, C)`` and pooled ``(C,)`` routes of a one-vs-rest count metric."""
    extra: dict[str, Any] = dict(params)

    def per_image(inputs: ScoringInputs) -> Tensor:
        return from_confusion(_per_image_confusion(inputs), metric, average="none", per_image=True, **extra)

    def pooled(confusion: Tensor) -> Tensor:
        return from_confusion(confusion, metric, average="none", **extra)

    return per_image, pooled


def _whole(metric: str, average: Average) -> tuple[Callable[[ScoringInputs], Tensor], Callable[[Tensor], Tensor]]:
    """The per-image ``(N,)`` and pooled ``()`` routes of a statistic of all classes at once."""

    def per_image(inputs: ScoringInputs) -> Tensor:
        cm = _per_image_confusion(inputs)
        return torch.stack([from_confusion(m, metric, average=average) for m in cm]) if len(cm) else \
            torch.zeros(0, dtype=torch.float64)

    def pooled(confusion: Tensor) -> Tensor:
        return from_confusion(confusion, metric, average=average)

    return per_image, pooled


def _register(name: str, function: CountMetric, description: str, routes: tuple[Any, Any], **kw: Any) -> None:
    register_metric(MetricEntry(name, function, "count", True, kw.pop("average", "macro"), description,
                                per_image=routes[0], pooled=routes[1], **kw))


_register("pixel_accuracy", accuracy, "share of correctly labelled pixels, all classes at once (trace / total)",
          _whole("accuracy", "micro"), scope="all", average="micro", aliases=("accuracy",), label="pixel_acc")
_register("class_accuracy", partial(accuracy, average="none"),
          "(tp + tn) / (tp + fp + fn + tn) of one class vs the rest (high for any rare class)",
          _per_class("accuracy"), average="none", label="class_acc", both_empty=1.0)
_register("balanced_accuracy", balanced_accuracy,
          "mean recall over the classes present in the target, all classes (binary: (recall + specificity) / 2)",
          _whole("balanced_accuracy", "macro"), scope="all", label="bal_acc")
_register("precision", precision, "tp / (tp + fp)", _per_class("precision"))
_register("recall", recall, "tp / (tp + fn), sensitivity", _per_class("recall"), aliases=("sensitivity",))
_register("specificity", specificity, "tn / (tn + fp)", _per_class("specificity"), both_empty=1.0)
_register("dice", f1_score, "2 tp / (2 tp + fp + fn), F1", _per_class("dice"),
          aliases=("f1", "f1_score", "dice_score"))
_register("iou", iou_score, "tp / (tp + fp + fn), Jaccard index", _per_class("iou"),
          aliases=("jaccard", "jaccard_index", "iou_score"))
_register("fbeta", partial(fbeta_score, beta=2.0),
          "F-beta at beta = 2 (F2): 5 tp / (5 tp + 4 fn + fp), recall weighted over precision",
          _per_class("fbeta", beta=2.0), aliases=("fbeta_score", "f2"), label="f2", default=False)
_register("tversky", tversky_index,
          "Tversky index at alpha = 0.3 (false positives), beta = 0.7 (false negatives): tp / (tp + 0.3 fp + 0.7 fn)",
          _per_class("tversky", alpha=0.3, beta=0.7), aliases=("tversky_index",), label="tversky(.3,.7)",
          default=False)
_register("mcc", mcc, "Matthews correlation coefficient of one class vs the rest", _per_class("mcc"),
          value_range=(-1.0, 1.0))
_register("cohen_kappa", cohen_kappa, "Cohen's kappa of one class vs the rest", _per_class("cohen_kappa"),
          aliases=("kappa",), value_range=(-1.0, 1.0))
