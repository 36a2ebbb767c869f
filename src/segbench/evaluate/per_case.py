"""The per-case CSV of ``segbench evaluate``, written atomically, and its summary (mean, median, CI, counts).

The CSV has one row per (case, class). Floats follow the one policy of every results file
(:func:`segbench.files.atomic.format_value`: ``repr``, the shortest round-trip form), so reading the file back
gives the exact numbers; undefined scores are ``nan`` and misses of a distance metric ``inf``. The file
appears only complete (:func:`segbench.files.atomic.write_csv`, an atomic write).

The summary follows :func:`segbench.stats.summarize`: NaN (undefined: empty reference and empty
prediction) is excluded from the statistics and counted; ``inf`` (a miss) is kept, so a mean with a miss is
``inf`` and says so. The CI is a percentile bootstrap of the mean over cases
(:func:`segbench.stats.paired_bootstrap_ci`, 2000 resamples, seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segbench.errors import UsageError
from segbench.evaluate.folders import Evaluation, format_spacing
from segbench.files import atomic as files
from segbench.formatting import number
from segbench.stats import Summary, paired_bootstrap_ci, summarize

__all__ = ["ClassSummary", "MetricSummary", "format_summary", "summarize_evaluation", "write_csv"]


def write_csv(evaluation: Evaluation, path: Path) -> None:
    """Write ``evaluation.rows`` to ``path`` atomically (:func:`segbench.files.atomic.write_csv`).

    Args:
        evaluation: the scored cases.
        path: the CSV file; its folder must exist.

    >>> import tempfile
    >>> from segbench.evaluate.folders import Evaluation, format_spacing
    >>> ev = Evaluation(["a"], 2, ["background", "foreground"], ["dice"],
    ...                 [{"case": "a", "class_index": 1, "class": "foreground", "reference_size": 0,
    ...                   "prediction_size": 0, "dice": float("nan")}], {"a": None}, "none")
    >>> out = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> write_csv(ev, out); out.read_text().splitlines()
    ['case,class_index,class,reference_size,prediction_size,dice', 'a,1,foreground,0,0,nan']
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--out {path}: folder {folder} does not exist")
    rows = ({col: row.get(col, "") for col in evaluation.columns} for row in evaluation.rows)
    files.write_csv(path, evaluation.columns, rows)


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one class over cases: the distribution and a bootstrap CI of the mean."""

    metric: str
    summary: Summary
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ClassSummary:
    """One class over cases, with the counts that explain undefined and infinite scores.

    ``empty_reference``: cases whose ground truth lacks the class; of those, ``false_positive_on_empty``
    have the class predicted anyway. ``missed``: the class is in the ground truth but not predicted.
    The pseudo-class ``all`` (metrics over all classes at once, e.g. ``pixel_accuracy``) has
    ``class_index`` and the counts ``None``.
    """

    class_index: int | None
    name: str
    cases: int
    empty_reference: int | None
    false_positive_on_empty: int | None
    missed: int | None
    metrics: list[MetricSummary]


def _metric_summary(metric: str, rows: list[dict[str, Any]], n_boot: int, seed: int) -> MetricSummary:
    values = np.array([r[metric] for r in rows], dtype=np.float64)
    ci = paired_bootstrap_ci(values[None], n_boot=n_boot, seed=seed)
    return MetricSummary(metric, summarize(values), float(ci.low[0]), float(ci.high[0]))


def summarize_evaluation(evaluation: Evaluation, *, n_boot: int = 2000, seed: int = 0) -> list[ClassSummary]:
    """Per class and metric: :class:`~segbench.stats.Summary` and a 95% bootstrap CI of the mean.

    Classes come in the order ``all`` (if present), then by class index.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in evaluation.rows:
        groups.setdefault(str(row["class"]), []).append(row)
    order = sorted(groups, key=lambda g: -1 if groups[g][0]["class_index"] == "" else groups[g][0]["class_index"])
    out = []
    for name in order:
        rows = groups[name]
        metrics = [_metric_summary(m, rows, n_boot, seed) for m in evaluation.metrics if m in rows[0]]
        if rows[0]["class_index"] == "":
            out.append(ClassSummary(None, name, len(rows), None, None, None, metrics))
            continue
        ref = np.array([r["reference_size"] for r in rows])
        pred = np.array([r["prediction_size"] for r in rows])
        out.append(ClassSummary(
            int(rows[0]["class_index"]), name, len(rows), int((ref == 0).sum()),
            int(((ref == 0) & (pred > 0)).sum()), int(((ref > 0) & (pred == 0)).sum()), metrics,
        ))
    return out


def _num(x: float) -> str:
    return number(x, ".4g")


def format_summary(evaluation: Evaluation, summaries: list[ClassSummary]) -> str:
    """The plain-text summary printed by ``segbench evaluate``."""
    spacings = {s for s in evaluation.spacings.values()}
    where = {"given": "--spacing", "header": "ground-truth header", "override": "--spacing, overriding headers",
             "none": "none"}
    source = "+".join(where.get(s, s) for s in evaluation.spacing_source.split("+"))
    if evaluation.spacing_source == "none":
        spacing_text = "none (distances in pixels)"
    elif len(spacings) == 1:
        one = next(iter(spacings))
        order = "Z,Y,X" if one is not None and len(one) == 3 else "Y,X"
        spacing_text = f"{order} = {format_spacing(one, sep=', ')} ({source})"
    else:
        spacing_text = f"{len(spacings)} distinct spacings ({source}; array axis order Z,Y,X / Y,X; see the CSV)"
    lines = [
        f"{len(evaluation.cases)} cases, {evaluation.num_classes} classes {evaluation.class_names}; "
        f"spacing: {spacing_text}",
        *(f"note: {n}" for n in evaluation.notes),
    ]
    for cs in summaries:
        if cs.class_index is None:
            head = f"all classes at once: {cs.cases} cases"
        else:
            head = (
                f"class {cs.class_index} {cs.name!r}: {cs.cases} cases; {cs.empty_reference} with an empty "
                f"reference ({cs.false_positive_on_empty} of them predicted anyway); {cs.missed} missed (in the "
                "reference, not predicted)"
            )
        lines += [
            "",
            head,
            f"  {'metric':<12}{'mean':>10}  {'95% CI of the mean':<22}{'median':>10}{'undefined':>11}{'inf':>6}",
        ]
        for m in cs.metrics:
            s = m.summary
            ci = f"[{_num(m.ci_low)}, {_num(m.ci_high)}]"
            lines.append(f"  {m.metric:<12}{_num(s.mean):>10}  {ci:<22}{_num(s.median):>10}{s.n_nan:>11}{s.n_inf:>6}")
    lines += [
        "",
        "undefined: reference and prediction both empty (NaN, excluded from mean and median, counted here); "
        "inf: a distance where exactly one side is empty (a miss or a false alarm), kept in the mean.",
    ]
    return "\n".join(lines)
