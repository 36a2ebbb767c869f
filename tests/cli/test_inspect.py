"""``segbench inspect`` as a command: text and JSON output, options, and user errors."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

from segbench.cli import inspect as command
from segbench.data import DatasetError
from segbench.errors import UsageError

SYNTHETIC = ["synthetic", "-o", "num_images=4", "-o", "image_size=32", "-o", "foreground_fraction=0.05"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_text_report_has_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([*SYNTHETIC, "--metrics", "pixel_accuracy,dice,hd95"]) == 0
    text = capsys.readouterr().out
    for needle in ("4 images, 2 classes", "Image sizes (HxW, count): 32x32 (4)", "Class pixel shares",
                   "Foreground share per image", "Objects (connected components", "What trivial predictors score",
                   "all-background (background)", "hd95", "Advice (each with the measured reason):", "because"):
        assert needle in text


def test_json_is_strict_json_with_advice_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([*SYNTHETIC, "--metrics", "precision,dice,hd", "--json"]) == 0
    raw = capsys.readouterr().out
    assert "NaN" not in raw and "Infinity" not in raw
    report = json.loads(raw)
    assert report["num_images"] == 4 and report["split"] == "all"
    hd = [t for t in report["trivial"] if t["metric"] == "hd" and t["predictor"] == "all-background"]
    assert hd and hd[0]["mean"] == "inf"  # a miss on every image with foreground
    precision = [t for t in report["trivial"] if t["metric"] == "precision" and t["predictor"] == "all-background"]
    # every image has foreground: predicting none is a miss, tp + fp = 0 scores 0 (#18), never NaN
    assert precision[0]["mean"] == 0.0 and precision[0]["n_nan"] == 0
    assert report["advice"] and all(a["reason"] for a in report["advice"])
    assert any(a["topic"] == "distrust" for a in report["advice"])  # 5 % foreground


def test_user_errors() -> None:
    with pytest.raises(UsageError, match=r"--metrics: unknown metric 'dsc'"):
        _run(["synthetic", "--metrics", "dsc"])
    with pytest.raises(UsageError, match=r"--option takes KEY=VALUE"):
        _run(["synthetic", "-o", "num_images"])
    with pytest.raises(DatasetError, match=r"unknown option\(s\) \['nope'\]"):
        _run(["synthetic", "-o", "nope=1"])


def test_cli_bad_spec_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        cli = importlib.import_module("segbench.cli")
        cli.build_parser()
    except ImportError as exc:
        pytest.skip(f"the full CLI is not importable yet: {exc}")
    assert cli.main(["inspect", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segbench inspect: error: unknown dataset kind 'imagenet'") and err.count("\n") == 1
