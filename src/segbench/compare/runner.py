r"""``segbench compare`` end to end: validate, load data, train every (seed, loss), score, write the run folder.

:func:`prepare` checks everything a user can get wrong (losses, metrics, dataset spec, every data file) before
anything is written, so bad input leaves no folder behind. :func:`run_compare` then trains and evaluates,
skipping finished runs and resuming interrupted ones (see ``docs/run-folder.md`` for the files). Each run is a
:class:`RunKey` ``(loss, seed, lr)`` and its randomness depends on the key alone: the model is built under
``torch.manual_seed(seed)`` (the same initial weights for every loss and learning rate of a seed) and its batches
come from ``(seed, step)``; :func:`_train_runs` trains and scores a group of independent runs. The trivial
predictors are scored beside the trained models.

**Equal tuning** (``[train] lr`` a list, the grid :math:`G`): every loss trains every value of :math:`G` on the
first seed :math:`s_0`; the value kept for a loss is

.. math::

    \eta^* = \min \{\eta \in G : v(\eta) = \max_{\eta' \in G} v(\eta')\}

with :math:`v(\eta)` the best validation value of the primary metric (:func:`segbench.compare.config.monitored_metric`;
its direction respected; NaN ranks last) of the run at :math:`\eta`: the best value, ties to the smallest
learning rate, whatever order the grid is written in (:func:`choose_lr`). It is written atomically to
``runs/<loss>/lr.json`` before the other seeds train at it, so an interrupted search resumes without retraining.
Grid runs live in ``runs/<loss>/lr=<value>/seed<k>``; the chosen runs' test predictions are copied to the usual
``predictions/`` names. A scalar ``lr`` keeps the plain ``runs/<loss>/seed<k>`` folders.

**The test phase** is streamed: the test images are predicted and scored part by part (2D images, which are in
memory, all at once; volumes one case at a time), each part's per-image rows and its dataset-level state
(confusion counts, probability histograms: :class:`~segbench.distributed.ShardScorer`) kept and the part itself
dropped, its predicted labels written to the prediction file as they come (volumes: one member per case). So the
test phase holds a few volumes at most, whatever the split's size, and the scores equal those of the whole split
at once, bit for bit (the histograms are summed as one update would: ``ProbabilityHistogram.repool``).

Under ``torchrun`` every rank runs this same code (:mod:`segbench.distributed`): each run trains with
DistributedDataParallel (:func:`~segbench.compare.train.train_run`), each rank predicts and scores its share of the
test images (confusion counts all-reduced, per-image rows gathered to rank 0 in image order; volumes one round of
one case per rank at a time, :func:`~segbench.compare.volumetric.case_rounds`), and only rank 0 writes the run
folder; whether a run is done is rank 0's answer, sent to all, so every rank skips or resumes the same runs.
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
from segbench.compare import calibrate, volumetric
from segbench.compare import config as _config
from segbench.compare.determinism import deterministic, initial_state, state_sha256
from segbench.compare.train import SplitData, TrainSettings, monitored, predict_with_probabilities, train_run
from segbench.data import load_dataset
from segbench.data.splits import Split
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files.run_folder import (
    DATASET_LEVEL_COLUMNS,
    HISTORY_COLUMNS,
    PER_IMAGE_COLUMNS,
    RELIABILITY_FILE,
    TEMPERATURE_FILE,
    TERM_COLUMNS,
    TRAINING_FILE,
    TRIVIAL_FOLDER,
    prediction_path,
    run_path,
    slug,
)
from segbench.metrics import catalogue
from segbench.metrics.probability_stream import SCORING_BINS, ProbabilityHistogram
from segbench.models import build_model

__all__ = ["Experiment", "RunKey", "choose_lr", "default_out", "prepare", "run_compare"]


@dataclass(frozen=True)
class RunKey:
    """One training run: the loss (its canonical spec), the seed and the learning rate. Everything random in the
    run (initial weights, batches, crops, flips) is drawn from the key alone, so runs can train in any order or
    in parallel processes."""

    loss: str
    seed: int
    lr: float


def choose_lr(scores: Mapping[float, float], *, higher_is_better: bool = True) -> float:
    """The learning rate kept by the equal tuning protocol: the best validation score, ties to the smallest
    learning rate, NaN ranking last (independent of the order of ``scores``).

    Args:
        scores: ``{lr: best validation value of the primary metric}`` of one loss on the first seed.
        higher_is_better: the metric's direction.

    >>> choose_lr({3e-3: 0.70, 1e-3: 0.72, 3e-4: 0.72})
    0.0003
    >>> choose_lr({1e-3: float("nan"), 3e-3: 0.1}), choose_lr({1e-3: 2.0, 3e-3: 1.0}, higher_is_better=False)
    (0.003, 0.003)
    """
    if not scores:
        raise ValueError("choose_lr needs at least one (lr, score)")

    def rank(item: tuple[float, float]) -> tuple[bool, float, float]:
        lr, value = item
        nan = value != value
        return (nan, 0.0 if nan else (-value if higher_is_better else value), lr)

    return min(scores.items(), key=rank)[0]


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
    primary: str | None = None
    """The verdict's primary metric where the caller resolved it (``segbench compare`` and ``sweep``: inspect's
    pick on the training split unless ``[eval] primary`` is set); ``None``: ``[eval] primary`` or Dice. The plateau
    rule and the learning-rate choice watch it, so training and the verdict judge by the same metric."""
    spacing: tuple[float, ...] | None = None
    test_spacings: list[tuple[float, ...] | None] | None = None
    """The spacing of each test case (volumes whose headers differ: each its own; else ``spacing`` for all)."""

    def case_spacing(self, k: int) -> tuple[float, ...] | None:
        """The spacing test case ``k`` is scored in (distance metrics in mm where known, else voxels)."""
        return self.spacing if self.test_spacings is None else self.test_spacings[k]

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
    if dataset.spatial_dims == 3 or (image_size is None and dataset.instance_loader is None):
        return dataset, volumetric.lazy_split(dataset)  # volumes, native-size images: read per case, not held
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
    test_spacings: list[tuple[float, ...] | None] = []
    for split in ("train", "val", "test"):
        dataset, data = _load_split(d.spec, split, d.image_size, d.options)
        first = first or dataset
        splits[split], ids[split] = data, list(dataset.ids)
        if split == "test":
            test_spacings = [dataset.item_spacing(k) for k in range(len(dataset))]
    shapes = {tuple(s.images.shape[1:]) for s in splits.values()}
    lazy = isinstance(splits["train"].masks, volumetric.CaseArray)
    if not lazy and len(shapes) != 1:  # volumes and native-size images may differ in shape, case by case
        raise UsageError(f"dataset {d.spec!r}: the splits have different image sizes {sorted(shapes)}; "
                         "set [dataset] image_size")
    config = replace(config, losses=_config.LossesConfig(tuple(models)))
    exp = Experiment(config, models, metrics, splits, ids, first.num_classes, first.in_channels,
                     list(first.class_names), first.ignore_index, first.name)
    exp.trivial = trivial.trivial_classes(_class_counts(splits["train"].masks, exp.num_classes), exp.class_names)
    exp.spacing = first.spacing
    exp.test_spacings = test_spacings
    patch = config.train.patch_size
    if exp.spatial_dims == 3:  # freed volumes go back to the system (glibc would keep them in its heap)
        volumetric.bound_allocator()
    if patch is None and exp.spatial_dims == 3:
        raise UsageError("3D data trains on patches: set [train] patch_size = [Z, Y, X] (e.g. [32, 64, 64]; "
                         "--patch-size Z,Y,X; a crop of three sizes is read as it)")
    if patch is not None and len(patch) != exp.spatial_dims:
        raise UsageError(f"[train] patch_size {list(patch)} has {len(patch)} sizes for {exp.spatial_dims}D data "
                         f"{tuple(splits['train'].masks.shape[1:])}")
    if lazy and exp.spatial_dims == 2:
        _check_native_crop(exp)
    _try_losses(exp)
    return exp


def _check_native_crop(exp: Experiment) -> None:
    """Native-size images of several sizes train on crops of one size: ``[train] crop`` must be set and fit the
    smallest training image (a batch of whole images of several sizes cannot be stacked)."""
    train = exp.splits["train"].masks
    sizes = sorted({tuple(s) for s in train.shapes})  # type: ignore[attr-defined]
    if len(sizes) <= 1:
        return
    crop = exp.config.train.crop if exp.config.train.patch_size is None else exp.config.train.patch_size
    smallest = tuple(min(s[a] for s in sizes) for a in (0, 1))
    if crop is None or any(c > m for c, m in zip(crop, smallest, strict=True)):
        raise UsageError(f"dataset {exp.name!r} has training images of several sizes (e.g. {sizes[:3]}); set [train] "
                         f"crop to at most the smallest, {list(smallest)}, or [dataset] image_size")


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


def _sizes(exp: Experiment) -> dict[str, Any]:
    """``image_size``, ``spatial_dims`` and ``spacing`` of ``dataset.json``; volumes that differ in shape or spacing
    give ``"per case"`` there and each test case's value in ``case_shapes`` / ``case_spacing`` (id -> value)."""
    test, ids = exp.splits["test"], exp.ids["test"]
    shapes = test.masks.shapes if isinstance(test.masks, volumetric.CaseArray) else [test.masks.shape[1:]]
    spacings = exp.test_spacings or [exp.spacing]
    out: dict[str, Any] = {"image_size": list(shapes[0]) if len(set(shapes)) == 1 else "per case",
                           "spatial_dims": exp.spatial_dims}
    if len(set(spacings)) <= 1:
        out["spacing"] = None if exp.spacing is None else list(exp.spacing)
    else:
        out["spacing"] = "per case"
    if len(set(shapes)) > 1:
        out["case_shapes"] = {i: list(s) for i, s in zip(ids, shapes, strict=True)}
    if len(set(spacings)) > 1:
        out["case_spacing"] = {i: None if s is None else list(s) for i, s in zip(ids, spacings, strict=True)}
    return out


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
        **_sizes(exp),
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


class _TestScores:
    """The test phase's scores, fed part by part (:meth:`add`: the whole share of 2D images at once, or one volume):
    per-image and pooled rows (:class:`segbench.distributed.ShardScorer`; object metrics against the reference
    instances where the dataset ships them; the ``*_ts`` twins of the calibration metrics from the
    temperature-scaled probabilities) and the top-label reliability bins of the raw and scaled probabilities
    (``RELIABILITY_FILE``, read off the scorer's dataset-level histograms). Only rows and streaming counts are
    kept."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self.exact = len(_test_parts(exp)) > 1  # several parts: sum the histograms as one update would
        self.scorer = distributed.ShardScorer(
            exp.ids["test"], num_classes=exp.num_classes, binary=exp.binary, class_names=exp.class_names,
            metrics=calibrate.scaled_metrics(exp.metrics), nsd_tolerance=exp.config.eval.nsd_tolerance,
            ignore_index=exp.ignore_index, probabilities=True, scaled=True, exact=self.exact)

    def add(self, pred: torch.Tensor, probs: torch.Tensor, indices: list[int], scaled: torch.Tensor) -> None:
        """Score test images ``indices``: their predictions, probabilities and scaled probabilities."""
        if not indices:
            return
        test, exp = self.exp.splits["test"], self.exp
        index = torch.tensor(indices, dtype=torch.long)
        masks = test.masks[index]
        spacing = exp.case_spacing(indices[0]) if len(indices) == 1 else exp.spacing
        self.scorer.update(pred, masks, indices, probabilities=probs, scaled_probabilities=scaled, spacing=spacing,
                           instances=None if test.instances is None else test.instances[index])

    def finish(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        """Synced over the ranks: per-image rows, pooled rows (rank 0; empty elsewhere) and the reliability."""
        scored = self.scorer.finish()
        per_image, pooled = ([], []) if scored is None else scored
        raw, scaled = (self._bins(self.scorer.histograms[key]) for key in (False, True))
        return per_image, pooled, {**raw, "scaled": scaled}

    @staticmethod
    def _bins(hist: ProbabilityHistogram) -> dict[str, Any]:
        rel = hist.reliability()  # top-label, SCORING_BINS equal-width bins of the synced, repooled histogram
        return {"kind": "top-label", "n_bins": SCORING_BINS, "count": rel.count.tolist(),
                "confidence": rel.confidence.tolist(), "accuracy": rel.accuracy.tolist(),
                "lower": rel.lower.tolist(), "upper": rel.upper.tolist()}


def _test_parts(exp: Experiment) -> list[list[int]]:
    """The test images this rank scores, part by part: 2D images in memory all at once, native-size images read per
    case one batch at a time, volumes one case per part (:func:`segbench.compare.volumetric.case_rounds`: bounded
    memory, predictions gathered per round)."""
    test = exp.splits["test"]
    n = len(test)
    if exp.spatial_dims == 3:
        return volumetric.case_rounds(n)
    if isinstance(test.masks, volumetric.CaseArray):  # native-size images: one batch at a time (as predicted)
        parts = volumetric.index_batches(test, distributed.shard_indices(n), exp.config.train.batch_size)
        most = len(volumetric.index_batches(test, range(-(-n // distributed.world_size())),
                                            exp.config.train.batch_size))
        return parts + [[] for _ in range(most - len(parts))]  # as many parts on every rank (gathered per part)
    return [distributed.shard_indices(n)]


def _test_data(exp: Experiment, path: Path) -> None:
    """``test_data.npz``: the test images scaled to 0-255 (uint8) and targets (int16), with ``ids`` and
    ``class_names``; images in memory as ``images`` ``(N, C, H, W)`` and ``targets`` ``(N, H, W)``, splits read per
    case (volumes, native-size images) one case per member (``images_<k>`` ``(C, *S)``, ``targets_<k>`` ``(*S)``),
    read and written one case at a time."""
    test = exp.splits["test"]

    def uint8(images: torch.Tensor) -> np.ndarray:
        return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    if not isinstance(test.masks, volumetric.CaseArray):
        io.write_npz(path, images=uint8(test.images), targets=test.masks.to(torch.int16).numpy(),
                     ids=np.array(exp.ids["test"]), class_names=np.array(exp.class_names))
        return

    def members() -> Any:
        yield from (("ids", np.array(exp.ids["test"])), ("class_names", np.array(exp.class_names)))
        for k in range(len(test)):
            yield f"images_{k}", uint8(test.images[k])
            yield f"targets_{k}", test.masks[k].to(torch.int16).numpy()

    io.write_npz_members(path, members())


def _predictions_file(exp: Experiment, path: Path, parts: Any) -> None:
    """Write the test predictions yielded by ``parts`` (``(indices, labels (m, *S))`` of this rank, part by part)
    to ``path`` on rank 0: ``pred`` ``(N, H, W)`` uint8 and ``ids`` for images in memory; for splits read per case
    (volumes, native-size images) one member per case, ``pred_<k>`` uint8 (they may differ in shape), written as
    they come (docs/run-folder.md)."""
    ids = np.array(exp.ids["test"])
    if not isinstance(exp.splits["test"].masks, volumetric.CaseArray):
        indices, preds = [], []
        for idx, pred in parts:
            indices += idx
            preds += list(pred.numpy().astype(np.uint8))
        gathered = distributed.gather_in_order(preds, indices, len(ids))
        if gathered is not None:
            io.write_npz(path, pred=np.stack(gathered), ids=ids)
        return

    def members() -> Any:
        yield "ids", ids
        for idx, pred in parts:
            local = [(k, p.numpy().astype(np.uint8)) for k, p in zip(idx, pred, strict=True)]
            for part in distributed.gather_to_main(local) or []:
                yield from ((f"pred_{k}", p) for k, p in part)

    if distributed.is_main():
        io.write_npz_members(path, members())
    else:
        for _ in members():
            pass


def _done(path: Path) -> bool:
    """Whether ``path`` (a ``done.json``) exists, as rank 0 sees it (every rank gets the same answer)."""
    return distributed.broadcast_object(path.exists() if distributed.is_main() else False)


def _run_dir(exp: Experiment, out: Path, key: RunKey) -> Path:
    """``runs/<loss>/seed<k>`` (scalar ``lr``), or ``runs/<loss>/lr=<value>/seed<k>`` (an lr grid)."""
    if _config.lr_grid(exp.config) is None:
        return run_path(out, key.loss, key.seed)
    return out / "runs" / slug(key.loss) / slug(f"lr={key.lr!r}") / f"seed{key.seed}"


def _prediction_file(exp: Experiment, out: Path, key: RunKey) -> Path:
    """Where a run writes its test predictions: the usual ``predictions/`` name (scalar ``lr``), or its run
    folder (an lr grid: the chosen runs' files are copied to the usual names by :func:`_publish_predictions`)."""
    if _config.lr_grid(exp.config) is None:
        return prediction_path(out, key.loss, key.seed)
    return _run_dir(exp, out, key) / "prediction.npz"


def _build(exp: Experiment) -> torch.nn.Module:
    m = exp.config.model
    return build_model(m.name, in_channels=exp.in_channels, out_channels=1 if exp.binary else exp.num_classes,
                       width=m.width, depth=m.depth, norm=m.norm, spatial_dims=exp.spatial_dims)


def _run_one(exp: Experiment, out: Path, key: RunKey, settings: TrainSettings, bar: Any) -> None:
    """Train, predict and score one run (skipped where its ``done.json`` exists)."""
    name, seed = key.loss, key.seed
    run_dir = _run_dir(exp, out, key)
    if _done(run_dir / "done.json"):
        return
    settings = replace(settings, lr=key.lr)
    init = initial_state(lambda: _build(exp), seed)
    model = _build(exp)
    model.load_state_dict(init)
    common = {} if exp.ignore_index is None else {"ignore_index": exp.ignore_index}
    loss_fn = _losses.parse(name, **common)
    budget = settings.budget(len(exp.splits["train"]))
    steps = tqdm(total=budget.max_steps, desc=f"{name} seed {seed} lr {key.lr:g}", leave=False, unit="step",
                 disable=bar.disable, file=sys.stderr)

    def on_eval(row: dict[str, Any]) -> None:
        steps.update(int(row["step"]) - steps.n)
        steps.set_postfix(loss=f"{float(row['train_loss']):.3f}", val=f"{float(row['val_primary']):.3f}")

    result = train_run(model, loss_fn, exp.splits["train"], exp.splits["val"], settings, seed=seed,
                       run_dir=run_dir, model_name=name, on_eval=on_eval)
    steps.close()
    test = exp.splits["test"]
    fitted = calibrate.fit_model_temperature(model, exp.splits["val"], settings, exp.ignore_index)
    scores = _TestScores(exp)

    def parts() -> Any:  # predict and score one part at a time; only the labels travel on
        for idx in _test_parts(exp):
            images = test.images[torch.tensor(idx, dtype=torch.long)]
            pred, probs = predict_with_probabilities(model, images, settings)
            scores.add(pred, probs, idx, calibrate.scaled_probabilities(model, images, fitted.temperature, settings))
            yield idx, pred

    _predictions_file(exp, _prediction_file(exp, out, key), parts())
    per_image, pooled, reliability = scores.finish()
    if not distributed.is_main():  # rank 0 writes
        distributed.barrier()
        return
    io.write_json(run_dir / RELIABILITY_FILE, reliability)
    io.write_json(run_dir / TEMPERATURE_FILE, fitted.as_json())
    keys = {"model": name, "kind": "trained", "seed": seed}
    io.write_csv(run_dir / "scores.csv", PER_IMAGE_COLUMNS, _with_keys(per_image, **keys))
    io.write_csv(run_dir / "pooled.csv", DATASET_LEVEL_COLUMNS, _with_keys(pooled, **keys))
    io.write_json(run_dir / "done.json", {
        "model": name, "slug": slug(name), "seed": seed, "lr": key.lr, "monitor": settings.monitor,
        "max_steps": result["max_steps"], "stop": result["stop"], "stop_step": result["stop_step"],
        "still_improving": result["still_improving"], "dead_terms": result["dead_terms"],
        "best_step": result["best_step"], "best_val_dice": result["best_val_dice"],
        "best_val_primary": result["best_val_primary"],
        "select": settings.select, "init_sha256": state_sha256(init),
        "train_seconds": round(result["train_seconds"], 3), "device": str(settings.device),
        "world_size": distributed.world_size(),
    })
    distributed.barrier()


def _train_runs(exp: Experiment, out: Path, runs: Sequence[RunKey], settings: TrainSettings, bar: Any) -> None:
    """Train and score each of ``runs`` (independent of each other; finished ones are skipped), updating ``bar``
    by one per run. The one place that executes a group of runs.

    ``[compute] jobs = 1`` with the local engine (the default, and always under torchrun): a plain loop in this
    process, in the order given. Otherwise the runs not yet done go to :func:`segbench.schedule.run_all`: each
    trains in a worker (:func:`segbench.compare.worker.train_in_worker`) with its share of the CPU threads, or of
    the GPUs; this process only holds the lock, shows the one progress bar and, afterwards, writes the aggregates.
    """
    c = exp.config.compute
    if (c.jobs == 1 and c.engine == "local") or distributed.world_size() > 1:
        if c.jobs > 1 or c.engine != "local":
            raise UsageError("--jobs > 1 and --engine ray do not combine with torchrun (one run over several "
                             "processes); use one or the other (docs/distributed.md)")
        for key in runs:
            bar.set_postfix_str(f"{key.loss} seed {key.seed} lr {key.lr:g}")
            _run_one(exp, out, key, settings, bar)
            bar.update(1)
        return
    from segbench import schedule
    from segbench.compare import worker

    todo = [key for key in runs if not (_run_dir(exp, out, key) / "done.json").exists()]
    bar.update(len(runs) - len(todo))
    gpus = torch.cuda.device_count() if settings.device.type == "cuda" else 0
    jobs = [worker.RunJob(exp.config, out.resolve(), Path.cwd(), key, settings) for key in todo]
    schedule.run_all(worker.train_in_worker, jobs, jobs=c.jobs, engine=c.engine, address=c.address,
                     gpus=gpus, runs_per_gpu=c.runs_per_gpu, num_threads=exp.config.train.num_threads,
                     label=worker.RunJob.label, bar=bar)


def _json(path: Path) -> dict[str, Any]:
    found = io.read_json(path)
    if not isinstance(found, dict):
        raise UsageError(f"{path} does not hold a JSON object; delete it to redo that step")
    return found


def _choose(exp: Experiment, out: Path, grid: tuple[float, ...]) -> dict[str, float]:
    """The chosen learning rate of every loss from its (finished) grid runs on the first seed, each choice written
    atomically to ``runs/<loss>/lr.json``; an existing record for the same grid, seed and metric is read back, not
    recomputed. Rank 0 decides and tells the other ranks."""
    seed, metric = exp.config.train.seeds[0], _monitor(exp)
    higher = catalogue.get_entry(metric).higher_is_better
    chosen: dict[str, float] = {}
    for name in exp.models if distributed.is_main() else []:
        path = out / "runs" / slug(name) / "lr.json"
        record = _json(path) if path.exists() else {}
        if record.get("grid") == sorted(grid) and record.get("seed") == seed and record.get("metric") == metric:
            chosen[name] = float(record["chosen"])
            continue
        done = {lr: _json(_run_dir(exp, out, RunKey(name, seed, lr)) / "done.json") for lr in grid}
        scores = {lr: float(d["best_val_primary"]) for lr, d in done.items()}
        chosen[name] = choose_lr(scores, higher_is_better=higher)
        io.write_json(path, {"model": name, "grid": sorted(grid), "seed": seed, "metric": metric,
                             "scores": [{"lr": lr, "val": scores[lr], "stop": done[lr]["stop"],
                                         "still_improving": done[lr]["still_improving"]} for lr in sorted(grid)],
                             "chosen": chosen[name], "tie_rule": "the best value; ties: the smallest lr"})
    return dict(distributed.broadcast_object(chosen))


def _final_runs(exp: Experiment, chosen: Mapping[str, float]) -> list[RunKey]:
    return [RunKey(name, seed, chosen[name]) for seed in exp.config.train.seeds for name in exp.models]


def _publish_predictions(exp: Experiment, out: Path, finals: Sequence[RunKey]) -> None:
    """Copy the chosen runs' test predictions to ``predictions/<loss>_seed<k>.npz`` (an lr grid only)."""
    if _config.lr_grid(exp.config) is None or not distributed.is_main():
        return
    for key in finals:
        target = prediction_path(out, key.loss, key.seed)
        data = _prediction_file(exp, out, key).read_bytes()
        if not target.exists() or target.read_bytes() != data:
            io.write_bytes(target, data)


def _monitor(exp: Experiment) -> str:
    """The metric the plateau rule and the learning-rate choice watch (the primary one where it can be)."""
    return monitored(exp.primary or _config.monitored_metric(exp.config))


def _run_trivial(exp: Experiment, out: Path) -> None:
    folder = out / "runs" / TRIVIAL_FOLDER
    if _done(folder / "done.json"):
        return
    targets = exp.splits["test"].masks
    per_image: list[dict[str, Any]] = []
    pooled: list[dict[str, Any]] = []
    for kind in trivial.TRIVIAL_PREDICTORS:
        scores = _TestScores(exp)

        def parts(kind: str = kind, scores: _TestScores = scores) -> Any:
            for idx in _test_parts(exp):
                pred = trivial.trivial_predictions(targets[torch.tensor(idx, dtype=torch.long)], kind, exp.trivial)
                probs = trivial.trivial_probabilities(pred, exp.num_classes, exp.binary)
                scores.add(pred, probs, idx, probs)  # 0/1: unchanged by any temperature
                yield idx, pred

        _predictions_file(exp, prediction_path(out, kind), parts())
        rows_i, rows_p, _ = scores.finish()
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


def _collect(exp: Experiment, out: Path, finals: Sequence[RunKey], settings: TrainSettings) -> list[dict[str, str]]:
    """Rebuild ``results/*.csv``, ``results/training.json``, ``history.csv`` and ``terms.csv`` from the per-run
    files of the final runs ``finals``; return the per-image rows."""
    seeds = exp.config.train.seeds
    per_image: list[dict[str, Any]] = []
    pooled: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for key in finals:
        run_dir = _run_dir(exp, out, key)
        per_image += io.read_csv(run_dir / "scores.csv")
        pooled += io.read_csv(run_dir / "pooled.csv")
        rows = io.read_csv(run_dir / "history.csv")
        if rows and "step" not in rows[0]:
            raise UsageError(f"{run_dir} was trained by an older segbench (a history per epoch, no step budget); "
                             "run into a new --out (`segbench report` still reads the old folder)")
        history += rows
        terms += io.read_csv(run_dir / "terms.csv")
        done = _json(run_dir / "done.json")
        runs.append({k: done.get(k) for k in ("model", "seed", "lr", "stop", "stop_step", "max_steps",
                                              "still_improving", "best_step", "best_val_primary", "dead_terms")})
    search = []
    grid = _config.lr_grid(exp.config)
    for name in exp.models if grid is not None else []:
        record = _json(out / "runs" / slug(name) / "lr.json")
        search += [{"model": name, "lr": r["lr"], "val": r["val"], "chosen": r["lr"] == record["chosen"],
                    "still_improving": bool(r.get("still_improving"))} for r in record["scores"]]
    t = exp.config.train
    budget = settings.budget(len(exp.splits["train"]))
    io.write_json(out / "results" / TRAINING_FILE, {
        "monitor": _monitor(exp), "max_steps": budget.max_steps, "eval_every": budget.eval_every,
        "patience": budget.patience, "min_delta": budget.min_delta, "batch_size": t.batch_size,
        "crop": None if t.crop is None or t.patch_size is not None else list(t.crop),
        "patch_size": None if t.patch_size is None else list(t.patch_size),
        "foreground_share": None if t.patch_size is None else t.foreground_share, "epochs": t.epochs,
        "lr_grid": None if grid is None else sorted(grid), "lr_seed": seeds[0] if grid is not None else None,
        "runs": runs, "lr_search": search,
    })
    io.write_csv(out / "terms.csv", TERM_COLUMNS, terms)
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
    if main:
        io.write_json(out / "dataset.json", _dataset_json(exp))
        if not (out / "predictions" / "test_data.npz").exists():
            _test_data(exp, out / "predictions" / "test_data.npz")
    distributed.barrier()
    t, e = exp.config.train, exp.config.eval
    device = distributed.device(t.device)
    settings = TrainSettings(batch_size=t.batch_size, lr=t.lr if isinstance(t.lr, float) else t.lr[0],
                             weight_decay=t.weight_decay, augment=t.augment, select=e.select,
                             device=device, num_classes=exp.num_classes, background=exp.background,
                             ignore_index=exp.ignore_index, max_steps=t.max_steps, eval_every=t.eval_every,
                             patience=t.patience, min_delta=t.min_delta, crop=t.crop, monitor=_monitor(exp),
                             epochs=t.epochs, patch=t.patch_size, foreground_share=t.foreground_share,
                             overlap=e.window_overlap)
    start = time.perf_counter()
    threads = distributed.threads_per_rank(t.num_threads) if device.type == "cpu" else None
    grid = _config.lr_grid(exp.config)
    with deterministic(device, threads):
        _run_trivial(exp, out)
        first = t.seeds[0]
        total = len(exp.models) * (len(t.seeds) if grid is None else len(grid) + len(t.seeds) - 1)
        bar = tqdm(total=total, desc="runs", unit="run", disable=quiet, file=sys.stderr)
        if grid is None:
            chosen = {name: settings.lr for name in exp.models}
        else:  # the equal tuning protocol: the grid on the first seed, then every seed at the chosen value
            _train_runs(exp, out, [RunKey(name, first, lr) for name in exp.models for lr in grid], settings, bar)
            chosen = _choose(exp, out, grid)
        finals = _final_runs(exp, chosen)
        _train_runs(exp, out, [k for k in finals if grid is None or k.seed != first], settings, bar)
        bar.close()
        _publish_predictions(exp, out, finals)
    if not main:
        return []
    rows = _collect(exp, out, finals, settings)
    io.write_json(out / "timing.json", {"seconds_this_invocation": round(time.perf_counter() - start, 3),
                                        "world_size": distributed.world_size()})
    return rows

