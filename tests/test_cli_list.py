"""``segbench list``: every loss, metric, dataset kind and model, one per line."""

from __future__ import annotations

import pytest

from segbench import losses, scoring
from segbench.cli import main


def test_list_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("losses:", "metrics:", "datasets:", "models:"):
        assert section in out
    for name in losses.names():
        assert f"\n  {name} " in out, name
    for name in scoring.METRICS:
        assert f"\n  {name} " in out, name
    assert "hd95 ↓" in out and "dice ↑" in out
    assert "\n  pets " in out and "\n  unet" in out


def test_list_one_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    assert "losses:" not in out and out.count("\n") == len(scoring.METRICS)
