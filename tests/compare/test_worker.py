"""A worker that cannot see the run folder fails at once, before writing anything (#26)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segbench.compare import config as _config
from segbench.compare.runner import RunKey
from segbench.compare.train import TrainSettings
from segbench.compare.worker import RunJob, train_in_worker
from segbench.schedule.placement import Placement


def test_a_worker_that_cannot_see_the_run_folder_says_so_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"  # the driver's folder, not mounted here: no config.toml
    settings = TrainSettings(batch_size=2, lr=1e-3, weight_decay=0.0, augment=False, select="best-val-dice",
                             device=torch.device("cpu"), num_classes=2, background=0)
    job = RunJob(_config.resolve(), out, tmp_path, RunKey("dice", 0, 1e-3), settings)
    with pytest.raises(RuntimeError, match=r"cannot see the run folder .*share"):
        train_in_worker(job, Placement("cpu", 1))
    assert not out.exists()
