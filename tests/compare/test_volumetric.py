"""3D in ``compare`` (issue #21): patch batches with exact foreground oversampling, sliding-window prediction equal to
whole-volume prediction where a volume fits one window, physical distances, one initial model per seed, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from segbench import scoring
from segbench.compare import config, volumetric
from segbench.compare.runner import prepare, run_compare
from segbench.compare.train import SplitData, TrainSettings, predict_with_probabilities
from segbench.data.errors import DatasetError
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files.run_folder import read_cases
from segbench.models import build_model

TINY3D: dict[str, Any] = {
    "dataset": {"spec": "synthetic3d", "image_size": "native",
                "options": {"num_volumes": 6, "size": [8, 16, 16], "foreground_fraction": 0.05}},
    "model": {"width": 2, "depth": 2},
    "train": {"max_steps": 4, "eval_every": 2, "patience": "none", "batch_size": 2, "seeds": 1, "num_threads": 1,
              "device": "cpu", "patch_size": [8, 8, 8]},
    "losses": {"specs": ["ce", "dice"]},
    "eval": {"metrics": ["dice", "hd95", "assd", "nsd"]},
}


def _settings(**kw: Any) -> TrainSettings:
    base: dict[str, Any] = {"batch_size": 3, "lr": 1e-3, "weight_decay": 0.0, "augment": False,
                            "select": "last", "device": torch.device("cpu"), "num_classes": 2, "background": 0,
                            "patch": (4, 6, 6), "foreground_share": 1 / 3}
    return TrainSettings(**{**base, **kw})


def _one_voxel_cases(n: int = 7, shape: tuple[int, int, int] = (12, 24, 24)) -> SplitData:
    """``n`` cases, each with one foreground voxel at a random place (a uniform patch rarely holds it)."""
    rng = np.random.default_rng(5)
    masks = torch.zeros(n, *shape, dtype=torch.long)
    for k in range(n):
        masks[k][tuple(int(rng.integers(s)) for s in shape)] = 1
    return SplitData(torch.rand(n, 1, *shape, generator=torch.Generator().manual_seed(0)), masks)


def test_patch_batches_centre_the_stated_share_of_each_batch_on_foreground() -> None:
    data = _one_voxel_cases()
    batches = [volumetric.patch_batch(data, _settings(), seed=0, step=t) for t in range(1, 6)]
    assert all(tuple(x.shape) == (3, 1, 4, 6, 6) for x, _ in batches)
    # round(3 / 3) = 1 foreground patch per batch: the last one holds its case's voxel, the uniform ones do not
    assert [[int(y[k].sum()) for k in range(3)] for _, y in batches] == [[0, 0, 1]] * 5
    everything = [volumetric.patch_batch(data, _settings(foreground_share=1.0), 0, t) for t in range(1, 6)]
    assert all(int(y.sum()) == len(y) for _, y in everything)  # every patch holds its case's voxel
    two = volumetric.patch_batch(data, _settings(batch_size=2, foreground_share=0.5), 0, 1)[1]
    assert [int(two[k].sum()) for k in range(2)] == [0, 1]  # round(0.5 * 2) = 1


def test_patch_batches_are_the_same_for_every_loss_of_a_seed_and_differ_across_seeds_and_steps() -> None:
    data = _one_voxel_cases()

    def drawn(seed: int, step: int) -> torch.Tensor:
        return volumetric.patch_batch(data, _settings(augment=True), seed, step)[0]

    assert torch.equal(drawn(0, 1), drawn(0, 1))
    assert not torch.equal(drawn(0, 1), drawn(1, 1)) and not torch.equal(drawn(0, 1), drawn(0, 2))


def test_a_patch_larger_than_the_volume_is_padded_with_ignore_index() -> None:
    masks = torch.ones(2, 2, 4, 4, dtype=torch.long)
    data = SplitData(torch.ones(2, 1, 2, 4, 4), masks)
    settings = _settings(batch_size=2, patch=(4, 4, 4), ignore_index=255)
    images, labels = volumetric.patch_batch(data, settings, 0, 1)
    assert images.shape == (2, 1, 4, 4, 4) and float(images.sum()) == 2 * 2 * 16  # zeros outside
    assert sorted(labels.unique().tolist()) == [1, 255] and int((labels == 1).sum()) == 2 * 2 * 16


@pytest.mark.parametrize("patch", [(6, 8, 8), (8, 16, 16)])
def test_sliding_window_prediction_equals_whole_volume_prediction_where_the_volume_fits_one_window(
        patch: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model("unet", in_channels=1, out_channels=3, width=2, depth=2, spatial_dims=3)
    images = torch.rand(3, 1, 6, 8, 8)
    whole = predict_with_probabilities(model, images, _settings(num_classes=3, patch=None))
    windowed = predict_with_probabilities(model, images, _settings(num_classes=3, patch=patch))
    assert torch.equal(whole[0], windowed[0]) and torch.equal(whole[1], windowed[1])
    tiled = predict_with_probabilities(model, images, _settings(num_classes=3, patch=(4, 4, 4)))
    assert tiled[1].shape == whole[1].shape and not torch.equal(tiled[1], whole[1])  # really windowed


def test_patch_size_must_fit_the_data_and_volumes_are_not_resized() -> None:
    with pytest.raises(UsageError, match=r"\[train\] patch_size must be a list of 2 \(2D\) or 3"):
        config.resolve({"train": {"patch_size": [8]}})
    with pytest.raises(UsageError, match=r"\[train\] foreground_share must lie in \[0, 1\]"):
        config.resolve({"train": {"foreground_share": 1.5}})
    with pytest.raises(UsageError, match=r"\[eval\] window_overlap must lie in \[0, 1\)"):
        config.resolve({"eval": {"window_overlap": 1.0}})
    flat = {**TINY3D, "train": {**TINY3D["train"], "patch_size": [8, 8]}}
    with pytest.raises(UsageError, match=r"patch_size \[8, 8\] has 2 sizes for 3D data"):
        prepare(config.resolve(flat))
    with pytest.raises(DatasetError, match="volumes are not resized"):
        prepare(config.resolve({**TINY3D, "dataset": {**TINY3D["dataset"], "image_size": 16}}))
    whole = {**TINY3D, "train": {k: v for k, v in TINY3D["train"].items() if k != "patch_size"}}
    with pytest.raises(UsageError, match=r"3D data trains on patches: set \[train\] patch_size"):
        prepare(config.resolve(whole))


@pytest.mark.slow
def test_3d_compare_trains_3d_models_from_one_initial_state_and_scores_in_millimetres(tmp_path: Path) -> None:
    exp = prepare(config.resolve(TINY3D))
    assert exp.spatial_dims == 3 and exp.spacing == (2.5, 0.8, 0.8)
    out = tmp_path / "run"
    rows = run_compare(exp, out, quiet=True)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["spacing"] == [2.5, 0.8, 0.8] and dataset["image_size"] == [8, 16, 16]
    done = {m: json.loads((out / "runs" / m / "seed0" / "done.json").read_text()) for m in ("ce", "dice")}
    assert done["ce"]["init_sha256"] == done["dice"]["init_sha256"]  # identical initial weights per seed
    weights = torch.load(out / "runs" / "ce" / "seed0" / "best.pt", weights_only=True)
    assert any(w.ndim == 5 for w in weights.values())  # Conv3d kernels: the model is 3D
    test = np.load(out / "predictions" / "test_data.npz")  # volumes: one member per case, in ids order
    saved = np.load(out / "predictions" / "ce_seed0.npz")
    assert list(saved["ids"]) == list(test["ids"]) == exp.ids["test"]
    pred = np.stack(read_cases(out / "predictions" / "ce_seed0.npz", "pred"))
    targets = np.stack(read_cases(out / "predictions" / "test_data.npz", "targets"))
    assert pred.shape == targets.shape == (2, 8, 16, 16) and test["images_0"].shape == (1, 8, 16, 16)
    mine = {(r["image"], r["metric"]): float(r["value"]) for r in rows if r["model"] == "ce"}
    for spacing, same in (((2.5, 0.8, 0.8), True), (None, False)):
        again = scoring.score_label_maps(torch.from_numpy(pred.astype(np.int64)),
                                         torch.from_numpy(targets.astype(np.int64)), num_classes=2,
                                         image_ids=[str(i) for i in test["ids"]], spacing=spacing,
                                         metrics=["hd95", "assd"])
        matches = [np.isclose(mine[(r["image"], r["metric"])], r["value"]) for r in again
                   if np.isfinite(r["value"]) and r["value"] > 0]
        assert matches and all(matches) == same  # distances in mm, not voxels
    from segbench.report.build import build_report

    build_report(out, quiet=True)  # the report builds from a 3D run (each volume shown by its fullest slice)
    assert (out / "report.html").stat().st_size > 0 and (out / "summary.md").exists()


# Runs the tiny 3D experiment in a child process that SIGKILLs itself right after its Nth ``state.pt`` write.
CHILD = """
import json, os, signal, sys
from segbench.compare import config, runner, train
cfg = config.resolve(json.loads(sys.argv[1]))
kill_after, writes = int(sys.argv[3]), [0]
original = train.io.write_torch
def write_torch(path, obj):
    original(path, obj)
    if path.name == "state.pt":
        writes[0] += 1
        if writes[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
train.io.write_torch = write_torch
runner.run_compare(runner.prepare(cfg), runner.Path(sys.argv[2]), quiet=True)
"""


@pytest.mark.slow
def test_a_killed_3d_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    tiny = {**TINY3D, "train": {**TINY3D["train"], "max_steps": 6, "augment": True}}
    cfg = config.resolve(tiny)
    clean = tmp_path / "clean"
    run_compare(prepare(cfg), clean, quiet=True)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(tiny), str(killed), "5"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (killed / "runs" / "ce" / "seed0" / "done.json").exists()
    assert not (killed / "runs" / "dice" / "seed0" / "done.json").exists()  # killed after evaluation 2 of 3
    run_compare(prepare(cfg), killed, quiet=True)
    for name in ("results/per_image.csv", "results/dataset_level.csv"):
        assert (killed / name).read_text() == (clean / name).read_text(), name
    assert ([r["val_loss"] for r in io.read_csv(killed / "history.csv")]
            == [r["val_loss"] for r in io.read_csv(clean / "history.csv")])


def test_under_two_ranks_each_takes_its_contiguous_share_of_the_global_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _one_voxel_cases(n=5)
    settings = _settings(augment=True)
    for step in (1, 2):
        x, y = volumetric.patch_batch(data, settings, 0, step)  # one process: the global batch of 3
        monkeypatch.setattr(volumetric.distributed, "world_size", lambda: 2)
        shares = []
        for r in (0, 1):
            monkeypatch.setattr(volumetric.distributed, "rank", lambda r=r: r)
            shares.append(volumetric.patch_batch(data, settings, 0, step))
        monkeypatch.setattr(volumetric.distributed, "world_size", lambda: 1)
        monkeypatch.setattr(volumetric.distributed, "rank", lambda: 0)
        assert [len(s[0]) for s in shares] == [2, 1]  # tensor_split, as the 2D batches
        assert torch.equal(torch.cat([s[0] for s in shares]), x) and torch.equal(torch.cat([s[1] for s in shares]), y)


def test_every_split_of_volumes_is_read_per_case_and_at_most_keep_are_held() -> None:
    more = {**TINY3D, "dataset": {**TINY3D["dataset"], "options": {**TINY3D["dataset"]["options"], "num_volumes": 12}}}
    exp = prepare(config.resolve(more))
    train = exp.splits["train"]
    assert isinstance(train.images, volumetric.CaseArray) and isinstance(train.masks, volumetric.CaseArray)
    assert len(train) > train.images.reader.keep
    assert all(isinstance(exp.splits[s].images, volumetric.CaseArray) for s in ("val", "test"))  # none stacked
    reader = train.images.reader
    settings = _settings(batch_size=2, patch=(8, 8, 8))
    reads = reader.reads
    batches = [volumetric.patch_batch(train, settings, 0, t) for t in range(1, 8)]
    assert sum(len(x) for x, _ in batches) == 14
    assert len(reader._held) <= reader.keep and reader.reads > reads
    counts = volumetric.CaseArray.class_counts(train.masks, 2)
    eager = torch.stack([train.masks[k] for k in range(len(train))])
    assert counts.tolist() == torch.bincount(eager.reshape(-1), minlength=2).tolist()


def test_case_reader_keeps_only_the_most_recent_cases() -> None:
    from segbench.data import load_dataset

    data = load_dataset("synthetic3d", "all", options={"size": [4, 8, 8], "num_volumes": 6})
    reader = volumetric.CaseReader(data, keep=2)
    for k in (0, 1, 0, 2, 3):
        reader(k)
    assert list(reader._held) == [2, 3] and reader.reads == 4  # the second 0 was held; 0 and 1 then left
    assert torch.equal(reader(0)[1], data[0][1])
