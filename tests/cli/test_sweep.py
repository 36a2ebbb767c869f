"""``segbench sweep`` end to end on a tiny sweep (2 shares, 2 losses, 1 seed, 2 epochs), its resume, its report, and
bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from segbench.cli import main
from segbench.files.lock import FolderLock

SHARES = "[sweep]\nshares = [0.02, 0.2]\n"


def _sweep_text(compare_toml: Callable[..., str], sweep: str = SHARES) -> str:
    base = compare_toml(specs=["ce", "dice"], metrics=["pixel_accuracy", "dice", "hd95", "ece"])
    return base.replace(", foreground_fraction = 0.2", "") + "\n" + sweep


pytestmark = pytest.mark.slow  # end-to-end sweeps (seconds each), as compare's end-to-end tests


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, compare_toml: Callable[..., str]) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("sweep")
    cfg = root / "tiny.toml"
    cfg.write_text(_sweep_text(compare_toml))
    out = root / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "-q", "--n-boot", "200"]) == 0
    return cfg, out, (out / "summary.md").read_text()


def test_each_share_is_a_compare_run_folder_with_the_configured_share(swept: tuple[Path, Path, str]) -> None:
    _, out, _ = swept
    record = json.loads((out / "sweep.json").read_text())
    assert [e["share"] for e in record["shares"]] == [0.2, 0.02]  # largest first
    for entry in record["shares"]:
        folder = out / entry["folder"]
        assert folder.name == f"share-{entry['share']:g}"
        assert (folder / "results" / "per_image.csv").exists()
        assert (folder / "runs" / "dice" / "seed0" / "done.json").exists()
        # measured on the generated masks: round(share * 16 * 16) foreground pixels in every mask
        for split, measured in entry["measured_share"].items():
            assert abs(measured - entry["share"]) <= 0.5 / 256 + 1e-6, split
        assert f"foreground_share = {entry['share']!r}" in (folder / "config.toml").read_text()
        primary = json.loads((folder / "primary.json").read_text())["metric"]  # trained on the verdict's metric
        assert json.loads((folder / "results" / "training.json").read_text())["monitor"] == primary
    assert (out / "sweep.toml").exists() and (out / ".segbench.lock").exists()


def test_the_report_is_built(swept: tuple[Path, Path, str]) -> None:
    _, out, summary = swept
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "The answer" in html
    assert (out / "figures" / "signature.png").stat().st_size > 1000
    assert "pixel accuracy" in summary.lower() and "confidence set" in summary
    rows = (out / "results" / "sweep_statistics.csv").read_text().splitlines()
    assert rows[0].startswith("share,measured_share,model,kind,metric")
    assert any(",all-background,trivial,pixel_accuracy," in r for r in rows)
    assert any(",ce,trained,pixel_accuracy," in r for r in rows)


def test_a_second_invocation_trains_nothing(swept: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, out, _ = swept
    done = sorted(out.glob("share-*/runs/*/seed*/done.json"))
    stamps = [p.stat().st_mtime_ns for p in done]
    assert len(done) == 2 * 2
    assert main(["sweep", str(cfg), "--out", str(out), "-q", "--no-report"]) == 0
    assert "0 run(s) trained now" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in done] == stamps
    assert all(e["trained_now"] == 0 for e in json.loads((out / "sweep.json").read_text())["shares"])


def test_a_held_sweep_folder_is_refused(swept: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, out, _ = swept
    with FolderLock(out, "another sweep"):
        assert main(["sweep", str(cfg), "--out", str(out), "-q"]) == 2
    assert "is in use" in capsys.readouterr().err


@pytest.mark.parametrize(("sweep", "message"), [
    ("[sweep]\nshares = [0.1]\nstep = 2\n", "unknown key 'step' in [sweep]; valid keys: crop_size, method, shares"),
    ("[sweep]\nshares = [0.1, 1.0]\n", "[sweep] shares must be numbers in (0, 1)"),
    ("[sweep]\nshares = [0.0]\n", "[sweep] shares must be numbers in (0, 1)"),
    ("[sweep]\nshares = [-0.1]\n", "[sweep] shares must be numbers in (0, 1)"),
    ("[sweep]\nshares = []\n", "[sweep] shares must be a non-empty list"),
    ("[sweep]\nshares = [0.1, 0.1]\n", "[sweep] shares lists a share twice"),
    ("[sweep]\nshares = [0.1]\nmethod = \"grow\"\n", "[sweep] method must be one of ['generate', 'crop', 'subsample']"),
    ("[sweep]\nshares = [0.1]\ncrop_size = 8\n", '[sweep] crop_size is for method = "crop" only'),
])
def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                compare_toml: Callable[..., str], sweep: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_sweep_text(compare_toml, sweep))
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segbench sweep: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_the_sweep_sets_the_share_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         compare_toml: Callable[..., str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(compare_toml() + "\n" + SHARES)  # keeps foreground_fraction in [dataset] options
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "the sweep sets these itself" in capsys.readouterr().err


REAL_BASE = """
[dataset]
spec = "sample"
image_size = 32
[model]
width = 2
depth = 2
[train]
epochs = 1
seeds = 1
device = "cpu"
[losses]
specs = ["dice"]
[eval]
metrics = ["pixel_accuracy", "dice"]
"""  # the bundled sample, a one-epoch tiny model: the share methods on real data


def test_a_real_dataset_is_cropped_to_each_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "crop.toml"
    cfg.write_text(REAL_BASE + """[sweep]
shares = [0.05, 0.3]
method = "crop"
crop_size = 16
""")
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "-q", "--n-boot", "100"]) == 0
    assert "best on dice (confidence set) {dice}" in capsys.readouterr().out  # one loss: its own set
    entries = json.loads((out / "sweep.json").read_text())["shares"]
    assert [e["folder"] for e in entries] == ["share-0.3", "share-0.05"]
    assert entries[0]["measured_share"]["train"] > entries[1]["measured_share"]["train"]  # the crops moved the share
    assert "crop_share = 0.05" in (out / "share-0.05" / "config.toml").read_text()


def test_a_real_dataset_is_subsampled_to_each_share(tmp_path: Path) -> None:
    cfg = tmp_path / "subsample.toml"
    cfg.write_text(REAL_BASE + """[sweep]
shares = [0.06, 0.2]
method = "subsample"
""")
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "-q", "--no-report"]) == 0
    entries = json.loads((out / "sweep.json").read_text())["shares"]
    for entry in entries:  # the whole sample set holds 12-14% per split; the kept images come near each share
        assert abs(entry["measured_share"]["train"] - entry["share"]) < 0.015
        sizes = json.loads((out / entry["folder"] / "dataset.json").read_text())["split_sizes"]
        assert sizes["train"] < 28
    assert "subsample_share = 0.06" in (out / "share-0.06" / "config.toml").read_text()


def test_segbench_report_rebuilds_a_sweep_report(swept: tuple[Path, Path, str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = swept
    figure = out / "figures" / "signature.png"
    figure.unlink()
    assert main(["report", str(out), "--n-boot", "100", "--quiet"]) == 0
    assert figure.exists() and "report:" in capsys.readouterr().out
    assert main(["report", str(out), "--reference", "ce"]) == 2


def test_an_lr_grid_sweep_counts_its_tuning_and_seed_runs(tmp_path: Path, compare_toml: Callable[..., str]) -> None:
    # one share, one loss, a 2-value grid and 2 seeds: both values on seed 0, then seed 1 at the chosen one = 3 runs
    text = compare_toml(specs=["dice"], seeds=2, metrics=["pixel_accuracy", "dice"])
    text = text.replace(", foreground_fraction = 0.2", "").replace("[train]\n", "[train]\nlr = [0.01, 0.001]\n", 1)
    cfg = tmp_path / "grid.toml"
    cfg.write_text(text + "\n[sweep]\nshares = [0.2]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "-q", "--no-report"]) == 0
    done = sorted(out.glob("share-0.2/runs/dice/lr=*/seed*/done.json"))
    assert len(done) == 3 and (out / "share-0.2" / "runs" / "dice" / "lr.json").exists()
    entry = json.loads((out / "sweep.json").read_text())["shares"][0]
    assert entry["runs"] == entry["trained_now"] == len(done)
