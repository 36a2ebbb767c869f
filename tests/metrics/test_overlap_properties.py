"""Properties every count metric must have, checked with hypothesis over random label maps."""

from __future__ import annotations

import math
import random

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.metrics import overlap

SETTINGS = settings(max_examples=30, deadline=None)
PER_CLASS = ["precision", "recall", "specificity", "dice", "iou", "tversky", "fbeta", "mcc", "cohen_kappa",
             "accuracy", "balanced_accuracy"]


@st.composite
def label_maps(draw: st.DrawFn, min_classes: int = 2) -> tuple[torch.Tensor, torch.Tensor, int]:
    c = draw(st.integers(min_classes, 5))
    n = draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    shape = (n, *spatial)
    target = torch.randint(0, c, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.5, target, torch.randint(0, c, shape, generator=g))
    return pred, target, c


def _all_one_or_nan(x: torch.Tensor) -> bool:
    return bool(((x == 1) | torch.isnan(x)).all())


@SETTINGS
@given(label_maps(), st.booleans())
def test_perfect_prediction_scores_one(case: tuple[torch.Tensor, torch.Tensor, int], per_image: bool) -> None:
    _, target, c = case
    present = torch.bincount(target.flatten(), minlength=c) > 0
    for name in overlap.names():
        fn = overlap.get(name)
        for avg in ("macro", "micro", "weighted"):
            value = fn(target, target, num_classes=c, average=avg, per_image=per_image)
            assert _all_one_or_nan(value), (name, avg, value)
        per_class = fn(target, target, num_classes=c, average="none")
        assert _all_one_or_nan(per_class), (name, per_class)
        if name in ("precision", "recall", "dice", "iou", "tversky", "fbeta", "balanced_accuracy", "accuracy"):
            # defined exactly for the present classes (accuracy: always)
            defined = ~torch.isnan(per_class)
            assert bool((defined == present).all()) or name == "accuracy"
            assert float(fn(target, target, num_classes=c)) == 1.0


@SETTINGS
@given(label_maps(), st.randoms(use_true_random=False))
def test_class_permutation_permutes_per_class_scores(
    case: tuple[torch.Tensor, torch.Tensor, int], rnd: random.Random
) -> None:
    pred, target, c = case
    perm = list(range(c))
    rnd.shuffle(perm)
    lut = torch.tensor(perm)
    for name in PER_CLASS:
        fn = overlap.get(name)
        before = fn(pred, target, num_classes=c, average="none")
        after = fn(lut[pred], lut[target], num_classes=c, average="none")
        torch.testing.assert_close(after[lut], before, equal_nan=True)
        for avg in ("macro", "micro", "weighted"):
            torch.testing.assert_close(
                fn(lut[pred], lut[target], num_classes=c, average=avg),
                fn(pred, target, num_classes=c, average=avg),
                equal_nan=True,
            )


@SETTINGS
@given(label_maps(), st.integers(1, 20), st.sampled_from([255, -1]), st.booleans())
def test_ignored_pixels_change_nothing(
    case: tuple[torch.Tensor, torch.Tensor, int], extra: int, ignore: int, per_image: bool
) -> None:
    pred, target, c = case
    n = pred.shape[0]
    g = torch.Generator().manual_seed(extra)
    flat_p, flat_t = pred.reshape(n, -1), target.reshape(n, -1)
    noise = torch.randint(0, c, (n, extra), generator=g)
    padded_p = torch.cat([flat_p, noise], 1)
    padded_t = torch.cat([flat_t, torch.full((n, extra), ignore)], 1)
    for name in PER_CLASS:
        fn = overlap.get(name)
        for avg in ("macro", "micro", "none"):
            plain = fn(flat_p, flat_t, num_classes=c, average=avg, per_image=per_image)
            ignored = fn(padded_p, padded_t, num_classes=c, average=avg, per_image=per_image, ignore_index=ignore)
            torch.testing.assert_close(ignored, plain, equal_nan=True)


@SETTINGS
@given(label_maps())
def test_per_image_rows_equal_each_image_alone(case: tuple[torch.Tensor, torch.Tensor, int]) -> None:
    pred, target, c = case
    for name in ("dice", "mcc", "specificity"):
        fn = overlap.get(name)
        table = fn(pred, target, num_classes=c, average="none", per_image=True)
        assert table.shape == (pred.shape[0], c)
        for i in range(pred.shape[0]):
            torch.testing.assert_close(table[i], fn(pred[i : i + 1], target[i : i + 1], num_classes=c,
                                                    average="none"), equal_nan=True)


@SETTINGS
@given(label_maps(), st.floats(0, 1))
def test_empty_score_replaces_exactly_the_undefined_values(
    case: tuple[torch.Tensor, torch.Tensor, int], empty: float
) -> None:
    pred, target, c = case
    for name in PER_CLASS:
        fn = overlap.get(name)
        nan_default = fn(pred, target, num_classes=c, average="none", per_image=True)
        filled = fn(pred, target, num_classes=c, average="none", per_image=True, empty_score=empty)
        expected = torch.where(torch.isnan(nan_default), torch.full_like(nan_default, empty), nan_default)
        torch.testing.assert_close(filled, expected)
        assert not math.isnan(float(fn(pred, target, num_classes=c, empty_score=empty)))
