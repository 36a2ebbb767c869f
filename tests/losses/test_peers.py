"""Equality with MONAI and kornia where the definitions match, and with Berman et al.'s Lovász reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segbench.losses import functional as L
from segbench.losses.distance import signed_distance

monai_losses = pytest.importorskip("monai.losses")
kornia_losses = pytest.importorskip("kornia.losses")

TOL = 1e-5


def _data(n: int = 2, c: int = 3, shape: tuple[int, ...] = (12, 13), seed: int = 0, all_present: bool = True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, *shape, generator=g, dtype=torch.float64)
    t = torch.randint(0, max(c, 2), (n, *shape), generator=g)
    if all_present:  # every class in every image: kornia averages only present classes
        for i in range(n):
            t[i].view(-1)[: max(c, 2)] = torch.arange(max(c, 2))
    return x, t


def _onehot(t: torch.Tensor, c: int) -> torch.Tensor:
    return F.one_hot(t, c).movedim(-1, 1).double()


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> None:
    assert abs(float(a) - float(b)) < tol, (float(a), float(b))


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_tversky_generalized_dice_equal_monai(batch: bool, include_background: bool, smooth: float) -> None:
    x, t = _data()
    y = t[:, None]
    kw = {"per_image": not batch, "include_background": include_background, "smooth": smooth}
    m = {"softmax": True, "to_onehot_y": True, "batch": batch, "include_background": include_background}
    s = {"smooth_nr": smooth, "smooth_dr": smooth}
    _close(L.dice_loss(x, t, **kw), monai_losses.DiceLoss(**m, **s)(x, y))
    # MONAI's Jaccard is (2 tp + s) / (2 (tp + fp + fn) + s): its smooth counts half of ours
    s2 = {"smooth_nr": 2 * smooth, "smooth_dr": 2 * smooth}
    _close(L.jaccard_loss(x, t, **kw), monai_losses.DiceLoss(**m, **s2, jaccard=True)(x, y))
    monai_tversky = monai_losses.TverskyLoss(alpha=0.3, beta=0.7, **m, **s)
    _close(L.tversky_loss(x, t, alpha=0.3, beta=0.7, **kw), monai_tversky(x, y))
    if smooth == 0.0:  # our GDL weights are normalised, so only the unsmoothed ratios coincide
        _close(L.generalized_dice_loss(x, t, **kw), monai_losses.GeneralizedDiceLoss(**m, **s)(x, y))


def test_binary_dice_equals_monai_sigmoid() -> None:
    x, t = _data(c=1, seed=1)
    for per_image in (True, False):
        ours = L.dice_loss(x, t, per_image=per_image, smooth=1e-5)
        theirs = monai_losses.DiceLoss(sigmoid=True, batch=not per_image)(x, t[:, None].double())
        _close(ours, theirs)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_equals_monai_and_kornia(alpha: float | None) -> None:
    x, t = _data(seed=2)
    c = x.shape[1]
    ours = L.focal_loss(x, t, alpha=alpha, gamma=2.0)
    monai = monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=alpha)(x, t[:, None])
    _close(ours, monai * c)  # MONAI and kornia average over classes too (documented factor C)
    kornia = kornia_losses.focal_loss(x, t, alpha=alpha, gamma=2.0, reduction="mean")
    _close(ours, kornia * c)
    _close(L.focal_loss(x, t, alpha=alpha, reduction="sum"), kornia_losses.focal_loss(x, t, alpha, 2.0, "sum"))
    xb, tb = _data(c=1, seed=3)
    ours_b = L.focal_loss(xb, tb, alpha=alpha, gamma=2.0)
    yb = tb[:, None].double()
    _close(ours_b, monai_losses.FocalLoss(gamma=2.0, alpha=alpha)(xb, yb))
    _close(ours_b, kornia_losses.binary_focal_loss_with_logits(xb, yb, alpha=alpha, gamma=2.0, reduction="mean"))


def test_dice_and_tversky_equal_kornia_macro() -> None:
    x, t = _data(seed=4)
    _close(L.dice_loss(x, t, per_image=True, smooth=0), kornia_losses.dice_loss(x, t, average="macro"))
    for a, b in ((0.3, 0.7), (0.5, 0.5), (1.0, 1.0)):
        ours = L.tversky_loss(x, t, alpha=a, beta=b, per_image=True, smooth=0)
        _close(ours, kornia_losses.tversky_loss(x, t, alpha=a, beta=b))


def test_lovasz_equals_kornia() -> None:
    x, t = _data(seed=5, all_present=False)
    _close(L.lovasz_loss(x, t, per_image=True), kornia_losses.lovasz_softmax_loss(x, t))
    xb, tb = _data(c=1, seed=6)
    _close(L.lovasz_loss(xb, tb, per_image=True), kornia_losses.lovasz_hinge_loss(xb, tb))


@pytest.mark.parametrize("c", [1, 3])
def test_hausdorff_dt_equals_monai(c: int) -> None:
    x, t = _data(c=c, seed=7, shape=(9, 10))
    if c == 1:
        theirs = monai_losses.HausdorffDTLoss(sigmoid=True, include_background=True)(x, t[:, None].double())
    else:
        theirs = monai_losses.HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=True)(x, t[:, None])
    _close(L.hausdorff_dt_loss(x, t), theirs)
    x3, t3 = _data(c=c, seed=8, shape=(4, 5, 6))
    y3 = t3[:, None].double() if c == 1 else t3[:, None]
    flags = {"sigmoid": True} if c == 1 else {"softmax": True, "to_onehot_y": True}
    _close(L.hausdorff_dt_loss(x3, t3), monai_losses.HausdorffDTLoss(include_background=True, **flags)(x3, y3))


@pytest.mark.parametrize("include_background", [True, False])
def test_boundary_equals_monai_up_to_the_target_offset(include_background: bool) -> None:
    x, t = _data(seed=9, shape=(10, 11))
    theirs = monai_losses.BoundaryLoss(softmax=True, to_onehot_y=True, include_background=include_background)(
        x, t[:, None]
    )
    y = _onehot(t, 3)
    phi = signed_distance(y > 0.5).double()
    offset = (y * phi).mean((2, 3))  # per (image, class): the constant we subtract
    if not include_background:
        offset = offset[:, 1:]
    ours = L.boundary_loss(x, t, include_background=include_background)
    _close(ours, theirs - offset.mean())
    # same gradient
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    L.boundary_loss(xa, t, include_background=include_background).backward()
    monai_losses.BoundaryLoss(softmax=True, to_onehot_y=True, include_background=include_background)(
        xb, t[:, None]
    ).backward()
    assert xa.grad is not None and xb.grad is not None
    assert torch.allclose(xa.grad, xb.grad, atol=1e-10)


def test_cldice_equals_monai_binary_per_image() -> None:
    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float64) * 3
    t = torch.zeros(2, 16, 16, dtype=torch.long)
    t[0, 3:13, 7:9] = 1  # a vessel-like bar
    t[1, 8, 2:14] = 1
    t[1, 2:14, 4] = 1
    ours = L.cldice_loss(x, t, per_image=True)
    theirs = monai_losses.SoftclDiceLoss(sigmoid=True, smooth=1e-12)(x, t[:, None].double())
    _close(ours, theirs)
    x3 = torch.randn(1, 1, 6, 8, 8, generator=g, dtype=torch.float64)
    t3 = torch.zeros(1, 6, 8, 8, dtype=torch.long)
    t3[0, 1:5, 3, 3:6] = 1
    theirs3 = monai_losses.SoftclDiceLoss(sigmoid=True, smooth=1e-12)(x3, t3[:, None].double())
    _close(L.cldice_loss(x3, t3, per_image=True), theirs3)


# Berman et al.'s reference (bermanmaxim/LovaszSoftmax pytorch/lovasz_losses.py), transcribed in float64


def _ref_lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def _ref_lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    signs = 2.0 * labels.double() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    grad = _ref_lovasz_grad(labels[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def _ref_lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor, ignore: int | None) -> torch.Tensor:
    values = []
    for log, lab in zip(logits, labels, strict=True):  # per_image=True
        log, lab = log.reshape(-1), lab.reshape(-1)
        if ignore is not None:
            keep = lab != ignore
            log, lab = log[keep], lab[keep]
        values.append(_ref_lovasz_hinge_flat(log, lab))
    return torch.stack(values).mean()


def _ref_lovasz_softmax(
    probas: torch.Tensor, labels: torch.Tensor, ignore: int | None, per_image: bool = False
) -> torch.Tensor:
    if per_image:  # the reference's mean over images of each image's loss
        per = [_ref_lovasz_softmax(p[None], y[None], ignore) for p, y in zip(probas, labels, strict=True)]
        return torch.stack(per).mean()
    c = probas.shape[1]
    probas = probas.permute(0, 2, 3, 1).contiguous().view(-1, c)  # per_image=False, the reference default
    labels = labels.reshape(-1)
    if ignore is not None:
        keep = labels != ignore
        probas, labels = probas[keep], labels[keep]
    losses = []
    for k in range(c):  # classes='all'
        fg = (labels == k).double()
        errors = (fg - probas[:, k]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, _ref_lovasz_grad(fg[perm])))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("ignore", [None, 255])
def test_lovasz_matches_berman_reference_value_and_gradient(ignore: int | None, dtype: torch.dtype) -> None:
    """float64 sorts the floats; float32 sorts their bit patterns as integers (the radix path): both match."""
    x, t = _data(seed=11, all_present=False)
    xb, tb = _data(c=1, seed=12)
    if ignore is not None:
        t[0, :3] = ignore
        tb[1, :, :4] = ignore
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for ours_in, ref_fn, kw in (
        ((x, t), lambda z: _ref_lovasz_softmax(z.softmax(1), t, ignore), {"per_image": False}),
        ((x, t), lambda z: _ref_lovasz_softmax(z.softmax(1), t, ignore, per_image=True), {"per_image": True}),
        ((xb, tb), lambda z: _ref_lovasz_hinge(z[:, 0], tb, ignore), {"per_image": True}),
    ):
        za = ours_in[0].clone().to(dtype).requires_grad_(True)
        zb = ours_in[0].clone().requires_grad_(True)
        a = L.lovasz_loss(za, ours_in[1], ignore_index=ignore, **kw)
        b = ref_fn(zb)
        _close(a, b, tol)
        a.backward()
        b.backward()
        assert za.grad is not None and zb.grad is not None
        assert torch.allclose(za.grad.double(), zb.grad, atol=tol)


def test_generalized_dice_with_one_scored_class_is_dice_and_monai() -> None:
    """One scored class (binary, or two classes without background): the normalised weight is 1, so the GDL is
    the Dice loss; unsmoothed, MONAI's GDL (weight 1/|y|^2 on both sides of one ratio) agrees."""
    x, t = _data(c=1, seed=4)
    for per_image in (True, False):
        gdl = L.generalized_dice_loss(x, t, per_image=per_image, smooth=0)
        theirs = monai_losses.GeneralizedDiceLoss(sigmoid=True, batch=not per_image, smooth_nr=0, smooth_dr=0)
        _close(gdl, theirs(x, t[:, None].double()))
        _close(gdl, L.dice_loss(x, t, per_image=per_image, smooth=0))
        _close(L.generalized_dice_loss(x, t, per_image=per_image), L.dice_loss(x, t, per_image=per_image))
    x2, t2 = _data(c=2, seed=5)
    m = {"softmax": True, "to_onehot_y": True, "include_background": False, "smooth_nr": 0, "smooth_dr": 0}
    _close(L.generalized_dice_loss(x2, t2, include_background=False, smooth=0),
           monai_losses.GeneralizedDiceLoss(batch=True, **m)(x2, t2[:, None]))


def test_monai_style_targets_are_accepted_and_agree() -> None:
    """docs/peers.md: MONAI's own target forms (a uint8 one-hot as ``AsDiscrete(to_onehot=C)`` gives, an
    ``(N, 1, H, W)`` label map) score as the label map, and as MONAI does on them."""
    x, t = _data(seed=13)
    onehot = F.one_hot(t, 3).movedim(-1, 1).to(torch.uint8)
    theirs = monai_losses.DiceLoss(softmax=True, batch=True, smooth_nr=1.0, smooth_dr=1.0)(x, onehot.double())
    for target in (onehot, onehot.bool(), t[:, None], t[:, None].to(torch.uint8)):
        _close(L.dice_loss(x, target), theirs)


def test_multilabel_without_background_equals_monai_sigmoid() -> None:
    """docs/peers.md: MONAI's ``include_background=False`` drops channel 0 under a sigmoid too; so does ours in
    multilabel mode."""
    g = torch.Generator().manual_seed(14)
    x = torch.randn(2, 3, 9, 10, generator=g, dtype=torch.float64)
    y = (torch.rand(2, 3, 9, 10, generator=g) < 0.4).double()
    for batch in (False, True):
        theirs = monai_losses.DiceLoss(sigmoid=True, include_background=False, batch=batch)(x, y)
        ours = L.dice_loss(x, y, multilabel=True, include_background=False, per_image=not batch, smooth=1e-5)
        _close(ours, theirs)


def _smp_dice_loss(x: torch.Tensor, t: torch.Tensor, smooth: float = 0.0, eps: float = 1e-7) -> torch.Tensor:
    """segmentation_models_pytorch's multiclass ``DiceLoss`` (smp/losses/dice.py, from_logits=True, default
    smooth=0, eps=1e-7), transcribed: counts summed over batch and pixels, ``loss *= y_true.sum(dims) > 0``."""
    c = x.shape[1]
    p = x.softmax(1).reshape(x.shape[0], c, -1)
    y = F.one_hot(t.reshape(t.shape[0], -1), c).permute(0, 2, 1).to(p.dtype)
    dims = (0, 2)
    inter = (p * y).sum(dims)
    card = (p + y).sum(dims)
    score = (2 * inter + smooth) / (card + smooth).clamp_min(eps)
    loss = (1 - score) * (y.sum(dims) > 0).to(score.dtype)
    return loss.mean()


def test_smp_zeroes_classes_absent_from_the_target() -> None:
    """docs/peers.md: smp's DiceLoss multiplies each class's loss by ``[class present in the target]``, so
    predicting an absent class costs nothing; ours counts those false positives. Where every class is present the
    two agree (``dice_loss(x, t, smooth=0)``, batch-pooled as smp)."""
    x, t = _data(seed=15)
    _close(L.dice_loss(x, t, smooth=0), _smp_dice_loss(x, t))
    absent = t.clamp_max(1)  # class 2 absent from the target; x still predicts it
    x_wrong = x.clone()
    x_wrong[:, 2] += 5.0  # confidently predict the absent class
    for logits in (x, x_wrong):
        # the absent class: smp's row is zeroed; ours is tp = 0, fp > 0, a Dice loss of exactly 1 (of 3 classes)
        _close(L.dice_loss(logits, absent, smooth=0), _smp_dice_loss(logits, absent) + 1 / 3)
    # so in smp predicting the absent class everywhere costs nothing there; ours is the same 1/3 either way, and
    # the present classes' losses rise with the false positives in both
    assert float(_smp_dice_loss(x_wrong, absent)) > float(_smp_dice_loss(x, absent))
