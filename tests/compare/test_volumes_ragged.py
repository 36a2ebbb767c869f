"""3D compare on real-study-like data (issue #21): NIfTI cases of different shapes and voxel spacings train on
patches, predict by sliding windows, and each case's distances are scored in its own spacing (nothing resampled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch

from segbench import scoring
from segbench.compare import config, runner, volumetric
from segbench.compare.runner import prepare, run_compare
from segbench.data import load_dataset
from segbench.data.errors import DatasetError
from segbench.files import atomic as io
from segbench.files.run_folder import read_cases

# name: NIfTI (x, y, z) shape and zooms (mm); arrays are (Z, Y, X), spacing reversed
CASES = {"a": ((12, 10, 6), (0.8, 0.8, 2.5)), "b": ((16, 12, 8), (1.0, 1.0, 2.0)), "c": ((10, 14, 7), (0.7, 0.7, 3.0)),
         "d": ((11, 9, 9), (0.9, 0.9, 2.0)), "e": ((9, 13, 8), (0.6, 0.6, 3.0))}


def _write(root: Path) -> Path:
    (root / "images").mkdir(parents=True), (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for name, (shape, zooms) in CASES.items():
        lab = np.zeros(shape, np.uint8)
        lab[2:7, 2:6, 2:5] = 1  # x, y, z: a box 3 slices thick, one slice clear of the z border on each side
        image = (rng.normal(100, 20, shape) + 80 * lab).astype(np.int16)
        for folder, array in (("images", image), ("labels", lab)):
            nib.save(nib.Nifti1Image(array, np.diag([*zooms, 1.0])), root / folder / f"{name}.nii.gz")
    (root / "split.json").write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["d", "e"]}))
    return root


def _config(root: Path) -> dict[str, Any]:
    return {"dataset": {"spec": f"volumes:{root}", "image_size": "native"},
            "model": {"width": 2, "depth": 2},
            "train": {"max_steps": 4, "eval_every": 2, "patience": "none", "batch_size": 2, "seeds": 1,
                      "num_threads": 1, "device": "cpu", "patch_size": [4, 8, 8]},
            "losses": {"specs": ["ce", "dice"]}, "eval": {"metrics": ["dice", "hd", "assd"]}}


def test_each_case_keeps_its_shape_and_spacing_and_a_case_without_one_is_refused(tmp_path: Path) -> None:
    root = _write(tmp_path / "vol")
    exp = prepare(config.resolve(_config(root)))
    assert exp.spatial_dims == 3 and exp.spacing is None and exp.ids["test"] == ["d", "e"]
    assert exp.test_spacings == [(2.0, 0.9, 0.9), (3.0, 0.6, 0.6)]
    assert [tuple(s) for s in exp.splits["test"].masks.shapes] == [(9, 9, 11), (8, 13, 9)]
    assert volumetric.ragged(exp.splits["train"]) and volumetric.index_batches(exp.splits["val"], [0], 2) == [[0]]
    # a one-voxel shift along Z is, by hand, HD = that case's Z spacing exactly:
    # the shifted box's new top face lies one slice above the reference's, every other border voxel is at most
    # one slice from a reference border voxel, and the same holds the other way round
    scores = runner._TestScores(exp)
    for k in range(2):
        target = exp.splits["test"].masks[k]
        shifted = torch.roll(target, 1, dims=0)[None]
        probs = shifted[:, None].float()
        scores.add(shifted, probs, [k], probs)
    per_image, _, _ = scores.finish()
    hd = {r["image"]: r["value"] for r in per_image if r["metric"] == "hd"}
    assert hd == {"d": 2.0, "e": 3.0}
    np.save(root / "images" / "f.npy", np.zeros((4, 4, 4), np.float32))  # no header spacing among differing ones
    np.save(root / "labels" / "f.npy", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"header spacings differ .* 1 case\(s\) have none \(\['f'\]\)"):
        load_dataset(f"volumes:{root}", "all")


@pytest.mark.slow
def test_compare_trains_and_scores_volumes_of_several_shapes_each_in_its_own_spacing(tmp_path: Path) -> None:
    root = _write(tmp_path / "vol")
    exp = prepare(config.resolve(_config(root)))
    out = tmp_path / "run"
    run_compare(exp, out, quiet=True)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["image_size"] == "per case" and dataset["case_shapes"] == {"d": [9, 9, 11], "e": [8, 13, 9]}
    assert dataset["spacing"] == "per case" and dataset["case_spacing"] == {"d": [2.0, 0.9, 0.9],
                                                                            "e": [3.0, 0.6, 0.6]}
    pred = read_cases(out / "predictions" / "ce_seed0.npz", "pred")  # sliding windows over each case's own shape
    targets = read_cases(out / "predictions" / "test_data.npz", "targets")
    assert [p.shape for p in pred] == [t.shape for t in targets] == [(9, 9, 11), (8, 13, 9)]
    rows = io.read_csv(out / "results" / "per_image.csv")
    # all-foreground: both sides non-empty, so every distance is finite and depends on the spacing
    saved = {(r["image"], r["metric"]): float(r["value"]) for r in rows if r["model"] == "all-foreground"}
    full = read_cases(out / "predictions" / "all-foreground.npz", "pred")
    for k, image in enumerate(("d", "e")):
        for spacing, same in ((exp.test_spacings[k], True), (exp.test_spacings[1 - k], False)):
            again = scoring.score_label_maps(torch.from_numpy(full[k][None].astype(np.int64)),
                                             torch.from_numpy(targets[k][None].astype(np.int64)), num_classes=2,
                                             image_ids=[image], spacing=spacing, metrics=["hd", "assd"])
            assert all(np.isclose(saved[(image, r["metric"])], r["value"]) == same for r in again)
    from segbench.report.build import build_report

    build_report(out, quiet=True)  # the figures show each case's fullest slice, padded to one size
    assert (out / "report.html").stat().st_size > 0
    summary = (out / "summary.md").read_text()  # the data description says what was done with the spacings
    assert "volumes of 2 shapes (per case, Z, Y, X; e.g. d: 9 x 9 x 11; e: 8 x 13 x 9)" in summary
    assert "each case's distances in its own mm (e.g. d: 2 x 0.9 x 0.9; e: 3 x 0.6 x 0.6)" in summary
    assert "intensities normalised per volume" in summary and "nothing resampled" in summary


def test_freed_volumes_go_back_to_the_system_on_glibc() -> None:
    import platform

    assert volumetric.bound_allocator() is (platform.libc_ver()[0] == "glibc")  # and is harmless elsewhere


def test_patches_read_only_their_box_and_equal_the_crops_of_the_whole_cases(tmp_path: Path) -> None:
    from segbench.compare.train import TrainSettings

    exp = prepare(config.resolve(_config(_write(tmp_path / "vol"))))
    train = exp.splits["train"]
    reader = train.masks.reader
    assert reader.lazy
    settings = TrainSettings(batch_size=2, lr=1e-3, weight_decay=0.0, augment=True, select="last",
                             device=torch.device("cpu"), num_classes=2, background=0, patch=(8, 8, 8),
                             foreground_share=0.5)  # case a has 6 slices: its patches are padded along Z
    reads = reader.reads
    lazy = [volumetric.patch_batch(train, settings, 0, t) for t in range(1, 7)]
    assert reader.reads == reads  # no case was read whole for them
    reader.dataset.open_case = None  # the whole-case path: read each case, crop
    reader._held.clear()
    whole = [volumetric.patch_batch(train, settings, 0, t) for t in range(1, 7)]
    assert reader.reads > reads
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(lazy, whole, strict=True))
    assert all(int(y[1].sum()) > 0 for _, y in lazy)  # the second patch of each batch is centred on foreground


def test_preparing_reads_no_case_whole_and_counts_classes_from_the_labels_alone(tmp_path: Path) -> None:
    """Startup cost on a large study: each case's shape comes from its opened files (headers), the trivial
    predictors' class counts from the label files, so prepare() reads no case whole; the counts equal those of
    the whole read cases."""
    root = _write(tmp_path / "vol")
    exp = prepare(config.resolve(_config(root)))
    masks = exp.splits["train"].masks
    assert masks.reader.reads == 0  # no whole case read: neither for shapes nor for the class counts
    lazy = masks.class_counts(exp.num_classes)
    assert masks.reader.reads == 0
    whole = sum(torch.bincount(masks[k].reshape(-1), minlength=exp.num_classes) for k in range(len(masks)))
    assert masks.reader.reads == len(masks) and torch.equal(lazy, whole)
    assert [tuple(s) for s in masks.shapes] == [tuple(reversed(CASES[n][0])) for n in ("a", "b")]
