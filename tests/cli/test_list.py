"""``segbench list``: every loss, metric, dataset kind and model, one per line."""

from __future__ import annotations

import pytest

from segbench import losses, metrics
from segbench.cli import main


def test_list_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("losses:", "metrics:", "datasets:", "models:"):
        assert section in out
    for name in losses.names():
        assert f"\n  {name} " in out, name
    for name in metrics.names():
        assert f"\n  {name} " in out, name
    assert "hd95 ↓" in out and "dice ↑" in out
    # regression (#17): every metric of the library is listed, fbeta and tversky included
    assert {"fbeta", "tversky", "class_accuracy", "pixel_accuracy"} <= set(metrics.names())
    assert "\n  pets " in out and "\n  unet" in out


def test_list_one_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    assert "losses:" not in out and out.count("\n") == len(metrics.names())


def test_list_metrics_names_the_probability_object_and_topology_families(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    for name, family in [("ece", "calibration"), ("brier", "calibration"), ("nll", "calibration"),
                         ("ap", "threshold"), ("volume_bias", "volume"), ("dsb_score", "object"), ("pq", "object"),
                         ("aji", "object"), ("betti_1_error", "topology"), ("cldice", "topology")]:
        line = next(x for x in out.splitlines() if x.split() and x.split()[0] == name)
        assert f"[{family}" in line, line
    assert "(on request)" in next(x for x in out.splitlines() if x.split() and x.split()[0] == "cldice")


def test_list_datasets_names_the_share_options_of_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from segbench.data.share_crop import CROP_OPTIONS
    from segbench.data.share_subsample import SUBSAMPLE_OPTION

    assert main(["list", "datasets"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.split()[:2] == ["(any", "kind)"]
    assert all(f"{name}=" in line for name in (*CROP_OPTIONS, SUBSAMPLE_OPTION))
