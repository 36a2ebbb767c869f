"""The device placement of concurrent runs (#26): threads split, GPUs round robin, never more per GPU than allowed."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segbench.errors import UsageError
from segbench.schedule import Placement, gpu_fraction, place, threads_each


def test_cpu_slots_share_the_threads() -> None:
    assert place(2, num_threads=1) == (Placement("cpu", 1), Placement("cpu", 1))
    assert place(3, num_threads=8) == (Placement("cpu", 2),) * 3
    assert place(1, num_threads=4) == (Placement("cpu", 4),)


def test_gpu_slots_round_robin_and_runs_per_gpu() -> None:
    assert [p.device for p in place(2, gpus=2)] == ["cuda:0", "cuda:1"]
    assert [p.device for p in place(4, gpus=2, runs_per_gpu=2)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [p.device for p in place(1, gpus=4)] == ["cuda:0"]
    with pytest.raises(UsageError, match="does not fit 2 GPU"):
        place(3, gpus=2, runs_per_gpu=1)


def test_bad_counts() -> None:
    with pytest.raises(UsageError, match="--jobs must be >= 1"):
        place(0)
    with pytest.raises(UsageError, match="runs_per_gpu"):
        place(1, runs_per_gpu=0)
    with pytest.raises(ValueError, match="runs_per_gpu"):
        gpu_fraction(0)
    assert gpu_fraction(3) == pytest.approx(1 / 3)


@given(jobs=st.integers(1, 64), threads=st.integers(1, 256), gpus=st.integers(0, 8), per=st.integers(1, 8))
def test_every_slot_gets_its_share_and_no_gpu_is_overfilled(jobs: int, threads: int, gpus: int, per: int) -> None:
    if gpus and jobs > gpus * per:
        with pytest.raises(UsageError):
            place(jobs, gpus=gpus, runs_per_gpu=per, num_threads=threads)
        return
    slots = place(jobs, gpus=gpus, runs_per_gpu=per, num_threads=threads)
    assert len(slots) == jobs
    assert all(p.threads == threads_each(threads, jobs) >= 1 for p in slots)
    assert sum(p.threads for p in slots) <= max(threads, jobs)  # the budget, or one thread each
    use = Counter(p.device for p in slots)
    if gpus == 0:
        assert set(use) == {"cpu"}
    else:
        assert set(use) == {f"cuda:{k}" for k in range(min(jobs, gpus))}  # spread before doubling up
        assert max(use.values()) - min(use.values()) <= 1 and max(use.values()) <= per
