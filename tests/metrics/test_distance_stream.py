"""DistanceAccumulator: per-case values, statistics, merge, reset and gathering across two processes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from segbench.metrics.distance import distance_metrics
from segbench.metrics.distance_stream import DistanceAccumulator, summarize


def _batch(seed: int, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (n, 10, 9), generator=g), torch.randint(0, 3, (n, 10, 9), generator=g)


def test_accumulated_values_equal_one_shot_and_merge() -> None:
    kw = dict(num_classes=3, spacing=(1.0, 0.5), tolerance=0.7)
    acc = DistanceAccumulator(("hd", "hd95", "assd", "masd", "nsd"), **kw)  # type: ignore[arg-type]
    other = DistanceAccumulator(("hd", "hd95", "assd", "masd", "nsd"), **kw)  # type: ignore[arg-type]
    (p1, t1), (p2, t2) = _batch(0), _batch(1)
    acc.update(p1, t1)
    other.update(p2, t2)
    acc.merge(other)
    want = distance_metrics(torch.cat([p1, p2]), torch.cat([t1, t2]), metrics=acc.metrics, **kw)  # type: ignore[arg-type]
    got = acc.compute()
    for k, v in want.items():
        torch.testing.assert_close(got.values[k], v, equal_nan=True)
        assert got.values[k].shape == (6, 2)
    acc.reset()
    assert acc.compute().values["hd"].numel() == 0
    with pytest.raises(ValueError, match="same metrics"):
        acc.merge(DistanceAccumulator(("hd",)))


def test_stats_count_misses_and_undefined_cases() -> None:
    t = torch.zeros(4, 6, 6, dtype=torch.bool)
    t[:3, 1:4, 1:4] = True
    p = t.clone()
    p[1] = p[1].roll(2, dims=1)  # HD 2
    p[2] = False  # a miss
    acc = DistanceAccumulator(("hd", "nsd"), tolerance=1.0)
    acc.update(p, t)
    r = acc.compute()
    assert r.values["hd"][:3].tolist() == [0.0, 2.0, math.inf] and math.isnan(r.values["hd"][3])
    s = r.stats["hd"]
    assert (s["n"].item(), s["n_miss"].item(), s["n_undefined"].item()) == (3, 1, 1)
    assert s["mean"].item() == math.inf and s["median"].item() == 2.0
    assert s["p5"].item() == pytest.approx(0.2)  # 0 + 0.1 * (2 - 0)
    # NSD of the miss is 0 (no surface within tolerance), not undefined
    assert r.stats["nsd"]["n_miss"].item() == 1 and r.values["nsd"][2].item() == 0.0
    acc_worst = DistanceAccumulator(("hd",), worst_case=10.0)
    acc_worst.update(p, t)
    assert acc_worst.compute().stats["hd"]["mean"].item() == pytest.approx(12 / 3)


def test_summarize_per_class_and_empty() -> None:
    v = torch.tensor([[1.0, float("nan")], [3.0, 2.0]])
    s = summarize(v, torch.zeros(2, 2, dtype=torch.bool), torch.isnan(v))
    assert s["mean"].tolist() == [2.0, 2.0] and s["n"].tolist() == [2, 1] and s["n_undefined"].tolist() == [0, 1]
    empty = summarize(torch.empty(0), torch.empty(0, dtype=torch.bool), torch.empty(0, dtype=torch.bool))
    assert math.isnan(empty["mean"].item()) and empty["n"].item() == 0


def _worker(rank: int, store: str, out: dict) -> None:  # type: ignore[type-arg]
    # a file store in the test's own folder: no port to find, so no other process can take it first
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        acc = DistanceAccumulator(("hd", "assd"), num_classes=3)
        p, t = _batch(10 + rank, n=1 + rank)
        acc.update(p, t)
        acc.sync()
        out[rank] = acc.compute().values["hd"].clone()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_sync_gathers_cases_of_two_processes(tmp_path: Path) -> None:
    # fork: the test module is not importable by name under pytest's importlib mode, so spawn could not find _worker
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        out = manager.dict()
        mp.start_processes(_worker, args=(str(tmp_path / "store"), out), nprocs=2, join=True, start_method="fork")
        results = dict(out)
    (p0, t0), (p1, t1) = _batch(10, 1), _batch(11, 2)
    want = distance_metrics(torch.cat([p0, p1]), torch.cat([t0, t1]), metrics=("hd",), num_classes=3)["hd"]
    for rank in (0, 1):
        torch.testing.assert_close(results[rank], want, equal_nan=True)
