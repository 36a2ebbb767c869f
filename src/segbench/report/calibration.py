"""The report's calibration and volume views: reliability diagrams per loss, the volume bias per loss, and the
finding "loss X is over-confident compared with cross-entropy", measured with its interval or stated as not
supported.

Over-confidence of one test image is the catalogue's ``overconfidence`` (mean top-label confidence minus
accuracy, :func:`segbench.metrics.confidence_gap`). The finding compares each trained loss with ``ce`` on the
per-image differences (seed-averaged scores, images paired), with the paired percentile bootstrap
(:func:`segbench.stats.paired_bootstrap_ci`, the report's ``n_boot``, seed 0): "over-confident compared with
CE" where the whole interval of the mean difference lies above 0, "less over-confident" where it lies below,
"not supported" where it holds 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from segbench.files.run_folder import RELIABILITY_FILE, run_path
from segbench.report.analysis import Analysis, seed_averaged, view_values
from segbench.report.figures import HORIZONTAL
from segbench.stats import paired_bootstrap_ci

__all__ = ["PooledReliability", "load_reliability", "overconfidence_notes", "reliability_figure",
           "volume_bias_figure"]

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


def load_reliability(analysis: Analysis) -> dict[str, PooledReliability]:
    """The pooled reliability bins of every trained loss whose runs saved them (``RELIABILITY_FILE``).

    Args:
        analysis: the report's analysis (its run folder and seeds).
    """
    run = analysis.run
    out: dict[str, PooledReliability] = {}
    for model in run.trained:
        paths = [run_path(run.root, model, seed) / RELIABILITY_FILE for seed in run.seeds]
        records = [json.loads(Path(p).read_text()) for p in paths if Path(p).is_file()]
        if records and len(records) == len(paths):
            out[model] = PooledReliability(records)
    return out


def reliability_figure(analysis: Analysis) -> Figure | None:
    """One reliability diagram per trained loss (test pixels of every seed pooled): accuracy against mean
    confidence per bin, the diagonal of perfect calibration, and the share of pixels per bin; ``None`` where the
    run saved no reliability bins."""
    found = load_reliability(analysis)
    if not found:
        return None
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
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{model} (pooled ECE {rel.ece:.3f})", fontsize=10)
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


def overconfidence_notes(analysis: Analysis) -> list[str]:
    """One sentence per trained loss other than ``ce``: over-confident compared with CE (the mean per-image
    difference of ``overconfidence`` and its paired bootstrap interval), less over-confident, or not supported;
    one sentence saying why there is no comparison where ``ce`` or the metric is missing."""
    run = analysis.run
    values = _per_image(analysis, "overconfidence")
    if values is None:
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
            notes.append(f"{model} vs CE over-confidence: not measurable ({ci.n_used} paired images).")
        elif lo > 0:
            notes.append(f"{model} is over-confident compared with CE: {measured}.")
        elif hi < 0:
            notes.append(f"{model} is less over-confident than CE: {measured}.")
        else:
            notes.append(f"{model} over-confident compared with CE: not supported ({measured}; the interval "
                         "holds 0).")
    return notes
