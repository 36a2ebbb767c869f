r"""Running segbench on PyTorch's own distributed engine: the one place that talks to ``torch.distributed``.

Launch any command under ``torchrun`` (``torchrun --nproc_per_node N -m segbench compare ...``); torchrun
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``, and
:func:`session` turns them into a process group. Without those variables (or with ``WORLD_SIZE=1``) nothing
here does anything: every helper is the identity of a single process, so the single-process code path is the
distributed one with a world of one.

* Set-up and teardown: :func:`session` (backend ``gloo`` on CPU; on CUDA ``cpu:gloo,cuda:nccl``, i.e. NCCL
  for CUDA tensors and gloo for the small CPU objects that are gathered; device ``cuda:LOCAL_RANK``). Every
  collective times out after ``SEGBENCH_DIST_TIMEOUT`` seconds (default :data:`DEFAULT_TIMEOUT_S`), so a rank
  that dies or hangs never blocks the others forever; under torchrun a rank that exits with an error makes
  torchrun stop the other ranks at once.
* Who am I: :func:`rank`, :func:`world_size`, :func:`local_world_size`, :func:`is_main`, :func:`device`.
* Work split: :func:`shard_indices` (rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, ...``; no padding,
  so no item is counted twice).
* Collectives: :func:`barrier`, :func:`all_reduce_sum`, :func:`broadcast_object`, :func:`gather_in_order`
  (items from every rank back in item order, on rank 0 or on every rank, checked for gaps and duplicates),
  :func:`load_on_main` (rank 0 reads a file, every rank gets its content).
* Training: :func:`wrap_model` (DistributedDataParallel; SyncBatchNorm on CUDA) and :func:`broadcast_buffers`.
* Scoring: :func:`score_shards`: each rank scores its images; count metrics are exact because the confusion
  counts are all-reduced (:meth:`segbench.metrics.ConfusionMatrix.sync`) before any formula, and the per-image
  rows (distance metrics included) are gathered to rank 0 in image order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from segbench.errors import UsageError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "ShardScorer",
    "all_reduce_sum",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "device",
    "gather_in_order",
    "gather_to_main",
    "is_active",
    "is_main",
    "launched",
    "load_on_main",
    "local_world_size",
    "rank",
    "score_shards",
    "session",
    "shard_indices",
    "threads_per_rank",
    "world_size",
    "wrap_model",
]

T = TypeVar("T")

TIMEOUT_ENV = "SEGBENCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
"""Seconds any collective may wait for the other ranks before it raises (``SEGBENCH_DIST_TIMEOUT`` overrides)."""


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"environment variable {name} must be an integer, got {text!r}") from None


def launched() -> bool:
    """Whether this process was started as one of several ranks (``WORLD_SIZE > 1`` in the environment).

    >>> launched()   # a plain process, not started by torchrun
    False
    """
    return _env_int("WORLD_SIZE", 1) > 1


def is_active() -> bool:
    """Whether a process group of more than one rank is initialised (the collectives below are then real)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the group (0 without one).

    >>> rank()
    0
    """
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """The number of ranks (1 without a group).

    >>> world_size()
    1
    """
    return dist.get_world_size() if is_active() else 1


def local_world_size() -> int:
    """Ranks on this machine (torchrun's ``LOCAL_WORLD_SIZE``; 1 without a group)."""
    return max(1, _env_int("LOCAL_WORLD_SIZE", world_size())) if is_active() else 1


def is_main() -> bool:
    """True on rank 0, the only rank that writes files and prints results.

    >>> is_main()
    True
    """
    return rank() == 0


def threads_per_rank(num_threads: int) -> int:
    r"""CPU threads for this rank: the machine's budget ``num_threads`` shared by the ranks on this machine.

    .. math:: t = \max(1, \lfloor \mathrm{num\_threads} / \mathrm{LOCAL\_WORLD\_SIZE} \rfloor)

    >>> threads_per_rank(4)   # a single process keeps them all
    4
    """
    return max(1, num_threads // local_world_size())


def device(requested: str) -> torch.device:
    """The device for ``requested`` (``auto``, ``cpu`` or ``cuda``): ``auto`` is CUDA when present; CUDA under a
    process group is ``cuda:LOCAL_RANK`` (one GPU per rank).

    >>> device("cpu")
    device(type='cpu')
    """
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and is_active():
        return torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return torch.device(requested)


def _timeout() -> timedelta:
    text = os.environ.get(TIMEOUT_ENV)
    try:
        seconds = DEFAULT_TIMEOUT_S if text is None else float(text)
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not seconds > 0:
        raise UsageError(f"{TIMEOUT_ENV} must be > 0 seconds, got {text!r}")
    return timedelta(seconds=seconds)


@contextmanager
def session(*, cuda: bool = False) -> Iterator[None]:
    """Join the process group that torchrun's environment describes for the duration of a block.

    ``cuda=True``: this rank uses ``cuda:LOCAL_RANK`` and NCCL for CUDA tensors (gloo for CPU objects);
    otherwise gloo. Not launched (no ``WORLD_SIZE > 1``): does nothing. A group that already exists (the
    caller's own) is used as it is and left alone; a group created here is destroyed on exit.

    >>> with session():
    ...     world_size(), is_main()
    (1, True)
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        yield
        return
    if not dist.is_available():
        raise UsageError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; run one process")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise UsageError(f"WORLD_SIZE is set but {name} is not; launch with torchrun (see docs/distributed.md)")
    if cuda:
        if not torch.cuda.is_available():
            raise UsageError("a CUDA run was requested under torchrun but no CUDA device is available")
        torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, init_method="env://", timeout=_timeout())
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here (no-op without a group)."""
    if is_active():
        dist.barrier()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over the ranks, in place; returns it (unchanged without a group).

    >>> all_reduce_sum(torch.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    if is_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (any picklable object; ``obj`` itself without a group).

    >>> broadcast_object({"epoch": 3})
    {'epoch': 3}
    """
    if not is_active():
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shard_indices(n: int) -> list[int]:
    """The items ``0 .. n-1`` this rank handles: ``rank, rank + world, ...`` (every item exactly once overall).

    >>> shard_indices(5)
    [0, 1, 2, 3, 4]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    return list(range(rank(), n, world_size()))


def gather_in_order(items: Sequence[T], indices: Sequence[int], total: int, *, to_all: bool = False) -> list[T] | None:
    """Every rank's ``items`` (``items[k]`` being item number ``indices[k]``), back in item order ``0 .. total-1``.

    The result is on rank 0 (``None`` elsewhere), or on every rank with ``to_all=True``. Every item number must
    come exactly once over all ranks: a gap or a duplicate (e.g. from a padding sampler) is a ``RuntimeError``.
    Items travel pickled (label-map rows, small arrays); keep big tensors out.

    >>> gather_in_order(["b", "a"], [1, 0], 2)
    ['a', 'b']
    """
    if len(items) != len(indices):
        raise ValueError(f"{len(items)} items but {len(indices)} indices")
    local = list(zip(indices, items, strict=True))
    if not is_active():
        parts: list[Any] = [local]
    elif to_all:
        parts = [None] * world_size()
        dist.all_gather_object(parts, local)
    else:
        parts = [None] * world_size() if is_main() else []
        dist.gather_object(local, parts if is_main() else None, dst=0)
        if not is_main():
            return None
    slots: list[Any] = [None] * total
    seen = [False] * total
    for part in parts:
        for index, item in part:
            if not 0 <= index < total or seen[index]:
                raise RuntimeError(f"gather_in_order: item {index} is out of 0..{total - 1} or came twice")
            seen[index], slots[index] = True, item
    if not all(seen):
        raise RuntimeError(f"gather_in_order: items {[i for i, s in enumerate(seen) if not s][:5]} came from no rank")
    return slots


def gather_to_main(obj: T) -> list[T] | None:
    """Every rank's ``obj`` on rank 0, in rank order (``None`` elsewhere); ``[obj]`` in one process. Keep it small
    (it travels pickled): one volume's label map, say.

    >>> gather_to_main("a")
    ['a']
    """
    if not is_active():
        return [obj]
    parts: list[Any] = [None] * world_size() if is_main() else []
    dist.gather_object(obj, parts if is_main() else None, dst=0)
    return parts if is_main() else None


def load_on_main(path: Path, load: Callable[[Path], T]) -> T | None:
    """``load(path)`` read by rank 0 (``None`` if the file does not exist) and sent to every rank.

    Only rank 0 touches the file, so a multi-node run needs the run folder on rank 0's machine only.
    """
    value = (load(path) if path.exists() else None) if is_main() else None
    return broadcast_object(value)


def wrap_model(model: nn.Module, dev: torch.device) -> nn.Module:
    """``model`` (already on ``dev``) for training: itself without a group, else DistributedDataParallel.

    On CUDA, BatchNorm layers become SyncBatchNorm first (statistics of the global batch, as one process
    would see them); PyTorch has no CPU SyncBatchNorm, so on CPU each rank normalises with its own batch.
    The state-dict keys of ``model`` are unchanged either way (the converted layers are put inside it).
    """
    if not is_active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    if dev.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise TypeError("wrap_model: the model's top module must not itself be a BatchNorm layer")
        return DistributedDataParallel(model, device_ids=[dev.index])
    return DistributedDataParallel(model)


def broadcast_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics), so that all ranks validate, save and
    predict with the same model (DDP itself does this only at the start of the next training forward)."""
    if is_active():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def score_shards(
    pred: Any,
    target: Any,
    indices: Sequence[int],
    image_ids: Sequence[str],
    *,
    num_classes: int,
    binary: bool | None = None,
    class_names: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    nsd_tolerance: float = 1.0,
    ignore_index: int | None = None,
    probabilities: Any = None,
    instances: Any = None,
    scaled_probabilities: Any = None,
    spacing: Sequence[float] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    r"""Score a data set split over the ranks: per-image rows and pooled rows, as one process would.

    ``probabilities``, ``scaled_probabilities`` (temperature-scaled) and ``instances`` (this rank's images, or
    ``None``) go to :func:`segbench.scoring.score_label_maps` with them (probability and true-instance object
    metrics), and so does ``spacing`` (the voxel size per axis: distance metrics in physical units); the
    probabilities also give the pooled probability metrics (ECE, Brier, NLL, AP ... of every test pixel at once,
    :func:`segbench.scoring.pooled_from_histograms`), from histograms synced like the counts.

    ``pred`` and ``target`` ``(m, *spatial)`` are this rank's images, numbers ``indices`` (``m`` of them, e.g.
    :func:`shard_indices`) of the ``len(image_ids)`` images. Returns, on rank 0, the rows of
    :func:`segbench.scoring.score_label_maps` for every image in image order and those of
    :func:`segbench.scoring.pooled_scores`; ``None`` on the other ranks. Pooled scores come from the summed
    confusion matrix :math:`M = \sum_r M_r` (exact integer counts), so they equal the one-process numbers.

    >>> t = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
    >>> per_image, pooled = score_shards(t, t, [0, 1], ["a", "b"], num_classes=2, metrics=["dice"])
    >>> [(r["image"], r["value"]) for r in per_image], pooled
    ([('a', 1.0), ('b', 1.0)], [{'class': '1', 'metric': 'dice', 'value': 1.0}])
    """
    scorer = ShardScorer(image_ids, num_classes=num_classes, binary=binary, class_names=class_names,
                         metrics=metrics, nsd_tolerance=nsd_tolerance, ignore_index=ignore_index,
                         probabilities=probabilities is not None, scaled=scaled_probabilities is not None,
                         exact=False)  # one update
    scorer.update(pred, target, indices, probabilities=probabilities, instances=instances,
                  scaled_probabilities=scaled_probabilities, spacing=spacing)
    return scorer.finish()


class ShardScorer:
    """:func:`score_shards` fed part by part: :meth:`update` with any number of this rank's images at a time (one
    volume, say), :meth:`finish` once on every rank. Only the per-image rows and the dataset-level state (confusion
    counts, probability histograms) are kept, never the images, so memory does not grow with the split. Fed the
    whole share at once it is :func:`score_shards` itself.

    ``probabilities`` / ``scaled``: whether :meth:`update` gets probabilities (every rank must agree). ``exact``
    (default) keeps each image's probability-histogram state (tens of kB) and sums them once at the end, so the
    pooled float sums are bit for bit those of one update with every image, however the images came;
    ``exact=False`` keeps only the running sums (one update: the same; several: equal up to float rounding).

    >>> t = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
    >>> scorer = ShardScorer(["a", "b"], num_classes=2, metrics=["dice"])
    >>> scorer.update(t[1:], t[1:], [1], spacing=(2.0, 1.0)); scorer.update(t[:1], t[:1], [0])
    >>> per_image, pooled = scorer.finish()
    >>> [r["image"] for r in per_image], pooled
    (['a', 'b'], [{'class': '1', 'metric': 'dice', 'value': 1.0}])
    """

    def __init__(self, image_ids: Sequence[str], *, num_classes: int, binary: bool | None = None,
                 class_names: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                 nsd_tolerance: float = 1.0, ignore_index: int | None = None, probabilities: bool = False,
                 scaled: bool = False, exact: bool = True) -> None:
        from segbench.metrics import ConfusionMatrix
        from segbench.metrics.probability_stream import scoring_bins

        self.image_ids = [str(i) for i in image_ids]
        self.options: dict[str, Any] = {"num_classes": num_classes, "binary": binary, "class_names": class_names,
                                        "metrics": metrics}
        self.nsd_tolerance, self.ignore_index = nsd_tolerance, ignore_index
        self.chunks: list[list[dict[str, Any]]] = []
        self.indices: list[int] = []
        self.confusion = ConfusionMatrix(num_classes, ignore_index=ignore_index)
        channels = 1 if (num_classes == 2 if binary is None else bool(binary)) else num_classes
        self.exact = bool(exact)
        self.histograms = {key: scoring_bins(channels, ignore_index, per_image=self.exact) for key, wanted in
                           ((False, probabilities), (True, scaled)) if wanted}  # per image: repooled in finish
        """The dataset-level probability histograms (raw: key ``False``, temperature-scaled: ``True``); after
        :meth:`finish`, repooled and synced over the ranks (on every rank)."""

    def update(self, pred: Any, target: Any, indices: Sequence[int], *, probabilities: Any = None,
               instances: Any = None, scaled_probabilities: Any = None, spacing: Sequence[float] | None = None
               ) -> None:
        """Score images ``indices`` (``pred``, ``target`` ``(m, *spatial)``, and their probabilities as in
        :func:`score_shards`); ``spacing`` is theirs (distance metrics in its units)."""
        from segbench import scoring

        p, t = torch.as_tensor(pred), torch.as_tensor(target)
        local_ids = [self.image_ids[i] for i in indices]
        if p.shape[0] != len(local_ids) or t.shape[0] != len(local_ids):
            raise ValueError(f"{len(local_ids)} indices but {p.shape[0]} predictions and {t.shape[0]} targets")
        if not local_ids:
            return
        rows = scoring.score_label_maps(p, t, image_ids=local_ids, nsd_tolerance=self.nsd_tolerance,
                                        ignore_index=self.ignore_index, probabilities=probabilities,
                                        instances=instances, scaled_probabilities=scaled_probabilities,
                                        spacing=spacing, **self.options)
        per = len(rows) // len(local_ids)
        self.chunks += [rows[k * per : (k + 1) * per] for k in range(len(local_ids))]
        self.indices += [int(i) for i in indices]
        self.confusion.update(p, t)
        for key, probs in ((False, probabilities), (True, scaled_probabilities)):
            if key in self.histograms:
                if probs is None:
                    raise ValueError("this ShardScorer was built to score probabilities; pass them to every update")
                self.histograms[key].update(torch.as_tensor(probs), t)

    def finish(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        """Sync over the ranks; on rank 0 the per-image rows in image order and the pooled rows, else ``None``."""
        from segbench import scoring

        self.confusion.sync()
        self.histograms = {key: (hist.repool() if self.exact else hist).sync()
                           for key, hist in self.histograms.items()}
        ordered = gather_in_order(self.chunks, self.indices, len(self.image_ids))
        if ordered is None:
            return None
        pooled = scoring.pooled_from_confusion(self.confusion.compute(), **self.options)
        if self.histograms:
            pooled += scoring.pooled_from_histograms(self.histograms, **self.options)
        return [row for chunk in ordered for row in chunk], pooled


