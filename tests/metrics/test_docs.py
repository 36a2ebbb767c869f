"""Every public distance / boundary metric and every reduction documents every parameter (``Args:``), its formula,
and carries a doctest (run by pytest's --doctest-modules); its public methods document their parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from segbench import reduction
from segbench._docs import documented
from segbench.metrics import boundary, distance, distance_stream


def _params(obj: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]


FUNCTIONS = [
    getattr(m, name)
    for m in (distance, boundary, distance_stream, reduction)
    for name in m.__all__
    if inspect.isfunction(getattr(m, name))
]
METHODS = [
    *(getattr(distance.SurfaceDistances, n) for n in ("hausdorff", "average", "nsd")),
]
CLASSES = [distance_stream.DistanceAccumulator]
VALIDATORS = {"check_average", "check_reduction"}  # they check an option's name: no formula


def test_the_modules_list_their_metrics() -> None:
    names = {f.__name__ for f in FUNCTIONS}
    assert {"hausdorff_distance", "average_surface_distance", "normalized_surface_distance", "distance_metrics",
            "surface_distances", "boundary_iou", "summarize", "aggregate", "reduce_loss", "nanmean"} <= names


@pytest.mark.parametrize("fn", FUNCTIONS + METHODS + CLASSES, ids=lambda f: f.__qualname__)
def test_formula_every_parameter_and_a_doctest(fn: Callable[..., Any]) -> None:
    doc = fn.__doc__ or ""
    assert documented(doc) == _params(fn), (documented(doc), _params(fn))
    assert ">>>" in doc
    if fn.__name__ not in VALIDATORS:
        assert ".. math::" in doc or ":math:" in doc


@pytest.mark.parametrize("cls", [distance_stream.DistanceAccumulator, distance.SurfaceDistances])
def test_public_methods_document_their_parameters(cls: type) -> None:
    for name, member in vars(cls).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        params = _params(member)
        if params:
            assert documented(member.__doc__ or "") == params, (cls.__name__, name)


def test_every_public_metric_states_its_reduction_in_its_first_line() -> None:
    """Issue #22: the first line says whether the counts are pooled over the batch or the value is per image."""
    from segbench import metrics as M

    count = ["accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1_score", "dice_score",
             "fbeta_score", "iou_score", "jaccard_index", "tversky_index", "mcc", "cohen_kappa"]
    distance = ["hausdorff_distance", "average_surface_distance", "normalized_surface_distance", "boundary_iou"]
    for name in count + distance:
        first = (getattr(M, name).__doc__ or "").strip().splitlines()[0]
        said = "pooled" in first if name in count else "one value per image" in first
        assert said, (name, first)


def test_every_probability_object_and_topology_metric_states_its_default_reduction() -> None:
    """Issue #22 for the metric families added beside the count and distance ones: the first line says how the
    default pools (over the batch's pixels or objects, or per image)."""
    from segbench import metrics as M

    names = ["calibration_error", "expected_calibration_error", "maximum_calibration_error", "brier_score",
             "negative_log_likelihood", "average_precision", "roc_auc", "volume_error", "panoptic_quality",
             "dsb_score", "aggregated_jaccard_index", "object_precision", "object_recall", "object_f1", "cldice"]
    phrases = ("pooled", "per image", "per-image", "per (image, class)", "the mean over the batch")
    for name in names:
        first = (getattr(M, name).__doc__ or "").strip().splitlines()[0]
        assert any(p in first for p in phrases), (name, first)
