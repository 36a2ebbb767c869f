"""Count metrics on small cases whose values are derived by hand, and the argument semantics of the DESIGN."""

from __future__ import annotations

import math

import pytest
import torch

from segbench import metrics as M
from segbench.metrics import overlap

NAN = float("nan")


def test_accuracy_paradox_on_imbalanced_binary_maps() -> None:
    """10 % foreground, all predicted background: accuracy 0.9 while every foreground score is 0."""
    target = torch.zeros(2, 10, 10, dtype=torch.bool)
    target[:, :1, :] = True  # 10 % foreground
    pred = torch.zeros_like(target)
    assert float(M.accuracy(pred, target)) == pytest.approx(0.9)
    for fn in (M.iou_score, M.f1_score, M.recall, M.tversky_index, M.fbeta_score):
        assert float(fn(pred, target)) == 0.0
    assert float(M.balanced_accuracy(pred, target)) == 0.5
    assert float(M.precision(pred, target)) == 0.0  # a miss: 0/0 scored as the failure it is
    assert math.isnan(float(M.precision(pred, target, strict_undefined=True)))  # the textbook 0/0
    assert float(M.specificity(pred, target)) == 1.0
    assert float(M.mcc(pred, target)) == 0.0  # constant prediction: the chance level
    assert math.isnan(float(M.mcc(pred, target, strict_undefined=True)))
    assert float(M.cohen_kappa(pred, target)) == 0.0  # p_o = p_e = 0.9


def test_three_class_hand_values() -> None:
    # target rows, prediction columns:  M = [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    target = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2]])
    pred = torch.tensor([[0, 0, 1, 1, 2, 0, 2, 2]])
    kw = {"num_classes": 3}
    # tp = [2, 1, 2], fp = [1, 1, 1], fn = [1, 1, 1], tn = [4, 5, 4]
    torch.testing.assert_close(M.f1_score(pred, target, average="none", **kw).float(),
                               torch.tensor([4 / 6, 2 / 4, 4 / 6]))
    torch.testing.assert_close(M.iou_score(pred, target, average="none", **kw).float(),
                               torch.tensor([2 / 4, 1 / 3, 2 / 4]))
    torch.testing.assert_close(M.specificity(pred, target, average="none", **kw).float(),
                               torch.tensor([4 / 5, 5 / 6, 4 / 5]))
    assert float(M.iou_score(pred, target, average="micro", **kw)) == pytest.approx(5 / 11)
    assert float(M.iou_score(pred, target, average="weighted", **kw)) == pytest.approx((3 * 0.5 + 2 / 3 + 3 * 0.5) / 8)
    assert float(M.accuracy(pred, target, **kw)) == pytest.approx(5 / 8)
    assert float(M.balanced_accuracy(pred, target, **kw)) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    # multiclass MCC: s=8, c=5, t=[3,2,3], p=[3,2,3]: (5*8 - 22) / (64 - 22) = 18 / 42
    assert float(M.mcc(pred, target, **kw)) == pytest.approx(18 / 42)
    # kappa: p_o = 5/8, p_e = 22/64 -> (40 - 22) / (64 - 22)
    assert float(M.cohen_kappa(pred, target, **kw)) == pytest.approx(18 / 42)
    # one-vs-rest MCC of class 1: (1*5 - 1*1) / sqrt(2*2*6*6)
    assert float(M.mcc(pred, target, average="none", **kw)[1]) == pytest.approx(4 / 12)
    # without background: the mean over classes 1 and 2 only
    assert float(M.f1_score(pred, target, include_background=False, **kw)) == pytest.approx((2 / 4 + 4 / 6) / 2)
    assert M.f1_score(pred, target, include_background=False, average="none", **kw).shape == (2,)


def test_tversky_and_fbeta_special_cases() -> None:
    g = torch.Generator().manual_seed(3)
    target, pred = torch.randint(0, 4, (2, 6, 6), generator=g), torch.randint(0, 4, (2, 6, 6), generator=g)
    kw = {"num_classes": 4, "average": "none"}
    tversky = M.tversky_index
    torch.testing.assert_close(tversky(pred, target, alpha=0.5, beta=0.5, **kw), M.dice_score(pred, target, **kw))
    torch.testing.assert_close(tversky(pred, target, alpha=1.0, beta=1.0, **kw), M.iou_score(pred, target, **kw))
    torch.testing.assert_close(M.fbeta_score(pred, target, beta=1.0, **kw), M.f1_score(pred, target, **kw))
    # beta -> 0 tends to precision, large beta to recall
    torch.testing.assert_close(M.fbeta_score(pred, target, beta=1e-4, **kw), M.precision(pred, target, **kw),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(M.fbeta_score(pred, target, beta=1e4, **kw), M.recall(pred, target, **kw),
                               atol=1e-6, rtol=0)
    # Tversky: alpha weighs false positives -> only over-segmentation is punished when beta = 0
    t = torch.tensor([[1, 1, 0, 0]])
    over = torch.tensor([[1, 1, 1, 1]])
    assert float(M.tversky_index(over, t, alpha=0.0, beta=1.0)) == 1.0
    assert float(M.tversky_index(over, t, alpha=1.0, beta=0.0)) == 0.5


def test_aliases_are_the_same_functions() -> None:
    assert M.dice_score is M.f1_score
    assert M.jaccard_index is M.iou_score
    assert overlap.names() == ["accuracy", "balanced_accuracy", "precision", "recall", "specificity", "dice", "iou",
                         "tversky", "fbeta", "mcc", "cohen_kappa"]
    assert overlap.get("jaccard") is M.iou_score
    assert overlap.METRICS["dice"] is M.dice_score


def test_empty_classes_are_nan_and_skipped_or_empty_score() -> None:
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 0, 1, 0]])
    per = M.f1_score(pred, target, num_classes=3, average="none")
    assert math.isnan(float(per[2]))  # class 2 absent from both
    assert float(M.f1_score(pred, target, num_classes=3)) == pytest.approx((0.8 + 2 / 3) / 2)
    assert float(M.f1_score(pred, target, num_classes=3, empty_score=1.0)) == pytest.approx((0.8 + 2 / 3 + 1) / 3)
    # an empty binary pair: undefined by default, the Kaggle convention with empty_score=1
    empty = torch.zeros(1, 4, 4, dtype=torch.bool)
    assert math.isnan(float(M.dice_score(empty, empty)))
    assert float(M.dice_score(empty, empty, empty_score=1.0)) == 1.0
    # a false positive on an empty target is 0, not undefined
    fp = empty.clone()
    fp[0, 0, 0] = True
    assert float(M.dice_score(fp, empty, empty_score=1.0)) == 0.0


def test_per_image_versus_pooled() -> None:
    """Pooled Dice weighs big objects; per-image Dice weighs images equally (the classic batch-Dice gap)."""
    target = torch.zeros(2, 10, 10, dtype=torch.bool)
    target[0] = True  # a big object, found exactly
    target[1, 0, 0] = True  # a one-pixel object, missed
    pred = target.clone()
    pred[1, 0, 0] = False
    assert float(M.dice_score(pred, target)) == pytest.approx(200 / 201)
    assert float(M.dice_score(pred, target, per_image=True)) == pytest.approx(0.5)
    assert M.dice_score(pred, target, per_image=True, average="none").tolist() == [[1.0], [0.0]]


def test_3d_volumes_and_uint8_and_numpy_inputs() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (1, 4, 5, 6), generator=g)
    pred = torch.randint(0, 3, (1, 4, 5, 6), generator=g)
    flat = M.iou_score(pred.reshape(1, -1), target.reshape(1, -1), num_classes=3, average="none")
    torch.testing.assert_close(M.iou_score(pred, target, num_classes=3, average="none"), flat)
    torch.testing.assert_close(M.iou_score(pred.to(torch.uint8), target.to(torch.uint8), num_classes=3,
                                           average="none"), flat)
    torch.testing.assert_close(M.iou_score(pred.numpy(), target.numpy(), num_classes=3, average="none"), flat)


def test_multilabel_channels_are_binary_problems() -> None:
    target = torch.tensor([[[1, 1, 0, 0], [0, 0, 0, 1]]])  # (N=1, C=2, 4)
    pred = torch.tensor([[[1, 0, 0, 0], [0, 0, 1, 1]]])
    per = M.f1_score(pred, target, multilabel=True, average="none")
    torch.testing.assert_close(per, torch.tensor([2 / 3, 2 / 3], dtype=torch.float64))
    assert float(M.f1_score(pred, target, multilabel=True, average="micro")) == pytest.approx(4 / 6)
    assert M.f1_score(pred, target, multilabel=True, include_background=False, average="none").tolist() == [
        pytest.approx(2 / 3)
    ]
    # balanced accuracy per channel: (recall + specificity) / 2
    torch.testing.assert_close(M.balanced_accuracy(pred, target, multilabel=True, average="none"),
                               torch.tensor([(0.5 + 1) / 2, (1 + 2 / 3) / 2], dtype=torch.float64))
    assert float(M.accuracy(pred, target, multilabel=True)) == pytest.approx(6 / 8)


def test_from_confusion_equals_the_functions() -> None:
    g = torch.Generator().manual_seed(5)
    target, pred = torch.randint(0, 3, (3, 5, 5), generator=g), torch.randint(0, 3, (3, 5, 5), generator=g)
    cm = M.ConfusionMatrix(3, per_image=True)
    cm.update(pred, target)
    for name in overlap.names():
        for avg in ("macro", "micro", "weighted", "none"):
            for per_image in (False, True):
                expected = overlap.get(name)(pred, target, num_classes=3, average=avg, per_image=per_image)
                got = M.from_confusion(cm.compute(per_image=per_image), name, average=avg, per_image=per_image)
                torch.testing.assert_close(got, expected, equal_nan=True)
                torch.testing.assert_close(cm.score(name, average=avg, per_image=per_image), expected, equal_nan=True)


def test_from_confusion_binary_and_errors() -> None:
    cm = torch.tensor([[5, 1], [2, 2]])
    assert float(M.from_confusion(cm, "recall", binary=True)) == 0.5
    assert M.from_confusion(cm, "recall", average="none").tolist() == [5 / 6, 0.5]
    assert float(M.from_confusion(cm, "fbeta", binary=True, beta=1.0)) == pytest.approx(4 / 7)
    with pytest.raises(ValueError, match="unknown count metric 'hd95'"):
        M.from_confusion(cm, "hd95")
    with pytest.raises(TypeError, match=r"dice takes no parameter\(s\) \['beta'\]"):
        M.from_confusion(cm, "dice", beta=2.0)
    with pytest.raises(ValueError, match=r"confusion must have shape \(N, C, C\)"):
        M.from_confusion(torch.zeros(2, 3), "dice")
    with pytest.raises(ValueError, match="binary=True needs a 2-class matrix"):
        M.from_confusion(torch.zeros(3, 3), "dice", binary=True)
    with pytest.raises(ValueError, match="average must be one of"):
        M.from_confusion(cm, "dice", average="samples")


def test_results_are_float64_on_the_input_device() -> None:
    t = torch.tensor([[0, 1, 1]])
    out = M.iou_score(t, t)
    assert out.dtype == torch.float64 and out.device == t.device and out.shape == ()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu() -> None:
    g = torch.Generator().manual_seed(1)
    target, pred = torch.randint(0, 4, (2, 16, 16), generator=g), torch.randint(0, 4, (2, 16, 16), generator=g)
    for name in overlap.names():
        cpu = overlap.get(name)(pred, target, num_classes=4, average="none", per_image=True)
        cuda = overlap.get(name)(pred.cuda(), target.cuda(), num_classes=4, average="none", per_image=True)
        assert cuda.is_cuda
        torch.testing.assert_close(cuda.cpu(), cpu, equal_nan=True)
