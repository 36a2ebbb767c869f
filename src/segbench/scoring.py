r"""Score hard label maps on every metric segbench has, per image and class, as rows of a long table.

This is the one place that turns (prediction, target) label maps into the scores that ``segbench compare``,
``evaluate`` and ``inspect`` write and print. It calls the metric functions of :mod:`segbench.metrics`
(per image, ``average="none"``) so every number is the library's own definition:

* count metrics from one-vs-rest counts ``tp, fp, fn, tn`` of each (image, class): ``accuracy``,
  ``precision``, ``recall``, ``specificity``, ``dice``, ``iou``, ``mcc``, ``cohen_kappa``; and two scores of
  all classes at once, with class ``"all"``: ``pixel_accuracy`` (the share of correctly labelled valid pixels)
  and ``balanced_accuracy`` (scikit-learn's: the mean recall over the classes present in the target);
* distance metrics from voxel-border surfaces: ``hd``, ``hd95`` (larger of the two directed 95th percentiles),
  ``assd``, ``nsd`` (at ``nsd_tolerance``), and ``boundary_iou`` (dilation 1).

Classes scored: binary data (``num_classes == 2`` and ``binary=True``) only the foreground class 1; multiclass
data every class, background included (consumers drop it as they see fit). Undefined scores (empty target and
empty prediction) are NaN; a distance with exactly one side empty is ``inf`` (a miss), never NaN.
Works for 2D ``(N, H, W)`` and 3D ``(N, D, H, W)`` label maps, with ``spacing`` in axis order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from segbench import metrics as _metrics
from segbench._checks import check_label_maps
from segbench.counts import confusion_counts
from segbench.metrics.boundary import boundary_iou
from segbench.metrics.distance import distance_metrics

__all__ = [
    "COUNT_METRICS",
    "DISTANCE_METRICS",
    "METRICS",
    "TRIVIAL_PREDICTORS",
    "MetricInfo",
    "background_index",
    "check_metric_names",
    "pooled_from_confusion",
    "pooled_scores",
    "score_label_maps",
    "trivial_classes",
    "trivial_predictions",
]


@dataclass(frozen=True)
class MetricInfo:
    """A metric's name, direction (``higher_is_better``), family (``"count"`` or ``"distance"``) and meaning."""

    name: str
    higher_is_better: bool
    family: str
    description: str


_INFO = [
    MetricInfo("pixel_accuracy", True, "count", "share of correctly labelled pixels over all classes"),
    MetricInfo("accuracy", True, "count", "(tp + tn) / (tp + fp + fn + tn), one class vs the rest"),
    MetricInfo("balanced_accuracy", True, "count",
               "mean recall over the classes present in the target, all classes (binary: (recall + specificity) / 2)"),
    MetricInfo("precision", True, "count", "tp / (tp + fp)"),
    MetricInfo("recall", True, "count", "tp / (tp + fn), sensitivity"),
    MetricInfo("specificity", True, "count", "tn / (tn + fp)"),
    MetricInfo("dice", True, "count", "2 tp / (2 tp + fp + fn), F1"),
    MetricInfo("iou", True, "count", "tp / (tp + fp + fn), Jaccard index"),
    MetricInfo("mcc", True, "count", "Matthews correlation coefficient of the one-vs-rest maps"),
    MetricInfo("cohen_kappa", True, "count", "Cohen's kappa of the one-vs-rest maps"),
    MetricInfo("hd", False, "distance", "Hausdorff distance: max of the two directed maximum surface distances"),
    MetricInfo("hd95", False, "distance", "95th-percentile Hausdorff: max of the two directed 95th percentiles"),
    MetricInfo("assd", False, "distance", "average symmetric surface distance (both directions pooled)"),
    MetricInfo("nsd", True, "distance", "normalized surface distance (surface Dice) at the tolerance"),
    MetricInfo("boundary_iou", True, "distance", "IoU of the two masks' border bands (Cheng et al. 2021)"),
]
METRICS: dict[str, MetricInfo] = {m.name: m for m in _INFO}
"""Every metric :func:`score_label_maps` computes, in table order."""

COUNT_METRICS = tuple(m.name for m in _INFO if m.family == "count")
DISTANCE_METRICS = tuple(m.name for m in _INFO if m.family == "distance")
TRIVIAL_PREDICTORS = ("all-background", "all-foreground", "majority-class")

_COUNT_FUNCTIONS: dict[str, str] = {  # per-class count metrics: table name -> metrics registry name
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "specificity": "specificity",
    "dice": "dice",
    "iou": "iou",
    "mcc": "mcc",
    "cohen_kappa": "cohen_kappa",
}
_OVERALL = ("pixel_accuracy", "balanced_accuracy")  # scores of all classes at once (class "all")


def check_metric_names(names: Iterable[str] | None) -> list[str]:
    """``names`` validated against :data:`METRICS` (``None``: all of them), in table order.

    >>> check_metric_names(["hd95", "dice"])
    ['dice', 'hd95']
    >>> check_metric_names(["dsc"])
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'dsc'; expected some of: pixel_accuracy, accuracy, balanced_accuracy, \
precision, recall, specificity, dice, iou, mcc, cohen_kappa, hd, hd95, assd, nsd, boundary_iou
    """
    if names is None:
        return list(METRICS)
    wanted = list(names)
    for name in wanted:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; expected some of: {', '.join(METRICS)}")
    return [m for m in METRICS if m in wanted]


def background_index(class_names: Sequence[str]) -> int:
    """The background class: the one named ``background`` (case-insensitive) if any, else class 0.

    >>> background_index(["pet", "background", "border"]), background_index(["bg", "cell"])
    (1, 0)
    """
    lowered = [c.lower() for c in class_names]
    return lowered.index("background") if "background" in lowered else 0


def _as_labels(x: Any, name: str) -> Tensor:
    t = torch.as_tensor(x)
    if t.is_floating_point():
        raise TypeError(f"{name} must be an integer label map, got {t.dtype}")
    return t.long()


def _scored_classes(num_classes: int, binary: bool) -> list[int]:
    return [1] if binary else list(range(num_classes))


def _confusion(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None) -> Tensor:
    """Per-image confusion matrices ``(N, C, C)``, counted once and shared by every count metric."""
    lm = check_label_maps(pred, target, num_classes=num_classes, ignore_index=ignore_index)
    return confusion_counts(lm)


def _count_table(confusion: Tensor, names: Sequence[str], per_image: bool) -> dict[str, Tensor]:
    """Each count metric among ``names`` from the same confusion matrices, via :func:`metrics.from_confusion`.

    Per-class metrics give ``(N, C)`` (or ``(C,)`` pooled); ``pixel_accuracy`` (the global accuracy
    trace / total) and ``balanced_accuracy`` (scikit-learn's mean recall) give ``(N,)`` (or a 0-d value).
    """
    cm = confusion if per_image else confusion.sum(0)

    def whole(metric: str, average: str) -> Tensor:  # a score of all classes at once, per image or pooled
        if not per_image:
            return _metrics.from_confusion(cm, metric, average=average)
        return torch.stack([_metrics.from_confusion(m, metric, average=average) for m in cm])

    out: dict[str, Tensor] = {}
    for name in names:
        if name in _COUNT_FUNCTIONS:
            out[name] = _metrics.from_confusion(cm, _COUNT_FUNCTIONS[name], average="none", per_image=per_image)
        elif name == "pixel_accuracy":
            out[name] = whole("accuracy", "micro")
        elif name == "balanced_accuracy":
            out[name] = whole("balanced_accuracy", "macro")
    return {k: v.double() for k, v in out.items()}


def score_label_maps(
    pred: Any,
    target: Any,
    *,
    num_classes: int,
    binary: bool | None = None,
    class_names: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    spacing: float | Sequence[float] | None = None,
    metrics: Iterable[str] | None = None,
    nsd_tolerance: float = 1.0,
    ignore_index: int | None = None,
) -> list[dict[str, Any]]:
    r"""Every metric for every (image, class): rows ``{"image", "class", "metric", "value"}``.

    ``pred`` and ``target`` are integer label maps ``(N, *spatial)`` with labels in ``[0, num_classes)``
    (``target`` may hold ``ignore_index``, which counts nowhere). ``binary`` (default: ``num_classes == 2``)
    scores only the foreground class 1; otherwise every class. ``image`` is ``image_ids[i]`` (default the
    index ``i``), ``class`` the class name (default its index), ``value`` a float (NaN undefined, ``inf`` a miss).
    Per image, with one-vs-rest counts of class ``c``:

    .. math::

        \mathrm{dice}_{i,c} = \frac{2\,tp_{i,c}}{2\,tp_{i,c} + fp_{i,c} + fn_{i,c}}, \qquad
        \mathrm{pixel\_accuracy}_i = \frac{|\{x : \hat y_i(x) = y_i(x)\}|}{|\{x\}|}

    >>> t = torch.zeros(1, 6, 6, dtype=torch.long); t[0, 1:4, 1:4] = 1
    >>> rows = score_label_maps(t.clone(), t, num_classes=2, class_names=["bg", "cell"], metrics=["dice", "hd95"])
    >>> [(r["class"], r["metric"], r["value"]) for r in rows]
    [('cell', 'dice', 1.0), ('cell', 'hd95', 0.0)]
    """
    names = check_metric_names(metrics)
    p, t = _as_labels(pred, "pred"), _as_labels(target, "target")
    if p.shape != t.shape or p.ndim < 2:
        raise ValueError(f"pred and target must be label maps (N, *spatial) of one shape, got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    is_binary = num_classes == 2 if binary is None else bool(binary)
    if is_binary and num_classes != 2:
        raise ValueError(f"binary=True needs num_classes=2, got {num_classes}")
    n = p.shape[0]
    ids = [str(i) for i in range(n)] if image_ids is None else [str(i) for i in image_ids]
    cnames = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    if len(ids) != n or len(cnames) != num_classes:
        raise ValueError(f"{len(ids)} image ids for {n} images, {len(cnames)} class names for {num_classes} classes")
    classes = _scored_classes(num_classes, is_binary)
    counted = _count_table(_confusion(p, t, num_classes, ignore_index), names, per_image=True)
    table = {k: v for k, v in counted.items() if k in _COUNT_FUNCTIONS}
    overall = {k: v for k, v in counted.items() if k in _OVERALL}
    distance = [m for m in ("hd", "hd95", "assd", "nsd") if m in names]
    if distance:
        found = distance_metrics(
            p, t, metrics=distance, tolerance=nsd_tolerance, spacing=spacing, num_classes=num_classes,
            include_background=True, ignore_index=ignore_index,
        )
        table.update({k: v.reshape(n, num_classes).double() for k, v in found.items()})
    if "boundary_iou" in names:
        biou = boundary_iou(
            p, t, spacing=spacing, num_classes=num_classes, include_background=True, ignore_index=ignore_index
        )
        table["boundary_iou"] = biou.reshape(n, num_classes).double()
    rows: list[dict[str, Any]] = []
    for i in range(n):
        for name, values in overall.items():
            rows.append({"image": ids[i], "class": "all", "metric": name, "value": float(values[i])})
        for c in classes:
            for name in names:
                if name in table:
                    rows.append({"image": ids[i], "class": cnames[c], "metric": name,
                                 "value": float(table[name][i, c])})
    return rows


def pooled_scores(
    pred: Any,
    target: Any,
    *,
    num_classes: int,
    binary: bool | None = None,
    class_names: Sequence[str] | None = None,
    metrics: Iterable[str] | None = None,
    ignore_index: int | None = None,
) -> list[dict[str, Any]]:
    r"""Dataset-level count metrics: counts summed over all images first (``per_image=False``).

    Rows ``{"class", "metric", "value"}`` for the count metrics among ``metrics`` (distance metrics have no
    pooled form and are left out). E.g. pooled Dice of class ``c``:
    :math:`2\sum_i tp_{i,c} / (2\sum_i tp_{i,c} + \sum_i fp_{i,c} + \sum_i fn_{i,c})`.

    >>> t = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [0, 0]]])
    >>> p = torch.tensor([[[0, 1], [1, 0]], [[0, 0], [0, 0]]])
    >>> [(r["metric"], round(r["value"], 4)) for r in pooled_scores(p, t, num_classes=2, metrics=["dice"])]
    [('dice', 0.8)]
    """
    p, t = _as_labels(pred, "pred"), _as_labels(target, "target")
    return pooled_from_confusion(_confusion(p, t, num_classes, ignore_index).sum(0), num_classes=num_classes,
                                 binary=binary, class_names=class_names, metrics=metrics)


def pooled_from_confusion(
    confusion: Any,
    *,
    num_classes: int,
    binary: bool | None = None,
    class_names: Sequence[str] | None = None,
    metrics: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    r"""The rows of :func:`pooled_scores` from a dataset's summed confusion matrix ``(C, C)`` (rows = target).

    The counts may come from anywhere they add up exactly: streamed batches, or the all-reduced
    :meth:`segbench.metrics.ConfusionMatrix.sync` of several processes (:mod:`segbench.distributed`).
    Pooled Dice of class ``c``: :math:`2 M_{cc} / (\sum_j M_{cj} + \sum_i M_{ic})`.

    >>> [(r["metric"], round(r["value"], 4)) for r in
    ...  pooled_from_confusion(torch.tensor([[5, 0], [1, 2]]), num_classes=2, metrics=["dice"])]
    [('dice', 0.8)]
    """
    cm = torch.as_tensor(confusion)
    if cm.shape != (num_classes, num_classes) or cm.is_floating_point():
        raise ValueError(f"confusion must be an integer ({num_classes}, {num_classes}) matrix, got "
                         f"{tuple(cm.shape)} {cm.dtype}")
    names = [m for m in check_metric_names(metrics) if m in COUNT_METRICS]
    is_binary = num_classes == 2 if binary is None else bool(binary)
    cnames = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    counted = _count_table(cm.long()[None], names, per_image=False)
    rows: list[dict[str, Any]] = [
        {"class": "all", "metric": name, "value": float(value)} for name, value in counted.items() if name in _OVERALL
    ]
    for c in _scored_classes(num_classes, is_binary):
        for name, values in counted.items():
            if name in _COUNT_FUNCTIONS:
                rows.append({"class": cnames[c], "metric": name, "value": float(values[c])})
    return rows


def trivial_classes(class_counts: Any, class_names: Sequence[str]) -> dict[str, int]:
    """The class each trivial predictor paints, from the *train* split's pixel counts per class.

    ``all-background``: :func:`background_index`; ``all-foreground``: class ``1 - background`` for two
    classes, else the most frequent non-background class; ``majority-class``: the most frequent class.
    Ties go to the lowest index.

    >>> trivial_classes([10, 70, 20], ["pet", "background", "border"])
    {'all-background': 1, 'all-foreground': 2, 'majority-class': 1}
    """
    counts = [int(c) for c in torch.as_tensor(class_counts).reshape(-1).tolist()]
    if len(counts) != len(class_names) or len(counts) < 2:
        raise ValueError(f"need one count per class (>= 2 classes), got {counts} for {list(class_names)}")
    background = background_index(class_names)
    others = [c for c in range(len(counts)) if c != background]
    foreground = others[0] if len(counts) == 2 else max(others, key=lambda c: (counts[c], -c))
    majority = max(range(len(counts)), key=lambda c: (counts[c], -c))
    return {"all-background": background, "all-foreground": foreground, "majority-class": majority}


def trivial_predictions(targets: Any, kind: str, classes: dict[str, int]) -> Tensor:
    """The label maps of the trivial predictor ``kind``, shaped like ``targets`` ``(N, *spatial)``, int64.

    Every pixel gets ``classes[kind]`` (see :func:`trivial_classes`, computed on the train split so that a
    predictor never peeks at the test labels): ``"all-background"``, ``"all-foreground"`` or
    ``"majority-class"``.

    >>> t = torch.tensor([[[0, 2], [2, 1]]])
    >>> trivial_predictions(t, "all-foreground", {"all-foreground": 2}).tolist()
    [[[2, 2], [2, 2]]]
    """
    t = _as_labels(targets, "targets")
    if kind not in TRIVIAL_PREDICTORS:
        raise ValueError(f"unknown trivial predictor {kind!r}; expected one of {list(TRIVIAL_PREDICTORS)}")
    if kind not in classes:
        raise ValueError(f"no class given for trivial predictor {kind!r}: {classes}")
    return torch.full_like(t, int(classes[kind]))
