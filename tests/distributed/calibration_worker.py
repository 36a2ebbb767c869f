"""One rank of the distributed probability-metric test: ``python calibration_worker.py OUT`` (torchrun's
variables). Rank r of W streams images ``r, r + W, ...`` of :func:`data` one at a time, syncs, and pickles the
state and scores to ``OUT/rank<r>.pkl``; a second histogram gets data only on rank 0 (the others sync an empty
state, sized by ``num_classes``)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from segbench import distributed
from segbench.metrics import ProbabilityHistogram

C = 3
N = 7
OPTIONS: dict[str, Any] = {"n_bins": 6, "subdivisions": 5, "ignore_index": 255, "per_image": True}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """7 probability maps 3 x 9 x 10 (random, normalised over the channels) and label maps with ignored pixels.

    Not a softmax: its vectorised and scalar exp paths round differently, and which pixels take which path depends
    on the thread count, so a softmax in the single-threaded ranks and one in a multi-threaded test process can
    differ in the last bit. Normalising by a sum over 3 channels rounds the same everywhere."""
    g = torch.Generator().manual_seed(11)
    raw = torch.rand(N, C, 9, 10, generator=g) ** 2 + 1e-3
    probs = raw / raw.sum(1, keepdim=True)
    target = torch.randint(0, C, (N, 9, 10), generator=g)
    target = torch.where(torch.rand(target.shape, generator=g) < 0.1, torch.full_like(target, 255), target)
    return probs, target


def scores(h: ProbabilityHistogram) -> dict[str, Any]:
    """Every score the test compares, pooled and per image."""
    out: dict[str, Any] = {}
    for per_image in (False, True):
        out[f"ece{per_image}"] = h.calibration_error(per_image=per_image)
        out[f"mce_mass{per_image}"] = h.calibration_error(norm="max", binning="mass", kind="class-wise",
                                                          per_image=per_image, average="none")
        out[f"brier{per_image}"] = h.brier_score(per_image=per_image)
        out[f"nll{per_image}"] = h.negative_log_likelihood(per_image=per_image)
        out[f"ap{per_image}"] = h.average_precision(per_image=per_image, average="none")
        out[f"auc{per_image}"] = h.roc_auc(per_image=per_image)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    probs, target = data()
    with distributed.session():
        mine = distributed.shard_indices(N)
        h = ProbabilityHistogram(**OPTIONS)
        for i in mine:
            h.update(probs[i : i + 1], target[i : i + 1])
        h.sync()
        lonely = ProbabilityHistogram(num_classes=C, **OPTIONS)
        if distributed.rank() == 0:
            lonely.update(probs, target)
        lonely.sync()
        errors = []
        try:
            h.update(probs[:1], target[:1])
        except ValueError as e:
            errors.append(str(e))
        mismatched = ProbabilityHistogram(num_classes=C if distributed.rank() == 0 else C - 1, **OPTIONS)
        try:
            mismatched.sync()
        except ValueError as e:
            errors.append(str(e))
        result = {"world": distributed.world_size(), "mine": mine, "state": h.state(), "images": h.state(True),
                  "scores": scores(h), "lonely": scores(lonely), "errors": errors}
        with open(out / f"rank{distributed.rank()}.pkl", "wb") as handle:
            pickle.dump(result, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
