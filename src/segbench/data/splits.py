"""Deterministic train/val/test splits of image stems, and ``split.json`` files.

A split never depends on the run seed: every training seed sees the same images. Fractions are rounded
half up, the permutation is ``numpy.random.default_rng(split_seed)`` over the sorted stems, and each split
is returned sorted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from segbench.data.errors import DatasetError

Split = Literal["train", "val", "test", "all"]
SPLITS: tuple[str, ...] = get_args(Split)


def check_split(split: str) -> str:
    """``split`` if it is one of ``train``, ``val``, ``test``, ``all``; else :class:`DatasetError`.

    >>> check_split("val")
    'val'
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    return split


def _count(n: int, fraction: float) -> int:
    return math.floor(n * fraction + 0.5)


def carve(stems: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split ``stems`` into ``(rest, carved)`` with ``round(len * fraction)`` carved out at random.

    >>> carve([f"s{i}" for i in range(10)], 0.2)
    (['s0', 's1', 's2', 's3', 's5', 's7', 's8', 's9'], ['s4', 's6'])
    """
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"split fraction must be in [0, 1), got {fraction!r}")
    ordered = sorted(stems)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n = _count(len(ordered), fraction)
    carved = {ordered[k] for k in order[:n]}
    return [s for s in ordered if s not in carved], [s for s in ordered if s in carved]


def split_stems(
    stems: Sequence[str],
    split: str,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> list[str]:
    """The stems of ``split``: test takes ``round(n * test_fraction)``, val ``round(n * val_fraction)``.

    >>> stems = [f"s{i}" for i in range(20)]
    >>> [len(split_stems(stems, s)) for s in ("train", "val", "test", "all")]
    [12, 3, 5, 20]
    """
    check_split(split)
    if split == "all":
        return sorted(stems)
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be >= 0 and sum to < 1"
        )
    ordered = sorted(stems)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_test, n_val = _count(len(ordered), test_fraction), _count(len(ordered), val_fraction)
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    return sorted(ordered[k] for k in parts[split])


def read_split_file(path: Path, stems: Sequence[str]) -> dict[str, list[str]]:
    """Read ``{"train": [...], "val": [...], "test": [...]}`` from ``path``; lists must be disjoint stems."""
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # (RecursionError: absurdly nested JSON)
        raise DatasetError(f"cannot read split file {path}: {exc}") from exc
    if not isinstance(content, dict) or set(content) != {"train", "val", "test"}:
        raise DatasetError(f"split file {path} must map exactly 'train', 'val', 'test' to lists of stems")
    known, seen = set(stems), set[str]()
    result: dict[str, list[str]] = {}
    for name, listed in content.items():
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            raise DatasetError(f"split file {path}: {name!r} must be a list of stems")
        missing = sorted(set(listed) - known)
        if missing:
            raise DatasetError(f"split file {path}: {name!r} names stems with no image/mask pair: {missing[:5]}")
        if seen & set(listed):
            raise DatasetError(f"split file {path}: stems in two splits: {sorted(seen & set(listed))[:5]}")
        seen |= set(listed)
        result[name] = sorted(listed)
    return result
