r"""Training one bench run: one model, one loss, one seed, a budget in optimizer steps with a plateau rule, resumable.

The loop (:func:`train_run`): AdamW, one batch per optimizer step. Step ``s`` draws its batch from a generator
seeded from ``(seed, s)`` alone (:func:`~segbench.compare.determinism.step_generator`): ``batch_size`` distinct
training images, a random crop of each (``crop``: one uniform patch per image, drawn with
:func:`segbench.data.patches.sample_patch_origins`, cut with :func:`~segbench.data.patches.crop_patch`; no crop
when ``None``) and random flips, so every loss of one seed sees the same batches in the same order and a resumed
run sees exactly the batches of an uninterrupted one. Every ``eval_every`` steps the model is scored on the
whole validation split (:func:`validate`) and ``state.pt`` is written atomically (model, optimizer, history, best
so far, plateau state): a rerun loads it and continues with the next step.

**Plateau rule.** The watched metric is ``settings.monitor`` (the experiment's primary metric, pooled over the
validation split: :func:`monitored`). With :math:`m_k` its value at the evaluation of step :math:`s_k` and
:math:`r` the step of the last *improvement* (an evaluation that beat the previous improvement's value by more
than ``min_delta``; the first evaluation is one), a run stops at the first evaluation with
:math:`s_k - r \ge` ``patience`` (``stop = "plateau"``), or at ``max_steps`` (``stop = "max_steps"``; then it was
still improving: its last improvement lies within ``patience`` steps). ``patience=None`` (the legacy epoch
budget) trains to ``max_steps``.

The checkpoint rule ``best-val-dice`` keeps the evaluation with the highest validation Dice in ``best.pt``
(ties: the earliest), ``last`` the final one.

Validation Dice, IoU and accuracy are pooled over the split (counts summed over all images), averaged over the
foreground classes :math:`F` (every class but the background):

.. math::

    \mathrm{val\_dice} = \frac{1}{|F|}\sum_{c \in F} \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}

(classes with no target and no predicted pixel are skipped). On CUDA the forward pass runs under bf16
autocast; the loss is computed in float32.

**Live terms.** Every step the loss's terms (a combined loss's weighted terms; a single loss is its one term)
are evaluated separately with the gradient norm of each *unweighted* term with respect to the logits,
:math:`\lVert \partial L_k / \partial z \rVert_2` (the network's output, before any sigmoid or softmax; not
the parameters, so the measure is cheap and independent of the model size). Their means over each evaluation
window are the run's term rows (``terms.csv``); :func:`dead_terms` names the terms that never varied or never
had a gradient.

Under ``torchrun`` (:mod:`segbench.distributed`, ``docs/distributed.md``) the same loop trains with
DistributedDataParallel: step ``s``'s global batch is drawn as in one process and each rank takes its
contiguous share (:math:`\lceil B / W \rceil` images), so the batches do not depend on the number of ranks.
After each evaluation window rank 0's BatchNorm statistics are given to every rank, each rank validates its
share of the validation images and the confusion counts and loss sums are all-reduced, so the validation
metrics (and the checkpoint and plateau choices) are the exact global ones. Only rank 0 writes ``state.pt``,
``best.pt``, ``history.csv`` and ``terms.csv``; on resume rank 0 reads them and sends them to every rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from segbench import distributed
from segbench.compare import volumetric
from segbench.compare.config import SelectRule
from segbench.compare.determinism import step_generator
from segbench.data.patches import crop_patch, sample_patch_origins
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files import safe_read
from segbench.files.run_folder import HISTORY_COLUMNS, TERM_COLUMNS
from segbench.losses.compose import CompositeLoss
from segbench.metrics import ConfusionMatrix, catalogue, from_confusion
from segbench.reduction import nanmean

__all__ = ["Budget", "SplitData", "TrainSettings", "dead_terms", "monitored", "predict", "predict_with_probabilities",
           "train_run", "validate"]
STATE_KEYS = ("model", "optimizer", "history", "best_step", "best_val_dice", "plateau", "terms")
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
class Budget:
    """A run's budget in optimizer steps: at most ``max_steps``, validated every ``eval_every``, stopped after
    ``patience`` steps without an improvement of more than ``min_delta`` (``None``: no plateau rule)."""

    max_steps: int
    eval_every: int
    patience: int | None
    min_delta: float


@dataclass(frozen=True)
class TrainSettings:
    """What a run needs besides model and loss (see :mod:`segbench.compare.config` for the meaning).

    ``monitor`` is the catalogue metric the plateau rule watches (:func:`monitored`); ``epochs`` (legacy) replaces
    the step budget by that many passes over the training images (:meth:`budget`). ``patch`` (``[train]
    patch_size``) switches to patch training with foreground oversampling and sliding-window prediction
    (:mod:`segbench.compare.volumetric`).
    """

    batch_size: int
    lr: float
    weight_decay: float
    augment: bool
    select: SelectRule
    device: torch.device
    num_classes: int
    background: int
    ignore_index: int | None = None
    max_steps: int = 800
    eval_every: int = 50
    patience: int | None = None
    min_delta: float = 0.0
    crop: tuple[int, ...] | None = None
    monitor: str = "dice"
    epochs: int | None = None
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

    def budget(self, n_train: int) -> Budget:
        """The step budget for ``n_train`` training images: the configured one, or (``epochs`` set) ``epochs``
        passes of :math:`\\lceil n / B \\rceil` steps, validated after each pass, without a plateau rule.

        >>> s = TrainSettings(8, 1e-3, 0.0, False, "last", torch.device("cpu"), 2, 0, epochs=3)
        >>> s.budget(28)
        Budget(max_steps=12, eval_every=4, patience=None, min_delta=0.0)
        """
        if self.epochs is None:
            return Budget(self.max_steps, self.eval_every, self.patience, self.min_delta)
        per_pass = -(-n_train // self.batch_size)
        return Budget(self.epochs * per_pass, per_pass, None, self.min_delta)


def monitored(name: str) -> str:
    """The metric the plateau rule can watch for the primary metric ``name``: itself where it has a pooled form from
    confusion counts (the count metrics), else Dice (a distance or probability metric is not scored on the
    validation split).

    >>> monitored("mcc"), monitored("hd95"), monitored("pixel_accuracy")
    ('mcc', 'dice', 'pixel_accuracy')
    """
    entry = catalogue.get_entry(name)
    return entry.name if entry.pooled is not None and entry.needs == "labels" else "dice"


def _flip(images: Tensor, masks: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
    """Flip image ``k`` horizontally where ``flips[k, 0]``, vertically where ``flips[k, 1]`` (bool ``(n, 2)``)."""
    h = flips[:, 0].view(-1, 1, 1)
    v = flips[:, 1].view(-1, 1, 1)
    masks = torch.where(h, masks.flip(-1), masks)
    masks = torch.where(v, masks.flip(-2), masks)
    images = torch.where(h[:, None], images.flip(-1), images)
    images = torch.where(v[:, None], images.flip(-2), images)
    return images, masks


def _crop(images: Tensor, masks: Tensor, patch: tuple[int, ...], rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """One uniformly placed ``patch`` of each image and its mask (the patch fits: callers clip it to the image)."""
    out_i, out_m = [], []
    for image, mask in zip(images.numpy(), masks.numpy(), strict=True):
        origin = sample_patch_origins(mask, patch, 1, 0.0, rng)[0].origin
        out_i.append(crop_patch(image, origin, patch))
        out_m.append(crop_patch(mask, origin, patch))
    return torch.from_numpy(np.stack(out_i)), torch.from_numpy(np.stack(out_m))


def _step_batch(data: SplitData, settings: TrainSettings, seed: int, step: int) -> tuple[Tensor, Tensor]:
    """This rank's training batch of optimizer step ``step``: ``batch_size`` distinct images drawn from the
    ``(seed, step)`` generator, cropped and flipped; under a process group, this rank's contiguous share of it."""
    if settings.patch is not None:  # random patches (volumes), foreground oversampled
        return volumetric.patch_batch(data, settings, seed, step)
    generator = step_generator(seed, step)
    n = len(data)
    idx = torch.randperm(n, generator=generator)[: min(settings.batch_size, n)]
    flips = torch.rand(len(idx), 2, generator=generator) < 0.5
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    if volumetric.ragged(data):  # native-size images of several sizes: each read and cropped in turn (as _crop)
        if settings.crop is None:
            raise UsageError("images of several sizes need [train] crop (whole images of several sizes cannot be "
                             "stacked into one batch)")
        pairs = [_crop(data.images[k][None], data.masks[k][None], tuple(settings.crop), rng) for k in idx.tolist()]
        images, masks = torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])
    else:
        images, masks = data.images[idx], data.masks[idx]
        if settings.crop is not None:
            patch = tuple(min(p, s) for p, s in zip(settings.crop, masks.shape[1:], strict=True))
            if patch != tuple(masks.shape[1:]):
                images, masks = _crop(images, masks, patch, rng)
    if settings.augment:
        images, masks = _flip(images, masks, flips)
    world = distributed.world_size()
    if world > 1:  # the whole batch is drawn alike on every rank: it does not depend on the number of ranks
        share = torch.arange(len(idx)).tensor_split(world)[distributed.rank()]
        images, masks = images[share], masks[share]
    return images, masks


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
    """``val_loss`` (mean over images), pooled ``val_dice``, ``val_iou`` (foreground classes), ``val_accuracy``,
    and ``val_primary``: ``settings.monitor`` pooled the same way (a per-class metric: the mean over the
    foreground classes).

    Under a process group each rank scores its share of ``data`` and the sums are all-reduced (exact counts).
    """
    model.eval()
    c = settings.num_classes
    counts = ConfusionMatrix(c, ignore_index=settings.ignore_index)
    total_loss, count = 0.0, 0
    share = distributed.shard_indices(len(data))  # every image in one process
    for idx in volumetric.index_batches(data, share, settings.batch_size):  # one case per batch: volumes of
        index = torch.tensor(idx, dtype=torch.long)                          # several sizes
        images, masks = data.images[index], data.masks[index]
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
    entry = catalogue.get_entry(settings.monitor)
    if entry.pooled is None:
        raise ValueError(f"the plateau rule cannot watch {entry.name!r} (no pooled form): see monitored()")
    primary = entry.pooled(confusion)
    return {
        "val_loss": total_loss / max(count, 1),
        "val_dice": float(nanmean(dice, dim=0)),
        "val_iou": float(nanmean(iou, dim=0)),
        "val_accuracy": float(from_confusion(confusion, "accuracy", average="micro")),
        "val_primary": float(nanmean(primary[foreground], dim=0) if primary.ndim else primary),
    }


def _better(value: float, best: float | None) -> bool:
    if best is None:
        return True
    if math.isnan(value):
        return False
    return math.isnan(best) or value > best


def _improved(value: float, reference: float | None, min_delta: float, higher: bool) -> bool:
    """Whether ``value`` beats the last improvement's ``reference`` by more than ``min_delta`` (the plateau rule).

    >>> _improved(0.71, 0.70, 0.005, True), _improved(0.704, 0.70, 0.005, True), _improved(3.0, 4.0, 0.5, False)
    (True, False, True)
    """
    if reference is None or (math.isnan(reference) and not math.isnan(value)):
        return True
    if math.isnan(value):
        return False
    return (value - reference if higher else reference - value) > min_delta


TERM_TOLERANCE = 1e-7
"""A term is *constant* when its window means spread by at most ``TERM_TOLERANCE * (1 + |mean|)``, and *without
gradient* when its gradient norm never exceeds ``TERM_TOLERANCE ** 2``."""


def dead_terms(rows: list[dict[str, Any]]) -> list[str]:
    """The terms of one run's term rows (``term``, ``value``, ``grad_norm`` per evaluation window) that stayed
    constant over at least two windows or never had a gradient (see :data:`TERM_TOLERANCE`), in first-seen order.

    >>> rows = [{"term": "ce", "value": 0.0, "grad_norm": 0.0}, {"term": "dice", "value": 0.6, "grad_norm": 0.1},
    ...         {"term": "ce", "value": 0.0, "grad_norm": 0.0}, {"term": "dice", "value": 0.4, "grad_norm": 0.2}]
    >>> dead_terms(rows)
    ['ce']
    """
    by_term: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_term.setdefault(str(row["term"]), []).append((float(row["value"]), float(row["grad_norm"])))
    dead = []
    for term, pairs in by_term.items():
        values = [v for v, _ in pairs if math.isfinite(v)]
        spread = max(values) - min(values) if values else 0.0
        scale = 1.0 + abs(sum(values) / len(values)) if values else 1.0
        constant = len(pairs) >= 2 and spread <= TERM_TOLERANCE * scale
        flat = all(not g > TERM_TOLERANCE**2 for _, g in pairs)
        if constant or flat:
            dead.append(term)
    return dead


def _terms(loss_fn: nn.Module) -> list[tuple[float, str, nn.Module]]:
    """``(weight, name, loss)`` of each term: a combined loss's terms, else the loss itself as one term."""
    if isinstance(loss_fn, CompositeLoss):
        return [(w, name, loss) for w, name, loss in loss_fn.terms]
    return [(1.0, str(getattr(loss_fn, "spec", type(loss_fn).__name__)), loss_fn)]


def _step_loss(terms: list[tuple[float, str, nn.Module]], logits: Tensor, target: Tensor,
               sums: dict[str, list[float]]) -> Tensor:
    r"""The loss :math:`\sum_k w_k L_k` of one step; adds each term's value and
    :math:`\lVert \partial L_k / \partial z \rVert_2` (z: the logits) to ``sums[name]``."""
    values = [loss(logits, target) for _, _, loss in terms]
    for (_, name, _), value in zip(terms, values, strict=True):
        grad = torch.autograd.grad(value, logits, retain_graph=True, allow_unused=True)[0]
        norm = 0.0 if grad is None else float(grad.detach().norm())
        acc = sums.setdefault(name, [0.0, 0.0, 0.0])
        acc[0] += float(value.detach())
        acc[1] += norm
        acc[2] += 1
    total = values[0] * terms[0][0]
    for (w, _, _), value in zip(terms[1:], values[1:], strict=True):
        total = total + w * value
    return total


def _state(model: nn.Module, optimizer: torch.optim.Optimizer, history: list[dict[str, Any]], best: tuple[int, Any],
           plateau: dict[str, Any], terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "history": history, "best_step": best[0], "best_val_dice": best[1],
            "plateau": plateau, "terms": terms}


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
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (already holding the seed's initial weights) with ``loss_fn``; resume from ``state.pt``.

    Writes (rank 0 only) ``run_dir/state.pt`` after every evaluation, ``run_dir/best.pt`` (the selected weights),
    ``run_dir/history.csv`` and ``run_dir/terms.csv``; returns ``{"history", "terms", "dead_terms", "best_step",
    "best_val_dice", "best_val_primary", "stop", "stop_step", "max_steps", "still_improving", "train_seconds"}``.
    The model holds the selected weights on return. ``on_eval(row)`` is called after each evaluation (progress).
    """
    device = settings.device
    budget = settings.budget(len(train))
    higher = catalogue.get_entry(settings.monitor).higher_is_better
    model.to(device)
    net = distributed.wrap_model(model, device)  # the model itself in one process, else DDP around it
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    history: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []
    best_step, best_dice = 0, None
    plateau: dict[str, Any] = {"reference": None, "step": 0, "best": None, "stop": ""}
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
        history, best_step, best_dice = state["history"], state["best_step"], state["best_val_dice"]
        plateau, term_rows = state["plateau"], state["terms"]
        for done in history:
            if on_eval is not None:
                on_eval(done)
    terms = _terms(loss_fn)
    step = int(history[-1]["step"]) if history else 0
    while not plateau["stop"] and step < budget.max_steps:
        start = time.perf_counter()
        net.train()
        total, count = 0.0, 0
        sums: dict[str, list[float]] = {}
        end = min(step + budget.eval_every, budget.max_steps)
        for k in range(step + 1, end + 1):
            step = k
            images, masks = _step_batch(train, settings, seed, step)
            optimizer.zero_grad(set_to_none=True)
            loss = _step_loss(terms, _forward(net, images, settings), masks.to(device), sums)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{model_name} seed {seed}: loss is {float(loss.detach())} at step {step}")
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * images.shape[0]
            count += images.shape[0]
        if distributed.world_size() > 1:  # the global mean
            total, count = distributed.all_reduce_sum(torch.tensor([total, count], dtype=torch.float64)).tolist()
            distributed.broadcast_buffers(model)
        row: dict[str, Any] = {"model": model_name, "seed": seed, "lr": settings.lr, "step": step,
                               "train_loss": total / count}
        row.update(validate(model, loss_fn, val, settings))
        row["seconds"] = time.perf_counter() - start
        if plateau["best"] is None or _better(row["val_primary"] if higher else -row["val_primary"],
                                              plateau["best"] if higher else -plateau["best"]):
            plateau["best"] = row["val_primary"]
        if _improved(row["val_primary"], plateau["reference"], budget.min_delta, higher):
            plateau["reference"], plateau["step"] = row["val_primary"], step
        if budget.patience is not None and step - plateau["step"] >= budget.patience:
            plateau["stop"] = "plateau"
        elif step >= budget.max_steps:
            plateau["stop"] = "max_steps"
        row["stop"] = plateau["stop"]
        history.append(row)
        term_rows += [{"model": model_name, "seed": seed, "step": step, "term": name, "weight": w,
                       "value": sums[name][0] / sums[name][2], "grad_norm": sums[name][1] / sums[name][2]}
                      for w, name, _ in terms]
        keep = _better(row["val_dice"], best_dice) if settings.select == "best-val-dice" else True
        if keep:
            best_step, best_dice = step, row["val_dice"]
            if main:
                io.write_torch(best_path, {k: v.detach().cpu() for k, v in model.state_dict().items()})
        if main:
            io.write_torch(state_path, _state(model, optimizer, history, (best_step, best_dice), plateau, term_rows))
            io.write_csv(run_dir / "history.csv", HISTORY_COLUMNS, history)
            io.write_csv(run_dir / "terms.csv", TERM_COLUMNS, term_rows)
        if on_eval is not None:
            on_eval(row)
    if distributed.world_size() == 1:
        best = safe_read.load_torch(best_path, map_location=device)
    else:
        best = distributed.load_on_main(best_path, lambda p: safe_read.load_torch(p, map_location="cpu"))
    model.load_state_dict(best)
    last = history[-1]["step"] if history else 0
    window = budget.patience if budget.patience is not None else max(budget.max_steps // 4, budget.eval_every)
    return {
        "history": history,
        "terms": term_rows,
        "dead_terms": dead_terms(term_rows),
        "best_step": best_step,
        "best_val_dice": best_dice if best_dice is not None else math.nan,
        "best_val_primary": plateau["best"] if plateau["best"] is not None else math.nan,
        "stop": plateau["stop"],
        "stop_step": last,
        "max_steps": budget.max_steps,
        "still_improving": plateau["stop"] == "max_steps" and last - plateau["step"] < window,
        "train_seconds": sum(float(r["seconds"]) for r in history),
    }
