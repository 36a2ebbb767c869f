"""``segbench compare`` end to end: validate, load data, train every (seed, loss), score, write the run folder.

:func:`prepare` checks everything a user can get wrong (losses, metrics, dataset spec, every data file) before
anything is written, so bad input leaves no folder behind. :func:`run_compare` then trains and evaluates,
skipping finished runs and resuming interrupted ones (see ``docs/run-folder.md`` for the files). For each
seed the model is built once under ``torch.manual_seed(seed)`` and that initial state is loaded for every
loss; the trivial predictors are scored beside the trained models.

Under ``torchrun`` every rank runs this same code (:mod:`segbench.distributed`): each run trains with
DistributedDataParallel (:func:`~segbench.compare.train.train_run`), each rank predicts and scores its share of the
test images (:func:`~segbench.distributed.score_shards`: confusion counts all-reduced, per-image rows gathered to
rank 0 in image order), and only rank 0 writes the run folder; whether a run is done is rank 0's answer, sent to
all, so every rank skips or resumes the same runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from segbench import distributed, scoring, trivial
from segbench import losses as _losses
from segbench.compare import config as _config
from segbench.compare import volumetric
from segbench.compare.determinism import deterministic, initial_state, state_sha256
from segbench.compare.train import SplitData, TrainSettings, predict_with_probabilities, train_run
from segbench.data import load_dataset
from segbench.data.splits import Split
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files.run_folder import (
    DATASET_LEVEL_COLUMNS,
    HISTORY_COLUMNS,
    PER_IMAGE_COLUMNS,
    RELIABILITY_FILE,
    TRIVIAL_FOLDER,
    prediction_path,
    run_path,
    slug,
)
from segbench.metrics.probability_stream import SCORING_BINS, ProbabilityHistogram
from segbench.models import build_model

__all__ = ["Experiment", "default_out", "prepare", "run_compare"]


def default_out(spec: str) -> Path:
    """``runs/compare-<dataset>``, the dataset being the spec's last path part made file-name safe.

    >>> default_out("sample").as_posix(), default_out("pets:../shared/data/oxford-iiit-pet-subset/").as_posix()
    ('runs/compare-sample', 'runs/compare-pets-oxford-iiit-pet-subset')
    """
    kind, _, path = spec.partition(":")
    name = kind if not path else f"{kind}-{Path(path.rstrip('/')).name}"
    return Path("runs") / f"compare-{slug(name)}"


@dataclass
class Experiment:
    """A validated experiment, ready to run: config, canonical loss names, data in memory, and the voxel
    ``spacing`` (array axis order, mm; ``None``: distances in pixels) that the distance metrics are scored in."""

    config: _config.ExperimentConfig
    models: list[str]
    metrics: list[str]
    splits: dict[str, SplitData]
    ids: dict[str, list[str]]
    num_classes: int
    in_channels: int
    class_names: list[str]
    ignore_index: int | None
    name: str
    trivial: dict[str, int] = field(default_factory=dict)
    spacing: tuple[float, ...] | None = None

    @property
    def spatial_dims(self) -> int:
        """2 for images, 3 for volumes (the model is built with it)."""
        return int(self.splits["train"].masks.ndim - 1)

    @property
    def binary(self) -> bool:
        """Two classes: one sigmoid output channel."""
        return self.num_classes == 2

    @property
    def background(self) -> int:
        """Index of the background class (see :func:`segbench.trivial.background_index`)."""
        return trivial.background_index(self.class_names)


def _canonical_losses(specs: Sequence[str]) -> list[str]:
    models: list[str] = []
    for spec in specs:
        try:
            name = _losses.parse(spec).spec
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"bad loss spec {spec!r}: {exc}") from exc
        if name in models:
            raise UsageError(f"loss {spec!r} is listed twice (as {name!r}); each loss is one model")
        models.append(name)
    slugs = [slug(m) for m in models]
    if len(set(slugs)) != len(slugs) or TRIVIAL_FOLDER in slugs:
        raise UsageError(f"loss specs {models} give clashing run-folder names {slugs}; write them differently")
    return models


def _load_split(spec: str, split: Split, image_size: tuple[int, int] | None, options: Mapping[str, Any]
                ) -> tuple[Any, SplitData]:
    dataset = load_dataset(spec, split, image_size=image_size, options=options or None)
    if len(dataset) == 0:
        raise UsageError(f"dataset {spec!r} has an empty {split} split; it needs at least one image")
    if dataset.spatial_dims == 3 and split != "test":  # volumes: read per case, never the whole split at once
        return dataset, volumetric.lazy_split(dataset)
    items = [dataset[i] for i in range(len(dataset))]
    shapes = {tuple(image.shape) for image, _ in items}
    if len(shapes) != 1:
        raise UsageError(
            f"dataset {spec!r} ({split}) has images of several sizes {sorted(shapes)[:3]}; set [dataset] image_size"
        )
    images = torch.stack([image for image, _ in items])
    masks = torch.stack([mask for _, mask in items])
    found = [dataset.instances(i) for i in range(len(dataset))] if dataset.instance_loader is not None else []
    instances = torch.stack([x for x in found if x is not None]) if found else None
    return dataset, SplitData(images, masks, instances)


def prepare(config: _config.ExperimentConfig) -> Experiment:
    """Validate the resolved ``config`` and load every split into memory; raises UsageError/DatasetError."""
    models = _canonical_losses(config.losses.specs)
    try:
        metrics = scoring.check_metric_names(config.eval.metrics, probabilities=True)
    except ValueError as exc:
        raise UsageError(f"[eval] metrics: {exc}") from exc
    try:
        build_model(config.model.name, in_channels=1, out_channels=1, width=1, depth=1)
    except ValueError as exc:
        raise UsageError(f"[model] name: {exc}") from exc
    if config.train.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("[train] device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    d = config.dataset
    splits: dict[str, SplitData] = {}
    ids: dict[str, list[str]] = {}
    first: Any = None
    for split in ("train", "val", "test"):
        dataset, data = _load_split(d.spec, split, d.image_size, d.options)
        first = first or dataset
        splits[split], ids[split] = data, list(dataset.ids)
    shapes = {tuple(s.images.shape[1:]) for s in splits.values()}
    if len(shapes) != 1:
        raise UsageError(f"dataset {d.spec!r}: the splits have different image sizes {sorted(shapes)}; "
                         "set [dataset] image_size")
    config = replace(config, losses=_config.LossesConfig(tuple(models)))
    exp = Experiment(config, models, metrics, splits, ids, first.num_classes, first.in_channels,
                     list(first.class_names), first.ignore_index, first.name)
    exp.trivial = trivial.trivial_classes(_class_counts(splits["train"].masks, exp.num_classes), exp.class_names)
    exp.spacing = first.spacing
    patch = config.train.patch_size
    if patch is not None and len(patch) != exp.spatial_dims:
        raise UsageError(f"[train] patch_size {list(patch)} has {len(patch)} sizes for {exp.spatial_dims}D data "
                         f"{tuple(splits['train'].masks.shape[1:])}")
    _try_losses(exp)
    return exp


def _try_losses(exp: Experiment) -> None:
    """Call every loss once on a tiny input of the experiment's classes, so that a bad keyword value (``tversky(
    alpha=-1)``, class weights of the wrong length) is one UsageError before anything is written, not a traceback
    after the run folder has been started."""
    common = {} if exp.ignore_index is None else {"ignore_index": exp.ignore_index}
    c = 1 if exp.binary else exp.num_classes
    spatial = tuple(exp.splits["train"].masks.shape[1:])
    x = torch.zeros(1, c, *(min(s, 8) for s in spatial))
    t = torch.zeros(1, *x.shape[2:], dtype=torch.long)
    for name in exp.models:
        try:
            with torch.no_grad():
                _losses.parse(name, **common)(x, t)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"loss {name!r}: {exc}") from None


def _class_counts(masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    if isinstance(masks, volumetric.CaseArray):
        return masks.class_counts(num_classes)
    flat = masks.reshape(-1)
    return torch.bincount(flat[(flat >= 0) & (flat < num_classes)], minlength=num_classes)


def _dataset_json(exp: Experiment) -> dict[str, Any]:
    share: dict[str, dict[str, float]] = {}
    for split, data in exp.splits.items():
        counts = _class_counts(data.masks, exp.num_classes).double()
        total = float(counts.sum()) or 1.0
        share[split] = {name: round(float(counts[k]) / total, 6) for k, name in enumerate(exp.class_names)}
    return {
        "spec": exp.config.dataset.spec,
        "name": exp.name,
        "num_classes": exp.num_classes,
        "class_names": exp.class_names,
        "background_class": exp.class_names[exp.background],
        "binary": exp.binary,
        "ignore_index": exp.ignore_index,
        "in_channels": exp.in_channels,
        "image_size": list(exp.splits["test"].images.shape[2:]),
        "spatial_dims": exp.spatial_dims,
        "spacing": None if exp.spacing is None else list(exp.spacing),
        "split_sizes": {split: len(data) for split, data in exp.splits.items()},
        "class_share": share,
        "majority_class": exp.class_names[exp.trivial["majority-class"]],
        "trivial_classes": {k: exp.class_names[v] for k, v in exp.trivial.items()},
    }


def _claim_folder(out: Path, config: _config.ExperimentConfig) -> None:
    """Write ``config.toml`` (rank 0), or check that the existing one is the same experiment (else UsageError).

    Every rank checks (so every rank raises alike); rank 0 alone writes; the ranks then wait for each other.
    """
    text = _config.to_toml(config, header="segbench compare: the resolved experiment (see docs/run-folder.md)")
    path = out / "config.toml"
    if path.exists():
        old = _config.resolve(_config.load(path))
        new = _config.resolve(_config.tomllib.loads(text))
        if old != new:
            was, now = old.tables(), new.tables()
            diff = [f"[{t}] {k}: {was[t][k]!r} -> {now[t][k]!r}" for t in now for k in now[t] if was[t][k] != now[t][k]]
            raise UsageError(
                f"{out} holds a different experiment ({'; '.join(diff[:3])}); "
                "use another --out or delete that folder"
            )
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    if distributed.is_main():
        io.write_text(path, text)


def _with_keys(rows: list[dict[str, Any]], **keys: Any) -> list[dict[str, Any]]:
    return [{**keys, **row} for row in rows]


def _score(exp: Experiment, pred: torch.Tensor, probs: torch.Tensor, share: list[int]
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-image and pooled rows of this rank's test predictions ``pred`` and their probabilities ``probs`` (test
    images ``share``; object metrics against the reference instances where the dataset ships them); on rank 0
    the rows of the whole test split, elsewhere empty lists."""
    test = exp.splits["test"]
    scored = distributed.score_shards(
        pred, test.masks[share], share, exp.ids["test"], num_classes=exp.num_classes,
        binary=exp.binary, class_names=exp.class_names, metrics=exp.metrics,
        nsd_tolerance=exp.config.eval.nsd_tolerance, ignore_index=exp.ignore_index, probabilities=probs,
        spacing=exp.spacing,
        instances=None if test.instances is None else test.instances[share],
    )
    return ([], []) if scored is None else scored


def _reliability(exp: Experiment, probs: torch.Tensor, share: list[int]) -> dict[str, Any]:
    """The top-label reliability bins of the test probabilities (every rank's share, synced): what
    ``RELIABILITY_FILE`` holds."""
    hist = ProbabilityHistogram(SCORING_BINS, 1, num_classes=1 if exp.binary else exp.num_classes,
                                ignore_index=exp.ignore_index)
    if share:
        hist.update(probs, exp.splits["test"].masks[share])
    rel = hist.sync().reliability()
    return {"kind": "top-label", "n_bins": SCORING_BINS, "count": rel.count.tolist(),
            "confidence": rel.confidence.tolist(), "accuracy": rel.accuracy.tolist(),
            "lower": rel.lower.tolist(), "upper": rel.upper.tolist()}


def _done(path: Path) -> bool:
    """Whether ``path`` (a ``done.json``) exists, as rank 0 sees it (every rank gets the same answer)."""
    return distributed.broadcast_object(path.exists() if distributed.is_main() else False)


def _run_one(exp: Experiment, out: Path, name: str, seed: int, init: dict[str, torch.Tensor],
             settings: TrainSettings, bar: Any) -> None:
    run_dir = run_path(out, name, seed)
    if _done(run_dir / "done.json"):
        return
    m = exp.config.model
    model = build_model(m.name, in_channels=exp.in_channels, out_channels=1 if exp.binary else exp.num_classes,
                        width=m.width, depth=m.depth, norm=m.norm, spatial_dims=exp.spatial_dims)
    model.load_state_dict(init)
    common = {} if exp.ignore_index is None else {"ignore_index": exp.ignore_index}
    loss_fn = _losses.parse(name, **common)
    epochs = tqdm(total=settings.epochs, desc=f"{name} seed {seed}", leave=False, unit="epoch",
                  disable=bar.disable, file=sys.stderr)

    def on_epoch(row: dict[str, Any]) -> None:
        epochs.update(1)
        epochs.set_postfix(loss=f"{row['train_loss']:.3f}", val_dice=f"{row['val_dice']:.3f}")

    result = train_run(model, loss_fn, exp.splits["train"], exp.splits["val"], settings, seed=seed,
                       run_dir=run_dir, model_name=name, on_epoch=on_epoch)
    epochs.close()
    test = exp.splits["test"]
    share = distributed.shard_indices(len(test))
    pred, probs = predict_with_probabilities(model, test.images[share], settings)
    per_image, pooled = _score(exp, pred, probs, share)
    reliability = _reliability(exp, probs, share)
    gathered = distributed.gather_in_order(list(pred.numpy()), share, len(test))
    if gathered is None:  # not rank 0: rank 0 writes
        distributed.barrier()
        return
    io.write_npz(prediction_path(out, name, seed),
                 pred=np.stack(gathered), ids=np.array(exp.ids["test"]))
    io.write_json(run_dir / RELIABILITY_FILE, reliability)
    keys = {"model": name, "kind": "trained", "seed": seed}
    io.write_csv(run_dir / "scores.csv", PER_IMAGE_COLUMNS, _with_keys(per_image, **keys))
    io.write_csv(run_dir / "pooled.csv", DATASET_LEVEL_COLUMNS, _with_keys(pooled, **keys))
    io.write_json(run_dir / "done.json", {
        "model": name, "slug": slug(name), "seed": seed, "epochs": settings.epochs,
        "best_epoch": result["best_epoch"], "best_val_dice": result["best_val_dice"],
        "select": settings.select, "init_sha256": state_sha256(init),
        "train_seconds": round(result["train_seconds"], 3), "device": str(settings.device),
        "world_size": distributed.world_size(),
    })
    distributed.barrier()


def _run_trivial(exp: Experiment, out: Path) -> None:
    folder = out / "runs" / TRIVIAL_FOLDER
    if _done(folder / "done.json"):
        return
    targets = exp.splits["test"].masks
    share = distributed.shard_indices(len(targets))
    per_image: list[dict[str, Any]] = []
    pooled: list[dict[str, Any]] = []
    for kind in trivial.TRIVIAL_PREDICTORS:
        pred = trivial.trivial_predictions(targets, kind, exp.trivial)
        if distributed.is_main():
            io.write_npz(prediction_path(out, kind), pred=pred.numpy().astype(np.uint8),
                         ids=np.array(exp.ids["test"]))
        probs = trivial.trivial_probabilities(pred[share], exp.num_classes, exp.binary)
        rows_i, rows_p = _score(exp, pred[share], probs, share)
        per_image += _with_keys(rows_i, model=kind, kind="trivial", seed=-1)
        pooled += _with_keys(rows_p, model=kind, kind="trivial", seed=-1)
    if not distributed.is_main():
        distributed.barrier()
        return
    io.write_csv(folder / "scores.csv", PER_IMAGE_COLUMNS, per_image)
    io.write_csv(folder / "pooled.csv", DATASET_LEVEL_COLUMNS, pooled)
    io.write_json(folder / "done.json", {"models": list(trivial.TRIVIAL_PREDICTORS),
                                         "classes": {k: exp.class_names[v] for k, v in exp.trivial.items()}})
    distributed.barrier()


def _collect(exp: Experiment, out: Path) -> list[dict[str, str]]:
    """Rebuild ``results/*.csv`` and ``history.csv`` from the per-run files; return the per-image rows."""
    seeds = exp.config.train.seeds
    per_image: list[dict[str, Any]] = []
    pooled: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for seed in seeds:
        for name in exp.models:
            run_dir = run_path(out, name, seed)
            per_image += io.read_csv(run_dir / "scores.csv")
            pooled += io.read_csv(run_dir / "pooled.csv")
            history += io.read_csv(run_dir / "history.csv")
    trivial_i = io.read_csv(out / "runs" / TRIVIAL_FOLDER / "scores.csv")
    trivial_p = io.read_csv(out / "runs" / TRIVIAL_FOLDER / "pooled.csv")
    for seed in seeds:  # trivial predictors do not depend on the seed: repeated for every seed
        per_image += [{**row, "seed": str(seed)} for row in trivial_i]
        pooled += [{**row, "seed": str(seed)} for row in trivial_p]
    io.write_csv(out / "results" / "per_image.csv", PER_IMAGE_COLUMNS, per_image)
    io.write_csv(out / "results" / "dataset_level.csv", DATASET_LEVEL_COLUMNS, pooled)
    io.write_csv(out / "history.csv", HISTORY_COLUMNS, history)
    return per_image


def run_compare(exp: Experiment, out: Path, *, quiet: bool = False) -> list[dict[str, str]]:
    """Train and evaluate every (seed, loss) of ``exp`` into ``out`` (resuming), score the trivial predictors,
    rebuild the result tables; return the per-image rows (``results/per_image.csv``).

    Under a process group every rank must call it; rank 0 writes and returns the rows, the others return ``[]``.
    CPU threads: ``num_threads`` shared by the ranks of a machine (:func:`segbench.distributed.threads_per_rank`).
    """
    main = distributed.is_main()
    quiet = quiet or not main
    _claim_folder(out, exp.config)
    test = exp.splits["test"]
    if main:
        io.write_json(out / "dataset.json", _dataset_json(exp))
        if not (out / "predictions" / "test_data.npz").exists():
            io.write_npz(out / "predictions" / "test_data.npz",
                         images=(test.images.clamp(0, 1) * 255).round().to(torch.uint8).numpy(),
                         targets=test.masks.to(torch.int16).numpy(), ids=np.array(exp.ids["test"]),
                         class_names=np.array(exp.class_names))
    distributed.barrier()
    t, e = exp.config.train, exp.config.eval
    device = distributed.device(t.device)
    settings = TrainSettings(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
                             weight_decay=t.weight_decay, augment=t.augment, select=e.select,
                             device=device, num_classes=exp.num_classes, background=exp.background,
                             ignore_index=exp.ignore_index, patch=t.patch_size,
                             foreground_share=t.foreground_share, overlap=e.window_overlap)
    m = exp.config.model
    start = time.perf_counter()
    threads = distributed.threads_per_rank(t.num_threads) if device.type == "cpu" else None
    with deterministic(device, threads):
        _run_trivial(exp, out)
        runs = [(seed, name) for seed in t.seeds for name in exp.models]
        bar = tqdm(total=len(runs), desc="runs", unit="run", disable=quiet, file=sys.stderr)
        for seed in t.seeds:
            init = initial_state(
                lambda: build_model(m.name, in_channels=exp.in_channels,
                                    out_channels=1 if exp.binary else exp.num_classes,
                                    width=m.width, depth=m.depth, norm=m.norm, spatial_dims=exp.spatial_dims),
                seed,
            )
            for name in exp.models:
                bar.set_postfix_str(f"{name} seed {seed}")
                _run_one(exp, out, name, seed, init, settings, bar)
                bar.update(1)
        bar.close()
    if not main:
        return []
    rows = _collect(exp, out)
    io.write_json(out / "timing.json", {"seconds_this_invocation": round(time.perf_counter() - start, 3),
                                        "world_size": distributed.world_size()})
    return rows

