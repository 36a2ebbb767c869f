"""The report's structure: every file written, every section present, figures embedded, nothing fetched online."""

from __future__ import annotations

import base64
import csv
import re
import shutil
from pathlib import Path

import pytest

from segbench.report import build_report
from segbench.report.analysis import analyze
from segbench.report.render import SECTIONS
from segbench.report.rundata import load_run
from segbench.report.tables import STATISTICS_COLUMNS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built(binary_run: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    run = tmp_path_factory.mktemp("built") / "run"
    shutil.copytree(binary_run, run)
    return run, build_report(run, n_boot=200, quiet=True)


def test_files_written(built) -> None:  # type: ignore[no-untyped-def]
    run, paths = built
    assert paths.html == run / "report.html" and paths.html.is_file()
    assert paths.markdown == run / "summary.md" and paths.markdown.is_file()
    assert paths.statistics == run / "results" / "statistics.csv"
    assert set(paths.figures) == {"bars", "classic", "ranks", "distributions", "curves", "qualitative", "imbalance"}
    for path in paths.figures.values():
        assert path.read_bytes().startswith(PNG)
    assert not list(run.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_html_is_self_contained_with_every_section(built) -> None:  # type: ignore[no-untyped-def]
    _run, paths = built
    page = paths.html.read_text("utf-8")
    for anchor, title in SECTIONS:
        assert f'<section id="{anchor}"><h2>{title}</h2>' in page
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert len(images) == len(paths.figures)
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count('<tr class="trivial">') >= 3 and "★" in page


def test_html_states_findings(built) -> None:  # type: ignore[no-untyped-def]
    run, paths = built
    page = paths.html.read_text("utf-8")
    a = analyze(load_run(run), n_boot=200)
    for res in a.metric_results():
        if res.separation is not None and not res.separation.distinguishable:
            assert f"{res.metric}: best" in page and "NOT" in page
    assert "missed (inf" in page and "undefined (NaN" in page  # counted, not dropped
    assert "Smoothing" in page and "HD95 is the larger of the two directed 95th percentiles" in page
    assert "numpy" in page and "scipy" in page  # versions


def test_markdown_summary(built) -> None:  # type: ignore[no-untyped-def]
    _run, paths = built
    text = paths.markdown.read_text("utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 6  # header + 3 losses + 3 trivial baselines
    assert "0.5\\*bce + 0.5\\*dice" in text and "*all-background*" in text
    assert "figures/bars.png" in text


def test_statistics_csv(built) -> None:  # type: ignore[no-untyped-def]
    _run, paths = built
    with open(paths.statistics, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == STATISTICS_COLUMNS
    assert len(rows) == 8 * 6  # 8 metrics x 6 models, one view
    best = [r for r in rows if r["metric"] == "dice" and r["best"] == "true"]
    assert len(best) == 1 and best[0]["kind"] == "trained"


def test_rebuild_is_identical(built) -> None:  # type: ignore[no-untyped-def]
    run, paths = built
    before = paths.statistics.read_bytes()
    build_report(run, n_boot=200, quiet=True, formats=("md",))
    assert paths.statistics.read_bytes() == before


def test_multiclass_report(multiclass_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(multiclass_run, run)
    paths = build_report(run, n_boot=50, quiet=True, formats=("html",))
    page = paths.html.read_text("utf-8")
    assert "mean over foreground classes" in page and "<summary>class2</summary>" in page
    assert not paths.markdown.exists()


def test_bad_formats(binary_run: Path) -> None:
    with pytest.raises(ValueError, match="formats"):
        build_report(binary_run, formats=("pdf",))
