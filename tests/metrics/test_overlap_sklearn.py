"""Count metrics against scikit-learn on many random binary and multiclass label maps (2D and 3D).

scikit-learn is the test-only oracle. ``strict_undefined=True`` is scikit-learn's ``zero_division=nan``; the default
policy (a miss or a false alarm scores 0, only a class absent from both target and prediction is undefined) is
scikit-learn's ``zero_division=0`` over the classes present in the target or the prediction. Where our definitions
differ on purpose, the last tests show the difference.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from segbench import metrics as M
from segbench.metrics import ConfusionMatrix

skm = pytest.importorskip("sklearn.metrics")

SEEDS = range(25)
AVERAGES = ("macro", "micro", "weighted", None)


def _case(seed: int, *, binary: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Skewed random label maps (N, *spatial), 1-3 spatial axes, some classes often absent."""
    rng = np.random.default_rng(seed)
    c = 2 if binary else int(rng.integers(2, 6))
    ndim = int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 4)), *(int(s) for s in rng.integers(1, 7, size=ndim)))
    prior = rng.dirichlet(np.full(c, 0.5))
    target = rng.choice(c, size=shape, p=prior)
    noise = rng.choice(c, size=shape, p=prior)
    pred = np.where(rng.random(shape) < 0.6, target, noise)
    return pred, target, c


def _sk(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a scikit-learn oracle with its warnings (undefined metric, ...) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _present(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int]) -> list[int]:
    """The scored classes in the target or the prediction: those whose score is defined under the default policy."""
    return [k for k in labels if (y_true == k).any() or (y_pred == k).any()]


def _weightless(y_true: np.ndarray, labels: list[int]) -> bool:
    """No target pixel in the scored classes: a support-weighted mean is 0/0 (see the deviation test below)."""
    return not np.isin(y_true, labels).any()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("include_background", [True, False])
def test_precision_recall_f1_fbeta_every_average(seed: int, include_background: bool) -> None:
    pred, target, c = _case(seed)
    yp, yt = pred.ravel(), target.ravel()
    labels = list(range(c)) if include_background else list(range(1, c))
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    ours = {
        "precision": (M.precision, skm.precision_score, {}),
        "recall": (M.recall, skm.recall_score, {}),
        "f1": (M.f1_score, skm.f1_score, {}),
        "fbeta": (M.fbeta_score, skm.fbeta_score, {"beta": 2.0}),
    }
    present = _present(yt, yp, labels)
    for avg in AVERAGES:
        for name, (fn, oracle, extra) in ours.items():
            kw = {"num_classes": c, "average": avg or "none", "include_background": include_background, **extra}
            if not (avg == "weighted" and name != "recall" and _weightless(yt, labels)):
                expected = _sk(oracle, yt, yp, labels=labels, average=avg, zero_division=np.nan, **extra)
                got = fn(p, t, strict_undefined=True, **kw)
                np.testing.assert_allclose(got.numpy(), expected, atol=1e-12, equal_nan=True, err_msg=f"{name} {avg}")
            got = fn(p, t, **kw).numpy()
            if not present:
                assert np.isnan(got).all()
                continue
            expected = _sk(oracle, yt, yp, labels=present, average=avg, zero_division=0.0, **extra)
            if avg is None:
                got = got[[labels.index(k) for k in present]]
            np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=f"default policy: {name} {avg}")


@pytest.mark.parametrize("seed", SEEDS)
def test_jaccard_every_average(seed: int) -> None:
    pred, target, c = _case(seed)
    yp, yt = pred.ravel(), target.ravel()
    # jaccard_score has no zero_division=nan: compare on the classes where it is defined
    present = sorted(set(yt.tolist()) | set(yp.tolist()))
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    for avg in ("macro", "micro", "weighted"):
        expected = _sk(skm.jaccard_score, yt, yp, labels=present, average=avg)
        np.testing.assert_allclose(float(M.iou_score(p, t, num_classes=c, average=avg)), expected, atol=1e-12)
    per_class = M.jaccard_index(p, t, num_classes=c, average="none").numpy()
    np.testing.assert_allclose(per_class[present], _sk(skm.jaccard_score, yt, yp, labels=present, average=None))
    absent = [k for k in range(c) if k not in present]
    assert np.isnan(per_class[absent]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_balanced_mcc_kappa_confusion(seed: int) -> None:
    pred, target, c = _case(seed)
    yp, yt = pred.ravel(), target.ravel()
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    assert float(M.accuracy(p, t, num_classes=c)) == pytest.approx(skm.accuracy_score(yt, yp), abs=1e-12)
    assert float(M.balanced_accuracy(p, t, num_classes=c, strict_undefined=True)) == pytest.approx(
        _sk(skm.balanced_accuracy_score, yt, yp), abs=1e-12
    )
    # default: a class predicted but absent from the target is a false alarm, recall 0, and takes part
    assert float(M.balanced_accuracy(p, t, num_classes=c)) == pytest.approx(
        _sk(skm.recall_score, yt, yp, labels=_present(yt, yp, list(range(c))), average="macro", zero_division=0.0),
        abs=1e-12,
    )
    kappa = _sk(skm.cohen_kappa_score, yt, yp)
    np.testing.assert_allclose(float(M.cohen_kappa(p, t, num_classes=c)), kappa, atol=1e-12, equal_nan=True)
    ours_mcc = float(M.mcc(p, t, num_classes=c))
    sk_mcc = _sk(skm.matthews_corrcoef, yt, yp)
    if np.isnan(ours_mcc):  # undefined: target and prediction the same single class (sklearn says 0; see below)
        assert len(set(yt.tolist())) == 1 and (yt == yp).all()
        assert sk_mcc == 0.0
    else:  # a constant prediction with errors is 0, as in scikit-learn
        assert ours_mcc == pytest.approx(sk_mcc, abs=1e-12)
    strict = float(M.mcc(p, t, num_classes=c, strict_undefined=True))
    assert strict == pytest.approx(sk_mcc, abs=1e-12) or (
        np.isnan(strict) and (len(set(yt.tolist())) == 1 or len(set(yp.tolist())) == 1))
    expected_cm = skm.confusion_matrix(yt, yp, labels=list(range(c)))
    cm = ConfusionMatrix(c)
    cm.update(p, t)
    np.testing.assert_array_equal(cm.compute().numpy(), expected_cm)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_input_scores_the_foreground(seed: int) -> None:
    pred, target, _ = _case(seed, binary=True)
    yp, yt = pred.ravel(), target.ravel()
    for p, t in ((torch.from_numpy(pred).bool(), torch.from_numpy(target).bool()),
                 (torch.from_numpy(pred), torch.from_numpy(target))):
        for fn, oracle in ((M.precision, skm.precision_score), (M.recall, skm.recall_score),
                           (M.f1_score, skm.f1_score)):
            np.testing.assert_allclose(float(fn(p, t, strict_undefined=True)),
                                       _sk(oracle, yt, yp, zero_division=np.nan), equal_nan=True)
            expected = _sk(oracle, yt, yp, zero_division=0.0) if yt.any() or yp.any() else np.nan
            np.testing.assert_allclose(float(fn(p, t)), expected, equal_nan=True)
        if yt.any() or yp.any():
            assert float(M.iou_score(p, t)) == pytest.approx(_sk(skm.jaccard_score, yt, yp), abs=1e-12)
        spec = _sk(skm.recall_score, yt, yp, pos_label=0, zero_division=np.nan)
        np.testing.assert_allclose(float(M.specificity(p, t, strict_undefined=True)), spec, equal_nan=True)
        spec = _sk(skm.recall_score, yt, yp, pos_label=0, zero_division=0.0) if (~yt.astype(bool)).any() or (
            ~yp.astype(bool)).any() else np.nan
        np.testing.assert_allclose(float(M.specificity(p, t)), spec, equal_nan=True)
        assert float(M.accuracy(p, t)) == pytest.approx(skm.accuracy_score(yt, yp))
        assert float(M.accuracy(p, t, average="macro")) == pytest.approx(skm.accuracy_score(yt, yp))
        assert float(M.balanced_accuracy(p, t, strict_undefined=True)) == pytest.approx(
            _sk(skm.balanced_accuracy_score, yt, yp))
        assert float(M.balanced_accuracy(p, t)) == pytest.approx(
            _sk(skm.recall_score, yt, yp, labels=_present(yt, yp, [0, 1]), average="macro", zero_division=0.0))
        for avg in ("micro", "macro"):  # for binary input the multiclass and one-vs-rest statistics agree
            ours = float(M.mcc(p, t, average=avg))
            assert (np.isnan(ours) and _sk(skm.matthews_corrcoef, yt, yp) == 0) or ours == pytest.approx(
                _sk(skm.matthews_corrcoef, yt, yp), abs=1e-12
            )
            np.testing.assert_allclose(
                float(M.cohen_kappa(p, t, average=avg)), _sk(skm.cohen_kappa_score, yt, yp), atol=1e-12, equal_nan=True
            )


@pytest.mark.parametrize("seed", range(15))
def test_per_image_is_the_nan_mean_of_sklearn_per_image(seed: int) -> None:
    pred, target, c = _case(seed)
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    per = [
        _sk(skm.f1_score, target[i].ravel(), pred[i].ravel(), labels=list(range(c)), average=None,
            zero_division=np.nan)
        for i in range(pred.shape[0])
    ]
    np.testing.assert_allclose(
        M.f1_score(p, t, num_classes=c, average="none", per_image=True).numpy(), np.stack(per), equal_nan=True
    )
    expected = np.nanmean([np.nanmean(v) if not np.isnan(v).all() else np.nan for v in per])
    assert float(M.f1_score(p, t, num_classes=c, per_image=True)) == pytest.approx(expected)
    acc = np.mean([skm.accuracy_score(target[i].ravel(), pred[i].ravel()) for i in range(pred.shape[0])])
    assert float(M.accuracy(p, t, num_classes=c, per_image=True)) == pytest.approx(acc)


@pytest.mark.parametrize("seed", range(15))
def test_ignore_index_equals_sklearn_on_the_kept_pixels(seed: int) -> None:
    pred, target, c = _case(seed)
    rng = np.random.default_rng(1000 + seed)
    target = np.where(rng.random(target.shape) < 0.3, 255, target)
    keep = target != 255
    yp, yt = pred[keep], target[keep]
    if yt.size == 0:
        return
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    got = M.recall(p, t, num_classes=c, ignore_index=255, average="none", strict_undefined=True).numpy()
    np.testing.assert_allclose(
        got, _sk(skm.recall_score, yt, yp, labels=list(range(c)), average=None, zero_division=np.nan), equal_nan=True
    )
    assert float(M.accuracy(p, t, num_classes=c, ignore_index=255)) == pytest.approx(skm.accuracy_score(yt, yp))
    cm = ConfusionMatrix(c, ignore_index=255)
    cm.update(p, t)
    np.testing.assert_array_equal(cm.compute().numpy(), skm.confusion_matrix(yt, yp, labels=list(range(c))))


# ---- where we differ from scikit-learn on purpose --------------------------------------------------------------


def test_deviation_mcc_is_nan_only_for_a_perfect_constant_prediction() -> None:
    """A constant prediction against a varying reference: 0, as scikit-learn (a failure, counted in every mean);
    ``strict_undefined=True`` keeps the textbook 0/0 = NaN. Where target and prediction are the same single class
    (nothing to correlate, nothing wrong) we say NaN (undefined, both empty), scikit-learn still says 0."""
    target = np.array([[0, 1, 1, 0]])
    pred = np.zeros_like(target)
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    assert _sk(skm.matthews_corrcoef, target.ravel(), pred.ravel()) == 0.0
    assert float(M.mcc(p, t)) == 0.0
    assert float(M.mcc(p, t, average="macro")) == 0.0
    assert float(M.cohen_kappa(p, t)) == 0.0
    assert np.isnan(float(M.mcc(p, t, strict_undefined=True)))
    assert _sk(skm.matthews_corrcoef, pred.ravel(), pred.ravel()) == 0.0
    assert np.isnan(float(M.mcc(p, p)))


def test_deviation_both_empty_classes_are_skipped_not_zero() -> None:
    """scikit-learn's ``zero_division=0`` scores a listed class absent from target and prediction 0; here it is
    undefined (NaN) and skipped, so listing more classes never changes a macro mean."""
    target, pred = np.array([[0, 1, 1, 0]]), np.array([[0, 1, 0, 0]])
    sk = _sk(skm.precision_score, target.ravel(), pred.ravel(), labels=[0, 1, 2], average="macro", zero_division=0.0)
    assert sk == pytest.approx((2 / 3 + 1 + 0) / 3)
    got = M.precision(torch.from_numpy(pred), torch.from_numpy(target), num_classes=3)
    assert float(got) == pytest.approx((2 / 3 + 1) / 2)


def test_deviation_balanced_accuracy_counts_a_false_alarm_class() -> None:
    """A class predicted but absent from the target: scikit-learn's balanced accuracy leaves it out (with a
    warning); here its recall is 0 and it takes part, as a false alarm must (``strict_undefined=True``: sklearn)."""
    target, pred = np.array([[0, 0, 1, 1]]), np.array([[0, 2, 1, 1]])
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    assert _sk(skm.balanced_accuracy_score, target.ravel(), pred.ravel()) == pytest.approx(0.75)
    assert float(M.balanced_accuracy(p, t, num_classes=3, strict_undefined=True)) == pytest.approx(0.75)
    assert float(M.balanced_accuracy(p, t, num_classes=3)) == pytest.approx((0.5 + 1 + 0) / 3)


def test_weighted_average_without_support_is_the_false_alarms_failure() -> None:
    """With no target pixel in the scored classes every support weight is 0: scikit-learn's weighted precision
    returns 0, and so do we: the macro mean of the defined scores (false alarms, precision 0/2 each). Recall is
    0/0 there: 0 by default (a false alarm), NaN with ``strict_undefined=True``."""
    target = np.array([[0, 0, 0, 0]])
    pred = np.array([[0, 1, 1, 0]])
    assert _sk(skm.precision_score, target.ravel(), pred.ravel(), labels=[1], average="weighted",
               zero_division=np.nan) == 0.0
    kw: dict[str, Any] = {"num_classes": 2, "average": "weighted", "include_background": False}
    assert float(M.precision(torch.from_numpy(pred), torch.from_numpy(target), **kw)) == 0.0
    assert float(M.precision(torch.from_numpy(pred), torch.from_numpy(target), strict_undefined=True, **kw)) == 0.0
    assert float(M.recall(torch.from_numpy(pred), torch.from_numpy(target), **kw)) == 0.0
    assert np.isnan(float(M.recall(torch.from_numpy(pred), torch.from_numpy(target), strict_undefined=True, **kw)))
