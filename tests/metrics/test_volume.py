"""Volume error: hand-derived volumes in voxels, mm^3 and ml; soft volumes; the empty cases; bias and spread."""

from __future__ import annotations

import math

import pytest
import torch

from segbench import metrics as M


def _square(n: int, size: int, side: int) -> torch.Tensor:
    m = torch.zeros(n, size, size, dtype=torch.long)
    m[:, :side, :side] = 1
    return m


def test_hand_values_with_spacing_and_units() -> None:
    t = _square(1, 8, 4)  # 16 voxels
    p = _square(1, 8, 5)  # 25 voxels
    v = M.volume_error(p, t)
    assert v.unit == "voxel" and v.signed.tolist() == [[9.0]] and v.relative.tolist() == [[9 / 16]]
    mm = M.volume_error(p, t, spacing=(0.5, 0.8))  # 0.4 mm^2 per pixel
    assert mm.unit == "mm3" and mm.signed[0].tolist() == pytest.approx([3.6])
    t3 = torch.zeros(1, 4, 4, 4, dtype=torch.long)
    t3[0, :2, :2, :2] = 1  # 8 voxels of 2 x 2 x 2.5 = 10 mm^3
    p3 = torch.zeros_like(t3)
    assert M.volume_error(p3, t3, spacing=(2.0, 2.0, 2.5), unit="ml").signed[0].tolist() == pytest.approx([-0.08])


def test_multiclass_per_class_and_background() -> None:
    t = torch.tensor([[0, 1, 1, 2, 2, 2]])
    p = torch.tensor([[1, 1, 1, 2, 0, 0]])
    v = M.volume_error(p, t, num_classes=3)
    assert v.predicted.tolist() == [[2.0, 3.0, 1.0]] and v.reference.tolist() == [[1.0, 2.0, 3.0]]
    assert v.relative[0].tolist() == pytest.approx([1.0, 0.5, -2 / 3])
    assert M.volume_error(p, t, num_classes=3, include_background=False).signed.tolist() == [[1.0, -2.0]]
    assert M.volume_error(p, t, num_classes=3, ignore_index=0).signed.tolist() == [[2.0, 0.0, -2.0]]  # pixel 0 dropped


def test_empty_cases_follow_the_policy() -> None:
    """Both empty: signed 0, relative undefined (NaN, counted); a miss: relative -1; a false alarm: +inf."""
    t = torch.zeros(3, 4, 4, dtype=torch.long)
    p = torch.zeros(3, 4, 4, dtype=torch.long)
    t[1, :2, :2] = 1  # image 1: missed
    p[2, :1, :3] = 1  # image 2: false alarm
    v = M.volume_error(p, t)
    assert v.signed[:, 0].tolist() == [0.0, -4.0, 3.0]
    rel = v.relative[:, 0]
    assert math.isnan(rel[0]) and rel[1] == -1.0 and rel[2] == math.inf
    assert v.n_undefined.tolist() == [1]
    assert v.relative_spread.tolist() == [math.inf]  # a false alarm is the failure it is, never skipped
    assert v.bias.tolist() == pytest.approx([-1 / 3]) and v.spread.tolist() == pytest.approx([7 / 3])


def test_soft_volume_is_the_sum_of_probabilities() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(2, 3, 6, 6, generator=g, dtype=torch.float64).softmax(1)
    t = torch.randint(0, 3, (2, 6, 6), generator=g)
    v = M.volume_error(probs, t, spacing=2.0)
    torch.testing.assert_close(v.predicted, probs.sum((2, 3)) * 4.0)
    ref = torch.stack([(t == k).sum((1, 2)) for k in range(3)], 1).double() * 4.0
    torch.testing.assert_close(v.reference, ref)
    onehot = torch.nn.functional.one_hot(t, 3).movedim(-1, 1).double()  # hard probabilities: the hard volumes
    torch.testing.assert_close(M.volume_error(onehot, t).predicted, M.volume_error(t, t, num_classes=3).predicted)
    logits = torch.randn(2, 1, 6, 6, generator=g)
    binary = M.volume_error(logits, (t > 0).long(), from_logits=True)
    torch.testing.assert_close(binary.predicted, logits.sigmoid().sum((2, 3)).double())
    ignored = torch.where(t == 2, torch.full_like(t, 255), t)
    soft_ignored = M.volume_error(probs, ignored, ignore_index=255)
    torch.testing.assert_close(soft_ignored.predicted, (probs * (t != 2).unsqueeze(1)).sum((2, 3)))


def test_soft_dice_like_over_segmentation_shows_as_positive_bias() -> None:
    t = _square(4, 10, 4)
    grown = _square(4, 10, 5)
    shrunk = _square(4, 10, 3)
    assert float(M.volume_error(grown, t).bias[0]) > 0 > float(M.volume_error(shrunk, t).bias[0])
    mixed = torch.cat([grown[:2], shrunk[2:]])
    v = M.volume_error(mixed, t)
    assert float(v.bias[0]) == pytest.approx((9 + 9 - 7 - 7) / 4) and float(v.spread[0]) == pytest.approx(8.0)


def test_multilabel_volumes_per_channel() -> None:
    t = torch.zeros(1, 2, 4, 4, dtype=torch.long)
    t[0, 0, :2, :2] = 1
    t[0, 1, :1] = 1
    p = torch.zeros_like(t)
    p[0, 0, :3, :2] = 1
    v = M.volume_error(p, t, multilabel=True)
    assert v.predicted.tolist() == [[6.0, 0.0]] and v.reference.tolist() == [[4.0, 4.0]]
    assert M.volume_error(p.float() * 0.5, t, multilabel=True).predicted.tolist() == [[3.0, 0.0]]
    assert M.volume_error(p, t, multilabel=True, include_background=False).signed.tolist() == [[-4.0]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"unit": "ml"}, "needs the voxel spacing"), ({"spacing": 1.0, "unit": "voxel"}, "drop spacing"),
     ({"spacing": (1.0, 2.0, 3.0)}, "one value per spatial axis"), ({"unit": "cm3", "spacing": 1.0}, "unit")],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    t = _square(1, 4, 2)
    with pytest.raises(ValueError, match=match):
        M.volume_error(t, t, **kwargs)  # type: ignore[arg-type]
