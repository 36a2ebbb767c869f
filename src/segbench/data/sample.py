"""``sample``: the bundled dataset, the default of every command.

48 real fluorescence and brightfield microscopy images of cell nuclei from the 2018 Data Science Bowl
(BBBC038v1, CC0; Caicedo et al., Nature Methods 2019), greyscale, resized to 96x96, with the binary
target "nucleus" (the union of the instance masks). It lives in ``segbench/data/sample/`` as
``images/*.png``, ``masks/*.png`` (0 background, 255 nucleus), ``instances/*.png`` (16-bit nucleus ids,
0 background: the true instances, which the binary mask merges where nuclei touch), ``split.json`` (the fixed
train/val/test stems) and ``ATTRIBUTION.md``; ``scripts/build_sample.py`` rebuilds it from the source subset.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.files.images import read_mask

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
OPTIONS = {"image_size": "resize to this (int or [H, W]; default: the stored 96x96)"}


def load_sample(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of the bundled nuclei sample: 1 grey channel, classes ``background, nucleus``."""
    from segbench.data.folder import load_folder  # here, so that "sample" registers (and lists) first

    check_options("sample", request.options, OPTIONS)
    if not (SAMPLE_DIR / "split.json").is_file():
        raise DatasetError(f"{request.name}: the bundled sample is missing from {SAMPLE_DIR} (a broken install?)")
    options = {"mapping": {0: 0, 255: 1}, "channels": 1, "class_names": ["background", "nucleus"]}
    dataset = load_folder(replace(request, path=SAMPLE_DIR, options=options))
    dataset.instance_loader = read_instances
    return dataset


def read_instances(stem: str) -> np.ndarray:
    """The bundled instance map of ``stem``, ``(96, 96)`` int64 nucleus ids (0 = background).

    Args:
        stem: an image stem of the sample (``dataset.ids``).
    """
    path = SAMPLE_DIR / "instances" / f"{stem}.png"
    if not path.is_file():
        raise DatasetError(f"sample: no instance map {path.name} in {path.parent} (a broken install?)")
    return read_mask(path)


register_dataset("sample", load_sample, needs_path=False,
                 description="sample: the bundled 48-image DSB 2018 nuclei subset, 96x96 grey, binary (the default)")
