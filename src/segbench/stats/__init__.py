"""Statistics of per-image scores (``compare``'s report, ``evaluate``, ``inspect``): is a difference beyond noise?

Everything here is pure numpy/scipy on per-image scores, with no I/O and no torch.

The input for one metric (and one class) is a matrix ``values`` of shape ``(L, n)``: one row per loss,
one column per test image, with the columns aligned on the same images. A value can be:

- finite: an ordinary score;
- ``NaN``: undefined, e.g. an overlap score with both reference and prediction empty. It is excluded
  from means and *counted* (``n_nan``, ``n_dropped``);
- ``+inf``: a distance metric on a missed structure (exactly one side empty). It is *kept*: a mean with
  a miss in it is ``+inf``, and the rank test orders a miss after every finite distance.

``-inf`` is never a valid score and is rejected.

What this module gives:

- :func:`summarize`: mean, SD, median, quartiles and the NaN/inf counts of one per-image distribution.
- :func:`seed_mean_sd`: mean and SD over seeds.
- :func:`paired_bootstrap_ci`: percentile bootstrap CIs over test images, paired (one set of resampled
  images for every loss), for each loss and for each loss's difference to a reference loss.
- :func:`hierarchical_bootstrap_ci`: the two-stage version over ``(L, S, n)`` scores: resample training seeds,
  then test images, paired across losses; the CI the report uses with 3 seeds or more.
- :func:`wilcoxon_holm`: paired Wilcoxon signed-rank tests against a reference loss, Holm-corrected,
  with the matched-pairs rank-biserial effect size.
- :func:`holm`: the Holm step-down adjustment.
- :func:`best_vs_runner_up`: is the best loss distinguishable from the second?
- :func:`aggregation_gap`: per-image mean minus dataset-level score.
- :func:`rank_losses`, :func:`rank_table`, :func:`ranking_agreement`: rankings per metric and their flips.
"""

from __future__ import annotations

from segbench.stats._arrays import Statistic, ZeroMethod
from segbench.stats.bootstrap import BootstrapCI, hierarchical_bootstrap_ci, paired_bootstrap_ci
from segbench.stats.ranking import Disagreement, RankingAgreement, rank_losses, rank_table, ranking_agreement
from segbench.stats.separation import Separation, best_vs_runner_up
from segbench.stats.summary import Summary, aggregation_gap, seed_mean_sd, summarize
from segbench.stats.wilcoxon import Comparison, holm, wilcoxon_holm

__all__ = [
    "BootstrapCI",
    "Comparison",
    "Disagreement",
    "RankingAgreement",
    "Separation",
    "Statistic",
    "Summary",
    "ZeroMethod",
    "aggregation_gap",
    "best_vs_runner_up",
    "hierarchical_bootstrap_ci",
    "holm",
    "paired_bootstrap_ci",
    "rank_losses",
    "rank_table",
    "ranking_agreement",
    "seed_mean_sd",
    "summarize",
    "wilcoxon_holm",
]
