"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state).

Each function takes the :class:`~segbench.report.analysis.Analysis` (and what else it needs) and returns a
:class:`matplotlib.figure.Figure`; :func:`png_bytes` renders one. Conventions kept in every figure: one colour
per trained loss across all figures, trivial baselines in greys with hatching, legends outside the data,
tick labels rotated where they are long, font sizes readable at 100% zoom.
"""

from __future__ import annotations

import io
import math
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib import __version__ as mpl_version
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from segbench.report.analysis import Analysis, MetricResult, seed_averaged, view_values
from segbench.report.rundata import Predictions

__all__ = [
    "bar_chart",
    "classic_bars",
    "distributions",
    "imbalance",
    "model_colors",
    "png_bytes",
    "qualitative",
    "rank_heatmap",
    "styled",
    "training_curves",
]

STYLE: dict[Any, Any] = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.dpi": 100}
TRIVIAL_STYLE = [("#bdbdbd", "//"), ("#8c8c8c", "\\\\"), ("#d9d9d9", "xx"), ("#a6a6a6", "..")]
HORIZONTAL: dict[str, Any] = (
    {"orientation": "horizontal"} if tuple(int(p) for p in mpl_version.split(".")[:2]) >= (3, 10) else {"vert": False}
)
"""Horizontal box plots: ``orientation=`` since matplotlib 3.10 (``vert=`` is deprecated there)."""
CURVE_LABELS = {"train_loss": "training loss", "val_loss": "validation loss", "val_dice": "validation Dice",
                "val_iou": "validation IoU", "val_accuracy": "validation pixel accuracy"}


def styled() -> AbstractContextManager[None]:
    """The report's matplotlib settings (font sizes); draw *and* save each figure inside it."""
    return rc_context(STYLE)


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """Render ``fig`` to PNG bytes (white background, tight bounding box)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")  # every figure is laid out "constrained"
    return buffer.getvalue()


def model_colors(analysis: Analysis) -> dict[str, tuple[tuple[float, float, float, float], str]]:
    """``{model: (colour, hatch)}``: tab10/tab20 for trained losses, hatched greys for trivial baselines."""
    trained = analysis.run.trained
    cmap = colormaps["tab10" if len(trained) <= 10 else "tab20"]
    out = {m: (to_rgba(cmap(i % cmap.N)), "") for i, m in enumerate(trained)}
    for i, m in enumerate(analysis.run.trivial):
        color, hatch = TRIVIAL_STYLE[i % len(TRIVIAL_STYLE)]
        out[m] = (to_rgba(color), hatch)
    return out


def _is_bounded(res: MetricResult) -> bool:
    """Scores in [0, 1] (or [-1, 1] for MCC/kappa) share one axis; distances get their own."""
    return res.higher_is_better is not False


def _bar_panel(ax: Axes, results: list[MetricResult], analysis: Analysis, bounded: bool) -> None:
    colors = model_colors(analysis)
    models = analysis.run.models
    n = len(models)
    width = 0.8 / n
    finite = [v for res in results for r in res.rows for v in (r.estimate, r.ci_high) if math.isfinite(v)]
    top = 1.05 if bounded else (max(finite) * 1.15 if finite else 1.0)
    bottom = min([0.0] + [r.ci_low for res in results for r in res.rows if math.isfinite(r.ci_low)])
    for j, model in enumerate(models):
        color, hatch = colors[model]
        xs = np.arange(len(results)) + (j - (n - 1) / 2) * width
        rows = [res.row(model) for res in results]
        est = np.array([r.estimate for r in rows])
        shown = np.where(np.isposinf(est), top, est)
        ax.bar(xs, np.nan_to_num(shown, nan=0.0), width, color=color, hatch=hatch, edgecolor="#404040",
               linewidth=0.4, label=model)
        lo = np.array([r.ci_low for r in rows])
        hi = np.array([r.ci_high for r in rows])
        ok = np.isfinite(est) & np.isfinite(lo)
        hi_shown = np.where(np.isposinf(hi), top, hi)
        # a percentile CI need not contain the estimate (constant or near-constant scores): never a negative whisker
        yerr = [np.maximum(est[ok] - lo[ok], 0.0), np.maximum(hi_shown[ok] - est[ok], 0.0)]
        ax.errorbar(xs[ok], est[ok], yerr=yerr, fmt="none",
                    ecolor="black", elinewidth=0.8, capsize=1.5)
        for x, e in zip(xs, est, strict=True):
            if np.isposinf(e):
                ax.text(x, top, "∞", ha="center", va="bottom", fontsize=8)
            elif np.isnan(e):
                ax.text(x, 0.0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    labels = []
    for res in results:
        arrow = "↑" if res.higher_is_better else ("↓" if res.higher_is_better is False else "")
        stat = " (median)" if res.statistic == "median" else ""
        labels.append(f"{res.metric}{stat} {arrow}")
    ax.set_xticks(np.arange(len(results)), labels, rotation=30, ha="right")
    ax.set_xlim(-0.5, len(results) - 0.5)
    ax.set_ylim(min(bottom, 0.0) * 1.05, top * (1.06 if not bounded else 1.0))
    ax.set_ylabel("score" if bounded else "distance (pixels)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for k in range(1, len(results)):
        ax.axvline(k - 0.5, color="#e0e0e0", linewidth=0.8)


def bar_chart(analysis: Analysis, view: str | None = None) -> Figure:
    """Grouped bars: metrics on the x axis, one bar per model, error bars = the bootstrap CI over test images."""
    results = analysis.metric_results(view)
    groups = [[r for r in results if _is_bounded(r)], [r for r in results if not _is_bounded(r)]]
    groups = [g for g in groups if g]
    n_models = len(analysis.run.models)
    widths = [max(2.5, 0.16 * n_models * len(g) + 0.8) for g in groups]
    fig = Figure(figsize=(min(sum(widths) + 1.5, 26), 5.2 + 0.25 * math.ceil(n_models / 5)), layout="constrained")
    axes = fig.subplots(1, len(groups), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, group in zip(axes, groups, strict=True):
        _bar_panel(ax, group, analysis, _is_bounded(group[0]))
    handles, labels = axes[0].get_legend_handles_labels()
    pct = round(100 * analysis.confidence)
    title = (f"Test scores ({view or analysis.primary}): bars = mean over test images of the seed-averaged scores "
             f"(median where marked), whiskers = {pct}% paired bootstrap CI; ∞ = a miss")
    fig.legend(handles, labels, loc="outside upper center", ncol=min(n_models, 5), frameon=False, title=title,
               title_fontsize=11)
    return fig


def classic_bars(analysis: Analysis) -> Figure | None:
    """The classic contrast: pixel accuracy beside Dice (F1) per loss, bars with the report's CIs (two-stage over
    seeds and images with 3+ seeds, else over images); None where the run scored neither."""
    results = analysis.results.get(analysis.primary, {})
    chosen = [results[m] for m in ("pixel_accuracy", "dice") if m in results]
    if not chosen:
        return None
    n_models = len(analysis.run.models)
    fig = Figure(figsize=(max(5.0, 0.45 * n_models * len(chosen) + 2.0), 4.6), layout="constrained")
    ax = fig.subplots()
    _bar_panel(ax, chosen, analysis, True)
    handles, labels = ax.get_legend_handles_labels()
    pct = round(100 * analysis.confidence)
    how = "seeds, then images" if analysis.seed_level else "images only (fewer than 3 seeds)"
    fig.legend(handles, labels, loc="outside right upper", frameon=False, title="loss")
    ax.set_title(f"Pixel accuracy beside Dice per loss\nwhiskers: {pct}% bootstrap CI over {how}", fontsize=10)
    return fig


def training_curves(analysis: Analysis) -> Figure | None:
    """Loss and validation metrics per evaluation (x: optimizer steps), per loss: mean over seeds, band = min..max
    over seeds."""
    history = analysis.run.history
    if not history:
        return None
    columns = [c for c in CURVE_LABELS if any(c in h for h in history.values())]
    colors = model_colors(analysis)
    ncols = 3
    nrows = math.ceil((len(columns) + 1) / ncols)
    fig = Figure(figsize=(13, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, col in zip(axes, columns, strict=False):
        for model, table in history.items():
            if col not in table:
                continue
            arr = table[col]
            with np.errstate(all="ignore"):  # every seed evaluates at the same steps; a shorter run is NaN-padded
                steps = np.nanmax(table["step"], axis=0) if "step" in table else np.arange(1, arr.shape[1] + 1)
            color = colors.get(model, ("black", ""))[0]
            with np.errstate(all="ignore"):
                mean = np.nanmean(arr, axis=0) if arr.size else arr
            ax.plot(steps, mean, color=color, linewidth=1.6, label=model, marker="o", markersize=2.5)
            if arr.shape[0] > 1:
                ax.fill_between(steps, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), color=color, alpha=0.15,
                                linewidth=0)
        ax.set_title(CURVE_LABELS[col])
        ax.set_xlabel("optimizer step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if col.endswith("loss"):
            ax.set_ylabel("loss value (scales differ between losses)")
    legend_ax = axes[len(columns)]
    handles, labels = axes[0].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", frameon=False, title="loss (line: mean over seeds,\n"
                     "band: min-max over seeds)")
    for ax in axes[len(columns):]:
        ax.axis("off")
    return fig


def distributions(analysis: Analysis, view: str | None = None) -> Figure:
    """Per-image (seed-averaged) scores per metric: box plots with every image as a dot; misses counted."""
    results = analysis.metric_results(view)
    run = analysis.run
    colors = model_colors(analysis)
    ncols = 3
    nrows = math.ceil(len(results) / ncols)
    height = max(2.6, 0.32 * len(run.models) + 0.9)
    fig = Figure(figsize=(14, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, res in enumerate(results):
        ax = axes[k // ncols, k % ncols]
        found = _per_image(analysis, res)
        data, notes = [], []
        for x in found:
            finite = x[np.isfinite(x)]
            data.append(finite)
            n_nan, n_inf = int(np.isnan(x).sum()), int(np.isposinf(x).sum())
            notes.append(", ".join(s for s in (f"{n_nan} undef." if n_nan else "", f"{n_inf} miss" if n_inf else "")
                                   if s))
        ypos = np.arange(len(run.models))[::-1]
        box = ax.boxplot([d if d.size else [np.nan] for d in data], positions=ypos, widths=0.6, patch_artist=True,
                         showfliers=False, medianprops={"color": "black"}, **HORIZONTAL)
        for patch, model in zip(box["boxes"], run.models, strict=True):
            patch.set_facecolor(colors[model][0])
            patch.set_alpha(0.55)
            patch.set_hatch(colors[model][1])
        rng = np.random.default_rng(0)
        for y, d in zip(ypos, data, strict=True):
            ax.scatter(d, y + rng.uniform(-0.18, 0.18, d.size), s=7, color="black", alpha=0.6, linewidths=0)
        ax.set_yticks(ypos, run.models if k % ncols == 0 else [""] * len(ypos))
        ax.set_ylim(-0.7, len(run.models) - 0.3)
        arrow = "↑ better" if res.higher_is_better else ("↓ better" if res.higher_is_better is False else "")
        ax.set_title(f"{res.metric} ({arrow})" if arrow else res.metric)
        ax.grid(axis="x", alpha=0.3)
        for y, note in zip(ypos, notes, strict=True):
            if note:
                ax.text(1.01, y, note, transform=ax.get_yaxis_transform(), ha="left", va="center",
                        fontsize=7.5, color="#b00000")
        if res.higher_is_better is not False:
            ax.set_xlim(min(-0.05, ax.get_xlim()[0]), 1.05)
    for k in range(len(results), nrows * ncols):
        axes[k // ncols, k % ncols].axis("off")
    fig.suptitle(f"Per-image scores ({view or analysis.primary}, mean over seeds); red notes count undefined "
                 "(NaN) and missed (inf) images, which the boxes leave out", fontsize=11)
    handles = [Patch(facecolor=colors[m][0], hatch=colors[m][1], alpha=0.55, edgecolor="#404040", label=m)
               for m in run.models]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), frameon=False,
               title="loss (box: quartiles of the finite scores; dots: test images)")
    return fig


def _per_image(analysis: Analysis, res: MetricResult) -> npt.NDArray[np.float64]:
    found = view_values(analysis.run, res.metric, res.view)
    if found is None:
        raise ValueError(f"metric {res.metric!r} is not scored in view {res.view!r}")
    return seed_averaged(found[0])


def imbalance(analysis: Analysis) -> Figure | None:
    """Each class's share of the pixels per split (bars with the percentage printed)."""
    share = analysis.run.dataset.get("class_share") or {}
    if not share:
        return None
    known = ("train", "val", "test")
    splits = [s for s in known if s in share] + [s for s in share if s not in known]
    classes = list(dict.fromkeys(c for s in splits for c in share[s]))
    fig = Figure(figsize=(max(6.0, 1.3 * len(classes) * len(splits) / 2 + 3), 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(splits)
    cmap = colormaps["Set2"]
    for j, split in enumerate(splits):
        xs = np.arange(len(classes)) + (j - (len(splits) - 1) / 2) * width
        vals = np.array([100.0 * float(share[split].get(c, np.nan)) for c in classes])
        ax.bar(xs, vals, width, label=split, color=cmap(j), edgecolor="#404040", linewidth=0.4)
        for x, v in zip(xs, vals, strict=True):
            if np.isfinite(v):
                ax.text(x, v, f"{v:.1f}%" if v >= 1 else f"{v:.2f}%", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(classes)), classes, rotation=20 if len(classes) > 4 else 0)
    ax.set_ylabel("share of pixels (%)")
    ax.set_ylim(0, 112)
    ax.legend(title="split", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("Class imbalance: each class's share of the (non-ignored) pixels")
    ax.grid(axis="y", alpha=0.3)
    return fig


def rank_heatmap(analysis: Analysis, view: str | None = None) -> Figure | None:
    """Rank of each trained loss (rows) under each metric (columns); 1 = best."""
    results = [r for r in analysis.metric_results(view) if r.higher_is_better is not None]
    trained = analysis.run.trained
    if len(trained) < 2 or not results:
        return None
    ranks = np.array([[res.row(m).rank for res in results] for m in trained])
    fig = Figure(figsize=(max(6.0, 0.75 * len(results) + 2.5), 0.45 * len(trained) + 1.9), layout="constrained")
    ax = fig.subplots()
    cmap = ListedColormap(colormaps["RdYlGn_r"](np.linspace(0.05, 0.95, 256)))
    im = ax.imshow(ranks, cmap=cmap, vmin=1, vmax=len(trained), aspect="auto")
    for i in range(ranks.shape[0]):
        for j in range(ranks.shape[1]):
            v = ranks[i, j]
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9)
            if v == ranks[:, j].min():
                ax.add_patch(Rectangle((j - 0.45, i - 0.42), 0.9, 0.84, fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xticks(np.arange(len(results)), [r.metric for r in results], rotation=35, ha="right")
    ax.set_yticks(np.arange(len(trained)), trained)
    ax.set_title("Rank of each loss per metric (1 = best, boxed; ties share the mean rank)")
    fig.colorbar(im, ax=ax, label="rank", shrink=0.8)
    return fig


def _overlay(pred: npt.NDArray[np.integer], target: npt.NDArray[np.integer], binary: bool,
             num_classes: int) -> npt.NDArray[np.float64]:
    """RGBA overlay: binary -> TP green, FP red, FN blue; multiclass -> class colours where predicted."""
    out = np.zeros((*pred.shape, 4))
    if binary:
        p, t = pred == 1, target == 1
        for mask, rgb in ((p & t, (0.1, 0.75, 0.2)), (p & ~t, (0.95, 0.1, 0.1)), (~p & t, (0.1, 0.35, 1.0))):
            out[mask] = (*rgb, 0.6)
        return out
    cmap = colormaps["tab10"]
    for c in range(1, num_classes):
        out[pred == c] = (*cmap(c % 10)[:3], 0.55)
    return out


def _show_image(ax: Axes, image: npt.NDArray[np.uint8]) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(np.moveaxis(image[:3], 0, -1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def qualitative(analysis: Analysis, preds: Predictions, metric: str = "dice", n_examples: int = 4) -> Figure | None:
    """Test images where the losses disagree most (largest spread of ``metric``), with each loss's prediction.

    Columns: image, ground truth, one per trained loss (the seed of ``preds``, whose score each panel
    shows). Binary data: green = true
    positive, red = false positive, blue = false negative; multiclass: predicted class colours, and the
    ground-truth outline in white. Panel titles give the image's score.
    """
    run = analysis.run
    models = [m for m in run.trained if m in preds.preds]
    if not models:
        return None
    res = analysis.results[analysis.primary].get(metric)
    index = {img: k for k, img in enumerate(run.images)}
    found = view_values(run, metric, analysis.primary) if res is not None else None
    per = found[0][:, run.seeds.index(preds.seed), :] if found is not None and preds.seed in run.seeds else None
    order = list(range(len(preds.ids)))
    if per is not None:
        rows = [run.models.index(m) for m in models]
        cols = [index.get(i, -1) for i in preds.ids]
        scores = np.array([[per[r, c] if c >= 0 else np.nan for c in cols] for r in rows])
        finite = np.where(np.isfinite(scores), scores, np.nan)
        with np.errstate(all="ignore"):
            spread = np.nan_to_num(np.nanmax(finite, axis=0) - np.nanmin(finite, axis=0), nan=-1.0)
        order = [int(k) for k in np.argsort(-spread, kind="stable")]
    chosen = order[:n_examples]
    binary = bool(run.dataset.get("binary", int(run.dataset.get("num_classes", 2)) == 2))
    num_classes = int(run.dataset.get("num_classes", 2))
    ncols = 2 + len(models)
    fig = Figure(figsize=(1.75 * ncols, 1.95 * len(chosen) + 0.9), layout="constrained")
    axes = fig.subplots(len(chosen), ncols, squeeze=False)
    for r, k in enumerate(chosen):
        target = preds.targets[k]
        _show_image(axes[r, 0], preds.images[k])
        axes[r, 0].set_ylabel(preds.ids[k], fontsize=8)
        _show_image(axes[r, 1], preds.images[k])
        axes[r, 1].imshow(_overlay(target, target, binary, num_classes) if not binary else
                          np.where((target == 1)[..., None], np.array([0.1, 0.75, 0.2, 0.6]), 0.0),
                          interpolation="nearest")
        for c, model in enumerate(models):
            ax = axes[r, 2 + c]
            _show_image(ax, preds.images[k])
            ax.imshow(_overlay(preds.preds[model][k], target, binary, num_classes), interpolation="nearest")
            if not binary:
                ax.contour(target > 0, levels=[0.5], colors="white", linewidths=0.6)
            if per is not None and index.get(preds.ids[k], -1) >= 0:
                v = per[run.models.index(model), index[preds.ids[k]]]
                ax.set_xlabel(f"{metric} {v:.2f}" if not np.isnan(v) else f"{metric} undefined", fontsize=8)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
            axes[r, 1].set_title("ground truth", fontsize=9)
            for c, model in enumerate(models):
                axes[r, 2 + c].set_title(model, fontsize=9)
    if binary:
        handles = [Patch(color=(0.1, 0.75, 0.2), label="true positive"),
                   Patch(color=(0.95, 0.1, 0.1), label="false positive"),
                   Patch(color=(0.1, 0.35, 1.0), label="false negative (missed)")]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    else:
        names = list(run.dataset.get("class_names", range(num_classes)))
        cmap = colormaps["tab10"]
        handles = [Patch(color=cmap(c % 10)[:3], alpha=0.55, label=f"predicted {names[c] if c < len(names) else c}")
                   for c in range(1, num_classes)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False,
                   title="white outline: ground truth")
    return fig
