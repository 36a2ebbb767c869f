"""The registry of dataset kinds: each loader module registers its kind, and :func:`segbench.data.load_dataset`
dispatches a spec string (``kind`` or ``kind:PATH``) through it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segbench.data.dataset import SegmentationDataset
from segbench.registry import Registry

__all__ = ["DATASETS", "DatasetKind", "LoadRequest", "register_dataset"]


@dataclass(frozen=True)
class LoadRequest:
    """What :func:`segbench.data.load_dataset` hands a loader: the split, the spec (``name``), the kind's
    options, the image size ``(H, W)`` (``None``: native), flips and their seed, and the spec's path."""

    split: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    image_size: tuple[int, int] | None = None
    augment: bool = False
    seed: int = 0
    path: Path | None = None

    @property
    def root(self) -> Path:
        """The spec's path (a kind with ``needs_path``); ValueError for a kind without one."""
        if self.path is None:
            raise ValueError(f"{self.name}: this dataset kind takes no path")
        return self.path


@dataclass(frozen=True)
class DatasetKind:
    """How to load one kind: ``load(request)`` with a :class:`LoadRequest`; ``needs_path``: the spec is
    ``kind:PATH``."""

    load: Callable[[LoadRequest], SegmentationDataset]
    needs_path: bool


DATASETS: Registry[DatasetKind] = Registry("dataset kind")


def register_dataset(
    kind: str, load: Callable[[LoadRequest], SegmentationDataset], *, needs_path: bool, description: str
) -> DatasetKind:
    """Register the loader of ``kind`` (called once, at the end of the loader's own module).

    Args:
        kind: the spec's kind (``"folder"`` in ``folder:PATH``).
        load: the loader (see :class:`DatasetKind`).
        needs_path: whether the spec carries a path (``kind:PATH``).
        description: one line with the spec syntax, for ``segbench list datasets``.
    """
    return DATASETS.register(kind, DatasetKind(load, needs_path), description=description)
