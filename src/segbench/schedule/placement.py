"""Where each of ``jobs`` concurrent runs trains, and with how many CPU threads: a pure function, tested alone.

A study runs ``jobs`` trainings at once, each in its own worker (slot ``k = 0 .. jobs-1``). :func:`place` gives slot
``k`` its device and its CPU threads:

* CPU: every slot gets ``max(1, num_threads // jobs)`` threads (the machine's budget split, at least one each);
* CUDA with ``gpus`` visible devices: slot ``k`` goes to ``cuda:(k mod gpus)`` (round robin, so two slots on two GPUs
  use both), and one GPU takes at most ``runs_per_gpu`` slots; the threads are split as on the CPU.

The Ray engine asks Ray for the same share instead (``num_cpus`` = the threads, ``num_gpus = 1 / runs_per_gpu``,
:func:`gpu_fraction`) and Ray picks the node and the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from segbench.errors import UsageError

__all__ = ["Placement", "gpu_fraction", "place", "threads_each"]


@dataclass(frozen=True)
class Placement:
    """One slot's share of the machine: ``device`` (``"cpu"`` or ``"cuda:K"``) and its CPU ``threads``."""

    device: str
    threads: int


def threads_each(num_threads: int, jobs: int) -> int:
    r"""CPU threads of each of ``jobs`` concurrent runs on a budget of ``num_threads``.

    .. math:: t = \max(1, \lfloor \mathrm{num\_threads} / \mathrm{jobs} \rfloor)

    >>> threads_each(8, 3), threads_each(1, 2), threads_each(4, 1)
    (2, 1, 4)
    """
    if num_threads < 1 or jobs < 1:
        raise ValueError(f"num_threads and jobs must be >= 1, got {num_threads} and {jobs}")
    return max(1, num_threads // jobs)


def gpu_fraction(runs_per_gpu: int) -> float:
    """The share of one GPU that a run declares to Ray: ``1 / runs_per_gpu``.

    >>> gpu_fraction(1), gpu_fraction(4)
    (1.0, 0.25)
    """
    if runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be >= 1, got {runs_per_gpu}")
    return 1.0 / runs_per_gpu


def place(jobs: int, *, gpus: int = 0, runs_per_gpu: int = 1, num_threads: int = 1) -> tuple[Placement, ...]:
    """The device and threads of each of ``jobs`` slots (see the module docstring for the rule).

    Args:
        jobs: runs trained at once (>= 1).
        gpus: visible CUDA devices to use; 0 trains on the CPU.
        runs_per_gpu: at most this many slots share one GPU.
        num_threads: the machine's CPU-thread budget, split between the slots.

    Raises:
        UsageError: more slots than the GPUs hold (``jobs > gpus * runs_per_gpu``).

    >>> place(2, num_threads=4)
    (Placement(device='cpu', threads=2), Placement(device='cpu', threads=2))
    >>> [p.device for p in place(3, gpus=2, runs_per_gpu=2)]
    ['cuda:0', 'cuda:1', 'cuda:0']
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    if runs_per_gpu < 1:
        raise UsageError(f"[compute] runs_per_gpu must be >= 1, got {runs_per_gpu}")
    if gpus < 0:
        raise ValueError(f"gpus must be >= 0, got {gpus}")
    threads = threads_each(num_threads, jobs)
    if gpus == 0:
        return tuple(Placement("cpu", threads) for _ in range(jobs))
    if jobs > gpus * runs_per_gpu:
        raise UsageError(f"--jobs {jobs} does not fit {gpus} GPU(s) x [compute] runs_per_gpu = {runs_per_gpu}; "
                         f"lower --jobs to {gpus * runs_per_gpu} or raise runs_per_gpu")
    return tuple(Placement(f"cuda:{k % gpus}", threads) for k in range(jobs))
