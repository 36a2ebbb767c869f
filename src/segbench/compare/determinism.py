"""Reproducibility of bench runs: one initial model per seed, each step's batch from ``(seed, step)``.

* :func:`initial_state`: the model is built under ``torch.manual_seed(seed)`` and its ``state_dict`` kept;
  every loss of that seed loads this same state (so runs differ only in the loss). :func:`state_sha256`
  fingerprints weights (written to ``done.json``; equal across losses of one seed).
* :func:`step_generator`: the :class:`torch.Generator` that draws an optimizer step's images, crops and flips,
  seeded from ``(seed, step)`` alone, so a resumed run sees exactly the batches an uninterrupted one would.
* :func:`deterministic`: ``torch.use_deterministic_algorithms(True)`` (CPU) for the duration of a block, and
  the number of CPU threads; both restored afterwards.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["deterministic", "initial_state", "state_sha256", "step_generator"]


def initial_state(build: Callable[[], nn.Module], seed: int) -> dict[str, torch.Tensor]:
    """The ``state_dict`` (a detached copy) of ``build()`` called right after ``torch.manual_seed(seed)``.

    The global RNG state is restored afterwards, so callers are not affected.

    >>> a = initial_state(lambda: nn.Linear(2, 2), 3)
    >>> b = initial_state(lambda: nn.Linear(2, 2), 3)
    >>> all(torch.equal(a[k], b[k]) for k in a)
    True
    """
    saved = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build()
        return {k: v.detach().clone() for k, v in copy.deepcopy(model.state_dict()).items()}
    finally:
        torch.random.set_rng_state(saved)


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A SHA-256 over the names, shapes, dtypes and bytes of a ``state_dict`` (sorted by name).

    >>> state_sha256({"w": torch.zeros(2)}) == state_sha256({"w": torch.zeros(2)})
    True
    >>> state_sha256({"w": torch.zeros(2)}) == state_sha256({"w": torch.ones(2)})
    False
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest()


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator seeded from ``numpy.random.SeedSequence([seed, step])`` (independent streams).

    >>> a = torch.randperm(5, generator=step_generator(0, 1))
    >>> b = torch.randperm(5, generator=step_generator(0, 1))
    >>> torch.equal(a, b)
    True
    """
    state = np.random.SeedSequence([int(seed), int(step)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@contextmanager
def deterministic(device: torch.device, num_threads: int | None = None) -> Iterator[None]:
    """Run a block with deterministic algorithms on CPU and ``num_threads`` CPU threads; restore both after.

    On CUDA, deterministic algorithms are not forced (several kernels would raise); CUDA runs are
    reproducible only up to floating-point reordering.

    >>> with deterministic(torch.device("cpu"), 1):
    ...     torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    (True, 1)
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_threads = torch.get_num_threads()
    try:
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(was_threads)
