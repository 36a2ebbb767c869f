"""Properties of the probability metrics: perfect calibration gives ECE ~ 0 within a derived bound; batch splits
and merges equal one call; binary == two-class; ignore_index == removal; the streaming state is fixed-size."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench import metrics as M
from segbench.metrics._probability import mass_groups

FLOATS = ("cw_conf", "tl_conf", "sq", "nll")
COUNTS = ("cw", "tl", "n")


def _hoeffding_bound(n: int, n_bins: int, delta: float) -> float:
    r"""A bound on the ECE of perfectly calibrated predictions that holds with probability >= 1 - delta.

    In bin b, given the confidences, :math:`A_b - S_b = \sum_{i \in b}(a_i - c_i)` is a sum of n_b independent
    centred terms in [-1, 1] of range 1 (a_i ~ Bernoulli(c_i)). Hoeffding: :math:`P(|A_b - S_b| \ge t) \le
    2 e^{-2t^2/n_b}`; with :math:`t_b = \sqrt{n_b \log(2B/\delta)/2}` and a union bound over the B bins,
    :math:`\mathrm{ECE} = \sum_b |A_b - S_b|/n \le \sqrt{\log(2B/\delta)/2}\,\sum_b \sqrt{n_b}/n
    \le \sqrt{B \log(2B/\delta) / (2n)}` (Cauchy-Schwarz).
    """
    return math.sqrt(n_bins * math.log(2 * n_bins / delta) / (2 * n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perfectly_calibrated_binary_probabilities_have_ece_within_the_bound(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n, bins = 400_000, 15
    p = torch.rand(4, 1, n // 4, generator=g, dtype=torch.float64)
    y = (torch.rand(4, n // 4, generator=g, dtype=torch.float64) < p[:, 0]).long()  # labels drawn from p
    bound = _hoeffding_bound(n, bins, 1e-6)
    for kind in ("class-wise", "top-label"):
        for binning in ("width", "mass"):
            ece = float(M.calibration_error(p, y, n_bins=bins, kind=kind, binning=binning))
            assert 0 <= ece < bound, (kind, binning, ece, bound)
    # the bound has teeth: the same labels against over-confident probabilities fail it
    sharp = torch.where(p > 0.5, p.sqrt(), p.square())
    assert float(M.calibration_error(sharp, y, n_bins=bins, kind="class-wise")) > 5 * bound


@pytest.mark.parametrize("seed", [0, 1])
def test_perfectly_calibrated_multiclass_probabilities_have_ece_within_the_bound(seed: int) -> None:
    """Labels drawn from Categorical(p): P(arg max right | p) = max p (top-label) and P(y = k | p) = p_k
    (class-wise), so both calibration errors are bounded as above."""
    g = torch.Generator().manual_seed(10 + seed)
    n, bins, c = 300_000, 10, 4
    probs = torch.distributions.Dirichlet(torch.full((c,), 0.7)).sample((n,)).double()
    y = torch.multinomial(probs, 1, generator=g)[:, 0]
    probs = probs.T.reshape(1, c, n)
    y = y.reshape(1, n)
    bound = _hoeffding_bound(n, bins, 1e-6)
    assert float(M.calibration_error(probs, y, n_bins=bins)) < bound
    assert float(M.calibration_error(probs, y, n_bins=bins, binning="mass")) < bound
    per_class = M.calibration_error(probs, y, n_bins=bins, kind="class-wise", average="none")
    assert bool((per_class < bound).all())
    # temperature 1/2 (sharper) breaks calibration far beyond the bound
    sharp = (probs.log() * 2).softmax(1)
    assert float(M.calibration_error(sharp, y, n_bins=bins)) > 5 * bound


def _data(seed: int, n: int, c: int, *, ignore: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, 6, 7, generator=g) * 3
    probs = logits.sigmoid() if c == 1 else logits.softmax(1)
    y = torch.randint(0, max(c, 2), (n, 6, 7), generator=g)
    if ignore:
        y = torch.where(torch.rand(y.shape, generator=g) < 0.15, torch.full_like(y, 255), y)
    return probs, y


def _scores(h: M.ProbabilityHistogram, per_image: bool) -> list[torch.Tensor]:
    out = [h.calibration_error(kind="class-wise", per_image=per_image, average="none"),
           h.calibration_error(norm="max", binning="mass", per_image=per_image),
           h.brier_score(per_image=per_image), h.negative_log_likelihood(per_image=per_image),
           h.average_precision(per_image=per_image, average="none"), h.roc_auc(per_image=per_image)]
    if h.mode != "multilabel":
        out.append(h.calibration_error(per_image=per_image))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 6), min_size=0, max_size=3),
       c=st.sampled_from([1, 3]), per_image=st.booleans())
def test_batch_splits_and_merges_equal_one_call(seed: int, cuts: list[int], c: int, per_image: bool) -> None:
    probs, y = _data(seed, 7, c)
    whole = M.ProbabilityHistogram(5, 4, ignore_index=255, per_image=per_image)
    whole.update(probs, y)
    bounds = sorted({0, *cuts, 7})
    streamed = M.ProbabilityHistogram(5, 4, ignore_index=255, per_image=per_image)
    merged = M.ProbabilityHistogram(5, 4, ignore_index=255, per_image=per_image)
    for a, b in itertools.pairwise(bounds):
        streamed.update(probs[a:b], y[a:b])
        part = M.ProbabilityHistogram(5, 4, ignore_index=255, per_image=per_image)
        part.update(probs[a:b], y[a:b])
        merged.merge(part)
    for other in (streamed, merged):
        for view in ([False, True] if per_image else [False]):
            s_whole, s_other = whole.state(view), other.state(view)
            for k in COUNTS:
                assert torch.equal(s_whole[k], s_other[k]), k  # integer counts: exactly
            for k in FLOATS:
                torch.testing.assert_close(s_whole[k], s_other[k], rtol=1e-13, atol=1e-13)
        for x, z in zip(_scores(whole, per_image), _scores(other, per_image), strict=True):
            torch.testing.assert_close(x, z, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_per_image_scores_are_the_mean_of_single_image_calls() -> None:
    probs, y = _data(5, 4, 3)
    kw = {"ignore_index": 255}
    singles = torch.stack([M.brier_score(probs[i : i + 1], y[i : i + 1], **kw) for i in range(4)])
    assert float(M.brier_score(probs, y, per_image=True, **kw)) == pytest.approx(float(singles.mean()), abs=1e-12)
    singles = torch.stack([M.calibration_error(probs[i : i + 1], y[i : i + 1], binning="mass", **kw)
                           for i in range(4)])
    assert float(M.calibration_error(probs, y, binning="mass", per_image=True, **kw)) == pytest.approx(
        float(singles.mean()), abs=1e-12)
    ap = M.average_precision(probs, y, n_bins=None, per_image=True, average="none", **kw)
    assert ap.shape == (4, 3)
    assert float(ap[2, 1]) == pytest.approx(float(M.average_precision(probs[2:3], y[2:3], n_bins=None,
                                                                     average="none", **kw)[1]), abs=1e-12)


def test_ignore_index_equals_removing_the_pixels() -> None:
    probs, y = _data(2, 3, 3)
    keep = y != 255
    flat_p = probs.movedim(1, -1)[keep].T.unsqueeze(0)  # (1, C, n_valid)
    flat_y = y[keep].unsqueeze(0)
    for fn in (M.brier_score, M.negative_log_likelihood, M.expected_calibration_error, M.average_precision,
               M.roc_auc):
        assert float(fn(probs, y, ignore_index=255)) == pytest.approx(float(fn(flat_p, flat_y)), abs=1e-12)


def test_binary_input_equals_its_two_class_form() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 65, (2, 1, 9, 9), generator=g).double() / 64  # dyadic: 1 - p is exact
    y = torch.randint(0, 2, (2, 9, 9), generator=g)
    two = torch.cat([1 - p, p], 1)
    assert float(M.calibration_error(p, y, n_bins=8)) == pytest.approx(float(M.calibration_error(two, y, n_bins=8)))
    assert float(M.calibration_error(p, y, n_bins=8, kind="class-wise")) == pytest.approx(
        float(M.calibration_error(two, y, n_bins=8, kind="class-wise", include_background=False)))
    assert float(M.negative_log_likelihood(p, y)) == pytest.approx(float(M.negative_log_likelihood(two, y)))
    assert float(M.average_precision(p, y)) == pytest.approx(
        float(M.average_precision(two, y, include_background=False)))


def test_three_d_equals_the_same_pixels_in_2d() -> None:
    probs, y = _data(8, 2, 3)
    p3, y3 = probs.reshape(2, 3, 6, 7, 1), y.reshape(2, 6, 7, 1)
    for fn in (M.brier_score, M.expected_calibration_error, M.average_precision):
        assert float(fn(p3, y3, ignore_index=255)) == float(fn(probs, y, ignore_index=255))


def test_from_logits_equals_probabilities() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 8, 8), generator=g)
    probs = logits.softmax(1)
    for fn in (M.brier_score, M.negative_log_likelihood, M.expected_calibration_error, M.average_precision):
        assert float(fn(logits, y, from_logits=True)) == pytest.approx(float(fn(probs, y)), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 300), bins=st.integers(1, 12))
def test_equal_mass_bins_hold_floor_or_ceil_of_n_over_b_values(seed: int, n: int, bins: int) -> None:
    counts = torch.ones(n, dtype=torch.long)  # distinct values: one pixel per atom
    g = mass_groups(counts, bins)
    sizes = torch.bincount(g, minlength=bins)
    assert int(sizes.sum()) == n
    assert bool(((sizes == n // bins) | (sizes == -(-n // bins))).all())
    assert bool((g[1:] >= g[:-1]).all())  # bins are contiguous in value order


def test_streaming_equal_mass_equals_exact_when_values_lie_on_the_grid() -> None:
    """Equal-mass bins of the stream are formed from whole slots; with every value on a slot edge j/R each slot
    is one distinct value, so they are the exact equal-mass bins."""
    g = torch.Generator().manual_seed(4)
    r = 40
    p = torch.randint(0, r + 1, (3, 1, 10, 10), generator=g).double() / r
    y = (torch.rand(3, 10, 10, generator=g, dtype=torch.float64) < p[:, 0]).long()
    h = M.ProbabilityHistogram(8, 5)
    h.update(p, y)
    for kind in ("top-label", "class-wise"):
        for norm in ("l1", "max"):
            assert float(h.calibration_error(kind=kind, norm=norm, binning="mass")) == pytest.approx(
                float(M.calibration_error(p, y, n_bins=8, kind=kind, norm=norm, binning="mass")), abs=1e-12)


def test_reliability_diagram_adds_up_to_the_ece() -> None:
    probs, y = _data(9, 3, 3)
    for binning in ("width", "mass"):
        r = M.reliability_diagram(probs, y, n_bins=7, binning=binning, ignore_index=255)
        n = int(r.count.sum())
        assert n == int((y != 255).sum())
        filled = r.count > 0
        ece = float((r.count[filled].double() / n * (r.accuracy[filled] - r.confidence[filled]).abs()).sum())
        assert ece == pytest.approx(float(M.expected_calibration_error(probs, y, n_bins=7, binning=binning,
                                                                      ignore_index=255)), abs=1e-12)
        assert bool(torch.isnan(r.confidence[~filled]).all())
        assert bool((r.lower[filled] <= r.confidence[filled] + 1e-12).all())
        assert bool((r.confidence[filled] <= r.upper[filled] + 1e-12).all())
    stream = M.ProbabilityHistogram(7, 1, ignore_index=255)
    stream.update(probs, y)
    torch.testing.assert_close(stream.reliability().count, M.reliability_diagram(probs, y, n_bins=7,
                                                                                ignore_index=255).count)


def test_streaming_reliability_with_equal_mass_bins() -> None:
    probs, y = _data(12, 4, 3)
    h = M.ProbabilityHistogram(6, 10, ignore_index=255)
    h.update(probs, y)
    r = h.reliability(binning="mass")
    assert int(r.count.sum()) == int((y != 255).sum())
    filled = r.count > 0
    assert bool((r.lower[filled] <= r.confidence[filled]).all() and (r.confidence[filled] <= r.upper[filled]).all())
    assert bool((r.upper[filled][:-1] <= r.lower[filled][1:]).all())  # the bins are ordered, without overlap
    n = int(r.count.sum())
    ece = float((r.count[filled].double() / n * (r.accuracy[filled] - r.confidence[filled]).abs()).sum())
    assert ece == pytest.approx(float(h.calibration_error(binning="mass")), abs=1e-12)
    cw = h.reliability(kind="class-wise", binning="mass")
    assert cw.count.shape == (3, 6) and cw.count.sum(1).tolist() == [n, n, n]


def test_state_size_is_fixed_whatever_the_number_of_pixels() -> None:
    h = M.ProbabilityHistogram(15, 64)
    small, _ = _data(0, 1, 3)
    h.update(small, torch.zeros(1, 6, 7, dtype=torch.long))
    size = h.state_bytes
    big = torch.full((4, 3, 64, 64), 1 / 3)
    h.update(big, torch.zeros(4, 64, 64, dtype=torch.long))
    assert h.state_bytes == size == 8 * (2 * 2 * 3 * 961 + 2 * 2 * 961 + 3 + 3 + 1)


def test_inputs_are_never_modified() -> None:
    probs, y = _data(3, 2, 3)
    probs = probs.double()
    before_p, before_y = probs.clone(), y.clone()
    M.brier_score(probs, y, ignore_index=255)
    M.calibration_error(probs, y, ignore_index=255, binning="mass")
    M.average_precision(probs, y, ignore_index=255, n_bins=None)
    h = M.ProbabilityHistogram(ignore_index=255)
    h.update(probs, y)
    assert torch.equal(probs, before_p) and torch.equal(y, before_y)


def test_a_model_that_misses_more_never_scores_better() -> None:
    """Lowering the probability of positives (more of a miss) worsens Brier, NLL, AP and AUC; raising it on
    negatives (more false alarm) too."""
    g = torch.Generator().manual_seed(6)
    y = (torch.rand(2, 16, 16, generator=g) < 0.3).long()
    base = torch.where(y.bool(), 0.7, 0.2).double().unsqueeze(1) + torch.rand(2, 1, 16, 16, generator=g) * 0.05
    worse_miss = torch.where(y.bool().unsqueeze(1), base * 0.25, base)
    worse_alarm = torch.where(y.bool().unsqueeze(1), base, base + 0.6)
    for worse in (worse_miss, worse_alarm):
        assert float(M.brier_score(worse, y)) > float(M.brier_score(base, y))
        assert float(M.negative_log_likelihood(worse, y)) > float(M.negative_log_likelihood(base, y))
        assert float(M.average_precision(worse, y, n_bins=None)) < float(M.average_precision(base, y, n_bins=None))
        assert float(M.roc_auc(worse, y, n_bins=None)) < float(M.roc_auc(base, y, n_bins=None))
