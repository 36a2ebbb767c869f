"""Start several CPU processes that form a gloo process group, the way torchrun does.

:func:`launch` starts ``world`` fresh Python processes with torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), so the code under test joins the group
through :func:`segbench.distributed.session` exactly as under ``torchrun``; :func:`torchrun` uses the real launcher.

No free-port race: as torchrun's agent does, this process hosts the group's TCP store (:func:`rendezvous`) on a
port the OS picks while binding it (port 0), and holds it until the ranks are done; the ranks join it as clients
(``TORCHELASTIC_USE_AGENT_STORE=True``). Looking for a free port, closing it and handing its number on leaves a
window in which another process (a parallel test session) can take it.

Fresh processes, not forks: a fork of a process whose OpenMP pool is running hangs in its first parallel region
(gloo's worker threads hit one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch.distributed as dist

SRC = Path(__file__).resolve().parents[2] / "src"
WORKER = Path(__file__).resolve().parent / "worker_tasks.py"
TIMEOUT_S = 300


@dataclass(frozen=True)
class Finished:
    """Exit codes and combined stdout+stderr of each rank (one entry for torchrun)."""

    codes: list[int]
    outputs: list[str]

    @property
    def log(self) -> str:
        """Every rank's output, for assertion messages."""
        return "\n".join(f"--- rank {r} (exit {c}) ---\n{o}" for r, (c, o) in enumerate(zip(self.codes, self.outputs,
                                                                                              strict=True)))


@contextmanager
def rendezvous() -> Iterator[dict[str, str]]:
    """Host a process group's TCP store on 127.0.0.1 for as long as the block runs, and give the environment that
    makes every rank join it as a client: ``MASTER_ADDR``, ``MASTER_PORT`` (the port the store is bound to, picked
    by the OS at bind time) and ``TORCHELASTIC_USE_AGENT_STORE=True`` (torch's ``env://`` rendezvous then opens
    no server of its own, as under torchrun's agent)."""
    store = dist.TCPStore("127.0.0.1", 0, None, True, wait_for_workers=False)
    try:
        yield {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port), "TORCHELASTIC_USE_AGENT_STORE": "True"}
    finally:
        del store


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE")}
    env.update({"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "SEGBENCH_DIST_TIMEOUT": "60"})
    env.update(extra or {})
    return env


def launch(args: list[str], *, world: int = 2, cwd: Path | None = None, env: dict[str, str] | None = None) -> Finished:
    """Run ``python ARGS`` as ``world`` ranks of one gloo group (fresh processes, torchrun's variables), joined
    through a store this process hosts (:func:`rendezvous`)."""
    procs = []
    outputs = []
    with rendezvous() as store_env:
        try:
            for rank in range(world):
                rank_env = _env({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                                 "LOCAL_WORLD_SIZE": str(world), **store_env, **(env or {})})
                procs.append(subprocess.Popen([sys.executable, *args], env=rank_env, cwd=cwd,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            for proc in procs:
                outputs.append(proc.communicate(timeout=TIMEOUT_S)[0])
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    return Finished([p.returncode for p in procs], outputs)


def torchrun(args: list[str], *, nproc: int = 2, cwd: Path | None = None) -> Finished:
    """``python -m torch.distributed.run --standalone --nproc_per_node NPROC ARGS`` (a free port of its own)."""
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), *args], env=_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    return Finished([proc.returncode], [proc.stdout + proc.stderr])


@dataclass(frozen=True)
class Launcher:
    """The helpers above, handed to tests as the ``launcher`` fixture (conftest modules are not importable)."""

    worker: Path = WORKER

    launch = staticmethod(launch)
    torchrun = staticmethod(torchrun)
    rendezvous = staticmethod(rendezvous)


@pytest.fixture(scope="session")
def launcher() -> Launcher:
    """:func:`launch`, :func:`torchrun`, :func:`rendezvous` and the path of ``worker_tasks.py``."""
    return Launcher()
