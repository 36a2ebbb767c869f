"""The report's calibration and volume views: reliability diagrams per loss, the volume bias per loss, and the
finding "loss X is over-confident compared with cross-entropy", measured with its interval or stated as not
supported.

Over-confidence of one test image is the catalogue's ``overconfidence`` (mean top-label confidence minus
accuracy, :func:`segbench.metrics.confidence_gap`). The finding compares each trained loss with ``ce`` on the
per-image differences (seed-averaged scores, images paired), with the paired percentile bootstrap
(:func:`segbench.stats.paired_bootstrap_ci`, the report's ``n_boot``, seed 0): "over-confident compared with
CE" where the whole interval of the mean difference lies above 0, "less over-confident" where it lies below,
"not supported" where it holds 0. The same finding is stated after temperature scaling (``overconfidence_ts``: each
model's test logits divided by its temperature fitted on the validation split), and :func:`temperature_table`
sets each loss's ECE, Brier and NLL before and after scaling side by side, with the report's intervals.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from segbench.files.atomic import read_json
from segbench.files.run_folder import RELIABILITY_FILE, TEMPERATURE_FILE, run_path
from segbench.metrics import catalogue
from segbench.report.analysis import Analysis, seed_averaged, view_values
from segbench.report.figures import HORIZONTAL
from segbench.report.findings import fmt, fmt_ci
from segbench.stats import paired_bootstrap_ci

__all__ = ["PooledReliability", "load_reliability", "load_temperatures", "overconfidence_notes", "reliability_figure",
           "temperature_table", "volume_bias_figure"]

REFERENCE = "ce"
"""The loss the over-confidence finding compares with (cross-entropy, the proper scoring rule)."""

FloatArray = npt.NDArray[np.float64]


class PooledReliability:
    """Top-label reliability bins of one loss, pooled over its seeds (counts added, means weighted by counts).

    Attributes:
        count: pixels per bin ``(B,)``.
        confidence: mean confidence per bin (NaN where empty).
        accuracy: fraction right per bin (NaN where empty).
        lower: the bins' lower edges.
        upper: the bins' upper edges.
    """

    def __init__(self, records: list[dict[str, list[float]]]) -> None:
        count = np.sum([np.asarray(r["count"], np.float64) for r in records], axis=0)
        conf = np.sum([np.nan_to_num(np.asarray(r["confidence"], np.float64)) * np.asarray(r["count"])
                       for r in records], axis=0)
        hits = np.sum([np.nan_to_num(np.asarray(r["accuracy"], np.float64)) * np.asarray(r["count"])
                       for r in records], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.confidence: FloatArray = np.where(count > 0, conf / count, np.nan)
            self.accuracy: FloatArray = np.where(count > 0, hits / count, np.nan)
        self.count: FloatArray = count
        self.lower: FloatArray = np.asarray(records[0]["lower"], np.float64)
        self.upper: FloatArray = np.asarray(records[0]["upper"], np.float64)

    @property
    def ece(self) -> float:
        r"""The pooled ECE of these bins, :math:`\sum_b \frac{n_b}{n} |acc_b - conf_b|`."""
        n = float(self.count.sum())
        if n == 0:
            return math.nan
        gap = np.abs(np.nan_to_num(self.accuracy) - np.nan_to_num(self.confidence))
        return float((self.count * gap).sum() / n)


def load_reliability(analysis: Analysis, scaled: bool = False) -> dict[str, PooledReliability]:
    """The pooled reliability bins of every trained loss whose runs saved them (``RELIABILITY_FILE``).

    Args:
        analysis: the report's analysis (its run folder and seeds).
        scaled: the bins after temperature scaling (where every run saved them).
    """
    run = analysis.run
    out: dict[str, PooledReliability] = {}
    for model in run.trained:
        paths = [run_path(run.root, model, seed) / RELIABILITY_FILE for seed in run.seeds]
        records = [read_json(p) for p in paths if Path(p).is_file()]
        if scaled:
            records = [r["scaled"] for r in records if isinstance(r.get("scaled"), dict)]
        if records and len(records) == len(paths):
            out[model] = PooledReliability(records)
    return out


def load_temperatures(analysis: Analysis) -> dict[str, list[float]]:
    """The fitted temperature of every seed of each trained loss whose runs all saved one (``TEMPERATURE_FILE``).

    Args:
        analysis: the report's analysis (its run folder and seeds).
    """
    run = analysis.run
    out: dict[str, list[float]] = {}
    for model in run.trained:
        paths = [run_path(run.root, model, seed) / TEMPERATURE_FILE for seed in run.seeds]
        found = [float(read_json(p)["temperature"]) for p in paths if p.is_file()]
        if found and len(found) == len(paths):
            out[model] = found
    return out


SCALED_PAIRS = (("ece", "ece_ts"), ("brier", "brier_ts"), ("nll", "nll_ts"))
"""(before, after temperature scaling) metric pairs of :func:`temperature_table`."""


def temperature_table(analysis: Analysis) -> tuple[list[str], list[tuple[str, list[tuple[str, bool]]]]] | None:
    """The temperature-scaling table: per model, its temperature (mean over seeds, fitted on the validation split;
    ``1`` for the trivial predictors, whose 0/1 probabilities no temperature changes) and, for ECE, Brier and NLL,
    the estimate [CI] before and after scaling (the report's statistics of ``ece`` and ``ece_ts`` ...; ★ = best
    trained loss); ``None`` where the run has no scaled metrics. Rows as :func:`segbench.report.tables.main_rows`.

    Args:
        analysis: the report's analysis.
    """
    results = {r.metric: r for r in analysis.metric_results()}
    pairs = [(a, b) for a, b in SCALED_PAIRS if a in results and b in results]
    if not pairs:
        return None
    temps = load_temperatures(analysis)
    pct = round(100 * analysis.confidence)
    labels = [catalogue.get_entry(a).header for a, _ in pairs]
    header = ["model", "T (val)"] + [f"{label}{when} [{pct}% CI]" for label in labels for when in ("", " after T")]
    rows: list[tuple[str, list[tuple[str, bool]]]] = []
    for model in analysis.run.models:
        kind = analysis.run.kinds[model]
        t = temps.get(model)
        cells = [(model, False), ("1 (0/1)" if kind == "trivial" else (fmt(float(np.mean(t)), 3) if t else "n/a"),
                                  False)]
        for pair in pairs:
            for metric in pair:
                r = results[metric].row(model)
                cells.append((f"{fmt(r.estimate, 3)} {fmt_ci(r.ci_low, r.ci_high, 3)}", r.is_best))
        rows.append((kind, cells))
    return header, rows


def reliability_figure(analysis: Analysis) -> Figure | None:
    """One reliability diagram per trained loss (test pixels of every seed pooled): accuracy against mean
    confidence per bin (and after temperature scaling, where the runs saved those bins), the diagonal of perfect
    calibration, and the share of pixels per bin; ``None`` where the run saved no reliability bins."""
    found = load_reliability(analysis)
    if not found:
        return None
    scaled = load_reliability(analysis, scaled=True)
    ncols = min(4, len(found))
    nrows = math.ceil(len(found) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 3.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, (model, rel) in enumerate(found.items()):
        ax = axes[k // ncols, k % ncols]
        share = rel.count / max(float(rel.count.sum()), 1.0)
        centres = (rel.lower + rel.upper) / 2
        ax.bar(centres, share, width=rel.upper - rel.lower, color="#d0d0d0", edgecolor="#909090", linewidth=0.4,
               label="share of pixels")
        ax.plot([0, 1], [0, 1], color="#606060", linestyle="--", linewidth=0.8, label="calibrated")
        ok = rel.count > 0
        ax.plot(rel.confidence[ok], rel.accuracy[ok], marker="o", markersize=3.5, color="#1f77b4",
                label="accuracy")
        title = f"{model} (pooled ECE {rel.ece:.3f}"
        if model in scaled:
            sr = scaled[model]
            sok = sr.count > 0
            ax.plot(sr.confidence[sok], sr.accuracy[sok], marker="s", markersize=3, color="#d62728", linewidth=0.9,
                    label="after temperature scaling")
            title += f"; {sr.ece:.3f} after T"
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(title + ")", fontsize=9)
        ax.set_xlabel("confidence")
        if k % ncols == 0:
            ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left", frameon=False)
    for k in range(len(found), nrows * ncols):
        axes[k // ncols, k % ncols].axis("off")
    return fig


def _per_image(analysis: Analysis, metric: str) -> FloatArray | None:
    found = view_values(analysis.run, metric, analysis.primary)
    return None if found is None else seed_averaged(found[0])


def volume_bias_figure(analysis: Analysis) -> Figure | None:
    """The signed relative volume error ``volume_bias`` per test image (seed-averaged) of every model: boxes and
    dots, 0 marked (above: over-segmentation, below: under-); ``None`` where it was not scored."""
    values = _per_image(analysis, "volume_bias")
    if values is None:
        return None
    run = analysis.run
    fig = Figure(figsize=(8.5, max(2.8, 0.38 * len(run.models) + 1.2)), layout="constrained")
    ax = fig.subplots()
    ypos = np.arange(len(run.models))[::-1]
    data = [x[np.isfinite(x)] for x in values]
    ax.boxplot([d if d.size else [np.nan] for d in data], positions=ypos, widths=0.6, showfliers=False, **HORIZONTAL,
               medianprops={"color": "black"})
    rng = np.random.default_rng(0)
    for y, d in zip(ypos, data, strict=True):
        ax.scatter(d, y + rng.uniform(-0.18, 0.18, d.size), s=7, color="black", alpha=0.6, linewidths=0)
    for y, x in zip(ypos, values, strict=True):
        n_inf = int(np.isposinf(x).sum())
        if n_inf:
            ax.text(1.01, y, f"{n_inf} false alarm", transform=ax.get_yaxis_transform(), fontsize=7.5,
                    color="#b00000", va="center")
    ax.axvline(0, color="#606060", linestyle="--", linewidth=0.8)
    ax.set_yticks(ypos, run.models)
    ax.set_xlabel("(V_pred - V_ref) / V_ref per image (> 0 over-, < 0 under-segmentation)")
    ax.set_title(f"Volume bias ({analysis.primary}, mean over seeds)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _side(gap: float) -> str:
    """``over-confident`` (gap > 0), ``under-confident`` (< 0) or ``calibrated on average`` (0)."""
    return "over-confident" if gap > 0 else ("under-confident" if gap < 0 else "calibrated on average")


def overconfidence_notes(analysis: Analysis, scaled: bool = False) -> list[str]:
    """One sentence per trained loss other than ``ce``: over-confident compared with CE (the mean per-image
    difference of ``overconfidence`` and its paired bootstrap interval), less over-confident, or not supported;
    one sentence saying why there is no comparison where ``ce`` or the metric is missing.

    Args:
        analysis: the report's analysis.
        scaled: the same after temperature scaling (``overconfidence_ts``; each sentence starts "After temperature
            scaling").
    """
    run = analysis.run
    values = _per_image(analysis, "overconfidence_ts" if scaled else "overconfidence")
    after = "After temperature scaling, " if scaled else ""
    if values is None:
        if scaled:
            return ["Over-confidence after temperature scaling was not scored in this run."]
        return ["Over-confidence was not scored (no probabilities in this run), so no loss is compared with CE."]
    if REFERENCE not in run.trained:
        return [f"No {REFERENCE!r} run to compare over-confidence with (add --loss ce)."]
    index = {m: k for k, m in enumerate(run.models)}
    ref = index[REFERENCE]
    notes = []
    for model in run.trained:
        if model == REFERENCE:
            continue
        ci = paired_bootstrap_ci(values[[ref, index[model]]], reference=0, n_boot=analysis.n_boot,
                                 confidence=analysis.confidence)
        d, lo, hi = float(ci.diff_estimate[1]), float(ci.diff_low[1]), float(ci.diff_high[1])
        pct = round(100 * analysis.confidence)
        measured = (f"mean confidence minus accuracy {float(ci.estimate[1]):+.3f} vs CE {float(ci.estimate[0]):+.3f}, "
                    f"difference {d:+.3f} [{pct}% CI {lo:+.3f}, {hi:+.3f}] over {ci.n_used} test images")
        absolute = (f"; in absolute terms {model} is {_side(float(ci.estimate[1]))} and CE "
                    f"{_side(float(ci.estimate[0]))}")
        measured += absolute
        if not (math.isfinite(lo) and math.isfinite(hi)):
            note = f"{model} vs CE over-confidence: not measurable ({ci.n_used} paired images)."
        elif lo > 0:
            note = f"{model} is over-confident compared with CE: {measured}."
        elif hi < 0:
            note = f"{model} is less over-confident than CE: {measured}."
        else:
            note = f"{model} over-confident compared with CE: not supported ({measured}; the interval holds 0)."
        notes.append(after + note)
    return notes
