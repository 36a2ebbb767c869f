r"""Training one bench run: one model, one loss, one seed, a fixed epoch budget, resumable.

The loop (:func:`train_run`): AdamW over ``epochs`` epochs; each epoch shuffles the training set with a
generator seeded from ``(seed, epoch)`` (:func:`~segbench.compare.determinism.epoch_generator`), which also
draws the random flips, so every loss of one seed sees the same batches in the same order. After every epoch
the model is scored on the validation split (:func:`validate`) and ``state.pt`` is written atomically (model,
optimizer, history, best so far): a rerun loads it and continues with the next epoch. The checkpoint rule
``best-val-dice`` keeps the epoch with the highest validation Dice in ``best.pt`` (ties: earliest), ``last``
the final one.

Validation Dice, IoU and accuracy are pooled over the split (counts summed over all images), averaged over the
foreground classes :math:`F` (every class but the background):

.. math::

    \mathrm{val\_dice} = \frac{1}{|F|}\sum_{c \in F} \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}

(classes with no target and no predicted pixel are skipped). On CUDA the forward pass runs under bf16
autocast; the loss is computed in float32.

Under ``torchrun`` (:mod:`segbench.distributed`, ``docs/distributed.md``) the same loop trains with
DistributedDataParallel: a :class:`~torch.utils.data.DistributedSampler` (shuffled, seeded from the run seed,
``set_epoch(epoch)``, no dropped images) deals each rank its images; ``batch_size`` is the *global* batch, each
rank taking :math:`\lceil B / W \rceil` images of it; the flips of image ``i`` in an epoch are drawn for every
image from the ``(seed, epoch)`` generator, so they do not depend on the number of ranks. After each epoch rank
0's BatchNorm statistics are given to every rank, each rank validates its share of the validation images and the
confusion counts and loss sums are all-reduced, so ``val_dice`` (and the checkpoint choice) is the exact global
one. Only rank 0 writes ``state.pt``, ``best.pt`` and ``history.csv``; on resume rank 0 reads them and sends them
to every rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from segbench import distributed
from segbench.compare import volumetric
from segbench.compare.config import SelectRule
from segbench.compare.determinism import epoch_generator
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files import safe_read
from segbench.files.run_folder import HISTORY_COLUMNS
from segbench.metrics import ConfusionMatrix, from_confusion
from segbench.reduction import nanmean

__all__ = ["SplitData", "TrainSettings", "predict", "predict_with_probabilities", "train_run", "validate"]
STATE_KEYS = ("model", "optimizer", "history", "best_epoch", "best_val_dice")
"""The entries of ``state.pt`` (the resume point), read back with ``weights_only=True``."""


@dataclass(frozen=True)
class SplitData:
    """Images ``(N, C, H, W)`` float32 and label maps ``(N, H, W)`` int64 of one split, held in memory, and the
    reference instance maps ``(N, H, W)`` where the dataset ships them (object metrics score against them)."""

    images: Tensor
    masks: Tensor
    instances: Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class TrainSettings:
    """What a run needs besides model and loss (see :mod:`segbench.compare.config` for the meaning); ``patch``
    (``[train] patch_size``) switches to patch training and sliding-window prediction
    (:mod:`segbench.compare.volumetric`)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: bool
    select: SelectRule
    device: torch.device
    num_classes: int
    background: int
    ignore_index: int | None = None
    patch: tuple[int, ...] | None = None
    foreground_share: float = 0.33
    overlap: float = 0.5

    @property
    def binary(self) -> bool:
        """Two classes: the model has one sigmoid output channel."""
        return self.num_classes == 2

    @property
    def autocast(self) -> bool:
        """bf16 autocast on CUDA."""
        return self.device.type == "cuda"


def _flip(images: Tensor, masks: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
    """Flip image ``k`` horizontally where ``flips[k, 0]``, vertically where ``flips[k, 1]`` (bool ``(n, 2)``)."""
    h = flips[:, 0].view(-1, 1, 1)
    v = flips[:, 1].view(-1, 1, 1)
    masks = torch.where(h, masks.flip(-1), masks)
    masks = torch.where(v, masks.flip(-2), masks)
    images = torch.where(h[:, None], images.flip(-1), images)
    images = torch.where(v[:, None], images.flip(-2), images)
    return images, masks


def _batches(data: SplitData, batch_size: int, generator: torch.Generator | None, augment: bool) -> Iterator[
    tuple[Tensor, Tensor]
]:
    """Batches in the order drawn from ``generator`` (``None``: in order, no flips)."""
    n = len(data)
    order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        images, masks = data.images[idx], data.masks[idx]
        if augment and generator is not None:
            images, masks = _flip(images, masks, torch.rand(len(idx), 2, generator=generator) < 0.5)
        yield images, masks


def sampler_seed(seed: int) -> int:
    """The DistributedSampler seed of run seed ``seed``: 32 bits from ``SeedSequence([seed, 0])`` (the sampler
    shuffles epoch ``e`` with ``sampler_seed + e``, so two run seeds must not be neighbours).

    >>> sampler_seed(0) == sampler_seed(0) != sampler_seed(1)
    True
    """
    return int(epoch_generator(seed, 0).initial_seed() >> 32)


def _rank_batches(data: SplitData, settings: TrainSettings, seed: int, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
    r"""This rank's training batches of ``epoch``: one process: :func:`_batches`; under a process group, the
    DistributedSampler's share in batches of :math:`\lceil B / W \rceil`, flips drawn for all images at once."""
    if settings.patch is not None:  # random patches (volumes), foreground oversampled
        yield from volumetric.patch_batches(data, settings, seed, epoch)
        return
    generator = epoch_generator(seed, epoch)
    world = distributed.world_size()
    if world == 1:
        yield from _batches(data, settings.batch_size, generator, settings.augment)
        return
    from torch.utils.data import DistributedSampler

    sampler: DistributedSampler[int] = DistributedSampler(
        range(len(data)),  # type: ignore[arg-type]  # only len() is used
        num_replicas=world, rank=distributed.rank(), shuffle=True, seed=sampler_seed(seed), drop_last=False,
    )
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler), dtype=torch.long)
    flips = torch.rand(len(data), 2, generator=generator) < 0.5
    per_rank = -(-settings.batch_size // world)
    for start in range(0, len(order), per_rank):
        idx = order[start : start + per_rank]
        images, masks = data.images[idx], data.masks[idx]
        if settings.augment:
            images, masks = _flip(images, masks, flips[idx])
        yield images, masks


def _forward(model: nn.Module, images: Tensor, settings: TrainSettings) -> Tensor:
    with torch.autocast(device_type=settings.device.type, dtype=torch.bfloat16, enabled=settings.autocast):
        logits: Tensor = volumetric.forward(model, images.to(settings.device, non_blocking=True), settings.patch,
                                            settings.overlap, settings.batch_size)
    return logits.float()


def _labels(logits: Tensor, binary: bool) -> Tensor:
    """Hard labels ``(N, H, W)`` int64: ``logit > 0`` for one channel, else the argmax over channels."""
    return (logits[:, 0] > 0).long() if binary else logits.argmax(1)


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, settings: TrainSettings) -> Tensor:
    """Label maps ``(N, H, W)`` uint8 (on CPU) predicted by ``model`` in eval mode for ``images`` ``(N, C, H, W)``."""
    model.eval()
    out = [
        _labels(_forward(model, images[s : s + settings.batch_size], settings), settings.binary).to("cpu", torch.uint8)
        for s in range(0, images.shape[0], settings.batch_size)
    ]
    return torch.cat(out)


def _probabilities(logits: Tensor, binary: bool) -> Tensor:
    """Probabilities: the sigmoid of the one channel (binary: the foreground probability), else the softmax."""
    return torch.sigmoid(logits) if binary else logits.softmax(1)


@torch.no_grad()
def predict_with_probabilities(model: nn.Module, images: Tensor, settings: TrainSettings) -> tuple[Tensor, Tensor]:
    """Label maps ``(N, H, W)`` uint8 as :func:`predict`, and the probabilities they are the decision of,
    ``(N, 1, H, W)`` (binary: sigmoid of the logit; ``label = p > 1/2``) or ``(N, C, H, W)`` (softmax) float32,
    on CPU."""
    model.eval()
    labels, probs = [], []
    for s in range(0, images.shape[0], settings.batch_size):
        logits = _forward(model, images[s : s + settings.batch_size], settings)
        labels.append(_labels(logits, settings.binary).to("cpu", torch.uint8))
        probs.append(_probabilities(logits, settings.binary).to("cpu", torch.float32))
    return torch.cat(labels), torch.cat(probs)


@torch.no_grad()
def validate(model: nn.Module, loss_fn: nn.Module, data: SplitData, settings: TrainSettings) -> dict[str, float]:
    """``val_loss`` (mean over images), pooled ``val_dice``, ``val_iou`` (foreground classes) and ``val_accuracy``.

    Under a process group each rank scores its share of ``data`` and the sums are all-reduced (exact counts).
    """
    model.eval()
    c = settings.num_classes
    counts = ConfusionMatrix(c, ignore_index=settings.ignore_index)
    total_loss, count = 0.0, 0
    if distributed.world_size() > 1:
        share = torch.tensor(distributed.shard_indices(len(data)), dtype=torch.long)
        data = SplitData(data.images[share], data.masks[share])
    for images, masks in _batches(data, settings.batch_size, None, False):
        logits = _forward(model, images, settings)
        target = masks.to(settings.device)
        total_loss += float(loss_fn(logits, target)) * images.shape[0]
        count += images.shape[0]
        counts.update(_labels(logits, settings.binary).cpu(), masks)
    confusion = counts.compute()
    if distributed.world_size() > 1:
        local = torch.tensor([total_loss, count], dtype=torch.float64)
        sums = distributed.all_reduce_sum(torch.cat([confusion.reshape(-1).double(), local]))
        confusion, total_loss, count = sums[: c * c].reshape(c, c).long(), float(sums[-2]), int(sums[-1])
    foreground = [k for k in range(c) if k != settings.background]
    dice = from_confusion(confusion, "dice", average="none")[foreground]
    iou = from_confusion(confusion, "iou", average="none")[foreground]
    return {
        "val_loss": total_loss / max(count, 1),
        "val_dice": float(nanmean(dice, dim=0)),
        "val_iou": float(nanmean(iou, dim=0)),
        "val_accuracy": float(from_confusion(confusion, "accuracy", average="micro")),
    }


def _better(value: float, best: float | None) -> bool:
    if best is None:
        return True
    if math.isnan(value):
        return False
    return math.isnan(best) or value > best


def train_run(
    model: nn.Module,
    loss_fn: nn.Module,
    train: SplitData,
    val: SplitData,
    settings: TrainSettings,
    *,
    seed: int,
    run_dir: Path,
    model_name: str,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (already holding the seed's initial weights) with ``loss_fn``; resume from ``state.pt``.

    Writes (rank 0 only) ``run_dir/state.pt`` after every epoch, ``run_dir/best.pt`` (the selected weights) and
    ``run_dir/history.csv``; returns ``{"history", "best_epoch", "best_val_dice", "train_seconds"}``. The model
    holds the selected weights on return. ``on_epoch(row)`` is called after each finished epoch (progress).
    """
    device = settings.device
    model.to(device)
    net = distributed.wrap_model(model, device)  # the model itself in one process, else DDP around it
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    history: list[dict[str, Any]] = []
    best_epoch, best_dice = 0, None
    state_path, best_path = run_dir / "state.pt", run_dir / "best.pt"
    main = distributed.is_main()
    state = distributed.load_on_main(
        state_path, lambda p: safe_read.load_torch(p, map_location=device if distributed.world_size() == 1 else "cpu",
                                                   keys=STATE_KEYS))
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot resume from {state_path}: it does not fit this run's model and optimizer "
                             f"({type(exc).__name__}); delete it to restart the run") from None
        history, best_epoch, best_dice = state["history"], state["best_epoch"], state["best_val_dice"]
        for done in history:
            if on_epoch is not None:
                on_epoch(done)
    for epoch in range(len(history) + 1, settings.epochs + 1):
        start = time.perf_counter()
        net.train()
        total, count = 0.0, 0
        for images, masks in _rank_batches(train, settings, seed, epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(_forward(net, images, settings), masks.to(device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{model_name} seed {seed}: loss is {float(loss.detach())} at epoch {epoch}")
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * images.shape[0]
            count += images.shape[0]
        if distributed.world_size() > 1:  # the global mean (padded duplicates of the sampler included)
            total, count = distributed.all_reduce_sum(torch.tensor([total, count], dtype=torch.float64)).tolist()
            distributed.broadcast_buffers(model)
        row: dict[str, Any] = {"model": model_name, "seed": seed, "epoch": epoch, "train_loss": total / count}
        row.update(validate(model, loss_fn, val, settings))
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        keep = _better(row["val_dice"], best_dice) if settings.select == "best-val-dice" else True
        if keep:
            best_epoch, best_dice = epoch, row["val_dice"]
            if main:
                io.write_torch(best_path, {k: v.detach().cpu() for k, v in model.state_dict().items()})
        if main:
            io.write_torch(state_path, {
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "history": history,
                "best_epoch": best_epoch,
                "best_val_dice": best_dice,
            })
            io.write_csv(run_dir / "history.csv", HISTORY_COLUMNS, history)
        if on_epoch is not None:
            on_epoch(row)
    if distributed.world_size() == 1:
        best = safe_read.load_torch(best_path, map_location=device)
    else:
        best = distributed.load_on_main(best_path, lambda p: safe_read.load_torch(p, map_location="cpu"))
    model.load_state_dict(best)
    return {
        "history": history,
        "best_epoch": best_epoch,
        "best_val_dice": best_dice if best_dice is not None else math.nan,
        "train_seconds": sum(float(r["seconds"]) for r in history),
    }
