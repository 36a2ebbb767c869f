r"""Every number the report shows, computed once from a :class:`~segbench.report.rundata.RunData`.

The statistics themselves live in :mod:`segbench.stats`; this module decides what they are applied to.

* A *view* is one scored class, or (multiclass data) the mean over the foreground classes; the metric
  ``pixel_accuracy`` (class ``all``) appears in every view.
* The per-image score of a model is its **mean over seeds** of that image's score; an image undefined (NaN)
  in some seeds is averaged over the seeds where it is defined, NaN only if undefined in every seed; a miss
  (``inf``) in any seed makes it ``inf``. Undefined and missed cases are also counted per (seed, image).
* The trained losses are compared **paired** on the images whose score is defined for every trained loss
  (:func:`~segbench.stats.paired_bootstrap_ci`, :func:`~segbench.stats.wilcoxon_holm` against the
  reference loss, :func:`~segbench.stats.best_vs_runner_up`); trivial baselines get their own CI over the
  images defined for them and take no part in tests or ranks.
* The statistic is the mean, or the **median** for a metric where some trained loss has a miss (``inf``):
  a mean with a miss is infinite and would tie every such loss (``MetricResult.statistic`` says which).
* With **3 seeds or more** every CI and paired difference of the trained losses is the two-stage
  :func:`~segbench.stats.hierarchical_bootstrap_ci` (resample seeds, then images, paired across losses), so the
  seed-to-seed spread is in the interval; with fewer the seed variance cannot be estimated, the CIs are over
  images only and every claim is marked *image-level only* (``Analysis.seed_level``). The paired Wilcoxon tests
  run on the per-image seed means either way.
* A loss is **significantly worse than the best** on a metric when both the CI of its difference to the best
  excludes 0 and the Holm-corrected Wilcoxon test against the best rejects; the others are *not separated from
  the best* (``MetricResult.tied_with_best``). Two metrics **disagree** on a pair of losses only where each
  prefers a different one of the two with a Holm-corrected significant Wilcoxon test (all pairs of a metric
  form the Holm family): ``MetricResult.pair_order``.
* The spread over seeds is :func:`~segbench.stats.seed_mean_sd` of each seed's mean over its defined
  images; the dataset-level score (counts pooled over the test set) is averaged over seeds the same way, and
  the aggregation gap is per-image mean minus dataset level.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segbench import stats
from segbench.files.atomic import read_json
from segbench.report.rundata import RunData

__all__ = [
    "FOREGROUND_MEAN",
    "Analysis",
    "MetricResult",
    "ModelResult",
    "analyze",
    "direction",
    "primary_metric",
    "primary_reason",
    "seed_averaged",
    "view_values",
]

FloatArray = npt.NDArray[np.float64]
FOREGROUND_MEAN = "mean over foreground classes"
GAP_THRESHOLD = 0.01
"""|per-image mean - dataset level| above which the report points the difference out."""
MIN_SEEDS = 3
"""Seeds needed to estimate the seed-to-seed variance (below: image-level statistics only)."""
DEFAULT_PRIMARY = "dice"
"""The primary metric when ``[eval] primary`` is not set and the run folder holds no pick of inspect's advice
(``PRIMARY_FILE``; :func:`segbench.inspect.advice.primary_metric`, which ``segbench compare`` saves): Dice of each
foreground class, Metrics Reloaded's default, or the first metric of the run if it has no Dice."""


def direction(metric: str) -> bool | None:
    """``higher_is_better`` of a metric from the catalogue (:mod:`segbench.metrics.catalogue`); None if unknown.

    >>> direction("dice"), direction("hd95"), direction("my_metric")
    (True, False, None)
    """
    from segbench.metrics import catalogue

    return catalogue.direction(metric)


def seed_averaged(values: FloatArray) -> FloatArray:
    r"""Mean over the seed axis of ``(M, S, N)`` scores, ignoring undefined seeds: shape ``(M, N)``.

    .. math::

        \bar x_{mn} = \frac{1}{|D_{mn}|}\sum_{s \in D_{mn}} x_{msn}, \qquad
        D_{mn} = \{s : x_{msn} \ne \mathrm{NaN}\}

    NaN when :math:`D_{mn}` is empty; ``inf`` when any defined seed is ``inf`` (a miss is never averaged away).

    >>> seed_averaged(np.array([[[0.5, np.nan, 1.0], [0.7, np.nan, np.inf]]]))
    array([[0.6, nan, inf]])
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(values, axis=1), dtype=np.float64)


@dataclass(frozen=True)
class ModelResult:
    """One model on one metric and view. Trained-only fields are NaN / None for trivial baselines."""

    model: str
    kind: str
    n_images: int
    n_values: int  # seeds x images
    n_nan: int  # undefined (seed, image) scores
    n_inf: int  # missed (seed, image) scores
    seed_mean: float
    seed_sd: float
    summary: stats.Summary  # of the seed-averaged per-image scores
    estimate: float  # bootstrap statistic (mean over the paired images for trained losses)
    ci_low: float
    ci_high: float
    diff: float = math.nan  # minus the reference loss, metric units
    diff_low: float = math.nan
    diff_high: float = math.nan
    p_value: float = math.nan
    p_holm: float = math.nan
    effect_size: float = math.nan
    significant: bool = False
    rank: float = math.nan
    dataset_level: float = math.nan
    is_best: bool = False
    vs_best_low: float = math.nan  # CI of this loss minus the best (metric units)
    vs_best_high: float = math.nan
    vs_best_p_holm: float = math.nan

    @property
    def gap(self) -> float:
        """Per-image mean (over seeds) minus dataset-level score; NaN where either is undefined."""
        return float(stats.aggregation_gap(self.seed_mean, self.dataset_level))


@dataclass(frozen=True)
class MetricResult:
    """All models on one metric in one view."""

    view: str
    metric: str
    higher_is_better: bool | None
    rows: tuple[ModelResult, ...]
    n_used: int  # images defined for every trained loss (the paired set)
    n_dropped: int
    statistic: str  # "mean", or "median" where a trained loss has a miss (inf): a mean would be inf
    separation: stats.Separation | None
    reference: str | None
    tied_with_best: tuple[str, ...] = ()  # trained losses no test separates from the best (the best included)
    worse: tuple[str, ...] = ()  # trained losses significantly worse than the best
    pair_order: dict[tuple[int, int], int] | None = None  # (i, j) trained indices i < j: +1 i better, -1 j better

    def row(self, model: str) -> ModelResult:
        """The row of ``model``."""
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    @property
    def best(self) -> tuple[str, ...]:
        """The best trained loss(es) by the paired estimate."""
        return tuple(r.model for r in self.rows if r.is_best)


@dataclass(frozen=True)
class Analysis:
    """The report's numbers: ``results[view][metric]``, rankings per view, settings."""

    run: RunData
    views: tuple[str, ...]
    primary: str
    reference: str | None
    results: dict[str, dict[str, MetricResult]]
    agreement: dict[str, stats.RankingAgreement]
    n_boot: int
    confidence: float
    primary_metric: str = DEFAULT_PRIMARY
    seed_level: bool = False
    primary_reason: str = ""  # why the primary metric was chosen (PRIMARY_FILE), "" where the run does not say

    def metric_results(self, view: str | None = None) -> list[MetricResult]:
        """The results of one view (default: the primary one), in metric order."""
        return list(self.results[view or self.primary].values())


def _views(run: RunData) -> tuple[tuple[str, ...], str]:
    classes = run.classes
    foreground = tuple(c for c in classes if c != run.background)
    if len(classes) <= 1:
        return (classes or ("all",)), (classes[0] if classes else "all")
    if len(foreground) == 1:
        return classes, foreground[0]
    return (FOREGROUND_MEAN, *classes), FOREGROUND_MEAN


def view_values(run: RunData, metric: str, view: str) -> tuple[FloatArray, FloatArray] | None:
    """(per-image ``(M, S, N)``, pooled ``(M, S)``) of one metric in one view; None if it is not scored there.

    ``pixel_accuracy`` (class ``all``) is the same in every view; the foreground-mean view averages the
    foreground classes per cell, ignoring undefined classes (``inf`` kept).
    """
    nan_pool = np.full((len(run.models), len(run.seeds)), np.nan)
    if (metric, "all") in run.values:
        return run.values[(metric, "all")], run.pooled.get((metric, "all"), nan_pool)
    if view != FOREGROUND_MEAN:
        if (metric, view) not in run.values:
            return None
        return run.values[(metric, view)], run.pooled.get((metric, view), nan_pool)
    fg = [c for c in run.classes if c != run.background and (metric, c) in run.values]
    if not fg:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per = np.nanmean(np.stack([run.values[(metric, c)] for c in fg]), axis=0)
        pooled = np.nanmean(np.stack([run.pooled.get((metric, c), nan_pool) for c in fg]), axis=0)
    return per, pooled


def _row_basics(model: str, kind: str, per: FloatArray, pooled: FloatArray) -> dict[str, Any]:
    """Counts, seed mean/SD, summary and dataset level of one model: ``per`` is (S, N), ``pooled`` (S,)."""
    seed_means = [stats.summarize(per[s]).mean for s in range(per.shape[0])]
    seed_mean, seed_sd = stats.seed_mean_sd(seed_means)
    pooled_mean = float(np.mean(pooled)) if not np.isnan(pooled).any() else math.nan
    return dict(
        model=model,
        kind=kind,
        n_images=per.shape[1],
        n_values=int(per.size),
        n_nan=int(np.isnan(per).sum()),
        n_inf=int(np.isposinf(per).sum()),
        seed_mean=seed_mean,
        seed_sd=seed_sd,
        summary=stats.summarize(seed_averaged(per[None])[0]),
        dataset_level=pooled_mean,
    )


def _metric_result(
    run: RunData, view: str, metric: str, per: FloatArray, pooled: FloatArray, reference: str | None,
    n_boot: int, confidence: float, seed_level: bool = False,
) -> MetricResult:
    hib = direction(metric)
    trained = [i for i, m in enumerate(run.models) if run.kinds[m] == "trained"]
    avg = seed_averaged(per)  # (M, N)
    rows: dict[int, dict[str, Any]] = {
        i: _row_basics(m, run.kinds[m], per[i], pooled[i]) for i, m in enumerate(run.models)
    }
    separation: stats.Separation | None = None
    n_used = n_dropped = 0
    x = avg[trained]
    statistic: stats.Statistic = "median" if np.isposinf(x).any() else "mean"
    x_seeds = per[trained]  # (L, S, N)
    tied: tuple[str, ...] = ()
    worse: tuple[str, ...] = ()
    pair_order: dict[tuple[int, int], int] | None = None

    def boot(reference_index: int) -> stats.BootstrapCI:
        if seed_level:
            return stats.hierarchical_bootstrap_ci(x_seeds, reference=reference_index, n_boot=n_boot,
                                                   confidence=confidence, statistic=statistic)
        return stats.paired_bootstrap_ci(x, reference=reference_index, n_boot=n_boot, confidence=confidence,
                                         statistic=statistic)

    if trained:
        ref = trained.index(run.models.index(reference)) if reference in run.models else 0
        ci = boot(ref)
        n_used, n_dropped = ci.n_used, ci.n_dropped
        for k, i in enumerate(trained):
            rows[i].update(estimate=float(ci.estimate[k]), ci_low=float(ci.low[k]), ci_high=float(ci.high[k]))
            rows[i].update(diff=float(ci.diff_estimate[k]), diff_low=float(ci.diff_low[k]),
                           diff_high=float(ci.diff_high[k]))
        if hib is not None:
            ranks = stats.rank_losses(ci.estimate, hib)
            defined = not np.isnan(ci.estimate).all()
            for k, i in enumerate(trained):
                rows[i].update(rank=float(ranks[k]), is_best=bool(defined and ranks[k] == ranks.min()))
            if len(trained) >= 2 and ci.n_used > 0:
                comps = stats.wilcoxon_holm(x, ref, higher_is_better=hib)
                for c in comps:
                    rows[trained[c.loss]].update(p_value=c.p_value, p_holm=c.p_holm, effect_size=c.effect_size,
                                                 significant=c.significant)
                separation = stats.best_vs_runner_up(
                    x_seeds if seed_level else x, higher_is_better=hib, n_boot=n_boot, confidence=confidence,
                    statistic=statistic,
                )
                tied, worse = _versus_best(run, trained, rows, x, boot(separation.best), separation.best, hib)
                pair_order = _pair_order(x, hib)
    for i, m in enumerate(run.models):
        if run.kinds[m] != "trivial":
            continue
        ci = stats.paired_bootstrap_ci(avg[i][None], n_boot=n_boot, confidence=confidence, statistic=statistic)
        rows[i].update(estimate=float(ci.estimate[0]), ci_low=float(ci.low[0]), ci_high=float(ci.high[0]))
    return MetricResult(
        view=view,
        metric=metric,
        higher_is_better=hib,
        rows=tuple(ModelResult(**rows[i]) for i in range(len(run.models))),
        n_used=n_used,
        n_dropped=n_dropped,
        statistic=statistic,
        separation=separation,
        reference=reference if trained else None,
        tied_with_best=tied,
        worse=worse,
        pair_order=pair_order,
    )


def _versus_best(
    run: RunData, trained: list[int], rows: dict[int, dict[str, Any]], x: FloatArray, ci: stats.BootstrapCI,
    best: int, hib: bool,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(not separated from the best, significantly worse): worse needs the CI of the difference to the best to
    exclude 0 *and* the Holm-corrected Wilcoxon test against the best to reject."""
    p_holm = {c.loss: c.p_holm for c in stats.wilcoxon_holm(x, best, higher_is_better=hib)}
    tied: list[str] = []
    worse: list[str] = []
    for k, i in enumerate(trained):
        rows[i].update(vs_best_low=float(ci.diff_low[k]), vs_best_high=float(ci.diff_high[k]),
                       vs_best_p_holm=float(p_holm.get(k, math.nan)))
        separated = k != best and bool(ci.diff_excludes_zero[k]) and p_holm.get(k, 1.0) < 0.05
        (worse if separated else tied).append(run.models[i])
    return tuple(tied), tuple(worse)


def _pair_order(x: FloatArray, hib: bool) -> dict[tuple[int, int], int]:
    """Every pair of trained losses: +1 where i is significantly better than j, -1 where j is, 0 where neither
    (paired Wilcoxon on the per-image seed means; Holm over all pairs of the metric)."""
    n = x.shape[0]
    raw: dict[tuple[int, int], tuple[float, float]] = {}
    for i in range(n - 1):
        for c in stats.wilcoxon_holm(x, i, higher_is_better=hib):
            if c.loss > i:
                raw[(i, c.loss)] = (c.p_value, c.effect_size)
    pairs = sorted(raw)
    if not pairs:
        return {}
    adjusted = stats.holm(np.array([raw[p][0] for p in pairs]))
    out = {}
    for p, q in zip(pairs, adjusted, strict=True):
        effect = raw[p][1]  # positive: the second loss (j) beats i
        out[p] = 0 if not (q < 0.05) or effect == 0 or math.isnan(effect) else (-1 if effect > 0 else 1)
    return out


def _advised_primary(run: RunData) -> dict[str, Any]:
    """The run folder's ``PRIMARY_FILE`` record (empty where absent or unreadable)."""

    from segbench.files.run_folder import PRIMARY_FILE

    path = run.root / PRIMARY_FILE
    found = read_json(path, missing={})
    return found if isinstance(found, dict) else {}


def primary_reason(run: RunData) -> str:
    """Why the verdict's metric is :func:`primary_metric`: set in ``[eval] primary``, picked by inspect's advice on
    the training split (the reason ``segbench compare`` saved), or the fallback.

    Args:
        run: the loaded run folder.
    """
    metric = primary_metric(run)
    chosen = run.config.get("eval", {}).get("primary")
    if isinstance(chosen, str) and chosen == metric:
        return f"{metric} was set in [eval] primary."
    record = _advised_primary(run)
    if record.get("metric") == metric and record.get("reason"):
        return f"{metric} was picked by inspect's advice on the training split: {record['reason']}."
    return f"{metric} is the default primary metric (the run folder does not say why; no {metric!r} pick saved)."


def primary_metric(run: RunData) -> str:
    """The verdict's metric: ``[eval] primary`` of the run's config, else the metric that inspect's advice picked
    for the training split (``PRIMARY_FILE``, written by ``segbench compare``) if scored, else
    :data:`DEFAULT_PRIMARY` if scored, else the run's first metric.

    Args:
        run: the loaded run folder.
    """
    chosen = run.config.get("eval", {}).get("primary")
    if isinstance(chosen, str) and chosen in run.metrics:
        return chosen
    advised = _advised_primary(run).get("metric")
    if isinstance(advised, str) and advised in run.metrics:
        return advised
    if DEFAULT_PRIMARY in run.metrics:
        return DEFAULT_PRIMARY
    return run.metrics[0] if run.metrics else DEFAULT_PRIMARY


def analyze(run: RunData, *, n_boot: int = 2000, confidence: float = 0.95, reference: str | None = None) -> Analysis:
    """Compute every table entry of the report (bootstrap seed 0, so a rebuild gives the same numbers).

    Args:
        run: the loaded run folder.
        n_boot: bootstrap resamples (two-stage, seeds then images, with 3 seeds or more).
        confidence: CI level.
        reference: the loss the others are tested against (default: the first trained loss).

    Raises:
        ValueError: ``reference`` is not a trained loss of the run.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if reference is not None and reference not in run.trained:
        raise ValueError(
            f"reference {reference!r} is not a trained loss of this run; expected one of {list(run.trained)}"
        )
    ref = reference if reference is not None else (run.trained[0] if run.trained else None)
    views, primary = _views(run)
    seed_level = len(run.seeds) >= MIN_SEEDS
    results: dict[str, dict[str, MetricResult]] = {}
    agreement: dict[str, stats.RankingAgreement] = {}
    for view in views:
        table: dict[str, MetricResult] = {}
        for metric in run.metrics:
            found = view_values(run, metric, view)
            if found is not None:
                table[metric] = _metric_result(run, view, metric, *found, ref, n_boot, confidence, seed_level)
        results[view] = table
        ranks = {
            m: np.array([r.rank for r in res.rows if r.kind == "trained"])
            for m, res in table.items()
            if res.higher_is_better is not None
        }
        if ranks and len(run.trained) >= 2:
            agreement[view] = stats.ranking_agreement(ranks)
    return Analysis(run, views, primary, ref, results, agreement, n_boot, confidence, primary_metric(run), seed_level,
                    primary_reason=primary_reason(run))
