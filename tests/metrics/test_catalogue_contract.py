"""One contract, run over every metric registered in the catalogue (a new metric is covered by registering it).

For each entry that scores hard label maps: a perfect prediction scores the best value; every value lies in the
entry's range; float input is refused; pixels at ``ignore_index`` change nothing; per-image values are
``(N, C)`` (per class) or ``(N,)`` (all classes) and pooled ones ``(C,)`` or ``()``; a class absent from both
target and prediction scores the entry's ``both_empty`` (NaN, undefined, unless the formula is defined there);
an entry that does not score the background (object, topology) gives NaN in class 0.

For each entry that scores probabilities: one-hot probabilities of the truth score the best value; every value
lies in the range; a label map in place of probabilities is refused; ignored pixels change nothing; per-image
values are ``(N,)`` or ``(N, C)``; without probabilities the route says what it needs.
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
PROB_ENTRIES = [catalogue.get_entry(n) for n in catalogue.names()
                if catalogue.get_entry(n).needs == "probabilities"]
PROB_IDS = [e.name for e in PROB_ENTRIES]


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
    if not entry.background:
        assert torch.isnan(values[:, 0]).all(), (entry.name, values)
        present = present[:, 1:]
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
    # the topology functions take binary masks of any dtype, volume_error takes probabilities (the soft volume);
    # their scoring routes take hard labels only
    if entry.family not in ("topology", "volume"):
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
              metrics.normalized_surface_distance, metrics.boundary_iou, metrics.expected_calibration_error,
              metrics.brier_score, metrics.negative_log_likelihood, metrics.confidence_gap, metrics.average_precision,
              metrics.roc_auc,
              metrics.dsb_score, metrics.object_f1, metrics.aggregated_jaccard_index, metrics.object_precision,
              metrics.object_recall, metrics.cldice]
    assert [f.__name__ for f in public if f not in registered] == []


def test_registering_a_taken_name_is_refused() -> None:
    entry = catalogue.get_entry("dice")
    with pytest.raises(ValueError, match="a metric named 'dice' is already registered"):
        catalogue.register_metric(entry)


def _probabilities(target: torch.Tensor, seed: int, sharpness: float = 3.0) -> torch.Tensor:
    """Softmax probabilities ``(N, C, H, W)`` leaning towards ``target`` (random logits plus a push to the truth)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(target.shape[0], C, *target.shape[1:], generator=g, dtype=torch.float64)
    logits += sharpness * torch.nn.functional.one_hot(target.clamp(0, C - 1), C).movedim(-1, 1)
    return logits.softmax(1)


def _prob_values(entry: MetricEntry, probs: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None
                 ) -> torch.Tensor:
    labels = probs.argmax(1)
    # a scaled entry (ece_ts ...) scores the temperature-scaled probabilities: here the given ones (T = 1)
    scaled = probs if entry.scaled else None
    return entry.per_image(ScoringInputs(labels, target, C, ignore_index, probabilities=probs,
                                         scaled_probabilities=scaled))


@pytest.mark.parametrize("entry", PROB_ENTRIES, ids=PROB_IDS)
def test_probability_one_hot_truth_scores_best(entry: MetricEntry) -> None:
    _, target = _maps(10)
    one_hot = torch.nn.functional.one_hot(target, C).movedim(-1, 1).double()
    values = _prob_values(entry, one_hot, target)
    present = values if entry.scope == "all" else values[:, :3]
    torch.testing.assert_close(present, torch.full_like(present, entry.best), atol=1e-12, rtol=0)


@pytest.mark.parametrize("entry", PROB_ENTRIES, ids=PROB_IDS)
@pytest.mark.parametrize("seed", [11, 12])
def test_probability_values_lie_in_the_range(entry: MetricEntry, seed: int) -> None:
    _, target = _maps(seed)
    values = _prob_values(entry, _probabilities(target, seed), target)
    lo, hi = entry.value_range
    defined = values[~torch.isnan(values)]
    assert defined.numel() > 0 and torch.all((defined >= lo) & (defined <= hi)), (entry.name, values)
    assert values.dtype == torch.float64 and values.shape == ((3,) if entry.scope == "all" else (3, C))


@pytest.mark.parametrize("entry", PROB_ENTRIES, ids=PROB_IDS)
def test_probability_route_matches_the_library_function_per_image(entry: MetricEntry) -> None:
    _, target = _maps(13)
    probs = _probabilities(target, 13)
    values = _prob_values(entry, probs, target)
    for i in range(3):
        one = entry.function(probs[i : i + 1], target[i : i + 1])
        if entry.family == "volume":
            one = one[0]
        torch.testing.assert_close(values[i], one.double(), equal_nan=True, atol=1e-9, rtol=0)


@pytest.mark.parametrize("entry", PROB_ENTRIES, ids=PROB_IDS)
def test_probability_ignored_pixels_change_nothing(entry: MetricEntry) -> None:
    _, target = _maps(14)
    target[:, :2, :] = 255
    probs = _probabilities(target, 14)
    other = probs.clone()
    other[:, :, :2, :] = other[:, :, :2, :].flip(1)  # any probabilities there
    torch.testing.assert_close(_prob_values(entry, probs, target, 255), _prob_values(entry, other, target, 255),
                               equal_nan=True)


@pytest.mark.parametrize("entry", PROB_ENTRIES, ids=PROB_IDS)
def test_probability_entries_refuse_labels_and_missing_probabilities(entry: MetricEntry) -> None:
    pred, target = _maps(15)
    with pytest.raises(ValueError, match="probabilities"):
        entry.per_image(ScoringInputs(pred, target, C))
    labels = pred.unsqueeze(1).expand(-1, C, -1, -1)
    with pytest.raises((TypeError, ValueError)):
        entry.per_image(ScoringInputs(pred, target, C, probabilities=labels, scaled_probabilities=labels))


@pytest.mark.parametrize("entry", [e for e in PROB_ENTRIES if e.scaled], ids=[e.name for e in PROB_ENTRIES if e.scaled])
def test_scaled_entries_score_the_scaled_probabilities_only(entry: MetricEntry) -> None:
    _, target = _maps(16)
    raw, scaled = _probabilities(target, 16, sharpness=6.0), _probabilities(target, 16, sharpness=1.0)
    labels = raw.argmax(1)
    got = entry.per_image(ScoringInputs(labels, target, C, probabilities=raw, scaled_probabilities=scaled))
    twin = catalogue.get_entry(entry.name.removesuffix("_ts"))
    torch.testing.assert_close(got, twin.per_image(ScoringInputs(labels, target, C, probabilities=scaled)))
    assert not torch.allclose(got, twin.per_image(ScoringInputs(labels, target, C, probabilities=raw)))
    with pytest.raises(ValueError, match="temperature-scaled"):
        entry.per_image(ScoringInputs(labels, target, C, probabilities=raw))
