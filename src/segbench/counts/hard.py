"""Hard counts: confusion matrices per image from label maps, and ``tp, fp, fn, tn`` read off them.

Metrics count with :func:`confusion_counts` (one joint histogram of (target, prediction) label pairs per image) and
read the per-class counts with :func:`stat_scores`; every overlap score is then one formula of
:mod:`segbench.counts.formulas` over them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segbench._checks import LabelMaps
from segbench.counts.formulas import Counts

__all__ = ["confusion_counts", "stat_scores"]


# Elements per counting chunk on the CPU (one 512 x 512 image): small enough that the index temporaries stay in
# cache instead of allocating (and page-faulting) a fresh int64 copy of the whole batch; accelerators count in one
# pass. benchmarks/bench_confusion.py measures the effect.
_CPU_CHUNK = 1 << 18


def _pair_histogram(
    target: Tensor, pred: Tensor, k: int, valid: Tensor | None, separate: bool, sync_free: bool = False
) -> Tensor:
    """Joint histogram of ``(target, pred)`` label pairs per row of ``(G, X)`` int64 maps -> ``(G, k, k)``.

    ``separate=False`` pools the rows (``(1, k, k)``). Pixels with ``valid == False`` land in an extra bin that is
    dropped, so no masked copy is made. Labels must already lie in ``[0, k)``. ``sync_free`` (and tracing by
    ``torch.compile``) counts by a static-shape scatter instead: ``bincount`` on an accelerator reads the largest
    index on the host to size its output.
    """
    g, x = target.shape
    bins = k * k
    if torch.compiler.is_compiling() or (sync_free and target.device.type != "cpu"):  # sizes known beforehand
        return _traced_pair_histogram(target, pred, k, valid, separate)
    width = bins if valid is None else bins + 1
    out = torch.zeros(g if separate else 1, bins, dtype=torch.long, device=target.device)
    step = _CPU_CHUNK if target.device.type == "cpu" else max(1, g * x)
    rows = max(1, step // x)
    cols = min(x, step)
    for r0 in range(0, g, rows):
        r1 = min(g, r0 + rows)
        for c0 in range(0, x, cols):
            c1 = min(x, c0 + cols)
            idx = torch.add(pred[r0:r1, c0:c1], target[r0:r1, c0:c1], alpha=k)
            if valid is not None:
                idx.masked_fill_(~valid[r0:r1, c0:c1], bins)
            if separate and r1 - r0 > 1:
                idx.add_(torch.arange(r1 - r0, device=idx.device).view(-1, 1) * width)
                hist = torch.bincount(idx.flatten(), minlength=(r1 - r0) * width).view(r1 - r0, width)
                out[r0:r1] += hist[:, :bins]
            else:
                hist = torch.bincount(idx.flatten(), minlength=width)
                out[r0 if separate else 0] += hist[:bins]
    return out.view(-1, k, k)


def _traced_pair_histogram(target: Tensor, pred: Tensor, k: int, valid: Tensor | None, separate: bool) -> Tensor:
    """:func:`_pair_histogram` for ``torch.compile``: one ``scatter_add`` of ones into ``(G, k * k)`` bins (ignored
    pixels add 0), whose shape is known before the data are read."""
    idx = torch.add(pred, target, alpha=k)
    ones = torch.ones_like(idx) if valid is None else valid.to(idx.dtype)
    out = idx.new_zeros(target.shape[0], k * k).scatter_add_(1, idx, ones)
    return (out if separate else out.sum(0, keepdim=True)).view(-1, k, k)


def confusion_counts(lm: LabelMaps, *, per_image: bool = True) -> Tensor:
    """Hard confusion matrix per image: ``(N, C, C)`` int64, rows = target class, columns = predicted class.

    Multilabel maps give ``(N, C, 2, 2)``: one binary matrix per channel. Ignored pixels are not counted.
    ``per_image=False`` pools the batch into one matrix, ``(1, C, C)`` (``(1, C, 2, 2)``), which is faster.

    .. math:: M_{n,i,j} = \\#\\{x : y_n(x) = i,\\ \\hat y_n(x) = j\\}

    Args:
        lm: checked label maps (:func:`segbench._checks.check_label_maps`): prediction, target, valid mask.
        per_image: True: one matrix per image; False: one matrix for the batch.

    >>> from segbench._checks import check_label_maps
    >>> lm = check_label_maps(torch.tensor([[0, 1, 1, 2]]), torch.tensor([[0, 1, 2, 2]]), num_classes=3)
    >>> confusion_counts(lm)[0].tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    n = lm.target.shape[0]
    c = lm.num_classes
    if lm.multilabel:  # every (image, channel) is its own binary problem
        per = _pair_histogram(lm.target.reshape(n * c, -1), lm.pred.reshape(n * c, -1), 2, None, True,
                              not lm.validate)
        per = per.view(n, c, 2, 2)
        return per if per_image else per.sum(0, keepdim=True)
    valid = None if lm.valid is None else lm.valid.reshape(n, -1)
    return _pair_histogram(lm.target.reshape(n, -1), lm.pred.reshape(n, -1), c, valid, per_image, not lm.validate)


def stat_scores(confusion: Tensor) -> Counts:
    """``tp, fp, fn, tn`` per (image, class) from confusion matrices ``(N, C, C)`` or ``(N, C, 2, 2)``.

    .. math:: tp_c = M_{cc},\\quad fp_c = \\textstyle\\sum_i M_{ic} - tp_c,\\quad fn_c = \\sum_j M_{cj} - tp_c,\\quad
        tn_c = \\sum_{ij} M_{ij} - tp_c - fp_c - fn_c

    Args:
        confusion: counts from :func:`confusion_counts` (rows = target class, columns = predicted class).

    >>> cm = torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 1, 1]]])
    >>> s = stat_scores(cm)
    >>> s.tp.tolist(), s.fp.tolist(), s.fn.tolist(), s.tn.tolist()
    ([[1, 1, 1]], [[0, 1, 0]], [[0, 0, 1]], [[3, 2, 2]])
    """
    if confusion.ndim == 4:  # multilabel: one 2x2 per channel
        tn, fp = confusion[..., 0, 0], confusion[..., 0, 1]
        fn, tp = confusion[..., 1, 0], confusion[..., 1, 1]
        return Counts(tp, fp, fn, tn)
    tp = torch.diagonal(confusion, dim1=-2, dim2=-1)
    fp = confusion.sum(-2) - tp
    fn = confusion.sum(-1) - tp
    tn = confusion.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
    return Counts(tp, fp, fn, tn)
