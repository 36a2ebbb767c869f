"""Metrics over 2 (and 3) gloo CPU processes equal the one-process metrics on the same data, exactly.

Fixed predictions are scored in one process and split over ranks: per-image rows (count and distance metrics)
come back to rank 0 in image order with no duplicates; pooled count metrics come from all-reduced confusion
counts; validation metrics (the checkpoint rule) are the global ones on every rank; ``segbench evaluate``
spread over the ranks writes the same CSV as a serial run, and a bad case stops every rank alike.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch.distributed as dist
from PIL import Image

from segbench import distributed, scoring
from segbench.cli import main
from segbench.compare.train import validate

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable")

TASKS = ["score", "score_two", "validate", "evaluate_good", "evaluate_bad"]


def _load_worker(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("segbench_dist_worker_tasks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mask_folders(root: Path) -> None:
    """truth/, good/ (5 cases, 3 classes) and bad/ (case c1 has the wrong shape: rank 1 reads it)."""
    rng = np.random.default_rng(0)
    for name in ("truth", "good", "bad"):
        (root / name).mkdir(parents=True)
    for i in range(5):
        truth = np.zeros((20, 24), np.uint8)
        truth[3 + i : 11 + i, 4:12] = 1
        truth[14:18, 15 + i % 3 : 20] = 2
        pred = truth.copy()
        pred[rng.random(truth.shape) < 0.08] = rng.integers(0, 3)
        if i == 2:
            pred[pred == 2] = 0  # a missed class: inf distances
        Image.fromarray(truth).save(root / "truth" / f"c{i}.png")
        Image.fromarray(pred).save(root / "good" / f"c{i}.png")
        Image.fromarray(pred if i != 1 else pred[:-1]).save(root / "bad" / f"c{i}.png")


@pytest.fixture(scope="module")
def two(launcher: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, ModuleType]:
    """Every task run once as 2 ranks (one launch: the processes import torch once)."""
    out = tmp_path_factory.mktemp("dist2")
    _mask_folders(out)
    finished = launcher.launch([str(launcher.worker), str(out), *TASKS], world=2)
    assert finished.codes == [0, 0], finished.log
    return out, finished, _load_worker(launcher.worker)


def _result(out: Path, task: str, rank: int) -> Any:
    with open(out / f"{task}.rank{rank}.pkl", "rb") as handle:
        return pickle.load(handle)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "value"} == {k: v for k, v in y.items() if k != "value"}
        assert x["value"] == y["value"] or (math.isnan(x["value"]) and math.isnan(y["value"])), (x, y)


def _check_scores(out: Path, worker: ModuleType, world: int, n: int, task: str) -> None:
    pred, target = worker.score_data()
    pred, target = pred[:n], target[:n]
    one_per_image = scoring.score_label_maps(pred, target, image_ids=worker.IDS[:n], **worker.OPTIONS)
    options = {k: v for k, v in worker.OPTIONS.items() if k != "nsd_tolerance"}
    one_pooled = scoring.pooled_scores(pred, target, **options)
    results = [_result(out, task, r) for r in range(world)]
    assert [(w, r) for w, r, _ in results] == [(world, r) for r in range(world)]
    shares = [res[0] for _, _, res in results]
    assert sorted(i for s in shares for i in s) == list(range(n))  # every image on exactly one rank
    assert all(res[1] is None for _, _, res in results[1:])  # only rank 0 holds the rows
    per_image, pooled = results[0][2][1]
    _same(per_image, one_per_image)
    _same(pooled, one_pooled)


@pytest.mark.slow
def test_two_processes_score_exactly_like_one(two: tuple[Path, Any, ModuleType]) -> None:
    out, _, worker = two
    _check_scores(out, worker, 2, 5, "score")
    values = [r["value"] for r in _result(out, "score", 0)[2][1][0]]
    assert any(math.isnan(v) for v in values) and any(math.isinf(v) for v in values)  # the edge cases are in


@pytest.mark.slow
def test_three_processes_with_uneven_and_empty_shares(launcher: Any, tmp_path: Path) -> None:
    finished = launcher.launch([str(launcher.worker), str(tmp_path), "score", "score_two"], world=3)
    assert finished.codes == [0, 0, 0], finished.log
    worker = _load_worker(launcher.worker)
    _check_scores(tmp_path, worker, 3, 5, "score")  # shares of 2, 2 and 1 images
    _check_scores(tmp_path, worker, 3, 2, "score_two")  # rank 2 scores nothing and still takes part
    assert _result(tmp_path, "score_two", 2)[2][0] == []


@pytest.mark.slow
def test_validation_metrics_are_the_global_ones_on_every_rank(two: tuple[Path, Any, ModuleType]) -> None:
    out, _, worker = two
    one = validate(worker.FixedModel(), worker.PixelBCE(), worker.val_data(), worker.VAL_SETTINGS)
    got = [_result(out, "validate", r)[2] for r in range(2)]
    assert got[0] == got[1]  # every rank takes the same checkpoint decision
    for key in ("val_dice", "val_iou", "val_accuracy"):
        assert got[0][key] == one[key], key  # exact: pooled integer counts
    assert 0 < one["val_dice"] < 1
    assert got[0]["val_loss"] == pytest.approx(one["val_loss"], rel=1e-6)  # float32 batch means, other batches


@pytest.mark.slow
def test_evaluate_over_two_ranks_writes_the_serial_csv(two: tuple[Path, Any, ModuleType]) -> None:
    out, finished, _ = two
    assert [_result(out, "evaluate_good", r)[2] for r in range(2)] == [0, 0]
    assert main(["evaluate", "--pred", str(out / "good"), "--truth", str(out / "truth"),
                 "--out", str(out / "serial.csv"), "--no-progress"]) == 0
    assert (out / "good.csv").read_text() == (out / "serial.csv").read_text()
    assert "inf" in (out / "serial.csv").read_text()
    assert finished.outputs[0].count("wrote ") == 1 and "wrote " not in finished.outputs[1]  # rank 0 reports


@pytest.mark.slow
def test_a_bad_case_on_one_rank_stops_every_rank_alike(two: tuple[Path, Any, ModuleType]) -> None:
    out, finished, _ = two
    assert [_result(out, "evaluate_bad", r)[2] for r in range(2)] == [2, 2]  # both ranks: usage error, no hang
    assert not (out / "bad.csv").exists()
    messages = [[line for line in o.splitlines() if "shape mismatch" in line] for o in finished.outputs]
    assert len(messages[0]) == 1 and messages[0] == messages[1], finished.log


def test_helpers_in_one_process() -> None:
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    assert distributed.shard_indices(3) == [0, 1, 2]
    assert distributed.gather_in_order(["c", "a", "b"], [2, 0, 1], 3) == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match="came twice"):
        distributed.gather_in_order(["a", "b"], [0, 0], 2)
    with pytest.raises(RuntimeError, match="came from no rank"):
        distributed.gather_in_order(["a"], [0], 2)
    with pytest.raises(ValueError, match="integer >= 0"):
        distributed.shard_indices(-1)
