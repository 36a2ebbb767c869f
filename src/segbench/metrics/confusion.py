"""A streaming confusion matrix: accumulate over batches (and processes), then score any count metric.

:class:`ConfusionMatrix` counts with :func:`segbench.counts.confusion_counts` and scores with
:func:`segbench.metrics.count_scores.from_confusion`, the code path of the functional metrics, so streaming a dataset
in any batches and scoring at the end gives exactly the one-shot value.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from segbench._checks import check_label_maps
from segbench.counts import confusion_counts
from segbench.metrics.count_scores import NAN, from_confusion
from segbench.reduction import Average

__all__ = ["ConfusionMatrix"]


class ConfusionMatrix:
    """Streaming confusion matrix over label maps, with scores, merging and ``torch.distributed`` sync.

    .. math:: M_{ij} = \\#\\{\\text{pixels with target } i \\text{ and prediction } j\\}

    ``compute()`` returns ``(C, C)`` int64 counts, rows = target class, columns = predicted class (scikit-learn's
    order); multilabel maps give ``(C, 2, 2)``, one binary matrix ``[[tn, fp], [fn, tp]]`` per channel.

    Args:
        num_classes: number of classes C; ``None`` means binary input (bool, or labels in {0, 1}), which scores
            the foreground class as the functional metrics do (for multilabel maps: take C from the first batch).
        ignore_index: target label whose pixels are not counted.
        multilabel: inputs are ``(N, C, *spatial)`` 0/1 maps, one binary problem per channel.
        per_image: also keep one matrix per image (``N x C x C`` integers, small), so per-image scores stream and
            :meth:`merge`/:meth:`sync` concatenate them.
        validate: True (default): every :meth:`update` validates its input exactly as the metric functions do;
            False: dtypes and shapes only, no label is read on the host and the counting does not wait for the
            device (for validation loops on a GPU; labels outside ``[0, C)`` then give undefined counts).

    >>> cm = ConfusionMatrix(3)
    >>> cm.update(torch.tensor([[0, 1, 1, 2]]), torch.tensor([[0, 1, 2, 2]]))
    >>> cm.update(torch.tensor([[2, 2]]), torch.tensor([[2, 0]]))
    >>> cm.compute().tolist()
    [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    >>> float(cm.score("dice", include_background=False))   # classes 1 and 2: (2/3 + 4/6) / 2
    0.6666666666666666
    """

    def __init__(
        self,
        num_classes: int | None = None,
        ignore_index: int | None = None,
        multilabel: bool = False,
        per_image: bool = False,
        validate: bool = True,
    ) -> None:
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
            raise TypeError(f"num_classes must be an int or None, got {type(num_classes).__name__}")
        if num_classes is not None and num_classes < (1 if multilabel else 2):
            need = ">= 1 channel" if multilabel else ">= 2 (background included)"
            raise ValueError(f"num_classes must be {need}, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.multilabel = multilabel
        self.per_image = per_image
        self.validate = validate
        self.reset()

    # ---- state -----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every update (and any synced totals)."""
        self._pooled: Tensor | None = None
        self._images: list[Tensor] = []
        self._binary: bool | None = None
        self._synced = False

    @property
    def binary(self) -> bool:
        """Whether the updates were binary input (their scores are those of the foreground class)."""
        return bool(self._binary)

    @property
    def num_images(self) -> int:
        """Number of images counted so far (kept only with ``per_image=True``; otherwise -1)."""
        return sum(int(t.shape[0]) for t in self._images) if self.per_image else -1

    def _matrix_shape(self) -> tuple[int, ...] | None:
        if self.multilabel:
            return None if self.num_classes is None else (self.num_classes, 2, 2)
        c = 2 if self.num_classes is None else self.num_classes
        return (c, c)

    def _check_binary(self, binary: bool | None, where: str) -> None:
        if binary is not None and self._binary is not None and binary != self._binary:
            kinds = {True: "binary (bool or 0/1 with num_classes=None)", False: "multiclass"}
            raise ValueError(
                f"{where} mixes {kinds[self._binary]} and {kinds[binary]} input; a binary matrix scores only "
                "its foreground class, so the two cannot be combined (pass bool maps everywhere, or none)"
            )

    def update(self, pred: Any, target: Any) -> None:
        """Count one batch of label maps ``(N, *spatial)`` (multilabel: ``(N, C, *spatial)``)."""
        if self._synced:
            raise ValueError(
                "this ConfusionMatrix holds the synced totals of all processes; call reset() before updating again"
            )
        lm = check_label_maps(
            pred, target, num_classes=self.num_classes, multilabel=self.multilabel, ignore_index=self.ignore_index,
            validate=self.validate,
        )
        self._check_binary(lm.binary, "update()")
        self._binary = lm.binary
        if self.multilabel and self.num_classes is None:
            self.num_classes = lm.num_classes
        counts = confusion_counts(lm, per_image=self.per_image)
        if self.per_image:
            self._images.append(counts)
        total = counts.sum(0)
        self._pooled = total if self._pooled is None else self._pooled + total.to(self._pooled.device)

    def _zeros(self, device: torch.device | None = None) -> Tensor:
        shape = self._matrix_shape()
        if shape is None:
            raise ValueError("a multilabel ConfusionMatrix with num_classes=None knows its channels after update()")
        return torch.zeros(shape, dtype=torch.long, device=device)

    def compute(self, per_image: bool = False) -> Tensor:
        """The accumulated counts: ``(C, C)`` int64 (rows = target, columns = prediction), or per image
        ``(N, C, C)`` with ``per_image=True`` (needs ``per_image=True`` at construction). Multilabel:
        ``(C, 2, 2)`` / ``(N, C, 2, 2)``."""
        if per_image:
            if not self.per_image:
                raise ValueError("per-image matrices were not kept; construct ConfusionMatrix(..., per_image=True)")
            if not self._images:
                return self._zeros().unsqueeze(0)[:0]
            return torch.cat(self._images)
        return self._zeros() if self._pooled is None else self._pooled.clone()

    def score(
        self,
        metric: str,
        *,
        average: Average | None = None,
        include_background: bool = True,
        per_image: bool = False,
        empty_score: float = NAN,
        strict_undefined: bool = False,
        **params: float,
    ) -> Tensor:
        """Any count metric of the accumulated counts, by name (``"dice"``, ``"iou"``, ``"mcc"``, ...: see
        :func:`segbench.metrics.overlap.names`), with the arguments of the functional metrics. ``per_image=True``
        scores each image and averages (``average="none"`` gives ``(N, K)``); it needs ``per_image=True`` at
        construction. ``average=None`` is the metric's default. The empty-and-miss policy is the functions' (a
        miss or a false alarm scores as a failure; only both empty is NaN); ``strict_undefined=True`` makes every
        0/0 NaN.
        """
        confusion = self.compute(per_image=per_image)
        return from_confusion(
            confusion if per_image else confusion.unsqueeze(0),
            metric,
            binary=self.binary,
            multilabel=self.multilabel,
            average=average,
            include_background=include_background,
            per_image=per_image,
            empty_score=empty_score,
            strict_undefined=strict_undefined,
            **params,
        )

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts to this one (e.g. from a worker); returns ``self``.

        >>> a, b = ConfusionMatrix(2), ConfusionMatrix(2)
        >>> a.update(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]))
        >>> b.update(torch.tensor([[1, 1]]), torch.tensor([[1, 0]]))
        >>> a.merge(b).compute().tolist()
        [[1, 2], [0, 1]]
        """
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"merge() takes a ConfusionMatrix, got {type(other).__name__}")
        mine = (self._matrix_shape(), self.multilabel, self.per_image, self.ignore_index)
        theirs = (other._matrix_shape(), other.multilabel, other.per_image, other.ignore_index)
        if self.multilabel and self.num_classes is None:
            mine = (theirs[0], *mine[1:])
        if mine != theirs:
            raise ValueError(
                "merge() needs matrices built alike: (shape, multilabel, per_image, ignore_index) "
                f"= {mine} here, {theirs} in the other"
            )
        self._check_binary(other._binary, "merge()")
        if other._binary is not None:
            self._binary = other._binary
        if self.multilabel and self.num_classes is None:
            self.num_classes = other.num_classes
        if other._pooled is not None:
            theirs_pooled = other._pooled
            self._pooled = (
                theirs_pooled.clone() if self._pooled is None else self._pooled + theirs_pooled.to(self._pooled.device)
            )
        self._images.extend(t.clone() for t in other._images)
        return self

    def sync(self, group: Any = None) -> ConfusionMatrix:
        """Replace the local counts by the sum over all processes of ``torch.distributed``; returns ``self``.

        The pooled matrix is all-reduced (sum); per-image matrices are all-gathered (processes may hold different
        numbers of images) and concatenated in rank order. Without an initialised process group this does
        nothing. Call it once, after the last update: the synced matrix refuses further updates and a second
        sync until :meth:`reset`. Every process must call it (it is a collective).
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        if self._synced:
            raise ValueError("sync() was already called; the counts are the global totals (reset() to start over)")
        device = self._device(dist.get_backend(group))
        pooled = self._zeros(device) if self._pooled is None else self._pooled.to(device)
        flags = torch.tensor([self._binary is True, self._binary is False], dtype=torch.long, device=device)
        dist.all_reduce(flags, group=group)
        if bool(flags[0] > 0) and bool(flags[1] > 0):
            raise ValueError("sync(): some processes counted binary input and others multiclass input")
        dist.all_reduce(pooled, group=group)
        if self.per_image:
            local = torch.cat(self._images).to(device) if self._images else self._zeros(device).unsqueeze(0)[:0]
            self._images = [_all_gather_rows(local, group)]
        self._pooled = pooled
        self._binary = True if bool(flags[0] > 0) else (False if bool(flags[1] > 0) else None)
        self._synced = True
        return self

    def _device(self, backend: str) -> torch.device:
        if self._pooled is not None:
            return self._pooled.device
        if backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def __repr__(self) -> str:
        kind = "multilabel" if self.multilabel else ("binary" if self.num_classes is None else "multiclass")
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"per_image={self.per_image}, {kind})"
        )


def _all_gather_rows(local: Tensor, group: Any) -> Tensor:
    """All-gather ``(n_rank, ...)`` tensors whose first dimension differs between processes, in rank order."""
    import torch.distributed as dist

    world = dist.get_world_size(group)
    size = torch.tensor([local.shape[0]], dtype=torch.long, device=local.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    counts = [int(s) for s in sizes]
    longest = max(counts)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded, group=group)
    return torch.cat([g[:n] for g, n in zip(gathered, counts, strict=True)])
