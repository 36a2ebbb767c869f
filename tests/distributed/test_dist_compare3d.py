"""``segbench compare`` in 3D under torchrun with 2 gloo CPU processes (issue #21): patch batches dealt over the
ranks, sliding-window validation and test on each rank's share, one set of results with distances in mm, and a
run killed mid-training resumes to exactly the numbers of the uninterrupted 2-process run."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist

from segbench import scoring
from segbench.files import atomic as io
from segbench.files.run_folder import read_cases

pytestmark = [pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable"), pytest.mark.slow]

TOML = """
[dataset]
spec = "synthetic3d"
image_size = "native"
options = { num_volumes = 7, size = [8, 16, 16], foreground_fraction = 0.05 }

[model]
width = 2
depth = 2

[train]
max_steps = 6
eval_every = 2
patience = "none"
batch_size = 3
seeds = 1
num_threads = 2
device = "cpu"
patch_size = [8, 8, 8]
augment = true

[losses]
specs = ["ce", "dice"]

[eval]
metrics = ["dice", "hd95", "assd", "nsd"]
"""


@pytest.fixture(scope="module")
def uninterrupted(launcher: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("torchrun3d")
    (root / "tiny.toml").write_text(TOML)
    finished = launcher.torchrun(["-m", "segbench", "compare", "tiny.toml", "--out", "run", "-q", "--no-report"],
                                 cwd=root)
    assert finished.codes == [0], finished.log
    return root / "run", finished.outputs[0]


def test_two_process_3d_compare_writes_one_set_of_results_in_millimetres(uninterrupted: tuple[Path, str]) -> None:
    run, output = uninterrupted
    assert output.count("segbench compare: synthetic3d") == 1
    rows = io.read_csv(run / "results" / "per_image.csv")
    keys = collections.Counter((r["model"], r["image"], r["class"], r["metric"]) for r in rows)
    assert max(keys.values()) == 1
    test = np.load(run / "predictions" / "test_data.npz")
    images = [str(i) for i in test["ids"]]
    assert {(m, i) for (m, i, _, _) in keys} == {(m, i) for m in ("ce", "dice", "all-background", "all-foreground",
                                                                  "majority-class") for i in images}
    done = json.loads((run / "runs" / "dice" / "seed0" / "done.json").read_text())
    assert done["world_size"] == 2
    pred = np.stack(read_cases(run / "predictions" / "dice_seed0.npz", "pred"))  # gathered case by case
    targets = np.stack(read_cases(run / "predictions" / "test_data.npz", "targets"))
    assert pred.shape == targets.shape == (len(images), 8, 16, 16)
    again = scoring.score_label_maps(torch.from_numpy(pred.astype(np.int64)),
                                     torch.from_numpy(targets.astype(np.int64)), num_classes=2,
                                     image_ids=images, spacing=(2.5, 0.8, 0.8), metrics=["hd95"])
    mine = {r["image"]: float(r["value"]) for r in rows if r["model"] == "dice" and r["metric"] == "hd95"}
    assert all(np.isclose(mine[r["image"]], r["value"]) or mine[r["image"]] == r["value"] for r in again)


def test_killed_two_process_3d_run_resumes_to_the_same_numbers(launcher: Any, tmp_path: Path,
                                                               uninterrupted: tuple[Path, str]) -> None:
    (tmp_path / "tiny.toml").write_text(TOML)
    killed = launcher.launch([str(launcher.worker), str(tmp_path), "compare_killed_after_2"], world=2)
    assert killed.codes[0] == -9 and killed.codes[1] != 0, killed.log
    run = tmp_path / "run"
    assert (run / "runs" / "ce" / "seed0" / "state.pt").exists()
    assert not (run / "runs" / "ce" / "seed0" / "done.json").exists()
    resumed = launcher.launch([str(launcher.worker), str(tmp_path), "compare"], world=2)
    assert resumed.codes == [0, 0], resumed.log
    reference = uninterrupted[0]
    for name in ("results/per_image.csv", "results/dataset_level.csv"):
        assert (run / name).read_text() == (reference / name).read_text(), name
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_csv(run / "history.csv")]
    assert history == [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_csv(reference / "history.csv")]
