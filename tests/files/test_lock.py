"""One writer per run folder: a second ``compare`` (or ``report``) on a folder in use exits 2 naming the holder;
a holder killed with SIGKILL leaves a stale lock file that never blocks the resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

Cli = Callable[[list[str]], tuple[int, str, str]]
REPO = Path(__file__).resolve().parents[2]
LOCK_NAME = ".segbench.lock"  # the documented lock file of a run folder (tested black-box below)

# ``segbench compare`` (the real command line) in a child that stops after its first ``state.pt`` write: it
# prints "paused" and sleeps (holding the lock) until the test kills it with SIGKILL.
CHILD = """
import sys, time
from segbench.compare import train
from segbench.cli import main
original = train.io.write_torch
def write_torch(path, obj):
    original(path, obj)
    if path.name == "state.pt":
        print("paused", flush=True)
        time.sleep(600)
train.io.write_torch = write_torch
sys.exit(main(sys.argv[1:]))
"""


def _paused_compare(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], env=env, cwd=cwd, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline()  # blocks until the first epoch is saved (or the child dies)
    if line.strip() != "paused":
        child.kill()
        raise AssertionError(f"the child compare did not pause: {line!r} {child.communicate()[1][-2000:]}")
    return child


def test_second_compare_is_refused_and_a_killed_holder_never_blocks_the_resume(
        tmp_path: Path, tiny_toml: Path, cli: Cli) -> None:
    out = tmp_path / "run folder"
    argv = ["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"]
    child = _paused_compare(argv, tmp_path)
    try:
        status, stdout, err = cli(argv)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, err
        assert f"pid {child.pid} on host {socket.gethostname()} since 20" in lines[0], err
        assert "segbench compare" in lines[0] and str(out) in lines[0]
        assert stdout == ""
        status, _, err = cli(["report", str(out)])  # the report rewrites files in the folder too
        assert status == 2 and f"pid {child.pid}" in err
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    stale = json.loads((out / LOCK_NAME).read_text())
    assert stale["pid"] == child.pid  # the killed holder's details are still in the file ...
    state = torch.load(out / "runs" / "ce" / "seed0" / "state.pt", weights_only=True)
    first = [row["step"] for row in state["history"]]
    assert len(first) == 1  # it was killed after its first evaluation (epoch)

    status, stdout, err = cli(argv)  # ... but its lock died with it: the rerun resumes
    assert status == 0, err
    history = list(csv.DictReader((out / "runs" / "ce" / "seed0" / "history.csv").open()))
    assert [row["step"] for row in history] == [str(first[0]), str(2 * first[0])]  # resumed, not restarted
    assert (out / "runs" / "ce" / "seed0" / "done.json").is_file()
    assert (out / LOCK_NAME).read_text() == ""  # released (emptied) on a clean exit


def test_the_lock_file_names_its_holder(tmp_path: Path) -> None:
    from segbench.files.lock import FolderBusy, FolderLock, holder

    folder = tmp_path / "new" / "run"
    with FolderLock(folder, "segbench compare"):
        info = json.loads((folder / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert time.strptime(info["started"], "%Y-%m-%dT%H:%M:%SZ")
        assert holder(folder).startswith(f"pid {os.getpid()} on host ")
        with pytest.raises(FolderBusy, match=rf"in use by another segbench process: pid {os.getpid()} "):
            with FolderLock(folder, "second"):  # another open file description: flock refuses it too
                pass
    assert (folder / LOCK_NAME).read_text() == ""
    (folder / LOCK_NAME).write_text("garbage left by something else")
    with FolderLock(folder, "third"):  # a lock file that is not held, whatever it says, is free
        assert json.loads((folder / LOCK_NAME).read_text())["command"] == "third"


def test_the_lock_is_released_when_the_command_fails(tmp_path: Path, tiny_toml: Path, cli: Cli) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text('[dataset]\nspec = "sample"\n')  # another experiment's folder
    status, _, err = cli(["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"])
    assert status == 2 and "holds a different experiment" in err
    from segbench.files.lock import FolderLock

    with FolderLock(out, "test"):
        pass
