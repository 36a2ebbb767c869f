"""#18 sections 2-4 on fake run folders: the answer first, seeds counted, leads positive, and no crash on
degenerate runs (constant scores, all NaN, all inf, one image, one seed, one loss, a class never predicted)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segbench.report.analysis import analyze
from segbench.report.build import build_report
from segbench.report.findings import answer, headline, lead, ranking_notes, scope_note
from segbench.report.rundata import load_run


@pytest.fixture(scope="module")
def three_seed_run(tmp_path_factory: pytest.TempPathFactory, fake_run_module: ModuleType) -> Path:
    return fake_run_module.write_fake_run(tmp_path_factory.mktemp("three") / "run", n_losses=4, seeds=(0, 1, 2))


def test_three_seeds_use_the_two_stage_bootstrap_and_answer_first(three_seed_run: Path) -> None:
    analysis = analyze(load_run(three_seed_run), n_boot=200)
    assert analysis.seed_level and analysis.primary_metric == "dice"
    lines = answer(analysis)
    assert lines[0].startswith("Primary metric: dice")
    res = analysis.results[analysis.primary]["dice"]
    assert set(res.tied_with_best) | set(res.worse) == set(analysis.run.trained)
    assert not set(res.tied_with_best) & set(res.worse)
    assert res.best[0] in res.tied_with_best
    assert "image-level only" not in " ".join(lines) and "two-stage" in scope_note(analysis)
    paths = build_report(three_seed_run, n_boot=200, quiet=True)
    html = paths.html.read_text()
    assert html.index('id="answer"') < html.index('id="findings"') < html.index('id="results"')
    md = paths.markdown.read_text()
    assert md.index("## The answer") < md.index("## Key findings")
    assert lines[1] in md.replace("\\*", "*")
    assert "classic" in paths.figures and paths.answer[0] == lines[0]


def test_two_seeds_mark_every_claim_image_level_only(binary_run: Path) -> None:
    analysis = analyze(load_run(binary_run), n_boot=200)
    assert not analysis.seed_level
    assert "cannot be estimated" in scope_note(analysis)
    verdict = answer(analysis)
    assert all("image-level only" in t for t in verdict[1:])
    for line in headline(analysis):
        if "beyond resampling noise" in line:
            assert "[image-level only]" in line


def test_leads_are_positive_and_infinite_ones_are_counted_misses(binary_run: Path) -> None:
    analysis = analyze(load_run(binary_run), n_boot=200)
    seen = 0
    for res in analysis.metric_results():
        if res.separation is None:
            continue
        text = lead(analysis, res)
        if text.startswith("misses"):
            assert re.fullmatch(r"misses \(seed x image\): .+ \d+, .+ \d+", text), text
            continue
        value = float(text.split()[1])
        assert value >= 0, text
        seen += 1
    assert seen
    assert "-∞" not in " ".join(headline(analysis))


def test_disagreement_is_claimed_only_with_significance_both_ways(binary_run: Path) -> None:
    analysis = analyze(load_run(binary_run), n_boot=200)
    notes = ranking_notes(analysis)
    assert "the choice of metric changes the conclusion" not in " ".join(notes)
    results = analysis.results[analysis.primary]
    models = analysis.run.trained
    expected = set()
    orders = [(m, r.pair_order) for m, r in results.items() if r.pair_order]
    for a, (ma, pa) in enumerate(orders):
        for mb, pb in orders[a + 1:]:
            for (i, j), sa in pa.items():
                sb = pb.get((i, j), 0)
                if sa and sb and sa != sb:
                    x, y = (models[i], models[j]) if sa > 0 else (models[j], models[i])
                    expected.add(f"{ma} prefers {x} over {y}, {mb} prefers {y} over {x}")
    if expected:
        assert any(e in notes[0] for e in expected)
    else:
        assert "noise, not a finding" in notes[0]


# ---- degenerate runs ------------------------------------------------------------------------------------------


def _rewrite(root: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    path = root / "results" / name
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0]) if rows else []
    rows = [r for r in (change(r) for r in rows) if r is not None]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


SCENARIOS = ("constant", "all_nan", "all_inf", "one_image", "one_seed", "one_loss", "never_predicted", "mixed")


def _degrade(root: Path, scenario: str, rng: np.random.Generator) -> None:
    keep_image = "img_000"
    first_loss = "ce"

    def per_image(r: dict[str, str]) -> dict[str, str] | None:
        if scenario == "constant":
            r["value"] = "0.5"
        elif scenario == "all_nan":
            r["value"] = "nan"
        elif scenario == "all_inf" and r["metric"] in ("hd", "hd95", "assd"):
            r["value"] = "inf"
        elif scenario == "all_inf":
            r["value"] = "0.0"
        elif scenario == "one_image" and r["image"] != keep_image:
            return None
        elif scenario == "one_seed" and r["seed"] != "0":
            return None
        elif scenario == "one_loss" and r["kind"] == "trained" and r["model"] != first_loss:
            return None
        elif scenario == "never_predicted" and r["kind"] == "trained":
            r["value"] = {"precision": "0.0", "recall": "0.0", "dice": "0.0", "iou": "0.0", "mcc": "0.0",
                          "hd95": "inf", "hd": "inf", "assd": "inf"}.get(r["metric"], r["value"])
        elif scenario == "mixed":
            r["value"] = str(rng.choice([0.0, 1.0, math.nan, math.inf, float(r["value"])]))
        return r

    def pooled(r: dict[str, str]) -> dict[str, str] | None:
        if scenario in ("one_seed",) and r["seed"] != "0":
            return None
        if scenario == "one_loss" and r["kind"] == "trained" and r["model"] != first_loss:
            return None
        if scenario in ("constant", "all_nan"):
            r["value"] = "0.5" if scenario == "constant" else "nan"
        return r

    _rewrite(root, "per_image.csv", per_image)
    _rewrite(root, "dataset_level.csv", pooled)


def _build_degenerate(root: Path, scenario: str, seed: int) -> None:
    _degrade(root, scenario, np.random.default_rng(seed))
    paths = build_report(root, n_boot=50, quiet=True)
    html = paths.html.read_text()
    assert 'id="answer"' in html and paths.markdown.read_text().startswith("# segbench report")
    assert paths.answer


@pytest.mark.parametrize("num_classes", [2, 3])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_report_never_crashes_on_degenerate_runs(tmp_path: Path, fake_run_module: ModuleType, scenario: str,
                                                      num_classes: int) -> None:
    root = fake_run_module.write_fake_run(tmp_path / "run", n_losses=3, n_images=6, num_classes=num_classes,
                                          seeds=(0, 1, 2), epochs=2)
    _build_degenerate(root, scenario, 0)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**16), st.sampled_from([(0,), (0, 1), (0, 1, 2)]))
def test_the_report_survives_random_mixtures_of_nan_inf_and_constants(
    tmp_path_factory: pytest.TempPathFactory, fake_run_module: ModuleType, seed: int, seeds: tuple[int, ...]
) -> None:
    root = fake_run_module.write_fake_run(tmp_path_factory.mktemp("mixed") / "run", n_losses=3, n_images=6,
                                          num_classes=3, seeds=seeds, epochs=2)
    _build_degenerate(root, "mixed", seed)


def _tables(html: str) -> list[list[list[str]]]:
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables: list[list[list[str]]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None and self.tables:
                self.tables[-1][-1].append("".join(self.cell))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    p = P()
    p.feed(html)
    return p.tables


def test_wide_tables_are_split_and_multiclass_runs_get_per_class_figures(multiclass_run: Path, tmp_path: Path) -> None:
    """No table wider than about 1100 px of 13 px text (150 characters with cell padding), so nothing scrolls
    sideways at 1400 px; every figure has a legend or colour bar (checked in the code); one bar chart per class."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(multiclass_run, run)
    paths = build_report(run, n_boot=50, quiet=True)
    html = paths.html.read_text()
    tables = _tables(html)
    assert tables
    for table in tables:
        widths = [max(len(row[k]) for row in table if k < len(row)) + 2 for k in range(max(map(len, table)))]
        assert sum(widths) <= 150, widths
    analysis = analyze(load_run(run), n_boot=50)
    views = [v for v in analysis.views if v != analysis.primary]
    assert views and all(any(name.startswith("bars_") and v.replace(" ", "_") in name for name in paths.figures)
                         for v in views)
    assert html.count('<figure id="fig-bars_') == len(views)


def test_infinite_differences_read_as_miss_counts() -> None:
    """A difference to the reference that is infinite (one loss misses where the other finds) is shown as the
    miss counts, never as an -inf interval."""
    from dataclasses import replace

    from segbench import stats
    from segbench.report.analysis import MetricResult, ModelResult
    from segbench.report.tables import detail_rows

    summary = stats.summarize([1.0, 2.0])
    base = ModelResult("a", "trained", 2, 2, 0, 0, 1.5, math.nan, summary, 1.5, 1.0, 2.0)
    a = replace(base, diff=0.0, diff_low=0.0, diff_high=0.0)
    b = replace(base, model="b", n_inf=3, diff=-math.inf, diff_low=-math.inf, diff_high=-math.inf)
    res = MetricResult("v", "hd95", False, (a, b), 2, 0, "median", None, "a")
    cells = dict((r.model, c) for r, c in detail_rows(res))
    assert cells["b"][6] == "misses: b 3, a 0"
    assert "∞" not in cells["b"][6]


def test_the_answer_says_when_a_trivial_predictor_is_as_good(binary_run: Path) -> None:
    analysis = analyze(load_run(binary_run), n_boot=100)
    res = analysis.results[analysis.primary]["recall"]
    object.__setattr__(analysis, "primary_metric", "recall")  # all-foreground has recall 1
    assert any(r.kind == "trivial" and r.estimate == 1.0 for r in res.rows)
    assert "shows no model better than no model" in answer(analysis)[-1]
