"""Atomic writes, and resuming a killed run: same final numbers as an uninterrupted run, no duplicate rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from segbench.compare import config
from segbench.compare.runner import prepare, run_compare
from segbench.errors import UsageError
from segbench.files import atomic as io

TINY = {
    "dataset": {"spec": "synthetic", "image_size": 16, "options": {"num_images": 12, "foreground_fraction": 0.2}},
    "model": {"width": 2, "depth": 2},
    "train": {"max_steps": 9, "eval_every": 3, "patience": "none", "crop": 12, "batch_size": 4, "seeds": 1,
              "num_threads": 1, "device": "cpu"},
    "losses": {"specs": ["ce", "dice"]},
    "eval": {"metrics": ["pixel_accuracy", "dice", "hd95"]},
}

# Runs the tiny experiment in a child process that SIGKILLs itself right after its Nth ``state.pt`` write
# (a real kill at a known point, not an exception the code could catch).
CHILD = """
import json, os, signal, sys
from segbench.compare import config, runner, train
from segbench.files import atomic as io
cfg = config.resolve(json.loads(sys.argv[1]))
kill_after, writes = int(sys.argv[3]), [0]
original = io.write_torch
def write_torch(path, obj):
    original(path, obj)
    if path.name == "state.pt":
        writes[0] += 1
        if writes[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
train.io.write_torch = write_torch
runner.run_compare(runner.prepare(cfg), runner.Path(sys.argv[2]), quiet=True)
"""


def _child(tmp_path: Path, out: Path, kill_after: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(TINY), str(out), str(kill_after)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    return proc.returncode


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    io.write_json(path, {"a": 1})

    def broken(handle: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]  # no temp file left behind


def test_csv_and_npz_round_trip(tmp_path: Path) -> None:
    io.write_csv(tmp_path / "r.csv", ["model", "value"], [{"model": "dice", "value": float("inf")}])
    assert io.read_csv(tmp_path / "r.csv") == [{"model": "dice", "value": "inf"}]
    io.write_npz(tmp_path / "p.npz", pred=[[1, 0]])
    import numpy as np

    assert np.load(tmp_path / "p.npz")["pred"].tolist() == [[1, 0]]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    cfg = config.resolve(TINY)
    clean = tmp_path / "clean"
    run_compare(prepare(cfg), clean, quiet=True)

    killed = tmp_path / "killed"
    # killed after the 2nd evaluation of the second loss (5th state.pt): the first run is done, the second is not
    assert _child(tmp_path, killed, kill_after=5) == -signal.SIGKILL
    assert (killed / "runs" / "ce" / "seed0" / "done.json").exists()
    assert not (killed / "runs" / "dice" / "seed0" / "done.json").exists()
    assert not (killed / "results").exists()
    import torch

    state = torch.load(killed / "runs" / "dice" / "seed0" / "state.pt", weights_only=False)
    assert len(state["history"]) == 2  # the resume point: step 6 of 9
    assert not list(killed.rglob("*.tmp"))  # nothing half-written under a final name or beside it

    run_compare(prepare(cfg), killed, quiet=True)  # the same command again
    for name in ("results/per_image.csv", "results/dataset_level.csv"):
        assert (killed / name).read_text() == (clean / name).read_text(), name
    history = io.read_csv(killed / "history.csv")
    assert [(r["model"], r["step"]) for r in history] == [(m, str(e)) for m in ("ce", "dice") for e in (3, 6, 9)]
    clean_history = io.read_csv(clean / "history.csv")
    assert [r["val_loss"] for r in history] == [r["val_loss"] for r in clean_history]


def test_rerun_of_a_finished_run_adds_no_rows(tmp_path: Path) -> None:
    cfg = config.resolve({**TINY, "train": {**TINY["train"], "max_steps": 3}, "losses": {"specs": ["dice"]}})
    out = tmp_path / "run"
    first = run_compare(prepare(cfg), out, quiet=True)
    before = (out / "results" / "per_image.csv").read_text()
    second = run_compare(prepare(cfg), out, quiet=True)
    assert len(first) == len(second)
    assert (out / "results" / "per_image.csv").read_text() == before


def test_a_different_config_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    cfg = config.resolve({**TINY, "train": {**TINY["train"], "max_steps": 3}, "losses": {"specs": ["dice"]}})
    out = tmp_path / "run"
    run_compare(prepare(cfg), out, quiet=True)
    before = (out / "config.toml").read_text()
    other = config.resolve({**TINY, "train": {**TINY["train"], "max_steps": 6}, "losses": {"specs": ["dice"]}})
    with pytest.raises(UsageError, match=r"different experiment \(\[train\] max_steps: 3 -> 6\)"):
        run_compare(prepare(other), out, quiet=True)
    assert (out / "config.toml").read_text() == before
