"""segbench.reduction by hand: mean/sum/none over images, micro/macro/weighted over classes, per-image vs pooled,
the NaN rules (undefined scores skipped by means, ``empty_score`` replacing exactly them), and properties that
must always hold (class weights' scale, image and class order, the written-out backward)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.counts import Counts, dice_formula
from segbench.reduction import (
    Average,
    aggregate,
    check_average,
    check_reduction,
    class_mean_weights,
    nanmean,
    reduce_loss,
    reduce_loss_backward,
)

NAN = float("nan")


def _counts() -> Counts:
    """2 images x 3 classes. Dice per (image, class): image 0: 4/5, 2/3, 0/0 (undefined); image 1: 0/1, 6/7, 0/2.
    Pooled: tp (2, 4, 0), fp (1, 1, 2), fn (1, 1, 0): Dice 4/6, 8/10, 0/2; support tp + fn = 3, 5, 0."""
    t = torch.tensor
    return Counts(tp=t([[2, 1, 0], [0, 3, 0]]), fp=t([[1, 0, 0], [0, 1, 2]]), fn=t([[0, 1, 0], [1, 0, 0]]))


def _dice(**kw: Any) -> torch.Tensor:
    return aggregate(_counts(), dice_formula, **kw)


def test_average_none_keeps_the_undefined_case_nan() -> None:
    per = _dice(average="none", per_image=True)
    assert per.dtype == torch.float64 and per.shape == (2, 3)
    expected = torch.tensor([[4 / 5, 2 / 3, NAN], [0.0, 6 / 7, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(per, expected, equal_nan=True)
    torch.testing.assert_close(_dice(average="none"), torch.tensor([4 / 6, 8 / 10, 0.0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("average", "per_image", "expected"),
    [
        ("macro", False, (4 / 6 + 8 / 10 + 0) / 3),
        ("micro", False, 12 / 18),  # tp 6, fp 4, fn 2 over all classes
        ("weighted", False, (3 * 4 / 6 + 5 * 8 / 10 + 0 * 0) / 8),
        ("macro", True, ((4 / 5 + 2 / 3) / 2 + (0 + 6 / 7 + 0) / 3) / 2),  # image 0's undefined class skipped
        ("micro", True, (6 / 8 + 6 / 10) / 2),  # image 0: tp 3, fp 1, fn 1; image 1: tp 3, fp 3, fn 1
        ("weighted", True, ((2 * 4 / 5 + 2 * 2 / 3) / 4 + (1 * 0 + 3 * 6 / 7) / 4) / 2),
    ],
)
def test_class_averages_pooled_and_per_image(average: Average, per_image: bool, expected: float) -> None:
    assert float(_dice(average=average, per_image=per_image)) == pytest.approx(expected, abs=1e-12)


def test_empty_score_replaces_only_the_undefined_case_and_classes_select() -> None:
    assert float(_dice(per_image=True, empty_score=1.0)) == pytest.approx(((4 / 5 + 2 / 3 + 1) / 3 + 2 / 7) / 2)
    assert float(_dice(empty_score=1.0)) == pytest.approx(float(_dice()))  # nothing undefined when pooled
    assert float(_dice(classes=torch.tensor([1, 2]))) == pytest.approx((8 / 10 + 0) / 2)
    assert float(_dice(classes=torch.tensor([False, True, True]))) == pytest.approx((8 / 10 + 0) / 2)


def test_nan_rules_when_nothing_is_defined() -> None:
    zeros = torch.zeros(2, 3, dtype=torch.long)
    empty = Counts(zeros, zeros, zeros)
    for average in ("macro", "micro", "weighted"):
        for per_image in (False, True):
            assert math.isnan(float(aggregate(empty, dice_formula, average=average, per_image=per_image)))
    assert bool(torch.isnan(aggregate(empty, dice_formula, average="none", per_image=True)).all())
    assert float(aggregate(empty, dice_formula, empty_score=1.0)) == 1.0
    assert nanmean(torch.tensor([[1.0, NAN, 3.0], [NAN, NAN, NAN]]), dim=1).tolist()[0] == 2.0
    assert math.isnan(nanmean(torch.tensor([[NAN, NAN]]), dim=1).item())


def test_bad_options_raise_with_the_valid_ones() -> None:
    valid = r"\('micro', 'macro', 'weighted', 'none'\)"
    with pytest.raises(ValueError, match=rf"average must be one of {valid}, got 'mean'"):
        check_average("mean")
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
        check_reduction("avg")
    with pytest.raises(ValueError, match="average must be one of"):
        aggregate(_counts(), dice_formula, average="samples")  # type: ignore[arg-type]


PER_CLASS = torch.tensor([[0.1, 0.2, 0.6], [0.4, 0.0, 0.2]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("kw", "per_image"),
    [
        ({}, (0.3, 0.2)),
        ({"class_weights": torch.tensor([1.0, 2.0, 1.0])}, ((0.1 + 0.4 + 0.6) / 4, (0.4 + 0.0 + 0.2) / 4)),
        ({"classes": torch.tensor([1, 2])}, ((0.2 + 0.6) / 2, (0.0 + 0.2) / 2)),
        ({"class_weights": torch.tensor([1.0, 2.0, 1.0]), "classes": torch.tensor([1, 2])}, (1.0 / 3, 0.2 / 3)),
    ],
)
def test_loss_reductions_mean_sum_none(kw: dict[str, Any], per_image: tuple[float, float]) -> None:
    a, b = per_image
    none = reduce_loss(PER_CLASS, reduction="none", **kw)
    torch.testing.assert_close(none, torch.tensor([a, b], dtype=torch.float64))
    assert float(reduce_loss(PER_CLASS, reduction="mean", **kw)) == pytest.approx((a + b) / 2, abs=1e-12)
    assert float(reduce_loss(PER_CLASS, reduction="sum", **kw)) == pytest.approx(a + b, abs=1e-12)
    assert float(reduce_loss(PER_CLASS, **kw)) == pytest.approx((a + b) / 2, abs=1e-12)  # "mean" by default


def test_class_mean_weights_by_hand() -> None:
    like = torch.zeros(1, dtype=torch.float64)
    assert class_mean_weights(None, None, 4, like).tolist() == [0.25] * 4
    assert class_mean_weights(None, torch.tensor([0, 2]), 3, like).tolist() == [0.5, 0.0, 0.5]
    w = class_mean_weights(torch.tensor([1.0, 3.0, 4.0]), torch.tensor([1, 2]), 3, like)
    assert w.dtype == torch.float64 and w.tolist() == pytest.approx([0.0, 3 / 7, 4 / 7])


def _loss_options(draw: st.DrawFn) -> tuple[torch.Tensor, dict[str, Any]]:
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    per_class = torch.rand(n, c, generator=g, dtype=torch.float64)
    kw: dict[str, Any] = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        kw["class_weights"] = torch.rand(c, generator=g, dtype=torch.float64) + 0.1
    if c > 1 and draw(st.booleans()):
        kw["classes"] = torch.arange(1, c)
    return per_class, kw


loss_options = st.composite(_loss_options)


@settings(max_examples=150, deadline=None)
@given(case=loss_options(), scale=st.floats(0.01, 100.0))
def test_class_weights_scale_changes_nothing_and_backward_is_autograds(
    case: tuple[torch.Tensor, dict[str, Any]], scale: float
) -> None:
    per_class, kw = case
    value = reduce_loss(per_class, **kw)
    if "class_weights" in kw:
        scaled = reduce_loss(per_class, **{**kw, "class_weights": kw["class_weights"] * scale})
        torch.testing.assert_close(scaled, value)
    x = per_class.clone().requires_grad_(True)
    out = reduce_loss(x, **kw)
    g = torch.rand(out.shape, dtype=torch.float64) + 0.5
    (auto,) = torch.autograd.grad(out, x, g)
    written = reduce_loss_backward(g, per_class, **kw)
    torch.testing.assert_close(written.expand_as(auto), auto)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 4), c=st.integers(1, 4), seed=st.integers(0, 2**16),
    average=st.sampled_from(["macro", "micro", "weighted"]), per_image=st.booleans(),
)
def test_image_and_class_order_change_no_average(n: int, c: int, seed: int, average: Average, per_image: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    counts = Counts(*(torch.randint(0, 3, (n, c), generator=g) for _ in range(3)))
    value = aggregate(counts, dice_formula, average=average, per_image=per_image)
    images, classes = torch.randperm(n, generator=g), torch.randperm(c, generator=g)
    shuffled = Counts(*(x[images][:, classes] for x in counts[:3]))
    again = aggregate(shuffled, dice_formula, average=average, per_image=per_image)
    torch.testing.assert_close(again, value, equal_nan=True)
    pooled = aggregate(counts, dice_formula, average="none")
    if average == "macro" and not per_image and not bool(torch.isnan(pooled).all()):  # macro = mean of defined
        assert float(value) == pytest.approx(float(pooled[~torch.isnan(pooled)].mean()))
