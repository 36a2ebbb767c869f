"""The registry of dataset kinds: each loader module registers its kind, and :func:`segbench.data.load_dataset`
dispatches a spec string (``kind`` or ``kind:PATH``) through it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from segbench.data.dataset import SegmentationDataset
from segbench.registry import Registry

__all__ = ["DATASETS", "DatasetKind", "register_dataset"]


@dataclass(frozen=True)
class DatasetKind:
    """How to load one kind: ``load(path, split, **common)`` if ``needs_path``, else ``load(split, **common)``,
    where ``common`` is ``name, options, image_size, augment, seed`` (see :func:`segbench.data.load_dataset`)."""

    load: Callable[..., SegmentationDataset]
    needs_path: bool


DATASETS: Registry[DatasetKind] = Registry("dataset kind")


def register_dataset(
    kind: str, load: Callable[..., SegmentationDataset], *, needs_path: bool, description: str
) -> DatasetKind:
    """Register the loader of ``kind`` (called once, at the end of the loader's own module).

    Args:
        kind: the spec's kind (``"folder"`` in ``folder:PATH``).
        load: the loader (see :class:`DatasetKind`).
        needs_path: whether the spec carries a path (``kind:PATH``).
        description: one line with the spec syntax, for ``segbench list datasets``.
    """
    return DATASETS.register(kind, DatasetKind(load, needs_path), description=description)
