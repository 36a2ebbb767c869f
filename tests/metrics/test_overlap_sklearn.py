"""Count metrics against scikit-learn on many random binary and multiclass label maps (2D and 3D).

scikit-learn is the test-only oracle. Where our definitions differ on purpose, the last tests show the difference.
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
    for avg in AVERAGES:
        for name, (fn, oracle, extra) in ours.items():
            if avg == "weighted" and name != "recall" and _weightless(yt, labels):
                continue
            expected = _sk(oracle, yt, yp, labels=labels, average=avg, zero_division=np.nan, **extra)
            got = fn(p, t, num_classes=c, average=avg or "none", include_background=include_background, **extra)
            np.testing.assert_allclose(got.numpy(), expected, atol=1e-12, equal_nan=True, err_msg=f"{name} {avg}")


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
    assert float(M.balanced_accuracy(p, t, num_classes=c)) == pytest.approx(
        _sk(skm.balanced_accuracy_score, yt, yp), abs=1e-12
    )
    kappa = _sk(skm.cohen_kappa_score, yt, yp)
    np.testing.assert_allclose(float(M.cohen_kappa(p, t, num_classes=c)), kappa, atol=1e-12, equal_nan=True)
    ours_mcc = float(M.mcc(p, t, num_classes=c))
    sk_mcc = _sk(skm.matthews_corrcoef, yt, yp)
    if np.isnan(ours_mcc):  # undefined: one class only in target or prediction (sklearn says 0; see below)
        assert len(set(yt.tolist())) == 1 or len(set(yp.tolist())) == 1
        assert sk_mcc == 0.0
    else:
        assert ours_mcc == pytest.approx(sk_mcc, abs=1e-12)
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
            np.testing.assert_allclose(float(fn(p, t)), _sk(oracle, yt, yp, zero_division=np.nan), equal_nan=True)
        if yt.any() or yp.any():
            assert float(M.iou_score(p, t)) == pytest.approx(_sk(skm.jaccard_score, yt, yp), abs=1e-12)
        spec = _sk(skm.recall_score, yt, yp, pos_label=0, zero_division=np.nan)
        np.testing.assert_allclose(float(M.specificity(p, t)), spec, equal_nan=True)
        assert float(M.accuracy(p, t)) == pytest.approx(skm.accuracy_score(yt, yp))
        assert float(M.accuracy(p, t, average="macro")) == pytest.approx(skm.accuracy_score(yt, yp))
        assert float(M.balanced_accuracy(p, t)) == pytest.approx(_sk(skm.balanced_accuracy_score, yt, yp))
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
    got = M.recall(p, t, num_classes=c, ignore_index=255, average="none").numpy()
    np.testing.assert_allclose(
        got, _sk(skm.recall_score, yt, yp, labels=list(range(c)), average=None, zero_division=np.nan), equal_nan=True
    )
    assert float(M.accuracy(p, t, num_classes=c, ignore_index=255)) == pytest.approx(skm.accuracy_score(yt, yp))
    cm = ConfusionMatrix(c, ignore_index=255)
    cm.update(p, t)
    np.testing.assert_array_equal(cm.compute().numpy(), skm.confusion_matrix(yt, yp, labels=list(range(c))))


# ---- where we differ from scikit-learn on purpose --------------------------------------------------------------


def test_deviation_mcc_undefined_is_nan_not_zero() -> None:
    """A constant prediction has no correlation to measure: sklearn reports 0, we report NaN (undefined),
    so a mean over images skips it instead of averaging a made-up 0."""
    target = np.array([[0, 1, 1, 0]])
    pred = np.zeros_like(target)
    assert _sk(skm.matthews_corrcoef, target.ravel(), pred.ravel()) == 0.0
    assert np.isnan(float(M.mcc(torch.from_numpy(pred), torch.from_numpy(target))))
    assert float(M.mcc(torch.from_numpy(pred), torch.from_numpy(target), empty_score=0.0)) == 0.0


def test_deviation_weighted_average_without_support_is_nan() -> None:
    """With no target pixel in the scored classes every support weight is 0: sklearn's weighted precision
    returns 0 (even with zero_division=nan); 0/0 weights give NaN here, as every undefined score does."""
    target = np.array([[0, 0, 0, 0]])
    pred = np.array([[0, 1, 1, 0]])
    assert _sk(skm.precision_score, target.ravel(), pred.ravel(), labels=[1], average="weighted",
               zero_division=np.nan) == 0.0
    got = M.precision(torch.from_numpy(pred), torch.from_numpy(target), num_classes=2, average="weighted",
                      include_background=False)
    assert np.isnan(float(got))
    # the unweighted macro mean is defined, and agrees: the one scored class has precision 0 / 2
    assert float(M.precision(torch.from_numpy(pred), torch.from_numpy(target), num_classes=2,
                             include_background=False)) == 0.0
