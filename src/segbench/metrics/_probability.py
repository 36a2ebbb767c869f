r"""The core of the probability metrics: input preparation, the per-image histogram state, and the formulas.

Every probability metric (calibration in :mod:`segbench.metrics.calibration`, threshold-free scores in
:mod:`segbench.metrics.threshold_free`, the streaming :class:`segbench.metrics.ProbabilityHistogram`) reads the
same state, so a streamed score equals the one-shot score.

Slots
    A probability :math:`p \in [0, 1]` falls in slot :math:`s = \lfloor R\,p \rfloor` (computed in float64, so exact
    for float32 input) of :math:`R + 1` slots, slot :math:`R` holding exactly :math:`p = 1`. Slot :math:`s` is the
    interval :math:`[s/R, (s+1)/R)`. Thresholds for the binned precision-recall and ROC curves are the slot edges
    :math:`t_j = j/R,\ j = 0..R`, and :math:`p \ge t_j \iff s \ge j` exactly.

State of one image (tensors; a leading image axis ``N``)
    * ``cw``: ``(N, K, R+1, 2)`` int64 pixel counts per (channel, slot, truth 0/1) of the class-wise problems
      (channel k: confidence :math:`p_k`, truth :math:`1[y = k]`; binary input: the one foreground channel);
    * ``cw_conf``: ``(N, K, R+1, 2)`` float64 sums of :math:`p_k` per (channel, slot, truth);
    * ``tl``, ``tl_conf``: ``(N, R+1, 2)`` the same for the top-label problem (confidence :math:`\max_k p_k`,
      truth: the arg max is the label; binary input: the two-class problem :math:`(1 - p, p)`); zero-sized for
      multilabel input, which has no top label;
    * ``sq``: ``(N, K)`` float64 :math:`\sum (p_k - y_k)^2`; ``nll``: ``(N, K)`` float64 summed negative
      log-likelihood (multiclass: :math:`-\log p_y` summed over the pixels of each true class; binary and
      multilabel: the per-channel binary cross-entropy); ``n``: ``(N,)`` int64 valid pixels.

"Atoms" are the generalisation the formulas take: ordered groups of equal (or binned) confidence with counts
``(..., A, 2)`` and confidence sums ``(..., A, 2)``. Slots are atoms; so are the distinct values of the exact
(sort-based) modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from segbench._checks import LossInputs, check_probability_inputs

Kind = Literal["top-label", "class-wise"]
Binning = Literal["width", "mass"]
Norm = Literal["l1", "max"]

NAN = float("nan")
STATE_KEYS = ("cw", "cw_conf", "tl", "tl_conf", "sq", "nll", "n")
COUNT_KEYS = ("cw", "tl", "n")

# What the parameters that the probability metrics share mean (segbench._docs.document_args builds their Args:).
PROBABILITY_ARGS: dict[str, str] = {
    "input": "probabilities ``(N, C, *spatial)`` (logits with ``from_logits=True``).",
    "target": "label map ``(N, *spatial)`` (multilabel: 0/1 map of the input's shape).",
    "from_logits": "``input`` holds logits.",
    "multilabel": "one sigmoid per channel.",
    "ignore_index": "target label whose pixels count nowhere.",
    "per_image": "score each image, then average over images.",
}


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    """Reject a keyword outside ``choices`` with the list of valid ones."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_bins(value: Any, name: str) -> int:
    """A number of bins: an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class Prepared:
    """Validated probability inputs, flattened: ``probs`` ``(N, C, M)``, per-channel truth ``hits`` ``(N, K, M)``
    bool (K = C; binary: the foreground channel), ``labels`` ``(N, M)`` (multiclass and binary) and ``valid``
    ``(N, M)`` bool or None."""

    li: LossInputs
    probs: Tensor
    labels: Tensor | None
    valid: Tensor | None

    @property
    def mode(self) -> str:
        return self.li.mode

    @property
    def channels(self) -> int:
        return int(self.probs.shape[1])

    def hits(self, k: int) -> Tensor:
        """Truth of channel k, ``(N, M)`` bool."""
        if self.labels is None:  # multilabel: a dense 0/1 target
            return self.li.target.flatten(2)[:, k] > 0.5
        return self.labels == (1 if self.mode == "binary" else k)


def prepare(input: Any, target: Any, *, from_logits: bool, multilabel: bool, ignore_index: int | None) -> Prepared:
    """Check the inputs (:func:`segbench._checks.check_probability_inputs`) and flatten their spatial axes."""
    li = check_probability_inputs(input, target, from_logits=from_logits, multilabel=multilabel,
                                  ignore_index=ignore_index)
    probs = li.probs().detach().flatten(2)
    labels = None if li.dense else li.target.flatten(1)
    valid = None if li.valid is None else li.valid.flatten(1)
    return Prepared(li, probs, labels, valid)


def accumulate(prep: Prepared, slots: int) -> dict[str, Tensor]:
    r"""The per-image state (see the module docstring) of one batch, with ``slots`` + 1 slots.

    All channels are binned at once: one index :math:`(n K + k)(R + 1) + s` per (pixel, channel), invalid pixels
    in a dropped extra index, then one count and one weighted (float64) ``bincount`` over all of them. The truth
    needs no pass over every channel: a pixel is a hit of its own label's channel only (multiclass), so the hits
    are counted by gathering that one index per pixel; binary and multilabel channels count their hits directly.
    """
    probs, valid = prep.probs, prep.valid
    n, c, m = probs.shape
    dev = probs.device
    vd = probs.double()  # exact sums; a view when the input is float64
    vf = None if valid is None else valid.double()
    labels = prep.labels
    if prep.mode == "multiclass":
        if labels is None:  # pragma: no cover - labels exist for multiclass input
            raise RuntimeError("label map missing")
        counts, conf, p_y = _multiclass_histogram(vd, labels, valid, slots)
        nll = _multiclass_nll(prep, vf, p_y)
    else:
        hits = torch.stack([prep.hits(k) for k in range(c)], 1)
        counts, conf = _histogram(vd, hits, valid, slots)
        nll = torch.stack([_binary_nll(prep, k, hits[:, k], vf) for k in range(c)], 1)
    hit_sum, hit_n = conf[..., 1].sum(-1), counts[..., 1].sum(-1).double()
    vm = vd if valid is None else vd.masked_fill(~valid.unsqueeze(1), 0.0)  # out of place: vd may be the input
    p2 = torch.einsum("nkm,nkm->nk", vm, vm)
    sq = (p2 - 2 * hit_sum + hit_n).clamp_(min=0)  # sum (p - y)^2 = sum p^2 - 2 sum_{y=1} p + sum y
    if prep.mode == "multilabel":
        tl = torch.zeros(n, 0, 2, dtype=torch.long, device=dev)
        tl_conf = torch.zeros(n, 0, 2, dtype=torch.float64, device=dev)
    else:
        if labels is None:  # pragma: no cover - labels exist for binary and multiclass input
            raise RuntimeError("label map missing")
        if prep.mode == "binary":
            p = probs[:, 0]
            conf_v, pred = torch.maximum(p, 1 - p), (p > 0.5).long()
        else:
            conf_v, pred = probs.max(1)
        tl4, tl_conf4 = _histogram(conf_v.double().unsqueeze(1), (pred == labels).unsqueeze(1), valid, slots)
        tl, tl_conf = tl4[:, 0], tl_conf4[:, 0]
    count = torch.full((n,), m, dtype=torch.long, device=dev) if valid is None else valid.sum(1)
    return {"cw": counts, "cw_conf": conf, "tl": tl, "tl_conf": tl_conf, "sq": sq, "nll": nll, "n": count}


def _slot_index(vd: Tensor, valid: Tensor | None, slots: int, stride: int) -> tuple[Tensor, int]:
    r"""Index :math:`(n K + k)\cdot\mathrm{stride} + \lfloor R p \rfloor` ``(N, K, M)`` of float64 ``vd`` in
    [0, 1], and the dropped index (= the number of kept indices) that pixels with ``valid`` False get.

    The slot is computed in float64 (exact for float32 and half input: a float32 times an integer below
    :math:`2^{29}` is a float64 exactly; float64 input is rounded once); truncation is the floor for
    :math:`p \ge 0`. Indices are int32 where they fit (CPU conversion to int32 is several times faster than to
    int64).
    """
    n, k, _ = vd.shape
    total = n * k * stride
    itype = torch.int32 if total < 2**31 - 1 else torch.long
    base = torch.arange(n * k, device=vd.device, dtype=itype).view(n, k, 1) * stride
    idx = torch.mul(vd, slots).to(itype).add_(base)
    if valid is not None:
        idx.masked_fill_(~valid.unsqueeze(1), total)
    return idx, total


def _histogram(vd: Tensor, hits: Tensor, valid: Tensor | None, slots: int) -> tuple[Tensor, Tensor]:
    r"""Slot counts ``(N, K, R + 1, 2)`` and float64 confidence sums ``(N, K, R + 1, 2)`` of float64 ``vd``
    ``(N, K, M)`` in [0, 1] with truth ``hits`` ``(N, K, M)``; pixels with ``valid`` ``(N, M)`` False are dropped.
    One index :math:`2\,((nK + k)(R + 1) + s) + y` per value (:func:`_slot_index`), one count and one weighted
    ``bincount``."""
    n, k, _ = vd.shape
    width = slots + 1
    idx, total = _slot_index(vd, None, slots, width)
    idx = idx.mul_(2).add_(hits.to(idx.dtype))
    if valid is not None:
        idx.masked_fill_(~valid.unsqueeze(1), 2 * total)
    flat = idx.flatten()
    counts = torch.bincount(flat, minlength=2 * total + 1)[: 2 * total].view(n, k, width, 2)
    conf = torch.bincount(flat, weights=vd.flatten(), minlength=2 * total + 1)[: 2 * total].view(n, k, width, 2)
    return counts, conf


def _multiclass_histogram(vd: Tensor, labels: Tensor, valid: Tensor | None,
                          slots: int) -> tuple[Tensor, Tensor, Tensor]:
    r""":func:`_histogram` of the class-wise problems of a softmax ``vd`` ``(N, C, M)`` (float64) with label map
    ``labels`` ``(N, M)``, and :math:`p_y` ``(N, M)`` (float64).

    Channel k's hits are the pixels labelled k, so the counts and sums of all values per slot come from one
    ``bincount`` pair over every channel, and those of the hits from one pair over the gathered index and value of
    each pixel's own label: misses = all - hits.
    """
    n, c, _ = vd.shape
    width = slots + 1
    idx, total = _slot_index(vd, valid, slots, width)
    p_y = vd.gather(1, labels.unsqueeze(1))[:, 0]
    own = torch.mul(p_y, slots).to(idx.dtype).add_(labels.to(idx.dtype) * width)
    own.add_(torch.arange(n, device=vd.device, dtype=idx.dtype).view(n, 1) * (c * width))
    if valid is not None:
        own.masked_fill_(~valid, total)
    every = torch.bincount(idx.flatten(), minlength=total + 1)[:total]
    every_conf = torch.bincount(idx.flatten(), weights=vd.flatten(), minlength=total + 1)[:total]
    hit = torch.bincount(own.flatten(), minlength=total + 1)[:total]
    hit_conf = torch.bincount(own.flatten(), weights=p_y.flatten(), minlength=total + 1)[:total]
    counts = torch.stack([every - hit, hit], -1).view(n, c, width, 2)
    conf = torch.stack([(every_conf - hit_conf).clamp_(min=0), hit_conf], -1).view(n, c, width, 2)
    return counts, conf, p_y


def _eps(prep: Prepared) -> float:
    return float(torch.finfo(prep.li.logits.dtype).eps)


def _binary_nll(prep: Prepared, k: int, y: Tensor, vf: Tensor | None) -> Tensor:
    """Per-image summed binary cross-entropy of channel k: exact from logits, probabilities clipped to
    ``[eps, 1 - eps]`` (scikit-learn's ``log_loss``) otherwise."""
    yd = y.double()
    if prep.li.from_logits:
        x = prep.li.logits.detach().flatten(2)[:, k].double()
        loss = F.binary_cross_entropy_with_logits(x, yd, reduction="none")
    else:
        eps = _eps(prep)
        p = prep.probs[:, k].double().clamp(eps, 1 - eps)
        loss = -(yd * p.log() + (1 - yd) * (-p).log1p())
    return (loss if vf is None else loss * vf).sum(1)


def _multiclass_nll(prep: Prepared, vf: Tensor | None, p_y: Tensor) -> Tensor:
    """Per-image, per-true-class summed :math:`-\\log p_y` ``(N, C)``; ``p_y`` ``(N, M)`` the float64
    probabilities of the true labels (used unless the input holds logits)."""
    labels = prep.labels
    if labels is None:  # pragma: no cover
        raise RuntimeError("label map missing")
    n, c = prep.probs.shape[:2]
    if prep.li.from_logits:
        logp = torch.log_softmax(prep.li.logits.detach().flatten(2).double(), 1).gather(1, labels[:, None])[:, 0]
    else:
        eps = _eps(prep)
        logp = p_y.clamp(eps, 1 - eps).log_()
    loss = -logp if vf is None else -logp * vf
    idx = (labels + torch.arange(n, device=labels.device).unsqueeze(1) * c).flatten()
    return torch.bincount(idx, weights=loss.flatten(), minlength=n * c).view(n, c)


def rows(prep: Prepared, kind: str, per_image: bool) -> list[list[tuple[Tensor, Tensor]]]:
    """The (values, truth) pairs of the valid pixels, per image (or one pooled row) and channel (top-label: one)."""
    check_choice(kind, "kind", ("top-label", "class-wise"))
    if kind == "top-label":
        if prep.mode == "multilabel":
            raise ValueError("multilabel input has no top label (each channel is its own problem); use "
                             "kind='class-wise'")
        labels = prep.labels
        if labels is None:  # pragma: no cover
            raise RuntimeError("label map missing")
        if prep.mode == "binary":
            p = prep.probs[:, 0]
            series = [(torch.maximum(p, 1 - p), (p > 0.5).long() == labels)]
        else:
            conf, pred = prep.probs.max(1)
            series = [(conf, pred == labels)]
    else:
        series = [(prep.probs[:, k], prep.hits(k)) for k in range(prep.channels)]
    valid = prep.valid
    images = range(prep.probs.shape[0]) if per_image else [None]
    out = []
    for i in images:
        row = []
        for v, h in series:
            vi, hi = (v, h) if i is None else (v[i : i + 1], h[i : i + 1])
            if valid is not None:
                m = valid if i is None else valid[i : i + 1]
                vi, hi = vi[m], hi[m]
            row.append((vi.flatten(), hi.flatten()))
        out.append(row)
    return out


def exact_atoms(values: Tensor, hits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The distinct values (ascending) of 1-D ``values`` with their counts ``(A, 2)`` and confidence sums
    ``(A, 2)`` split by the truth ``hits`` (the atoms of the exact, sort-based modes)."""
    uniq, inv = torch.unique(values.double(), return_inverse=True)
    a = uniq.numel()
    idx = inv * 2 + hits.long()
    counts = torch.bincount(idx, minlength=2 * a).view(a, 2)
    conf = torch.bincount(idx, weights=values.double(), minlength=2 * a).view(a, 2)
    return uniq, counts, conf


# ---- formulas over atoms ---------------------------------------------------------------------------------------
def width_groups(slots: int, n_bins: int, device: torch.device) -> Tensor:
    """Bin of each of the ``slots + 1`` slots for ``n_bins`` equal-width bins (``slots`` a multiple of
    ``n_bins``; slot ``slots`` (p = 1) joins the last bin)."""
    sub = slots // n_bins
    return (torch.arange(slots + 1, device=device) // sub).clamp_(max=n_bins - 1)


def mass_groups(counts: Tensor, n_bins: int) -> Tensor:
    r"""Bin of each atom for ``n_bins`` equal-mass bins, from the atoms' pixel counts ``(A,)`` (ascending values).

    With the :math:`T` values sorted, :math:`v_{(0)} \le \dots \le v_{(T-1)}`, the edges are
    :math:`e_b = v_{(\lceil bT/n \rceil)}`, :math:`b = 1..n-1`, and a value :math:`v` lies in bin
    :math:`\#\{b : e_b \le v\}`: bins hold :math:`\lfloor T/n \rfloor` or :math:`\lceil T/n \rceil` values, except
    that equal values (one atom) are never split, so with ties a bin can hold more or be empty.

    >>> mass_groups(torch.tensor([1, 1, 1, 1]), 2).tolist()
    [0, 0, 1, 1]
    >>> mass_groups(torch.tensor([3, 1]), 2).tolist()     # e_1 = v_(2) is one of 3 equal values: all 4 in bin 1
    [1, 1]
    """
    total = int(counts.sum())
    a = counts.numel()
    if total == 0:
        return torch.zeros(a, dtype=torch.long, device=counts.device)
    b = torch.arange(1, n_bins, device=counts.device)
    ranks = (b * total + n_bins - 1) // n_bins  # ceil(b T / n)
    cum = counts.cumsum(0)
    edge_atoms = torch.searchsorted(cum, ranks, right=True)
    return torch.searchsorted(edge_atoms, torch.arange(a, device=counts.device), right=True)


def group(x: Tensor, groups: Tensor, n_bins: int) -> Tensor:
    """Sum ``x`` ``(..., A, 2)`` over atoms into bins ``(..., n_bins, 2)`` (``groups`` ``(A,)`` or ``(..., A)``)."""
    out = x.new_zeros((*x.shape[:-2], n_bins, 2))
    g = groups.expand(x.shape[:-1]).unsqueeze(-1).expand(x.shape)
    return out.scatter_add_(-2, g, x)


def calibration_from_bins(counts: Tensor, conf: Tensor, norm: str) -> Tensor:
    r"""ECE (``norm="l1"``) or MCE (``"max"``) from bin counts and confidence sums ``(..., B, 2)`` (truth 0/1).

    .. math:: \mathrm{ECE} = \sum_b \frac{n_b}{n} |\bar a_b - \bar c_b| = \frac{1}{n}\sum_b |A_b - S_b|,\qquad
              \mathrm{MCE} = \max_{b:\, n_b > 0} |\bar a_b - \bar c_b|

    with :math:`A_b` the hits and :math:`S_b` the confidence sum of bin b. NaN where there is no pixel.
    """
    n_b = counts.sum(-1).double()
    hits = counts[..., 1].double()
    s = conf.sum(-1)
    gap = (hits - s).abs()
    total = n_b.sum(-1)
    if norm == "l1":
        return torch.where(total > 0, gap.sum(-1) / total.clamp(min=1), torch.full_like(total, NAN))
    rel = torch.where(n_b > 0, gap / n_b.clamp(min=1), torch.full_like(gap, -1.0))
    m = rel.amax(-1)
    return torch.where(total > 0, m, torch.full_like(m, NAN))


def average_precision_from_atoms(counts: Tensor, *, zero_positive: float = NAN) -> Tensor:
    r"""Average precision from atom counts ``(..., A, 2)`` in ascending confidence (truth 0/1).

    .. math:: \mathrm{AP} = \sum_a \frac{P_a}{P}\,\frac{TP_a}{TP_a + FP_a},\qquad TP_a = \sum_{a' \ge a} P_{a'},\
              FP_a = \sum_{a' \ge a} N_{a'}

    (scikit-learn's step sum :math:`\sum_n (R_n - R_{n-1}) P_n` over the distinct thresholds; over slots, that of
    torchmetrics' binned curve). ``zero_positive`` where there is no positive pixel (NaN: undefined).
    """
    c = counts.double()
    tail = c.flip(-2).cumsum(-2).flip(-2)
    tp, fp = tail[..., 1], tail[..., 0]
    pos = c[..., 1]
    total_pos = pos.sum(-1)
    prec = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    ap = (pos * prec).sum(-1) / total_pos.clamp(min=1)
    return torch.where(total_pos > 0, ap, torch.full_like(ap, zero_positive))


def roc_auc_from_atoms(counts: Tensor) -> Tensor:
    r"""ROC AUC from atom counts ``(..., A, 2)`` in ascending confidence: the trapezoid rule over the ROC points,
    i.e. the Mann-Whitney statistic with ties (one atom) counted half.

    .. math:: \mathrm{AUC} = \frac{1}{P\,N}\sum_a N_a\Big(\sum_{a' > a} P_{a'} + \tfrac12 P_a\Big)

    NaN where the positives or the negatives are absent.
    """
    c = counts.double()
    neg, pos = c[..., 0], c[..., 1]
    above = pos.flip(-1).cumsum(-1).flip(-1) - pos
    p_tot, n_tot = pos.sum(-1), neg.sum(-1)
    auc = (neg * (above + 0.5 * pos)).sum(-1) / (p_tot * n_tot).clamp(min=1)
    return torch.where((p_tot > 0) & (n_tot > 0), auc, torch.full_like(auc, NAN))


def reduce_classes(values: Tensor, *, average: str, per_image: bool, classes: Tensor | None) -> Tensor:
    """Per-(image, channel) values ``(N, K)`` (pooled: N = 1) to the result. ``"macro"`` is the NaN-skipping mean
    over the selected channels, then over images; ``"none"`` keeps them: ``(N, K')`` per image, ``(K',)`` pooled.
    """
    check_choice(average, "average", ("macro", "none"))
    v = values if classes is None else values[:, classes]
    if average == "none":
        return v if per_image else v[0]
    return reduce_images(torch.nanmean(v, dim=1), per_image)


def reduce_images(values: Tensor, per_image: bool) -> Tensor:
    """Per-image values ``(N,)`` to their NaN-skipping mean (per_image), or the pooled ``(1,)`` to a scalar."""
    return torch.nanmean(values, dim=0) if per_image else values[0]
