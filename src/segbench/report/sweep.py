r"""The report of a ``segbench sweep`` folder: every share's compare run, read and analysed as compare's report does
(:func:`~segbench.report.analysis.analyze`: hierarchical CIs over seeds and images with 3+ seeds, the confidence set
of best losses), then drawn across shares.

* The **signature figure**: x = foreground share (log scale), one panel per metric, one line per trained loss with
  its interval (:func:`~segbench.stats.hierarchical_bootstrap_ci`; image-level only with fewer than 3 seeds), the
  trivial predictors as dashed lines.
* Per share, the **confidence set** of best losses on the primary metric: the trained losses no test separates from
  the best (``MetricResult.tied_with_best``: the best, and every loss whose difference CI to the best includes 0 or
  whose Holm-corrected Wilcoxon test against the best does not reject).
* The **accuracy threshold**: the share below which pixel accuracy no longer separates any trained model from the
  all-background predictor (:func:`accuracy_separation`, :func:`accuracy_threshold`).

Everything is written atomically: ``report.html``, ``summary.md``, ``figures/signature.png`` and
``results/sweep_statistics.csv`` in the sweep folder.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from segbench import stats
from segbench.errors import UsageError
from segbench.files.atomic import write_bytes, write_csv, write_text
from segbench.report import figures as figs
from segbench.report.analysis import Analysis, MetricResult, ModelResult, analyze, view_values
from segbench.report.findings import fmt, fmt_ci
from segbench.report.render import CSS, _e, _table, versions
from segbench.report.rundata import load_run

__all__ = ["ALL_BACKGROUND", "SIGNATURE_METRICS", "SWEEP_FILE", "SWEEP_STATISTICS_COLUMNS", "SWEEP_TOML",
           "AccuracySeparation", "ShareResult", "SweepPaths", "accuracy_separation", "accuracy_threshold",
           "best_set", "build_sweep_report"]

SWEEP_FILE = "sweep.json"
"""In the sweep folder: the shares, their run folders and measured shares (written by the sweep runner)."""
SWEEP_TOML = "sweep.toml"
"""In the sweep folder: the resolved sweep (compare's tables and ``[sweep]``)."""
SIGNATURE_METRICS = ("pixel_accuracy", "dice", "iou", "hd95", "nsd", "boundary_iou", "ece", "brier", "volume_bias")
"""The signature figure's panels, those the runs scored, in this order."""
ALL_BACKGROUND = "all-background"
SWEEP_STATISTICS_COLUMNS = ("share", "measured_share", "model", "kind", "metric", "statistic", "estimate", "ci_low",
                            "ci_high", "in_best_set", "vs_background", "vs_background_low", "vs_background_high",
                            "vs_background_p_holm", "separated")
FloatArray = npt.NDArray[np.float64]
Rows = list[tuple[str, list[tuple[str, bool]]]]
TRIVIAL_DASHES = ((5.0, 2.0), (1.5, 1.5), (6.0, 2.0, 1.5, 2.0))
"""Dash patterns of the trivial predictors' lines (all-background, all-foreground, majority class)."""


@dataclass(frozen=True)
class AccuracySeparation:
    """Pixel accuracy of each trained loss against the all-background predictor, at one share.

    Attributes:
        models: the trained losses.
        diff, low, high: accuracy of the loss minus the all-background predictor's, and its paired CI.
        p_holm: two-sided paired Wilcoxon test against the all-background predictor, Holm-corrected over the losses.
        separated: the loss beats the all-background predictor beyond noise (see :func:`accuracy_separation`).
    """

    models: tuple[str, ...]
    diff: FloatArray
    low: FloatArray
    high: FloatArray
    p_holm: FloatArray
    separated: tuple[bool, ...]

    @property
    def any(self) -> bool:
        """Whether accuracy separates at least one trained loss from the all-background predictor."""
        return any(self.separated)


def accuracy_separation(trained: npt.ArrayLike, background: npt.ArrayLike, models: tuple[str, ...], *,
                        seed_level: bool, n_boot: int = 2000, confidence: float = 0.95) -> AccuracySeparation:
    r"""Whether pixel accuracy *separates* each trained loss from the all-background predictor.

    ``trained`` is ``(L, S, N)`` per-image accuracy (losses, seeds, test images), ``background`` the all-background
    predictor's ``(S, N)`` or ``(N,)`` (the same for every seed). With :math:`d_l` the paired difference
    :math:`\mathrm{acc}_l - \mathrm{acc}_{\mathrm{bg}}` (mean over images of the per-image seed means), loss
    :math:`l` is *separated* when

    .. math:: \mathrm{CI}_{1-\alpha}(d_l) \subset (0, \infty) \quad\text{and}\quad p^{\mathrm{Holm}}_l < 0.05

    i.e. it beats the predictor that paints nothing, beyond noise, by both the paired bootstrap interval (two-stage
    over seeds and images when ``seed_level``, else over images) and the two-sided paired Wilcoxon test on the
    per-image seed means, Holm-corrected over the ``L`` losses: the report's rule for "significantly different".
    A loss that scores *below* the all-background predictor is not separated: there accuracy ranks the useless
    prediction first.

    >>> bg = np.full(8, 0.9)
    >>> better = 0.92 + 0.01 * np.arange(8) / 8   # 0.02 to 0.03 above the predictor on every image
    >>> same = 0.9 + np.array([1, -1] * 4) * 0.005  # above and below it by turns
    >>> sep = accuracy_separation(np.stack([better, same])[:, None], bg, ("a", "b"), seed_level=False, n_boot=500)
    >>> sep.separated, sep.any
    ((True, False), True)
    """
    x = np.asarray(trained, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"trained must have shape (losses, seeds, images), got {x.shape}")
    bg = np.asarray(background, dtype=np.float64)
    bg = np.broadcast_to(bg if bg.ndim == 2 else bg[None], x.shape[1:])
    values = np.concatenate([x, bg[None]], axis=0)  # the predictor last: (L + 1, S, N)
    ref = x.shape[0]
    if seed_level:
        ci = stats.hierarchical_bootstrap_ci(values, reference=ref, n_boot=n_boot, confidence=confidence)
    else:
        ci = stats.paired_bootstrap_ci(np.nanmean(values, axis=1), reference=ref, n_boot=n_boot,
                                       confidence=confidence)
    means = np.nanmean(values, axis=1)
    p_holm = np.full(ref, np.nan)
    for c in stats.wilcoxon_holm(means, ref, higher_is_better=True):
        p_holm[c.loss] = c.p_holm
    low, high = ci.diff_low[:ref], ci.diff_high[:ref]
    separated = tuple(bool(lo > 0 and p < 0.05) for lo, p in zip(low, p_holm, strict=True))
    return AccuracySeparation(models, ci.diff_estimate[:ref], low, high, p_holm, separated)


def accuracy_threshold(shares: tuple[float, ...], separated: tuple[bool, ...]) -> tuple[float | None, float | None]:
    """``(last, below)``: the smallest share at which accuracy still separates some trained loss from the
    all-background predictor, and the next smaller share of the sweep (from there down it separates none).

    ``last`` is None when accuracy separates no loss at any share; ``below`` is None when it still separates one at
    the smallest share (the threshold lies below the sweep).

    >>> accuracy_threshold((0.3, 0.1, 0.03, 0.01), (True, True, False, False))
    (0.1, 0.03)
    >>> accuracy_threshold((0.01, 0.3, 0.1), (False, True, True)), accuracy_threshold((0.3, 0.1), (False, False))
    ((0.1, 0.01), (None, 0.3))
    """
    if len(shares) != len(separated):
        raise ValueError(f"{len(shares)} shares but {len(separated)} separation flags")
    order = sorted(range(len(shares)), key=lambda i: -shares[i])
    hits = [k for k, i in enumerate(order) if separated[i]]
    if not hits:
        return None, shares[order[0]] if order else None
    last = hits[-1]
    return shares[order[last]], shares[order[last + 1]] if last + 1 < len(order) else None


@dataclass(frozen=True)
class ShareResult:
    """One share: its run folder's analysis, measured share, and the accuracy separation (None without accuracy)."""

    share: float
    measured: dict[str, float]
    analysis: Analysis
    separation: AccuracySeparation | None

    def result(self, metric: str) -> MetricResult | None:
        """The primary view's result on ``metric`` (None if not scored)."""
        return self.analysis.results[self.analysis.primary].get(metric)


@dataclass(frozen=True)
class SweepPaths:
    """What :func:`build_sweep_report` wrote, and the threshold in one line."""

    html: Path
    markdown: Path
    statistics: Path
    figure: Path
    answer: tuple[str, ...]


def _read_sweep(root: Path) -> dict[str, Any]:
    path = root / SWEEP_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        entries = record["shares"]
        _ = [(float(e["share"]), str(e["folder"])) for e in entries]
    except FileNotFoundError:
        raise UsageError(f"{root} is not a sweep folder: {SWEEP_FILE} is missing (run `segbench sweep` first)"
                         ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return dict(record)


def _share_result(root: Path, entry: dict[str, Any], n_boot: int) -> ShareResult:
    analysis = analyze(load_run(root / entry["folder"]), n_boot=n_boot)
    run = analysis.run
    separation = None
    found = view_values(run, "pixel_accuracy", analysis.primary)
    if found is not None and ALL_BACKGROUND in run.models and run.trained:
        per = found[0]
        trained = per[[run.models.index(m) for m in run.trained]]
        background = per[run.models.index(ALL_BACKGROUND)]
        separation = accuracy_separation(trained, background, run.trained, seed_level=analysis.seed_level,
                                         n_boot=n_boot, confidence=analysis.confidence)
    measured = {k: float(v) for k, v in entry.get("measured_share", {}).items()}
    return ShareResult(float(entry["share"]), measured, analysis, separation)


def _signature(results: list[ShareResult], metrics: list[str], threshold: tuple[float | None, float | None]
               ) -> Figure:
    first = results[0].analysis
    colors = figs.model_colors(first)
    x = np.array([r.measured.get("test", r.share) for r in results])
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(4.6 * ncols + 2.2, 3.5 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        res = [r.result(metric) for r in results]
        misses: list[tuple[float, Any]] = []
        trained_values: list[float] = []
        for model in first.run.models:
            rows = [_row(q, model) for q in res]
            est = np.array([r.estimate if r is not None else np.nan for r in rows])
            lo = np.array([r.ci_low if r is not None else np.nan for r in rows])
            hi = np.array([r.ci_high if r is not None else np.nan for r in rows])
            ok = np.isfinite(est)
            if not ok.any():
                continue
            color = colors[model][0]
            if first.run.kinds[model] == "trivial":
                k = first.run.trivial.index(model)
                ax.plot(x[ok], est[ok], linestyle=(0, TRIVIAL_DASHES[k % len(TRIVIAL_DASHES)]), color="#555555",
                        linewidth=1.2, label=model)
                continue
            ax.plot(x[ok], est[ok], marker="o", markersize=3.5, color=color, linewidth=1.6, label=model)
            band = ok & np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.15, linewidth=0)
            trained_values.extend(float(v) for v in np.concatenate([est[ok], lo[band], hi[band]]))
            misses.extend((float(v), color) for v in x[np.isposinf(est)])
        for v, color in misses:  # an infinite estimate (a miss): a triangle on the panel's top edge
            ax.plot([v], [1.0], marker="^", markersize=7, color=color, transform=ax.get_xaxis_transform(),
                    clip_on=False, linestyle="none", label="∞ (a miss)")
        if metric == "pixel_accuracy" and threshold[0] is not None:
            at = next(xv for xv, r in zip(x, results, strict=True) if r.share == threshold[0])
            ax.axvline(at, color="#b00000", linestyle=":", linewidth=1.2,
                       label="lowest share where accuracy\nseparates a loss from all-background")
        first_res = next((q for q in res if q is not None), None)
        hib = first_res.higher_is_better if first_res is not None else None
        if hib is None and trained_values:  # a signed metric (volume bias): the trained losses set the scale
            lo_v, hi_v = min(trained_values), max(trained_values)
            pad = 0.15 * (hi_v - lo_v) or 0.1
            ax.set_ylim(lo_v - pad, hi_v + pad)
        stat = " (median)" if any(q is not None and q.statistic == "median" for q in res) else ""
        ax.set_title(f"{metric}{stat} {'↑' if hib else ('↓' if hib is False else '')}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(x, [_tick(r.share, v) for r, v in zip(results, x, strict=True)],
                      rotation=30 if len(x) > 4 else 0)
        ax.set_xlabel("foreground share of the test pixels (log)")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(metrics):]:
        ax.axis("off")
    handles: dict[str, Any] = {}
    for ax in axes[: len(metrics)]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    how = "seeds, then images" if first.seed_level else "images only (fewer than 3 seeds)"
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", frameon=False,
               title=f"loss (band: {round(100 * first.confidence)}% CI over {how});\ntrivial predictors dashed")
    return fig


def best_set(res: MetricResult) -> tuple[str, ...]:
    """The confidence set of best trained losses on ``res``'s metric: ``tied_with_best`` (the best and every loss
    not significantly worse than it); with one trained loss, that loss."""
    return res.tied_with_best or res.best


def _row(res: MetricResult | None, model: str) -> ModelResult | None:
    """``res``'s row of ``model``; None where the share did not score the metric or the model."""
    return next((r for r in res.rows if r.model == model), None) if res is not None else None


def _statistics_rows(results: list[ShareResult], metrics: list[str]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        for metric in metrics:
            res = r.result(metric)
            if res is None:
                continue
            sep = r.separation if metric == "pixel_accuracy" else None
            for row in res.rows:
                k = sep.models.index(row.model) if sep is not None and row.model in sep.models else None
                rows.append({
                    "share": r.share, "measured_share": r.measured.get("test", math.nan), "model": row.model,
                    "kind": row.kind, "metric": metric, "statistic": res.statistic, "estimate": row.estimate,
                    "ci_low": row.ci_low, "ci_high": row.ci_high,
                    "in_best_set": row.model in best_set(res) if row.kind == "trained" else "",
                    "vs_background": "" if k is None or sep is None else float(sep.diff[k]),
                    "vs_background_low": "" if k is None or sep is None else float(sep.low[k]),
                    "vs_background_high": "" if k is None or sep is None else float(sep.high[k]),
                    "vs_background_p_holm": "" if k is None or sep is None else float(sep.p_holm[k]),
                    "separated": "" if k is None or sep is None else sep.separated[k],
                })
    return rows


def _pct(share: float) -> str:
    return f"{100 * share:.3g}%"


def _tick(configured: float, measured: float) -> str:
    """The configured share, with the measured one under it where they differ by more than 5%.

    >>> _tick(0.01, 0.00998), _tick(0.01, 0.03)
    ('1%', '1%\\n(3%)')
    """
    if abs(measured - configured) <= 0.05 * configured:
        return _pct(configured)
    return f"{_pct(configured)}\n({_pct(measured)})"


def _answer(results: list[ShareResult], threshold: tuple[float | None, float | None]) -> list[str]:
    shares = tuple(r.share for r in results)
    last, below = threshold
    if not any(r.separation is not None for r in results):
        lines = ["Pixel accuracy or the all-background predictor was not scored: no accuracy threshold."]
    elif last is None:
        lines = [f"Pixel accuracy separates no trained loss from the all-background predictor at any share of "
                 f"this sweep ({', '.join(_pct(s) for s in shares)})."]
    elif below is None:
        lines = [f"Pixel accuracy still separates a trained loss from the all-background predictor at the smallest "
                 f"share, {_pct(last)}: the threshold lies below this sweep."]
    else:
        lines = [f"Below {_pct(last)} foreground, pixel accuracy no longer separates any trained loss from the "
                 f"all-background predictor: from {_pct(below)} down, no loss beats its 1 - f by a paired interval "
                 "and test."]
    for r in results:
        res = r.result(r.analysis.primary_metric)
        if res is None:
            continue
        best = ", ".join(best_set(res)) or "none (no direction for this metric)"
        lines.append(f"At {_pct(r.share)}: best on {res.metric} (confidence set) {{{best}}}.")
    return lines


def _share_table(results: list[ShareResult]) -> tuple[list[str], Rows]:
    header = ["share (configured)", "measured (test)", "primary", "confidence set of best losses",
              "all-background accuracy", "losses beating it on accuracy"]
    rows = []
    for r in results:
        res = r.result(r.analysis.primary_metric)
        acc = r.result("pixel_accuracy")
        bg_row = _row(acc, ALL_BACKGROUND)
        bg = bg_row.estimate if bg_row is not None else math.nan
        sep = r.separation
        beat = "n/a" if sep is None else (", ".join(m for m, s in zip(sep.models, sep.separated, strict=True) if s)
                                          or "none")
        rows.append(("trained", [(_pct(r.share), False), (_pct(r.measured.get("test", math.nan)), False),
                                 (r.analysis.primary_metric, False),
                                 (", ".join(best_set(res)) if res is not None else "n/a", False),
                                 (fmt(bg, 4), False), (beat, False)]))
    return header, rows


def _separation_table(results: list[ShareResult]) -> tuple[list[str], Rows]:
    header = ["share", "loss", "accuracy minus all-background", "CI", "p (Holm)", "separated"]
    rows = []
    for r in results:
        sep = r.separation
        if sep is None:
            continue
        for k, m in enumerate(sep.models):
            rows.append(("trained", [(_pct(r.share), False), (m, False), (fmt(float(sep.diff[k]), 4), False),
                                     (fmt_ci(float(sep.low[k]), float(sep.high[k]), 4), False),
                                     (fmt(float(sep.p_holm[k]), 3), False),
                                     ("yes" if sep.separated[k] else "no", sep.separated[k])]))
    return header, rows


def _metric_table(results: list[ShareResult], metric: str) -> tuple[list[str], Rows]:
    header = ["model", *(_pct(r.share) for r in results)]
    models = results[0].analysis.run.models
    rows = []
    for model in models:
        cells = [(model, False)]
        for r in results:
            res = r.result(metric)
            row = _row(res, model)
            if res is None or row is None:
                cells.append(("n/a", False))
                continue
            digits = 3 if res.higher_is_better is not False else 2
            cells.append((f"{fmt(row.estimate, digits)} {fmt_ci(row.ci_low, row.ci_high, digits)}",
                          row.kind == "trained" and row.model in best_set(res)))
        rows.append((results[0].analysis.run.kinds[model], cells))
    return header, rows


def _protocol(results: list[ShareResult]) -> str:
    cfg = results[0].analysis.run.config
    train, model = cfg.get("train", {}), cfg.get("model", {})
    first = results[0].analysis
    how = (f"two-stage paired bootstrap (seeds, then images), {first.n_boot} resamples" if first.seed_level
           else f"paired bootstrap over test images only (fewer than 3 seeds), {first.n_boot} resamples")
    return (f"Dataset {cfg.get('dataset', {}).get('spec', '?')} at {len(results)} foreground shares; every share is "
            f"one compare run with the same protocol: model {model}, training {train}. Intervals: "
            f"{round(100 * first.confidence)}% {how}. Confidence set of best losses: the best loss on the primary "
            "metric and every loss not significantly worse (its difference CI to the best includes 0, or the "
            "Holm-corrected Wilcoxon test against the best does not reject). Accuracy separates a loss from the "
            "all-background predictor when the paired CI of (loss - all-background) lies above 0 and the "
            "Holm-corrected (over the losses) paired Wilcoxon test rejects at 0.05.")


def build_sweep_report(sweep_dir: str | Path, *, n_boot: int = 2000, quiet: bool = False) -> SweepPaths:
    """Write ``report.html``, ``summary.md``, ``figures/signature.png`` and ``results/sweep_statistics.csv``.

    Args:
        sweep_dir: a ``segbench sweep`` output folder (``sweep.json`` and one compare run folder per share).
        n_boot: bootstrap resamples of every CI.
        quiet: no progress lines on stderr.

    Raises:
        segbench.errors.UsageError: not a sweep folder, or a share's run folder is incomplete.
    """
    start = time.perf_counter()
    root = Path(sweep_dir)
    record = _read_sweep(root)
    results = sorted((_share_result(root, e, n_boot) for e in record["shares"]), key=lambda r: -r.share)
    if not results:
        raise UsageError(f"{root / SWEEP_FILE} lists no shares")
    if not quiet:
        print(f"[sweep report {time.perf_counter() - start:5.1f}s] {len(results)} shares analysed", file=sys.stderr)
    scored = {m for r in results for m in r.analysis.results[r.analysis.primary]}
    metrics = [m for m in SIGNATURE_METRICS if m in scored]
    primary = results[0].analysis.primary_metric
    if primary in scored and primary not in metrics:
        metrics.insert(1, primary)
    threshold = accuracy_threshold(tuple(r.share for r in results),
                                   tuple(r.separation is not None and r.separation.any for r in results))
    with figs.styled():
        png = figs.png_bytes(_signature(results, metrics, threshold))
    figure = write_bytes(root / "figures" / "signature.png", png)
    statistics = write_csv(root / "results" / "sweep_statistics.csv", SWEEP_STATISTICS_COLUMNS,
                           _statistics_rows(results, metrics))
    answer = _answer(results, threshold)
    tables = [("Per share", _share_table(results)), ("Pixel accuracy against the all-background predictor",
                                                     _separation_table(results))]
    tables += [(f"{m}: estimate [CI] per share (★ = in the confidence set of best losses)", _metric_table(results, m))
               for m in metrics]
    title = f"segbench sweep: {record.get('spec', root.name)}"
    caption = ("The signature figure: each metric against the foreground share of the test pixels (log scale); one "
               "line per trained loss with its interval band, trivial predictors dashed; the dotted red line marks "
               "the smallest share at which pixel accuracy still separates a trained loss from the all-background "
               "predictor.")
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(_protocol(results))}</p>', "<h2>The answer</h2>",
            "".join(f"<p>{'<b>' if k == 0 else ''}{_e(t)}{'</b>' if k == 0 else ''}</p>" for k, t in enumerate(answer)),
            f'<figure id="fig-signature"><img alt="signature figure" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}"><figcaption>{_e(caption)}</figcaption></figure>']
    body += [f"<h2>{_e(name)}</h2>{_table(*table)}" for name, table in tables]
    body.append(f"<p class=\"meta\">Each share's full compare report: <code>segbench report {_e(root)}/share-…</code>. "
                f"Versions: {_e(', '.join(f'{k} {v}' for k, v in versions().items()))}</p>")
    html_path = write_text(root / "report.html", f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                           f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    md = [f"# {title}", "", _protocol(results), "", "## The answer", "", *(f"- {t}" for t in answer), "",
          "![signature](figures/signature.png)", ""]
    for name, (header, rows) in tables:
        md += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(c.replace("|", "\\|") + (" ★" if best else "") for c, best in cells) + " |"
               for _, cells in rows]
        md.append("")
    md_path = write_text(root / "summary.md", "\n".join(md))
    if not quiet:
        print(f"[sweep report {time.perf_counter() - start:5.1f}s] wrote {html_path}", file=sys.stderr)
    return SweepPaths(html_path, md_path, statistics, figure, tuple(answer))
