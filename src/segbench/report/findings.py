"""The report's conclusions in words: best loss per metric and whether it is distinguishable from the
runner-up, ranking flips between metrics, trivial baselines that beat the trained losses, aggregation gaps,
undefined and missed cases. Plain text (no markup), shared by the HTML and Markdown renderers.
"""

from __future__ import annotations

import math

from segbench.formatting import interval, number
from segbench.metrics import catalogue
from segbench.report.analysis import GAP_THRESHOLD, Analysis, MetricResult

__all__ = ["KEY_PAIRS", "baseline_notes", "count_notes", "fmt", "fmt_ci", "headline", "imbalance_notes",
           "ranking_notes"]

KEY_PAIRS = (("pixel_accuracy", "dice"), ("class_accuracy", "dice"), ("dice", "hd95"), ("dice", "nsd"), ("iou", "assd"))
"""Metric pairs whose ranking flip the report states first (the classic accuracy-vs-F1 contrast)."""


def fmt(value: float, digits: int = 3) -> str:
    """A score for display: ``∞`` for a miss, ``n/a`` for undefined, else ``digits`` decimals.

    >>> fmt(0.81234), fmt(float("inf")), fmt(float("nan")), fmt(12.3456, 1)
    ('0.812', '∞', 'n/a', '12.3')
    """
    return number(value, f".{digits}f", nan="n/a", inf="∞")


def fmt_ci(low: float, high: float, digits: int = 3) -> str:
    """``[low, high]`` with :func:`fmt`.

    >>> fmt_ci(0.1, float("inf"))
    '[0.100, ∞]'
    """
    return interval(low, high, f".{digits}f", nan="n/a", inf="∞")


def _digits(res: MetricResult) -> int:
    return 3 if res.higher_is_better is not False else 2


def headline(analysis: Analysis, view: str | None = None) -> list[str]:
    """Per metric: the best trained loss, its score and CI, and whether it beats the runner-up beyond noise."""
    lines = []
    pct = round(100 * analysis.confidence)
    for res in analysis.metric_results(view):
        sep = res.separation
        if res.higher_is_better is None:
            why = "a signed error, best at 0 (see its interval per loss)" if res.metric in catalogue.names() \
                else "direction unknown (not a segbench metric)"
            lines.append(f"{res.metric}: {why}; no ranking.")
            continue
        if sep is None or not res.best:
            continue
        models = analysis.run.trained
        best, second = models[sep.best], models[sep.runner_up]
        row = res.row(best)
        d = _digits(res)
        stat = "median" if res.statistic == "median" else "mean"
        text = (f"{res.metric}: best {best} ({stat} {fmt(row.estimate, d)} {fmt_ci(row.ci_low, row.ci_high, d)}), "
                f"runner-up {second}; difference {fmt(sep.diff_estimate, d)} with {pct}% CI "
                f"{fmt_ci(sep.diff_low, sep.diff_high, d)}")
        if sep.distinguishable:
            text += ": the lead is beyond resampling noise."
        elif math.isnan(sep.diff_low):
            text += ": the difference is undefined, so the lead is NOT established."
        else:
            text += f": the CI includes 0, so {best} is NOT distinguishable from {second}."
        lines.append(text)
    return lines


def _order_words(analysis: Analysis, res_a: MetricResult, res_b: MetricResult, pair: tuple[int, int]) -> str:
    models = analysis.run.trained
    i, j = pair
    a_first = res_a.row(models[i]).rank < res_a.row(models[j]).rank
    first_a, second_a = (models[i], models[j]) if a_first else (models[j], models[i])
    return f"{res_a.metric} prefers {first_a} over {second_a}, {res_b.metric} prefers {second_a} over {first_a}"


def ranking_notes(analysis: Analysis, view: str | None = None) -> list[str]:
    """Whether the metrics rank the losses the same way, with the flips that matter most spelled out."""
    view = view or analysis.primary
    agreement = analysis.agreement.get(view)
    if agreement is None:
        return []
    results = analysis.results[view]
    models = analysis.run.trained
    n_pairs = len(agreement.metrics) * (len(agreement.metrics) - 1) // 2
    if agreement.consistent:
        return [f"All {len(agreement.metrics)} metrics rank the losses in the same order (no flips)."]
    lines = [f"{len(agreement.disagreements)} of {n_pairs} metric pairs order at least one pair of losses "
             "oppositely: the choice of metric changes the conclusion."]
    by_pair = {(d.metric_a, d.metric_b): d for d in agreement.disagreements}
    by_pair.update({(d.metric_b, d.metric_a): d for d in agreement.disagreements})
    for a, b in KEY_PAIRS:
        dis = by_pair.get((a, b))
        if dis is None:
            if a in results and b in results:
                lines.append(f"{a} and {b} agree on the order of every pair of losses.")
            continue
        best_a = ", ".join(models[k] for k in agreement.best[a])
        best_b = ", ".join(models[k] for k in agreement.best[b])
        example = _order_words(analysis, results[a], results[b], dis.flipped[0])
        text = (f"{a} vs {b}: {len(dis.flipped)} loss pair(s) flip (Kendall tau {fmt(dis.tau, 2)}); e.g. {example}.")
        if dis.best_differs:
            text += f" Best by {a}: {best_a}; best by {b}: {best_b}."
        lines.append(text)
    return lines


def baseline_notes(analysis: Analysis, view: str | None = None) -> list[str]:
    """Metrics on which a trivial baseline scores at least as well as every trained loss."""
    lines = []
    for res in analysis.metric_results(view):
        hib = res.higher_is_better
        trained = [r for r in res.rows if r.kind == "trained" and not math.isnan(r.estimate)]
        if hib is not None and trained:
            best_trained = max(r.estimate for r in trained) if hib else min(r.estimate for r in trained)
            for r in res.rows:
                if r.kind != "trivial" or math.isnan(r.estimate):
                    continue
                if (r.estimate >= best_trained) if hib else (r.estimate <= best_trained):
                    lines.append(f"{res.metric}: the trivial baseline {r.model} scores {fmt(r.estimate)}, at least as "
                                 f"good as every trained loss; {res.metric} alone cannot tell a model from no model "
                                 "on this data.")
    return lines


def count_notes(analysis: Analysis, view: str | None = None) -> list[str]:
    """Aggregation gaps (per-image vs dataset-level) and the undefined (NaN) and missed (inf) counts."""
    lines = []
    for res in analysis.metric_results(view):
        trained = [r for r in res.rows if r.kind == "trained" and not math.isnan(r.estimate)]
        gaps = [(r.model, r.gap) for r in trained if not math.isnan(r.gap) and abs(r.gap) > GAP_THRESHOLD]
        if gaps:
            worst = max(gaps, key=lambda g: abs(g[1]))
            lines.append(f"{res.metric}: per-image mean and dataset-level (pooled) score differ by more than "
                         f"{GAP_THRESHOLD} for {len(gaps)} loss(es) (largest: {worst[0]}, {worst[1]:+.3f}); "
                         "both are in the tables.")
        nan = [(r.model, r.n_nan, r.n_values) for r in res.rows if r.kind == "trained" and r.n_nan]
        inf = [(r.model, r.n_inf, r.n_values) for r in res.rows if r.kind == "trained" and r.n_inf]
        if nan:
            lines.append(f"{res.metric}: undefined (NaN, empty reference and empty prediction) in "
                         + "; ".join(f"{m} {k}/{n}" for m, k, n in nan)
                         + " (seed x image) scores; excluded from means, counted here and in the tables.")
        if inf:
            lines.append(f"{res.metric}: missed (inf, exactly one of prediction and reference empty) in "
                         + "; ".join(f"{m} {k}/{n}" for m, k, n in inf)
                         + " scores; kept (a mean with a miss is ∞, so the report ranks by the median).")
    return lines


def imbalance_notes(analysis: Analysis) -> list[str]:
    """What the class shares imply for the metrics, with the trivial baselines' actual scores as evidence."""
    ds = analysis.run.dataset
    test = (ds.get("class_share") or {}).get("test") or {}
    bg = analysis.run.background
    lines = []
    fg = {c: float(v) for c, v in test.items() if c != bg}
    if fg:
        smallest = min(fg, key=lambda c: fg[c])
        lines.append("Foreground share of the test pixels: "
                     + ", ".join(f"{c} {100 * v:.2f}%" for c, v in fg.items())
                     + f"; the rarest class is {smallest}.")
        if bg in test:
            lines.append(f"A model that predicts only background is right on {100 * float(test[bg]):.1f}% of the "
                         "pixels: pixel accuracy and specificity are dominated by the background and say little "
                         "about the foreground; read Dice/IoU, MCC and the boundary metrics instead.")
    results = analysis.results[analysis.primary]
    for model in analysis.run.trivial:
        parts = [f"{m} {fmt(results[m].row(model).estimate)}"
                 for m in ("pixel_accuracy", "class_accuracy", "dice", "mcc") if m in results]
        if parts:
            lines.append(f"Trivial baseline {model}: " + ", ".join(parts) + ".")
    return lines
