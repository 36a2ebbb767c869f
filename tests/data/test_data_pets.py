"""pets:PATH on the Oxford-IIIT Pet subset: label mappings, official splits, the PNG named .jpg, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segbench.data import DatasetError, load_dataset

SUBSET = "oxford-iiit-pet-subset"


def test_official_splits_with_val_carved_from_trainval(shared_data: Path) -> None:
    spec = f"pets:{shared_data / SUBSET}"
    parts = {s: load_dataset(spec, s).ids for s in ("train", "val", "test", "all")}
    assert [len(parts[s]) for s in ("train", "val", "test", "all")] == [76, 14, 90, 180]  # 90 - round(13.5)
    assert not set(parts["train"]) & set(parts["val"])
    assert not (set(parts["train"]) | set(parts["val"])) & set(parts["test"])
    trainval = (shared_data / SUBSET / "annotations" / "trainval.txt").read_text().split("\n")
    assert sorted(parts["train"] + parts["val"]) == sorted(line.split()[0] for line in trainval if line.strip())
    assert load_dataset(spec, "val", options={"split_seed": 0}).ids == parts["val"]
    assert load_dataset(spec, "val", options={"split_seed": 1}).ids != parts["val"]


def test_three_classes_label_is_trimap_minus_one(shared_data: Path) -> None:
    root = shared_data / SUBSET
    data = load_dataset(f"pets:{root}", "test")
    assert (data.num_classes, data.in_channels, data.ignore_index) == (3, 3, None)
    assert data.class_names == ["pet", "background", "border"]
    i = data.ids.index("Abyssinian_5")
    trimap = np.asarray(Image.open(root / "annotations" / "trimaps" / "Abyssinian_5.png")).astype(np.int64)
    assert torch.equal(data.raw_mask(i), torch.from_numpy(trimap - 1))


def test_border_as_ignore(shared_data: Path) -> None:
    root = shared_data / SUBSET
    data = load_dataset(f"pets:{root}", "test", image_size=(48, 64), options={"border": "ignore"})
    val = load_dataset(f"pets:{root}", "val", image_size=(48, 64), options={"border": "ignore"})
    assert (data.num_classes, data.ignore_index, data.class_names) == (2, 255, ["background", "pet"])
    i = data.ids.index("Abyssinian_5")
    trimap = np.asarray(Image.open(root / "annotations" / "trimaps" / "Abyssinian_5.png"))
    expected = np.select([trimap == 1, trimap == 2], [1, 0], default=255)
    assert torch.equal(data.raw_mask(i), torch.from_numpy(expected))
    _, mask = data[i]
    assert mask.shape == (48, 64) and set(mask.unique().tolist()) == {0, 1, 255}
    counts = val.class_counts()
    assert 0.25 < float(counts[1] / counts.sum()) < 0.45  # pet share among non-border pixels


def test_png_named_jpg_loads_as_rgb(shared_data: Path) -> None:
    root = shared_data / SUBSET
    with Image.open(root / "images" / "Abyssinian_5.jpg") as im:
        assert im.format == "PNG" and im.mode == "RGBA"
        rgb = np.asarray(im.convert("RGB"))
    data = load_dataset(f"pets:{root}", "test")
    image, _ = data.raw(data.ids.index("Abyssinian_5"))
    assert image.shape == (3, *rgb.shape[:2])
    torch.testing.assert_close(image, torch.tensor(rgb).permute(2, 0, 1).float() / 255)


def test_resized_pets_hold_only_trimap_labels(shared_data: Path) -> None:
    data = load_dataset(f"pets:{shared_data / SUBSET}", "val", image_size=40, augment=True, seed=3)
    for i in range(len(data)):
        image, mask = data[i]
        assert image.shape == (3, 40, 40) and set(mask.unique().tolist()) <= {0, 1, 2}


def _fake_pets(root: Path, stems: list[str]) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for stem in stems:
        Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(root / "images" / f"{stem}.jpg")
        trimap = rng.integers(1, 4, (6, 7), dtype=np.uint8)
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{stem}.png")
    return root


def test_without_official_lists_a_deterministic_split(tmp_path: Path) -> None:
    root = _fake_pets(tmp_path, [f"cat_{k}" for k in range(20)])
    parts = {s: load_dataset(f"pets:{root}", s).ids for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [12, 3, 5]
    assert len({stem for stems in parts.values() for stem in stems}) == 20


def test_errors_name_the_file(tmp_path: Path) -> None:
    root = _fake_pets(tmp_path, ["a_1", "a_2"])
    Image.fromarray(np.full((6, 7), 4, np.uint8)).save(root / "annotations" / "trimaps" / "a_1.png")
    data = load_dataset(f"pets:{root}", "all")
    with pytest.raises(DatasetError, match=r"trimap .*a_1\.png holds values \[4\]"):
        data[0]
    (root / "annotations" / "trainval.txt").write_text("a_1 1 1 1\na_3 1 1 1\n")
    (root / "annotations" / "test.txt").write_text("a_2 1 1 1\n")
    with pytest.raises(DatasetError, match=r"image .*images/a_3\.jpg of 'a_3' is missing"):
        load_dataset(f"pets:{root}", "train", options={"val_fraction": 0.0})
    Image.fromarray(np.full((5, 7), 1, np.uint8)).save(root / "annotations" / "trimaps" / "a_2.png")
    message = r"size mismatch: image .*a_2\.jpg is \(6, 7\) \(HxW\) but trimap .*a_2\.png"
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"pets:{root}", "test")
    with pytest.raises(DatasetError, match=r'option border must be "class" or "ignore", got \'drop\''):
        load_dataset(f"pets:{root}", "test", options={"border": "drop"})
