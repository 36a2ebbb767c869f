r"""The summary table ``segbench compare`` prints: models x key metrics, from the per-image rows.

For each model and seed, a metric's score is the mean over test images of the per-image score, where a
per-image score is the mean over the foreground classes (every class but the background; binary data have one)
— NaN (undefined) values are skipped and counted, and an ``inf`` (a missed structure for a distance metric)
makes the mean ``inf``: a miss is never dropped. The table shows the mean over seeds, with the standard
deviation over seeds (``±``) when there are several:

.. math::

    \bar s_{m} = \frac{1}{|S|}\sum_{k \in S} \frac{1}{|I_k|} \sum_{i \in I_k}
                 \frac{1}{|F_i|}\sum_{c \in F_i} s_{m,k,i,c}

Column headers are the catalogue's labels: ``pixel_acc`` is ``pixel_accuracy`` (all classes at once, the single
class ``all``), ``bal_acc`` is ``balanced_accuracy``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segbench.formatting import number
from segbench.metrics import catalogue

__all__ = ["TABLE_METRICS", "SummaryRow", "format_table", "summarize", "table_metrics"]

TABLE_METRICS = ("pixel_accuracy", "balanced_accuracy", "dice", "iou", "precision", "recall", "hd95", "nsd")


def table_metrics(scored: Sequence[str]) -> list[str]:
    """The columns of the printed table for the ``scored`` metrics: those of :data:`TABLE_METRICS` that were
    scored, then the metrics scored only on request (``default=False`` in the catalogue, e.g. ``fbeta``).

    Args:
        scored: the metric names of the run, in catalogue order.

    >>> table_metrics(["pixel_accuracy", "dice", "iou", "fbeta", "tversky", "hd"])
    ['pixel_accuracy', 'dice', 'iou', 'fbeta', 'tversky']
    """
    extra = [m for m in scored if m not in TABLE_METRICS and not catalogue.get_entry(m).default]
    return [m for m in TABLE_METRICS if m in scored] + extra


@dataclass
class SummaryRow:
    """One model's line: ``mean[metric]``, ``sd[metric]`` (over seeds; NaN with one seed), counts of NaN and inf."""

    model: str
    kind: str
    seeds: int
    mean: dict[str, float] = field(default_factory=dict)
    sd: dict[str, float] = field(default_factory=dict)
    undefined: int = 0
    missed: int = 0


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    if any(math.isinf(v) for v in finite):
        return math.inf
    return sum(finite) / len(finite)


def summarize(
    rows: Iterable[Mapping[str, Any]],
    *,
    background: str | None,
    metrics: Sequence[str] = TABLE_METRICS,
) -> list[SummaryRow]:
    """Summary rows (trained models first, then trivial predictors, in order of appearance) from per-image rows.

    ``rows`` have the columns of ``results/per_image.csv`` (strings or numbers); ``background`` is the class
    name left out of the class mean (``None``: keep every class). ``undefined`` counts NaN and ``missed`` counts
    ``inf`` values among the shown metrics.

    >>> rows = [{"model": "dice", "kind": "trained", "seed": s, "image": i, "class": "cell", "metric": "dice",
    ...          "value": v} for s, i, v in [(0, "a", 0.5), (0, "b", 1.0), (1, "a", 0.7), (1, "b", 0.8)]]
    >>> r = summarize(rows, background=None, metrics=["dice"])[0]
    >>> r.model, round(r.mean["dice"], 3), round(r.sd["dice"], 4)
    ('dice', 0.75, 0.0)
    """
    # (model, metric, seed, image) -> class values
    values: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    kinds: dict[str, str] = {}
    wanted = set(metrics)
    for row in rows:
        metric = str(row["metric"])
        if metric not in wanted or (background is not None and row["class"] == background):
            continue
        model = str(row["model"])
        kinds.setdefault(model, str(row["kind"]))
        values[(model, metric, str(row["seed"]), str(row["image"]))].append(float(row["value"]))
    per_seed: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    out: dict[str, SummaryRow] = {}
    for (model, metric, seed, _image), class_values in values.items():
        per_seed[(model, metric)][seed].append(_mean(class_values))
        summary = out.setdefault(model, SummaryRow(model, kinds[model], 0))
        summary.undefined += sum(math.isnan(v) for v in class_values)
        summary.missed += sum(math.isinf(v) for v in class_values)
    for (model, metric), seeds in per_seed.items():
        means = [_mean(v) for v in seeds.values()]
        summary = out[model]
        summary.seeds = max(summary.seeds, len(means))
        summary.mean[metric] = _mean(means)
        finite = [v for v in means if math.isfinite(v)]
        summary.sd[metric] = statistics.stdev(finite) if len(finite) == len(means) and len(means) > 1 else math.nan
    ordered = sorted(out.values(), key=lambda r: r.kind != "trained")
    return ordered


def _cell(mean: float | None, sd: float | None) -> str:
    text = number(mean, ".3f", nan="-", large=(100, ".1f"))
    if mean is not None and math.isfinite(mean) and sd is not None and math.isfinite(sd):
        text += "±" + number(sd, ".3f", large=(100, ".1f"))
    return text


def format_table(summary: Sequence[SummaryRow], metrics: Sequence[str] = TABLE_METRICS) -> str:
    """A plain-text table: one line per model, one column per metric (arrow: direction), NaN/inf counts; print
    :data:`COUNTS_FOOTNOTE` under it (what the two counts count).

    >>> row = SummaryRow("dice", "trained", 2, {"dice": 0.8}, {"dice": 0.01})
    >>> print(format_table([row], ["dice"]))
    model  kind     dice ↑       nan  inf
    dice   trained  0.800±0.010    0    0
    """
    headers = ["model", "kind"] + [
        f"{catalogue.get_entry(m).header} {'↑' if catalogue.get_entry(m).higher_is_better else '↓'}" for m in metrics
    ] + ["nan", "inf"]
    lines = [
        [r.model, r.kind] + [_cell(r.mean.get(m), r.sd.get(m)) for m in metrics] + [str(r.undefined), str(r.missed)]
        for r in summary
    ]
    widths = [max(len(h), *(len(line[k]) for line in lines)) if lines else len(h) for k, h in enumerate(headers)]
    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
    return "\n".join([fmt(headers)] + [fmt(line) for line in lines])


COUNTS_FOOTNOTE = (
    "nan = undefined (image, class) scores: reference and prediction both without the class, left out of the "
    "means; inf = missed structures of a distance metric (exactly one of reference and prediction empty), kept. "
    "A count metric scores a miss or a false alarm 0 (counted in the means, in neither column)."
)
"""What the ``nan`` and ``inf`` columns of :func:`format_table` count (the empty-and-miss policy,
``docs/conventions.md``)."""
