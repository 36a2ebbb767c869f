"""segbench.metrics: scores on hard label maps (overlap/count metrics and boundary/distance metrics)."""

from __future__ import annotations

from segbench.metrics.confusion import ConfusionMatrix
from segbench.metrics.labels import to_labels
from segbench.metrics.overlap import (
    METRICS,
    accuracy,
    balanced_accuracy,
    cohen_kappa,
    dice_score,
    f1_score,
    fbeta_score,
    from_confusion,
    get,
    iou_score,
    jaccard_index,
    mcc,
    names,
    precision,
    recall,
    specificity,
    tversky_index,
)

__all__ = [
    "METRICS",
    "ConfusionMatrix",
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
    "to_labels",
    "tversky_index",
]
