"""scoring: every metric per (image, class) as long rows; values derived by hand."""

from __future__ import annotations

import math

import pytest
import torch

from segbench import scoring, trivial
from segbench.metrics import catalogue


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Image 0: a 2x2 square and the same square shifted right by one pixel (tp=2, fp=2, fn=2, tn=30).
    Image 1: the prediction misses the target. Image 2: both empty."""
    target = torch.zeros(3, 6, 6, dtype=torch.long)
    pred = torch.zeros(3, 6, 6, dtype=torch.long)
    target[0, 1:3, 1:3] = 1
    pred[0, 1:3, 2:4] = 1
    target[1, 3:5, 3:5] = 1
    return pred, target


def _table(rows: list[dict]) -> dict[tuple[str, str, str], float]:
    return {(r["image"], r["class"], r["metric"]): r["value"] for r in rows}


def test_binary_scores_by_hand() -> None:
    pred, target = _pair()
    rows = scoring.score_label_maps(pred, target, num_classes=2, class_names=["bg", "cell"],
                                    image_ids=["a", "b", "c"], nsd_tolerance=1.0)
    t = _table(rows)
    expected = {
        "pixel_accuracy": 32 / 36, "class_accuracy": 32 / 36, "balanced_accuracy": (0.5 + 30 / 32) / 2,
        "precision": 0.5, "recall": 0.5, "specificity": 30 / 32, "dice": 0.5, "iou": 1 / 3,
        "mcc": 56 / 128, "cohen_kappa": 112 / 256, "hd": 1.0, "hd95": 1.0, "assd": 0.5, "nsd": 1.0,
        "boundary_iou": 1 / 3,
    }
    for metric, value in expected.items():
        cls = "all" if metric in ("pixel_accuracy", "balanced_accuracy") else "cell"
        assert t[("a", cls, metric)] == pytest.approx(value), metric
    # binary data: only the foreground class is scored (plus the class-free pixel accuracy)
    assert {r["class"] for r in rows} == {"cell", "all"}
    assert len(rows) == 3 * len(scoring.check_metric_names(None))
    # without probabilities the default set is the hard-label one
    assert {catalogue.get_entry(n).needs for n in scoring.check_metric_names(None)} == {"labels"}


def test_misses_are_inf_and_both_empty_is_nan() -> None:
    pred, target = _pair()
    t = _table(scoring.score_label_maps(pred, target, num_classes=2, image_ids=["a", "b", "c"]))
    assert t[("b", "1", "dice")] == 0.0
    assert math.isinf(t[("b", "1", "hd95")]) and math.isinf(t[("b", "1", "assd")])
    assert t[("b", "1", "nsd")] == 0.0
    for metric in ("dice", "iou", "hd95", "nsd"):
        assert math.isnan(t[("c", "1", metric)]), metric
    assert t[("c", "all", "pixel_accuracy")] == 1.0


def test_multiclass_scores_every_class_and_ignores_ignore_index() -> None:
    target = torch.tensor([[[0, 1, 2, 255], [0, 1, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1, 0], [0, 1, 2, 2]]])
    rows = scoring.score_label_maps(pred, target, num_classes=3, class_names=["pet", "background", "border"],
                                    metrics=["pixel_accuracy", "dice", "recall"], ignore_index=255)
    t = _table(rows)
    assert {r["class"] for r in rows} == {"all", "pet", "background", "border"}
    assert t[("0", "all", "pixel_accuracy")] == pytest.approx(5 / 6)  # two ignored pixels count nowhere
    assert t[("0", "pet", "dice")] == 1.0
    assert t[("0", "background", "dice")] == pytest.approx(2 * 2 / (2 * 2 + 1))
    assert t[("0", "border", "recall")] == 0.5


def test_metric_subset_and_unknown_metric() -> None:
    pred, target = _pair()
    rows = scoring.score_label_maps(pred, target, num_classes=2, metrics=["hd95", "dice"])
    assert [r["metric"] for r in rows[:2]] == ["dice", "hd95"]
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        scoring.score_label_maps(pred, target, num_classes=2, metrics=["f1"])
    with pytest.raises(TypeError, match="integer label map"):
        scoring.score_label_maps(pred.float(), target, num_classes=2)


def test_pooled_differs_from_the_mean_of_images() -> None:
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    pred = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1
    pred[0, :2, :2] = 1  # perfect: Dice 1
    target[1, 0, 0] = 1
    pred[1, 3, 3] = 1  # wrong: Dice 0
    per_image = [r["value"] for r in scoring.score_label_maps(pred, target, num_classes=2, metrics=["dice"])]
    pooled = scoring.pooled_scores(pred, target, num_classes=2, metrics=["dice", "hd95"])
    assert per_image == [1.0, 0.0]
    assert [(r["class"], r["metric"]) for r in pooled] == [("1", "dice")]  # no pooled distance
    assert pooled[0]["value"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))


def test_3d_volumes_with_spacing() -> None:
    target = torch.zeros(1, 4, 6, 6, dtype=torch.long)
    target[0, 1:3, 1:4, 1:4] = 1
    pred = target.roll(1, dims=1)  # shifted by one slice
    t = _table(scoring.score_label_maps(pred, target, num_classes=2, spacing=(3.0, 1.0, 1.0),
                                        metrics=["dice", "hd"]))
    assert t[("0", "1", "dice")] == pytest.approx(0.5)
    assert t[("0", "1", "hd")] == pytest.approx(3.0)  # one slice apart, slices 3 units thick


def test_trivial_classes_come_from_train_counts() -> None:
    assert trivial.trivial_classes([90, 10], ["background", "nucleus"]) == {
        "all-background": 0, "all-foreground": 1, "majority-class": 0}
    # Pets: class 0 is the pet; background is found by name; all-foreground = most frequent non-background
    assert trivial.trivial_classes([30, 60, 10], ["pet", "background", "border"]) == {
        "all-background": 1, "all-foreground": 0, "majority-class": 1}
    # a foreground majority (e.g. large objects)
    assert trivial.trivial_classes([20, 80], ["background", "object"])["majority-class"] == 1


def test_trivial_predictions_and_their_scores() -> None:
    _, target = _pair()
    classes = trivial.trivial_classes([30, 6], ["background", "cell"])
    background = trivial.trivial_predictions(target, "all-background", classes)
    foreground = trivial.trivial_predictions(target, "all-foreground", classes)
    assert background.shape == target.shape and int(background.max()) == 0 and int(foreground.min()) == 1
    t = _table(scoring.score_label_maps(background, target, num_classes=2, metrics=["pixel_accuracy", "dice"]))
    assert t[("0", "all", "pixel_accuracy")] == pytest.approx(32 / 36)  # high accuracy, no overlap at all
    assert t[("0", "1", "dice")] == 0.0
    t = _table(scoring.score_label_maps(foreground, target, num_classes=2, metrics=["recall", "dice"]))
    assert t[("0", "1", "recall")] == 1.0 and t[("0", "1", "dice")] == pytest.approx(2 * 4 / (2 * 4 + 32))
    with pytest.raises(ValueError, match="unknown trivial predictor"):
        trivial.trivial_predictions(target, "all-pets", classes)


def test_metric_catalogue() -> None:
    assert catalogue.get_entry("hd95").higher_is_better is False
    assert catalogue.get_entry("nsd").higher_is_better is True
    assert {n for f in catalogue.FAMILIES for n in catalogue.names(f)} == set(catalogue.names())
    assert catalogue.names("object") == ["dsb_score", "pq", "object_f1", "aji", "object_precision", "object_recall"]
    assert trivial.background_index(["pet", "Background"]) == 1


def test_fbeta_and_tversky_on_request_by_hand() -> None:
    # regression (#17): fbeta and tversky existed in the library but could not be asked for by name.
    # Image 0 has tp = fp = fn = 2: F2 = 5*2 / (5*2 + 4*2 + 2) = 0.5; Tversky(0.3, 0.7) = 2 / (2 + 0.6 + 1.4) = 0.5
    # Image 1 misses (tp 0, fn 4): both 0. Image 2 is empty: both undefined.
    pred, target = _pair()
    pred[0, 1, 3] = 0  # now tp 2, fp 1, fn 2: F2 = 10 / (10 + 8 + 1), Tversky = 2 / (2 + 0.3 + 1.4)
    t = _table(scoring.score_label_maps(pred, target, num_classes=2, metrics=["fbeta", "tversky", "dice"]))
    assert t[("0", "1", "fbeta")] == pytest.approx(10 / 19)
    assert t[("0", "1", "tversky")] == pytest.approx(2 / 3.7)
    assert t[("1", "1", "fbeta")] == 0.0 and t[("1", "1", "tversky")] == 0.0
    assert math.isnan(t[("2", "1", "fbeta")]) and math.isnan(t[("2", "1", "tversky")])
    pooled = {r["metric"]: r["value"] for r in scoring.pooled_scores(pred, target, num_classes=2,
                                                                       metrics=["fbeta", "tversky"])}
    assert pooled["fbeta"] == pytest.approx(10 / (10 + 4 * 6 + 1))  # tp 2, fp 1, fn 6 over the batch
    assert pooled["tversky"] == pytest.approx(2 / (2 + 0.3 + 0.7 * 6))
    assert "fbeta" not in catalogue.default_names()  # asked for by name; the default tables do not change


def test_pixel_accuracy_and_class_accuracy_are_distinct_names() -> None:
    # regression (#17): the bench table showed pixel accuracy under "accuracy", the rows held one-vs-rest accuracy
    # under the same word. Multiclass: pixel accuracy 3/4; class 2 one-vs-rest (tp 1, tn 2, fp 1) = 3/4;
    # class 0 = 4/4
    target = torch.tensor([[[0, 1], [2, 1]]])
    pred = torch.tensor([[[0, 1], [2, 2]]])
    t = _table(scoring.score_label_maps(pred, target, num_classes=3, metrics=["pixel_accuracy", "class_accuracy"]))
    assert t[("0", "all", "pixel_accuracy")] == pytest.approx(3 / 4)
    assert t[("0", "0", "class_accuracy")] == 1.0 and t[("0", "2", "class_accuracy")] == pytest.approx(3 / 4)
    assert "accuracy" not in catalogue.names()
    with pytest.raises(ValueError, match=r"'accuracy' \(an alias of 'pixel_accuracy'"):
        scoring.score_label_maps(pred, target, num_classes=3, metrics=["accuracy"])


def _two_nuclei() -> tuple[torch.Tensor, torch.Tensor]:
    """Image 0: reference two 4x4 squares, prediction finds the first only. Image 1: the prediction is exact."""
    target = torch.zeros(2, 16, 16, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    target[:, 9:13, 9:13] = 1
    pred = target.clone()
    pred[0, 9:13, 9:13] = 0
    return pred, target


def test_probabilities_are_scored_beside_the_labels_by_hand() -> None:
    # image 0: 16 found pixels at p = .75 (right), 16 missed at .125, 224 background at .125 (right)
    pred, target = _two_nuclei()
    probs = torch.where(pred == 1, 0.75, 0.125).unsqueeze(1).double()
    t = _table(scoring.score_label_maps(pred, target, num_classes=2, probabilities=probs))
    n = 256
    # top-label confidences: .75 (16 px, all right) and .875 (240 px, 224 right), bins of width 1/15
    ece0 = (16 * abs(1 - 0.75) + abs(224 - 240 * 0.875)) / n
    assert t[("0", "all", "ece")] == pytest.approx(ece0)
    brier0 = (16 * 0.25**2 + 16 * 0.875**2 + 224 * 0.125**2) / n
    assert t[("0", "all", "brier")] == pytest.approx(brier0)
    nll0 = -(16 * math.log(0.75) + 16 * math.log(0.125) + 224 * math.log(0.875)) / n
    assert t[("0", "all", "nll")] == pytest.approx(nll0)
    # AP: threshold .75 recalls 16 of 32 at precision 1; threshold .125 adds the rest at precision 32/256
    assert t[("0", "1", "ap")] == pytest.approx(0.5 * 1 + 0.5 * 32 / 256)
    # soft volume: 16 * .75 + 240 * .125 = 42 against 32 reference pixels
    assert t[("0", "1", "soft_volume_bias")] == pytest.approx((42 - 32) / 32)
    assert t[("0", "1", "volume_bias")] == -0.5 and t[("0", "1", "volume_error")] == 0.5
    assert t[("1", "1", "volume_bias")] == 0.0
    # objects: one of two found: DSB 1/2 at every threshold, PQ = SQ 1 x RQ 1 / (1 + 1/2), F1 2/3, AJI 16 / 32
    assert t[("0", "1", "dsb_score")] == 0.5 and t[("0", "1", "pq")] == pytest.approx(2 / 3)
    assert t[("0", "1", "object_f1")] == pytest.approx(2 / 3) and t[("0", "1", "aji")] == 0.5
    assert t[("1", "1", "dsb_score")] == 1.0 and t[("1", "1", "aji")] == 1.0


def test_probability_metrics_need_probabilities() -> None:
    pred, target = _two_nuclei()
    with pytest.raises(ValueError, match="needs probabilities"):
        scoring.score_label_maps(pred, target, num_classes=2, metrics=["ece"])
    with pytest.raises(ValueError, match="probabilities must be"):
        scoring.score_label_maps(pred, target, num_classes=2, probabilities=torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="one channel per class"):
        scoring.score_label_maps(pred, target, num_classes=2, probabilities=torch.full((2, 3, 16, 16), 1 / 3))


def test_object_metrics_against_true_instances() -> None:
    # two touching reference nuclei (ids 1 and 2) form ONE predicted component: against the reference's
    # components it is perfect, against the true instances both are missed (IoU 1/2 each, not > 1/2) and the
    # merged component is a false alarm: DSB 0, PQ 0
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:6, 1:7] = 1
    instances = torch.zeros_like(target)
    instances[0, 2:6, 1:4] = 1
    instances[0, 2:6, 4:7] = 2
    pred = target.clone()
    names = ["dsb_score", "pq", "object_f1", "aji"]
    semantic = _table(scoring.score_label_maps(pred, target, num_classes=2, metrics=names))
    true = _table(scoring.score_label_maps(pred, target, num_classes=2, metrics=names, instances=instances))
    assert [semantic[("0", "1", m)] for m in names] == [1.0, 1.0, 1.0, 1.0]
    assert true[("0", "1", "dsb_score")] == 0.0 and true[("0", "1", "pq")] == 0.0
    # AJI: reference 1 picks the merged component (IoU 1/2; the tie goes to the first), reference 2 too:
    # (12 + 12) / (24 + 24)
    assert true[("0", "1", "aji")] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="instances must be"):
        scoring.score_label_maps(pred, target, num_classes=2, instances=instances[:, :4])


def test_multiclass_object_and_topology_rows_leave_out_the_background() -> None:
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[0, 1:4, 1:4] = 1
    target[0, 5:9, 5:9] = 2
    target[0, 6:8, 6:8] = 0  # class 2 is a ring
    pred = target.clone()
    pred[0, 6:8, 6:8] = 2  # the hole filled
    rows = scoring.score_label_maps(pred, target, num_classes=3,
                                    metrics=["pq", "betti_0_error", "betti_1_error", "cldice", "dice"])
    t = _table(rows)
    assert {r["class"] for r in rows if r["metric"] != "dice"} == {"1", "2"}
    assert t[("0", "1", "betti_1_error")] == 0.0 and t[("0", "2", "betti_1_error")] == 1.0
    assert t[("0", "2", "betti_0_error")] == 0.0 and t[("0", "1", "cldice")] == 1.0
    # the filled ring: IoU 12 / 16 > 1/2, PQ = 0.75
    assert t[("0", "2", "pq")] == pytest.approx(0.75)


def test_signed_errors_have_no_ranking_direction() -> None:
    # regression: volume_bias ranked as lower-is-better would make a model that misses everything (-1) the best
    for name in ("volume_bias", "soft_volume_bias", "overconfidence"):
        entry = catalogue.get_entry(name)
        assert entry.ideal == 0.0 and entry.best == 0.0 and catalogue.direction(name) is None, name
    assert catalogue.direction("volume_error") is False and catalogue.direction("ece") is False


def test_pooled_probability_rows_are_dataset_level_not_image_means() -> None:
    # #19: ECE/Brier/NLL/AP of every test pixel at once, in the pooled rows beside the count metrics
    from segbench import distributed
    from segbench.metrics import ProbabilityHistogram, average_precision

    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 3, (4, 8, 8), generator=g)
    target[0, :2] = 255
    probs = (torch.randn(4, 3, 8, 8, generator=g) * 2).softmax(1)
    probs[1] = torch.nn.functional.one_hot(target[1], 3).movedim(-1, 0).float() * 0.9 + 0.1 / 3
    pred = probs.argmax(1)
    per_image, pooled = distributed.score_shards(
        pred, target, [0, 1, 2, 3], list("abcd"), num_classes=3, metrics=["dice", "ece", "brier", "ap"],
        ignore_index=255, probabilities=probs) or ([], [])
    got = {(r["class"], r["metric"]): r["value"] for r in pooled}
    hist = ProbabilityHistogram(15, 64, ignore_index=255)
    hist.update(probs, target)
    assert got[("all", "ece")] == pytest.approx(float(hist.calibration_error()), abs=1e-12)
    assert got[("all", "brier")] == pytest.approx(float(hist.brier_score()), abs=1e-12)
    ap = average_precision(probs, target, n_bins=960, ignore_index=255, average="none")
    for c in range(3):
        assert got[(str(c), "ap")] == pytest.approx(float(ap[c]), abs=1e-12)
    mean_ece = sum(r["value"] for r in per_image if r["metric"] == "ece") / 4
    assert abs(got[("all", "ece")] - mean_ece) > 1e-3  # pooled, not the mean of the images
    assert ("1", "dice") in got  # the count rows stay


def test_pooled_probability_rows_of_binary_data_go_to_the_foreground_class() -> None:
    h_target = torch.tensor([[[0, 1], [1, 1]]])
    probs = torch.tensor([[[[0.2, 0.7], [0.4, 0.9]]]])
    from segbench.metrics.probability_stream import scoring_bins

    h = scoring_bins(1, None)
    h.update(probs, h_target)
    rows = scoring.pooled_from_histograms({False: h}, num_classes=2, class_names=["bg", "fg"],
                                          metrics=["ap", "nll", "nll_ts"])
    assert [(r["class"], r["metric"]) for r in rows] == [("all", "nll"), ("fg", "ap")]
    assert rows[1]["value"] == pytest.approx(1.0)  # every positive above every negative


def test_include_background_false_never_computes_the_background_surface() -> None:
    from segbench.metrics import distance
    from segbench.metrics.catalogue import ScoringInputs

    t = torch.zeros(2, 10, 12, dtype=torch.long)
    t[:, 2:5, 2:6], t[:, 6:9, 7:11] = 1, 2
    p = t.roll(1, dims=1)
    inputs = ScoringInputs(p, t, 3, include_background=False)
    assert distance._shared_surfaces(inputs).pred_empty.shape == (2, 2)  # classes 1 and 2 only
    every = scoring.score_label_maps(p, t, num_classes=3, metrics=["dice", "hd95", "nsd"])
    fg = scoring.score_label_maps(p, t, num_classes=3, metrics=["dice", "hd95", "nsd"], include_background=False)
    assert fg == [r for r in every if r["class"] != "0"] and len(fg) == 2 * 2 * 3
