"""Probability metrics against independent implementations: scikit-learn (exact modes, to 1e-10), torchmetrics
(the same bins), MONAI (where its definition matches), and a test for every documented difference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from segbench import metrics as M

torchmetrics = pytest.importorskip("torchmetrics")
monai_metrics = pytest.importorskip("monai.metrics")
from monai.metrics import CalibrationErrorMetric  # noqa: E402
from torchmetrics.classification import (  # noqa: E402
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    MulticlassAveragePrecision,
    MulticlassCalibrationError,
)

TOL = 1e-10
SEEDS = range(12)


def _case(seed: int, c: int, *, three_d: bool = False, ignore: bool = False, sharp: float = 2.0,
          dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random logits (N, C, *spatial), probabilities and a label map; labels partly follow the probabilities (a
    non-trivial calibration); 255 marks ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    spatial = (5, 6, 4) if three_d else (9, 11)
    n = 1 + seed % 3
    channels = max(c, 1)
    logits = torch.randn(n, channels, *spatial, generator=g, dtype=torch.float64) * sharp
    if c == 1:
        probs = logits.sigmoid()
        y = (torch.rand(n, *spatial, generator=g, dtype=torch.float64) < probs[:, 0] ** 1.5).long()
    else:
        probs = logits.softmax(1)
        y = torch.multinomial(probs.movedim(1, -1).reshape(-1, c) ** 2, 1, generator=g).view(n, *spatial)
    if ignore:
        y = torch.where(torch.rand(y.shape, generator=g) < 0.2, torch.full_like(y, 255), y)
    return logits.to(dtype), probs.to(dtype), y


def _flat(probs: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Pixels as scikit-learn samples: probabilities (n, C) and labels (n,), ignored pixels (255) removed."""
    p = probs.movedim(1, -1).reshape(-1, probs.shape[1]).numpy()
    t = y.reshape(-1).numpy()
    keep = t != 255
    return p[keep], t[keep]


# ---- scikit-learn, exact modes --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("three_d", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_binary_equals_sklearn(seed: int, three_d: bool, ignore: bool) -> None:
    logits, probs, y = _case(seed, 1, three_d=three_d, ignore=ignore)
    kw = {"ignore_index": 255 if ignore else None}
    p, t = _flat(probs, y)
    assert float(M.brier_score(probs, y, **kw)) == pytest.approx(brier_score_loss(t, p[:, 0]), abs=TOL)
    assert float(M.negative_log_likelihood(probs, y, **kw)) == pytest.approx(log_loss(t, p[:, 0]), abs=TOL)
    assert float(M.negative_log_likelihood(logits, y, from_logits=True, **kw)) == pytest.approx(
        log_loss(t, p[:, 0]), abs=TOL)
    assert float(M.average_precision(probs, y, n_bins=None, **kw)) == pytest.approx(
        average_precision_score(t, p[:, 0]), abs=TOL)
    assert float(M.roc_auc(probs, y, n_bins=None, **kw)) == pytest.approx(roc_auc_score(t, p[:, 0]), abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("c", [2, 3, 5])
@pytest.mark.parametrize("ignore", [False, True])
def test_multiclass_equals_sklearn(seed: int, c: int, ignore: bool) -> None:
    logits, probs, y = _case(seed, c, three_d=seed % 2 == 1, ignore=ignore)
    kw = {"ignore_index": 255 if ignore else None}
    p, t = _flat(probs, y)
    labels = list(range(c))
    assert float(M.brier_score(probs, y, **kw)) == pytest.approx(
        brier_score_loss(t, p, labels=labels, scale_by_half=False), abs=TOL)
    assert float(M.negative_log_likelihood(probs, y, **kw)) == pytest.approx(log_loss(t, p, labels=labels), abs=TOL)
    assert float(M.negative_log_likelihood(logits, y, from_logits=True, **kw)) == pytest.approx(
        log_loss(t, p, labels=labels), abs=TOL)
    ap = M.average_precision(probs, y, n_bins=None, average="none", **kw)
    auc = M.roc_auc(probs, y, n_bins=None, average="none", **kw)
    brier_k = M.brier_score(probs, y, average="none", **kw)
    for k in range(c):
        if (t == k).any():
            assert float(ap[k]) == pytest.approx(average_precision_score(t == k, p[:, k]), abs=TOL)
        if (t == k).any() and (t != k).any():
            assert float(auc[k]) == pytest.approx(roc_auc_score(t == k, p[:, k]), abs=TOL)
        assert float(brier_k[k]) == pytest.approx(brier_score_loss(t == k, p[:, k]), abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_multilabel_and_per_image_equal_sklearn(seed: int) -> None:
    g = torch.Generator().manual_seed(100 + seed)
    logits = torch.randn(3, 4, 7, 8, generator=g, dtype=torch.float64) * 2
    probs = logits.sigmoid()
    y = (torch.rand(probs.shape, generator=g, dtype=torch.float64) < probs).long()
    t = y.movedim(1, -1).reshape(-1, 4).numpy()
    p = probs.movedim(1, -1).reshape(-1, 4).numpy()
    kw = {"multilabel": True}
    assert float(M.brier_score(probs, y, **kw)) == pytest.approx(
        np.mean([brier_score_loss(t[:, k], p[:, k]) for k in range(4)]), abs=TOL)
    assert float(M.negative_log_likelihood(logits, y, from_logits=True, **kw)) == pytest.approx(
        np.mean([log_loss(t[:, k], p[:, k], labels=[0, 1]) for k in range(4)]), abs=TOL)
    ap = M.average_precision(probs, y, n_bins=None, average="none", **kw)
    assert [float(v) for v in ap] == pytest.approx([average_precision_score(t[:, k], p[:, k]) for k in range(4)],
                                                   abs=TOL)
    # per image: scikit-learn on each image, then the mean over images
    _, pm, ym = _case(seed, 3)
    per = M.negative_log_likelihood(pm, ym, per_image=True)
    expected = np.mean([log_loss(*_flat(pm[i : i + 1], ym[i : i + 1])[::-1], labels=[0, 1, 2])
                        for i in range(pm.shape[0])])
    assert float(per) == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("r", [1, 7, 100])
def test_binned_scores_are_the_exact_scores_of_probabilities_rounded_down_to_the_grid(seed: int, r: int) -> None:
    _, probs, y = _case(seed, 3, ignore=True)
    rounded = torch.floor(probs * r) / r  # every value of a slot becomes the slot's lower edge: ties
    p, t = _flat(rounded, y)
    ap = M.average_precision(probs, y, n_bins=r, average="none", ignore_index=255)
    auc = M.roc_auc(probs, y, n_bins=r, average="none", ignore_index=255)
    for k in range(3):
        if (t == k).any() and (t != k).any():
            assert float(ap[k]) == pytest.approx(average_precision_score(t == k, p[:, k]), abs=TOL)
            assert float(auc[k]) == pytest.approx(roc_auc_score(t == k, p[:, k]), abs=TOL)


# ---- torchmetrics, the same bins ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm", ["l1", "max"])
@pytest.mark.parametrize("n_bins", [1, 5, 15, 32])
def test_binary_calibration_error_equals_torchmetrics(seed: int, norm: str, n_bins: int) -> None:
    _, probs, y = _case(seed, 1)
    ours = M.calibration_error(probs, y, n_bins=n_bins, kind="class-wise", norm=norm)
    theirs = BinaryCalibrationError(n_bins=n_bins, norm=norm)(probs.flatten(), y.flatten())
    assert float(ours) == pytest.approx(float(theirs), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm", ["l1", "max"])
@pytest.mark.parametrize("c", [2, 4])
def test_multiclass_calibration_error_equals_torchmetrics(seed: int, norm: str, c: int) -> None:
    # torchmetrics casts the confidences to float32 and sums in float32: equal to float32 precision
    _, probs, y = _case(seed, c, ignore=seed % 2 == 0, dtype=torch.float32)
    ours = M.calibration_error(probs, y, n_bins=10, norm=norm, ignore_index=255)
    theirs = MulticlassCalibrationError(num_classes=c, n_bins=10, norm=norm, ignore_index=255)(probs, y)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("r", [4, 20, 100])
def test_binned_average_precision_equals_torchmetrics_thresholds(seed: int, r: int) -> None:
    _, probs, y = _case(seed, 1, ignore=True)
    ours = M.average_precision(probs, y, n_bins=r, ignore_index=255)
    theirs = BinaryAveragePrecision(thresholds=r + 1, ignore_index=255)(probs[:, 0], y)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)
    ours_auc = M.roc_auc(probs, y, n_bins=r, ignore_index=255)
    theirs_auc = BinaryAUROC(thresholds=r + 1, ignore_index=255)(probs[:, 0], y)
    assert float(ours_auc) == pytest.approx(float(theirs_auc), abs=1e-6)
    _, pm, ym = _case(seed, 3)
    ours_k = M.average_precision(pm, ym, n_bins=r, average="none")
    theirs_k = MulticlassAveragePrecision(num_classes=3, thresholds=r + 1, average=None)(pm, ym)
    torch.testing.assert_close(ours_k, theirs_k.double(), atol=1e-6, rtol=0)


def test_streaming_histogram_equals_torchmetrics_on_a_shared_grid() -> None:
    """One ProbabilityHistogram (15 bins x 8 subdivisions) gives torchmetrics' ECE with 15 bins and its AP with
    15 * 8 + 1 thresholds from one pass."""
    _, probs, y = _case(3, 3, dtype=torch.float32)
    h = M.ProbabilityHistogram(15, 8)
    h.update(probs, y)
    assert float(h.calibration_error()) == pytest.approx(
        float(MulticlassCalibrationError(num_classes=3, n_bins=15)(probs, y)), abs=1e-6)
    theirs = MulticlassAveragePrecision(num_classes=3, thresholds=121, average=None)(probs, y)
    torch.testing.assert_close(h.average_precision(average="none"), theirs.double(), atol=1e-6, rtol=0)


# ---- MONAI, where the definition matches ----------------------------------------------------------------------
def _monai(probs: torch.Tensor, y: torch.Tensor, c: int, reduction: str, include_background: bool,
           n_bins: int = 10) -> float:
    onehot = torch.nn.functional.one_hot(y, c).movedim(-1, 1).float()
    m = CalibrationErrorMetric(num_bins=n_bins, include_background=include_background, calibration_reduction=reduction)
    m(y_pred=probs.float(), y=onehot)
    return float(m.aggregate())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("reduction", "norm"), [("expected", "l1"), ("maximum", "max")])
@pytest.mark.parametrize("include_background", [True, False])
def test_class_wise_per_image_calibration_error_equals_monai(seed: int, reduction: str, norm: str,
                                                            include_background: bool) -> None:
    """MONAI's CalibrationErrorMetric is the class-wise, per-image ECE/MCE (mean over images and channels); MONAI
    computes in float32. Random probabilities lie on no bin edge (see the next test for those)."""
    _, probs, y = _case(seed, 3, three_d=seed % 2 == 0, dtype=torch.float32)
    ours = M.calibration_error(probs, y, n_bins=10, kind="class-wise", norm=norm, per_image=True,
                               include_background=include_background)
    assert float(ours) == pytest.approx(_monai(probs, y, 3, reduction, include_background), abs=1e-6)


# ---- documented differences (docs/calibration.md) --------------------------------------------------------------
def test_difference_monai_puts_a_value_on_an_edge_in_the_bin_below() -> None:
    """MONAI's bin edges are linspace(0, 1 + eps, B + 1) with bucketize(right=False): a probability exactly on an
    edge b/B goes to bin b - 1; segbench (and torchmetrics) put it in bin b, [b/B, (b+1)/B)."""
    p1 = torch.tensor([0.5, 0.5, 0.2, 0.2])
    probs = torch.stack([1 - p1, p1])[None, :, :, None]  # (1, 2, 4, 1)
    y = torch.tensor([[[1], [1], [0], [0]]])
    ours = float(M.calibration_error(probs, y, n_bins=2, kind="class-wise", per_image=True, include_background=False))
    # channel 1, segbench: [0, .5) holds .2 .2 (no hit), [.5, 1] holds .5 .5 (2 hits): (.4 + 1) / 4
    assert ours == pytest.approx(0.35, abs=1e-7)
    assert ours == pytest.approx(_manual_class_wise(probs[:, 1:], y - 1, 2, right_closed=False), abs=1e-7)
    # channel 1, MONAI: [0, .5] holds all four (2 hits, confidence sum 1.4): .6 / 4
    theirs = _monai(probs, y, 2, "expected", False, n_bins=2)
    assert theirs == pytest.approx(0.15, abs=1e-6)
    assert theirs == pytest.approx(_manual_class_wise(probs[:, 1:], y - 1, 2, right_closed=True), abs=1e-6)
    assert abs(ours - theirs) > 0.01


def _manual_class_wise(probs: torch.Tensor, y: torch.Tensor, n_bins: int, *, right_closed: bool) -> float:
    """Class-wise ECE by hand: bins [b/B, (b+1)/B) (or (b/B, (b+1)/B] when right_closed), mean over channels."""
    out = []
    for k in range(probs.shape[1]):
        p = probs[:, k].double().flatten()
        hit = (y.flatten() == k).double()
        b = (torch.ceil(p * n_bins) - 1).clamp(0, n_bins - 1) if right_closed else (p * n_bins).floor().clamp(
            max=n_bins - 1)
        gap = sum(abs(float(hit[b == i].sum() - p[b == i].sum())) for i in range(n_bins))
        out.append(gap / p.numel())
    return float(np.mean(out))


def test_difference_torchmetrics_gives_probability_one_a_bin_of_its_own() -> None:
    """torchmetrics allocates B + 1 bins and a probability of exactly 1 falls in the extra one; segbench's last bin
    is closed, [1 - 1/B, 1]. The two agree once no probability is exactly 1."""
    p = torch.tensor([1.0, 1.0, 0.6, 0.7], dtype=torch.float64)
    y = torch.tensor([1, 0, 1, 0])
    ours = float(M.calibration_error(p[None, None], y[None], n_bins=2, kind="class-wise"))
    theirs = float(BinaryCalibrationError(n_bins=2)(p, y))
    assert ours == pytest.approx(abs(2 - 3.3) / 4)  # one bin [.5, 1]: 2 hits, confidence sum 3.3
    assert theirs == pytest.approx((abs(1 - 1.3) + abs(1 - 2.0)) / 4)  # [.5, 1): .6 .7; {1}: 1 1
    q = p.clamp(max=0.99)
    assert float(M.calibration_error(q[None, None], y[None], n_bins=2, kind="class-wise")) == pytest.approx(
        float(BinaryCalibrationError(n_bins=2)(q, y)), abs=1e-12)


def test_difference_binary_top_label_is_not_torchmetrics_binary_calibration_error() -> None:
    """torchmetrics' BinaryCalibrationError scores the foreground probability against the label (segbench's
    class-wise ECE of binary input); segbench's default top-label ECE scores max(p, 1 - p) against correctness."""
    p = torch.tensor([0.1, 0.2, 0.8, 0.9], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 0])
    theirs = float(BinaryCalibrationError(n_bins=2)(p, y))
    assert float(M.calibration_error(p[None, None], y[None], n_bins=2, kind="class-wise")) == pytest.approx(theirs)
    top = float(M.calibration_error(p[None, None], y[None], n_bins=2))  # conf .9 .8 .8 .9, right 1 1 1 0: 3 - 3.4
    assert top == pytest.approx(0.4 / 4)
    assert top != pytest.approx(theirs)


def test_difference_no_positive_pixel_gives_nan_average_precision() -> None:
    """AP of a class absent from the reference: segbench NaN (undefined, skipped by means); torchmetrics 0;
    scikit-learn 0 with a warning. ROC AUC with one class present: segbench NaN, scikit-learn NaN with a warning,
    torchmetrics 0."""
    p = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]], dtype=torch.float64)
    y = torch.zeros(1, 4, dtype=torch.long)
    assert torch.isnan(M.average_precision(p, y, n_bins=None))
    assert torch.isnan(M.average_precision(p, y, n_bins=10))
    assert torch.isnan(M.roc_auc(p, y, n_bins=None))
    assert float(BinaryAveragePrecision(thresholds=11)(p.flatten(), y.flatten())) == 0.0
    assert float(BinaryAUROC(thresholds=11)(p.flatten(), y.flatten())) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert average_precision_score(y.flatten().numpy(), p.flatten().numpy()) == 0.0
        assert np.isnan(roc_auc_score(y.flatten().numpy(), p.flatten().numpy()))


def test_difference_multiclass_brier_is_the_sum_over_classes() -> None:
    """segbench's multiclass Brier is Brier's (1950) sum over classes, scikit-learn's scale_by_half=False; for two
    channels scikit-learn's default halves it (and a binary C == 1 input equals scikit-learn's default)."""
    _, probs, y = _case(1, 2)
    p, t = _flat(probs, y)
    ours = float(M.brier_score(probs, y))
    assert ours == pytest.approx(2 * brier_score_loss(t, p), abs=TOL)
    assert float(M.brier_score(probs[:, 1:], y)) == pytest.approx(brier_score_loss(t, p[:, 1]), abs=TOL)


def test_difference_torchmetrics_multiclass_ece_loses_precision_on_millions_of_pixels() -> None:
    """torchmetrics' MulticlassCalibrationError casts the confidences to float32 and sums each bin in float32; on a
    segmentation-sized input the sums drift. 2^22 pixels with confidence .9, right 90 % of the time: calibrated
    (ECE 0 up to the 1e-7 of float32 .9); segbench sums in float64."""
    n = 2**22
    p = torch.tensor([0.1, 0.9]).repeat(n, 1).T.reshape(1, 2, n)
    y = torch.ones(1, n, dtype=torch.long)
    y[0, ::10] = 0  # 10 % wrong, at an exact rate: ceil(n / 10) pixels
    wrong = -(-n // 10)
    expected = abs((n - wrong) - n * float(torch.tensor(0.9))) / n
    ours = float(M.expected_calibration_error(p, y, n_bins=10))
    assert ours == pytest.approx(expected, abs=1e-12)
    theirs = float(MulticlassCalibrationError(num_classes=2, n_bins=10)(p, y))
    assert abs(theirs - expected) > 1e-3
