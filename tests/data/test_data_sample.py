"""The bundled nuclei sample: loads, sizes, fixed disjoint splits, foreground share, attribution."""

from __future__ import annotations

import json

import numpy as np
import torch

from segbench.data import load_dataset
from segbench.data.sample import SAMPLE_DIR


def test_splits_are_disjoint_and_cover_all_48() -> None:
    parts = {s: load_dataset("sample", s).ids for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [28, 7, 13]
    assert not set(parts["train"]) & set(parts["val"]) and not set(parts["train"]) & set(parts["test"])
    assert not set(parts["val"]) & set(parts["test"])
    assert sorted(stem for stems in parts.values() for stem in stems) == load_dataset("sample", "all").ids
    assert json.loads((SAMPLE_DIR / "split.json").read_text())["val"] == parts["val"]


def test_items_are_grey_96x96_in_unit_range_with_binary_masks() -> None:
    data = load_dataset("sample", "val")
    assert (data.num_classes, data.in_channels, data.ignore_index) == (2, 1, None)
    assert data.class_names == ["background", "nucleus"] and data.name == "sample"
    for i in range(len(data)):
        image, mask = data[i]
        assert image.dtype == torch.float32 and image.shape == (1, 96, 96)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert mask.dtype == torch.int64 and mask.shape == (96, 96)
        assert set(mask.unique().tolist()) <= {0, 1}


def test_foreground_share_is_about_13_percent() -> None:
    counts = load_dataset("sample", "all").class_counts()
    share = float(counts[1] / counts.sum())
    assert 0.12 < share < 0.14  # 12.82 % measured by scripts/build_sample.py


def test_resized_sample_keeps_labels_binary() -> None:
    image, mask = load_dataset("sample", "test", image_size=(40, 56))[0]
    assert image.shape == (1, 40, 56) and set(mask.unique().tolist()) <= {0, 1}


def test_attribution_cites_the_source() -> None:
    text = (SAMPLE_DIR / "ATTRIBUTION.md").read_text()
    assert "Caicedo" in text and "BBBC038v1" in text and "CC0" in text
    assert len(list((SAMPLE_DIR / "images").glob("*.png"))) == 48
    assert len(list((SAMPLE_DIR / "masks").glob("*.png"))) == 48
    size = sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert size < 1_000_000


def test_sample_ships_true_instances_covering_exactly_the_mask() -> None:

    for split in ("train", "val", "test"):
        data = load_dataset("sample", split)
        for i in range(len(data)):
            inst = data.instances(i)
            assert inst is not None and inst.dtype == torch.int64 and inst.shape == (96, 96)
            assert torch.equal(inst > 0, data[i][1] == 1)
    # touching nuclei: the sample holds more instances than connected components of its masks
    from scipy import ndimage

    data = load_dataset("sample", "test")
    n_inst = sum(int(data.instances(i).unique().numel()) - 1 for i in range(len(data)))
    n_comp = sum(ndimage.label(data[i][1].numpy(), np.ones((3, 3)))[1] for i in range(len(data)))
    assert n_inst > n_comp
    small = load_dataset("sample", "test", image_size=(48, 48)).instances(0)
    assert small is not None and small.shape == (48, 48)
