r"""Streaming probability metrics with a fixed-size state: calibration, Brier, NLL, AP and ROC AUC in one pass.

:class:`ProbabilityHistogram` keeps, per channel, a histogram of the probabilities on a grid of
:math:`R = \text{n\_bins} \times \text{subdivisions}` equal-width slots (pixel counts and confidence sums, split by
the truth), the same for the top label, and the summed squared errors and log-likelihoods: :math:`O(R \cdot C)`
numbers whatever the number of pixels. Integer counts add exactly, so :meth:`~ProbabilityHistogram.merge` and
:meth:`~ProbabilityHistogram.sync` give exactly the counts of one pass over all the data; the float64 sums agree
with one pass up to the order of floating-point addition (about 1e-16 relative).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from segbench._docs import document_args
from segbench.metrics._probability import (
    COUNT_KEYS,
    NAN,
    PROBABILITY_ARGS,
    STATE_KEYS,
    accumulate,
    average_precision_from_atoms,
    calibration_from_bins,
    check_bins,
    check_choice,
    group,
    mass_groups,
    prepare,
    reduce_classes,
    reduce_images,
    roc_auc_from_atoms,
    width_groups,
)
from segbench.metrics.catalogue import ScoringInputs
from segbench.metrics.confusion import _all_gather_rows

__all__ = ["ProbabilityHistogram", "Reliability", "class_columns", "pooled_score", "scoring_bins", "scoring_histogram"]

SCORING_BINS = 15
"""Calibration bins of the catalogue's probability metrics (equal width)."""
SCORING_SUBDIVISIONS = 64
"""Slots per bin of the catalogue's histogram: AP and ROC AUC are scored at the 15 x 64 = 960 grid thresholds."""


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data, one entry per bin (top-label: ``(B,)``; class-wise: ``(K, B)``).

    ``confidence``: mean confidence of the bin's pixels; ``accuracy``: fraction of them that are right (top-label)
    or positive (class-wise); both NaN for an empty bin. ``count``: pixels (int64). ``lower``/``upper``: the bin's
    interval (equal-width: its edges :math:`b/B, (b+1)/B`; equal-mass: the smallest and largest grid edge of the
    slots it holds).
    """

    confidence: Tensor
    accuracy: Tensor
    count: Tensor
    lower: Tensor
    upper: Tensor


class ProbabilityHistogram:
    r"""Streaming calibration and threshold-free metrics over probability maps, with merging and
    ``torch.distributed`` sync.

    ``update(input, target)`` takes probabilities ``(N, C, *spatial)`` (logits with ``from_logits=True``) and a
    label map ``(N, *spatial)`` (multilabel: a 0/1 map of the input's shape), validated by
    :func:`segbench._checks.check_probability_inputs`. C == 1 is binary (sigmoid; the channel is the foreground
    probability), C >= 2 multiclass (softmax) unless ``multilabel=True``.

    Scores (each a method; see :mod:`segbench.metrics.calibration` and :mod:`segbench.metrics.threshold_free` for
    the formulas and the edge cases): :meth:`calibration_error` (ECE, MCE; equal-width bins exact, equal-mass bins
    on the slot grid), :meth:`reliability`, :meth:`brier_score`, :meth:`negative_log_likelihood`,
    :meth:`average_precision` and :meth:`roc_auc` (binned: thresholds at the :math:`R + 1` grid edges
    :math:`j/R`, torchmetrics' ``thresholds=R + 1``).

    Args:
        n_bins: number of calibration bins B (equal-width bins are the groups of ``subdivisions`` slots).
        subdivisions: slots per calibration bin; the slot grid :math:`R = B \times` ``subdivisions`` sets the
            resolution of equal-mass bins and the thresholds of AP and ROC AUC.
        num_classes: the number of channels C, if known before the first update (needed by a process that may
            see no data before :meth:`sync`); checked against every input.
        from_logits: inputs are logits (softmax / sigmoid is applied; NLL from the logits exactly).
        multilabel: one sigmoid per channel, each channel its own binary problem (no top label).
        ignore_index: target label whose pixels count nowhere.
        per_image: also keep each image's state (``N x`` the state size), for per-image scores.

    >>> h = ProbabilityHistogram(n_bins=2, subdivisions=1)
    >>> h.update(torch.tensor([[[0.2, 0.8, 0.9, 0.4]]]), torch.tensor([[0, 1, 0, 1]]))
    >>> float(h.calibration_error(kind="class-wise"))   # bins [0, .5): conf .6, 1 hit; [.5, 1]: 1.7, 1 -> (.4+.7)/4
    0.275
    >>> float(h.brier_score())                          # (.04 + .04 + .81 + .36) / 4
    0.3125
    >>> float(h.average_precision())                    # thresholds 0, .5, 1: P@.5 = 1/2, P@0 = 2/4
    0.5
    >>> h.state_bytes                                   # 4 x 3 x 2 x 8 (histograms) + 3 x 8 bytes
    216
    """

    def __init__(
        self,
        n_bins: int = 15,
        subdivisions: int = 64,
        *,
        num_classes: int | None = None,
        from_logits: bool = False,
        multilabel: bool = False,
        ignore_index: int | None = None,
        per_image: bool = False,
    ) -> None:
        self.n_bins = check_bins(n_bins, "n_bins")
        self.subdivisions = check_bins(subdivisions, "subdivisions")
        if num_classes is not None:
            check_bins(num_classes, "num_classes")
        self.num_classes = num_classes
        self.from_logits = from_logits
        self.multilabel = multilabel
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.reset()

    @property
    def slots(self) -> int:
        """The grid R: probabilities fall in slot :math:`\\lfloor R p \\rfloor` of R + 1."""
        return self.n_bins * self.subdivisions

    # ---- state -----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every update (and any synced totals)."""
        self._pooled: dict[str, Tensor] | None = None
        self._images: list[dict[str, Tensor]] = []
        self._synced = False

    @property
    def mode(self) -> str | None:
        """``"binary"``, ``"multiclass"`` or ``"multilabel"`` once known (from ``num_classes`` or an update)."""
        c = self.num_classes
        if c is None:
            return None
        return "multilabel" if self.multilabel else ("binary" if c == 1 else "multiclass")

    def _zeros(self, device: torch.device | None = None) -> dict[str, Tensor]:
        c = self.num_classes
        if c is None:
            raise ValueError("the number of channels is unknown before the first update(); pass num_classes")
        width = self.slots + 1
        tl = 0 if self.multilabel else width
        long, dbl = torch.long, torch.float64
        return {"cw": torch.zeros(1, c, width, 2, dtype=long, device=device),
                "cw_conf": torch.zeros(1, c, width, 2, dtype=dbl, device=device),
                "tl": torch.zeros(1, tl, 2, dtype=long, device=device),
                "tl_conf": torch.zeros(1, tl, 2, dtype=dbl, device=device),
                "sq": torch.zeros(1, c, dtype=dbl, device=device), "nll": torch.zeros(1, c, dtype=dbl, device=device),
                "n": torch.zeros(1, dtype=long, device=device)}

    def update(self, input: Any, target: Any) -> None:
        """Add one batch: probabilities (or logits) ``(N, C, *spatial)`` and their label map."""
        if self._synced:
            raise ValueError("this ProbabilityHistogram holds the synced totals; call reset() before updating again")
        prep = prepare(input, target, from_logits=self.from_logits, multilabel=self.multilabel,
                       ignore_index=self.ignore_index)
        if self.num_classes is not None and prep.channels != self.num_classes:
            raise ValueError(f"num_classes={self.num_classes} but the input has {prep.channels} channels")
        self.num_classes = prep.channels
        state = accumulate(prep, self.slots)
        if self.per_image:
            self._images.append(state)
        total = {k: v.sum(0, keepdim=True) for k, v in state.items()}
        if self._pooled is None:
            self._pooled = total
        else:
            for k in STATE_KEYS:
                self._pooled[k] += total[k].to(self._pooled[k].device)

    def state(self, per_image: bool = False) -> dict[str, Tensor]:
        """The accumulated state (see :mod:`segbench.metrics._probability`): leading axis 1 (pooled) or N
        (``per_image=True``, which needs ``per_image=True`` at construction)."""
        if per_image:
            if not self.per_image:
                raise ValueError("per-image states were not kept; construct ProbabilityHistogram(..., per_image=True)")
            if not self._images:
                return {k: v[:0] for k, v in self._zeros().items()}
            return {k: torch.cat([s[k] for s in self._images]) for k in STATE_KEYS}
        return self._zeros() if self._pooled is None else {k: v.clone() for k, v in self._pooled.items()}

    @property
    def state_bytes(self) -> int:
        """Bytes of the pooled state (independent of the number of pixels and images)."""
        return sum(v.numel() * v.element_size() for v in self.state().values())

    def _options(self) -> tuple[Any, ...]:
        return (self.n_bins, self.subdivisions, self.from_logits, self.multilabel, self.ignore_index, self.per_image)

    def repool(self) -> ProbabilityHistogram:
        """Recompute the pooled state as one sum over the kept per-image states, in update order (needs
        ``per_image=True``): its float sums are then those of a single update with every image, bit for bit, however
        the images were split into updates (float addition is not associative). Returns ``self``.

        >>> x, y = torch.rand(3, 1, 4, 4, dtype=torch.float64), torch.randint(0, 2, (3, 4, 4))
        >>> one, parts = ProbabilityHistogram(per_image=True), ProbabilityHistogram(per_image=True)
        >>> one.update(x, y); parts.update(x[:1], y[:1]); parts.update(x[1:], y[1:])
        >>> all(torch.equal(a, b) for a, b in zip(one.state().values(), parts.repool().state().values()))
        True
        """
        if not self.per_image:
            raise ValueError("repool() needs the per-image states; construct ProbabilityHistogram(..., per_image=True)")
        if self._images:
            self._pooled = {k: v.sum(0, keepdim=True) for k, v in self.state(per_image=True).items()}
        return self

    def merge(self, other: ProbabilityHistogram) -> ProbabilityHistogram:
        """Add another histogram's state (e.g. from a worker); returns ``self``.

        >>> a, b = ProbabilityHistogram(2, 1), ProbabilityHistogram(2, 1)
        >>> a.update(torch.tensor([[[0.2, 0.8]]]), torch.tensor([[0, 1]]))
        >>> b.update(torch.tensor([[[0.9, 0.4]]]), torch.tensor([[0, 1]]))
        >>> float(a.merge(b).brier_score())
        0.3125
        """
        if not isinstance(other, ProbabilityHistogram):
            raise TypeError(f"merge() takes a ProbabilityHistogram, got {type(other).__name__}")
        if self._options() != other._options():
            raise ValueError(
                "merge() needs histograms built alike: (n_bins, subdivisions, from_logits, multilabel, ignore_index, "
                f"per_image) = {self._options()} here, {other._options()} in the other"
            )
        if other._pooled is None:
            return self
        if self.num_classes is not None and other.num_classes != self.num_classes:
            raise ValueError(f"merge(): {self.num_classes} channels here, {other.num_classes} in the other")
        self.num_classes = other.num_classes
        if self._pooled is None:
            self._pooled = {k: v.clone() for k, v in other._pooled.items()}
        else:
            for k in STATE_KEYS:
                self._pooled[k] += other._pooled[k].to(self._pooled[k].device)
        self._images.extend({k: v.clone() for k, v in s.items()} for s in other._images)
        return self

    def sync(self) -> ProbabilityHistogram:
        """Replace the local state by the sum over all processes of ``torch.distributed``; returns ``self``.

        Counts are all-reduced as int64 and sums as float64 (``torch.distributed.all_reduce``, as
        :meth:`ConfusionMatrix.sync` does);
        per-image states are gathered in rank order. Without a process group of more than one rank this does
        nothing. Every process must call it, once, after its last update (a process with no data needs
        ``num_classes``); the synced state refuses further updates until :meth:`reset`.
        """
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return self
        if self._synced:
            raise ValueError("sync() was already called; the state holds the global totals (reset() to start over)")
        pooled = self.state()
        device = pooled["n"].device
        if self._pooled is None and "nccl" in str(dist.get_backend()):  # no data here: NCCL needs CUDA
            device = torch.device("cuda", torch.cuda.current_device())
        pooled = {k: v.to(device) for k, v in pooled.items()}
        c = float(self.num_classes or 0)
        shape = torch.tensor([c, c * c, 1.0], dtype=torch.float64, device=device)
        dist.all_reduce(shape)
        if float(shape[1]) * float(shape[2]) != float(shape[0]) ** 2:  # sum c^2 * W == (sum c)^2 iff all equal
            raise ValueError("sync(): the processes hold histograms with different numbers of channels")
        ints = torch.cat([pooled[k].flatten() for k in COUNT_KEYS])
        floats = torch.cat([pooled[k].flatten() for k in STATE_KEYS if k not in COUNT_KEYS])
        dist.all_reduce(ints)
        dist.all_reduce(floats)
        out: dict[str, Tensor] = {}
        for keys, flat in ((COUNT_KEYS, ints), (tuple(k for k in STATE_KEYS if k not in COUNT_KEYS), floats)):
            start = 0
            for k in keys:
                size = pooled[k].numel()
                out[k] = flat[start : start + size].view(pooled[k].shape)
                start += size
        self._pooled = {k: out[k] for k in STATE_KEYS}
        if self.per_image:
            local = self.state(per_image=True)
            self._images = [{k: _all_gather_rows(local[k].to(device), None) for k in STATE_KEYS}]
        self._synced = True
        return self

    # ---- scores ----------------------------------------------------------------------------------------------
    def _classes(self, include_background: bool) -> Tensor | None:
        if include_background or self.mode == "binary":
            return None
        c = self.num_classes or 0
        return torch.arange(1, c)

    def _binned(self, counts: Tensor, conf: Tensor, binning: str) -> tuple[Tensor, Tensor, Tensor]:
        """Group slot counts/sums ``(..., R+1, 2)`` into the B bins: counts, sums, and each slot's bin."""
        check_choice(binning, "binning", ("width", "mass"))
        b = self.n_bins
        if binning == "width":
            g = width_groups(self.slots, b, counts.device)
            return group(counts, g, b), group(conf, g, b), g.expand(counts.shape[:-1])
        rows_c, rows_s = counts.reshape(-1, *counts.shape[-2:]), conf.reshape(-1, *conf.shape[-2:])
        gs = torch.stack([mass_groups(r.sum(-1), b) for r in rows_c]) if rows_c.shape[0] else rows_c[..., 0]
        out_c = torch.stack([group(r, g, b) for r, g in zip(rows_c, gs, strict=True)]) if len(gs) else rows_c
        out_s = torch.stack([group(r, g, b) for r, g in zip(rows_s, gs, strict=True)]) if len(gs) else rows_s
        shape = counts.shape[:-2]
        return out_c.view(*shape, b, 2), out_s.view(*shape, b, 2), gs.view(*shape, -1)

    def _kind_state(self, kind: str, per_image: bool) -> tuple[Tensor, Tensor]:
        check_choice(kind, "kind", ("top-label", "class-wise"))
        s = self.state(per_image)
        if kind == "class-wise":
            return s["cw"], s["cw_conf"]
        if self.mode == "multilabel":
            raise ValueError("multilabel input has no top label (each channel is its own problem); use "
                             "kind='class-wise'")
        return s["tl"], s["tl_conf"]

    def calibration_error(
        self,
        *,
        kind: str = "top-label",
        norm: str = "l1",
        binning: str = "width",
        per_image: bool = False,
        average: str = "macro",
        include_background: bool = True,
    ) -> Tensor:
        """ECE (``norm="l1"``) or MCE (``norm="max"``) of the accumulated state, as
        :func:`segbench.metrics.calibration_error` defines them. Equal-mass bins are formed from whole slots.

        Args:
            kind: ``"top-label"`` or ``"class-wise"``.
            norm: ``"l1"`` (ECE) or ``"max"`` (MCE).
            binning: ``"width"`` (exact) or ``"mass"`` (edges on the slot grid).
            per_image: score each image, then average (needs ``per_image=True`` at construction).
            average: class-wise: ``"macro"`` or ``"none"``.
            include_background: class-wise: ``False`` leaves out channel 0.
        """
        check_choice(norm, "norm", ("l1", "max"))
        counts, conf = self._kind_state(kind, per_image)
        bc, bs, _ = self._binned(counts, conf, binning)
        value = calibration_from_bins(bc, bs, norm)
        if kind == "top-label":
            return reduce_images(value, per_image)
        return reduce_classes(value, average=average, per_image=per_image, classes=self._classes(include_background))

    def reliability(self, *, kind: str = "top-label", binning: str = "width") -> Reliability:
        """Reliability-diagram data of the pooled state (:class:`Reliability`; class-wise: ``(K, B)``).

        Args:
            kind: ``"top-label"`` or ``"class-wise"``.
            binning: ``"width"`` or ``"mass"`` (edges on the slot grid; ``lower``/``upper`` are grid edges).
        """
        counts, conf = self._kind_state(kind, False)
        bc, bs, g = self._binned(counts[0], conf[0], binning)
        n = bc.sum(-1)
        nd = n.double()
        empty = torch.full_like(nd, NAN)
        confidence = torch.where(n > 0, bs.sum(-1) / nd.clamp(min=1), empty)
        accuracy = torch.where(n > 0, bc[..., 1].double() / nd.clamp(min=1), empty)
        edges = torch.arange(self.slots + 1, dtype=torch.float64, device=n.device) / self.slots
        if binning == "width":
            lo = torch.arange(self.n_bins, dtype=torch.float64, device=n.device) / self.n_bins
            lower, upper = lo.expand(n.shape), (lo + 1.0 / self.n_bins).expand(n.shape)
        else:
            upper_edge = torch.cat([edges[1:], edges[-1:]])
            occupied = counts[0].sum(-1) > 0
            big = torch.full(g.shape, float("inf"), dtype=torch.float64, device=n.device)
            lower = big.scatter_reduce(-1, g, torch.where(occupied, edges.expand(g.shape), big), "amin",
                                       include_self=True)[..., : self.n_bins]
            upper = (-big).scatter_reduce(-1, g, torch.where(occupied, upper_edge.expand(g.shape), -big), "amax",
                                          include_self=True)[..., : self.n_bins]
            lower = torch.where(n > 0, lower, empty)
            upper = torch.where(n > 0, upper, empty)
        return Reliability(confidence, accuracy, n, lower.clone(), upper.clone())

    def brier_score(self, *, per_image: bool = False, average: str | None = None,
                    include_background: bool = True) -> Tensor:
        """Brier score of the accumulated state (:func:`segbench.metrics.brier_score`).

        Args:
            per_image: score each image, then average (needs ``per_image=True`` at construction).
            average: ``"sum"`` over channels (multiclass default), ``"macro"`` (binary, multilabel default) or
                ``"none"`` (per channel).
            include_background: ``False`` leaves out channel 0.
        """
        s = self.state(per_image)
        n = s["n"].double().unsqueeze(1)
        per = torch.where(n > 0, s["sq"] / n.clamp(min=1), torch.full_like(s["sq"], NAN))
        avg = ("sum" if self.mode == "multiclass" else "macro") if average is None else average
        check_choice(avg, "average", ("sum", "macro", "none"))
        if avg != "sum":
            return reduce_classes(per, average=avg, per_image=per_image, classes=self._classes(include_background))
        cls = self._classes(include_background)
        total = (per if cls is None else per[:, cls]).sum(1)
        return reduce_images(total, per_image)

    def negative_log_likelihood(self, *, per_image: bool = False) -> Tensor:
        """Mean NLL per pixel (multilabel: the mean over channels); see
        :func:`segbench.metrics.negative_log_likelihood`.

        Args:
            per_image: score each image, then average (needs ``per_image=True`` at construction).
        """
        s = self.state(per_image)
        n = s["n"].double()
        per = s["nll"].sum(1) if self.mode == "multiclass" else s["nll"].mean(1)
        return reduce_images(torch.where(n > 0, per / n.clamp(min=1), torch.full_like(n, NAN)), per_image)

    def average_precision(self, *, per_image: bool = False, average: str = "macro",
                          include_background: bool = True) -> Tensor:
        """Binned AP per channel (thresholds :math:`j/R`); see :func:`segbench.metrics.average_precision`.

        Args:
            per_image: score each image, then average (needs ``per_image=True`` at construction).
            average: ``"macro"`` (NaN-skipping mean over channels) or ``"none"``.
            include_background: ``False`` leaves out channel 0.
        """
        return self._ranking(average_precision_from_atoms, per_image, average, include_background)

    def roc_auc(self, *, per_image: bool = False, average: str = "macro", include_background: bool = True) -> Tensor:
        """Binned ROC AUC per channel (thresholds :math:`j/R`); see :func:`segbench.metrics.roc_auc`.

        Args:
            per_image: score each image, then average (needs ``per_image=True`` at construction).
            average: ``"macro"`` (NaN-skipping mean over channels) or ``"none"``.
            include_background: ``False`` leaves out channel 0.
        """
        return self._ranking(roc_auc_from_atoms, per_image, average, include_background)

    def _ranking(self, formula: Callable[[Tensor], Tensor], per_image: bool, average: str,
                 include_background: bool) -> Tensor:
        """A ranking score (AP, ROC AUC) of every channel's class-wise atoms, reduced over the channels."""
        value = formula(self.state(per_image)["cw"])
        return reduce_classes(value, average=average, per_image=per_image, classes=self._classes(include_background))

    def _gap(self, per_image: bool) -> Tensor:
        counts, conf = self._kind_state("top-label", per_image)
        n = counts.sum((-1, -2)).double()
        gap = (conf.sum((-1, -2)) - counts[..., 1].sum(-1).double()) / n.clamp(min=1)
        return torch.where(n > 0, gap, torch.full_like(n, NAN))

    def confidence_gap(self, *, per_image: bool = False) -> Tensor:
        r"""Mean top-label confidence minus accuracy, :math:`\frac1n\sum_i c_i - \frac1n\sum_i a_i`: > 0
        over-confident, < 0 under-confident (see :func:`segbench.metrics.confidence_gap`).

        Args:
            per_image: score each image, then average (needs ``per_image=True`` at construction).
        """
        return reduce_images(self._gap(per_image), per_image)

    def image_values(self, score: str) -> Tensor:
        """Each image's value of one score, before any mean over images (needs ``per_image=True``):
        ``"ece"`` (top-label, equal-width bins), ``"brier"``, ``"nll"`` and ``"gap"`` (:meth:`confidence_gap`)
        ``(N,)``; ``"ap"`` and ``"auroc"`` ``(N, K)``, one per channel. The mean over images of each is the
        method's ``per_image=True`` value.

        Args:
            score: ``"ece"``, ``"brier"``, ``"nll"``, ``"gap"``, ``"ap"`` or ``"auroc"``.

        >>> h = ProbabilityHistogram(n_bins=2, subdivisions=1, per_image=True)
        >>> h.update(torch.tensor([[[0.9, 0.6]], [[0.2, 0.4]]]), torch.tensor([[1, 1], [0, 1]]))
        >>> h.image_values("brier").tolist()          # (.01 + .16) / 2, (.04 + .36) / 2
        [0.085, 0.2]
        """
        return self._values(score, True)

    def pooled_values(self, score: str) -> Tensor:
        """The dataset-level value of one score, from the pooled state (every pixel of every update at once):
        ``"ece"``, ``"brier"``, ``"nll"``, ``"gap"`` a scalar; ``"ap"`` and ``"auroc"`` ``(K,)``, one per channel
        (what :meth:`image_values` gives for one image, here for all the pixels together).

        Args:
            score: ``"ece"``, ``"brier"``, ``"nll"``, ``"gap"``, ``"ap"`` or ``"auroc"``.

        >>> h = ProbabilityHistogram(n_bins=2, subdivisions=1)
        >>> h.update(torch.tensor([[[0.9, 0.6]], [[0.2, 0.4]]]), torch.tensor([[1, 1], [0, 1]]))
        >>> float(h.pooled_values("brier"))           # (.01 + .16 + .04 + .36) / 4
        0.1425
        """
        return self._values(score, False)[0]

    def _values(self, score: str, per_image: bool) -> Tensor:
        """Per-image (``(N,)`` / ``(N, K)``) or pooled (leading axis 1) values of one score."""
        check_choice(score, "score", ("ece", "brier", "nll", "ap", "auroc", "gap"))
        if score == "gap":
            return self._gap(per_image)
        if score == "ece":
            counts, conf = self._kind_state("top-label", per_image)
            bc, bs, _ = self._binned(counts, conf, "width")
            return calibration_from_bins(bc, bs, "l1")
        s = self.state(per_image)
        if score in ("ap", "auroc"):
            formula = average_precision_from_atoms if score == "ap" else roc_auc_from_atoms
            return formula(s["cw"])
        n = s["n"].double()
        key = "sq" if score == "brier" else "nll"
        total = s[key].sum(1) if self.mode == "multiclass" else s[key].mean(1)
        return torch.where(n > 0, total / n.clamp(min=1), torch.full_like(n, NAN))

    def __repr__(self) -> str:
        return (f"ProbabilityHistogram(n_bins={self.n_bins}, subdivisions={self.subdivisions}, "
                f"num_classes={self.num_classes}, mode={self.mode}, per_image={self.per_image})")


@document_args(PROBABILITY_ARGS, n_bins="the number of bins.", per_image="keep each image's counts apart.")
def filled_histogram(input: Any, target: Any, n_bins: int, *, from_logits: bool, multilabel: bool,
                     ignore_index: int | None, per_image: bool) -> ProbabilityHistogram:
    """A :class:`ProbabilityHistogram` of ``n_bins`` bins (one slot each) that holds ``input`` and ``target``: the
    one-call probability metrics' input preparation.
    """
    h = ProbabilityHistogram(n_bins, 1, from_logits=from_logits, multilabel=multilabel, ignore_index=ignore_index,
                             per_image=per_image)
    h.update(input, target)
    return h


def scoring_histogram(inputs: ScoringInputs, scaled: bool = False) -> ProbabilityHistogram:
    """The per-image :class:`ProbabilityHistogram` of a scoring call's probabilities (built once and shared by
    every probability metric of the catalogue); ValueError without probabilities or with a channel count that is
    neither the number of classes nor 1 (the foreground probability of binary data).

    Args:
        inputs: the scoring call (its ``probabilities``, ``target`` and ``ignore_index``).
        scaled: the histogram of the temperature-scaled probabilities (``inputs.scaled_probabilities``).
    """

    def make() -> ProbabilityHistogram:
        probs = inputs.scaled_probabilities if scaled else inputs.probabilities
        if probs is None:
            if scaled:
                raise ValueError("temperature-scaled metrics need the temperature-scaled probabilities (N, C, "
                                 "*spatial) of the model (segbench compare fits one temperature per model on the "
                                 "validation split); none were given")
            raise ValueError("probability metrics need the model's probabilities (N, C, *spatial); none were given")
        channels = probs.shape[1] if probs.ndim >= 2 else -1
        if channels != inputs.num_classes and not (channels == 1 and inputs.num_classes == 2):
            raise ValueError(f"probabilities must have one channel per class ({inputs.num_classes}) or, for binary "
                             f"data, one foreground channel; got shape {tuple(probs.shape)}")
        h = scoring_bins(channels, inputs.ignore_index, per_image=True)
        h.update(probs, inputs.target)
        return h

    hist: ProbabilityHistogram = inputs.shared("scaled_histogram" if scaled else "probability_histogram", make)
    return hist


def scoring_bins(channels: int | None, ignore_index: int | None, *, per_image: bool = False
                 ) -> ProbabilityHistogram:
    """An empty :class:`ProbabilityHistogram` with the catalogue's grid (:data:`SCORING_BINS` x
    :data:`SCORING_SUBDIVISIONS`): the one that per-image and dataset-level probability scores are read from.

    Args:
        channels: the probability channels (1 for the foreground of binary data), or ``None`` until the first update.
        ignore_index: target label whose pixels count nowhere.
        per_image: keep each image's state.
    """
    return ProbabilityHistogram(SCORING_BINS, SCORING_SUBDIVISIONS, num_classes=channels, ignore_index=ignore_index,
                                per_image=per_image)


def pooled_score(score: str) -> Callable[[ProbabilityHistogram], Tensor]:
    """The catalogue's ``pooled_histogram`` route of one score: ``hist -> hist.pooled_values(score)``.

    Args:
        score: a score of :meth:`ProbabilityHistogram.pooled_values`.
    """
    check_choice(score, "score", ("ece", "brier", "nll", "ap", "auroc", "gap"))

    def pooled(hist: ProbabilityHistogram) -> Tensor:
        return hist.pooled_values(score)

    return pooled


def class_columns(values: Tensor, num_classes: int) -> Tensor:
    """Per-channel values ``(N, K)`` as ``(N, num_classes)``: a single foreground channel of binary data goes to
    class 1 (class 0 NaN).

    Args:
        values: ``(N, K)`` with K the number of classes, or 1 for binary data.
        num_classes: the number of classes C.
    """
    if values.shape[1] == num_classes:
        return values
    return torch.cat([torch.full_like(values, NAN), values], 1)
