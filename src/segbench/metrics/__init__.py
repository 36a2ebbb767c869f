"""segbench.metrics: scores on hard label maps.

* Count metrics (one confusion-matrix core, :mod:`segbench.metrics.overlap`): :func:`accuracy`,
  :func:`balanced_accuracy`, :func:`precision`, :func:`recall`, :func:`specificity`, :func:`f1_score`
  (== :func:`dice_score`), :func:`fbeta_score`, :func:`iou_score` (== :func:`jaccard_index`), :func:`tversky_index`,
  :func:`mcc`, :func:`cohen_kappa`; from counts through :func:`from_confusion` and the streaming
  :class:`ConfusionMatrix`.
* Distance and boundary metrics (:mod:`segbench.metrics.distance`, :mod:`segbench.metrics.boundary`,
  :mod:`segbench.metrics.distance_stream`): Hausdorff (HD, HD95), ASSD, NSD, boundary IoU.
* :func:`to_labels` turns logits into the hard label maps every metric takes.
* The catalogue (:mod:`segbench.metrics.catalogue`): every metric by name, with its family, direction and
  input; :func:`names` lists them, :func:`get` returns one (``get("hd95")``, ``get("f1")``), :func:`describe`
  gives one line each. Each metric registers itself from its own module, and every module of this package is
  imported here (below), so a new metric module needs no line anywhere else to be in the catalogue.
* Probability metrics (:mod:`segbench.metrics.calibration`, :mod:`segbench.metrics.threshold_free`; streaming
  :class:`ProbabilityHistogram`): ECE, MCE, reliability diagrams, Brier, NLL, average precision, ROC AUC;
  :func:`volume_error` (:mod:`segbench.metrics.volume`); temperature scaling (:mod:`segbench.metrics.temperature`).
* Object metrics (:mod:`segbench.metrics.objects`): :func:`match_objects` (components or instances, matched by
  IoU, Hungarian or any overlap) and the scores it feeds: :func:`panoptic_quality`, :func:`dsb_score`,
  :func:`aggregated_jaccard_index`, :func:`object_precision`, :func:`object_recall`, :func:`object_f1`.
* Topology metrics (:mod:`segbench.metrics.topology`): :func:`betti_numbers`, :func:`betti_error`,
  :func:`euler_characteristic`, :func:`skeletonize` (topology-preserving thinning) and :func:`cldice` (hard skeletons).
"""

from __future__ import annotations

import importlib
import pkgutil

from segbench.metrics.boundary import boundary_iou
from segbench.metrics.calibration import (
    brier_score,
    calibration_error,
    confidence_gap,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
)
from segbench.metrics.catalogue import MetricEntry, describe, get, get_entry, names, register_metric
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
from segbench.metrics.hard_labels import to_labels
from segbench.metrics.objects import (
    ObjectMatches,
    PanopticQuality,
    aggregated_jaccard_index,
    dsb_score,
    label_components,
    match_objects,
    object_f1,
    object_precision,
    object_recall,
    panoptic_quality,
)
from segbench.metrics.overlap import (
    accuracy,
    balanced_accuracy,
    cohen_kappa,
    dice_score,
    f1_score,
    fbeta_score,
    from_confusion,
    iou_score,
    jaccard_index,
    mcc,
    precision,
    recall,
    specificity,
    tversky_index,
)
from segbench.metrics.probability_stream import ProbabilityHistogram, Reliability
from segbench.metrics.temperature import apply_temperature, fit_temperature
from segbench.metrics.threshold_free import average_precision, roc_auc
from segbench.metrics.topology import betti_error, betti_numbers, cldice, euler_characteristic, skeletonize
from segbench.metrics.volume import VolumeErrors, volume_error

__all__ = [
    "ConfusionMatrix",
    "DistanceAccumulator",
    "DistanceResults",
    "MetricEntry",
    "ObjectMatches",
    "PanopticQuality",
    "ProbabilityHistogram",
    "Reliability",
    "SurfaceDistances",
    "VolumeErrors",
    "accuracy",
    "aggregated_jaccard_index",
    "apply_temperature",
    "average_precision",
    "average_surface_distance",
    "balanced_accuracy",
    "betti_error",
    "betti_numbers",
    "boundary_iou",
    "brier_score",
    "calibration_error",
    "cldice",
    "cohen_kappa",
    "confidence_gap",
    "describe",
    "dice_score",
    "distance_metrics",
    "dsb_score",
    "euler_characteristic",
    "expected_calibration_error",
    "f1_score",
    "fbeta_score",
    "fit_temperature",
    "from_confusion",
    "get",
    "get_entry",
    "hausdorff_distance",
    "iou_score",
    "jaccard_index",
    "label_components",
    "match_objects",
    "maximum_calibration_error",
    "mcc",
    "names",
    "negative_log_likelihood",
    "normalized_surface_distance",
    "object_f1",
    "object_precision",
    "object_recall",
    "panoptic_quality",
    "precision",
    "recall",
    "register_metric",
    "reliability_diagram",
    "roc_auc",
    "skeletonize",
    "specificity",
    "summarize",
    "surface_distances",
    "to_labels",
    "tversky_index",
    "volume_error",
]

for _module in pkgutil.iter_modules(__path__):  # every metric module registers its entries when imported
    importlib.import_module(f"{__name__}.{_module.name}")
