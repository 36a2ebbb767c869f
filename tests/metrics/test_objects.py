"""Object metrics (segbench.metrics.objects): hand-built cases derived from the published definitions, the peers
(MONAI ``PanopticQualityMetric``, torchmetrics ``PanopticQuality``) where the definitions match and a test for each
place where they differ, hypothesis properties, and the real DSB 2018 nuclei."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from segbench.metrics import objects as O

SETTINGS = settings(max_examples=40, deadline=None)


def blobs(rng: np.random.Generator, shape: tuple[int, ...], n: int, rmax: float = 6.0) -> np.ndarray:
    """An instance map of ``n`` random balls (later ones painted over earlier ones: touching and cut objects)."""
    out = np.zeros(shape, np.int64)
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    for k in range(1, n + 1):
        c = [rng.uniform(0, s) for s in shape]
        r = rng.uniform(1.5, rmax)
        out[sum((g - ci) ** 2 for g, ci in zip(grids, c, strict=True)) < r * r] = k
    return out


def perturb(rng: np.random.Generator, inst: np.ndarray, n_new: int = 3) -> np.ndarray:
    """A prediction from a reference: shifted, some objects dropped, some eroded or dilated, some new ones."""
    shift = tuple(int(s) for s in rng.integers(-1, 2, inst.ndim))
    pred = np.roll(inst, shift, axis=tuple(range(inst.ndim)))
    ids = np.unique(pred[pred > 0])
    out = np.zeros_like(pred)
    for i in ids:
        m = pred == i
        u = rng.uniform()
        if u < 0.15:
            continue
        if u < 0.35:
            m = ndimage.binary_erosion(m)
        elif u < 0.5:
            m = ndimage.binary_dilation(m) & (pred == 0) | m
        out[m & (out == 0)] = i * 7 + 3  # non-contiguous ids
    extra = blobs(rng, inst.shape, n_new, 3.0)
    out[(extra > 0) & (out == 0)] = extra[(extra > 0) & (out == 0)] + 1000
    return out


def _strip(*segments: tuple[int, int, int], length: int = 40) -> np.ndarray:
    """A 1 x length instance map (one image) from (start, stop, id) segments."""
    out = np.zeros((1, 1, length), np.int64)
    for a, b, i in segments:
        out[0, 0, a:b] = i
    return out


# ---- hand-built cases ------------------------------------------------------------------------------------------


def _touching() -> tuple[np.ndarray, np.ndarray]:
    """Two touching 4 x 4 nuclei (reference instances) and their union as one predicted object."""
    ref = np.zeros((1, 6, 10), np.int64)
    ref[0, 1:5, 1:5] = 1
    ref[0, 1:5, 5:9] = 2
    return (ref > 0).astype(np.int64), ref


def test_merged_touching_objects_match_nothing_at_iou_exactly_one_half() -> None:
    pred, ref = _touching()  # IoU(pred, each nucleus) = 16 / 32 = 0.5, and a match needs IoU > 0.5
    m = O.match_objects(pred, ref, instances=True)
    assert m.pair_iou.tolist() == [0.5, 0.5]
    assert not m.pair_matched.any()
    assert float(m.dsb_score()) == 0.0  # TP 0, FP 1, FN 2 at every threshold
    pq = m.panoptic_quality()
    assert (float(pq.pq[0]), float(pq.sq[0]), float(pq.rq[0])) == (0.0, 0.0, 0.0)
    # AJI: each nucleus picks the merged object: C = 16 + 16, U = 32 + 32 (the union is counted twice)
    assert float(m.aggregated_jaccard_index()) == 0.5
    # just below the rule's threshold, the optimal one-to-one matching pairs the object with one nucleus
    h = O.match_objects(pred, ref, instances=True, matching="hungarian", threshold=0.49)
    assert h.pair_matched.sum() == 1
    assert float(h.panoptic_quality().pq[0]) == pytest.approx(0.5 * (1 / (1 + 0.5)))
    # semantic input: the components of the union are the same single object
    assert float(O.dsb_score(pred, (ref > 0).astype(np.int64))) == 1.0


def test_split_object() -> None:
    ref = np.zeros((1, 4, 8), np.int64)
    ref[0] = 1  # one 32-pixel object
    pred = np.zeros_like(ref)
    pred[0, :, :5] = 1  # 20 pixels, IoU 20 / 32 = 0.625
    pred[0, :, 5:] = 2  # 12 pixels, IoU 12 / 32 = 0.375
    m = O.match_objects(pred, ref, instances=True)
    assert m.pair_matched.tolist() == [True, False]
    # a match at 0.5, 0.55, 0.6 (TP 1, FP 1, FN 0: 1/2), none above (TP 0, FP 2, FN 1: 0)
    assert float(m.dsb_score()) == pytest.approx(3 * 0.5 / 10)
    assert float(m.aggregated_jaccard_index()) == pytest.approx(20 / (32 + 12))
    assert float(m.f1()) == pytest.approx(2 / 3)  # P 1/2, R 1
    pq = m.panoptic_quality()
    assert float(pq.pq[0]) == pytest.approx(0.625 * 1 / (1 + 0.5))
    assert m.rows()[0] == {"image": 0, "class": 1, "side": "reference", "id": 1, "size": 32.0, "status": "TP",
                           "iou": 0.625, "dice": pytest.approx(2 * 20 / 52)}
    assert [r["status"] for r in m.rows()] == ["TP", "TP", "FP"]


def test_iou_exactly_one_half_is_not_a_match() -> None:
    ref = np.zeros((1, 4, 4), np.int64)
    ref[0] = 5
    pred = np.zeros_like(ref)
    pred[0, :, :2] = 9  # 8 of 16: IoU exactly 1/2
    assert O.match_objects(pred, ref, instances=True).pair_iou.tolist() == [0.5]
    assert float(O.dsb_score(pred, ref, instances=True)) == 0.0
    assert float(O.panoptic_quality(pred, ref, instances=True).pq[0]) == 0.0
    pred[0, 0, 2] = 9  # 9 of 16: a match at 0.5, 0.55 (0.5625 > 0.55)
    assert float(O.dsb_score(pred, ref, instances=True)) == pytest.approx(2 / 10)


def test_dsb_threshold_equal_to_an_iou_is_not_a_match() -> None:
    ref = _strip((0, 20, 1))
    pred = _strip((0, 11, 1))  # IoU 11 / 20 = 0.55 exactly: a match at 0.5 only
    assert float(O.dsb_score(pred, ref, instances=True)) == pytest.approx(1 / 10)
    assert O.DSB_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_empty_cases() -> None:
    empty = np.zeros((1, 5, 5), np.int64)
    one = empty.copy()
    one[0, 1:3, 1:3] = 1
    both = O.match_objects(empty, empty, instances=True)
    for v in (both.dsb_score(), both.aggregated_jaccard_index(), both.f1(), both.precision(), both.recall(),
              *both.panoptic_quality()):
        assert math.isnan(float(v))
    for pred, ref in ((empty, one), (one, empty)):  # a miss and a false alarm score 0 everywhere
        m = O.match_objects(pred, ref, instances=True)
        for v in (m.dsb_score(), m.aggregated_jaccard_index(), m.f1(), m.precision(), m.recall(),
                  *m.panoptic_quality()):
            assert float(v) == 0.0
    # an undefined image is skipped by the mean over images, a miss is not
    m = O.match_objects(np.concatenate([one, empty, empty]), np.concatenate([one, empty, one]), instances=True)
    assert m.dsb_score(average="none").reshape(-1).tolist() == pytest.approx([1.0, math.nan, 0.0], nan_ok=True)
    assert float(m.dsb_score()) == 0.5


def test_miss_never_beats_a_partial_detection() -> None:
    ref = _strip((0, 10, 1), (20, 30, 2))
    partial = _strip((0, 10, 1))
    none = _strip()
    for name in ("dsb_score", "aggregated_jaccard_index", "object_f1", "object_recall"):
        f = getattr(O, name)
        assert float(f(partial, ref, instances=True)) > float(f(none, ref, instances=True)) == 0.0


def test_overlap_matching_for_lesion_detection() -> None:
    ref = _strip((0, 10, 1), (12, 14, 2), (30, 40, 3))
    pred = _strip((9, 13, 1), (35, 36, 2), (20, 25, 3))  # touches refs 1, 2 and 3 by a voxel or more; one FP
    m = O.match_objects(pred, ref, instances=True, matching="overlap")
    assert m.ref_matched.tolist() == [True, True, True]
    assert m.pred_matched.tolist() == [True, True, False]
    assert float(m.recall()) == 1.0
    assert float(m.precision()) == pytest.approx(2 / 3)
    assert float(m.f1()) == pytest.approx(2 * (2 / 3) / (1 + 2 / 3))
    with pytest.raises(ValueError, match="one-to-one"):
        m.panoptic_quality()


def test_recall_by_size_and_physical_sizes() -> None:
    ref = _strip((0, 2, 1), (5, 9, 2), (12, 20, 3), (25, 40, 4))  # sizes 2, 4, 8, 15
    pred = _strip((0, 2, 1), (12, 20, 2))
    m = O.match_objects(pred, ref, instances=True, spacing=(1.0, 0.5))
    rec, n = m.recall_by_size([0, 3, 10, math.inf])
    assert rec.tolist() == [1.0, 0.5, 0.0] and n.tolist() == [1, 2, 1]
    rec, n = m.recall_by_size([0, 1.5, 5], physical=True)  # physical sizes 1, 2, 4, 7.5: the last is outside
    assert rec.tolist() == [1.0, 0.5] and n.tolist() == [1, 2]
    assert [r["size"] for r in m.rows(physical=True)][:4] == [1.0, 2.0, 4.0, 7.5]
    with pytest.raises(ValueError, match="increasing"):
        m.recall_by_size([3, 1])


def test_connectivity_of_components() -> None:
    diag = np.zeros((1, 4, 4), np.int64)
    diag[0, 0, 0] = diag[0, 1, 1] = 1
    assert O.match_objects(diag, diag).ref_size.tolist() == [2]
    assert O.match_objects(diag, diag, connectivity=4).ref_size.tolist() == [1, 1]
    vol = np.zeros((1, 3, 3, 3), np.int64)
    vol[0, 0, 0, 0] = vol[0, 1, 1, 0] = vol[0, 2, 2, 1] = 1  # an edge neighbour (18) and a corner neighbour (26)
    assert [O.match_objects(vol, vol, connectivity=c).ref_size.size for c in (6, 18, 26)] == [3, 2, 1]
    with pytest.raises(ValueError, match="connectivity in 2D"):
        O.match_objects(diag, diag, connectivity=6)


def test_multiclass_components_never_match_across_classes() -> None:
    ref = np.zeros((1, 4, 8), np.int64)
    ref[0, :, :4] = 1
    ref[0, :, 4:] = 2
    pred = ref.copy()
    pred[0, :, :4] = 2  # class 2 where class 1 is: a FN of class 1 and an FP of class 2
    m = O.match_objects(pred, ref, num_classes=3)
    assert m.classes == (1, 2)
    pq = m.panoptic_quality()
    assert pq.pq.tolist() == [0.0, 0.0]  # class 2's one object is the predicted 4 x 8 block, IoU 1/2
    assert float(O.panoptic_quality(ref, ref, num_classes=3, average="macro").pq) == 1.0


def test_bad_input() -> None:
    x = np.zeros((1, 4, 4), np.int64)
    with pytest.raises(ValueError, match="one-to-one only"):
        O.match_objects(x, x, threshold=0.3)
    with pytest.raises(ValueError, match="matching must be"):
        O.match_objects(x, x, matching="greedy")
    with pytest.raises(TypeError, match="integer"):
        O.match_objects(x.astype(float), x, instances=True)
    with pytest.raises(ValueError, match="non-negative"):
        O.match_objects(x - 1, x, instances=True)
    with pytest.raises(ValueError, match="same shape"):
        O.match_objects(x, x[:, :2], instances=True)
    with pytest.raises(ValueError, match="2D or 3D"):
        O.match_objects(x[:, 0], x[:, 0])
    with pytest.raises(ValueError, match="instances must be"):
        O.match_objects(x, x, instances="pred")
    with pytest.raises(ValueError, match="needs target_classes"):
        O.match_objects(x + 2, x, instances="target", num_classes=3)
    with pytest.raises(ValueError, match="thresholds"):
        O.match_objects(x, x).dsb_score(thresholds=[0.3])


def test_hungarian_maximises_the_number_of_matches() -> None:
    # IoU(r1, p1) = 6/14, IoU(r1, p2) = 3/10, IoU(r2, p1) = 4/16: at threshold 0.2 all three pairs are eligible;
    # the best one-to-one matching has two pairs (r1-p2, r2-p1), not the single best pair r1-p1
    ref = _strip((0, 10, 1), (10, 20, 2))
    pred = _strip((0, 3, 2), (4, 14, 1))
    m = O.match_objects(pred, ref, instances=True, matching="hungarian", threshold=0.2)
    assert int(m.pair_matched.sum()) == 2
    assert float(m.f1()) == 1.0


# ---- AJI against a direct implementation of Kumar et al.'s definition ------------------------------------------


def aji_by_definition(pred: np.ndarray, ref: np.ndarray) -> float:
    """Kumar et al. (2017), Algorithm 1, with per-object masks (HoVer-Net's get_fast_aji conventions)."""
    gs = [ref == g for g in np.unique(ref) if g]
    ss = [pred == s for s in np.unique(pred) if s]
    if not gs and not ss:
        return math.nan
    c = u = 0
    used = set()
    for g in gs:
        ious = [(g & s).sum() / (g | s).sum() for s in ss]
        inters = [(g & s).sum() for s in ss]
        if not ss or max(ious) == 0:
            u += g.sum()
            continue
        j = max(range(len(ss)), key=lambda k: (ious[k], inters[k], -k))
        c += (g & ss[j]).sum()
        u += (g | ss[j]).sum()
        used.add(j)
    u += sum(s.sum() for k, s in enumerate(ss) if k not in used)
    return c / u


@pytest.mark.parametrize("seed", range(6))
def test_aji_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = blobs(rng, (40, 48), 12)
    pred = perturb(rng, ref)
    got = float(O.aggregated_jaccard_index(pred[None], ref[None], instances=True))
    assert got == pytest.approx(aji_by_definition(pred, ref), rel=1e-12)


# ---- MONAI ----------------------------------------------------------------------------------------------------


def _monai_counts(pred: np.ndarray, ref: np.ndarray, thr: float) -> list[float]:
    from monai.metrics import compute_panoptic_quality

    return compute_panoptic_quality(torch.from_numpy(pred), torch.from_numpy(ref), match_iou_threshold=thr,
                                    output_confusion_matrix=True).tolist()


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("thr", [0.5, 0.7])
@pytest.mark.parametrize("seed", range(3))
def test_counts_equal_monai_compute_panoptic_quality(dims: int, thr: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (36, 40) if dims == 2 else (16, 18, 20)
    ref = blobs(rng, shape, 10 if dims == 2 else 8)
    pred = perturb(rng, ref)
    m = O.match_objects(pred[None], ref[None], instances=True, threshold=thr)
    c = m.counts()
    tp, fp, fn, iou_sum = _monai_counts(pred, ref, thr)
    assert (c["tp_ref"].item(), c["n_pred"].item() - c["tp_pred"].item(), c["n_ref"].item() - c["tp_ref"].item()) \
        == (tp, fp, fn)
    assert c["iou_sum"].item() == pytest.approx(iou_sum, rel=1e-6)  # MONAI sums float32 IoUs


def test_equals_monai_metric_per_class_pooled_over_the_batch() -> None:
    from monai.metrics import PanopticQualityMetric

    rng = np.random.default_rng(7)
    n, shape = 3, (32, 36)
    ref_i = np.stack([blobs(rng, shape, 12) for _ in range(n)])
    pred_i = np.stack([perturb(rng, r) for r in ref_i])
    ref_c = np.where(ref_i > 0, 1 + ref_i % 2, 0)
    pred_c = np.where(pred_i > 0, 1 + (pred_i // 7) % 2, 0)
    pred_c[pred_c > 0] = np.where(rng.uniform(size=int((pred_c > 0).sum())) < 0.1, 3 - pred_c[pred_c > 0],
                                  pred_c[pred_c > 0])  # some pixels of the wrong class
    metric = PanopticQualityMetric(num_classes=2, metric_name=("pq", "sq", "rq"))
    y_pred = torch.from_numpy(np.stack([pred_i, pred_c], 1))
    y = torch.from_numpy(np.stack([ref_i, ref_c], 1))
    metric(y_pred, y)
    theirs = [v.double() for v in metric.aggregate()]
    ours = O.panoptic_quality(pred_i, ref_i, instances=True, pred_classes=pred_c, target_classes=ref_c,
                              num_classes=3)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=0), (a, b)  # MONAI adds 1e-6 to every denominator


def test_differs_from_monai_on_empty_classes() -> None:
    """MONAI's 1e-6 smoothing turns "no object in either" into 0; here it is undefined (NaN)."""
    from monai.metrics import compute_panoptic_quality

    empty = torch.zeros(8, 8, dtype=torch.long)
    assert float(compute_panoptic_quality(empty, empty)) == 0.0
    assert math.isnan(float(O.panoptic_quality(empty[None], empty[None], instances=True).pq[0]))


def test_differs_from_monai_hungarian_below_one_half() -> None:
    """MONAI's threshold < 0.5 maximises the IoU sum over ALL pairs, then drops the pairs at or below the threshold;
    here the matching is chosen among the eligible pairs (IoU > threshold) only, most matches first."""
    # IoU(r1, p1) = 12/30 = 0.4, IoU(r1, p2) = 5/20 = 0.25, IoU(r2, p1) = 10/32 = 0.3125, r2 and p2 disjoint
    ref = _strip((0, 20, 1), (20, 40, 2))
    pred = _strip((8, 30, 1), (0, 5, 2))
    tp, fp, fn, _ = _monai_counts(pred[0], ref[0], 0.35)
    assert (tp, fp, fn) == (0, 2, 2)  # MONAI took r1-p2 + r2-p1 (0.5625 > 0.4), then dropped both
    m = O.match_objects(pred, ref, instances=True, matching="hungarian", threshold=0.35)
    assert int(m.pair_matched.sum()) == 1  # r1-p1 (0.4 > 0.35)
    assert float(m.panoptic_quality().pq[0]) == pytest.approx(0.4 * 1 / (1 + 0.5 + 0.5))


# ---- torchmetrics ---------------------------------------------------------------------------------------------


def _torchmetrics_pq(pred_i: np.ndarray, pred_c: np.ndarray, ref_i: np.ndarray, ref_c: np.ndarray,
                     things: set[int], stuffs: set[int], **kw: bool) -> torch.Tensor:
    from torchmetrics.detection import PanopticQuality

    metric = PanopticQuality(things=things, stuffs=stuffs, return_per_class=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric.update(torch.from_numpy(np.stack([pred_c, pred_i], -1)), torch.from_numpy(np.stack([ref_c, ref_i], -1)))
        return metric.compute().double().reshape(-1)


@pytest.mark.parametrize("seed", range(3))
def test_equals_torchmetrics_with_background_as_a_stuff_class(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, shape = 2, (30, 34)
    ref_i = np.stack([blobs(rng, shape, 10) for _ in range(n)])
    pred_i = np.stack([perturb(rng, r) for r in ref_i])
    ref_c = np.where(ref_i > 0, 1 + ref_i % 2, 0)
    pred_c = np.where(pred_i > 0, 1 + (pred_i // 7) % 2, 0)
    theirs = _torchmetrics_pq(pred_i, pred_c, ref_i, ref_c, {1, 2}, {0})[:2]  # things first, then the stuff 0
    ours = O.panoptic_quality(pred_i, ref_i, instances=True, pred_classes=pred_c, target_classes=ref_c,
                              num_classes=3).pq
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=0), (ours, theirs)  # torchmetrics divides in float32


def test_differs_from_torchmetrics_on_empty_classes() -> None:
    """torchmetrics reports 0 for a class with no segment in either input (and skips it in its mean); NaN here."""
    ref_i = np.zeros((1, 6, 6), np.int64)
    ref_i[0, :3, :3] = 1
    ref_c = (ref_i > 0).astype(np.int64)
    theirs = _torchmetrics_pq(ref_i, ref_c, ref_i, ref_c, {1, 2}, {0})[:2]
    assert theirs.tolist() == [1.0, 0.0]
    ours = O.panoptic_quality(ref_i, ref_i, instances=True, pred_classes=ref_c, target_classes=ref_c,
                              num_classes=3).pq
    assert ours[0] == 1.0 and math.isnan(float(ours[1]))


def test_differs_from_torchmetrics_with_background_as_void() -> None:
    """With background left out of things and stuffs (void), torchmetrics drops the void pixels from every union and
    ignores predicted segments lying mostly on void: a false positive on the background costs nothing there."""
    ref_i = np.zeros((1, 10, 10), np.int64)
    ref_i[0, :4, :4] = 1
    pred_i = ref_i.copy()
    pred_i[0, 6:9, 6:9] = 2  # a false alarm on the background
    ref_c, pred_c = (ref_i > 0).astype(np.int64), (pred_i > 0).astype(np.int64)
    theirs = _torchmetrics_pq(pred_i, pred_c, ref_i, ref_c, {1}, set(), allow_unknown_preds_category=True)
    assert theirs.tolist() == [1.0]
    assert float(O.panoptic_quality(pred_i, ref_i, instances=True).pq[0]) == pytest.approx(1 / 1.5)


# ---- properties -------------------------------------------------------------------------------------------------


@st.composite
def instance_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2**31 - 1))
    dims = draw(st.sampled_from([2, 3]))
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(6, 16 if dims == 2 else 9, dims))
    n = draw(st.integers(1, 3))
    ref = np.stack([blobs(rng, shape, int(rng.integers(0, 7)), 4.0) for _ in range(n)])
    pred = np.stack([perturb(rng, r, int(rng.integers(0, 3))) for r in ref])
    return pred, ref


def _scores(pred: np.ndarray, ref: np.ndarray, **kw: object) -> list[float]:
    m = O.match_objects(pred, ref, instances=True, **kw)  # type: ignore[arg-type]
    vals = [m.dsb_score(per_image=False), m.f1(), m.precision(), m.recall(), *m.panoptic_quality(average="macro"),
            m.dsb_score(average="none").reshape(-1), m.f1(average="none", per_image=True).reshape(-1)]
    return [float(x) for v in vals for x in v.reshape(-1)]


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-12)
                                    for x, y in zip(a, b, strict=True))


def _relabel(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    ids = np.unique(x)
    new = rng.permutation(np.arange(1, 10 * ids.size + 2))[: ids.size] * 13
    lut = dict(zip(ids.tolist(), new.tolist(), strict=True))
    lut[0] = 0
    return np.vectorize(lut.__getitem__)(x) if x.size else x


@SETTINGS
@given(instance_pairs(), st.integers(0, 1000), st.sampled_from([("iou", 0.5), ("hungarian", 0.3), ("iou", 0.75)]))
def test_relabelling_instances_changes_nothing(case: tuple[np.ndarray, np.ndarray], seed: int,
                                               rule: tuple[str, float]) -> None:
    pred, ref = case
    rng = np.random.default_rng(seed)
    kw = {"matching": rule[0], "threshold": rule[1]}
    assert _same(_scores(_relabel(rng, pred), _relabel(rng, ref), **kw), _scores(pred, ref, **kw))
    # AJI breaks exact ties by the prediction's index, so only the reference's labels may be permuted freely
    a = O.aggregated_jaccard_index(pred, _relabel(rng, ref), instances=True, average="none")
    b = O.aggregated_jaccard_index(pred, ref, instances=True, average="none")
    assert torch.allclose(a, b, equal_nan=True)


@SETTINGS
@given(instance_pairs())
def test_perfect_prediction_scores_perfectly(case: tuple[np.ndarray, np.ndarray]) -> None:
    _, ref = case
    m = O.match_objects(ref, ref, instances=True)
    present = (ref.reshape(ref.shape[0], -1) > 0).any(1)
    for v in (m.dsb_score(average="none"), m.aggregated_jaccard_index(average="none"),
              m.f1(average="none", per_image=True), m.panoptic_quality(average="none", per_image=True).pq):
        v, has = v.reshape(-1), torch.from_numpy(present)
        assert bool((v[has] == 1).all()) and bool(torch.isnan(v[~has]).all())
    assert bool(m.ref_matched.all()) and bool(m.pred_matched.all())


@SETTINGS
@given(instance_pairs(), st.integers(0, 4), st.integers(0, 4))
def test_translation_invariance(case: tuple[np.ndarray, np.ndarray], a: int, b: int) -> None:
    pred, ref = case
    pad = [(0, 0), (a, 4 - a), (b, 4 - b)] + [(1, 2)] * (ref.ndim - 3)
    assert _same(_scores(np.pad(pred, pad), np.pad(ref, pad)), _scores(pred, ref))
    sem_p, sem_r = (pred > 0).astype(np.int64), (ref > 0).astype(np.int64)
    x = O.match_objects(np.pad(sem_p, pad), np.pad(sem_r, pad)).dsb_score(average="none")
    assert torch.allclose(x, O.match_objects(sem_p, sem_r).dsb_score(average="none"), equal_nan=True)


# ---- real data: DSB 2018 nuclei -------------------------------------------------------------------------------


def _dsb_images(root: Path, count: int) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for folder in sorted((root / "dsb2018-nuclei-subset" / "stage1_train").iterdir())[:count]:
        masks = sorted((folder / "masks").glob("*.png"))
        inst = None
        for k, f in enumerate(masks, start=1):
            m = np.asarray(Image.open(f)) > 0
            inst = np.zeros(m.shape, np.int64) if inst is None else inst
            inst[m] = k
        assert inst is not None
        out.append(inst)
    return out


def test_real_dsb_nuclei(shared_data: Path) -> None:

    images = _dsb_images(shared_data, 8)
    rng = np.random.default_rng(0)
    for inst in images:
        n_masks = int(inst.max())
        # instances given directly: every nucleus is one object, and a perfect prediction scores 1
        m = O.match_objects(inst[None], inst[None], instances=True)
        assert m.ref_size.size == n_masks
        assert float(m.dsb_score()) == 1.0 and float(m.aggregated_jaccard_index()) == 1.0
        # the semantic union, split into components: touching nuclei merge, so fewer objects and a lower score
        sem = (inst > 0).astype(np.int64)
        labels, comps = O.label_components(sem, connectivity=8)
        merged = O.match_objects(labels[None], inst[None], instances=True)
        assert merged.pred_size.size == comps <= n_masks
        assert float(merged.dsb_score()) <= 1.0
        # a perturbed prediction against MONAI
        pred = perturb(rng, inst, 5)
        ours = O.match_objects(pred[None], inst[None], instances=True).counts()
        tp, fp, fn, iou_sum = _monai_counts(pred, inst, 0.5)
        assert (ours["tp_ref"].item(), ours["n_pred"].item() - ours["tp_pred"].item()) == (tp, fp)
        assert ours["n_ref"].item() - ours["tp_ref"].item() == fn
        assert ours["iou_sum"].item() == pytest.approx(iou_sum, rel=1e-6)
        assert float(O.aggregated_jaccard_index(pred[None], inst[None], instances=True)) == pytest.approx(
            aji_by_definition(pred, inst), rel=1e-12)
    # the images whose nuclei touch lose objects to merging
    lost = [int(i.max()) - O.match_objects((i > 0)[None], (i > 0)[None]).ref_size.size for i in images]
    assert any(x > 0 for x in lost)


def kaggle_dsb(pred: np.ndarray, ref: np.ndarray) -> float:
    """The 2018 Data Science Bowl metric as the competition's public reference kernel computes it: intersections by
    ``np.histogram2d`` of the two label images, then per threshold TP = references with a match, FP = predictions
    without one, FN = references without one."""
    n_ref, n_pred = len(np.unique(ref)), len(np.unique(pred))
    _, ref_l = np.unique(ref, return_inverse=True)
    _, pred_l = np.unique(pred, return_inverse=True)
    inter = np.histogram2d(ref_l.ravel(), pred_l.ravel(), bins=(n_ref, n_pred))[0]
    area_r = np.histogram(ref_l, bins=n_ref)[0][:, None]
    area_p = np.histogram(pred_l, bins=n_pred)[0][None, :]
    iou = (inter / (area_r + area_p - inter))[1:, 1:]  # both maps hold background 0 here
    scores = []
    for t in np.round(np.arange(0.5, 1.0, 0.05), 2):  # the kernel's arange, rounded to the decimals it means
        matches = iou > t
        tp = np.sum(matches.sum(1) == 1)
        fp = np.sum(matches.sum(0) == 0)
        fn = np.sum(matches.sum(1) == 0)
        scores.append(tp / (tp + fp + fn))
    return float(np.mean(scores))


def test_dsb_score_equals_the_kaggle_kernel_on_real_nuclei(shared_data: Path) -> None:
    rng = np.random.default_rng(3)
    images = _dsb_images(shared_data, 6)
    preds = [perturb(rng, inst, 4) for inst in images]
    for pred, inst in zip(preds, images, strict=True):
        ours = float(O.dsb_score(pred[None], inst[None], instances=True))
        assert ours == pytest.approx(kaggle_dsb(pred, inst), rel=1e-12)
    # components of a predicted semantic mask, as a model's output would be scored
    inst = images[0]
    sem = ndimage.binary_opening(inst > 0)
    labels, _ = O.label_components(sem)
    ours = float(O.dsb_score(sem[None], inst[None], instances="target"))
    assert ours == pytest.approx(kaggle_dsb(labels, inst), rel=1e-12) and ours < 1


@SETTINGS
@given(instance_pairs(), st.sampled_from([0.1, 0.3, 0.45]))
def test_hungarian_finds_a_maximum_matching(case: tuple[np.ndarray, np.ndarray], thr: float) -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    pred, ref = case
    m = O.match_objects(pred, ref, instances=True, matching="hungarian", threshold=thr)
    ok = m.pair_iou > thr
    graph = csr_matrix((np.ones(int(ok.sum())), (m.pair_ref[ok], m.pair_pred[ok])),
                       shape=(m.ref_size.size, m.pred_size.size))
    best = int(np.sum(maximum_bipartite_matching(graph, perm_type="column") >= 0)) if ok.any() else 0
    assert int(m.pair_matched.sum()) == best
    assert np.all(m.pair_iou[m.pair_matched] > thr)
    assert np.bincount(m.pair_ref[m.pair_matched], minlength=1).max(initial=0) <= 1  # one-to-one
    assert np.bincount(m.pair_pred[m.pair_matched], minlength=1).max(initial=0) <= 1


def test_sparse_paths_agree() -> None:
    """Huge ids (np.unique instead of bincount) and many small objects (np.unique of the pair keys) give the same
    matches as the dense paths."""
    rng = np.random.default_rng(5)
    ref = np.zeros((1, 60, 60), np.int64)
    ref[0, ::2, ::2] = np.arange(1, 901).reshape(30, 30)  # 900 one-pixel objects
    pred = np.zeros_like(ref)
    pred[0, ::2, ::2] = rng.permutation(900).reshape(30, 30) + 1
    pred[0, rng.uniform(size=(60, 60)) < 0.1] = 0
    a = O.match_objects(pred, ref, instances=True)
    b = O.match_objects(pred * 2**40, ref * 2**41 + (ref > 0), instances=True)
    assert all(torch.equal(x, y) for x, y in zip(a.counts().values(), b.counts().values(), strict=True))
    assert np.array_equal(a.pair_iou, b.pair_iou)
    tp, fp, fn, _ = _monai_counts(pred[0], ref[0], 0.5)
    c = a.counts()
    assert (c["tp_ref"].item(), c["n_pred"].item() - c["tp_pred"].item(), c["n_ref"].item() - c["tp_ref"].item()) \
        == (tp, fp, fn)
