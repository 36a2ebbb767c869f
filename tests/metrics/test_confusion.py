"""ConfusionMatrix: streaming, merging and scoring equal one call on everything."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench import metrics as M
from segbench.metrics import ConfusionMatrix, overlap

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def dataset_and_splits(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int, list[int]]:
    """A batch of label maps with some ignored pixels, and cut points splitting it into consecutive batches."""
    c = draw(st.integers(2, 5))
    n = draw(st.integers(1, 8))
    spatial = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    shape = (n, *spatial)
    target = torch.randint(0, c, shape, generator=g)
    target = torch.where(torch.rand(shape, generator=g) < 0.1, torch.full_like(target, 255), target)
    pred = torch.randint(0, c, shape, generator=g)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return pred, target, c, [0, *cuts, n]


def _batches(x: torch.Tensor, bounds: list[int]) -> list[torch.Tensor]:
    return [x[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@SETTINGS
@given(dataset_and_splits())
def test_any_split_streamed_equals_one_call(case: tuple[torch.Tensor, torch.Tensor, int, list[int]]) -> None:
    pred, target, c, bounds = case
    whole = ConfusionMatrix(c, ignore_index=255, per_image=True)
    whole.update(pred, target)
    streamed = ConfusionMatrix(c, ignore_index=255, per_image=True)
    for p, t in zip(_batches(pred, bounds), _batches(target, bounds), strict=True):
        streamed.update(p, t)
    assert torch.equal(streamed.compute(), whole.compute())
    assert torch.equal(streamed.compute(per_image=True), whole.compute(per_image=True))
    for name in ("dice", "mcc", "balanced_accuracy"):
        for per_image in (False, True):
            expected = overlap.get(name)(pred, target, num_classes=c, ignore_index=255, per_image=per_image)
            torch.testing.assert_close(streamed.score(name, per_image=per_image), expected, equal_nan=True)


@SETTINGS
@given(dataset_and_splits(), st.booleans())
def test_merged_parts_equal_the_whole(case: tuple[torch.Tensor, torch.Tensor, int, list[int]], per_image: bool) -> None:
    pred, target, c, bounds = case
    whole = ConfusionMatrix(c, ignore_index=255, per_image=per_image)
    whole.update(pred, target)
    parts = []
    for p, t in zip(_batches(pred, bounds), _batches(target, bounds), strict=True):
        part = ConfusionMatrix(c, ignore_index=255, per_image=per_image)
        part.update(p, t)
        parts.append(part)
    merged = ConfusionMatrix(c, ignore_index=255, per_image=per_image)
    for part in parts:
        assert merged.merge(part) is merged
    assert torch.equal(merged.compute(), whole.compute())
    if per_image:
        assert torch.equal(merged.compute(per_image=True), whole.compute(per_image=True))


def test_compute_orientation_reset_and_repr() -> None:
    cm = ConfusionMatrix(3)
    assert cm.compute().tolist() == [[0, 0, 0]] * 3
    cm.update(torch.tensor([[2, 2, 0]]), torch.tensor([[0, 2, 0]]))  # target 0 predicted 2 once
    assert cm.compute().tolist() == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]
    cm.reset()
    assert cm.compute().sum() == 0
    assert "num_classes=3" in repr(cm)
    out = cm.compute()
    out += 1  # compute() returns a copy
    assert cm.compute().sum() == 0


def test_binary_matrix_scores_the_foreground() -> None:
    cm = ConfusionMatrix()  # num_classes=None: binary input, as the functions
    target = torch.tensor([[1, 1, 0, 0]])
    pred = torch.tensor([[1, 0, 0, 0]])
    cm.update(pred, target)
    assert cm.binary
    assert float(cm.score("dice")) == pytest.approx(M.dice_score(pred, target).item())
    assert cm.score("dice", average="none").tolist() == [pytest.approx(2 / 3)]
    bools = ConfusionMatrix(2)
    bools.update(pred.bool(), target.bool())
    assert bools.binary and float(bools.score("recall")) == 0.5
    with pytest.raises(ValueError, match="mixes binary"):
        bools.update(pred, target)  # integer maps with num_classes=2 are a 2-class multiclass problem


def test_multilabel_stream() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (4, 3, 5, 5), generator=g)
    pred = torch.randint(0, 2, (4, 3, 5, 5), generator=g)
    cm = ConfusionMatrix(multilabel=True, per_image=True)
    cm.update(pred[:1], target[:1])
    cm.update(pred[1:], target[1:])
    assert cm.num_classes == 3 and cm.compute().shape == (3, 2, 2) and cm.compute(per_image=True).shape == (4, 3, 2, 2)
    # channel 1's [[tn, fp], [fn, tp]]
    t1, p1 = target[:, 1].bool(), pred[:, 1].bool()
    expected = [[int((~t1 & ~p1).sum()), int((~t1 & p1).sum())], [int((t1 & ~p1).sum()), int((t1 & p1).sum())]]
    assert cm.compute()[1].tolist() == expected
    torch.testing.assert_close(cm.score("iou", average="none"), M.iou_score(pred, target, multilabel=True,
                                                                            average="none"))


def test_per_image_state_and_its_errors() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    assert cm.num_images == -1
    with pytest.raises(ValueError, match="per-image matrices were not kept"):
        cm.compute(per_image=True)
    with pytest.raises(ValueError, match="per-image matrices were not kept"):
        cm.score("dice", per_image=True)
    kept = ConfusionMatrix(2, per_image=True)
    assert kept.compute(per_image=True).shape == (0, 2, 2)
    kept.update(torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))
    assert kept.num_images == 3


def test_merge_errors() -> None:
    with pytest.raises(TypeError, match="merge\\(\\) takes a ConfusionMatrix, got Tensor"):
        ConfusionMatrix(3).merge(torch.zeros(3, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="merge\\(\\) needs matrices built alike"):
        ConfusionMatrix(3).merge(ConfusionMatrix(4))
    with pytest.raises(ValueError, match="built alike"):
        ConfusionMatrix(3, per_image=True).merge(ConfusionMatrix(3))
    a, b = ConfusionMatrix(2), ConfusionMatrix(2)
    a.update(torch.tensor([[True]]), torch.tensor([[True]]))
    b.update(torch.tensor([[1]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="merge\\(\\) mixes binary"):
        a.merge(b)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ConfusionMatrix(1)
    with pytest.raises(TypeError, match="num_classes must be an int or None, got float"):
        ConfusionMatrix(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="knows its channels after update"):
        ConfusionMatrix(multilabel=True).compute()


def test_update_validates_like_the_functions() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(TypeError, match="to_labels"):
        cm.update(torch.rand(1, 4), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got a label 3"):
        cm.update(torch.tensor([[3]]), torch.tensor([[0]]))
    assert cm.compute().sum() == 0  # a rejected batch counts nowhere


def test_sync_without_process_group_is_a_no_op() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([[0, 1]]), torch.tensor([[1, 1]]))
    assert cm.sync() is cm
    assert cm.compute().tolist() == [[0, 0], [1, 1]]
    cm.update(torch.tensor([[0]]), torch.tensor([[0]]))  # still updatable: nothing was synced
