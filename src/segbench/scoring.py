r"""Score hard label maps on the metrics of the catalogue, per image and class, as rows of a long table.

This is the one place that turns (prediction, target) label maps into the scores that ``segbench compare``,
``evaluate`` and ``inspect`` write and print. Every metric comes from the catalogue
(:mod:`segbench.metrics.catalogue`), whose entries route it: each entry's ``per_image`` gives one value per
(image, class) (scope ``"class"``) or per image (scope ``"all"``, class ``"all"``), and its ``pooled`` the
dataset-level value from the summed confusion matrix. Metrics of one family share their expensive step (one
confusion matrix per image for the count metrics, one surface computation for the distance metrics), so every
number is the library's own definition, computed once:

* count metrics: ``pixel_accuracy`` (all classes at once: the share of correctly labelled valid pixels),
  ``class_accuracy`` (one class vs the rest), ``balanced_accuracy`` (all classes: scikit-learn's mean recall),
  ``precision``, ``recall``, ``specificity``, ``dice``, ``iou``, ``fbeta`` (F2), ``tversky`` (alpha 0.3,
  beta 0.7), ``mcc``, ``cohen_kappa``;
* distance metrics from voxel-border surfaces: ``hd``, ``hd95`` (larger of the two directed 95th percentiles),
  ``assd``, ``nsd`` (at ``nsd_tolerance``), and ``boundary_iou`` (dilation 1).

``metrics=None`` scores the catalogue's default set (every metric but ``fbeta`` and ``tversky``, which are asked
for by name). Classes scored: binary data (``num_classes == 2`` and ``binary=True``) only the foreground class 1;
multiclass data every class, background included (consumers drop it as they see fit). Undefined scores (empty
target and empty prediction) are NaN; a distance with exactly one side empty is ``inf`` (a miss), never NaN.
Works for 2D ``(N, H, W)`` and 3D ``(N, D, H, W)`` label maps, with ``spacing`` in axis order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from segbench._checks import check_label_maps
from segbench.counts import confusion_counts
from segbench.metrics import catalogue
from segbench.metrics.catalogue import ScoringInputs
from segbench.metrics.objects import ObjectMatches, scoring_matches

__all__ = [
    "as_label_maps",
    "check_metric_names",
    "object_matches",
    "pooled_from_confusion",
    "pooled_from_histograms",
    "pooled_scores",
    "score_label_maps",
]


def check_metric_names(names: Iterable[str] | None, *, probabilities: bool = False) -> list[str]:
    """``names`` validated against the catalogue (``None``: its default set), in table order. Without
    ``probabilities`` only metrics scored from hard label maps: the default set leaves the probability metrics
    out, and naming one is a ValueError.

    Args:
        names: metric names as the user gave them.
        probabilities: whether probabilities will be scored too (``compare``, ``evaluate --probabilities``).

    >>> check_metric_names(["hd95", "dice"])
    ['dice', 'hd95']
    >>> check_metric_names(["dsc"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'dsc'; expected some of: pixel_accuracy, class_accuracy, balanced_accuracy, ...
    """
    checked = catalogue.check_names(names)
    if probabilities:
        return checked
    if names is None:
        return [e.name for e in catalogue.entries(checked) if e.needs == "labels"]
    for entry in catalogue.entries(checked):
        if entry.needs != "labels":
            raise ValueError(f"metric {entry.name!r} needs {entry.needs}, but only hard label maps are scored here "
                             "(give probabilities: evaluate --probabilities DIR)")
    return checked


def as_label_maps(x: Any, name: str) -> Tensor:
    """``x`` as an int64 tensor; TypeError for floating-point input (metrics take hard labels).

    Args:
        x: a label map (tensor, array or nested list).
        name: what it is, for the message.
    """
    t = torch.as_tensor(x)
    if t.is_floating_point():
        raise TypeError(f"{name} must be an integer label map, got {t.dtype}")
    return t.long()


def _scored_classes(num_classes: int, binary: bool) -> list[int]:
    return [1] if binary else list(range(num_classes))


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
    surface: str = "voxel",
    percentile_rule: str = "directed",
    probabilities: Any = None,
    instances: Any = None,
    scaled_probabilities: Any = None,
    include_background: bool = True,
) -> list[dict[str, Any]]:
    r"""Every metric for every (image, class): rows ``{"image", "class", "metric", "value"}``.

    ``pred`` and ``target`` are integer label maps ``(N, *spatial)`` with labels in ``[0, num_classes)``
    (``target`` may hold ``ignore_index``, which counts nowhere). ``binary`` (default: ``num_classes == 2``)
    scores only the foreground class 1; otherwise every class. ``image`` is ``image_ids[i]`` (default the
    index ``i``), ``class`` the class name (default its index), ``value`` a float (NaN undefined, ``inf`` a miss).
    ``probabilities`` ``(N, C, *spatial)`` (or ``(N, 1, *spatial)``, the foreground of binary data) adds the
    probability metrics (ECE, Brier, NLL, AP, soft volume bias); without them those are left out of the default
    set; ``scaled_probabilities`` (the same after temperature scaling) feed the ``*_ts`` metrics, scored on
    request. ``instances`` (reference instance ids ``(N, *spatial)``) makes the object metrics match the predicted
    components against true instances instead of the reference's components. Object and topology metrics score
    the foreground classes only (no background row); ``include_background=False`` leaves class 0 out of every
    metric (no rows; the distance metrics never compute its surface, which runs along the volume's border and
    costs most of the time on volumes). Per image, with one-vs-rest counts of class ``c``:

    .. math::

        \mathrm{dice}_{i,c} = \frac{2\,tp_{i,c}}{2\,tp_{i,c} + fp_{i,c} + fn_{i,c}}, \qquad
        \mathrm{pixel\_accuracy}_i = \frac{|\{x : \hat y_i(x) = y_i(x)\}|}{|\{x\}|}

    >>> t = torch.zeros(1, 6, 6, dtype=torch.long); t[0, 1:4, 1:4] = 1
    >>> rows = score_label_maps(t.clone(), t, num_classes=2, class_names=["bg", "cell"], metrics=["dice", "hd95"])
    >>> [(r["class"], r["metric"], r["value"]) for r in rows]
    [('cell', 'dice', 1.0), ('cell', 'hd95', 0.0)]
    >>> rows = score_label_maps(t.clone(), t * 2, num_classes=3, metrics=["hd95"], include_background=False)
    >>> [(r["class"], r["value"]) for r in rows]
    [('1', inf), ('2', inf)]
    """
    names = check_metric_names(metrics, probabilities=probabilities is not None)
    p, t = as_label_maps(pred, "pred"), as_label_maps(target, "target")
    if p.shape != t.shape or p.ndim < 2:
        raise ValueError(f"pred and target must be label maps (N, *spatial) of one shape, got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    probs = None if probabilities is None else torch.as_tensor(probabilities)
    if probs is not None and (probs.ndim != t.ndim + 1 or probs.shape[0] != t.shape[0]
                              or probs.shape[2:] != t.shape[1:]):
        raise ValueError(f"probabilities must be (N, C, *spatial) for label maps {tuple(t.shape)}, got "
                         f"{tuple(probs.shape)}")
    scaled = None if scaled_probabilities is None else torch.as_tensor(scaled_probabilities)
    if scaled is not None and (probs is None or scaled.shape != probs.shape):
        raise ValueError(f"scaled_probabilities must have the probabilities' shape "
                         f"{None if probs is None else tuple(probs.shape)}, got {tuple(scaled.shape)}")
    inst = None if instances is None else as_label_maps(instances, "instances")
    if inst is not None and inst.shape != t.shape:
        raise ValueError(f"instances must be label maps of the target's shape {tuple(t.shape)}, got "
                         f"{tuple(inst.shape)}")
    is_binary = num_classes == 2 if binary is None else bool(binary)
    if is_binary and num_classes != 2:
        raise ValueError(f"binary=True needs num_classes=2, got {num_classes}")
    n = p.shape[0]
    ids = [str(i) for i in range(n)] if image_ids is None else [str(i) for i in image_ids]
    cnames = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    if len(ids) != n or len(cnames) != num_classes:
        raise ValueError(f"{len(ids)} image ids for {n} images, {len(cnames)} class names for {num_classes} classes")
    classes = [c for c in _scored_classes(num_classes, is_binary) if include_background or c != 0]
    inputs = ScoringInputs(p, t, num_classes, ignore_index=ignore_index, spacing=spacing, nsd_tolerance=nsd_tolerance,
                           surface=surface, percentile_rule=percentile_rule, probabilities=probs, instances=inst,
                           scaled_probabilities=scaled, include_background=include_background)
    chosen = catalogue.entries(names)
    values = {e.name: e.per_image(inputs).double() for e in chosen}
    overall = [e.name for e in chosen if e.scope == "all"]
    per_class = [e for e in chosen if e.scope == "class"]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        for name in overall:
            rows.append({"image": ids[i], "class": "all", "metric": name, "value": float(values[name][i])})
        for c in classes:
            for e in per_class:
                if c == 0 and not e.background:
                    continue
                rows.append({"image": ids[i], "class": cnames[c], "metric": e.name,
                             "value": float(values[e.name][i, c])})
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
    p, t = as_label_maps(pred, "pred"), as_label_maps(target, "target")
    lm = check_label_maps(p, t, num_classes=num_classes, ignore_index=ignore_index)
    return pooled_from_confusion(confusion_counts(lm).sum(0), num_classes=num_classes, binary=binary,
                                 class_names=class_names, metrics=metrics)


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
    chosen = [e for e in catalogue.entries(check_metric_names(metrics, probabilities=True)) if e.pooled is not None]
    counted = {e.name: e.pooled(cm.long()).double() for e in chosen if e.pooled is not None}
    is_binary = num_classes == 2 if binary is None else bool(binary)
    cnames = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    rows: list[dict[str, Any]] = [
        {"class": "all", "metric": e.name, "value": float(counted[e.name])} for e in chosen if e.scope == "all"
    ]
    for c in _scored_classes(num_classes, is_binary):
        for e in chosen:
            if e.scope == "class":
                rows.append({"class": cnames[c], "metric": e.name, "value": float(counted[e.name][c])})
    return rows


def pooled_from_histograms(
    histograms: Mapping[bool, Any],
    *,
    num_classes: int,
    binary: bool | None = None,
    class_names: Sequence[str] | None = None,
    metrics: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    r"""Dataset-level probability metrics (ECE, Brier, NLL, AP ...): rows ``{"class", "metric", "value"}`` from the
    :class:`~segbench.metrics.ProbabilityHistogram` of every test pixel at once (not a mean over images).

    ``histograms[False]`` holds the raw probabilities, ``histograms[True]`` the temperature-scaled ones (for the
    ``scaled`` entries; leave it out where there are none). A histogram's state adds exactly over images and
    processes, so a synced histogram gives the one-process values. Pooled ECE, e.g.:
    :math:`\sum_b \frac{n_b}{n}|\bar a_b - \bar c_b|` over the bins of all pixels.

    >>> from segbench.metrics.probability_stream import scoring_bins
    >>> h = scoring_bins(1, None)
    >>> h.update(torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]]), torch.tensor([[0, 1], [1, 1]]))
    >>> [(r["metric"], r["value"]) for r in pooled_from_histograms({False: h}, num_classes=2,
    ...                                                             metrics=["brier", "ap"])]
    [('brier', 0.25), ('ap', 0.75)]
    """
    chosen = [e for e in catalogue.entries(check_metric_names(metrics, probabilities=True))
              if e.pooled_histogram is not None and e.scaled in histograms]
    is_binary = num_classes == 2 if binary is None else bool(binary)
    cnames = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    values = {e.name: e.pooled_histogram(histograms[e.scaled]).double() for e in chosen if e.pooled_histogram}
    rows: list[dict[str, Any]] = [
        {"class": "all", "metric": e.name, "value": float(values[e.name])} for e in chosen if e.scope == "all"
    ]
    for c in _scored_classes(num_classes, is_binary):
        for e in chosen:
            if e.scope != "class" or (c == 0 and not e.background):
                continue
            v = values[e.name]
            k = c if v.numel() == num_classes else c - 1  # one foreground channel of binary data: class 1
            value = float(v[k]) if 0 <= k < v.numel() else math.nan
            rows.append({"class": cnames[c], "metric": e.name, "value": value})
    return rows


def object_matches(
    pred: Any,
    target: Any,
    *,
    num_classes: int,
    instances: Any = None,
    ignore_index: int | None = None,
    spacing: float | Sequence[float] | None = None,
) -> ObjectMatches:
    """The objects that the object metrics of :func:`score_label_maps` match: the components of each foreground
    class of ``pred`` against those of ``target`` or against the reference ``instances`` (the same matching,
    for object counts and per-object rows).

    Args:
        pred: predicted label maps ``(N, *spatial)``.
        target: reference label maps ``(N, *spatial)``.
        num_classes: the number of classes C.
        instances: reference instance ids ``(N, *spatial)`` (0 = background), or ``None``.
        ignore_index: a target label whose pixels are background on both sides.
        spacing: voxel spacing (physical object sizes).

    >>> t = torch.zeros(1, 6, 6, dtype=torch.long); t[0, :2, :2] = 1; t[0, 4:, 4:] = 1
    >>> m = object_matches(t * 0, t, num_classes=2)
    >>> m.counts()["n_ref"].tolist(), m.counts()["n_pred"].tolist()
    ([[2.0]], [[0.0]])
    """
    p, t = as_label_maps(pred, "pred"), as_label_maps(target, "target")
    inst = None if instances is None else as_label_maps(instances, "instances")
    return scoring_matches(ScoringInputs(p, t, num_classes, ignore_index, spacing, instances=inst))
