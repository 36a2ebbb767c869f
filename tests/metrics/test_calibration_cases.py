"""Hand-derived values, edge cases (empty-case policy) and input errors of the probability metrics."""

from __future__ import annotations

import math

import pytest
import torch

from segbench import metrics as M

NAN_FNS = (M.brier_score, M.negative_log_likelihood, M.expected_calibration_error, M.maximum_calibration_error,
           M.average_precision, M.roc_auc)


def test_hand_values_three_classes() -> None:
    # 3 pixels, 3 classes; labels 0, 1, 2
    p = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]], dtype=torch.float64).T.reshape(1, 3, 3)
    y = torch.tensor([[0, 1, 2]])
    # Brier: (.09 + .04 + .01) + (.09 + .49 + .16) + (.01 + .01 + .04) = .94 over 3 pixels
    assert float(M.brier_score(p, y)) == pytest.approx(0.94 / 3)
    # NLL: -(log .7 + log .3 + log .8) / 3
    assert float(M.negative_log_likelihood(p, y)) == pytest.approx(-(math.log(0.7) + math.log(0.3) + math.log(0.8)) / 3)
    # top-label: conf .7 (right), .4 (wrong: predicts 2), .8 (right); one bin: |2 - 1.9| / 3
    assert float(M.expected_calibration_error(p, y, n_bins=1)) == pytest.approx(0.1 / 3)
    # two bins [0, .5), [.5, 1]: {.4: 0 right} -> .4; {.7, .8: 2 right} -> .5; (.4 + .5) / 3
    assert float(M.expected_calibration_error(p, y, n_bins=2)) == pytest.approx(0.3)
    assert float(M.maximum_calibration_error(p, y, n_bins=2)) == pytest.approx(0.4)
    # class-wise, class 2: p = .1 .4 .8, truth 0 0 1; bins [0, .5): .1 .4 (no hit) -> .5, [.5, 1]: .8 (hit) -> .2
    per = M.calibration_error(p, y, n_bins=2, kind="class-wise", average="none")
    assert float(per[2]) == pytest.approx(0.7 / 3)
    # AP of class 1 (scores .2 .3 .1, positive the .3): ranked first -> 1; AUC 1
    assert float(M.average_precision(p, y, n_bins=None, average="none")[1]) == pytest.approx(1.0)
    assert float(M.roc_auc(p, y, n_bins=None, average="none")[1]) == pytest.approx(1.0)
    # equal-mass with 3 bins and 3 distinct confidences: one pixel per bin: (.3 + .4 + .2) / 3
    assert float(M.expected_calibration_error(p, y, n_bins=3, binning="mass")) == pytest.approx(0.3)


def test_all_pixels_ignored_is_undefined_everywhere() -> None:
    p = torch.full((1, 1, 4, 4), 0.3)
    y = torch.full((1, 4, 4), 255)
    for fn in NAN_FNS:
        assert torch.isnan(fn(p, y, ignore_index=255)), fn.__name__
    # one image fully ignored, one not: per-image means skip the undefined image
    p2 = torch.full((2, 1, 4, 4), 0.3)
    y2 = torch.stack([torch.full((4, 4), 255), torch.zeros(4, 4, dtype=torch.long)])
    assert float(M.brier_score(p2, y2, ignore_index=255, per_image=True)) == pytest.approx(0.09)


def test_class_absent_from_the_reference() -> None:
    """A class with no positive pixel: AP and AUC undefined (NaN, skipped by the macro mean); its calibration
    and Brier terms are defined and punish any probability mass on it."""
    y = torch.zeros(1, 8, dtype=torch.long)
    confident = torch.stack([torch.full((8,), 0.99), torch.full((8,), 0.01)])[None].double()
    alarm = torch.stack([torch.full((8,), 0.4), torch.full((8,), 0.6)])[None].double()
    ap = M.average_precision(confident, y, n_bins=None, average="none")
    assert torch.isnan(ap[1]) and float(ap[0]) == 1.0
    assert float(M.average_precision(confident, y, n_bins=None)) == 1.0  # macro skips the NaN
    assert torch.isnan(M.roc_auc(confident, y, n_bins=None))
    for fn in (M.brier_score, M.negative_log_likelihood):
        assert float(fn(alarm, y)) > float(fn(confident, y))
    ce = M.calibration_error(alarm, y, n_bins=10, kind="class-wise", average="none")
    assert ce.tolist() == pytest.approx([0.6, 0.6])  # confidence .4 / .6 where the truth is 1 / 0


def test_constant_prevalence_prediction_is_calibrated_and_uninformative() -> None:
    y = torch.tensor([[1, 0, 0, 0, 1, 0, 0, 0]])
    p = torch.full((1, 1, 8), 0.25, dtype=torch.float64)
    assert float(M.calibration_error(p, y, kind="class-wise")) == 0.0
    assert float(M.roc_auc(p, y, n_bins=None)) == 0.5
    assert float(M.average_precision(p, y, n_bins=None)) == 0.25  # the prevalence
    assert float(M.brier_score(p, y)) == pytest.approx(0.25 * 0.75)


def test_confident_miss_costs_the_clipped_log_in_probabilities_and_the_exact_log_from_logits() -> None:
    y = torch.tensor([[1]])
    p = torch.zeros(1, 1, 1, dtype=torch.float64)
    assert float(M.negative_log_likelihood(p, y)) == pytest.approx(-math.log(torch.finfo(torch.float64).eps))
    z = torch.full((1, 1, 1), -50.0, dtype=torch.float64)
    assert float(M.negative_log_likelihood(z, y, from_logits=True)) == pytest.approx(50.0, rel=1e-12)


def test_multilabel() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 3, 5, 5, generator=g)
    y = (torch.rand(2, 3, 5, 5, generator=g) < p).long()
    per = M.calibration_error(p, y, multilabel=True, kind="class-wise", average="none")
    for k in range(3):
        single = M.calibration_error(p[:, k : k + 1], y[:, k], kind="class-wise")
        assert float(per[k]) == pytest.approx(float(single), abs=1e-12)
    assert M.average_precision(p, y, multilabel=True, include_background=False, average="none").shape == (2,)
    with pytest.raises(ValueError, match="no top label"):
        M.calibration_error(p, y, multilabel=True)
    with pytest.raises(ValueError, match="no top label"):
        M.calibration_error(p, y, multilabel=True, binning="mass")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: M.brier_score(torch.full((1, 2, 3), 0.7), torch.zeros(1, 3, dtype=torch.long)), ValueError,
         "sum to 1"),
        (lambda: M.brier_score(torch.full((1, 1, 3), 1.5), torch.zeros(1, 3, dtype=torch.long)), ValueError,
         r"\[0, 1\]"),
        (lambda: M.brier_score(torch.full((1, 1, 3), float("nan")), torch.zeros(1, 3, dtype=torch.long)), ValueError,
         "NaN"),
        (lambda: M.brier_score(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3)), TypeError, "hard integer label map"),
        (lambda: M.brier_score(torch.full((1, 1, 3), 0.5), torch.zeros(1, 4, dtype=torch.long)), ValueError,
         "shape"),
        (lambda: M.brier_score(torch.full((1, 1, 3), 0.5), torch.full((1, 3), 2)), ValueError, "0 or 1"),
        (lambda: M.brier_score(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)), TypeError,
         "floating-point"),
        (lambda: M.brier_score(torch.full((1, 2, 3), 0.5), torch.full((1, 2, 3), 0.5), multilabel=True), ValueError,
         "0/1"),
        (lambda: M.calibration_error(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long), n_bins=0),
         ValueError, "n_bins"),
        (lambda: M.calibration_error(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long), kind="top"),
         ValueError, "kind"),
        (lambda: M.calibration_error(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long), norm="l2"),
         ValueError, "norm"),
        (lambda: M.calibration_error(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long),
                                     binning="quantile"), ValueError, "binning"),
        (lambda: M.brier_score(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long), average="micro"),
         ValueError, "average"),
        (lambda: M.average_precision(torch.full((1, 1, 3), 0.5), torch.zeros(1, 3, dtype=torch.long), n_bins=1.5),
         ValueError, "n_bins"),
    ],
)
def test_bad_input_is_rejected_with_a_message(call: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]


def test_streaming_misuse_is_rejected() -> None:
    h = M.ProbabilityHistogram(num_classes=3)
    with pytest.raises(ValueError, match="num_classes=3 but the input has 2 channels"):
        h.update(torch.full((1, 2, 4), 0.5), torch.zeros(1, 4, dtype=torch.long))
    a, b = M.ProbabilityHistogram(10), M.ProbabilityHistogram(12)
    with pytest.raises(ValueError, match="built alike"):
        a.merge(b)
    with pytest.raises(TypeError, match="ProbabilityHistogram"):
        a.merge(M.ConfusionMatrix(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown"):
        M.ProbabilityHistogram().brier_score()
    with pytest.raises(ValueError, match="per_image=True"):
        M.ProbabilityHistogram(num_classes=1).brier_score(per_image=True)
    empty = M.ProbabilityHistogram(num_classes=2)
    assert torch.isnan(empty.brier_score()) and torch.isnan(empty.calibration_error())
    with pytest.raises(ValueError, match="subdivisions"):
        M.ProbabilityHistogram(subdivisions=0)


def test_multiclass_one_hot_target_is_refused_with_the_fix() -> None:
    """Losses accept integer one-hot targets (issue #22); the probability metrics count labels, so a multiclass
    one-hot is refused with what to pass (not read as a multilabel map)."""
    import torch.nn.functional as F

    from segbench._checks import check_probability_inputs

    p = torch.full((1, 3, 2, 2), 1 / 3)
    t = torch.tensor([[[0, 1], [2, 0]]])
    with pytest.raises(ValueError, match=r"got a one-hot of the input's shape \(1, 3, 2, 2\); pass target.argmax\(1\)"):
        check_probability_inputs(p, F.one_hot(t, 3).movedim(-1, 1))
    assert check_probability_inputs(p, t[:, None]).target.shape == (1, 2, 2)  # (N, 1, H, W) label map: squeezed


def test_sum_tolerance_is_allclose_at_one_thousandth():
    """Softmax sums within 1e-3 of 1 (torch.allclose's atol, plus its rtol) pass; 2e-3 off is refused."""
    y = torch.zeros(1, 4, dtype=torch.long)
    near = torch.tensor([[[0.5009, 0.5, 0.499, 0.5]], [[0.5, 0.5, 0.5, 0.4991]]]).transpose(0, 1)  # sums 1 +- 9e-4
    assert torch.allclose(near.sum(1), torch.ones(1, 4), atol=1e-3)
    assert torch.isfinite(M.brier_score(near, y))
    far = near.clone()
    far[0, 0, 0] += 0.0011
    assert not torch.allclose(far.sum(1), torch.ones(1, 4), atol=1e-3)
    with pytest.raises(ValueError, match="sum to 1"):
        M.brier_score(far, y)
