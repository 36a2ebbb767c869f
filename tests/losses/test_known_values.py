"""Known answers derived by hand on tiny inputs, one per formula (probabilities in, from_logits=False, float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segbench.losses import functional as L
from segbench.losses.lovasz import lovasz_grad

D = torch.float64


def t(x: list) -> torch.Tensor:
    return torch.tensor(x, dtype=D)


def lab(x: list) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.long)


# binary: 4 pixels, p = [0.8, 0.6, 0.3, 0.1], y = [1, 1, 0, 0] -> tp = 1.4, fp = 0.4, fn = 0.6
P = t([[[[0.8, 0.6], [0.3, 0.1]]]])
Y = lab([[[1, 1], [0, 0]]])
TP, FP, FN = 1.4, 0.4, 0.6


def _eq(a: torch.Tensor, b: float) -> None:
    assert float(a) == pytest.approx(b, abs=1e-12), (float(a), b)


def test_region_formulas_by_hand() -> None:
    kw = {"from_logits": False}
    _eq(L.dice_loss(P, Y, smooth=0, **kw), 1 - 2 * TP / (2 * TP + FP + FN))
    _eq(L.dice_loss(P, Y, smooth=1, **kw), 1 - (2 * TP + 1) / (2 * TP + FP + FN + 1))
    _eq(L.jaccard_loss(P, Y, smooth=0, **kw), 1 - TP / (TP + FP + FN))
    _eq(L.jaccard_loss(P, Y, smooth=1, **kw), 1 - (TP + 1) / (TP + FP + FN + 1))
    tv = (TP + 1) / (TP + 0.3 * FP + 0.7 * FN + 1)
    _eq(L.tversky_loss(P, Y, **kw), 1 - tv)
    _eq(L.tversky_loss(P, Y, alpha=0.5, beta=0.5, smooth=0, **kw), float(L.dice_loss(P, Y, smooth=0, **kw)))
    _eq(L.focal_tversky_loss(P, Y, **kw), (1 - tv) ** 0.75)
    _eq(L.log_cosh_dice_loss(P, Y, smooth=0, **kw), math.log(math.cosh(1 - 2 * TP / (2 * TP + FP + FN))))


def test_generalized_dice_by_hand() -> None:
    # 2 classes, 4 pixels; target volumes 3 (class 0) and 1 (class 1); weights 1/9 and 1, normalised
    p = t([[[[0.7, 0.9], [0.6, 0.2]], [[0.3, 0.1], [0.4, 0.8]]]])
    y = lab([[[0, 0], [0, 1]]])
    tp = [0.7 + 0.9 + 0.6, 0.8]
    card = [sum([0.7, 0.9, 0.6, 0.2]) + 3, sum([0.3, 0.1, 0.4, 0.8]) + 1]  # 2tp + fp + fn = |p| + |y|
    w = [1 / 9, 1.0]
    w = [v / sum(w) for v in w]
    expected = 1 - (2 * (w[0] * tp[0] + w[1] * tp[1]) + 1) / (w[0] * card[0] + w[1] * card[1] + 1)
    _eq(L.generalized_dice_loss(p, y, from_logits=False), expected)
    # "simple" weights 1/3 and 1; class 1 absent in image 2 takes the largest weight of the present classes
    w = [1 / 3, 1.0]
    w = [v / sum(w) for v in w]
    exp_simple = 1 - 2 * (w[0] * tp[0] + w[1] * tp[1]) / (w[0] * card[0] + w[1] * card[1])
    _eq(L.generalized_dice_loss(p, y, from_logits=False, weight_type="simple", smooth=0), exp_simple)


def test_pixel_dice_and_jaccard_by_hand() -> None:
    # per pixel (C = 1): min(p, y) and p + y; smooth 1
    terms = [(0.8, 1), (0.6, 1), (0.3, 0), (0.1, 0)]
    dice = sum(1 - (2 * min(p, y) + 1) / (p + y + 1) for p, y in terms) / 4
    jac = sum(1 - (min(p, y) + 1) / (p + y - min(p, y) + 1) for p, y in terms) / 4
    _eq(L.pixel_dice_loss(P, Y, from_logits=False), dice)
    _eq(L.pixel_jaccard_loss(P, Y, from_logits=False), jac)
    # multiclass: sum over the class axis of p_c * y_c = p of the true class; sum of p = 1, of y = 1
    p = t([[[[0.7]], [[0.2]], [[0.1]]]])
    _eq(L.pixel_jaccard_loss(p, lab([[[1]]]), from_logits=False), 1 - (0.2 + 1) / (2 - 0.2 + 1))
    _eq(L.pixel_dice_loss(p, lab([[[1]]]), from_logits=False, include_background=False), 1 - (0.4 + 1) / (0.3 + 1 + 1))


def test_pixelwise_formulas_by_hand() -> None:
    x = t([[[[2.0, -1.0]]]])  # logits, C = 1
    y = lab([[[1, 0]]])
    s = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))]
    bce = [-math.log(s[0]), -math.log(1 - s[1])]
    _eq(L.bce_loss(x, y), sum(bce) / 2)
    _eq(L.bce_loss(x, y, pos_weight=3.0), (3 * bce[0] + bce[1]) / 2)
    _eq(L.cross_entropy_loss(x, y), sum(bce) / 2)  # C == 1: binary cross-entropy
    g = 2.0
    foc = [(1 - s[0]) ** g * bce[0], s[1] ** g * bce[1]]
    _eq(L.focal_loss(x, y), sum(foc) / 2)
    _eq(L.focal_loss(x, y, alpha=0.25), (0.25 * foc[0] + 0.75 * foc[1]) / 2)
    # softmax CE with class weights and label smoothing (PyTorch's definitions)
    z = t([[[[1.0]], [[0.0]], [[-1.0]]], [[[0.0]], [[0.0]], [[3.0]]]])  # two images, one pixel each
    yz = lab([[[0]], [[2]]])
    logp = torch.log_softmax(z, 1)[:, :, 0, 0]
    w = [1.0, 2.0, 4.0]
    nll = [-float(logp[0, 0]), -float(logp[1, 2])]
    _eq(L.cross_entropy_loss(z, yz, class_weights=w), (w[0] * nll[0] + w[2] * nll[1]) / (w[0] + w[2]))
    eps = 0.3
    smooth = [-(float(logp[i].sum())) / 3 for i in range(2)]
    expected = sum((1 - eps) * nll[i] + eps * smooth[i] for i in range(2)) / 2
    _eq(L.cross_entropy_loss(z, yz, label_smoothing=eps), expected)
    pt = [math.exp(-nll[0]), math.exp(-nll[1])]
    _eq(L.focal_loss(z, yz, alpha=0.25), (0.75 * (1 - pt[0]) ** 2 * nll[0] + 0.25 * (1 - pt[1]) ** 2 * nll[1]) / 2)


def test_lovasz_by_hand() -> None:
    # hinge: logits [2, -1, 0.5], labels [1, 0, 0] -> errors [-1, 0, 1.5]; sorted: 1.5 (y=0), 0 (y=0), -1 (y=1)
    # J after pixel 1: 1 - (1 - 0)/(1 + 1) = 0.5 -> the loss is relu(1.5) * 0.5
    _eq(L.lovasz_loss(t([[[[2.0, -1.0, 0.5]]]]), lab([[[1, 0, 0]]])), 0.75)
    g = lovasz_grad(t([1.0, 0.0, 1.0, 0.0]))
    assert g.tolist() == pytest.approx([0.5, 1 / 6, 1 / 3, 0.0])
    # softmax, 2 classes x 2 pixels, labels [1, 0]
    # class 0: fg [0, 1], errors [0.4, 0.3] (sorted as is): J = 1 - 1/2, then 1 - 0/2 -> grad [0.5, 0.5] -> 0.35
    # class 1: fg [1, 0], errors [0.4, 0.3]: J = 1 - 0/1 = 1, then 1 -> grad [1, 0] -> 0.4
    p = t([[[[0.4, 0.7]], [[0.6, 0.3]]]])
    _eq(L.lovasz_loss(p, lab([[[1, 0]]]), from_logits=False), (0.35 + 0.4) / 2)


def test_distance_losses_by_hand() -> None:
    # 1 x 5 image, target [1, 1, 0, 0, 0]: d_y = [2, 1, 1, 2, 3]; phi = [-1, 0, 1, 2, 3]
    y = lab([[[1, 1, 0, 0, 0]]])
    p = t([[[[1.0, 0.5, 0.5, 0.0, 0.25]]]])
    # prediction > 0.5: [1, 0, 0, 0, 0] -> d_p = [1, 1, 2, 3, 4]
    dy, dp = [2, 1, 1, 2, 3], [1, 1, 2, 3, 4]
    err = [0.0, 0.25, 0.25, 0.0, 0.0625]
    expected = sum(e * (a * a + b * b) for e, a, b in zip(err, dy, dp, strict=True)) / 5
    _eq(L.hausdorff_dt_loss(p, y, from_logits=False), expected)
    phi = [-1, 0, 1, 2, 3]
    diff = [0.0, -0.5, 0.5, 0.0, 0.25]
    _eq(L.boundary_loss(p, y, from_logits=False), sum(d * f for d, f in zip(diff, phi, strict=True)) / 5)


def test_cldice_by_hand() -> None:
    # target: a 1-pixel-wide bar of 3 pixels (its own skeleton); prediction: 2 of those pixels (also a skeleton)
    y = torch.zeros(1, 7, 7, dtype=torch.long)
    y[0, 2:5, 3] = 1
    p = torch.zeros(1, 1, 7, 7, dtype=D)
    p[0, 0, 2:4, 3] = 1
    tprec = (2 + 1) / (2 + 1)  # skeleton of p (2 px) all inside y
    tsens = (2 + 1) / (3 + 1)  # skeleton of y (3 px), 2 covered by p
    _eq(L.cldice_loss(p, y, from_logits=False), 1 - 2 * tprec * tsens / (tprec + tsens))


def test_distance_maps_on_threads_equal_one_by_one_and_scipy() -> None:
    """The (image, class) distance maps run on a thread pool; each equals scipy's transforms of its own mask,
    whatever the number of threads."""
    from scipy import ndimage

    from segbench.losses.distance import signed_distance, unsigned_distance

    g = torch.Generator().manual_seed(21)
    masks = torch.rand(3, 2, 9, 11, generator=g) > 0.6
    masks[0, 1] = False  # no boundary: all-zero map
    masks[2, 0] = True
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = unsigned_distance(masks), signed_distance(masks)
        torch.set_num_threads(4)
        many = unsigned_distance(masks), signed_distance(masks)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], many[0]) and torch.equal(one[1], many[1])
    for n in range(3):
        for c in range(2):
            m = masks[n, c].numpy()
            if m.any() and not m.all():
                inside, outside = ndimage.distance_transform_edt(m), ndimage.distance_transform_edt(~m)
                assert np.allclose(many[0][n, c].numpy(), inside + outside)
                assert np.allclose(many[1][n, c].numpy(), outside - (inside - 1) * m)
            else:
                assert not bool(many[0][n, c].any()) and not bool(many[1][n, c].any())
