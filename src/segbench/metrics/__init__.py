"""segbench.metrics: scores on hard label maps.

* Count metrics (one confusion-matrix core, :mod:`segbench.metrics.overlap`): :func:`accuracy`,
  :func:`balanced_accuracy`, :func:`precision`, :func:`recall`, :func:`specificity`, :func:`f1_score`
  (== :func:`dice_score`), :func:`fbeta_score`, :func:`iou_score` (== :func:`jaccard_index`), :func:`tversky_index`,
  :func:`mcc`, :func:`cohen_kappa`; by name through :data:`METRICS`, :func:`names` and :func:`get`; from counts
  through :func:`from_confusion` and the streaming :class:`ConfusionMatrix`.
* Distance and boundary metrics (:mod:`segbench.metrics.distance`, :mod:`segbench.metrics.boundary`,
  :mod:`segbench.metrics.distance_stream`): Hausdorff (HD, HD95), ASSD, NSD, boundary IoU.
* :func:`to_labels` turns logits into the hard label maps every metric takes.
* Object metrics (:mod:`segbench.metrics.objects`): :func:`match_objects` (components or instances, matched by
  IoU, Hungarian or any overlap) and the scores it feeds: :func:`panoptic_quality`, :func:`dsb_score`,
  :func:`aggregated_jaccard_index`, :func:`object_precision`, :func:`object_recall`, :func:`object_f1`.
* Topology metrics (:mod:`segbench.metrics.topology`): :func:`betti_numbers`, :func:`betti_error`,
  :func:`euler_characteristic`, :func:`skeletonize` (topology-preserving thinning) and :func:`cldice` (hard skeletons).
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
from segbench.metrics.topology import betti_error, betti_numbers, cldice, euler_characteristic, skeletonize

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

__all__ += [  # object and topology metrics (issue #20)
    "ObjectMatches",
    "PanopticQuality",
    "aggregated_jaccard_index",
    "betti_error",
    "betti_numbers",
    "cldice",
    "dsb_score",
    "euler_characteristic",
    "label_components",
    "match_objects",
    "object_f1",
    "object_precision",
    "object_recall",
    "panoptic_quality",
    "skeletonize",
]
