"""The report's numbers equal the statistics computed by hand (or by segbench.stats) on the same data."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from segbench import stats
from segbench.report.analysis import FOREGROUND_MEAN, analyze, seed_averaged
from segbench.report.rundata import load_run

N_BOOT = 200


@pytest.fixture(scope="module")
def binary_analysis(binary_run: Path):  # type: ignore[no-untyped-def]
    return analyze(load_run(binary_run), n_boot=N_BOOT)


def _avg(x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=1)


def test_seed_averaged_by_hand() -> None:
    x = np.array([[[0.2, np.nan, np.nan], [0.4, 0.5, np.inf]]])
    out = seed_averaged(x)
    assert out[0, 0] == pytest.approx(0.3) and out[0, 1] == 0.5 and np.isposinf(out[0, 2])
    assert np.isnan(seed_averaged(np.full((1, 2, 1), np.nan)))[0, 0]


def test_dice_estimate_is_the_paired_mean(binary_analysis) -> None:  # type: ignore[no-untyped-def]
    run = binary_analysis.run
    res = binary_analysis.results["nucleus"]["dice"]
    avg = _avg(run.values[("dice", "nucleus")])[:3]  # the 3 trained losses
    keep = ~np.isnan(avg).any(axis=0)
    assert res.n_used == int(keep.sum()) and res.n_dropped == 16 - int(keep.sum())
    for k, model in enumerate(run.trained):
        assert res.row(model).estimate == pytest.approx(avg[k, keep].mean())
    best = run.trained[int(np.argmax(avg[:, keep].mean(axis=1)))]
    assert res.best == (best,)
    assert res.row("ce").diff == 0.0 and res.reference == "ce"
    comps = stats.wilcoxon_holm(avg, 0, higher_is_better=True)
    assert [res.row(m).p_holm for m in run.trained[1:]] == pytest.approx([c.p_holm for c in comps])


def test_counts_of_undefined_and_missed(binary_analysis) -> None:  # type: ignore[no-untyped-def]
    run = binary_analysis.run
    for metric in ("dice", "hd95"):
        res = binary_analysis.results["nucleus"][metric]
        raw = run.values[(metric, "nucleus")]
        for i, model in enumerate(run.models):
            row = res.row(model)
            assert (row.n_nan, row.n_inf, row.n_values) == (int(np.isnan(raw[i]).sum()),
                                                            int(np.isposinf(raw[i]).sum()), 32)


def test_distance_with_misses_uses_the_median(binary_analysis) -> None:  # type: ignore[no-untyped-def]
    res = binary_analysis.results["nucleus"]["hd95"]
    assert res.statistic == "median" and res.higher_is_better is False
    assert all(math.isfinite(res.row(m).estimate) for m in binary_analysis.run.trained)
    assert binary_analysis.results["nucleus"]["dice"].statistic == "mean"


def test_trivial_baseline_by_hand(binary_analysis) -> None:  # type: ignore[no-untyped-def]
    run = binary_analysis.run
    # all-foreground: pixel accuracy of an image = its foreground share, identical over seeds
    acc = run.values[("pixel_accuracy", "all")][run.models.index("all-foreground"), 0]
    row = binary_analysis.results["nucleus"]["pixel_accuracy"].row("all-foreground")
    assert row.estimate == pytest.approx(acc.mean()) and row.seed_sd == 0.0
    assert math.isnan(row.rank) and not row.is_best and math.isnan(row.p_value)
    # all-background never predicts foreground: precision undefined on every image, counted
    prec = binary_analysis.results["nucleus"]["precision"].row("all-background")
    assert prec.n_nan == prec.n_values and math.isnan(prec.estimate)


def test_dataset_level_and_gap(binary_analysis) -> None:  # type: ignore[no-untyped-def]
    run = binary_analysis.run
    row = binary_analysis.results["nucleus"]["dice"].row("dice")
    pooled = run.pooled[("dice", "nucleus")][run.models.index("dice")]
    assert row.dataset_level == pytest.approx(pooled.mean())
    assert row.gap == pytest.approx(row.seed_mean - pooled.mean())
    assert math.isnan(binary_analysis.results["nucleus"]["hd95"].row("dice").dataset_level)  # no pooled form


def test_reference_and_n_boot_checked(binary_run: Path) -> None:
    run = load_run(binary_run)
    with pytest.raises(ValueError, match="not a trained loss"):
        analyze(run, reference="all-background", n_boot=10)
    with pytest.raises(ValueError, match="n_boot"):
        analyze(run, n_boot=0)
    a = analyze(run, reference="dice", n_boot=10)
    assert a.results["nucleus"]["dice"].row("dice").diff == 0.0
    assert a.results["nucleus"]["dice"].row("ce").diff != 0.0


def test_multiclass_views(multiclass_run: Path) -> None:
    a = analyze(load_run(multiclass_run), n_boot=50)
    assert a.primary == FOREGROUND_MEAN and a.views == (FOREGROUND_MEAN, "background", "class1", "class2")
    run = a.run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fg = _avg(np.nanmean(np.stack([run.values[("dice", c)] for c in ("class1", "class2")]), axis=0))
    row = a.results[FOREGROUND_MEAN]["dice"].row("all-foreground")
    assert row.estimate == pytest.approx(np.nanmean(fg[run.models.index("all-foreground")]))
    pa = [a.results[v]["pixel_accuracy"].row("ce").estimate for v in a.views]
    assert pa == pytest.approx([pa[0]] * 4)
    assert math.isnan(a.results[FOREGROUND_MEAN]["dice"].row("ce").seed_sd)  # one seed: spread unknown
