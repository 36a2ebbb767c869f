"""Command-line cases of issue #22: every loss spec checked before anything is written, negative numbers without
``=``, ``compare -o KEY=VALUE`` (listed in ``--help``), the ``folder:PATH`` error naming the options, ``evaluate
--surface / --percentile-rule`` giving the peers' numbers, and Ctrl-C (also during the imports) as one line and
exit 130."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segbench import cli
from segbench.cli import compare as compare_command
from segbench.metrics import hausdorff_distance


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("spec,message", [
    ("tversky(alpha=-1)", r"loss 'tversky\(alpha=-1\)': alpha must lie in \[0, inf\], got -1"),
    ("0*dice", r"bad loss spec '0\*dice': term weights must be finite numbers > 0, got 0"),
    ("dice(class_weights=(1,2,3))", r"class weights need one value per class \(1\), got 3"),
])
def test_a_bad_loss_is_one_line_exit_2_and_nothing_written(
    spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert cli.main(["compare", "--loss", spec, "--epochs", "1", "--out", str(out), "-q"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("segbench compare: error: ")
    assert re.search(message, line), line
    assert not out.exists()  # nothing written: the rerun with a fixed spec is a new experiment, not "different"


def test_negative_numbers_need_no_equals_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert cli.negative_values_joined(parser, ["evaluate", "--spacing", "-1,1,1", "-q"]) == [
        "evaluate", "--spacing=-1,1,1", "-q"
    ]
    assert cli.negative_values_joined(parser, ["inspect", "x", "--nsd-tolerance", "-.5"])[-1] == "--nsd-tolerance=-.5"
    (tmp_path / "p").mkdir()
    # the value reaches the command, whose own check answers (not argparse's "expected one argument")
    assert cli.main(["evaluate", "--pred", str(tmp_path / "p"), "--truth", str(tmp_path / "p"),
                     "--spacing", "-1,1"]) == 2
    assert "--spacing must hold positive numbers, got [-1.0, 1.0]" in _one_line(capsys.readouterr().err)


def test_compare_takes_dataset_options_and_lists_them(tmp_path: Path) -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["compare"]  # type: ignore[attr-defined]
    help_text = " ".join(sub.format_help().split())
    for listed in ("-o KEY=VALUE", "folder:PATH: images, masks, mask_suffix, mapping", "pets:PATH: border"):
        assert listed in help_text
    toml = tmp_path / "exp.toml"
    toml.write_text('[dataset]\nspec = "folder:data"\noptions = { masks = "label", num_classes = 3 }\n')
    args = parser.parse_args(["compare", str(toml), "-o", "images=image", "-o", "num_classes=2"])
    config = compare_command.resolve_args(args)
    assert dict(config.dataset.options) == {"masks": "label", "num_classes": 2, "images": "image"}


def test_folder_without_images_names_the_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "image").mkdir()
    (tmp_path / "label").mkdir()
    assert cli.main(["inspect", f"folder:{tmp_path}"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no images/ folder" in line and "(its subfolders: image, label)" in line
    assert "-o images=NAME -o masks=NAME" in line and "mask_suffix, mapping" in line


def _masks(root: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    pred, truth = root / "pred", root / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((24, 24), dtype=np.uint8)
    t[4:16, 5:12] = 255
    p = np.zeros_like(t)
    p[6:20, 7:11] = 255
    p[2, 20] = 255  # an outlier and a spur: the four settings give four HD95 values
    p[14:18, 12:20] = 255
    Image.fromarray(t).save(truth / "a.png")
    Image.fromarray(p).save(pred / "a.png")
    return pred, truth, p > 0, t > 0


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
@pytest.mark.parametrize("rule", ["directed", "pooled"])
def test_evaluate_surface_and_percentile_rule(surface: str, rule: str, tmp_path: Path) -> None:
    pred, truth, p, t = _masks(tmp_path)
    out = tmp_path / "scores.csv"
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "hd95", "--out", str(out),
            "--surface", surface, "--percentile-rule", rule]
    assert cli.main(argv) == 0
    (row,) = [r for r in csv.DictReader(out.open()) if r["class"] != "all"]
    want = hausdorff_distance(torch.from_numpy(p)[None], torch.from_numpy(t)[None], percentile=95,
                              surface=surface, percentile_rule=rule)  # type: ignore[arg-type]
    assert float(row["hd95"]) == pytest.approx(float(want[0]), rel=1e-9)


def test_the_rules_differ_on_this_case(tmp_path: Path) -> None:
    """The test above is not vacuous: the four settings give four different HD95 values here."""
    _, _, p, t = _masks(tmp_path)
    values = {
        round(float(hausdorff_distance(torch.from_numpy(p)[None], torch.from_numpy(t)[None], percentile=95,
                                       surface=s, percentile_rule=r)[0]), 9)  # type: ignore[arg-type]
        for s in ("voxel", "surfel") for r in ("directed", "pooled")
    }
    assert len(values) == 4


def test_ctrl_c_during_the_imports_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["compare"]) == 130
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("segbench: interrupted") and "rerun the same command to resume" in line


def test_ctrl_c_during_a_command_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_command, "run", interrupted)
    assert cli.main(["compare"]) == 130
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("segbench compare: interrupted") and "rerun the same command to resume" in line


def test_importing_the_command_line_needs_no_torch() -> None:
    """The entry point's own imports are tiny, so a Ctrl-C is caught from the first moment of the command."""
    code = "import sys, segbench.cli; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.slow  # a subprocess interrupted while it imports PyTorch
def test_sigint_while_importing_in_a_real_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "segbench", "inspect", "sample"], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(0.4)  # Python is up, the commands (and torch) are being imported
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in _one_line(err)


def test_compare_image_size_flag_sets_native_and_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    toml = tmp_path / "exp.toml"
    toml.write_text('[dataset]\nspec = "synthetic3d"\nimage_size = [32, 32]\n')
    config = compare_command.resolve_args(parser.parse_args(["compare", str(toml), "--image-size", "native"]))
    assert config.dataset.image_size is None  # the flag replaces the TOML's key, as every flag does
    for flag, size in (("24", (24, 24)), ("16,40", (16, 40)), ("Native", None)):
        assert compare_command.resolve_args(parser.parse_args(["compare", "--image-size", flag])).dataset.image_size \
            == size
    from segbench.compare.config import to_toml

    assert 'image_size = "native"' in to_toml(config)  # config.toml (the run's identity) says native
    volume = parser.parse_args(["compare", "--dataset", "synthetic3d", "--image-size", "native",
                                "--patch-size", "8,16,16"])
    assert compare_command.resolve_args(volume).train.patch_size == (8, 16, 16)  # 3D without a TOML file
    assert cli.main(["compare", "--patch-size", "8,x"]) == 2
    assert "--patch-size must be Z,Y,X (volumes) or H,W" in _one_line(capsys.readouterr().err)
    for bad, said in (("8,16,16", "volumes are never resized; use --image-size native"),
                      ("0", "--image-size must be native, PX or H,W"), ("big", "--image-size must be native")):
        assert cli.main(["compare", "--image-size", bad]) == 2
        assert said in _one_line(capsys.readouterr().err)

