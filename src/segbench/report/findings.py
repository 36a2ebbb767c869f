"""The report's conclusions in words: best loss per metric and whether it is distinguishable from the
runner-up, ranking flips between metrics, trivial baselines that beat the trained losses, aggregation gaps,
undefined and missed cases. Plain text (no markup), shared by the HTML and Markdown renderers.
"""

from __future__ import annotations

import math

from segbench.formatting import interval, number
from segbench.metrics import catalogue
from segbench.report.analysis import GAP_THRESHOLD, Analysis, MetricResult

__all__ = ["KEY_PAIRS", "answer", "baseline_notes", "classic_claim", "count_notes", "fmt", "fmt_ci", "headline",
           "imbalance_notes", "lead", "ranking_notes", "scope_note"]

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


def scope_note(analysis: Analysis) -> str:
    """What the CIs and tests hold: seeds and images (3+ seeds), or images only (fewer: marked on every claim).

    Args:
        analysis: the report's numbers.
    """
    n_seeds = len(analysis.run.seeds)
    if analysis.seed_level:
        return (f"CIs and differences: two-stage bootstrap over the {n_seeds} seeds and the test images "
                "(seed-to-seed spread included); tests: paired Wilcoxon on per-image seed means, Holm-corrected.")
    return (f"Only {n_seeds} seed(s): the seed-to-seed variance cannot be estimated, so every CI, test and claim "
            "below is image-level only (it ignores how much another seed would change the result).")


def _mark(analysis: Analysis) -> str:
    return "" if analysis.seed_level else " [image-level only]"


def _misses(analysis: Analysis, res: MetricResult, models: list[str]) -> str:
    counts = ", ".join(f"{m} {res.row(m).n_inf}" for m in models)
    return f"misses (seed x image): {counts}"


def lead(analysis: Analysis, res: MetricResult) -> str:
    """The best loss's lead over the runner-up as a positive number in the metric's better direction
    (best minus runner-up, or runner-up minus best for lower-is-better), with its CI; ``"misses: A 3, B 0"``
    where the difference is infinite.

    Args:
        analysis: the report's numbers.
        res: one metric's result (with a separation).
    """
    sep = res.separation
    if sep is None:
        return "no lead (fewer than 2 trained losses)"
    models = analysis.run.trained
    best, second = models[sep.best], models[sep.runner_up]
    if any(math.isinf(v) for v in (sep.diff_estimate, sep.diff_low, sep.diff_high)):
        return _misses(analysis, res, [best, second])
    sign = -1.0 if res.higher_is_better else 1.0  # diff is runner-up minus best
    lo, hi = sorted((sign * sep.diff_low, sign * sep.diff_high))
    d = _digits(res)
    return f"lead {fmt(sign * sep.diff_estimate, d)} {fmt_ci(lo, hi, d)}"


def answer(analysis: Analysis) -> list[str]:
    """The answer first: on the primary metric, the losses no test separates from the best, those significantly
    worse, and one paragraph with the caveats (seeds, test size, trivial predictors).

    Args:
        analysis: the report's numbers.
    """
    metric = analysis.primary_metric
    res = analysis.results.get(analysis.primary, {}).get(metric)
    if res is None:
        return [f"Primary metric {metric!r} is not scored in this run: no verdict."]
    trained = [r for r in res.rows if r.kind == "trained"]
    if not trained or res.higher_is_better is None or not res.best:
        return [f"No trained loss has a defined {metric} on the test images: no verdict."]
    d = _digits(res)
    stat = res.statistic
    best = res.best[0]
    row = res.row(best)
    tied = [m for m in res.tied_with_best if m != best]
    lines = [
        (f"Primary metric: {metric} ({analysis.primary}; higher is better)" if res.higher_is_better else
         f"Primary metric: {metric} ({analysis.primary}; lower is better)")
        + (f". Why: {analysis.primary_reason}" if analysis.primary_reason else ""),
        f"Best: {best} ({stat} {fmt(row.estimate, d)} {fmt_ci(row.ci_low, row.ci_high, d)}). Not separated from it "
        f"by any test: {', '.join(tied) if tied else 'none'}." + _mark(analysis),
        f"Significantly worse than {best}: {', '.join(res.worse) if res.worse else 'none'}." + _mark(analysis),
    ]
    trivial = [r for r in res.rows if r.kind == "trivial" and not math.isnan(r.estimate)]
    trivial_text = "; ".join(f"{r.model} {fmt(r.estimate, d)}" for r in trivial) or "not scored"
    n_seeds, n_img = len(analysis.run.seeds), len(analysis.run.images)
    if len(trained) < 2:
        verdict = f"Only {best} was trained, so nothing is compared."
    elif not res.worse:
        verdict = (f"On {metric}, no loss is significantly worse than {best}: this run cannot tell the losses "
                   "apart, so the choice of loss is not settled by it.")
    elif not tied:
        verdict = f"On {metric}, {best} is significantly better than every other trained loss."
    else:
        verdict = (f"On {metric}, {best} and {', '.join(tied)} cannot be told apart; "
                   f"{', '.join(res.worse)} {'is' if len(res.worse) == 1 else 'are'} significantly worse.")
    as_good = [r.model for r in trivial if (r.estimate >= row.estimate if res.higher_is_better
                                            else r.estimate <= row.estimate)]
    if as_good:
        verdict += (f" The trivial predictor {', '.join(as_good)} scores at least as well as {best}: on {metric} this "
                    "run shows no model better than no model.")
    caveat = (f" Caveats: {n_seeds} seed(s) and {n_img} test images ({res.n_used} paired, {res.n_dropped} "
              f"undefined for some loss); trivial predictors score {trivial_text}; "
              + ("seed variance is included in the CIs." if analysis.seed_level else
                 "seed variance cannot be estimated with fewer than 3 seeds, so the claims are image-level only.")
              + " A test that separates nothing is not evidence that the losses are equal.")
    lines.append(verdict + caveat)
    return lines


def headline(analysis: Analysis, view: str | None = None) -> list[str]:
    """Per metric: the best trained loss, its score and CI, and its lead over the runner-up (a positive number in
    the better direction, with its CI, or the misses where it is infinite), beyond noise or not."""
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
                f"runner-up {second}; {lead(analysis, res)} ({pct}% CI)")
        if sep.distinguishable:
            text += ": the lead is beyond resampling noise" + (
                "." if analysis.seed_level else " of the test images [image-level only].")
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
    significant = _significant_disagreements(analysis, view)
    lines = [f"{len(agreement.disagreements)} of {n_pairs} metric pairs order at least one pair of losses "
             "oppositely by their estimates; "
             + (f"metrics disagree (each prefers a different loss of a pair, both significant after Holm) in "
                f"{len(significant)} case(s): " + "; ".join(significant[:6]) + "." + _mark(analysis)
                if significant else "in none is the opposite order significant in both metrics after Holm, "
                "so these flips are between losses the tests cannot tell apart: noise, not a finding.")]
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


def _significant_disagreements(analysis: Analysis, view: str) -> list[str]:
    """'A prefers X over Y, B prefers Y over X' where both orders are Holm-significant."""
    results = analysis.results[view]
    models = analysis.run.trained
    ordered = [(m, r.pair_order) for m, r in results.items() if r.pair_order]
    out = []
    for a in range(len(ordered)):
        for b in range(a + 1, len(ordered)):
            (ma, pa), (mb, pb) = ordered[a], ordered[b]
            for pair, sa in (pa or {}).items():
                sb = (pb or {}).get(pair, 0)
                if sa and sb and sa != sb:
                    i, j = pair
                    x, y = (models[i], models[j]) if sa > 0 else (models[j], models[i])
                    out.append(f"{ma} prefers {x} over {y}, {mb} prefers {y} over {x}")
    return out


def classic_claim(analysis: Analysis) -> str:
    """The classic claim "accuracy prefers cross-entropy, F1/Dice prefers the overlap losses", tested.

    Args:
        analysis: the report's numbers.
    """
    results = analysis.results.get(analysis.primary, {})
    acc, dice = results.get("pixel_accuracy"), results.get("dice")
    models = analysis.run.trained
    ce = [k for k, m in enumerate(models) if m in ("ce", "bce")]
    overlap = [k for k, m in enumerate(models) if m in ("dice", "jaccard", "tversky", "lovasz")]
    if acc is None or dice is None or not ce or not overlap or not acc.pair_order or not dice.pair_order:
        return "The classic claim (accuracy prefers cross-entropy, Dice prefers the overlap losses) is not tested here."
    c = ce[0]
    supported = []
    for o in overlap:
        pair = (min(c, o), max(c, o))
        acc_ce = acc.pair_order.get(pair, 0) * (1 if c < o else -1)  # +1: ce significantly better on accuracy
        dice_ce = dice.pair_order.get(pair, 0) * (1 if c < o else -1)
        if acc_ce > 0 and dice_ce < 0:
            supported.append(models[o])
    if supported:
        return (f"The classic claim is supported for {', '.join(supported)}: pixel accuracy significantly prefers "
                f"{models[c]}, Dice significantly prefers the overlap loss (Holm-corrected)." + _mark(analysis))
    return (f"The classic claim (pixel accuracy prefers {models[c]}, Dice prefers the overlap losses) is not "
            "supported: no overlap loss is significantly worse on accuracy and significantly better on Dice."
            + _mark(analysis))


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
            lines.append(f"{res.metric}: undefined (NaN: reference and prediction both without the class) in "
                         + "; ".join(f"{m} {k}/{n}" for m, k, n in nan)
                         + " (seed x image) scores; excluded from means, counted here and in the tables.")
        if inf:
            lines.append(f"{res.metric}: missed (inf: a distance with exactly one of prediction and reference "
                         "empty) in "
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
