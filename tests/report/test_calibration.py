"""The report's calibration views: pooled reliability bins by hand, the over-confidence finding (measured, or
not supported), the reliability and volume-bias figures and their place in the report."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from segbench.files.run_folder import RELIABILITY_FILE, TEMPERATURE_FILE, run_path
from segbench.report import build_report
from segbench.report.analysis import analyze
from segbench.report.calibration import (
    PooledReliability,
    load_reliability,
    overconfidence_notes,
    reliability_figure,
    temperature_table,
    volume_bias_figure,
)
from segbench.report.rundata import load_run


def test_pooled_reliability_weights_each_bin_by_its_pixels() -> None:
    a = {"count": [2, 0], "confidence": [0.2, float("nan")], "accuracy": [0.5, float("nan")], "lower": [0, 0.5],
         "upper": [0.5, 1]}
    b = {"count": [6, 4], "confidence": [0.4, 0.75], "accuracy": [0.0, 1.0], "lower": [0, 0.5], "upper": [0.5, 1]}
    rel = PooledReliability([a, b])
    assert rel.count.tolist() == [8, 4]
    np.testing.assert_allclose(rel.confidence, [(2 * 0.2 + 6 * 0.4) / 8, 0.75])
    np.testing.assert_allclose(rel.accuracy, [1 / 8, 1.0])
    assert rel.ece == pytest.approx((8 * abs(1 / 8 - 0.35) + 4 * 0.25) / 12)
    empty = PooledReliability([{**a, "count": [0, 0]}])
    assert np.isnan(empty.ece) and np.isnan(empty.confidence).all()


def _with_calibration(source: Path, root: Path, gaps: dict[str, float]) -> Path:
    """A copy of a fake run with per-image ``overconfidence`` (``gaps[model]`` plus a shared per-image term and
    a small model-specific wobble), ``volume_bias`` rows, and reliability files for the trained runs."""
    shutil.copytree(source, root)
    path = root / "results" / "per_image.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = sorted({(r["model"], r["kind"], r["seed"], r["image"]) for r in rows})
    images = sorted({c[3] for c in cells})
    extra = []
    for model, kind, seed, image in cells:
        i = images.index(image)
        shared = 0.05 * np.sin(i)
        wobble = 0.01 * ((i * 7 + len(model)) % 5 - 2)
        extra.append({"model": model, "kind": kind, "seed": seed, "image": image, "class": "all",
                      "metric": "overconfidence", "value": repr(float(gaps.get(model, 0.0) + shared + wobble))})
        extra.append({"model": model, "kind": kind, "seed": seed, "image": image, "class": "nucleus",
                      "metric": "volume_bias", "value": repr(-0.5 + 0.1 * i if model == "ce" else 0.2)})
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writerows(extra)
    run = load_run(root)
    for model in run.trained:
        for seed in run.seeds:
            folder = run_path(root, model, seed)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / RELIABILITY_FILE).write_text(json.dumps({
                "kind": "top-label", "n_bins": 2, "count": [10, 30], "confidence": [0.4, 0.9],
                "accuracy": [0.5, 0.8], "lower": [0.0, 0.5], "upper": [0.5, 1.0]}))
    return root


def test_overconfidence_finding_measured_or_not_supported(binary_run: Path, tmp_path: Path) -> None:
    models = load_run(binary_run).trained
    assert models[0] == "ce" and len(models) == 3
    root = _with_calibration(binary_run, tmp_path / "run", {"ce": 0.0, models[1]: 0.2, models[2]: 0.0})
    analysis = analyze(load_run(root), n_boot=500)
    notes = overconfidence_notes(analysis)
    assert len(notes) == 2
    assert notes[0].startswith(f"{models[1]} is over-confident compared with CE: ")
    assert "difference +0.2" in notes[0] and "95% CI +0.1" in notes[0]
    assert notes[1].startswith(f"{models[2]} over-confident compared with CE: not supported")
    rel = load_reliability(analysis)
    assert set(rel) == set(models) and rel["ce"].count.tolist() == [20, 60]  # two seeds pooled
    assert rel["ce"].ece == pytest.approx((10 * 0.1 + 30 * 0.1) / 40)
    assert reliability_figure(analysis) is not None and volume_bias_figure(analysis) is not None
    paths = build_report(root, n_boot=200, quiet=True)
    page = paths.html.read_text()
    assert 'id="calibration"' in page and 'id="fig-reliability"' in page and 'id="fig-volume_bias"' in page
    assert "is over-confident compared with CE" in page
    summary = paths.markdown.read_text()
    assert "## Calibration" in summary
    # a signed error has CIs but no ranking: lower is not better for it
    assert "volume_bias: a signed error, best at 0 (see its interval per loss); no ranking." in summary
    assert all(math.isnan(r.rank) for r in analysis.results[analysis.primary]["volume_bias"].rows)
    assert {"reliability", "volume_bias"} <= set(paths.figures)


def test_without_probabilities_or_ce_the_finding_says_why(binary_run: Path, multiclass_run: Path) -> None:
    analysis = analyze(load_run(binary_run), n_boot=100)
    assert overconfidence_notes(analysis) == [
        "Over-confidence was not scored (no probabilities in this run), so no loss is compared with CE."]
    assert reliability_figure(analysis) is None and volume_bias_figure(analysis) is None


def test_temperature_table_and_the_finding_after_scaling(binary_run: Path, tmp_path: Path) -> None:
    models = load_run(binary_run).trained
    root = _with_calibration(binary_run, tmp_path / "run", {"ce": 0.0, models[1]: 0.2, models[2]: 0.0})
    path = root / "results" / "per_image.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    extra = []
    for r in rows:
        if r["metric"] != "overconfidence":
            continue
        gap = float(r["value"])
        after = gap / 10 - 0.5 * (r["model"] == "ce")
        for metric, value in (("ece", abs(gap)), ("ece_ts", abs(gap) / 10), ("brier", 0.2), ("brier_ts", 0.15),
                              ("nll", 0.6), ("nll_ts", 0.5), ("overconfidence_ts", after)):
            extra.append({**r, "metric": metric, "value": repr(value)})
    with open(path, "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerows(extra)
    run = load_run(root)
    for k, model in enumerate(run.trained):
        for seed in run.seeds:
            (run_path(root, model, seed) / TEMPERATURE_FILE).write_text(json.dumps({"temperature": 1.5 + k + seed}))
    analysis = analyze(load_run(root), n_boot=300)
    table = temperature_table(analysis)
    assert table is not None
    header, body = table
    assert header[:4] == ["model", "T (val)", "ECE [95% CI]", "ECE after T [95% CI]"]
    cells = {cells[0][0]: [c for c, _ in cells] for _, cells in body}
    mean_seed = sum(run.seeds) / len(run.seeds)
    assert cells["ce"][1] == f"{1.5 + mean_seed:.3f}" and cells[models[2]][1] == f"{3.5 + mean_seed:.3f}"
    assert cells["all-background"][1] == "1 (0/1)"
    ece_ts = analysis.results[analysis.primary]["ece_ts"].row("ce")
    assert cells["ce"][3].startswith(f"{ece_ts.estimate:.3f} [")
    notes = overconfidence_notes(analysis, scaled=True)
    # after scaling CE sits 0.5 below everyone: every other loss is over-confident compared with it
    assert all(n.startswith("After temperature scaling, ") and "is over-confident compared with CE" in n for n in notes)
    summary = build_report(root, n_boot=200, quiet=True).markdown.read_text()
    assert "| model | T (val) | ECE [95% CI] | ECE after T [95% CI]" in summary
    assert "After temperature scaling, " in summary
