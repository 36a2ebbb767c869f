"""``segbench report RUN_DIR``: rebuilds the report from saved results; user mistakes exit 2 with one line."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from segbench.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("fake_run_cli", Path(__file__).parents[1] / "report" / "fake_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_fake_run(tmp_path_factory.mktemp("cli") / "run", n_losses=2, seeds=(0,))


def test_report_markdown_only(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    argv = ["report", str(run), "--format", "md", "--n-boot", "50", "--quiet", "--reference", "dice"]
    assert main(argv) == 0
    assert (run / "summary.md").is_file() and not (run / "report.html").exists()
    assert (run / "results" / "statistics.csv").is_file() and (run / "figures" / "bars.png").is_file()
    assert "reference loss `dice`" in (run / "summary.md").read_text("utf-8")
    assert "summary:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "unknown format"),
        (["--n-boot", "0"], "--n-boot must be a positive integer"),
        (["--reference", "all-background"], "is not a loss of this run"),
    ],
)
def test_usage_errors(run_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["report", str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segbench report: error:") and message in err


def test_missing_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
