"""One training run in a worker process (``--jobs N`` or ``--engine ray``): rebuilt from picklable inputs.

The driver (the process the user started) holds the run folder's lock and writes every aggregate file; a worker gets
a :class:`RunJob` (the resolved config, the run folder, the driver's working directory, the run's key and its
training settings) and its :class:`~segbench.schedule.Placement` (device, CPU threads). It loads the experiment's
data once per process (:func:`~segbench.compare.runner.prepare`, kept for the next run of the same experiment),
calls the per-run code of the in-process path (``runner._run_one``: the initial weights from the seed, the
batches from ``(seed, step)``, the same in every process), which writes only that run's subfolder (and its
prediction file). Its stdout/stderr go to the run's log, ``RUN_LOG`` in its subfolder.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import torch

from segbench.compare import config as _config
from segbench.compare import runner
from segbench.compare.determinism import deterministic
from segbench.compare.train import TrainSettings
from segbench.files.run_folder import RUN_LOG
from segbench.schedule import Placement

__all__ = ["RunJob", "train_in_worker"]

KEEP = 4
"""Experiments a worker keeps in memory (data loaded once per experiment and process)."""
_PREPARED: dict[str, runner.Experiment] = {}
"""This worker process's experiments, by their config text, oldest first (a worker serves many runs)."""


@dataclass(frozen=True)
class RunJob:
    """What a worker needs to train one run: all picklable."""

    config: _config.ExperimentConfig
    out: Path
    cwd: Path
    key: runner.RunKey
    settings: TrainSettings

    def label(self) -> str:
        """``run dice seed 0 (lr 0.003)``: the run in messages."""
        return f"run {self.key.loss} seed {self.key.seed} (lr {self.key.lr:g})"


def _experiment(job: RunJob) -> runner.Experiment:
    text = _config.to_toml(job.config)
    if text not in _PREPARED:
        if Path.cwd() != job.cwd:
            os.chdir(job.cwd)  # the dataset spec's relative paths are relative to the driver's working directory
        while len(_PREPARED) >= KEEP:  # the oldest goes (a sweep's worker serves several shares' experiments)
            del _PREPARED[next(iter(_PREPARED))]
        _PREPARED[text] = runner.prepare(job.config)
    return _PREPARED[text]


def train_in_worker(job: RunJob, placement: Placement) -> None:
    """Train, score and write the run ``job.key`` on ``placement`` (its device and CPU threads).

    Raises whatever the run raises (the driver stops the study with it); the traceback is in the run's log.
    """
    if not (job.out / "config.toml").is_file():  # before anything is written there
        raise RuntimeError(f"this worker (host {socket.gethostname()}) cannot see the run folder {job.out}; with "
                           "several machines the run folder must be on a file system they all share")
    exp = _experiment(job)
    run_dir = runner._run_dir(exp, job.out, job.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / RUN_LOG, "a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(log):
        start = time.perf_counter()
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {job.label()}: start on host "
              f"{socket.gethostname()} pid {os.getpid()}, {placement.device}, {placement.threads} thread(s)",
              flush=True)
        try:
            device = torch.device(placement.device)
            settings = replace(job.settings, device=device)
            with deterministic(device, placement.threads):
                runner._run_one(exp, job.out, job.key, settings, SimpleNamespace(disable=False))
        except BaseException:
            traceback.print_exc(file=sys.stderr)
            raise
        finally:
            print(f"\n{job.label()}: stopped after {time.perf_counter() - start:.1f} s", flush=True)
