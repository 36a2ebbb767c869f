"""One rank of the distributed tests: ``python worker_tasks.py OUT TASK [TASK ...]`` (under torchrun's variables).

Joins the process group once (:func:`segbench.distributed.session`), runs each task and pickles what it
returns to ``OUT/<task>.rank<r>.pkl``. The fixed data the tasks score live here, so that the tests compute the
one-process answers from the very same data (they load this file by path).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segbench import cli, distributed
from segbench.compare import train
from segbench.compare.train import SplitData, TrainSettings, validate

C = 3
NAMES = ["background", "cell", "debris"]
IDS = [f"img{i}" for i in range(5)]
OPTIONS: dict[str, Any] = {"num_classes": C, "class_names": NAMES, "nsd_tolerance": 1.0, "ignore_index": 255}


def score_data() -> tuple[torch.Tensor, torch.Tensor]:
    """5 label maps 16x16 of 3 classes with ignored pixels; image 3 has class 2 empty in target and prediction
    (NaN scores), image 4 misses class 1 (inf distances)."""
    g = torch.Generator().manual_seed(3)
    target = torch.zeros(5, 16, 16, dtype=torch.long)
    pred = torch.zeros(5, 16, 16, dtype=torch.long)
    for i in range(5):
        r, c = torch.randint(2, 8, (2,), generator=g).tolist()
        target[i, r : r + 5, c : c + 6] = 1
        pred[i, r + 1 : r + 6, c : c + 5] = 1
        target[i, 10:13, 10:14] = 2
        pred[i, 11:14, 9:13] = 2
    target[3, 10:13, 10:14] = 0
    pred[3, 11:14, 9:13] = 0
    pred[4][pred[4] == 1] = 0
    target[:, 0, :3] = 255
    return pred, target


class FixedModel(nn.Module):
    """Logits that predict the image's square shifted by one pixel (nothing to train)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.where(images[:, :1] > 0.5, 3.0, -3.0).roll(1, dims=-1)


class PixelBCE(nn.Module):
    """Mean binary cross-entropy over the pixels of the batch."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target.float())


def val_data() -> SplitData:
    """7 random binary masks 12x12 (the images are the masks)."""
    g = torch.Generator().manual_seed(1)
    masks = (torch.rand(7, 12, 12, generator=g) > 0.7).long()
    return SplitData(masks[:, None].float(), masks)


VAL_SETTINGS = TrainSettings(epochs=1, batch_size=2, lr=1e-3, weight_decay=0.0, augment=False,
                             select="best-val-dice", device=torch.device("cpu"), num_classes=2, background=0)


def _score(n: int) -> Any:
    pred, target = score_data()
    share = distributed.shard_indices(n)
    return share, distributed.score_shards(pred[share], target[share], share, IDS[:n], **OPTIONS)


def run_task(task: str, out: Path) -> Any:
    """Run one task on this rank and return what the test checks."""
    if task == "score":
        return _score(5)
    if task == "score_two":  # fewer images than ranks: a rank with nothing to score
        return _score(2)
    if task == "validate":
        return validate(FixedModel(), PixelBCE(), val_data(), VAL_SETTINGS)
    if task.startswith("compare_killed_after_"):  # rank 0 SIGKILLs itself after its Nth state.pt write
        kill_after, writes = int(task.rsplit("_", 1)[1]), [0]
        original = train.io.write_torch

        def write_torch(path: Path, obj: Any) -> Path:
            written = original(path, obj)
            if path.name == "state.pt":
                writes[0] += 1
                if writes[0] == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
            return written

        train.io.write_torch = write_torch  # type: ignore[assignment]
        return cli.main(["compare", str(out / "tiny.toml"), "--out", str(out / "run"), "-q", "--no-report"])
    if task == "compare":
        return cli.main(["compare", str(out / "tiny.toml"), "--out", str(out / "run"), "-q", "--no-report"])
    if task.startswith("evaluate"):  # evaluate_<pred folder name>: the CLI, rank 0 writes OUT/<name>.csv
        name = task.split("_", 1)[1]
        return cli.main(["evaluate", "--pred", str(out / name), "--truth", str(out / "truth"),
                         "--out", str(out / f"{name}.csv"), "--no-progress"])
    raise ValueError(f"unknown task {task!r}")


def main(argv: list[str]) -> int:
    """Join the group, run the tasks, pickle their results."""
    out, tasks = Path(argv[0]), argv[1:]
    with distributed.session():
        for task in tasks:
            result = (distributed.world_size(), distributed.rank(), run_task(task, out))
            with open(out / f"{task}.rank{distributed.rank()}.pkl", "wb") as handle:
                pickle.dump(result, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
