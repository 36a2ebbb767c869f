"""Native-size 2D images in ``compare`` (issue #21): read per item, never held as a split (nor cached by the
dataset), of several sizes when ``[train] crop`` fits them all, with the scores of the stacked path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from segbench.compare import config, runner, volumetric
from segbench.compare.runner import prepare, run_compare
from segbench.compare.train import SplitData
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files.run_folder import read_cases


def _write(root: Path, sizes: list[tuple[int, int]]) -> Path:
    (root / "images").mkdir(parents=True), (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(sizes):
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4 : h // 2, w // 3 : w // 2 + 2] = 255
        image = np.clip(rng.normal(90, 25, (h, w)) + 0.4 * mask, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"im{k}.png")
        Image.fromarray(mask).save(root / "masks" / f"im{k}.png")
    names = [f"im{k}" for k in range(len(sizes))]
    (root / "split.json").write_text(json.dumps({"train": names[:3], "val": names[3:4], "test": names[4:]}))
    return root


def _config(root: Path, crop: Any = 16) -> dict[str, Any]:
    return {"dataset": {"spec": f"folder:{root}", "image_size": "native"}, "model": {"width": 2, "depth": 2},
            "train": {"max_steps": 4, "eval_every": 2, "patience": "none", "batch_size": 2, "seeds": 1,
                      "num_threads": 1, "device": "cpu", "crop": crop},
            "losses": {"specs": ["ce", "dice"]}, "eval": {"metrics": ["dice", "hd95", "ece"]}}


@pytest.mark.slow
def test_native_images_are_read_per_item_and_score_as_the_stacked_split(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path / "same", [(24, 32)] * 7)
    exp = prepare(config.resolve(_config(root)))
    assert all(isinstance(exp.splits[s].images, volumetric.CaseArray) for s in ("train", "val", "test"))
    data = exp.splits["train"].images.reader.dataset
    run_compare(exp, tmp_path / "lazy", quiet=True)
    assert data._cache == {}  # read per item: the dataset cached nothing
    assert [p.shape for p in read_cases(tmp_path / "lazy" / "predictions" / "ce_seed0.npz", "pred")] == [(24, 32)] * 3

    def stacked(dataset: Any, keep: int = 4) -> SplitData:  # the split as one tensor, as before
        items = [dataset[i] for i in range(len(dataset))]
        return SplitData(torch.stack([x for x, _ in items]), torch.stack([y for _, y in items]))

    monkeypatch.setattr(volumetric, "lazy_split", stacked)
    run_compare(prepare(config.resolve(_config(root))), tmp_path / "held", quiet=True)
    for name in ("per_image.csv", "dataset_level.csv"):
        lazy, held = (tmp_path / run / "results" / name for run in ("lazy", "held"))
        assert lazy.read_bytes() == held.read_bytes()


@pytest.mark.slow
def test_native_images_of_several_sizes_train_on_crops_and_are_scored_each_at_its_size(tmp_path: Path) -> None:
    sizes = [(24, 32), (20, 28), (30, 22), (26, 26), (18, 40), (28, 24), (22, 30)]
    root = _write(tmp_path / "mixed", sizes)
    with pytest.raises(UsageError, match=r"images of several sizes .* crop to at most the smallest, \[20, 22\]"):
        prepare(config.resolve(_config(root, crop=24)))
    with pytest.raises(UsageError, match=r"set \[train\] crop"):
        prepare(config.resolve(_config(root, crop="none")))
    exp = prepare(config.resolve(_config(root)))
    out = tmp_path / "run"
    run_compare(exp, out, quiet=True)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["image_size"] == "per case" and dataset["case_shapes"] == {
        "im4": [18, 40], "im5": [28, 24], "im6": [22, 30]}
    assert [p.shape for p in read_cases(out / "predictions" / "dice_seed0.npz", "pred")] == sizes[4:]
    rows = io.read_csv(out / "results" / "per_image.csv")
    assert {r["image"] for r in rows} == {"im4", "im5", "im6"}
    assert runner._test_parts(exp) == [[0], [1], [2]]  # one image per part: they cannot be stacked
    from segbench.report.build import build_report

    build_report(out, quiet=True)  # the qualitative figure pads the images to one size
    assert (out / "figures" / "qualitative.png").exists()
