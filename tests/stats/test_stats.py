"""Tests of segbench.stats against scipy.stats, hand-worked examples and hand-written loops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats as sps

from segbench.stats import (
    aggregation_gap,
    best_vs_runner_up,
    holm,
    paired_bootstrap_ci,
    rank_losses,
    rank_table,
    ranking_agreement,
    seed_mean_sd,
    summarize,
    wilcoxon_holm,
)

INF, NAN = float("inf"), float("nan")


def _scores(seed: int, n_losses: int = 4, n: int = 30) -> np.ndarray:
    """Per-image scores with a shared image difficulty, rounded so that ties and zero differences occur."""
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.3, 0.9, size=n)
    return np.round(difficulty + rng.normal(0, 0.05, size=(n_losses, n)), 2)


# ---------------------------------------------------------------------------------------- wilcoxon
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("n", [8, 30, 80])
def test_wilcoxon_p_values_equal_scipy(zero_method: str, higher_is_better: bool, n: int) -> None:
    x = _scores(n, n=n)
    comps = wilcoxon_holm(x, higher_is_better=higher_is_better, zero_method=zero_method)  # type: ignore[arg-type]
    assert [c.loss for c in comps] == [1, 2, 3]
    for c in comps:
        d = x[c.loss] - x[0]
        expected = sps.wilcoxon(d, zero_method=zero_method, alternative="two-sided")
        assert c.p_value == pytest.approx(expected.pvalue, rel=1e-12)
        assert c.statistic == pytest.approx(expected.statistic, rel=1e-12)
        # W+ of the oriented differences is scipy's one-sided statistic (r_plus).
        oriented = d if higher_is_better else -d
        greater = sps.wilcoxon(oriented, zero_method=zero_method, alternative="greater")
        assert c.w_plus == pytest.approx(greater.statistic)
        assert c.n_zero == int((d == 0).sum())
        assert c.n == n and c.n_dropped == 0


def test_wilcoxon_reference_other_than_first() -> None:
    x = _scores(3, n_losses=3, n=25)
    comps = wilcoxon_holm(x, reference=2, higher_is_better=True)
    assert [c.loss for c in comps] == [0, 1] and all(c.reference == 2 for c in comps)
    for c in comps:
        assert c.p_value == pytest.approx(sps.wilcoxon(x[c.loss] - x[2]).pvalue, rel=1e-12)


def test_rank_biserial_effect_size_by_hand() -> None:
    # differences 1, -2, 3, 4 -> |d| ranks 1, 2, 3, 4; W+ = 1+3+4 = 8, W- = 2, r = (8-2)/10 = 0.6
    ref = np.array([0.0, 0.0, 0.0, 0.0])
    x = np.stack([ref, ref + np.array([1.0, -2.0, 3.0, 4.0])])
    (c,) = wilcoxon_holm(x, higher_is_better=True)
    assert (c.w_plus, c.w_minus, c.effect_size) == (8.0, 2.0, pytest.approx(0.6))
    assert c.median_difference == pytest.approx(2.0)
    # lower-is-better: the same numbers mean the loss is worse, so the sign flips
    (c2,) = wilcoxon_holm(x, higher_is_better=False)
    assert (c2.w_plus, c2.w_minus, c2.effect_size) == (2.0, 8.0, pytest.approx(-0.6))
    assert c2.p_value == c.p_value


def test_constant_shift_is_significant_and_ci_excludes_zero() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.9, size=40)
    noise = base + rng.normal(0, 0.01, size=40)
    x = np.stack([base, base + 0.05, noise])
    comps = wilcoxon_holm(x, higher_is_better=True)
    shifted, noisy = comps
    assert shifted.significant and shifted.p_holm < 1e-6 and shifted.effect_size == 1.0
    assert shifted.median_difference == pytest.approx(0.05)
    assert noisy.p_holm >= noisy.p_value
    ci = paired_bootstrap_ci(x, n_boot=500)
    assert ci.diff_low[1] == pytest.approx(0.05) and ci.diff_high[1] == pytest.approx(0.05)
    assert ci.diff_excludes_zero[1] and not ci.diff_excludes_zero[0]


def test_all_zero_differences_give_p_one_without_warning() -> None:
    x = np.array([[0.5, 0.6, 0.7], [0.5, 0.6, 0.7], [INF, 0.6, NAN]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same, other = wilcoxon_holm(x, higher_is_better=False)
    assert (same.p_value, same.p_holm, same.effect_size, same.n_zero, same.significant) == (1.0, 1.0, 0.0, 3, False)
    assert (other.n, other.n_dropped, other.n_inf, other.n_zero) == (2, 1, 1, 1)


def test_nan_pairs_dropped_and_counted() -> None:
    x = _scores(5, n_losses=2, n=20)
    x[0, 3] = NAN
    x[1, [3, 7, 11]] = NAN
    (c,) = wilcoxon_holm(x, higher_is_better=True)
    keep = ~np.isnan(x).any(axis=0)
    assert (c.n, c.n_dropped) == (17, 3)
    assert c.p_value == pytest.approx(sps.wilcoxon(x[1, keep] - x[0, keep]).pvalue, rel=1e-12)


def test_untestable_comparison_is_nan_and_left_out_of_holm() -> None:
    x = _scores(6, n_losses=3, n=12)
    x[1] = NAN  # every image undefined for loss 1: nothing to test
    untestable, other = wilcoxon_holm(x, higher_is_better=True)
    assert (untestable.n, untestable.n_dropped, untestable.significant) == (0, 12, False)
    assert np.isnan(untestable.p_value) and np.isnan(untestable.p_holm) and np.isnan(untestable.effect_size)
    assert other.p_holm == pytest.approx(other.p_value)  # m = 1: only one test ran


def test_inf_ranks_as_largest_magnitude_and_inf_vs_inf_ties() -> None:
    # Hausdorff-like distances, lower is better. Image 0: the loss misses (inf) -> worst possible pair;
    # image 1: both miss -> a tie; the rest finite.
    ref = np.array([5.0, INF, 3.0, 4.0, 6.0, 2.0, 7.0, 1.0])
    loss = np.array([INF, INF, 2.0, 3.5, 4.0, 1.5, 6.0, 0.5])
    (c,) = wilcoxon_holm(np.stack([ref, loss]), higher_is_better=False)
    assert (c.n, c.n_inf, c.n_zero) == (8, 1, 1)
    # oriented d = ref - loss (positive = loss better): [-inf, 0, 1, .5, 2, .5, 1, .5]
    # nonzero |d| ranks: .5,.5,.5 -> 2; 1,1 -> 4.5; 2 -> 6; inf -> 7
    assert c.w_minus == 7.0 and c.w_plus == 2 * 3 + 4.5 * 2 + 6
    assert c.effect_size == pytest.approx((21 - 7) / 28)
    finite_equivalent = np.array([-100.0, 0, 1, 0.5, 2, 0.5, 1, 0.5])  # same ranks, same signs
    assert c.p_value == pytest.approx(sps.wilcoxon(finite_equivalent).pvalue, rel=1e-12)
    assert c.median_difference == pytest.approx(-0.5)


# -------------------------------------------------------------------------------------------- holm
def test_holm_hand_worked_example() -> None:
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005, 0.01, 0.03, 0.04
    # times (m - i): 0.02, 0.03, 0.06, 0.04; running max: 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1: sorted 0.2, 0.5, 0.9 -> 0.6, 1.0, 0.9 -> running max 0.6, 1.0, 1.0
    np.testing.assert_allclose(holm([0.5, 0.9, 0.2]), [1.0, 1.0, 0.6])
    # NaN (a test that could not run) stays NaN and does not count in m
    np.testing.assert_allclose(holm([0.01, NAN, 0.02]), [0.02, NAN, 0.02])
    assert holm([]).shape == (0,)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(0.0, 1.0)))
def test_holm_properties(p: np.ndarray) -> None:
    adj = holm(p)
    order = np.argsort(p, kind="stable")
    # the procedure written out: sort, multiply by (m - i), running max, cap at 1
    m = p.size
    expected = np.empty(m)
    expected[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    np.testing.assert_allclose(adj, expected)
    assert (adj >= p).all() and (adj <= 1.0).all()
    assert (np.diff(adj[order]) >= 0).all()


# --------------------------------------------------------------------------------------- bootstrap
@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_bootstrap_equals_hand_written_loop(statistic: str) -> None:
    x = _scores(11, n_losses=3, n=25)
    x[2, 4] = NAN  # image 4 is dropped for every loss (pairing)
    ci = paired_bootstrap_ci(x, reference=0, n_boot=300, confidence=0.9, seed=7, statistic=statistic)  # type: ignore[arg-type]
    used = np.delete(x, 4, axis=1)
    n = used.shape[1]
    f = np.mean if statistic == "mean" else np.median
    rng = np.random.default_rng(7)
    boot = np.empty((3, 300))
    for b in range(300):
        idx = rng.integers(0, n, size=n)
        for l in range(3):
            boot[l, b] = f(used[l, idx])
    np.testing.assert_allclose(ci.estimate, [f(row) for row in used], rtol=1e-12)
    np.testing.assert_allclose(ci.low, np.percentile(boot, 5.0, axis=1), rtol=1e-12)
    np.testing.assert_allclose(ci.high, np.percentile(boot, 95.0, axis=1), rtol=1e-12)
    diff = boot - boot[0]
    np.testing.assert_allclose(ci.diff_low, np.percentile(diff, 5.0, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ci.diff_high, np.percentile(diff, 95.0, axis=1), rtol=1e-12, atol=1e-15)
    assert (ci.n_used, ci.n_dropped, ci.n_boot, ci.seed) == (24, 1, 300, 7)


def test_identical_losses_have_exactly_zero_difference_ci() -> None:
    x = _scores(2, n_losses=1, n=30)
    ci = paired_bootstrap_ci(np.concatenate([x, x]), n_boot=400)
    assert (ci.diff_estimate[1], ci.diff_low[1], ci.diff_high[1]) == (0.0, 0.0, 0.0)
    assert ci.low[0] < ci.high[0]  # while each loss alone has a wide interval


def test_pairing_narrows_the_difference_interval() -> None:
    # Image difficulty varies a lot; the loss is consistently 0.02 better. Unpaired intervals overlap,
    # the paired difference interval does not contain 0.
    rng = np.random.default_rng(4)
    base = rng.uniform(0.1, 0.95, size=60)
    x = np.stack([base, base + 0.02 + rng.normal(0, 0.005, size=60)])
    ci = paired_bootstrap_ci(x, n_boot=1000)
    assert ci.high[0] > ci.low[1]
    assert ci.diff_low[1] > 0


def test_bootstrap_inf_and_all_nan() -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0, INF], [1.0, 2.0, 2.0, 3.0, 5.0], [1.0, 2.5, 3.0, 4.0, INF]])
    ci = paired_bootstrap_ci(x, n_boot=200)
    assert ci.estimate[0] == INF and ci.high[0] == INF and np.isfinite(ci.low[0])
    # mean of paired differences, two misses tie: row 2 - row 0 = [0, .5, 0, 0, 0]
    assert ci.diff_estimate[2] == pytest.approx(0.1) and 0 <= ci.diff_low[2] <= ci.diff_high[2] <= 0.5
    assert ci.diff_estimate[1] == -INF and ci.diff_low[1] == -INF  # the reference's miss
    assert (ci.diff_estimate[0], ci.diff_low[0], ci.diff_high[0]) == (0.0, 0.0, 0.0)
    # misses on both sides on different images: inf - inf, undefined
    both = paired_bootstrap_ci([[1.0, INF, 2.0], [INF, 1.0, 2.0]], n_boot=50)
    assert np.isnan(both.diff_estimate[1]) and np.isnan(both.diff_low[1]) and np.isnan(both.diff_high[1])
    med = paired_bootstrap_ci(x, n_boot=200, statistic="median")
    np.testing.assert_allclose(med.estimate, [3.0, 2.0, 3.0])
    assert (med.diff_low[0], med.diff_high[0]) == (0.0, 0.0)
    # some resamples draw the miss 3+ times out of 5: both medians inf, the difference CI is undefined
    assert np.isnan(med.diff_low[2]) and np.isnan(med.diff_high[2])
    empty = paired_bootstrap_ci([[NAN, 1.0], [1.0, NAN]])
    assert (empty.n_used, empty.n_dropped) == (0, 2) and np.isnan(empty.estimate).all()


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(2, 25)),
        elements=st.floats(0.0, 1.0, allow_subnormal=False),
    ),
    st.integers(0, 2**16),
)
def test_bootstrap_ci_contains_estimate(x: np.ndarray, seed: int) -> None:
    ci = paired_bootstrap_ci(x, n_boot=200, seed=seed)
    tol = 1e-12
    assert (ci.low <= ci.estimate + tol).all() and (ci.estimate <= ci.high + tol).all()
    assert (ci.diff_low <= ci.diff_estimate + tol).all() and (ci.diff_estimate <= ci.diff_high + tol).all()


# ------------------------------------------------------------------------------------ permutations
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 40))
def test_permuting_images_together_changes_nothing(seed: int, n: int) -> None:
    x = _scores(seed, n_losses=3, n=n)
    perm = np.random.default_rng(seed + 1).permutation(n)
    a = wilcoxon_holm(x, higher_is_better=True)
    b = wilcoxon_holm(x[:, perm], higher_is_better=True)
    for ca, cb in zip(a, b, strict=True):
        assert ca.p_value == pytest.approx(cb.p_value, rel=1e-12)
        assert ca.p_holm == pytest.approx(cb.p_holm, rel=1e-12)
        assert (ca.w_plus, ca.w_minus) == (cb.w_plus, cb.w_minus)


# ----------------------------------------------------------------------------------------- summary
def test_summarize_counts_nan_and_inf() -> None:
    s = summarize([1.0, 2.0, 3.0, NAN, INF, NAN])
    assert (s.n, s.n_nan, s.n_inf, s.n_defined) == (6, 2, 1, 4)
    assert s.mean == INF and s.sd == INF
    assert s.median == pytest.approx(2.5)  # of [1, 2, 3, inf]
    assert s.q75 == INF  # between 3 and inf, not NaN as np.quantile would give
    f = summarize([0.2, 0.4, 0.9, NAN])
    assert f.mean == pytest.approx(0.5) and f.sd == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1))
    assert (f.q25, f.median, f.q75) == tuple(pytest.approx(q) for q in np.quantile([0.2, 0.4, 0.9], [0.25, 0.5, 0.75]))
    allnan = summarize([NAN, NAN])
    assert (allnan.n, allnan.n_nan) == (2, 2) and np.isnan(allnan.mean)
    assert np.isnan(summarize([0.3]).sd)


def test_seed_mean_sd() -> None:
    mean, sd = seed_mean_sd([0.71, 0.74, 0.69, 0.75])
    assert mean == pytest.approx(0.7225) and sd == pytest.approx(np.std([0.71, 0.74, 0.69, 0.75], ddof=1))
    one = seed_mean_sd([0.7])
    assert one[0] == 0.7 and np.isnan(one[1])


def test_aggregation_gap_per_image_vs_pooled_dice() -> None:
    # image A: big object, perfect (tp=90); image B: small object, missed (fn=10).
    tp, fp, fn = np.array([90, 0]), np.array([0, 0]), np.array([0, 10])
    per_image = np.mean(2 * tp / (2 * tp + fp + fn))  # (1 + 0) / 2
    pooled = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())  # 180 / 190
    assert float(aggregation_gap(per_image, pooled)) == pytest.approx(0.5 - 180 / 190)
    np.testing.assert_allclose(aggregation_gap([0.5, NAN], [0.4, 0.4]), [0.1, NAN])


# ----------------------------------------------------------------------------------------- ranking
def test_rank_losses_ties_nan_and_direction() -> None:
    np.testing.assert_array_equal(rank_losses([0.7, 0.9, 0.7, 0.5], True), [2.5, 1.0, 2.5, 4.0])
    np.testing.assert_array_equal(rank_losses([0.7, 0.9, 0.7, 0.5], False), [2.5, 4.0, 2.5, 1.0])
    np.testing.assert_array_equal(rank_losses([NAN, 0.2, NAN, 0.1], True), [3.5, 1.0, 3.5, 2.0])
    np.testing.assert_array_equal(rank_losses([INF, 4.0, NAN], False), [2.0, 1.0, 3.0])


def test_accuracy_vs_f1_flip_detected() -> None:
    # Imbalanced binary task: 1000 pixels, 50 foreground.
    # loss 0 predicts everything background: tp=0, fp=0, fn=50.
    # loss 1 finds the object but over-segments: tp=45, fp=80, fn=5.
    # loss 2 in between: tp=30, fp=20, fn=20.
    counts = {0: (0, 0, 50), 1: (45, 80, 5), 2: (30, 20, 20)}
    total = 1000
    acc = np.array([(total - fp - fn) / total for tp, fp, fn in counts.values()])  # .95 .915 .96
    f1 = np.array([2 * tp / (2 * tp + fp + fn) for tp, fp, fn in counts.values()])  # 0 .514 .6
    hd = np.array([INF, 12.0, 9.0])
    ranks = rank_table({"accuracy": acc, "f1": f1, "hd95": hd}, {"accuracy": True, "f1": True, "hd95": False})
    np.testing.assert_array_equal(ranks["accuracy"], [2, 3, 1])
    np.testing.assert_array_equal(ranks["f1"], [3, 2, 1])
    ag = ranking_agreement(ranks)
    assert ag.metrics == ("accuracy", "f1", "hd95") and not ag.consistent
    assert ag.best == {"accuracy": (2,), "f1": (2,), "hd95": (2,)}
    (flip,) = [d for d in ag.disagreements if (d.metric_a, d.metric_b) == ("accuracy", "f1")]
    assert flip.flipped == ((0, 1),) and not flip.best_differs
    assert flip.tau == pytest.approx(sps.kendalltau([2, 3, 1], [3, 2, 1]).statistic)
    assert ag.tau[1, 2] == pytest.approx(1.0)  # f1 and hd95 agree
    assert [(d.metric_a, d.metric_b) for d in ag.disagreements] == [("accuracy", "f1"), ("accuracy", "hd95")]
    # the full reversal: best differs too
    rev = ranking_agreement({"accuracy": [1, 2], "f1": [2, 1]})
    assert rev.disagreements[0].best_differs and rev.tau[0, 1] == pytest.approx(-1.0)


def test_ranking_agreement_ties_are_not_flips() -> None:
    ag = ranking_agreement({"a": [1.5, 1.5, 3.0], "b": [1.0, 2.0, 3.0], "c": [2.0, 2.0, 2.0]})
    assert ag.consistent
    assert ag.best["a"] == (0, 1) and ag.best["c"] == (0, 1, 2)
    assert np.isnan(ag.tau[2, 0]) and np.isnan(ag.tau[2, 2])  # all-tied ranking: tau undefined


def test_best_vs_runner_up() -> None:
    rng = np.random.default_rng(9)
    base = rng.uniform(0.3, 0.9, size=50)
    close = np.stack([base, base + rng.normal(0, 0.05, size=50), base - 0.2])
    s = best_vs_runner_up(close, higher_is_better=True, n_boot=500)
    assert {s.best, s.runner_up} == {0, 1}
    assert s.diff_low < 0 < s.diff_high and not s.distinguishable
    clear = np.stack([base, base + 0.03, base - 0.2])
    s2 = best_vs_runner_up(clear, higher_is_better=True, n_boot=500)
    assert (s2.best, s2.runner_up, s2.distinguishable) == (1, 0, True)
    assert s2.diff_estimate == pytest.approx(-0.03)
    s3 = best_vs_runner_up(-clear, higher_is_better=False, n_boot=500)  # a distance: lower is better
    assert (s3.best, s3.runner_up, s3.distinguishable) == (1, 0, True)


# ----------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: summarize([[0.1, 0.2]]), ValueError, "1-D"),
        (lambda: summarize([0.1, -INF]), ValueError, "-inf"),
        (lambda: summarize(["a", "b"]), TypeError, "numeric"),
        (lambda: paired_bootstrap_ci([0.1, 0.2]), ValueError, "n_losses, n_images"),
        (lambda: paired_bootstrap_ci([[0.1, 0.2]], reference=1), ValueError, "reference"),
        (lambda: paired_bootstrap_ci([[0.1, 0.2]], confidence=95), ValueError, "confidence"),
        (lambda: paired_bootstrap_ci([[0.1, 0.2]], statistic="mode"), ValueError, "statistic"),  # type: ignore[arg-type]
        (lambda: paired_bootstrap_ci([[0.1, 0.2]], n_boot=0), ValueError, "n_boot"),
        (lambda: wilcoxon_holm([[0.1, 0.2]], higher_is_better=True), ValueError, "at least 2"),
        (lambda: wilcoxon_holm([[0.1], [0.2]], higher_is_better="yes"), TypeError, "bool"),  # type: ignore[arg-type]
        (lambda: wilcoxon_holm([[0.1], [0.2]], reference=1.0, higher_is_better=True), TypeError, "int"),  # type: ignore[arg-type]
        (lambda: holm([0.5, 1.5]), ValueError, r"\[0, 1\]"),
        (lambda: rank_table({"a": [1.0]}, {}), ValueError, "direction"),
        (lambda: ranking_agreement({"a": [1, 2], "b": [1, 2, 3]}), ValueError, "same losses"),
        (lambda: aggregation_gap([0.1, 0.2], [0.1]), ValueError, "same shape"),
        (lambda: seed_mean_sd([]), ValueError, "non-empty"),
    ],
)
def test_bad_input_messages(call: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
def test_small_n_with_ties_and_zeros_matches_scipy_permutation_test(zero_method: str) -> None:
    # n <= 13 with ties or zeros is the case scipy answers with an exact permutation test; segbench enumerates
    # the 2**n sign flips itself (scipy's Python-level statistic takes seconds per call there).
    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(4, 14))
        a = np.round(rng.normal(0.6, 0.1, n), 2)
        b = a + np.round(rng.normal(0.02, 0.05, n), 2)
        b[: n // 4] = a[: n // 4]  # zero differences
        got = wilcoxon_holm(np.stack([a, b]), higher_is_better=True, zero_method=zero_method)[0]
        d = b - a
        ref = sps.wilcoxon(d, zero_method=zero_method)
        assert got.p_value == pytest.approx(float(ref.pvalue), abs=1e-12)
        assert got.statistic == pytest.approx(float(ref.statistic), abs=1e-12)
