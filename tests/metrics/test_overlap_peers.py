"""Count metrics against torchmetrics and MONAI where their definitions match ours, and the documented places
where they differ on purpose."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from segbench import metrics as M

tmc = pytest.importorskip("torchmetrics.functional.classification")
monai_metrics = pytest.importorskip("monai.metrics")


def _dense_case(seed: int, c: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy predictions with every class in every image of target and prediction (no 0/0 anywhere)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, c, shape, generator=g)
    noise = torch.randint(0, c, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.5, target, noise)
    flat_t, flat_p = target.view(shape[0], -1), pred.view(shape[0], -1)
    flat_t[:, :c] = torch.arange(c)  # guarantee presence
    flat_p[:, c : 2 * c] = torch.arange(c)
    return pred, target


CASES = [(seed, c, shape) for seed, (c, shape) in enumerate([(2, (2, 9, 7)), (3, (3, 8, 8)), (4, (2, 4, 5, 6)),
                                                             (5, (1, 16, 16)), (3, (4, 3, 4, 5))])]


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a.double().cpu(), b.double().cpu(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("seed", "c", "shape"), CASES)
def test_torchmetrics_global_and_samplewise(seed: int, c: int, shape: tuple[int, ...]) -> None:
    pred, target = _dense_case(seed, c, shape)
    pairs = [
        (M.iou_score, tmc.multiclass_jaccard_index, ("macro", "micro", "weighted", "none"), False),
        (M.f1_score, tmc.multiclass_f1_score, ("macro", "micro", "weighted", "none"), True),
        (M.precision, tmc.multiclass_precision, ("macro", "micro", "weighted", "none"), True),
        (M.recall, tmc.multiclass_recall, ("macro", "micro", "weighted", "none"), True),
        (M.specificity, tmc.multiclass_specificity, ("macro", "weighted", "none"), True),
    ]
    for ours, theirs, averages, samplewise in pairs:
        for avg in averages:
            _close(ours(pred, target, num_classes=c, average=avg), theirs(pred, target, c, average=avg))
            if samplewise and avg != "none":
                per = theirs(pred, target, c, average=avg, multidim_average="samplewise")
                _close(ours(pred, target, num_classes=c, average=avg, per_image=True), per.mean())
    _close(M.accuracy(pred, target, num_classes=c), tmc.multiclass_accuracy(pred, target, c, average="micro"))
    _close(M.mcc(pred, target, num_classes=c), tmc.multiclass_matthews_corrcoef(pred, target, c))
    _close(M.cohen_kappa(pred, target, num_classes=c), tmc.multiclass_cohen_kappa(pred, target, c))
    # torchmetrics' macro "accuracy" is the mean per-class recall: our balanced accuracy
    _close(M.balanced_accuracy(pred, target, num_classes=c), tmc.multiclass_accuracy(pred, target, c, average="macro"))


@pytest.mark.parametrize(("seed", "c", "shape"), CASES)
def test_torchmetrics_ignore_index_and_multilabel(seed: int, c: int, shape: tuple[int, ...]) -> None:
    pred, target = _dense_case(seed, c, shape)
    g = torch.Generator().manual_seed(seed + 99)
    ignored = torch.where(torch.rand(shape, generator=g) < 0.2, torch.full_like(target, -1), target)
    _close(M.f1_score(pred, ignored, num_classes=c, ignore_index=-1, average="none"),
           tmc.multiclass_f1_score(pred, ignored, c, average="none", ignore_index=-1))
    ml_pred = torch.nn.functional.one_hot(pred, c).movedim(-1, 1)
    ml_target = torch.nn.functional.one_hot(target, c).movedim(-1, 1)
    for avg in ("macro", "micro", "none"):
        _close(M.f1_score(ml_pred, ml_target, multilabel=True, average=avg),
               tmc.multilabel_f1_score(ml_pred, ml_target, c, average=avg))
        _close(M.accuracy(ml_pred, ml_target, multilabel=True, average=avg),
               tmc.multilabel_accuracy(ml_pred, ml_target, c, average=avg))


@pytest.mark.parametrize(("seed", "c", "shape"), CASES)
@pytest.mark.parametrize("include_background", [True, False])
def test_monai_confusion_matrix_metrics_per_image_per_class(
    seed: int, c: int, shape: tuple[int, ...], include_background: bool
) -> None:
    pred, target = _dense_case(seed, c, shape)
    onehot = lambda x: torch.nn.functional.one_hot(x, c).movedim(-1, 1).float()  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cm = monai_metrics.get_confusion_matrix(onehot(pred), onehot(target), include_background=include_background)
    pairs = {
        "sensitivity": M.recall,
        "specificity": M.specificity,
        "precision": M.precision,
        "f1 score": M.f1_score,
        "threat score": M.iou_score,
        "matthews correlation coefficient": M.mcc,
        "accuracy": M.accuracy,
    }
    for name, ours in pairs.items():
        got = ours(pred, target, num_classes=c, average="none", per_image=True, include_background=include_background)
        _close(got, monai_metrics.compute_confusion_matrix_metric(name, cm))


# ---- where peers differ from us on purpose ----------------------------------------------------------------------


def test_deviation_torchmetrics_argmaxes_float_input_we_refuse() -> None:
    """torchmetrics silently argmaxes a float prediction over dim 1: a (N, 1, H, W) probability map becomes all
    zeros. We refuse floats and name to_labels, which thresholds a one-channel map as intended."""
    target = torch.tensor([[[1, 1], [0, 0]]])
    probs = torch.tensor([[[[0.9, 0.8], [0.1, 0.2]]]])  # (N, 1, H, W), a perfect binary prediction
    theirs = tmc.binary_f1_score(probs.argmax(1), target)  # what argmax over the channel axis gives
    assert float(theirs) == 0.0
    with pytest.raises(TypeError, match="to_labels"):
        M.f1_score(probs[:, 0], target)
    assert float(M.f1_score(M.to_labels(probs, from_logits=False), target)) == 1.0


def test_deviation_torchmetrics_macro_accuracy_is_mean_recall() -> None:
    """torchmetrics' multiclass_accuracy(average="macro") is the mean recall (balanced accuracy); our macro
    accuracy is the mean one-vs-rest accuracy (tp + tn) / total, as MONAI's "accuracy"."""
    pred, target = torch.tensor([[0, 0, 0, 2]]), torch.tensor([[0, 1, 1, 2]])
    assert float(tmc.multiclass_accuracy(pred, target, 3, average="macro")) == pytest.approx(2 / 3)
    assert float(M.balanced_accuracy(pred, target, num_classes=3)) == pytest.approx(2 / 3)
    # one-vs-rest: class 0 -> 2/4, class 1 -> 2/4, class 2 -> 4/4
    assert float(M.accuracy(pred, target, num_classes=3, average="macro")) == pytest.approx(2 / 3)
    assert M.accuracy(pred, target, num_classes=3, average="none").tolist() == [0.5, 0.5, 1.0]


def test_torchmetrics_precision_agrees_on_a_miss_and_differs_on_both_empty() -> None:
    """torchmetrics' precision uses zero_division=0: a class present in the target but never predicted scores 0,
    as here (a miss is a failure; ``strict_undefined=True`` would make it NaN and let the macro mean skip it). The
    deliberate difference: a class absent from both target and prediction is 0 in torchmetrics' per-class output
    and its binary score, NaN (undefined, counted apart) here."""
    pred, target = torch.tensor([[0, 0, 1, 1]]), torch.tensor([[0, 2, 1, 1]])
    theirs = tmc.multiclass_precision(pred, target, 3, average="none")
    ours = M.precision(pred, target, num_classes=3, average="none")
    assert theirs.tolist()[2] == 0.0 and float(ours[2]) == 0.0
    assert float(M.precision(pred, target, num_classes=3)) == pytest.approx(
        float(tmc.multiclass_precision(pred, target, 3, average="macro"))) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert torch.isnan(M.precision(pred, target, num_classes=3, average="none", strict_undefined=True)[2])
    # both empty: class 2 neither in target nor prediction
    pred, target = torch.tensor([[0, 1, 1, 0]]), torch.tensor([[0, 1, 0, 0]])
    assert tmc.multiclass_precision(pred, target, 3, average="none").tolist()[2] == 0.0
    assert torch.isnan(M.precision(pred, target, num_classes=3, average="none")[2])
    empty = torch.zeros(1, 4, dtype=torch.long)
    assert float(tmc.binary_precision(empty, empty)) == 0.0
    assert math.isnan(float(M.precision(empty.bool(), empty.bool())))


def test_deviation_monai_ignore_empty_skips_a_false_alarm() -> None:
    """MONAI's Dice with ``ignore_empty=True`` (its default) is NaN whenever the reference is empty, so false
    positives on an empty image are skipped; with ``ignore_empty=False`` both empty scores 1. Here a false alarm
    is 0 (a failure, in every mean) and only both empty is NaN (undefined)."""
    onehot = lambda x: torch.nn.functional.one_hot(x, 2).movedim(-1, 1).float()  # noqa: E731
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    pred = target.clone()
    pred[0, :2, :2] = 1  # image 0: a false alarm; image 1: both empty
    strict = monai_metrics.compute_dice(onehot(pred), onehot(target), include_background=False, ignore_empty=True)
    assert torch.isnan(strict).all()
    loose = monai_metrics.compute_dice(onehot(pred), onehot(target), include_background=False, ignore_empty=False)
    assert loose.flatten().tolist() == [0.0, 1.0]
    ours = M.f1_score(pred.bool(), target.bool(), per_image=True, average="none").flatten()
    assert float(ours[0]) == 0.0 and math.isnan(float(ours[1]))
    assert float(M.f1_score(pred.bool(), target.bool(), per_image=True)) == 0.0


def test_deviation_monai_balanced_accuracy_is_one_vs_rest() -> None:
    """MONAI's confusion-matrix "balanced accuracy" is (TPR + TNR) / 2 per class; ours is scikit-learn's mean
    recall over the classes of the whole matrix. They agree on binary input only."""
    pred, target = torch.tensor([[0, 0, 0, 2]]), torch.tensor([[0, 1, 1, 2]])
    onehot = lambda x: torch.nn.functional.one_hot(x, 3).movedim(-1, 1).float()  # noqa: E731
    cm = monai_metrics.get_confusion_matrix(onehot(pred), onehot(target))
    theirs = monai_metrics.compute_confusion_matrix_metric("balanced accuracy", cm)[0]
    # class 0: (1 + 1/3) / 2, class 1: (0 + 1) / 2, class 2: (1 + 1) / 2
    torch.testing.assert_close(theirs, torch.tensor([2 / 3, 0.5, 1.0]))
    assert float(M.balanced_accuracy(pred, target, num_classes=3)) == pytest.approx(2 / 3)
    binary_p, binary_t = pred.clamp(max=1).bool(), target.clamp(max=1).bool()
    cm2 = monai_metrics.get_confusion_matrix(binary_p[:, None].float(), binary_t[:, None].float())
    assert float(M.balanced_accuracy(binary_p, binary_t)) == pytest.approx(
        float(monai_metrics.compute_confusion_matrix_metric("balanced accuracy", cm2)[0, 0])
    )
