"""segbench.data: datasets named by one spec string, and the paired transforms.

``load_dataset(spec, split, image_size=..., options=..., augment=..., seed=...)`` returns a
:class:`SegmentationDataset` of ``(image, mask)`` pairs: ``image`` float32 ``(C, H, W)`` with values in
``[0, 1]`` (not standardised), ``mask`` int64 ``(H, W)`` class labels (or ``ignore_index``).
Specs: ``sample`` (bundled nuclei, the default), ``synthetic``, ``pets:PATH``, ``folder:PATH``.
Every user-facing data problem raises :class:`DatasetError` (a ``ValueError``) naming the spec or file.
"""

from __future__ import annotations

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError
from segbench.data.spec import DatasetSpec, available_kinds, load_dataset, parse_spec
from segbench.data.transforms import random_flip, resize_image, resize_mask

__all__ = [
    "DatasetError",
    "DatasetSpec",
    "SegmentationDataset",
    "available_kinds",
    "load_dataset",
    "parse_spec",
    "random_flip",
    "resize_image",
    "resize_mask",
]
