"""``segbench compare`` under torchrun with 2 gloo CPU processes on tiny synthetic data.

It finishes and writes exactly one set of results (every model, seed, image and metric once; one printed
table); a run killed mid-training resumes to exactly the numbers of the uninterrupted 2-process run (same world
size and seed: deterministic), and the rank that loses its peer stops instead of waiting forever.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch.distributed as dist

from segbench import scoring
from segbench.compare.calibrate import scaled_metrics
from segbench.files import atomic as io

pytestmark = [pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable"), pytest.mark.slow]

def _tiny(compare_toml: Callable[..., str]) -> str:
    """The experiment both runs share: 14 images, 3 epochs, 2 losses, 2 threads."""
    return compare_toml(num_images=14, epochs=3, num_threads=2, specs=["ce", "dice"])


MODELS = {"ce", "dice", "all-background", "all-foreground", "majority-class"}


@pytest.fixture(scope="module")
def uninterrupted(launcher: Any, tmp_path_factory: pytest.TempPathFactory,
                  compare_toml: Callable[..., str]) -> tuple[Path, str]:
    """The tiny comparison run by the real launcher: ``torchrun --standalone --nproc_per_node 2 -m segbench``."""
    root = tmp_path_factory.mktemp("torchrun")
    (root / "tiny.toml").write_text(_tiny(compare_toml))
    finished = launcher.torchrun(["-m", "segbench", "compare", "tiny.toml", "--out", "run", "-q", "--no-report"],
                                 cwd=root)
    assert finished.codes == [0], finished.log
    return root / "run", finished.outputs[0]


def test_two_process_compare_writes_one_set_of_results(uninterrupted: tuple[Path, str]) -> None:
    run, output = uninterrupted
    assert output.count("segbench compare: synthetic") == 1 and "2 processes" in output  # rank 0 prints once
    rows = io.read_csv(run / "results" / "per_image.csv")
    keys = collections.Counter((r["model"], r["seed"], r["image"], r["class"], r["metric"]) for r in rows)
    assert max(keys.values()) == 1  # no duplicate rows
    images = [str(i) for i in np.load(run / "predictions" / "test_data.npz")["ids"]]
    scored = {(c, m) for (_, _, _, c, m) in keys}
    # every default metric once: of the foreground class, or of "all" (pixel and balanced accuracy, ECE, Brier,
    # NLL, over-confidence): the probability metrics are scored from each rank's share of the test probabilities;
    # and the four calibration metrics again after temperature scaling (ece_ts ...)
    defaults = scoring.check_metric_names(None, probabilities=True)
    assert len(scored) == len(scaled_metrics(defaults)) == len(defaults) + 4 == 33
    assert ("all", "ece") in scored and any(m == "dsb_score" and c != "all" for c, m in scored)
    expected = {(model, "0", image, c, m) for model in MODELS for image in images for (c, m) in scored}
    assert set(keys) == expected  # every model, seed and image
    assert [r["image"] for r in rows if r["model"] == "ce" and r["metric"] == "dice"] == images  # image order
    pooled = io.read_csv(run / "results" / "dataset_level.csv")
    # 10 count metrics and 9 probability metrics (ECE, Brier, NLL, over-confidence, their _ts twins, AP) per model,
    # the latter from the histograms synced over the 2 ranks
    assert len(pooled) == len({(r["model"], r["class"], r["metric"]) for r in pooled}) == 5 * 19
    assert len(io.read_csv(run / "history.csv")) == 2 * 3  # 2 losses x 3 epochs, once each
    done = json.loads((run / "runs" / "dice" / "seed0" / "done.json").read_text())
    assert done["world_size"] == 2
    assert np.load(run / "predictions" / "ce_seed0.npz")["pred"].shape[0] == len(images)


def test_killed_two_process_run_resumes_to_the_same_numbers(launcher: Any, tmp_path: Path,
                                                            uninterrupted: tuple[Path, str],
                                                            compare_toml: Callable[..., str]) -> None:
    (tmp_path / "tiny.toml").write_text(_tiny(compare_toml))
    killed = launcher.launch([str(launcher.worker), str(tmp_path), "compare_killed_after_2"], world=2)
    assert killed.codes[0] == -9 and killed.codes[1] != 0, killed.log  # rank 1 stops too, no hang
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
