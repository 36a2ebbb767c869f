"""ProbabilityHistogram.sync() over 2 gloo processes equals one process streaming every image."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.distributed as dist

from segbench.metrics import ProbabilityHistogram

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable")

WORKER = Path(__file__).resolve().parent / "calibration_worker.py"


def _worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("segbench_dist_calibration_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_gloo_processes_equal_one(launcher: Any, tmp_path: Path) -> None:
    finished = launcher.launch([str(WORKER), str(tmp_path)], world=2)
    assert finished.codes == [0, 0], finished.log
    worker = _worker()
    results = []
    for r in range(2):
        with open(tmp_path / f"rank{r}.pkl", "rb") as handle:
            results.append(pickle.load(handle))
    assert [res["world"] for res in results] == [2, 2]
    assert results[0]["mine"] == [0, 2, 4, 6] and results[1]["mine"] == [1, 3, 5]
    probs, target = worker.data()
    # one process, the images in the ranks' order: rank 0's then rank 1's (what sync concatenates)
    order = results[0]["mine"] + results[1]["mine"]
    one = ProbabilityHistogram(**worker.OPTIONS)
    for i in order:
        one.update(probs[i : i + 1], target[i : i + 1])
    # and the two ranks' partial histograms merged in one process: the sum sync makes
    parts = []
    for mine in (results[0]["mine"], results[1]["mine"]):
        part = ProbabilityHistogram(**worker.OPTIONS)
        for i in mine:
            part.update(probs[i : i + 1], target[i : i + 1])
        parts.append(part)
    merged = parts[0].merge(parts[1])
    for res in results:
        for key in ("cw", "tl", "n"):
            assert torch.equal(res["state"][key], one.state()[key]), key  # integer counts: exactly
            assert torch.equal(res["images"][key], one.state(True)[key]), key
        for key in ("cw_conf", "tl_conf", "sq", "nll"):
            assert torch.equal(res["state"][key], merged.state()[key]), key  # float sums: a + b, as merge
            torch.testing.assert_close(res["state"][key], one.state()[key], rtol=1e-13, atol=1e-13)
            assert torch.equal(res["images"][key], one.state(True)[key]), key  # per image: gathered as they are
        expected = worker.scores(one)
        for name, value in res["scores"].items():
            torch.testing.assert_close(value, expected[name], rtol=1e-12, atol=1e-12, equal_nan=True, msg=name)
        lonely = ProbabilityHistogram(num_classes=worker.C, **worker.OPTIONS)
        lonely.update(probs, target)
        for name, value in res["lonely"].items():
            torch.testing.assert_close(value, worker.scores(lonely)[name], rtol=0, atol=0, equal_nan=True, msg=name)
        assert len(res["errors"]) == 2 and "synced totals" in res["errors"][0], res["errors"]
        assert "different numbers of channels" in res["errors"][1]  # every rank refuses, none hangs
