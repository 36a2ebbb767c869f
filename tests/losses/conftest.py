"""Loss tests run single-threaded: their tensors are tiny, and on a busy 2-core machine OpenMP thread hand-offs
cost more than the work (max_pool2d on a 5x6 map: 40 ms with 2 threads vs 20 us with 1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
