"""Counting true/false positives and negatives, and the score formulas built on them, written once.

- :mod:`segbench.counts.formulas`: :class:`Counts` and the formulas over them (Dice, Jaccard, Tversky, F-beta,
  precision, recall, specificity, accuracy).
- :mod:`segbench.counts.hard`: metrics count hard confusion matrices per image with :func:`confusion_counts` and
  read ``tp, fp, fn, tn`` off them with :func:`stat_scores`.
- :mod:`segbench.counts.soft`: losses count *soft* ``tp, fp, fn`` per (image, class) with :func:`soft_counts`
  (or, with their formula and its gradient, in one autograd node: :func:`soft_count_loss`, the formulas in
  :mod:`segbench.losses._region`); :func:`soft_counts_reference` is the plain version they equal.
- :mod:`segbench.counts._kernels` (private): the autograd kernels behind the soft counts.

A ratio whose numerator and denominator are both 0 is NaN (undefined): callers decide what to do with it.
"""

from segbench.counts import formulas
from segbench.counts._kernels import FIRST_ORDER
from segbench.counts.formulas import *  # noqa: F403  (Counts and every *_formula: formulas.__all__)
from segbench.counts.hard import confusion_counts, stat_scores
from segbench.counts.soft import CountsHead, soft_count_loss, soft_counts, soft_counts_reference

__all__ = ["FIRST_ORDER", "CountsHead", "confusion_counts", "soft_count_loss", "soft_counts", "soft_counts_reference"]
__all__ += ["stat_scores", *formulas.__all__]
