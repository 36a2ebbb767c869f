r"""Calibration of probability maps: expected and maximum calibration error, reliability diagrams, Brier score and
negative log-likelihood.

Shared arguments
    ``input``: probabilities ``(N, C, *spatial)`` (2D, 3D or any rank), or logits with ``from_logits=True``.
    C == 1 is binary (the channel is the foreground probability, sigmoid of a logit); C >= 2 multiclass (softmax
    over C; probabilities must sum to 1 over C) unless ``multilabel=True`` (one independent sigmoid per channel).

    ``target``: an integer label map ``(N, *spatial)`` (binary: labels 0/1), or for ``multilabel=True`` a 0/1 map
    of the input's shape. Inputs are validated by :func:`segbench._checks.check_probability_inputs`.

    ``ignore_index``: target label whose pixels count nowhere.

    ``per_image``: ``False`` pools every pixel of the batch (a dataset-level score); ``True`` scores each image,
    then takes the NaN-skipping mean over images.

    ``kind``: ``"top-label"``: the confidence of a pixel is :math:`\max_k p_k` and it is right when the arg max is
    its label (Guo et al. 2017; binary input is the two-class problem :math:`(1 - p, p)`, predicted 1 when
    :math:`p > 0.5`); ``"class-wise"``: every channel k is a binary problem with confidence :math:`p_k` and truth
    :math:`1[y = k]` over all pixels (Kull et al. 2019, Nixon et al. 2019's static calibration error), averaged over
    channels (``average="macro"``) or one value per channel (``"none"``). Multilabel input is class-wise only.

    ``binning``: ``"width"``: B equal-width bins :math:`[b/B, (b+1)/B)`, the last one closed (p = 1 lies in it);
    ``"mass"``: B equal-mass bins: the edges are the order statistics :math:`e_b = v_{(\lceil bT/B \rceil)}` of the
    T confidences and a value lies in bin :math:`\#\{b: e_b \le v\}` (ties are never split; see
    :func:`segbench.metrics._probability.mass_groups`). The functional equal-mass scores sort the values exactly;
    the streaming :class:`~segbench.metrics.ProbabilityHistogram` forms them from its slot grid.

Edge cases (the project's empty-case policy: undefined only where there is nothing to score)
    Every score here is defined as soon as one valid pixel exists, whatever the labels and probabilities: a class
    absent from the reference still has a calibration error (its probabilities should be 0, so any probability
    mass on it is miscalibration), a Brier term (:math:`\sum p_k^2 / n`) and a log-likelihood. With no valid pixel
    (all ignored) the score is NaN and ``per_image`` means skip it. Empty bins contribute nothing to ECE and are
    left out of MCE (their reliability entries are NaN with count 0). An over-confident wrong prediction always
    scores worse than a hesitant one on Brier and NLL (both strictly proper).

Results are float64 tensors on the input's device.

>>> p = torch.tensor([[[0.9, 0.6, 0.7, 0.2]]])        # binary foreground probabilities of 4 pixels
>>> y = torch.tensor([[1, 0, 1, 0]])
>>> float(expected_calibration_error(p, y, n_bins=2))  # top-label conf .9 .6 .7 .8, right 1 0 1 1 -> |3 - 3|/4
0.0
>>> float(brier_score(p, y))                           # (.01 + .36 + .09 + .04) / 4
0.125
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import torch
from torch import Tensor

from segbench._docs import document_args
from segbench.metrics._probability import (
    PROBABILITY_ARGS,
    Prepared,
    calibration_from_bins,
    check_bins,
    check_choice,
    exact_atoms,
    group,
    mass_groups,
    prepare,
    reduce_classes,
    reduce_images,
    rows,
)
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric
from segbench.metrics.probability_stream import (
    SCORING_BINS,
    Reliability,
    filled_histogram,
    pooled_score,
    scoring_histogram,
)

__all__ = [
    "SCALED_METRICS",
    "SCALED_SUFFIX",
    "brier_score",
    "calibration_error",
    "confidence_gap",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_diagram",
    "scaled_name",
]


def _exact_mass(prep: Prepared, kind: str, n_bins: int, norm: str, per_image: bool) -> Tensor:
    """(N', K') exact equal-mass calibration errors of every row."""
    values = []
    for row in rows(prep, kind, per_image):
        line = []
        for v, h in row:
            _, counts, conf = exact_atoms(v, h)
            g = mass_groups(counts.sum(-1), n_bins)
            line.append(calibration_from_bins(group(counts, g, n_bins), group(conf, g, n_bins), norm))
        values.append(torch.stack(line))
    return torch.stack(values)


@document_args(
    PROBABILITY_ARGS,
    n_bins="the number of bins B.",
    kind='``"top-label"`` or ``"class-wise"`` (see the module docstring).',
    norm='``"l1"`` (ECE) or ``"max"`` (MCE).',
    binning='``"width"`` (equal-width) or ``"mass"`` (equal-mass, exact sort of the confidences).',
    multilabel="one sigmoid per channel (class-wise only).",
    average='class-wise only: ``"macro"`` (mean over channels) or ``"none"`` (``(K,)``, or ``(N, K)`` per image).',
    include_background="class-wise only: ``False`` leaves out channel 0 of multiclass and multilabel input.",
)
def calibration_error(
    input: Any,
    target: Any,
    *,
    n_bins: int = 15,
    kind: str = "top-label",
    norm: str = "l1",
    binning: str = "width",
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
    average: str = "macro",
    include_background: bool = True,
) -> Tensor:
    r"""Expected (``norm="l1"``) or maximum (``"max"``) calibration error over B bins; default: batch-pooled pixels.

    .. math::
        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{n}\,\big|\mathrm{acc}_b - \mathrm{conf}_b\big|,\qquad
        \mathrm{MCE} = \max_{b:\, n_b > 0} \big|\mathrm{acc}_b - \mathrm{conf}_b\big|

    where bin b holds :math:`n_b` of the n pixels, :math:`\mathrm{conf}_b` is their mean confidence and
    :math:`\mathrm{acc}_b` the fraction of them that are right (top-label) or positive (class-wise). Range [0, 1];
    0 is perfect calibration. NaN where there is no valid pixel.

    >>> p = torch.tensor([[[0.2, 0.8, 0.9, 0.4]]])
    >>> y = torch.tensor([[0, 1, 0, 1]])
    >>> float(calibration_error(p, y, n_bins=2, kind="class-wise"))   # (|1 - .6| + |1 - 1.7|) / 4
    0.275
    >>> float(calibration_error(p, y, n_bins=2, kind="class-wise", norm="max"))  # bin [.5, 1]: |1/2 - .85|
    0.35
    """
    check_bins(n_bins, "n_bins")
    check_choice(norm, "norm", ("l1", "max"))
    check_choice(binning, "binning", ("width", "mass"))
    if binning == "width":
        h = filled_histogram(input, target, n_bins, from_logits=from_logits, multilabel=multilabel,
                             ignore_index=ignore_index, per_image=per_image)
        return h.calibration_error(kind=kind, norm=norm, per_image=per_image, average=average,
                                   include_background=include_background)
    prep = prepare(input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index)
    value = _exact_mass(prep, kind, n_bins, norm, per_image)
    if kind == "top-label":
        return reduce_images(value[:, 0], per_image)
    classes = None if include_background or prep.mode == "binary" else torch.arange(1, prep.channels)
    return reduce_classes(value, average=average, per_image=per_image, classes=classes)


@document_args(
    PROBABILITY_ARGS, n_bins="the number of bins.",
    kwargs="``kind``, ``binning``, ``from_logits``, ``multilabel``, ``ignore_index``, ``per_image``, ``average``, "
    "``include_background`` as in :func:`calibration_error`.",
)
def expected_calibration_error(input: Any, target: Any, *, n_bins: int = 15, **kwargs: Any) -> Tensor:
    r"""Expected calibration error (:func:`calibration_error`, ``norm="l1"``); default: pixels pooled over the batch.

    .. math:: \mathrm{ECE} = \sum_b \frac{n_b}{n}\,|\mathrm{acc}_b - \mathrm{conf}_b|

    >>> float(expected_calibration_error(torch.tensor([[[0.75, 0.75, 0.75, 0.75]]]), torch.tensor([[1, 1, 1, 0]])))
    0.0
    """
    return calibration_error(input, target, n_bins=n_bins, norm="l1", **kwargs)


@document_args(PROBABILITY_ARGS, n_bins="the number of bins.", kwargs="as in :func:`calibration_error`.")
def maximum_calibration_error(input: Any, target: Any, *, n_bins: int = 15, **kwargs: Any) -> Tensor:
    r"""Maximum calibration error (:func:`calibration_error`, ``norm="max"``); default: pixels pooled over the batch.

    .. math:: \mathrm{MCE} = \max_{b:\, n_b > 0} |\mathrm{acc}_b - \mathrm{conf}_b|

    >>> p = torch.tensor([[[0.95, 0.95, 0.55, 0.55]]])      # top-label: all predict 1, conf .95 and .55
    >>> y = torch.tensor([[1, 1, 0, 0]])
    >>> float(maximum_calibration_error(p, y, n_bins=4))   # bins [.5, .75): |0 - .55|; [.75, 1]: |1 - .95|
    0.55
    >>> float(maximum_calibration_error(p, y, n_bins=2))   # one bin [.5, 1]: |1/2 - .75|
    0.25
    """
    return calibration_error(input, target, n_bins=n_bins, norm="max", **kwargs)


@document_args(
    PROBABILITY_ARGS, n_bins="the number of bins.", kind='``"top-label"`` or ``"class-wise"``.',
    binning='``"width"`` or ``"mass"``.', multilabel="one sigmoid per channel (class-wise only).",
)
def reliability_diagram(
    input: Any,
    target: Any,
    *,
    n_bins: int = 15,
    kind: str = "top-label",
    binning: str = "width",
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
) -> Reliability:
    r"""Reliability-diagram data of the pooled pixels: per bin the mean confidence, the accuracy (fraction right,
    or positive for class-wise) and the count (:class:`~segbench.metrics.Reliability`; class-wise: ``(K, B)``).

    .. math:: \mathrm{conf}_b = \frac{1}{n_b}\sum_{i \in b} c_i,\qquad \mathrm{acc}_b = \frac{1}{n_b}\sum_{i \in b} a_i

    Empty bins have NaN confidence and accuracy and count 0. Equal-mass bins come from an exact sort; their
    ``lower``/``upper`` are the smallest and largest confidence in the bin.

    >>> r = reliability_diagram(torch.tensor([[[0.25, 0.75, 0.875, 0.375]]]), torch.tensor([[0, 1, 0, 1]]),
    ...                         n_bins=2, kind="class-wise")
    >>> r.confidence.tolist(), r.accuracy.tolist(), r.count.tolist(), r.lower.tolist()
    ([[0.3125, 0.8125]], [[0.5, 0.5]], [[2, 2]], [[0.0, 0.5]])
    """
    check_bins(n_bins, "n_bins")
    check_choice(binning, "binning", ("width", "mass"))
    if binning == "width":
        h = filled_histogram(input, target, n_bins, from_logits=from_logits, multilabel=multilabel,
                             ignore_index=ignore_index, per_image=False)
        return h.reliability(kind=kind, binning="width")
    prep = prepare(input, target, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index)
    parts = []
    for v, hits in rows(prep, kind, False)[0]:
        uniq, counts, conf = exact_atoms(v, hits)
        g = mass_groups(counts.sum(-1), n_bins)
        bc, bs = group(counts, g, n_bins), group(conf, g, n_bins)
        n = bc.sum(-1)
        nan = torch.full(n.shape, float("nan"), dtype=torch.float64, device=n.device)
        lower = nan.clone().scatter_reduce(0, g, uniq, "amin", include_self=False)
        upper = nan.clone().scatter_reduce(0, g, uniq, "amax", include_self=False)
        parts.append((torch.where(n > 0, bs.sum(-1) / n.clamp(min=1), nan),
                      torch.where(n > 0, bc[:, 1].double() / n.clamp(min=1), nan), n, lower, upper))
    fields = [torch.stack(f) for f in zip(*parts, strict=True)]
    if kind == "top-label":
        fields = [f[0] for f in fields]
    return Reliability(*fields)


@document_args(
    PROBABILITY_ARGS,
    average='``"sum"`` over channels (multiclass default), ``"macro"`` mean over channels (binary and multilabel '
    'default) or ``"none"`` (per channel :math:`\\mathrm{BS}_k`).',
    include_background="``False`` leaves channel 0 out of the sum, mean or list.",
)
def brier_score(
    input: Any,
    target: Any,
    *,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
    average: str | None = None,
    include_background: bool = True,
) -> Tensor:
    r"""Brier score, the mean squared error of probabilities vs one-hot truth; default: pixels pooled over the batch.

    .. math:: \mathrm{BS}_k = \frac{1}{n}\sum_i (p_{ik} - y_{ik})^2,\qquad
              \mathrm{BS} = \sum_k \mathrm{BS}_k \ \text{(multiclass, Brier 1950; range [0, 2])}

    Binary input (C == 1) is :math:`\mathrm{BS}_1` (scikit-learn's ``brier_score_loss``); multiclass input the sum
    over classes (``brier_score_loss(..., scale_by_half=False)``; twice scikit-learn's default for C == 2);
    multilabel input the mean over channels. NaN where there is no valid pixel.

    >>> p = torch.tensor([[[0.7, 0.2], [0.3, 0.8]]])              # 2 classes, 2 pixels
    >>> float(brier_score(p, torch.tensor([[0, 0]])))             # class 0: .09 + .64, class 1: .09 + .64; / 2 pixels
    0.73
    """
    h = filled_histogram(input, target, 1, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
                         per_image=per_image)
    return h.brier_score(per_image=per_image, average=average, include_background=include_background)


@document_args(PROBABILITY_ARGS)
def negative_log_likelihood(
    input: Any,
    target: Any,
    *,
    from_logits: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
) -> Tensor:
    r"""Negative log-likelihood (cross-entropy, log loss) per pixel; default: the mean over the batch's pixels.

    .. math:: \mathrm{NLL} = -\frac{1}{n}\sum_i \log p_{i, y_i}\ \text{(multiclass)},\qquad
              -\frac{1}{n}\sum_i \big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big]\ \text{(binary; multilabel: mean
              over channels)}

    Probabilities are clipped to :math:`[\epsilon, 1 - \epsilon]` with :math:`\epsilon` the machine epsilon of
    their dtype (scikit-learn's ``log_loss``), so a confident miss costs :math:`-\log \epsilon` (36.0 in float64,
    15.9 in float32) instead of inf; with ``from_logits=True`` the log-probabilities come from the logits exactly
    (log-softmax / log-sigmoid, no clipping). NaN where there is no valid pixel.

    >>> import math
    >>> p = torch.tensor([[[0.5, 0.25]]], dtype=torch.float64)
    >>> round(float(negative_log_likelihood(p, torch.tensor([[1, 0]]))) - (math.log(2) - math.log(0.75)) / 2, 12)
    0.0
    """
    h = filled_histogram(input, target, 1, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
                         per_image=per_image)
    return h.negative_log_likelihood(per_image=per_image)


@document_args(PROBABILITY_ARGS, target="label map ``(N, *spatial)``.")
def confidence_gap(
    input: Any,
    target: Any,
    *,
    from_logits: bool = False,
    ignore_index: int | None = None,
    per_image: bool = False,
) -> Tensor:
    r"""Over-confidence: the mean top-label confidence minus the accuracy of the pixels.

    .. math:: \mathrm{gap} = \frac{1}{n}\sum_i \max_k p_{ik} - \frac{1}{n}\sum_i 1[\hat y_i = y_i]

    Positive: the model is more sure than it is right (over-confident); negative: under-confident; 0 where
    confidence matches accuracy on average (a perfectly calibrated model has gap 0, not conversely: it is the
    signed one-bin ECE). Binary input: confidence :math:`\max(p, 1 - p)`, prediction :math:`p > 1/2`. NaN where
    there is no valid pixel.

    >>> p = torch.tensor([[[0.9, 0.9, 0.2, 0.6]]])      # confidences .9 .9 .8 .6; right: 1 0 1 1
    >>> round(float(confidence_gap(p, torch.tensor([[1, 0, 0, 1]]))), 12)   # 3.2 / 4 - 3 / 4
    0.05
    """
    h = filled_histogram(input, target, 1, from_logits=from_logits, multilabel=False, ignore_index=ignore_index,
                         per_image=per_image)
    return h.confidence_gap(per_image=per_image)


def _image_values(score: str, scaled: bool = False) -> Callable[[ScoringInputs], Tensor]:
    def per_image(inputs: ScoringInputs) -> Tensor:
        return scoring_histogram(inputs, scaled).image_values(score)

    return per_image


SCALED_SUFFIX = "_ts"
"""Name suffix of a calibration metric scored on the temperature-scaled probabilities (``ece_ts`` ...)."""

_CALIBRATION = [
    MetricEntry(
        "ece", partial(expected_calibration_error, n_bins=SCORING_BINS), "calibration", False, "none",
        f"top-label expected calibration error sum_b n_b/n |acc_b - conf_b|, {SCORING_BINS} equal-width bins",
        _image_values("ece"), needs="probabilities", scope="all", label="ECE", both_empty=math.nan,
        pooled_histogram=pooled_score("ece")),
    MetricEntry(
        "brier", brier_score, "calibration", False, "none",
        "Brier score sum_k mean (p_k - y_k)^2 (binary: the foreground term; multiclass range [0, 2])",
        _image_values("brier"), needs="probabilities", scope="all", label="Brier", value_range=(0.0, 2.0),
        pooled_histogram=pooled_score("brier")),
    MetricEntry(
        "nll", negative_log_likelihood, "calibration", False, "none",
        "negative log-likelihood -mean log p_y (probabilities clipped to machine epsilon)",
        _image_values("nll"), needs="probabilities", scope="all", label="NLL", value_range=(0.0, math.inf),
        pooled_histogram=pooled_score("nll")),
    MetricEntry(
        "overconfidence", confidence_gap, "calibration", False, "none",
        "mean top-label confidence minus accuracy (> 0 over-confident, < 0 under-confident; ideal 0)",
        _image_values("gap"), needs="probabilities", scope="all", label="conf-acc", value_range=(-1.0, 1.0),
        ideal=0.0, pooled_histogram=pooled_score("gap")),
]
_SCORE = {"ece": "ece", "brier": "brier", "nll": "nll", "overconfidence": "gap"}


def scaled_name(metric: str) -> str:
    """The name of ``metric`` scored after temperature scaling.

    >>> scaled_name("ece")
    'ece_ts'
    """
    return metric + SCALED_SUFFIX


def _scaled_entry(entry: MetricEntry) -> MetricEntry:
    """``entry`` scored on the temperature-scaled probabilities: the same function (give it scaled input, e.g.
    :func:`segbench.metrics.temperature.apply_temperature` logits), scored only on request (``segbench compare``
    asks for it)."""
    return replace(entry, name=scaled_name(entry.name), label=f"{entry.header} (T)", default=False, scaled=True,
                   description=f"{entry.description}; after temperature scaling (one temperature per model fitted "
                   "on the validation split by NLL)", per_image=_image_values(_SCORE[entry.name], scaled=True))


SCALED_METRICS = tuple(scaled_name(e.name) for e in _CALIBRATION)
"""The temperature-scaled calibration metrics: ``ece_ts``, ``brier_ts``, ``nll_ts``, ``overconfidence_ts``."""

for _entry in _CALIBRATION:
    register_metric(_entry)
for _entry in _CALIBRATION:
    register_metric(_scaled_entry(_entry))
