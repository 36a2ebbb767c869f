"""inspect: hand-derived profile numbers, trivial scores equal to the metrics functions, measured advice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segbench import metrics
from segbench.inspect.advice import SMALL_FOREGROUND, advise
from segbench.inspect.profile import profile_masks, score_trivial_predictors

NAMES = ["background", "cell"]


def _nanmean(x: torch.Tensor) -> float:
    x = x.double()
    return float(x[~torch.isnan(x)].mean())


def test_profile_hand_derived() -> None:
    a = np.zeros((8, 8), dtype=np.uint8)
    a[0:3, 0:3] = 1  # 9 px, 8 on its boundary
    a[5, 5] = a[6, 6] = 1  # diagonal neighbours: one object under full connectivity
    b = np.zeros((4, 6), dtype=np.uint8)
    p = profile_masks([a, b], class_names=NAMES)
    cell = p.class_profile("cell")
    assert cell.pixels == 11 and cell.pixel_share == pytest.approx(11 / 88)
    assert cell.mean_image_share == pytest.approx((11 / 64 + 0) / 2)
    assert (cell.images_absent, cell.absent_share) == (1, 0.5)
    assert cell.component_sizes.n == 2 and (cell.component_sizes.min, cell.component_sizes.max) == (2, 9)
    assert cell.components_per_image.max == 2 and cell.boundary_share == pytest.approx(10 / 11)
    assert p.image_sizes == [((4, 6), 1), ((8, 8), 1)] and p.images_without_foreground == 1
    assert p.foreground_share.max == pytest.approx(11 / 64) and p.pooled_foreground_share == pytest.approx(11 / 88)


def test_profile_ignores_ignore_index_and_finds_background_by_name() -> None:
    m = np.array([[0, 1, 1, 2], [255, 255, 1, 0]], dtype=np.uint8)  # 0 pet, 1 background, 2 border
    p = profile_masks([m], class_names=["pet", "background", "border"], ignore_index=255)
    assert p.background == 1 and p.ignored_share == pytest.approx(2 / 8)
    assert p.class_profile("pet").pixel_share == pytest.approx(2 / 6)
    assert p.pooled_foreground_share == pytest.approx(3 / 6)


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for k, shape in enumerate([(20, 24), (20, 24), (16, 16), (30, 12)]):
        m = np.zeros(shape, dtype=np.uint8)
        if k != 1:  # image 1 has no foreground
            y, x = rng.integers(0, 8, size=2)
            m[y : y + 3 + k, x : x + 4] = 1
        out.append(m)
    return out


def test_trivial_scores_equal_the_metric_functions() -> None:
    masks = _masks()
    profile = profile_masks(masks, class_names=NAMES)
    names = ["pixel_accuracy", "class_accuracy", "dice", "iou", "recall", "hd", "hd95", "nsd"]
    trivial = score_trivial_predictors(masks, profile, metrics=names)
    got = {(t.predictor, t.metric, t.scored_class): t for t in trivial}
    for predictor, label in (("all-background", 0), ("all-foreground", 1), ("majority-class", 0)):
        targets = [torch.from_numpy(m.astype(np.int64))[None] for m in masks]
        preds = [torch.full_like(t, label) for t in targets]
        for name, fn in (("class_accuracy", metrics.accuracy), ("dice", metrics.dice_score), ("iou", metrics.iou_score),
                         ("recall", metrics.recall)):
            per_image = torch.stack([fn(p, t, average="none", per_image=True, num_classes=2)[0, 1]
                                     for p, t in zip(preds, targets, strict=True)])
            score = got[(predictor, name, "cell")]
            assert score.n_nan == int(torch.isnan(per_image).sum())
            assert score.mean == pytest.approx(_nanmean(per_image), rel=1e-12)
            flat_p = torch.cat([p.reshape(1, -1) for p in preds], 1)
            flat_t = torch.cat([t.reshape(1, -1) for t in targets], 1)
            pooled = float(fn(flat_p, flat_t, average="none", num_classes=2)[1])
            assert score.pooled == pytest.approx(pooled, rel=1e-12, nan_ok=True)
        pairs = zip(preds, targets, strict=True)
        hd = torch.cat([metrics.hausdorff_distance(p.bool(), t.bool()).reshape(1) for p, t in pairs])
        score = got[(predictor, "hd", "cell")]
        assert score.n_inf == int(torch.isinf(hd).sum()) and score.n_nan == int(torch.isnan(hd).sum())
        finite = hd[~torch.isnan(hd)]
        assert score.mean == pytest.approx(float(finite.mean()))
        assert score.pooled is None  # distances have no pooled form


def test_trivial_scores_hand_derived() -> None:
    masks = _masks()
    profile = profile_masks(masks, class_names=NAMES)
    trivial = score_trivial_predictors(masks, profile, metrics=["class_accuracy", "dice", "hd"])
    got = {(t.predictor, t.metric): t for t in trivial}
    f = np.array([m.mean() for m in masks])  # per-image foreground share
    assert got[("all-background", "class_accuracy")].mean == pytest.approx(float(np.mean(1 - f)))
    assert got[("all-background", "class_accuracy")].pooled == pytest.approx(1 - profile.pooled_foreground_share)
    # all-foreground: tp = |y|, fp = |bg|: Dice = 2f / (1 + f) per image
    assert got[("all-foreground", "dice")].mean == pytest.approx(float(np.mean(2 * f / (1 + f))))
    # all-background misses every image with foreground (inf) and is undefined (NaN) on the empty one
    hd = got[("all-background", "hd")]
    assert (hd.n_inf, hd.n_nan, hd.mean) == (3, 1, math.inf)
    assert got[("majority-class", "dice")].predicted_class == "background"


def _with_trivial(masks: list[np.ndarray]):  # type: ignore[no-untyped-def]
    profile = profile_masks(masks, class_names=NAMES)
    profile.trivial = score_trivial_predictors(masks, profile, metrics=["pixel_accuracy", "dice"])
    return profile


def test_advice_follows_the_measured_numbers() -> None:
    small = np.zeros((40, 40), dtype=np.uint8)
    small[5:9, 5:9] = 1  # 1% foreground, one 16 px object
    advice = advise(_with_trivial([small, small.copy()]))
    distrust = [a for a in advice if a.topic == "distrust"]
    assert len(distrust) == 1 and "0.990" in distrust[0].reason
    assert f"< {100 * SMALL_FOREGROUND:.1f}%" in distrust[0].reason
    assert any(a.topic == "metrics" and "boundary metrics" in a.text and "16 px" in a.reason for a in advice)
    assert not any(a.topic == "empty" for a in advice)  # no empty reference: no empty policy to state
    assert any(a.topic == "loss" and "region loss" in a.text for a in advice)

    large = np.zeros((40, 40), dtype=np.uint8)
    large[:, :24] = 1  # 60% foreground: all-foreground reaches 0.6 < 0.7, background 0.4
    empty = np.zeros((40, 40), dtype=np.uint8)
    advice = advise(_with_trivial([large, large.copy(), empty]))
    assert not any(a.topic == "distrust" for a in advice)
    assert any(a.topic == "metrics" and "Accuracy may be shown" in a.text for a in advice)
    assert any(a.topic == "metrics" and "optional" in a.text for a in advice)  # large objects
    empty_advice = [a for a in advice if a.topic == "empty"]
    assert len(empty_advice) == 1 and "1 of 3 images (33.3%)" in empty_advice[0].reason


def test_advice_names_object_and_calibration_metrics_on_measured_numbers() -> None:
    many = np.zeros((40, 40), dtype=np.uint8)
    for y in (2, 12, 22, 32):
        many[y : y + 4, 2:6] = 1  # 4 objects of 16 px: 64 / 1600 = 4% foreground
    advice = advise(_with_trivial([many, many.copy()]))
    objects = [a for a in advice if "dsb_score" in a.text]
    assert len(objects) == 1 and all(m in objects[0].text for m in ("pq", "object_f1", "aji", "--instances"))
    assert "images hold 4 objects" in objects[0].reason
    calibration = [a for a in advice if "ece" in a.text and "brier" in a.text]
    assert len(calibration) == 1
    # the constant predictor p = 0.04: pooled ECE 0, Brier 0.04 x 0.96 = 0.0384, AP 0.04
    assert "p = 0.040" in calibration[0].reason and "0.0384" in calibration[0].reason
    # one object per image: no object advice; no foreground at all: no calibration advice
    single = np.zeros((40, 40), dtype=np.uint8)
    single[5:15, 5:15] = 1
    assert not any("dsb_score" in a.text for a in advise(_with_trivial([single, single.copy()])))
    none = np.zeros((40, 40), dtype=np.uint8)
    assert not any("brier" in a.text for a in advise(profile_masks([none, none], class_names=NAMES)))
