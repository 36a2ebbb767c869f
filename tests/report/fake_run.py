"""Write a small, synthetic ``segbench compare`` run folder (schema of docs/run-folder.md) without training.

Targets are discs on a small grid (a few images empty); each "trained" model's prediction is the target
eroded, dilated or shifted by a model- and seed-dependent amount, so the losses differ in a known way:
``ce`` under-segments (high precision, lower recall), ``dice`` over-segments. Scores are computed here with
plain numpy (count metrics exactly, ``hd95`` from a Euclidean distance transform) so the fixture does not
depend on :mod:`segbench.metrics`. Empty-target images give NaN overlap scores when the prediction is empty
too, and a distance ``inf`` when exactly one side is empty: the report must count both.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from segbench.files.run_folder import slug

LOSSES = ["ce", "dice", "0.5*bce + 0.5*dice", "focal", "tversky", "lovasz", "jaccard"]
TRIVIAL = ["all-background", "all-foreground", "majority-class"]


def _targets(n: int, size: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size), dtype=np.int16)
    for i in range(n):
        if i % 6 == 5:
            continue  # an empty image: no foreground at all
        for c in range(1, num_classes):
            cy, cx = rng.integers(5, size - 5, size=2)
            r = rng.uniform(2.0, 5.0)
            out[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = c
    return out


def _predict(target: np.ndarray, k: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(target, dtype=np.uint8)
    for i, t in enumerate(target):
        for c in np.unique(t):
            if c == 0:
                continue
            mask = t == c
            mode = (k + seed + i) % 4
            if k == 0:  # "ce": erodes (under-segments), sometimes misses small objects entirely
                mask = ndimage.binary_erosion(mask, iterations=1 + (i % 2))
            elif k == 1:  # "dice": dilates
                mask = ndimage.binary_dilation(mask, iterations=1)
            elif mode == 1:
                mask = np.roll(mask, 1 + seed, axis=1)
            elif mode == 2:
                mask = ndimage.binary_dilation(mask, iterations=1)
            out[i][mask] = c
        if i % 6 == 5 and (k + seed) % 3 == 1:  # a false positive on an empty image
            out[i][1:3, 1:3] = 1
        noise = rng.random(t.shape) < 0.004 * (k % 3)
        out[i][noise] = 1
    return out


def _hd95(p: np.ndarray, t: np.ndarray) -> float:
    if not p.any() and not t.any():
        return math.nan
    if not p.any() or not t.any():
        return math.inf
    bp = p & ~ndimage.binary_erosion(p)
    bt = t & ~ndimage.binary_erosion(t)
    dp = ndimage.distance_transform_edt(~bt)[bp]
    dt = ndimage.distance_transform_edt(~bp)[bt]
    return float(max(np.percentile(dp, 95), np.percentile(dt, 95)))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _counts_scores(p: np.ndarray, t: np.ndarray) -> dict[str, float]:
    tp = float((p & t).sum())
    fp = float((p & ~t).sum())
    fn = float((~p & t).sum())
    tn = float((~p & ~t).sum())
    return {
        "class_accuracy": (tp + tn) / (tp + fp + fn + tn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
    }


def _score(pred: np.ndarray, target: np.ndarray, classes: list[int], names: list[str]) -> tuple[list, list]:
    per_image, pooled = [], []
    for i in range(pred.shape[0]):
        per_image.append((i, "all", "pixel_accuracy", float((pred[i] == target[i]).mean())))
        for c in classes:
            p, t = pred[i] == c, target[i] == c
            for metric, value in _counts_scores(p, t).items():
                per_image.append((i, names[c], metric, value))
            per_image.append((i, names[c], "hd95", _hd95(p, t)))
    pooled.append(("all", "pixel_accuracy", float((pred == target).mean())))
    for c in classes:
        for metric, value in _counts_scores(pred == c, target == c).items():
            pooled.append((names[c], metric, value))
    return per_image, pooled


def _write_csv(path: Path, columns: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["nan" if isinstance(v, float) and math.isnan(v) else v for v in r])


def write_fake_run(
    root: Path,
    *,
    n_losses: int = 3,
    seeds: tuple[int, ...] = (0, 1),
    n_images: int = 16,
    size: int = 24,
    num_classes: int = 2,
    epochs: int = 4,
) -> Path:
    """Write the run folder under ``root`` and return it."""
    rng = np.random.default_rng(1234)
    names = ["background", "nucleus"]
    if num_classes != 2:
        names = ["background", *(f"class{c}" for c in range(1, num_classes))]
    binary = num_classes == 2
    classes = [1] if binary else list(range(num_classes))
    losses = LOSSES[:n_losses]
    targets = _targets(n_images, size, num_classes, rng)
    ids = [f"img_{i:03d}" for i in range(n_images)]
    images = np.clip(60 + 120 * (targets > 0) + rng.normal(0, 25, targets.shape), 0, 255).astype(np.uint8)[:, None]
    root.mkdir(parents=True, exist_ok=True)
    share = {c: float((targets == k).mean()) for k, c in enumerate(names)}
    (root / "dataset.json").write_text(json.dumps({
        "spec": "synthetic", "name": "synthetic", "num_classes": num_classes, "class_names": names,
        "background_class": "background", "binary": binary, "ignore_index": None, "in_channels": 1,
        "image_size": [size, size], "split_sizes": {"train": 20, "val": 6, "test": n_images},
        "class_share": {"train": share, "val": share, "test": share}, "majority_class": "background",
    }))
    specs = ", ".join(json.dumps(s) for s in losses)
    (root / "config.toml").write_text(
        f'[dataset]\nspec = "synthetic"\nimage_size = [{size}, {size}]\n\n[model]\nname = "unet"\nwidth = 8\n'
        f"depth = 3\nnorm = \"batch\"\n\n[train]\nepochs = {epochs}\nbatch_size = 8\nlr = 0.003\n"
        f"seeds = [{', '.join(map(str, seeds))}]\n\n[losses]\nspecs = [{specs}]\n\n"
        '[eval]\nselect = "best-val-dice"\nnsd_tolerance = 1.0\n'
    )
    pred_dir = root / "predictions"
    pred_dir.mkdir(exist_ok=True)
    np.savez_compressed(pred_dir / "test_data.npz", images=images, targets=targets, ids=np.array(ids),
                        class_names=np.array(names))
    per_rows, pooled_rows, hist_rows = [], [], []
    trivial = {
        "all-background": np.zeros_like(targets, dtype=np.uint8),
        "all-foreground": np.ones_like(targets, dtype=np.uint8),
        "majority-class": np.zeros_like(targets, dtype=np.uint8),
    }
    for seed in seeds:
        runs = [(m, "trained", _predict(targets, k, seed, rng)) for k, m in enumerate(losses)]
        runs += [(m, "trivial", p) for m, p in trivial.items()]
        for model, kind, pred in runs:
            if kind == "trained":
                np.savez_compressed(pred_dir / f"{slug(model)}_seed{seed}.npz", pred=pred, ids=np.array(ids))
            per_image, pooled = _score(pred.astype(np.int64), targets.astype(np.int64), classes, names)
            per_rows += [[model, kind, seed, ids[i], c, m, v] for i, c, m, v in per_image]
            pooled_rows += [[model, kind, seed, c, m, v] for c, m, v in pooled]
        for k, model in enumerate(losses):
            for epoch in range(1, epochs + 1):
                decay = math.exp(-epoch / (2 + k))
                hist_rows.append([model, seed, epoch, 0.2 + decay * (1 + 0.1 * k), 0.25 + decay,
                                  0.8 - 0.5 * decay - 0.02 * k, 0.7 - 0.5 * decay, 0.95 - 0.1 * decay, 1.5])
    _write_csv(root / "results" / "per_image.csv", ["model", "kind", "seed", "image", "class", "metric", "value"],
               per_rows)
    _write_csv(root / "results" / "dataset_level.csv", ["model", "kind", "seed", "class", "metric", "value"],
               pooled_rows)
    _write_csv(root / "history.csv", ["model", "seed", "epoch", "train_loss", "val_loss", "val_dice", "val_iou",
                                      "val_accuracy", "seconds"], hist_rows)
    return root


if __name__ == "__main__":  # write one for looking at: python tests/report/fake_run.py /tmp/fake_run
    import sys

    out = write_fake_run(Path(sys.argv[1]), n_losses=int(sys.argv[2]) if len(sys.argv) > 2 else 7,
                         num_classes=int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    print(out)
