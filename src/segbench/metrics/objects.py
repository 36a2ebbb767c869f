"""Object-level metrics: objects found, missed and invented, and how well each found one is delineated.

Objects are the connected components of each foreground class of a semantic label map (connectivity stated: 4 or
8 in 2D, 6, 18 or 26 in 3D; default the full 8 / 26, as scikit-image's ``label``), or the ids of an instance label
map given directly (0 is background; ids need not be contiguous). Optional class maps split instance maps by
class, as MONAI's ``PanopticQualityMetric`` does: the objects of class ``c`` are the instance ids restricted to the
pixels of class ``c``.

Every pairwise overlap of one image comes from ONE sparse contingency count over the voxels that are foreground in
both maps (``np.bincount`` of ``pred_index * (n_ref + 1) + ref_index``, or ``np.unique`` where that table would be
large), never from per-object mask loops; object sizes are a ``bincount`` of each map. Objects of different
classes never match.

Matching rules (``matching=``):

* ``"iou"`` (default): a pair matches when ``IoU > threshold``, ``threshold >= 0.5``. Two objects of one image
  cannot both overlap a third by more than half of the union, so the matching is one-to-one by construction
  (Kirillov et al.'s panoptic quality, the 2018 Data Science Bowl).
* ``"hungarian"``: the optimal one-to-one matching among pairs with ``IoU > threshold`` (any threshold in
  ``[0, 1)``): the largest number of matches, ties broken by the largest IoU sum (StarDist's rule), by
  ``scipy.optimize.linear_sum_assignment``. For ``threshold >= 0.5`` it equals ``"iou"``.
* ``"overlap"``: lesion detection: a reference object is detected if any predicted object overlaps it by at least
  one voxel, a predicted object is correct if it overlaps any reference object (many-to-many).

Empty cases (the project's one policy): a score of an (image, class) with no object in either map is undefined
(NaN, skipped by means, counted by callers); objects in one map only are misses (FN) or false alarms (FP) and score
0. A model that misses more never scores better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from segbench._checks import as_tensor, check_label_maps
from segbench._docs import document_args
from segbench.metrics._surface import check_spacing
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric
from segbench.reduction import check_average, nanmean

__all__ = [
    "DSB_THRESHOLDS",
    "ObjectMatches",
    "PanopticQuality",
    "aggregated_jaccard_index",
    "dsb_score",
    "label_components",
    "match_objects",
    "object_f1",
    "object_precision",
    "object_recall",
    "panoptic_quality",
    "structure",
]

Matching = Literal["iou", "hungarian", "overlap"]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DSB_THRESHOLDS: tuple[float, ...] = tuple(k / 100 for k in range(50, 100, 5))
"""IoU thresholds of the 2018 Data Science Bowl score: 0.5, 0.55, ..., 0.95 (each the double nearest its decimal)."""

_RANK = {2: {4: 1, 8: 2}, 3: {6: 1, 18: 2, 26: 3}}
_MATCHINGS = ("iou", "hungarian", "overlap")

# What the parameters that the one-call object metrics share mean (segbench._docs.document_args builds their Args:).
OBJECT_ARGS: dict[str, str] = {
    "pred": "predicted label maps ``(N, *spatial)`` (see :func:`match_objects`).",
    "target": "reference label maps of the same shape.",
    "average": '``"macro"``, ``"micro"``, ``"weighted"`` or ``"none"`` over classes.',
    "per_image": "score each image then average, or pool the counts over the batch.",
    "kwargs": "the object options of :func:`match_objects` (``instances``, ``connectivity``, ``matching``...).",
}


def structure(ndim: int, connectivity: int | None = None) -> NDArray[np.bool_]:
    """The 3 x 3 (x 3) neighbourhood of ``connectivity`` neighbours for ``scipy.ndimage.label``.

    Args:
        ndim: number of spatial axes, 2 or 3.
        connectivity: neighbours that connect: 4 or 8 in 2D, 6, 18 or 26 in 3D; ``None`` is the full one (8, 26).

    >>> int(structure(2, 4).sum()), int(structure(3).sum())   # the centre is counted too
    (5, 27)
    """
    if ndim not in _RANK:
        raise ValueError(f"objects need 2D or 3D images, got {ndim} spatial axes")
    options = _RANK[ndim]
    conn = max(options) if connectivity is None else connectivity
    if isinstance(conn, bool) or conn not in options:
        raise ValueError(f"connectivity in {ndim}D must be one of {sorted(options)}, got {connectivity!r}")
    return ndimage.generate_binary_structure(ndim, options[conn])


def label_components(mask: Any, connectivity: int | None = None) -> tuple[NDArray[np.int32], int]:
    """Connected components of one binary image, labelled 1..n in scan order (0 is background).

    Args:
        mask: a 2D or 3D bool (or 0/1) array or tensor.
        connectivity: 4 or 8 in 2D, 6, 18 or 26 in 3D; ``None`` is 8 / 26.

    >>> m = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    >>> label_components(m)[1], label_components(m, 4)[1]   # diagonal neighbours join under 8-connectivity
    (1, 2)
    """
    arr = mask if isinstance(mask, np.ndarray) else as_tensor(mask, "mask").detach().cpu().numpy()
    labels, n = ndimage.label(arr != 0, structure(arr.ndim, connectivity))
    return labels, int(n)


@dataclass(frozen=True)
class _Side:
    """The objects of one map of one image: compact ids 1..n per voxel, original id, class and size of each."""

    index: NDArray[np.int32]  # (size,) compact object index per voxel, 0 background
    ids: IntArray  # (n,) original id (component label within its class, or instance id)
    classes: IntArray  # (n,) class of each object, 1..C-1
    sizes: IntArray  # (n,) voxels


def _compact(values: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(unique values, inverse index 0..n-1, counts) of non-negative ints, by bincount where the range is small."""
    if values.size == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    top = int(values.max())
    if top <= 4 * values.size + (1 << 16):
        counts = np.bincount(values, minlength=top + 1)
        present = np.flatnonzero(counts)
        lut = np.zeros(top + 1, np.int64)
        lut[present] = np.arange(present.size)
        return present.astype(np.int64), lut[values], counts[present].astype(np.int64)
    uniq, inv, cnt = np.unique(values, return_inverse=True, return_counts=True)
    return uniq.astype(np.int64), inv.reshape(-1).astype(np.int64), cnt.astype(np.int64)


def _side_from_instances(inst: NDArray[Any], cls: NDArray[Any] | None, num_classes: int) -> _Side:
    flat = inst.reshape(-1)
    fg = flat != 0 if cls is None else (flat != 0) & (cls.reshape(-1) != 0)
    vals = flat[fg].astype(np.int64)
    if cls is not None:  # an object is an (instance, class) pair
        vals = vals * num_classes + cls.reshape(-1)[fg].astype(np.int64)
    uniq, inv, counts = _compact(vals)
    index = np.zeros(flat.size, np.int32)
    index[fg] = inv + 1
    if cls is None:
        return _Side(index, uniq, np.ones(uniq.size, np.int64), counts)
    return _Side(index, uniq // num_classes, uniq % num_classes, counts)


def _side_from_semantic(labels: NDArray[Any], num_classes: int, st: NDArray[np.bool_]) -> _Side:
    index = np.zeros(labels.size, np.int32)
    ids, classes, sizes = [], [], []
    offset = 0
    for c in range(1, num_classes):
        comp, n = ndimage.label(labels == c, st)
        if n == 0:
            continue
        flat = comp.reshape(-1)
        fg = flat != 0
        index[fg] = flat[fg] + offset
        ids.append(np.arange(1, n + 1, dtype=np.int64))
        classes.append(np.full(n, c, np.int64))
        sizes.append(np.bincount(flat[fg], minlength=n + 1)[1:].astype(np.int64))
        offset += n
    if not ids:
        e = np.zeros(0, np.int64)
        return _Side(index, e, e, e)
    return _Side(index, np.concatenate(ids), np.concatenate(classes), np.concatenate(sizes))


def _pairs(p: _Side, r: _Side) -> tuple[IntArray, IntArray, IntArray]:
    """(pred object, ref object, overlap voxels) of every overlapping same-class pair, from one sparse count."""
    both = (p.index != 0) & (r.index != 0)
    pi = p.index[both].astype(np.int64) - 1
    ri = r.index[both].astype(np.int64) - 1
    nr = max(r.sizes.size, 1)
    key = pi * nr + ri
    table = p.sizes.size * nr
    if table <= 4 * key.size + (1 << 16):
        counts = np.bincount(key, minlength=table)
        keys = np.flatnonzero(counts)
        inter = counts[keys]
    else:
        keys, inter = np.unique(key, return_counts=True)
    pp, rr = keys // nr, keys % nr
    same = p.classes[pp] == r.classes[rr]
    return pp[same].astype(np.int64), rr[same].astype(np.int64), inter[same].astype(np.int64)


def _assign(iou: FloatArray, ri: IntArray, ci: IntArray) -> BoolArray:
    """The optimal one-to-one choice among eligible edges (row ``ri``, column ``ci``, ``iou``) of ONE connected
    bipartite component: the most edges, then the largest IoU sum."""
    rows, r = np.unique(ri, return_inverse=True)
    cols, c = np.unique(ci, return_inverse=True)
    m = min(rows.size, cols.size)
    weight = np.zeros((rows.size, cols.size))
    weight[r, c] = 1.0 + iou / (m + 1)  # any extra match outweighs every IoU sum (< m / (m + 1) < 1)
    a, b = linear_sum_assignment(weight, maximize=True)
    chosen = np.zeros((rows.size, cols.size), bool)
    chosen[a, b] = weight[a, b] > 0
    return chosen[r, c]


def _match(pp: IntArray, rr: IntArray, iou: FloatArray, rule: str, thr: float) -> BoolArray:
    """Which of the overlapping pairs are matches under ``rule``.

    The Hungarian rule runs on each connected component of the graph of eligible pairs separately (the optimum
    decomposes over them), so a large image with many objects never builds a dense cost matrix.
    """
    if rule == "overlap":
        return np.ones(pp.size, bool)
    ok = iou > thr
    if rule == "iou" or thr >= 0.5:
        return ok
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return ok
    _, ri = np.unique(pp[cand], return_inverse=True)
    _, ci = np.unique(rr[cand], return_inverse=True)
    n_r = int(ri.max()) + 1
    n = n_r + int(ci.max()) + 1
    graph = coo_matrix((np.ones(cand.size), (ri, ci + n_r)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[ri]
    out = np.zeros(pp.size, bool)
    size = np.bincount(edge_comp)
    single = size[edge_comp] == 1
    out[cand[single]] = True  # an isolated eligible pair is a match
    multi = np.flatnonzero(~single)
    if multi.size:
        order = multi[np.argsort(edge_comp[multi], kind="stable")]
        bounds = np.flatnonzero(np.diff(edge_comp[order])) + 1
        for group in np.split(order, bounds):
            out[cand[group]] = _assign(iou[cand[group]], ri[group], ci[group])
    return out


class PanopticQuality(NamedTuple):
    """Panoptic quality and its two factors, each reduced the same way: ``pq == sq * rq``."""

    pq: Tensor
    sq: Tensor
    rq: Tensor


def _reduce(
    counts: dict[str, Tensor], score: Callable[[dict[str, Tensor]], Tensor], average: str, per_image: bool
) -> Tensor:
    """Reduce per-(image, class) counts ``(N, K, ...)`` as :func:`segbench.reduction.aggregate` does: pool images
    (``per_image=False``), pool classes (``"micro"``), score, then average (macro: NaN-skipping means; weighted: by
    the number of reference objects)."""
    check_average(average)
    c = counts
    if not per_image:
        c = {k: v.sum(0, keepdim=True) for k, v in c.items()}
    if average == "micro":
        c = {k: v.sum(1, keepdim=True) for k, v in c.items()}
    s = score(c)
    if average == "none":
        return s if per_image else s[0]
    if average == "weighted":
        w = torch.where(torch.isnan(s), torch.zeros_like(s), c["n_ref"])
        den = w.sum(1)
        s = torch.where(den > 0, (torch.nan_to_num(s) * w).sum(1) / den, torch.full_like(den, math.nan))
    else:
        s = nanmean(s, dim=1)
    return nanmean(s, dim=0)


def _ratio(num: Tensor, den: Tensor, defined: Tensor) -> Tensor:
    """num / den; 0 where den == 0 but the case is defined (a miss or false alarm); NaN where undefined."""
    out = torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))
    return torch.where(defined, out, torch.full_like(out, math.nan))


@dataclass(frozen=True)
class ObjectMatches:
    """The objects of a batch and their matches, as flat per-object and per-pair arrays (numpy).

    Per reference (``ref_*``) and predicted (``pred_*``) object: ``image``, ``cls`` (1..C-1), ``id`` (component label
    within its class, or instance id), ``size`` (voxels), ``matched`` (TP; unmatched references are FN, unmatched
    predictions FP), ``iou`` and ``dice`` with its match (0 if none; under ``"overlap"`` the best overlapping one).
    Per overlapping pair (every pair with at least one common voxel, matched or not): ``pair_ref`` and ``pair_pred``
    (indices into the object arrays), ``pair_inter`` (voxels), ``pair_iou``, ``pair_matched``.
    ``classes`` lists the scored classes; ``voxel_volume`` is the product of the spacing.
    """

    num_images: int
    classes: tuple[int, ...]
    matching: str
    threshold: float
    voxel_volume: float
    ref_image: IntArray
    ref_cls: IntArray
    ref_id: IntArray
    ref_size: IntArray
    ref_matched: BoolArray
    ref_iou: FloatArray
    ref_dice: FloatArray
    pred_image: IntArray
    pred_cls: IntArray
    pred_id: IntArray
    pred_size: IntArray
    pred_matched: BoolArray
    pred_iou: FloatArray
    pred_dice: FloatArray
    pair_ref: IntArray
    pair_pred: IntArray
    pair_inter: IntArray
    pair_iou: FloatArray
    pair_matched: BoolArray

    # ---- counts -------------------------------------------------------------------------------------------------
    def _cell(self, image: IntArray, cls: IntArray) -> IntArray:
        k = len(self.classes)
        pos = np.searchsorted(np.asarray(self.classes), cls)
        return image * k + pos

    def _count(self, image: IntArray, cls: IntArray, weights: NDArray[Any] | None = None) -> Tensor:
        k = len(self.classes)
        out = np.bincount(self._cell(image, cls), weights=weights, minlength=self.num_images * k)
        return torch.from_numpy(out.astype(np.float64)).view(self.num_images, k)

    def counts(self) -> dict[str, Tensor]:
        """Per (image, class) float64 ``(N, K)``: ``n_ref``, ``n_pred``, ``tp_ref`` (matched references), ``tp_pred``
        (matched predictions; equal to ``tp_ref`` under one-to-one rules), ``iou_sum`` (IoU summed over matches)."""
        m = self.pair_matched
        pair_img, pair_cls = self.ref_image[self.pair_ref[m]], self.ref_cls[self.pair_ref[m]]
        return {
            "n_ref": self._count(self.ref_image, self.ref_cls),
            "n_pred": self._count(self.pred_image, self.pred_cls),
            "tp_ref": self._count(self.ref_image, self.ref_cls, self.ref_matched.astype(np.float64)),
            "tp_pred": self._count(self.pred_image, self.pred_cls, self.pred_matched.astype(np.float64)),
            "iou_sum": self._count(pair_img, pair_cls, self.pair_iou[m]),
        }

    def rows(self, *, physical: bool = False) -> list[dict[str, Any]]:
        """One row per object (references first): image, class, side, id, size, status (TP / FN / FP), IoU, Dice.

        Args:
            physical: sizes in physical units (voxel count times the product of the spacing) instead of voxels.
        """
        scale = self.voxel_volume if physical else 1
        out: list[dict[str, Any]] = []
        for side, miss in (("reference", "FN"), ("prediction", "FP")):
            pre = "ref" if side == "reference" else "pred"
            img, cls, ids, size, ok, iou, dice = (getattr(self, f"{pre}_{f}") for f in
                                                 ("image", "cls", "id", "size", "matched", "iou", "dice"))
            for i in range(img.size):
                out.append({"image": int(img[i]), "class": int(cls[i]), "side": side, "id": int(ids[i]),
                            "size": float(size[i]) * scale, "status": "TP" if ok[i] else miss,
                            "iou": float(iou[i]), "dice": float(dice[i])})
        return out

    # ---- scores ---------------------------------------------------------------------------------------------------
    def precision(self, *, average: str = "macro", per_image: bool = False) -> Tensor:
        """Object precision ``tp_pred / n_pred``; 0 on a miss (no prediction, some reference), NaN if both empty.

        Args:
            average: ``"macro"``, ``"micro"``, ``"weighted"`` (by reference objects) or ``"none"`` over classes.
            per_image: score each image then average (True), or pool the counts of the batch (False).
        """
        def score(c: dict[str, Tensor]) -> Tensor:
            return _ratio(c["tp_pred"], c["n_pred"], c["n_pred"] + c["n_ref"] > 0)
        return _reduce(self.counts(), score, average, per_image)

    def recall(self, *, average: str = "macro", per_image: bool = False) -> Tensor:
        """Object recall (detection rate) ``tp_ref / n_ref``; 0 on a false alarm, NaN if both empty.

        Args:
            average: as :meth:`precision`.
            per_image: as :meth:`precision`.
        """
        def score(c: dict[str, Tensor]) -> Tensor:
            return _ratio(c["tp_ref"], c["n_ref"], c["n_pred"] + c["n_ref"] > 0)
        return _reduce(self.counts(), score, average, per_image)

    def f1(self, *, average: str = "macro", per_image: bool = False) -> Tensor:
        """Object F1 ``2PR / (P + R)``, i.e. ``2 TP / (2 TP + FP + FN)`` under one-to-one rules; NaN if both empty.

        Args:
            average: as :meth:`precision`.
            per_image: as :meth:`precision`.
        """
        def score(c: dict[str, Tensor]) -> Tensor:
            defined = c["n_pred"] + c["n_ref"] > 0
            p = _ratio(c["tp_pred"], c["n_pred"], defined)
            r = _ratio(c["tp_ref"], c["n_ref"], defined)
            return _ratio(2 * p * r, p + r, defined)
        return _reduce(self.counts(), score, average, per_image)

    def panoptic_quality(self, *, average: str = "none", per_image: bool = False) -> PanopticQuality:
        """Panoptic quality (Kirillov et al. 2019) ``PQ = SQ x RQ`` per class.

        .. math:: SQ = \\frac{\\sum_{(p, g) \\in TP} IoU(p, g)}{|TP|},\\quad
                  RQ = \\frac{|TP|}{|TP| + \\frac12 |FP| + \\frac12 |FN|}

        SQ is 0 where objects exist but none matched; all three are NaN where neither map has an object.

        Args:
            average: as :meth:`precision`; the default ``"none"`` keeps the class axis (PQ is a per-class score).
            per_image: as :meth:`precision`; ``False`` pools TP, FP, FN and the IoU sums over the batch, as
                torchmetrics and MONAI's default ``mean_batch`` do.
        """
        if self.matching == "overlap":
            raise ValueError("panoptic quality needs a one-to-one matching ('iou' or 'hungarian'), got 'overlap'")
        cnt = self.counts()

        def sq(c: dict[str, Tensor]) -> Tensor:
            return _ratio(c["iou_sum"], c["tp_ref"], c["n_pred"] + c["n_ref"] > 0)

        def rq(c: dict[str, Tensor]) -> Tensor:
            den = c["tp_ref"] + 0.5 * (c["n_pred"] - c["tp_pred"]) + 0.5 * (c["n_ref"] - c["tp_ref"])
            return _ratio(c["tp_ref"], den, den > 0)

        return PanopticQuality(
            _reduce(cnt, lambda c: sq(c) * rq(c), average, per_image),
            _reduce(cnt, sq, average, per_image),
            _reduce(cnt, rq, average, per_image),
        )

    def dsb_score(
        self, *, thresholds: Sequence[float] = DSB_THRESHOLDS, average: str = "macro", per_image: bool = True
    ) -> Tensor:
        """The 2018 Data Science Bowl score: the mean over IoU thresholds of ``TP / (TP + FP + FN)``.

        .. math:: S = \\frac{1}{|T|}\\sum_{t \\in T} \\frac{TP(t)}{TP(t) + FP(t) + FN(t)}

        with a match at threshold ``t`` where ``IoU > t`` (independent of this object's ``matching``). Kaggle scored
        each image, then took the mean over images (``per_image=True``). NaN where neither map has an object.

        Args:
            thresholds: IoU thresholds, each in ``[0.5, 1)`` (so that matching is one-to-one); Kaggle's by default.
            average: as :meth:`precision`.
            per_image: score each image and average (Kaggle), or pool the counts per threshold over the batch.
        """
        ts = np.asarray(list(thresholds), dtype=np.float64)
        if ts.size == 0 or not np.all((ts >= 0.5) & (ts < 1)):
            raise ValueError(f"thresholds must be a non-empty list of values in [0.5, 1), got {list(thresholds)}")
        cnt = self.counts()
        img, cls = self.ref_image[self.pair_ref], self.ref_cls[self.pair_ref]
        tp = torch.stack([self._count(img, cls, (self.pair_iou > t).astype(np.float64)) for t in ts], -1)
        cnt = {"n_ref": cnt["n_ref"], "n_pred": cnt["n_pred"], "tp": tp}

        def score(c: dict[str, Tensor]) -> Tensor:
            den = c["n_ref"][..., None] + c["n_pred"][..., None] - c["tp"]
            return _ratio(c["tp"], den, den > 0).mean(-1)

        return _reduce(cnt, score, average, per_image)

    def aggregated_jaccard_index(self, *, average: str = "macro", per_image: bool = True) -> Tensor:
        """Aggregated Jaccard index (Kumar et al. 2017).

        .. math:: AJI = \\frac{\\sum_i |G_i \\cap S_{j(i)}|}{\\sum_i |G_i \\cup S_{j(i)}| + \\sum_{k \\in U} |S_k|},
                  \\quad j(i) = \\arg\\max_j IoU(G_i, S_j)

        over reference objects :math:`G_i`; :math:`U` holds the predicted objects chosen by no reference. A reference
        that overlaps no prediction adds :math:`|G_i|` to the denominator (HoVer-Net's ``get_fast_aji``). Ties of the
        best IoU go to the larger overlap, then the lower prediction index. NaN where neither map has an object.

        Args:
            average: as :meth:`precision`.
            per_image: score each image and average (as Kumar et al.), or pool numerator and denominator.
        """
        best = np.full(self.ref_size.size, -1, np.int64)
        if self.pair_ref.size:
            order = np.lexsort((self.pair_pred, -self.pair_inter, -self.pair_iou, self.pair_ref))
            first = np.ones(order.size, bool)
            first[1:] = self.pair_ref[order][1:] != self.pair_ref[order][:-1]
            best[self.pair_ref[order[first]]] = order[first]
        has = best >= 0
        bp = best[has]
        inter = np.zeros(self.ref_size.size)
        union = self.ref_size.astype(np.float64).copy()
        inter[has] = self.pair_inter[bp]
        union[has] += self.pred_size[self.pair_pred[bp]] - self.pair_inter[bp]
        used = np.zeros(self.pred_size.size, bool)
        used[self.pair_pred[bp]] = True
        cnt = {
            "num": self._count(self.ref_image, self.ref_cls, inter),
            "den": self._count(self.ref_image, self.ref_cls, union)
            + self._count(self.pred_image, self.pred_cls, np.where(used, 0.0, self.pred_size)),
            "n_ref": self._count(self.ref_image, self.ref_cls),
        }
        return _reduce(cnt, lambda c: _ratio(c["num"], c["den"], c["den"] > 0), average, per_image)

    def recall_by_size(self, bins: Sequence[float], *, physical: bool = False) -> tuple[Tensor, Tensor]:
        """Object recall per size bin of the reference objects, pooled over the batch and the classes.

        Bin ``i`` holds the references with ``bins[i] <= size < bins[i + 1]`` (``inf`` may close the last one).

        Args:
            bins: increasing bin edges, in voxels, or in physical units (voxel volume) with ``physical=True``.
            physical: sizes in physical units (the product of the spacing per voxel).

        Returns:
            (recall per bin, NaN for a bin without references; number of references per bin).
        """
        edges = np.asarray(list(bins), dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
            raise ValueError(f"bins must be at least two strictly increasing edges, got {list(bins)}")
        size = self.ref_size * (self.voxel_volume if physical else 1.0)
        which = np.searchsorted(edges, size, side="right") - 1
        inside = (which >= 0) & (which < edges.size - 1)
        n = np.bincount(which[inside], minlength=edges.size - 1).astype(np.float64)
        tp = np.bincount(which[inside], weights=self.ref_matched[inside], minlength=edges.size - 1)
        rec = np.where(n > 0, tp / np.maximum(n, 1), np.nan)
        return torch.from_numpy(rec), torch.from_numpy(n)


def _check_instances(x: Any, name: str) -> NDArray[Any]:
    t = as_tensor(x, name)
    if t.dtype.is_floating_point or t.dtype.is_complex:
        raise TypeError(f"{name} must be an integer label map, got {t.dtype}")
    arr = t.detach().cpu().numpy()
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.size and int(arr.min()) < 0:
        raise ValueError(f"{name} must hold non-negative ids (0 = background), got minimum {int(arr.min())}")
    return arr


def _check_threshold(matching: str, threshold: float) -> float:
    if matching not in _MATCHINGS:
        raise ValueError(f"matching must be one of {_MATCHINGS}, got {matching!r}")
    thr = float(threshold)
    if not 0 <= thr < 1:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
    if matching == "iou" and thr < 0.5:
        raise ValueError(f"matching='iou' is one-to-one only for threshold >= 0.5, got {thr}; use 'hungarian'")
    return thr


def match_objects(
    pred: Any,
    target: Any,
    *,
    instances: bool | str = False,
    pred_classes: Any = None,
    target_classes: Any = None,
    num_classes: int | None = None,
    connectivity: int | None = None,
    matching: str = "iou",
    threshold: float = 0.5,
    spacing: float | Sequence[float] | None = None,
) -> ObjectMatches:
    """Find the objects of prediction and reference and match them; every object score reads the result.

    .. math:: IoU(p, g) = \\frac{|p \\cap g|}{|p| + |g| - |p \\cap g|}

    Args:
        pred: predicted label maps ``(N, *spatial)``, 2D or 3D: semantic labels (objects = connected components of
            each foreground class) or, with ``instances=True``, instance ids (0 = background).
        target: reference label maps of the same shape and kind.
        instances: ``True``: ``pred`` and ``target`` are instance label maps; ``"target"``: ``target`` is an
            instance map and ``pred`` a semantic map split into components (a model's output against reference
            instances); ``False``: both are semantic maps.
        pred_classes: with ``instances=True``, the semantic class of each predicted pixel (0 = background); objects
            of class ``c`` are the instance ids restricted to pixels of class ``c`` (MONAI's convention). Without
            class maps every instance is class 1.
        target_classes: the same for the reference.
        num_classes: number of semantic classes, background included (binary input: ``None``).
        connectivity: of the components (semantic input): 4 or 8 in 2D, 6, 18 or 26 in 3D; ``None`` is 8 / 26.
        matching: ``"iou"`` (IoU > threshold >= 0.5), ``"hungarian"`` (optimal one-to-one at any threshold) or
            ``"overlap"`` (any common voxel; lesion detection).
        threshold: the IoU a match must exceed (unused by ``"overlap"``).
        spacing: voxel spacing in the array's axis order; sizes in physical units are voxel counts times its
            product.

    >>> t = np.zeros((1, 6, 6), int); t[0, :2, :2] = 1; t[0, 4:, 4:] = 1
    >>> p = np.zeros((1, 6, 6), int); p[0, :2, :2] = 1
    >>> m = match_objects(p, t)
    >>> m.ref_matched.tolist(), float(m.f1()), float(m.panoptic_quality().pq[0])   # one of two nuclei found
    ([True, False], 0.6666666666666666, 0.6666666666666666)
    """
    thr = _check_threshold(matching, threshold)
    pc: NDArray[Any] | None = None
    tc: NDArray[Any] | None = None
    if instances not in (True, False, "target"):
        raise ValueError(f"instances must be True, False or 'target', got {instances!r}")
    if instances == "target":
        if pred_classes is not None:
            raise ValueError("with instances='target' the prediction is a semantic map: give target_classes only")
        ta = _check_instances(target, "target")
        classes_or_fg = torch.from_numpy(ta != 0) if target_classes is None else target_classes
        lm = check_label_maps(pred, classes_or_fg, num_classes=num_classes, to_long=False)
        pa = lm.pred.cpu().numpy()
        tc = None if target_classes is None else lm.target.cpu().numpy()
        k = lm.num_classes
        if target_classes is None and k > 2:
            raise ValueError(f"a prediction with {k} classes needs target_classes (the class of each reference pixel)")
        if pa.shape != ta.shape:
            raise ValueError(f"pred and target must have the same shape, got {pa.shape} and {ta.shape}")
    elif instances:
        pa, ta = _check_instances(pred, "pred"), _check_instances(target, "target")
        if pa.shape != ta.shape:
            raise ValueError(f"pred and target must have the same shape, got {pa.shape} and {ta.shape}")
        if (pred_classes is None) != (target_classes is None):
            raise ValueError("give class maps for both pred and target (pred_classes, target_classes), or neither")
        k = 2
        if pred_classes is not None:
            lm = check_label_maps(pred_classes, target_classes, num_classes=num_classes, to_long=False)
            pc, tc = lm.pred.cpu().numpy(), lm.target.cpu().numpy()
            if pc.shape != pa.shape:
                raise ValueError(f"class maps must have the instance maps' shape {pa.shape}, got {pc.shape}")
            k = lm.num_classes
    else:
        if pred_classes is not None or target_classes is not None:
            raise ValueError("pred_classes / target_classes go with instances=True")
        lm = check_label_maps(pred, target, num_classes=num_classes, to_long=False)
        pa, ta = lm.pred.cpu().numpy(), lm.target.cpu().numpy()
        k = lm.num_classes
    nd = pa.ndim - 1
    st = structure(nd, connectivity)
    vv = float(np.prod(check_spacing(spacing, nd)))
    acc: dict[str, list[NDArray[Any]]] = {key: [] for key in (
        "ref_image", "ref_cls", "ref_id", "ref_size", "ref_matched", "ref_iou", "ref_dice",
        "pred_image", "pred_cls", "pred_id", "pred_size", "pred_matched", "pred_iou", "pred_dice",
        "pair_ref", "pair_pred", "pair_inter", "pair_iou", "pair_matched")}
    n_ref_total = n_pred_total = 0
    for i in range(pa.shape[0]):
        if instances == "target":
            ps = _side_from_semantic(pa[i], k, st)
            rs = _side_from_instances(ta[i], None if tc is None else tc[i], k)
        elif instances:
            ps = _side_from_instances(pa[i], None if pc is None else pc[i], k)
            rs = _side_from_instances(ta[i], None if tc is None else tc[i], k)
        else:
            ps = _side_from_semantic(pa[i], k, st)
            rs = _side_from_semantic(ta[i], k, st)
        pp, rr, inter = _pairs(ps, rs)
        union = ps.sizes[pp] + rs.sizes[rr] - inter
        iou = inter / np.maximum(union, 1)
        ok = _match(pp, rr, iou, matching, thr)
        dice = 2 * inter / np.maximum(ps.sizes[pp] + rs.sizes[rr], 1)
        for side, s, own in (("ref", rs, rr), ("pred", ps, pp)):
            n = s.sizes.size
            matched = np.zeros(n, bool)
            matched[own[ok]] = True
            best_iou, best_dice = np.zeros(n), np.zeros(n)
            sel = ok if matching != "overlap" else np.ones(own.size, bool)
            np.maximum.at(best_iou, own[sel], iou[sel])
            np.maximum.at(best_dice, own[sel], dice[sel])
            acc[f"{side}_image"].append(np.full(n, i, np.int64))
            acc[f"{side}_cls"].append(s.classes)
            acc[f"{side}_id"].append(s.ids)
            acc[f"{side}_size"].append(s.sizes)
            acc[f"{side}_matched"].append(matched)
            acc[f"{side}_iou"].append(best_iou)
            acc[f"{side}_dice"].append(best_dice)
        acc["pair_ref"].append(rr + n_ref_total)
        acc["pair_pred"].append(pp + n_pred_total)
        acc["pair_inter"].append(inter)
        acc["pair_iou"].append(iou)
        acc["pair_matched"].append(ok)
        n_ref_total += rs.sizes.size
        n_pred_total += ps.sizes.size
    dtypes = {"matched": bool, "iou": np.float64, "dice": np.float64}
    arrays = {}
    for key, parts in acc.items():
        dt = dtypes.get(key.split("_", 1)[1], np.int64)
        arrays[key] = np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)
    return ObjectMatches(
        num_images=int(pa.shape[0]), classes=tuple(range(1, k)), matching=matching, threshold=thr,
        voxel_volume=vv, **arrays,
    )


@document_args(OBJECT_ARGS)
def panoptic_quality(
    pred: Any, target: Any, *, average: str = "none", per_image: bool = False, **kwargs: Any
) -> PanopticQuality:
    """Panoptic quality per class (:func:`match_objects`); default: objects pooled over the batch, per class.

    >>> t = torch.tensor([[[1, 1, 0, 2]]]); p = torch.tensor([[[1, 1, 0, 0]]])
    >>> [round(float(v[0]), 4) for v in panoptic_quality(p, t, instances=True)]   # PQ, SQ, RQ: 1 * 2/3
    [0.6667, 1.0, 0.6667]
    """
    return match_objects(pred, target, **kwargs).panoptic_quality(average=average, per_image=per_image)


@document_args(OBJECT_ARGS)
def object_precision(
    pred: Any, target: Any, *, average: str = "macro", per_image: bool = False, **kwargs: Any
) -> Tensor:
    """Object precision (:meth:`ObjectMatches.precision`); default: object counts pooled over the batch.

    >>> float(object_precision(torch.tensor([[[1, 0, 1]]]), torch.tensor([[[1, 0, 0]]])))
    0.5
    """
    return match_objects(pred, target, **kwargs).precision(average=average, per_image=per_image)


@document_args(OBJECT_ARGS)
def object_recall(pred: Any, target: Any, *, average: str = "macro", per_image: bool = False, **kwargs: Any) -> Tensor:
    """Object recall (:meth:`ObjectMatches.recall`); default: object counts pooled over the batch.

    >>> float(object_recall(torch.tensor([[[1, 0, 0]]]), torch.tensor([[[1, 0, 1]]])))
    0.5
    """
    return match_objects(pred, target, **kwargs).recall(average=average, per_image=per_image)


@document_args(OBJECT_ARGS)
def object_f1(pred: Any, target: Any, *, average: str = "macro", per_image: bool = False, **kwargs: Any) -> Tensor:
    """Object F1 (:meth:`ObjectMatches.f1`); default: object counts pooled over the batch.

    >>> float(object_f1(torch.tensor([[[1, 0, 0]]]), torch.tensor([[[1, 0, 1]]])))
    0.6666666666666666
    """
    return match_objects(pred, target, **kwargs).f1(average=average, per_image=per_image)


@document_args(OBJECT_ARGS)
def dsb_score(pred: Any, target: Any, *, average: str = "macro", per_image: bool = True, **kwargs: Any) -> Tensor:
    """The 2018 Data Science Bowl score (:func:`match_objects`); default: the mean of per-image scores.

    >>> t = torch.zeros(1, 1, 20, dtype=torch.long); t[0, 0, :10] = 1
    >>> p = t.clone(); p[0, 0, 9] = 0            # IoU 0.9: a match at 0.5 ... 0.85, not at 0.9 and 0.95
    >>> float(dsb_score(p, t, instances=True))
    0.8
    """
    return match_objects(pred, target, **kwargs).dsb_score(average=average, per_image=per_image)


@document_args(OBJECT_ARGS)
def aggregated_jaccard_index(
    pred: Any, target: Any, *, average: str = "macro", per_image: bool = True, **kwargs: Any
) -> Tensor:
    """Aggregated Jaccard index (:func:`match_objects`); default: the mean of per-image scores.

    >>> t = torch.tensor([[[1, 1, 1, 1, 0, 0]]]); p = torch.tensor([[[1, 1, 2, 2, 0, 3]]])   # a split, an extra
    >>> float(aggregated_jaccard_index(p, t, instances=True))    # 2 / (4 + 2 + 1)
    0.2857142857142857
    """
    return match_objects(pred, target, **kwargs).aggregated_jaccard_index(average=average, per_image=per_image)


def _pq(pred: Any, target: Any, *, average: str = "none", per_image: bool = False, **kwargs: Any) -> Tensor:
    """Panoptic quality alone (the ``pq`` of :func:`panoptic_quality`), as the catalogue's ``pq`` returns it.

    Args:
        pred: predicted label maps ``(N, *spatial)`` (see :func:`match_objects`).
        target: reference label maps of the same shape.
        average: as :func:`panoptic_quality`.
        per_image: as :func:`panoptic_quality`.
        **kwargs: the object options of :func:`match_objects`.
    """
    return panoptic_quality(pred, target, average=average, per_image=per_image, **kwargs).pq


def scoring_matches(inputs: ScoringInputs) -> ObjectMatches:
    """The object matching of a scoring call, computed once for every object metric: the connected components of
    each foreground class of ``pred`` against those of ``target``, or against the reference ``instances`` (their
    class is ``target`` there). Pixels at ``ignore_index`` are background on both sides.

    Args:
        inputs: the scoring call.
    """

    def make() -> ObjectMatches:
        pred, target, inst = inputs.pred, inputs.target, inputs.instances
        if inputs.ignore_index is not None:
            ignored = target == inputs.ignore_index
            pred, target = pred.masked_fill(ignored, 0), target.masked_fill(ignored, 0)
            inst = None if inst is None else torch.as_tensor(inst).masked_fill(ignored, 0)
        if inst is None:
            return match_objects(pred, target, num_classes=inputs.num_classes, spacing=inputs.spacing)
        return match_objects(pred, inst, instances="target", num_classes=inputs.num_classes, spacing=inputs.spacing,
                             target_classes=None if inputs.num_classes == 2 else target)

    found: ObjectMatches = inputs.shared("object_matches", make)
    return found


def _with_background(values: Tensor) -> Tensor:
    """Foreground values ``(N, C - 1)`` as ``(N, C)`` with a NaN background column."""
    return torch.cat([torch.full_like(values[:, :1], math.nan), values], 1)


def _route(score: Callable[[ObjectMatches], Tensor]) -> Callable[[ScoringInputs], Tensor]:
    def per_image(inputs: ScoringInputs) -> Tensor:
        return _with_background(score(scoring_matches(inputs)).double())

    return per_image


def _register(name: str, function: Callable[..., Tensor], description: str,
              score: Callable[[ObjectMatches], Tensor], **kw: Any) -> None:
    register_metric(MetricEntry(name, function, "object", True, kw.pop("average", "macro"), description,
                                _route(score), background=False, **kw))


_register("dsb_score", dsb_score, "2018 Data Science Bowl score: mean over IoU > 0.5 .. 0.95 of TP / (TP + FP + FN) "
          "of objects (components, or reference instances)",
          lambda m: m.dsb_score(average="none", per_image=True), label="DSB")
_register("pq", _pq, "panoptic quality SQ x RQ = sum IoU / (TP + FP/2 + FN/2), objects matched at IoU > 0.5",
          lambda m: m.panoptic_quality(average="none", per_image=True).pq, aliases=("panoptic_quality",),
          label="PQ", average="none")
_register("object_f1", object_f1, "object F1 2 TP / (2 TP + FP + FN), objects matched at IoU > 0.5",
          lambda m: m.f1(average="none", per_image=True), label="obj_F1")
_register("aji", aggregated_jaccard_index, "aggregated Jaccard index sum |G_i n S_j(i)| / (sum |G_i u S_j(i)| + "
          "sum unused |S_k|)", lambda m: m.aggregated_jaccard_index(average="none", per_image=True), label="AJI",
          aliases=("aggregated_jaccard_index",))
_register("object_precision", object_precision, "object precision: matched / predicted objects (IoU > 0.5)",
          lambda m: m.precision(average="none", per_image=True), label="obj_P", default=False)
_register("object_recall", object_recall, "object recall (detection rate): matched / reference objects (IoU > 0.5)",
          lambda m: m.recall(average="none", per_image=True), label="obj_R", default=False)
