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
class ``all``), ``bal_acc`` is ``balanced_accuracy``; ``ECE (T)`` is ``ece_ts``, the ECE after temperature scaling.
A table wider than :data:`TABLE_WIDTH` characters is printed in blocks (the hard-label metrics, then the probability
metrics, each wrapped to the width), every block repeating the model and kind columns.
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

__all__ = ["CALIBRATION_COLUMNS", "TABLE_METRICS", "TABLE_WIDTH", "SummaryRow", "format_table", "summarize",
           "table_metrics"]

TABLE_METRICS = ("pixel_accuracy", "balanced_accuracy", "dice", "iou", "precision", "recall", "hd95", "nsd")
CALIBRATION_COLUMNS = ("ece", "ece_ts", "brier", "nll", "ap")
"""The probability columns of the printed table (where scored), after the hard-label ones."""
TABLE_WIDTH = 120
"""The widest printed line; wider tables are split into blocks."""


def table_metrics(scored: Sequence[str]) -> list[str]:
    """The columns of the printed table for the ``scored`` metrics: those of :data:`TABLE_METRICS` that were
    scored, then the hard-label metrics scored only on request (``default=False`` in the catalogue, e.g.
    ``fbeta``), then those of :data:`CALIBRATION_COLUMNS` that were scored.

    Args:
        scored: the metric names of the run, in catalogue order.

    >>> table_metrics(["pixel_accuracy", "dice", "iou", "fbeta", "tversky", "hd"])
    ['pixel_accuracy', 'dice', 'iou', 'fbeta', 'tversky']
    >>> table_metrics(["dice", "ece", "brier", "ap", "ece_ts"])
    ['dice', 'ece', 'ece_ts', 'brier', 'ap']
    """
    extra = [m for m in scored if m not in TABLE_METRICS and m not in CALIBRATION_COLUMNS
             and not catalogue.get_entry(m).default and catalogue.get_entry(m).needs == "labels"]
    return [m for m in TABLE_METRICS if m in scored] + extra + [m for m in CALIBRATION_COLUMNS if m in scored]


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


def format_table(summary: Sequence[SummaryRow], metrics: Sequence[str] = TABLE_METRICS,
                 width: int = TABLE_WIDTH) -> str:
    """A plain-text table: one line per model, one column per metric (arrow: direction), NaN/inf counts; print
    :data:`COUNTS_FOOTNOTE` under it (what the two counts count). Wider than ``width`` characters, it is printed in
    blocks separated by a blank line: the hard-label metrics with the counts, then the probability metrics, each
    wrapped to ``width``, every block starting with the model and kind columns.

    Args:
        summary: the rows of :func:`summarize`.
        metrics: the metric columns, in order.
        width: the widest line.

    >>> row = SummaryRow("dice", "trained", 2, {"dice": 0.8}, {"dice": 0.01})
    >>> print(format_table([row], ["dice"]))
    model  kind     dice ↑       nan  inf
    dice   trained  0.800±0.010    0    0
    >>> row = SummaryRow("ce", "trained", 1, {"dice": 0.8, "ece": 0.05})
    >>> print(format_table([row], ["dice", "ece"], width=30))
    model  kind     dice ↑  nan  inf
    ce     trained   0.800    0    0
    <BLANKLINE>
    model  kind     ECE ↓
    ce     trained  0.050
    """
    def header(m: str) -> str:
        e = catalogue.get_entry(m)
        return f"{e.header} {'↑' if e.higher_is_better else '↓'}"

    columns = [[header(m)] + [_cell(r.mean.get(m), r.sd.get(m)) for r in summary] for m in metrics]
    counts = [["nan"] + [str(r.undefined) for r in summary], ["inf"] + [str(r.missed) for r in summary]]
    keys = [["model"] + [r.model for r in summary], ["kind"] + [r.kind for r in summary]]

    def size(col: list[str]) -> int:
        return max(len(c) for c in col) + 2

    labels = [k for k, m in enumerate(metrics) if catalogue.get_entry(m).needs == "labels"]
    probability = [k for k in range(len(metrics)) if k not in labels]
    fixed = sum(size(c) for c in keys)
    blocks: list[list[list[str]]] = []
    for part, with_counts in ((labels, True), (probability, not labels)):
        if not part and not with_counts:
            continue
        tail = counts if with_counts else []
        room = width - fixed - sum(size(c) for c in tail)
        current: list[list[str]] = []
        used = 0
        for k in part:
            if current and used + size(columns[k]) > room:
                blocks.append(keys + current)
                current, used = [], 0
            current.append(columns[k])
            used += size(columns[k])
        blocks.append(keys + current + tail)
    return "\n\n".join(_block(b) for b in blocks)


def _block(cols: list[list[str]]) -> str:
    """Columns (header first) as aligned lines: the first two left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in col) for col in cols]
    lines = []
    for i in range(len(cols[0])):
        cells = [col[i].ljust(w) if k < 2 else col[i].rjust(w) for k, (col, w) in enumerate(zip(cols, widths,
                                                                                              strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


COUNTS_FOOTNOTE = (
    "nan = undefined (image, class) scores: reference and prediction both without the class, left out of the "
    "means; inf = missed structures of a distance metric (exactly one of reference and prediction empty), kept. "
    "A count metric scores a miss or a false alarm 0 (counted in the means, in neither column)."
)
"""What the ``nan`` and ``inf`` columns of :func:`format_table` count (the empty-and-miss policy,
``docs/conventions.md``)."""
