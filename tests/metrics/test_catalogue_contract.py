"""One contract, run over every metric registered in the catalogue (a new metric is covered by registering it).

For each entry that scores hard label maps: a perfect prediction scores the best value; every value lies in the
entry's range; float input is refused; pixels at ``ignore_index`` change nothing; per-image values are
``(N, C)`` (per class) or ``(N,)`` (all classes) and pooled ones ``(C,)`` or ``()``; a class absent from both
target and prediction scores the entry's ``both_empty`` (NaN, undefined, unless the formula is defined there).
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from segbench import metrics
from segbench._checks import check_label_maps
from segbench.counts import confusion_counts
from segbench.metrics import catalogue
from segbench.metrics.catalogue import MetricEntry, ScoringInputs

C = 4  # class 3 never appears: empty in target and prediction
LABEL_ENTRIES = [catalogue.get_entry(n) for n in catalogue.names() if catalogue.get_entry(n).needs == "labels"]
IDS = [e.name for e in LABEL_ENTRIES]


def _maps(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three 12x12 label maps of blobs of classes 0..2 (class 3 absent), and a perturbed prediction."""
    g = torch.Generator().manual_seed(seed)
    target = torch.zeros(3, 12, 12, dtype=torch.long)
    for i in range(3):
        for c in (1, 2):
            y, x = torch.randint(1, 8, (2,), generator=g).tolist()
            target[i, y : y + 3, x : x + 4] = c
    noise = torch.rand(target.shape, generator=g) < 0.15
    pred = torch.where(noise, torch.randint(0, 3, target.shape, generator=g), target)
    return pred, target


def _values(entry: MetricEntry, pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None
            ) -> torch.Tensor:
    return entry.per_image(ScoringInputs(pred, target, C, ignore_index))


@pytest.mark.parametrize("entry", LABEL_ENTRIES, ids=IDS)
def test_perfect_prediction_scores_best(entry: MetricEntry) -> None:
    _, target = _maps(0)
    values = _values(entry, target.clone(), target)
    present = values if entry.scope == "all" else values[:, :3]  # classes 0..2 are in every image
    assert torch.all(present == entry.best), (entry.name, present)


@pytest.mark.parametrize("entry", LABEL_ENTRIES, ids=IDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_values_lie_in_the_range(entry: MetricEntry, seed: int) -> None:
    pred, target = _maps(seed)
    values = _values(entry, pred, target)
    lo, hi = entry.value_range
    defined = values[~torch.isnan(values)]
    assert defined.numel() > 0 and torch.all((defined >= lo) & (defined <= hi)), (entry.name, values)


@pytest.mark.parametrize("entry", LABEL_ENTRIES, ids=IDS)
def test_float_input_is_refused(entry: MetricEntry) -> None:
    pred, target = _maps(4)
    with pytest.raises(TypeError, match="to_labels"):
        entry.function(pred.float(), target, num_classes=C)
    with pytest.raises(TypeError, match="to_labels"):
        _values(entry, pred.float(), target)


@pytest.mark.parametrize("entry", LABEL_ENTRIES, ids=IDS)
def test_ignored_pixels_change_nothing(entry: MetricEntry) -> None:
    pred, target = _maps(5)
    target[:, :2, :] = 255  # two ignored rows
    other = pred.clone()
    other[:, :2, :] = (pred[:, :2, :] + 1) % 3  # any prediction there
    torch.testing.assert_close(_values(entry, pred, target, 255), _values(entry, other, target, 255), equal_nan=True)


@pytest.mark.parametrize("entry", LABEL_ENTRIES, ids=IDS)
def test_per_image_and_pooled_shapes(entry: MetricEntry) -> None:
    pred, target = _maps(6)
    values = _values(entry, pred, target)
    assert values.dtype == torch.float64
    assert values.shape == ((3,) if entry.scope == "all" else (3, C))
    if entry.pooled is not None:
        cm = confusion_counts(check_label_maps(pred, target, num_classes=C)).sum(0)
        assert entry.pooled(cm).shape == (() if entry.scope == "all" else (C,))


@pytest.mark.parametrize("entry", [e for e in LABEL_ENTRIES if e.scope == "class"],
                         ids=[e.name for e in LABEL_ENTRIES if e.scope == "class"])
def test_a_class_empty_in_both_scores_both_empty(entry: MetricEntry) -> None:
    pred, target = _maps(7)
    absent = _values(entry, pred, target)[:, 3]
    if math.isnan(entry.both_empty):
        assert torch.isnan(absent).all(), (entry.name, absent)
    else:
        assert torch.all(absent == entry.both_empty), (entry.name, absent)


def test_every_name_and_alias_resolves_through_metrics_get() -> None:
    # regression (#17): metrics.get("hd95") failed; every catalogue name now resolves
    target = _maps(8)[1]
    for name in [*catalogue.names(), "f1", "jaccard", "accuracy", "kappa"]:
        assert callable(metrics.get(name)), name
    hd95 = metrics.get("hd95")(target.roll(1, dims=2), target, num_classes=C)
    torch.testing.assert_close(hd95, metrics.hausdorff_distance(target.roll(1, dims=2), target, num_classes=C,
                                                                percentile=95.0), equal_nan=True)
    assert metrics.get("f1") is metrics.f1_score and metrics.get("accuracy") is metrics.accuracy


def test_every_public_metric_function_is_in_the_catalogue() -> None:
    def unwrap(f: object) -> object:
        return f.func if isinstance(f, functools.partial) else f

    registered = {unwrap(catalogue.get_entry(n).function) for n in catalogue.names()}
    public = [metrics.accuracy, metrics.balanced_accuracy, metrics.precision, metrics.recall, metrics.specificity,
              metrics.f1_score, metrics.fbeta_score, metrics.iou_score, metrics.tversky_index, metrics.mcc,
              metrics.cohen_kappa, metrics.hausdorff_distance, metrics.average_surface_distance,
              metrics.normalized_surface_distance, metrics.boundary_iou]
    assert [f.__name__ for f in public if f not in registered] == []


def test_registering_a_taken_name_is_refused() -> None:
    entry = catalogue.get_entry("dice")
    with pytest.raises(ValueError, match="a metric named 'dice' is already registered"):
        catalogue.register_metric(entry)
