"""segbench.metrics: scores on hard label maps.

* Count metrics (one confusion-matrix core, :mod:`segbench.metrics.overlap`): :func:`accuracy`,
  :func:`balanced_accuracy`, :func:`precision`, :func:`recall`, :func:`specificity`, :func:`f1_score`
  (== :func:`dice_score`), :func:`fbeta_score`, :func:`iou_score` (== :func:`jaccard_index`), :func:`tversky_index`,
  :func:`mcc`, :func:`cohen_kappa`; by name through :data:`METRICS`, :func:`names` and :func:`get`; from counts
  through :func:`from_confusion` and the streaming :class:`ConfusionMatrix`.
* Distance and boundary metrics (:mod:`segbench.metrics.distance`, :mod:`segbench.metrics.boundary`,
  :mod:`segbench.metrics.distance_stream`): Hausdorff (HD, HD95), ASSD, NSD, boundary IoU.
* :func:`to_labels` turns logits into the hard label maps every metric takes.
* Probability metrics (:mod:`segbench.metrics.calibration`, :mod:`segbench.metrics.threshold_free`; streaming
  :class:`ProbabilityHistogram`): ECE, MCE, reliability diagrams, Brier, NLL, average precision, ROC AUC;
  :func:`volume_error` (:mod:`segbench.metrics.volume`); temperature scaling (:mod:`segbench.metrics.temperature`).
"""

from __future__ import annotations

from segbench.metrics.boundary import boundary_iou
from segbench.metrics.confusion import ConfusionMatrix
from segbench.metrics.distance import (
    SurfaceDistances,
    average_surface_distance,
    distance_metrics,
    hausdorff_distance,
    normalized_surface_distance,
    surface_distances,
)
from segbench.metrics.distance_stream import DistanceAccumulator, DistanceResults, summarize
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
    "DistanceAccumulator",
    "DistanceResults",
    "SurfaceDistances",
    "accuracy",
    "average_surface_distance",
    "balanced_accuracy",
    "boundary_iou",
    "cohen_kappa",
    "dice_score",
    "distance_metrics",
    "f1_score",
    "fbeta_score",
    "from_confusion",
    "get",
    "hausdorff_distance",
    "iou_score",
    "jaccard_index",
    "mcc",
    "names",
    "normalized_surface_distance",
    "precision",
    "recall",
    "specificity",
    "summarize",
    "surface_distances",
    "to_labels",
    "tversky_index",
]

from segbench.metrics.calibration import (  # probability metrics (issue #19)
    brier_score,
    calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
)
from segbench.metrics.probability_stream import ProbabilityHistogram, Reliability
from segbench.metrics.temperature import apply_temperature, fit_temperature
from segbench.metrics.threshold_free import average_precision, roc_auc
from segbench.metrics.volume import VolumeErrors, volume_error

__all__ += [
    "ProbabilityHistogram",
    "Reliability",
    "VolumeErrors",
    "apply_temperature",
    "average_precision",
    "brier_score",
    "calibration_error",
    "expected_calibration_error",
    "fit_temperature",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_diagram",
    "roc_auc",
    "volume_error",
]
