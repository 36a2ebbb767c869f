"""The report's tables as plain rows (lists of strings), shared by the HTML and Markdown renderers, and the
machine-readable ``results/statistics.csv`` rows.
"""

from __future__ import annotations

import math
from typing import Any

from segbench.report.analysis import Analysis, MetricResult, ModelResult
from segbench.report.findings import fmt, fmt_ci

__all__ = ["STATISTICS_COLUMNS", "detail_header", "detail_rows", "main_header", "main_rows", "statistics_rows"]

STATISTICS_COLUMNS = [
    "view", "metric", "model", "kind", "higher_is_better", "statistic", "n_images", "n_values", "n_nan", "n_inf",
    "seed_mean", "seed_sd", "estimate", "ci_low", "ci_high", "median", "q25", "q75", "n_paired", "n_dropped",
    "diff_vs_reference", "diff_low", "diff_high", "p_value", "p_holm", "effect_size", "significant", "rank",
    "best", "dataset_level", "aggregation_gap",
]  # fmt: skip


def _digits(res: MetricResult) -> int:
    return 3 if res.higher_is_better is not False else 2


def main_header(analysis: Analysis, view: str | None = None) -> list[str]:
    """``model`` then one column per metric, with the direction arrow."""
    cols = ["model"]
    for res in analysis.metric_results(view):
        arrow = {True: " ↑", False: " ↓", None: ""}[res.higher_is_better]
        cols.append(res.metric + arrow + (" (median)" if res.statistic == "median" else ""))
    return cols


def main_rows(analysis: Analysis, view: str | None = None) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Per model: ``(kind, [(cell text, is_best), ...])``; the first cell is the model, the others ``estimate [CI]``."""
    results = analysis.metric_results(view)
    out: list[tuple[str, list[tuple[str, bool]]]] = []
    for model in analysis.run.models:
        cells = [(model, False)]
        for res in results:
            r = res.row(model)
            d = _digits(res)
            cells.append((f"{fmt(r.estimate, d)} {fmt_ci(r.ci_low, r.ci_high, d)}", r.is_best))
        out.append((analysis.run.kinds[model], cells))
    return out


def detail_header(analysis: Analysis) -> list[str]:
    """Columns of the per-metric statistics table."""
    pct = round(100 * analysis.confidence)
    ref = analysis.reference or "reference"
    return ["model", "mean ± SD over seeds", f"estimate [{pct}% CI]", "median [IQR]", "undefined", "missed",
            f"Δ vs {ref} [{pct}% CI]", "Wilcoxon p (Holm)", "effect r", "rank", "dataset-level", "gap"]


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def detail_rows(res: MetricResult) -> list[tuple[ModelResult, list[str]]]:
    """One row per model of the per-metric statistics table."""
    d = _digits(res)
    out = []
    for r in res.rows:
        trained = r.kind == "trained"
        s = r.summary
        is_ref = r.model == res.reference
        diff = "reference" if is_ref else (f"{fmt(r.diff, d)} {fmt_ci(r.diff_low, r.diff_high, d)}" if trained else "—")
        if trained and not is_ref and any(math.isinf(v) for v in (r.diff, r.diff_low, r.diff_high)):
            ref_row = next((x for x in res.rows if x.model == res.reference), None)
            diff = f"misses: {r.model} {r.n_inf}" + (f", {ref_row.model} {ref_row.n_inf}" if ref_row else "")
        p = _p(r.p_holm) + (" *" if r.significant else "") if trained and not is_ref else "—"
        out.append((r, [
            r.model,
            f"{fmt(r.seed_mean, d)} ± {fmt(r.seed_sd, d)}",
            f"{fmt(r.estimate, d)} {fmt_ci(r.ci_low, r.ci_high, d)}",
            f"{fmt(s.median, d)} [{fmt(s.q25, d)}, {fmt(s.q75, d)}]",
            f"{r.n_nan}/{r.n_values}",
            f"{r.n_inf}/{r.n_values}",
            diff,
            p,
            fmt(r.effect_size, 2) if trained and not is_ref else "—",
            f"{r.rank:g}" if trained and not math.isnan(r.rank) else "—",
            fmt(r.dataset_level, d),
            f"{r.gap:+.3f}" if not math.isnan(r.gap) else "—",
        ]))  # fmt: skip
    return out


def statistics_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """Every view x metric x model statistic, for ``results/statistics.csv``."""
    rows = []
    for view in analysis.views:
        for res in analysis.results[view].values():
            for r in res.rows:
                s = r.summary
                rows.append({
                    "view": view, "metric": res.metric, "model": r.model, "kind": r.kind,
                    "higher_is_better": "" if res.higher_is_better is None else str(res.higher_is_better).lower(),
                    "statistic": res.statistic, "n_images": r.n_images, "n_values": r.n_values, "n_nan": r.n_nan,
                    "n_inf": r.n_inf, "seed_mean": r.seed_mean, "seed_sd": r.seed_sd, "estimate": r.estimate,
                    "ci_low": r.ci_low, "ci_high": r.ci_high, "median": s.median, "q25": s.q25, "q75": s.q75,
                    "n_paired": res.n_used if r.kind == "trained" else s.n_defined,
                    "n_dropped": res.n_dropped if r.kind == "trained" else s.n_nan,
                    "diff_vs_reference": r.diff, "diff_low": r.diff_low, "diff_high": r.diff_high,
                    "p_value": r.p_value, "p_holm": r.p_holm, "effect_size": r.effect_size,
                    "significant": str(r.significant).lower(), "rank": r.rank, "best": str(r.is_best).lower(),
                    "dataset_level": r.dataset_level, "aggregation_gap": r.gap,
                })  # fmt: skip
    return rows
