"""``segbench compare`` end to end on tiny synthetic data, and bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segbench.cli import main
from segbench.files import atomic as io


@pytest.mark.slow
def test_compare_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            compare_toml: Callable[..., str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(compare_toml(seeds=2, specs=["ce", "dice"]))
    out = tmp_path / "run"
    assert main(["compare", str(cfg), "--loss", "ce", "--loss", "0.5*bce+0.5*dice", "--epochs", "1",
                 "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    for model in ("ce", "0.5*bce+0.5*dice", "all-background", "all-foreground", "majority-class"):
        assert f"\n{model} " in printed, model
    assert "dice ↑" in printed and "hd95 ↓" in printed
    for name in ("config.toml", "dataset.json", "history.csv", "results/per_image.csv",
                 "results/dataset_level.csv", "predictions/test_data.npz", "predictions/ce_seed1.npz",
                 "runs/0.5_bce_0.5_dice/seed0/best.pt", "runs/ce/seed1/state.pt"):
        assert (out / name).exists(), name
    rows = io.read_csv(out / "results" / "per_image.csv")
    assert list(rows[0]) == ["model", "kind", "seed", "image", "class", "metric", "value"]
    models = {(r["model"], r["kind"]) for r in rows}
    assert ("0.5*bce+0.5*dice", "trained") in models and ("majority-class", "trivial") in models
    assert {r["seed"] for r in rows} == {"0", "1"}
    metrics = {r["metric"] for r in rows}
    assert {"pixel_accuracy", "dice", "iou", "hd95", "nsd", "assd", "boundary_iou", "mcc"} <= metrics
    config_text = (out / "config.toml").read_text()
    assert "epochs = 1" in config_text and 'specs = ["ce", "0.5*bce+0.5*dice"]' in config_text
    assert len(io.read_csv(out / "history.csv")) == 2 * 2  # 2 losses x 2 seeds x 1 epoch
    # the same command again resumes: nothing to do, same results
    before = (out / "results" / "per_image.csv").read_text()
    assert main(["compare", str(cfg), "--loss", "ce", "--loss", "0.5*bce+0.5*dice", "--epochs", "1",
                 "--out", str(out), "-q"]) == 0
    assert (out / "results" / "per_image.csv").read_text() == before


def test_compare_scores_fbeta_and_tversky_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     compare_toml: Callable[..., str]) -> None:
    # regression (#17): fbeta and tversky could not be asked for in compare; they show under clear labels
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(compare_toml(specs=["ce", "dice"], metrics=["dice", "fbeta", "tversky"]))
    out = tmp_path / "run"
    assert main(["compare", str(cfg), "--loss", "dice", "--epochs", "1", "--out", str(out), "-q"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("model "))
    assert header.split()[2:] == ["dice", "↑", "f2", "↑", "tversky(.3,.7)", "↑", "nan", "inf"]
    rows = io.read_csv(out / "results" / "per_image.csv")
    assert {r["metric"] for r in rows} == {"dice", "fbeta", "tversky"}
    assert (out / "report.html").exists()


def _folder(root: Path, n: int = 6, size: int = 8) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        Image.fromarray((rng.random((size, size)) > 0.7).astype(np.uint8)).save(root / "masks" / f"s{i}.png")
    return root


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    out = tmp_path / "never"
    assert main(["compare", *args, "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segbench compare: error: "), err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written, not even half


def test_unknown_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, ["--loss", "dice", "--loss", "diceee"], "bad loss spec 'diceee'")


def test_duplicate_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, ["--loss", "dice", "--loss", "1*dice"], "listed twice")


def test_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, ["--dataset", "imagenet"], "unknown dataset kind 'imagenet'")


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, ["--dataset", f"folder:{tmp_path / 'nowhere'}"], "does not exist")


def test_image_mask_size_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data")
    Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(root / "masks" / "s3.png")
    _bad(tmp_path, capsys, ["--dataset", f"folder:{root}"], "size mismatch")


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data")
    (root / "images" / "s2.png").write_bytes(b"not a png at all")
    _bad(tmp_path, capsys, ["--dataset", f"folder:{root}"], "s2.png")


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, [str(tmp_path / "missing.toml")], "does not exist")
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[train]\nepoch = 3\n")
    _bad(tmp_path, capsys, [str(cfg)], "unknown key 'epoch' in [train]; valid keys:")


@pytest.mark.slow
def test_module_entry_point_prints_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-m", "segbench", "compare", "--loss", "nosuch", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bad loss spec 'nosuch'" in proc.stderr
    assert not (tmp_path / "x").exists()


SAMPLE_TOML = """
[dataset]
spec = "sample"

[model]
width = 2
depth = 2

[train]
epochs = 1
batch_size = 8
seeds = 1
num_threads = 1
device = "cpu"

[losses]
specs = ["ce"]
"""


@pytest.mark.slow
def test_compare_scores_probabilities_and_objects_against_true_instances(tmp_path: Path) -> None:
    import torch

    from segbench.data import load_dataset

    cfg = tmp_path / "sample.toml"
    cfg.write_text(SAMPLE_TOML)
    out = tmp_path / "run"
    assert main(["compare", str(cfg), "--out", str(out), "-q"]) == 0
    rows = io.read_csv(out / "results" / "per_image.csv")
    table = {(r["model"], r["image"], r["class"], r["metric"]): float(r["value"]) for r in rows}
    metrics = {r["metric"] for r in rows if r["model"] == "ce"}
    assert {"ece", "brier", "nll", "ap", "soft_volume_bias", "volume_bias", "dsb_score", "pq", "aji"} <= metrics
    size = tuple(json.loads((out / "dataset.json").read_text())["image_size"])
    test = load_dataset("sample", "test", image_size=size)
    for i, image in enumerate(test.ids):
        mask = test[i][1]
        share = float((mask == 1).double().mean())
        # all-background is sure of background everywhere: top-label confidence 1, accuracy 1 - share
        assert table[("all-background", image, "all", "ece")] == pytest.approx(share, abs=1e-9)
        assert table[("all-background", image, "all", "brier")] == pytest.approx(share, abs=1e-9)
        assert table[("all-background", image, "nucleus", "dsb_score")] == 0.0
        assert table[("all-foreground", image, "all", "brier")] == pytest.approx(1 - share, abs=1e-9)
    # the object metrics are scored against the true instances: a perfect semantic prediction (the mask
    # itself) scores below 1 wherever touching nuclei merge into one component
    from segbench import scoring

    masks = torch.stack([test[i][1] for i in range(len(test))])
    instances = torch.stack([test.instances(i) for i in range(len(test))])
    exact = scoring.score_label_maps(masks, masks, num_classes=2, metrics=["dsb_score"], instances=instances)
    assert min(r["value"] for r in exact) < 1.0
    assert 0.0 <= table[("ce", test.ids[0], "nucleus", "pq")] <= 1.0
