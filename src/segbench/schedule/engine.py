"""Run ``fn(item, placement)`` for every item, ``jobs`` at a time: worker processes here, or Ray tasks.

* ``engine="local"``: ``jobs`` worker processes (``spawn`` start method, so no state leaks from the driver) fed one
  item at a time over a pipe; worker ``k`` keeps slot ``k``'s :class:`~segbench.schedule.placement.Placement` for its
  whole life. A worker ignores Ctrl-C (the driver stops it) and exits as soon as its driver is gone, so a kill of the
  driver (``SIGKILL`` included) leaves no worker writing.
* ``engine="ray"``: each item is a Ray task declaring ``num_cpus`` (the threads) and ``num_gpus``
  (``1 / runs_per_gpu`` on CUDA); at most ``jobs`` are in flight. No ``address``: a local Ray with ``jobs x threads``
  CPUs is started and shut down on exit; ``"auto"`` or ``"HOST:PORT"``: an existing cluster (checked first: no
  cluster there is a :class:`~segbench.errors.UsageError` within seconds, not a hang).

Faults: a worker that dies (killed, out of memory) is replaced and its item retried, at most ``retries`` times
(Ray: the task's ``max_retries``); an item that raises, or whose worker died once more than that, stops the batch
with :class:`RunFailed` naming the item and the cause. On any exit (``KeyboardInterrupt`` included) every worker or
task still running is stopped; what they wrote stays (the item's own resume point).
"""

from __future__ import annotations

import atexit
import importlib.util
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from segbench.errors import UsageError
from segbench.schedule.placement import Placement, gpu_fraction, place, threads_each

__all__ = ["ENGINES", "RETRIES", "RunFailed", "check_engine", "run_all"]

ENGINES = ("local", "ray")
RETRIES = 2
"""How many times an item whose worker died is tried again (3 tries in all)."""
RAY_EXTRA = "install the extra segbench[ray] (pip install 'segbench[ray]')"
CONNECT_TIMEOUT_S = 5.0
"""Seconds a ``HOST:PORT`` address has to accept a TCP connection."""
INIT_TIMEOUT_S = 10.0
"""Seconds ``ray.init`` has to connect to a cluster, or start a local one."""


class RunFailed(RuntimeError):
    """One item failed for good: ``str(exc)`` is one line naming it and the cause.

    >>> str(RunFailed("run dice seed 0", "ValueError: bad"))
    'run dice seed 0 failed: ValueError: bad'
    """

    def __init__(self, label: str, cause: str) -> None:
        super().__init__(f"{label} failed: {cause}")
        self.label, self.cause = label, cause


def one_line(exc: BaseException) -> str:
    """``Type: message`` with the message's lines joined.

    >>> one_line(ValueError("a\\n  b"))
    'ValueError: a b'
    """
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


Fn = Callable[[Any, Placement], None]


def check_engine(engine: str, address: str | None) -> None:
    """UsageError unless ``engine`` is known, ``address`` goes with Ray, and Ray is installed where it is asked for.

    >>> check_engine("local", None)
    >>> check_engine("local", "auto")
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: --address (a Ray cluster) needs --engine ray
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "local" and address is not None:
        raise UsageError("--address (a Ray cluster) needs --engine ray")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError(f"--engine ray needs Ray, which is not installed: {RAY_EXTRA}")


def run_all(fn: Fn, items: Sequence[Any], *, jobs: int, engine: str = "local", address: str | None = None,
            gpus: int = 0, runs_per_gpu: int = 1, num_threads: int = 1, retries: int = RETRIES,
            label: Callable[[Any], str] = str, bar: Any = None) -> None:
    """Call ``fn(item, placement)`` for every item of ``items``, ``jobs`` at once, on ``engine``.

    Args:
        fn: a picklable top-level function; it writes its own results (the driver gets nothing back).
        items: picklable work items, dispatched in this order.
        jobs: items in flight at most.
        engine: ``"local"`` (worker processes) or ``"ray"``.
        address: Ray only: ``None`` (start a local Ray), ``"auto"`` or ``"HOST:PORT"``.
        gpus: CUDA devices to spread over (local engine; Ray assigns GPUs itself); 0: the CPU.
        runs_per_gpu: items sharing one GPU.
        num_threads: CPU-thread budget split between the ``jobs`` slots (at least one each).
        retries: tries again after a worker's death, per item.
        label: an item's name in messages (``"run dice seed 0"``).
        bar: a tqdm bar (or ``None``) advanced by one per finished item; its postfix shows the items in flight.

    Raises:
        UsageError: a bad engine, ``jobs``, address, or Ray missing.
        RunFailed: an item raised, or its worker died more than ``retries`` times.
    """
    check_engine(engine, address)
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    if engine == "ray":
        _run_ray(fn, items, jobs=jobs, address=address, cuda=gpus > 0, runs_per_gpu=runs_per_gpu,
                 threads=threads_each(num_threads, jobs), retries=retries, label=label, bar=bar)
        return
    if not items:
        return
    slots = place(jobs, gpus=gpus, runs_per_gpu=runs_per_gpu, num_threads=num_threads)
    _run_local(fn, items, slots, retries=retries, label=label, bar=bar)


def _in_flight(bar: Any, n: int) -> None:
    if bar is not None:
        bar.set_postfix_str(f"{n} in flight")


# --- the local engine -------------------------------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    while True:  # reparented (the driver is gone): stop at once, mid-write or not (writes are atomic)
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.2)


def _worker_main(conn: Connection, placement: Placement, parent: int) -> None:
    """A local worker: run the ``(fn, item)`` the driver sends until it sends ``None``; answer each with
    ``(ok, cause, traceback)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver decides
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        fn, item = task
        try:
            fn(item, placement)
        except BaseException as exc:
            conn.send((False, one_line(exc), traceback.format_exc()))
        else:
            conn.send((True, "", ""))


@dataclass
class _Worker:
    slot: int
    placement: Placement
    process: Any = None
    conn: Any = None
    item: int | None = None  # index of the item it works on

    def start(self, ctx: Any) -> None:
        parent_end, child_end = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child_end, self.placement, os.getpid()),
                                   name=f"segbench-worker-{self.slot}", daemon=True)
        self.process.start()
        child_end.close()
        self.conn, self.item = parent_end, None

    def stop(self, grace: float = 0.0) -> None:
        if self.process is None:
            return
        self.process.join(timeout=grace)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()
        self.process = None


_POOL: dict[str, Any] = {"slots": (), "workers": []}
"""The local workers, kept between calls with the same slots (a study calls :func:`run_all` once per group of
runs: the workers' start, an interpreter and its imports, is paid once). Closed at exit, or on any failure."""


def _close_pool(grace: float = 0.0) -> None:
    workers, _POOL["workers"], _POOL["slots"] = _POOL["workers"], [], ()
    for w in workers:
        if grace and w.process is not None and w.process.is_alive():
            try:
                w.conn.send(None)
            except OSError:
                pass
        w.stop(grace)


atexit.register(_close_pool, 5.0)


def _pool(ctx: Any, slots: Sequence[Placement], needed: int) -> list[_Worker]:
    if _POOL["slots"] != tuple(slots):
        _close_pool(5.0)
        _POOL["slots"], _POOL["workers"] = tuple(slots), []
    workers: list[_Worker] = _POOL["workers"]
    while len(workers) < needed:
        w = _Worker(len(workers), slots[len(workers)])
        w.start(ctx)
        workers.append(w)
    return workers[:needed]


def _run_local(fn: Fn, items: Sequence[Any], slots: Sequence[Placement], *, retries: int,
               label: Callable[[Any], str], bar: Any) -> None:
    ctx = mp.get_context("spawn")
    pending = deque(range(len(items)))
    died: dict[int, int] = {}
    finished = False
    try:
        workers = _pool(ctx, slots, min(len(slots), len(items)))
        while pending or any(w.item is not None for w in workers):
            for w in workers:
                if w.item is None and not w.process.is_alive():  # died while idle: a fresh one in its slot
                    w.stop()
                    w.start(ctx)
                if w.item is None and pending:
                    w.item = pending.popleft()
                    try:
                        w.conn.send((fn, items[w.item]))
                    except OSError:  # it died just now: seen below as a death with this item
                        pass
            busy = [w for w in workers if w.item is not None]
            _in_flight(bar, len(busy))
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=5.0)
            for w in busy:
                index = w.item if w.item is not None else -1
                answer = None
                if w.conn.poll():
                    try:
                        answer = w.conn.recv()
                    except (EOFError, OSError):
                        answer = None
                if answer is not None:
                    ok, cause, _ = answer
                    if not ok:
                        raise RunFailed(label(items[index]), cause)
                    w.item = None
                    if bar is not None:
                        bar.update(1)
                        _in_flight(bar, sum(v.item is not None for v in workers))
                elif not w.process.is_alive():
                    code = w.process.exitcode
                    died[index] = died.get(index, 0) + 1
                    if died[index] > retries:
                        raise RunFailed(label(items[index]), f"its worker died {died[index]} times (last: "
                                        f"{_exit_cause(code)})")
                    w.stop()
                    w.start(ctx)
                    pending.appendleft(index)
        finished = True
    finally:
        if not finished:  # Ctrl-C, a failed run, a bug: no worker goes on with a run
            _close_pool()


def _exit_cause(code: int | None) -> str:
    """``killed by SIGKILL`` for a negative exit code, else ``exit status N``.

    >>> _exit_cause(-9), _exit_cause(1)
    ('killed by SIGKILL', 'exit status 1')
    """
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


# --- the Ray engine ---------------------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def _check_address(address: str) -> None:
    """A ``HOST:PORT`` address must accept a TCP connection within ``CONNECT_TIMEOUT_S`` (else UsageError)."""
    if address == "auto":
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UsageError(f"no Ray cluster at --address {address} ({exc.strerror or exc}); start one with "
                         "`ray start --head`, or leave --address out to run a local Ray") from None


@contextmanager
def _ray_session(ray: Any, address: str | None, cpus: int) -> Iterator[None]:
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:
        options.update(num_cpus=cpus, include_dashboard=False)
    else:
        _check_address(address)
        options["address"] = address
    where = "a local Ray" if address is None else f"the Ray cluster at --address {address}"
    failed: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(**options)
        except BaseException as exc:
            failed.append(exc)

    if address is None:  # in this thread: Ray's processes die with the thread that started them (PDEATHSIG)
        init()
    else:  # ray.init retries a port that answers but is no Ray for long: give up after INIT_TIMEOUT_S
        connecting = threading.Thread(target=init, name="segbench-ray-connect", daemon=True)
        connecting.start()
        connecting.join(timeout=INIT_TIMEOUT_S)
        if connecting.is_alive():
            raise UsageError(f"cannot start {where}: no answer within {INIT_TIMEOUT_S:g} s (is a Ray head running "
                             "there, and does it take this machine's token, RAY_AUTH_MODE=token and ~/.ray/auth_token? "
                             "`ray status --address ...` tells)")
    if failed:
        raise UsageError(f"cannot start {where}: {one_line(failed[0])}") from None
    try:
        yield
    finally:
        ray.shutdown()


_WATCHED: set[int] = set()


def _watch_pid(pid: int) -> None:
    while True:  # the driver is gone: stop at once (a local Ray's own processes take many seconds to notice)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass
        time.sleep(0.2)


def _ray_entry(fn: Fn, item: Any, placement: Placement, driver: tuple[str, int]) -> None:
    """A Ray task: one item. On the driver's host, the worker exits as soon as the driver does."""
    host, pid = driver
    if host == socket.gethostname() and pid not in _WATCHED:
        _WATCHED.add(pid)
        threading.Thread(target=_watch_pid, args=(pid,), name="segbench-driver-watch", daemon=True).start()
    fn(item, placement)


def _run_ray(fn: Fn, items: Sequence[Any], *, jobs: int, address: str | None, cuda: bool, runs_per_gpu: int,
             threads: int, retries: int, label: Callable[[Any], str], bar: Any) -> None:
    if address is not None and "ray" not in sys.modules:  # Ray reads both when it is imported, and only then
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # not a warning a second while a bad address fails
        if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or Path(os.environ.get(
                "RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token")).is_file()):
            os.environ["RAY_AUTH_MODE"] = "token"  # as `auto` does: a token here means the cluster asks for it
    ray = _import_ray()
    if not items:
        return
    from ray.exceptions import RayTaskError

    gpus = gpu_fraction(runs_per_gpu) if cuda else 0.0
    placement = Placement("cuda:0" if cuda else "cpu", threads)  # Ray's CUDA_VISIBLE_DEVICES: the GPU it gave
    driver = (socket.gethostname(), os.getpid())
    with _ray_session(ray, address, jobs * threads):
        task = ray.remote(_ray_entry).options(num_cpus=threads, num_gpus=gpus, max_retries=retries,
                                              retry_exceptions=False)
        pending = deque(range(len(items)))
        flight: dict[Any, int] = {}
        try:
            while pending or flight:
                while pending and len(flight) < jobs:
                    index = pending.popleft()
                    flight[task.remote(fn, items[index], placement, driver)] = index
                _in_flight(bar, len(flight))
                ready, _ = ray.wait(list(flight), num_returns=1, timeout=5.0)
                for ref in ready:
                    index = flight.pop(ref)
                    try:
                        ray.get(ref)
                    except RayTaskError as exc:
                        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                        raise RunFailed(label(items[index]), one_line(cause)) from None
                    except ray.exceptions.RayError as exc:  # its worker died more than max_retries times, ...
                        first = next((line for line in str(exc).splitlines() if line.strip()), "")
                        raise RunFailed(label(items[index]), f"{type(exc).__name__} ({retries} retries): "
                                        f"{first.strip()}") from None
                    if bar is not None:
                        bar.update(1)
                        _in_flight(bar, len(flight))
        finally:
            for ref in flight:
                ray.cancel(ref, force=True)
