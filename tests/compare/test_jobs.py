"""``--jobs N`` and ``--engine ray`` (#26): the schedule changes nothing in the results, nor in what a folder is;
a killed driver leaves no worker behind and the same command resumes; a killed worker's run is retried."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from segbench.compare import config
from segbench.compare.runner import prepare, run_compare
from segbench.files.run_folder import RUN_LOG

SRC = Path(__file__).resolve().parents[2] / "src"
TINY = {
    "dataset": {"spec": "synthetic", "image_size": 16, "options": {"num_images": 12, "foreground_fraction": 0.2}},
    "model": {"width": 2, "depth": 2},
    "train": {"epochs": 6, "batch_size": 4, "seeds": 2, "num_threads": 1, "device": "cpu"},
    "losses": {"specs": ["ce", "dice"]},
    "eval": {"metrics": ["pixel_accuracy", "dice", "hd95"]},
}
TOML = """
[dataset]
spec = "synthetic"
image_size = 16
options = { num_images = 12, foreground_fraction = 0.2 }
[model]
width = 2
depth = 2
[train]
epochs = 6
batch_size = 4
seeds = 2
num_threads = 1
device = "cpu"
[losses]
specs = ["ce", "dice"]
[eval]
metrics = ["pixel_accuracy", "dice", "hd95"]
"""
RUNS = [f"runs/{loss}/seed{seed}" for loss in ("ce", "dice") for seed in (0, 1)]


def _run(out: Path, **compute: object) -> None:
    cfg = config.resolve(TINY)
    run_compare(prepare(replace(cfg, compute=config.ComputeConfig(**compute))), out, quiet=True)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jobs1") / "run"
    _run(out)
    return out


def _same_scores(a: Path, b: Path) -> None:
    for run in RUNS:
        for name in ("scores.csv", "pooled.csv"):
            assert (a / run / name).read_bytes() == (b / run / name).read_bytes(), f"{run}/{name}"
    for name in ("results/per_image.csv", "results/dataset_level.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_jobs_2_writes_byte_identical_scores(reference: Path, tmp_path: Path) -> None:
    _run(tmp_path / "run", jobs=2)
    _same_scores(reference, tmp_path / "run")
    assert all((tmp_path / "run" / run / RUN_LOG).is_file() for run in RUNS)  # each run's log in its folder


def test_local_ray_with_2_cpus_writes_byte_identical_scores(reference: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", str(SRC))  # Ray's workers import segbench from the checkout
    _run(tmp_path / "run", jobs=2, engine="ray")
    _same_scores(reference, tmp_path / "run")


def test_the_schedule_is_not_part_of_the_folder(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "runs" / "dice" / "seed1")  # one run left to do
    before = (out / "config.toml").read_text()
    _run(out, jobs=2, runs_per_gpu=3)  # a folder of --jobs 1 resumes under --jobs 2: no "different experiment"
    assert (out / "config.toml").read_text() == before and "compute" not in before
    _same_scores(reference, out)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _files(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def _wait_for(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_killed_driver_stops_its_workers_and_the_same_command_resumes(reference: Path, tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TOML)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "segbench", "compare", "tiny.toml", "--jobs", "2", "--out", str(out), "-q",
               "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: any(out.glob("runs/*/seed*/state.pt")), 120), "no run started"
        workers = [p for p in _children(driver.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(workers) == 2
        driver.kill()  # SIGKILL: no cleanup in the driver at all
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    time.sleep(0.5)  # the workers notice within 0.2 s; without that they would go on training for seconds
    written = _files(out)
    time.sleep(2.0)
    assert _files(out) == written, "a worker went on writing after its driver was killed"
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 10), "a worker outlived its driver"
    assert not all((out / run / "done.json").exists() for run in RUNS)  # killed mid-study
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _same_scores(reference, out)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_with_the_same_result(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    failure: list[BaseException] = []

    def study() -> None:
        try:
            _run(out, jobs=2)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=study)
    thread.start()
    try:
        assert _wait_for(lambda: any(out.glob("runs/*/seed*/state.pt")), 120), "no run started"
        run = next(p.parent for p in out.glob("runs/*/seed*/state.pt") if not (p.parent / "done.json").exists())
        start = [line for line in (run / RUN_LOG).read_text().splitlines() if ": start on host" in line][-1]
        os.kill(int(start.split(" pid ")[1].split(",")[0]), signal.SIGKILL)
    finally:
        thread.join(timeout=300)
    assert not failure, failure
    starts = (run / RUN_LOG).read_text().count(": start on host")
    assert starts == 2, f"{run.name}: {starts} tries"
    _same_scores(reference, out)
