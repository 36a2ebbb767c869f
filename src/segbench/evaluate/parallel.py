"""One ordered, error-collecting map over cases: serial, or in worker processes, with a progress bar.

Results come back in input order whatever order the workers finish in, so ``jobs=4`` gives exactly the
list ``jobs=1`` gives. A :class:`~segbench.errors.UsageError` raised for an item (an unreadable file, a
bad label) is collected, not raised at once, so that one run reports every bad case; any other exception
is a bug and propagates with its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

from segbench.errors import UsageError

__all__ = ["check_jobs", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def check_jobs(jobs: int) -> int:
    """The number of worker processes: ``jobs >= 1`` as given, ``0`` for one per CPU.

    >>> check_jobs(3), check_jobs(0) >= 1
    (3, True)
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise UsageError(f"--jobs must be an integer >= 0 (0: one per CPU), got {jobs!r}")
    return jobs or (os.cpu_count() or 1)


def _init_worker() -> None:
    """One compute thread per worker process: the processes are the parallelism."""
    import torch

    torch.set_num_threads(1)


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int = 1,
    desc: str = "",
    progress: bool = False,
) -> tuple[list[R | None], list[tuple[int, UsageError]]]:
    """``[fn(item) for item in items]`` in order, plus the ``(index, error)`` of items whose call failed.

    ``fn`` must be a module-level function (it is pickled to the workers when ``jobs > 1``). A failed item's
    slot in the result list is ``None``.

    >>> ordered_map(abs, [-1, 2, -3])
    ([1, 2, 3], [])
    """
    results: list[R | None] = [None] * len(items)
    errors: list[tuple[int, UsageError]] = []
    bar = tqdm(total=len(items), desc=desc, unit="case", disable=not progress, leave=False)
    try:
        if jobs <= 1 or len(items) <= 1:
            for i, item in enumerate(items):
                try:
                    results[i] = fn(item)
                except UsageError as exc:
                    errors.append((i, exc))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(items)), initializer=_init_worker) as pool:
                futures: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        results[i] = future.result()
                    except UsageError as exc:
                        errors.append((i, exc))
                    bar.update()
    finally:
        bar.close()
    return results, sorted(errors, key=lambda e: e[0])
