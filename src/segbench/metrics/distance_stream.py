"""Streaming distance metrics: keep every case's value, aggregate at the end, gather across processes.

A running mean is not enough for distance metrics: a missed structure is ``inf`` (or a stated worst case), a
case with both masks empty is undefined, and medians and percentiles need every value. So
:class:`DistanceAccumulator` keeps the per-(image, class) values and the counts of misses and undefined cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from segbench._docs import document_args
from segbench.metrics.distance import (
    DISTANCE_ARGS,
    DISTANCE_METRICS,
    PercentileRule,
    Surface,
    WorstCase,
    _check_choice,
    metrics_from,
    surface_distances,
)

__all__ = ["DistanceAccumulator", "DistanceResults", "summarize"]

STATS = ("mean", "median", "p5", "p95", "n", "n_miss", "n_undefined")


def _quantile(sorted_values: np.ndarray, q: float) -> float:
    """Linear-interpolated quantile of sorted values that may hold ``inf`` (``inf - inf`` never makes NaN)."""
    pos = q * (len(sorted_values) - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    a, b = float(sorted_values[lo]), float(sorted_values[hi])
    if a == b or pos == lo:
        return a
    return a + (b - a) * (pos - lo)


def summarize(values: Tensor, miss: Tensor, undefined: Tensor) -> dict[str, Tensor]:
    r"""Aggregate per-case values ``(M,)`` or ``(M, C')`` over cases, per class.

    Undefined cases (NaN, both masks empty) are left out and counted in ``n_undefined``; misses stay in with their
    value (``inf`` for HD/ASSD unless a worst case was set, 0 for NSD) and are counted in ``n_miss``. ``n`` counts
    the cases that entered the statistics. ``mean`` is therefore ``inf`` as soon as one structure is missed with
    ``worst_case=None``: the median and the percentiles (linear interpolation, ``p5``, ``p95``) stay informative.

    .. math::

        \mathrm{mean} = \frac{1}{n} \sum_{i:\, v_i \ne \mathrm{NaN}} v_i

    Args:
        values: each case's value, ``(M,)`` or ``(M, C')`` (NaN where undefined).
        miss: bool, of ``values``' shape: the cases with exactly one mask empty.
        undefined: bool, of ``values``' shape: the cases with both masks empty.

    >>> s = summarize(torch.tensor([1.0, 3.0, float("inf"), float("nan")]),
    ...               torch.tensor([False, False, True, False]), torch.tensor([False, False, False, True]))
    >>> {k: v.item() for k, v in s.items()}
    {'mean': inf, 'median': 3.0, 'p5': 1.2, 'p95': inf, 'n': 3, 'n_miss': 1, 'n_undefined': 1}
    """
    per_class = values.ndim == 2
    v, m, u = (x.numpy() if per_class else x.numpy()[:, None] for x in (values.double(), miss, undefined))
    cols: dict[str, list[float]] = {k: [] for k in STATS}
    for c in range(v.shape[1]):
        kept = np.sort(v[~np.isnan(v[:, c]), c])
        cols["n"].append(len(kept))
        cols["n_miss"].append(int(m[:, c].sum()))
        cols["n_undefined"].append(int(u[:, c].sum()))
        empty = len(kept) == 0
        cols["mean"].append(float("nan") if empty else float(kept.mean()))
        for name, q in (("median", 0.5), ("p5", 0.05), ("p95", 0.95)):
            cols[name].append(float("nan") if empty else _quantile(kept, q))
    out: dict[str, Tensor] = {}
    for k in STATS:
        dtype = torch.int64 if k.startswith("n") else torch.float64
        t = torch.tensor(cols[k], dtype=dtype)
        out[k] = t if per_class else t[0]
    return out


@dataclass(frozen=True)
class DistanceResults:
    """Per-case values of each metric (``(M,)`` or ``(M, C')``), which cases were misses or undefined, and stats.

    ``stats[metric]`` is :func:`summarize` of ``values[metric]``.
    """

    values: dict[str, Tensor]
    miss: Tensor
    undefined: Tensor
    stats: dict[str, dict[str, Tensor]]


@document_args(DISTANCE_ARGS)
class DistanceAccumulator:
    """Accumulate distance metrics over batches, keeping every case's value.

    ``update(pred, target)`` computes the surfaces of each (image, class) pair once and appends the chosen
    metrics (``"hd"``, ``"hd95"``, ``"assd"``, ``"masd"``, ``"nsd"``); ``compute()`` returns a
    :class:`DistanceResults`; ``merge(other)`` appends another accumulator's cases; ``sync()`` gathers the cases
    of every process under ``torch.distributed`` (in rank order; every rank gets all of them). The keyword
    arguments mean what they mean in :func:`segbench.metrics.distance.distance_metrics`, whose formulas give each
    case's value; :func:`summarize` gives the statistics.

    .. math:: \\mathrm{values}[m] = (m(\\text{case}_1), \\dots, m(\\text{case}_M)) \\text{ over every batch's cases}

    >>> acc = DistanceAccumulator(metrics=("hd", "nsd"), tolerance=1.0)
    >>> t = torch.zeros(2, 8, 8, dtype=torch.bool); t[:, 2:5, 2:5] = True
    >>> p = t.clone(); p[1] = False                      # the second image is a miss
    >>> acc.update(p, t)
    >>> r = acc.compute()
    >>> r.values["hd"].tolist(), r.stats["hd"]["n_miss"].item(), r.stats["nsd"]["mean"].item()
    ([0.0, inf], 1, 0.5)
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("hd", "hd95", "assd", "nsd"),
        *,
        tolerance: float | Sequence[float] = 1.0,
        spacing: float | Sequence[float] | None = None,
        num_classes: int | None = None,
        include_background: bool = False,
        multilabel: bool = False,
        ignore_index: int | None = None,
        surface: Surface = "voxel",
        percentile_rule: PercentileRule = "directed",
        worst_case: WorstCase = None,
    ) -> None:
        if len(metrics) == 0:
            raise ValueError("metrics must name at least one distance metric")
        for name in metrics:
            _check_choice(name, "each metric", DISTANCE_METRICS)
        _check_choice(surface, "surface", ("voxel", "surfel"))
        _check_choice(percentile_rule, "percentile_rule", ("directed", "pooled"))
        self.metrics = tuple(metrics)
        self._options: dict[str, Any] = dict(
            num_classes=num_classes, include_background=include_background, multilabel=multilabel,
            ignore_index=ignore_index, surface=surface,
        )
        self._read: dict[str, Any] = dict(tolerance=tolerance, percentile_rule=percentile_rule, worst_case=worst_case)
        self.spacing = spacing
        self.reset()

    def reset(self) -> None:
        """Forget every case."""
        self._values: dict[str, list[Tensor]] = {m: [] for m in self.metrics}
        self._miss: list[Tensor] = []
        self._undefined: list[Tensor] = []

    def update(self, pred: Any, target: Any, *, spacing: float | Sequence[float] | None = None) -> None:
        """Score a batch ``(N, *spatial)`` and keep its values; ``spacing`` overrides the default for this batch.

        Args:
            pred: the batch's predicted label maps (see :func:`~segbench.metrics.distance.distance_metrics`).
            target: the batch's reference label maps.
            spacing: this batch's voxel size; None: the accumulator's.
        """
        sd = surface_distances(pred, target, spacing=self.spacing if spacing is None else spacing, **self._options)
        for name, value in metrics_from(sd, self.metrics, **self._read).items():
            self._values[name].append(value)
        self._miss.append(sd.miss)
        self._undefined.append(sd.undefined)

    def _cat(self, parts: list[Tensor], dtype: torch.dtype) -> Tensor:
        if parts:
            return torch.cat(parts)
        return torch.empty(0, dtype=dtype)

    def compute(self) -> DistanceResults:
        """Every case's values so far, and their statistics (see :func:`summarize`)."""
        miss = self._cat(self._miss, torch.bool)
        undefined = self._cat(self._undefined, torch.bool)
        values = {m: self._cat(v, torch.float64) for m, v in self._values.items()}
        stats = {m: summarize(v, miss, undefined) for m, v in values.items()}
        return DistanceResults(values, miss, undefined, stats)

    def merge(self, other: DistanceAccumulator) -> None:
        """Append ``other``'s cases (it must track the same metrics with the same options).

        Args:
            other: another accumulator; one with other metrics or options raises ValueError.
        """
        if (other.metrics, other._options, other._read) != (self.metrics, self._options, self._read):
            raise ValueError("can only merge accumulators with the same metrics and options")
        for m in self.metrics:
            self._values[m].extend(other._values[m])
        self._miss.extend(other._miss)
        self._undefined.extend(other._undefined)

    def sync(self, group: Any = None) -> None:
        """Gather every process's cases (rank order) so that each rank holds all of them; no-op without a group.

        Args:
            group: the ``torch.distributed`` process group; None: the default (world) group.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return
        state = (
            {m: self._cat(v, torch.float64) for m, v in self._values.items()},
            self._cat(self._miss, torch.bool),
            self._cat(self._undefined, torch.bool),
        )
        gathered: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, state, group=group)
        self.reset()
        for values, miss, undefined in gathered:
            if miss.numel() == 0:
                continue
            for m in self.metrics:
                self._values[m].append(values[m])
            self._miss.append(miss)
            self._undefined.append(undefined)
