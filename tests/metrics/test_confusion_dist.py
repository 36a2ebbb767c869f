"""ConfusionMatrix.sync() under torch.distributed: 2 CPU processes (gloo) each stream part of the data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from segbench.metrics import ConfusionMatrix

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable")

C = 4
SPLIT = 3  # rank 0 streams images [0, 3), rank 1 images [3, 8): unequal numbers of per-image matrices


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, C, (8, 12, 10), generator=g)
    target = torch.where(torch.rand(target.shape, generator=g) < 0.1, torch.full_like(target, 255), target)
    pred = torch.randint(0, C, (8, 12, 10), generator=g)
    return pred, target


def _worker(rank: int, world: int, out: str) -> None:
    # a file store in the test's own folder: no port to find, so no other process can take it first
    dist.init_process_group("gloo", init_method=f"file://{Path(out) / 'store'}", rank=rank, world_size=world)
    try:
        pred, target = _data()
        mine = slice(0, SPLIT) if rank == 0 else slice(SPLIT, None)
        cm = ConfusionMatrix(C, ignore_index=255, per_image=True)
        for i in range(*mine.indices(pred.shape[0])):  # stream one image at a time
            cm.update(pred[i : i + 1], target[i : i + 1])
        cm.sync()
        errors = []
        for call in (cm.sync, lambda: cm.update(pred[:1], target[:1])):
            try:
                call()
            except ValueError as e:
                errors.append(str(e))
        torch.save(
            {"pooled": cm.compute(), "images": cm.compute(per_image=True), "dice": cm.score("dice"), "errors": errors},
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_sync_two_gloo_processes_equals_the_whole(tmp_path: Path) -> None:
    # this file is its own worker script (no pickling of test-module functions, so any pytest import mode works)
    procs = [
        subprocess.Popen([sys.executable, __file__, str(rank), "2", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    pred, target = _data()
    whole = ConfusionMatrix(C, ignore_index=255, per_image=True)
    whole.update(pred, target)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.equal(got["pooled"], whole.compute())
        assert torch.equal(got["images"], whole.compute(per_image=True))  # rank order = data order
        torch.testing.assert_close(got["dice"], whole.score("dice"))
        assert len(got["errors"]) == 2
        assert "already called" in got["errors"][0] and "reset()" in got["errors"][1]


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
