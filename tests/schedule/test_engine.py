"""The local and Ray engines (#26): every item once, a worker's death retried (bounded), a failure named, bad input."""

from __future__ import annotations

import importlib
import importlib.util
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from segbench import schedule
from segbench.errors import UsageError
from segbench.schedule import RunFailed, engine, run_all

# Worker functions must be importable by the spawned workers: written to a module on a sys.path they inherit.
HELPERS = '''
import os, signal
from pathlib import Path

def write(item, placement):
    folder, name = item
    Path(folder, name).write_text(f"{placement.device} {placement.threads} {os.getpid()}")

def die_once(item, placement):
    folder, name = item
    marker = Path(folder, name + ".tried")
    if not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    Path(folder, name).write_text("done")

def die_always(item, placement):
    os.kill(os.getpid(), signal.SIGKILL)

def fail(item, placement):
    if item[1] == "b":
        raise ValueError("loss is nan")
    Path(*item).write_text("done")
'''


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    folder = tmp_path / "mod"
    folder.mkdir()
    (folder / "segbench_engine_helpers.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{Path(schedule.__file__).parents[2]}")  # Ray's workers read it
    sys.modules.pop("segbench_engine_helpers", None)
    yield importlib.import_module("segbench_engine_helpers")
    engine._close_pool()  # kept workers would import this test's helpers from the folder they started with


class Bar:
    disable = False

    def __init__(self) -> None:
        self.n, self.postfix = 0, ""

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text


def test_local_engine_runs_every_item_once_in_its_own_worker(helpers: ModuleType, tmp_path: Path) -> None:
    items = [(str(tmp_path), name) for name in "abcde"]
    bar = Bar()
    run_all(helpers.write, items, jobs=2, num_threads=4, bar=bar)
    texts = [(tmp_path / name).read_text().split() for name in "abcde"]
    assert {(t[0], t[1]) for t in texts} == {("cpu", "2")}
    assert len({t[2] for t in texts}) == 2  # two worker processes served the five items
    assert bar.n == 5 and bar.postfix == "0 in flight"
    run_all(helpers.write, [(str(tmp_path), "f")], jobs=2, num_threads=4)  # the same slots: a kept worker
    assert (tmp_path / "f").read_text().split()[2] in {t[2] for t in texts}


def test_a_dead_worker_is_replaced_and_its_item_retried(helpers: ModuleType, tmp_path: Path) -> None:
    items = [(str(tmp_path), name) for name in "abc"]
    run_all(helpers.die_once, items, jobs=2)
    assert all((tmp_path / name).read_text() == "done" for name in "abc")


def test_a_worker_that_keeps_dying_stops_the_batch_naming_the_item(helpers: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match=r"^run x failed: its worker died 2 times \(last: killed by SIGKILL\)$"):
        run_all(helpers.die_always, [(str(tmp_path), "x")], jobs=1, retries=1, label=lambda item: f"run {item[1]}")


def test_an_item_that_raises_stops_the_batch_with_its_cause(helpers: ModuleType, tmp_path: Path) -> None:
    items = [(str(tmp_path), name) for name in "ab"]
    with pytest.raises(RunFailed, match=r"^run b failed: ValueError: loss is nan$"):
        run_all(helpers.fail, items, jobs=1, label=lambda item: f"run {item[1]}")
    assert (tmp_path / "a").read_text() == "done"  # finished before the failure: kept


def test_bad_engine_jobs_and_address() -> None:
    with pytest.raises(UsageError, match="unknown engine 'spark'; expected one of local, ray"):
        run_all(print, [], jobs=1, engine="spark")
    with pytest.raises(UsageError, match="--jobs must be >= 1, got 0"):
        run_all(print, [], jobs=0)
    with pytest.raises(UsageError, match=r"--address .* needs --engine ray"):
        run_all(print, [], jobs=1, address="auto")


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(UsageError, match=r"Ray, which is not installed: install the extra segbench\[ray\]"):
        schedule.check_engine("ray", None)


def test_an_address_with_no_cluster_is_a_usage_error_at_once() -> None:
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(UsageError, match=f"no Ray cluster at --address 127.0.0.1:{port}"):
        run_all(print, [1], jobs=1, engine="ray", address=f"127.0.0.1:{port}")
    assert time.perf_counter() - start < 30
    with pytest.raises(UsageError, match="HOST:PORT"):
        run_all(print, [1], jobs=1, engine="ray", address="nowhere")


def test_ray_engine_runs_every_item(helpers: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    items = [(str(tmp_path), name) for name in "abc"]
    bar = Bar()
    run_all(helpers.write, items, jobs=2, engine="ray", bar=bar)
    assert all((tmp_path / name).read_text().startswith("cpu 1 ") for name in "abc") and bar.n == 3


def test_ray_retries_a_task_whose_worker_died(helpers: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    items = [(str(tmp_path), name) for name in "ab"]
    run_all(helpers.die_once, items, jobs=2, engine="ray")
    assert all((tmp_path / name).read_text() == "done" for name in "ab")
