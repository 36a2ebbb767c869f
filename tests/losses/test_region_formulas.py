"""The region losses' hand-written gradients (counting, formula and reduction in one autograd node) against
autograd through the textbook formulas on one-hot (or soft) counts, over the options that change the formula."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.losses import functional as L

FLOOR = 1e-6  # focal Tversky: linear below this distance from a perfect score (documented)
IGNORE = 9


def _counts(p: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, per_image: bool, soft: bool):
    """tp, fp, fn per (image, class) the textbook way: tp = sum p y for 0/1 labels, (|p| + |y| - |p - y|) / 2 for
    soft ones (the same value for 0/1 labels, but a kink at p = y where the gradients differ)."""
    dims = tuple(range(2, p.ndim))
    p, y = p * valid, y * valid
    ps, ys = p.sum(dims), y.sum(dims)
    tp = (ps + ys - (p - y).abs().sum(dims)) / 2 if soft else (p * y).sum(dims)
    fp, fn = ps - tp, ys - tp
    if not per_image:
        tp, fp, fn = tp.sum(0, keepdim=True), fp.sum(0, keepdim=True), fn.sum(0, keepdim=True)
    return tp, fp.clamp_min(0), fn.clamp_min(0)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.ones_like(den))


def _reference(name: str, kw: dict, p, y, valid, per_image, soft, scored, class_weights, reduction) -> torch.Tensor:
    tp, fp, fn = _counts(p, y, valid, per_image, soft)
    s = kw.get("smooth", 1.0)
    if name == "generalized_dice":
        tp, fp, fn = tp[:, scored], fp[:, scored], fn[:, scored]
        vol = (tp + fn).detach()
        if len(scored) == 1:
            w = torch.ones_like(vol)
        else:
            power = {"square": 2, "simple": 1, "uniform": 0}[kw["weight_type"]]
            present = vol > 0
            raw = torch.where(present, vol.clamp_min(1e-300) ** -power, torch.zeros_like(vol))
            top = raw.amax(1, keepdim=True)
            raw = torch.where(present, raw, top)
            w = torch.where(top > 0, raw, torch.ones_like(raw))
            if class_weights is not None:
                w = w * torch.tensor(class_weights, dtype=w.dtype)[scored]
        w = w / w.sum(1, keepdim=True)
        per = 1 - _ratio(2 * (w * tp).sum(1) + s, (w * (2 * tp + fp + fn)).sum(1) + s)
    else:
        k, a, b = {"dice": (2, 1, 1), "log_cosh_dice": (2, 1, 1), "jaccard": (1, 1, 1)}.get(
            name, (1, kw.get("alpha", 0.3), kw.get("beta", 0.7))
        )
        d = 1 - _ratio(k * tp + s, k * tp + a * fp + b * fn + s)
        if name == "log_cosh_dice":
            d = torch.log(torch.cosh(d))
        elif name == "focal_tversky":
            g = kw["gamma"]
            d = d.clamp_min(0)
            d = d**g if g >= 1 else torch.where(d < FLOOR, d * FLOOR ** (g - 1), d.clamp_min(FLOOR) ** g)
        w = torch.tensor([1.0] * p.shape[1] if class_weights is None else class_weights, dtype=p.dtype)
        w = w[scored] / w[scored].sum()
        per = (d[:, scored] * w).sum(1)
    return per if reduction == "none" else per.sum() if reduction == "sum" else per.mean()


LOSSES = [
    ("dice", {}), ("jaccard", {}), ("tversky", {"alpha": 0.3, "beta": 0.7}), ("tversky", {"alpha": 1.5, "beta": 0.2}),
    ("focal_tversky", {"gamma": 0.5}), ("focal_tversky", {"gamma": 1.0}), ("focal_tversky", {"gamma": 2.0}),
    ("log_cosh_dice", {}), ("generalized_dice", {"weight_type": "square"}),
    ("generalized_dice", {"weight_type": "simple"}), ("generalized_dice", {"weight_type": "uniform"}),
]


@settings(max_examples=200, deadline=None)
@given(
    loss=st.sampled_from(LOSSES),
    c=st.sampled_from([1, 3]),
    target=st.sampled_from(["labels", "ignore", "soft", "perfect", "empty_class"]),
    per_image=st.booleans(),
    include_background=st.booleans(),
    weighted=st.booleans(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    smooth=st.sampled_from([0.0, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_value_and_gradient_equal_autograd_of_the_formula(
    loss, c, target, per_image, include_background, weighted, reduction, smooth, seed
) -> None:
    name, kw = loss
    kw = {**kw, "smooth": smooth}
    g = torch.Generator().manual_seed(seed)
    shape = (3, c, 4, 5)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, max(c, 2), (3, 4, 5), generator=g)
    if target == "empty_class":  # class 1 (the foreground when C = 1) absent from image 0, predicted nowhere there
        labels[0][labels[0] == 1] = 0
    valid = torch.ones(3, 1, 4, 5, dtype=torch.float64)
    y = labels.unsqueeze(1).double() if c == 1 else torch.nn.functional.one_hot(labels, c).movedim(-1, 1).double()
    from_logits = target not in ("perfect", "empty_class")
    if target == "perfect":  # probabilities equal to the target: every score is 1 (0/0 where a class is absent)
        x = y.clone()
    elif target == "empty_class":  # probabilities with exact zeros: 0/0 ratios without smoothing
        x = x.softmax(1) if c > 1 else x.sigmoid()
        x[0, 1 if c > 1 else 0] = 0
        if c > 1:
            x = x / x.sum(1, keepdim=True)
    tgt: torch.Tensor = labels
    if target == "ignore":
        hide = torch.rand(3, 4, 5, generator=g) < 0.3
        tgt = labels.masked_fill(hide, IGNORE)
        valid = (~hide).unsqueeze(1).double()
    elif target == "soft":
        y = torch.rand(shape, generator=g, dtype=torch.float64)
        y = y / y.sum(1, keepdim=True) if c > 1 else y
        tgt = y
    scored = list(range(c)) if include_background or c == 1 else list(range(1, c))
    weights = [1.0, 2.0, 3.5][:c] if weighted and c > 1 else None
    options = {
        "from_logits": from_logits, "per_image": per_image, "include_background": include_background,
        "class_weights": weights, "reduction": reduction, **({"ignore_index": IGNORE} if target == "ignore" else {}),
    }

    def ours(z: torch.Tensor) -> torch.Tensor:
        return getattr(L, f"{name}_loss")(z, tgt, **options, **kw)

    def ref(z: torch.Tensor) -> torch.Tensor:
        p = z if not from_logits else z.softmax(1) if c > 1 else z.sigmoid()
        return _reference(name, kw, p, y, valid, per_image, target == "soft", scored, weights, reduction)

    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    a, b = ours(xa), ref(xb)
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-12), (a, b)
    w = torch.rand(a.shape, generator=g, dtype=a.dtype)  # an arbitrary upstream gradient for "none"
    (ga,) = torch.autograd.grad((a * w).sum(), xa)
    (gb,) = torch.autograd.grad((b * w).sum(), xb)
    assert torch.allclose(ga, gb, atol=1e-10), float((ga - gb).abs().max())


def _graph(node) -> list[str]:
    seen, stack = [], [node]
    while stack:
        n = stack.pop()
        if n is not None and n.name() not in seen:
            seen.append(n.name())
            stack += [f for f, _ in n.next_functions]
    return seen


def test_one_autograd_node_for_a_label_map_loss() -> None:
    """Counting, formula and reduction are one node: from the loss back to the logits there is that node, the
    reshape of the logits, and the logits' own accumulator (autograd's route through the formula took a dozen)."""
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    t = torch.randint(0, 3, (2, 8, 8))
    for fn in (L.dice_loss, L.jaccard_loss, L.tversky_loss, L.generalized_dice_loss, L.focal_tversky_loss):
        for c in (3, 1):
            nodes = _graph(fn(x[:, :c], t.clamp_max(c if c > 1 else 1)).grad_fn)
            assert nodes[0] == "_LabelCountsBackward", nodes
            assert len(nodes) <= 4, nodes  # + the view of the logits (+ the slice here) + AccumulateGrad


def test_second_derivatives_raise_instead_of_dropping_terms() -> None:
    """The written-out gradients are first-order: create_graph=True raises (label maps and soft targets alike)
    rather than give a second derivative without the formula's own terms."""
    import pytest

    from segbench.counts import FIRST_ORDER

    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    for t in (torch.randint(0, 3, (2, 4, 4)), torch.rand(2, 3, 4, 4).softmax(1)):
        with pytest.raises(RuntimeError, match="first-order"):
            torch.autograd.grad(L.dice_loss(x, t), x, create_graph=True)
        (g,) = torch.autograd.grad(L.dice_loss(x, t), x)  # first order still works
        assert bool(torch.isfinite(g).all())
    assert "create_graph" in FIRST_ORDER


def test_one_pooled_binary_count_gives_the_textbook_values() -> None:
    """One channel pooled over the batch (a single count): values and gradients derived by hand, an ignored pixel
    counting nowhere, and 0/0 (nothing predicted, nothing present, smooth 0) a loss of 0 with gradient 0.

    p = (0.8, 0.4, ignored 0.1 | 0.6, 0.0, ignored 0.9), y = (1, 0 | 1, 0):
    tp = 1.4, |p| = 1.8, |y| = 2, fp = 0.4, fn = 0.6."""
    import pytest

    p = torch.tensor([[[[0.8, 0.4, 0.1]]], [[[0.6, 0.0, 0.9]]]], dtype=torch.float64)
    y = torch.tensor([[[1, 0, IGNORE]], [[1, 0, IGNORE]]])
    opts = {"from_logits": False, "ignore_index": IGNORE, "smooth": 0.0, "per_image": False}
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64).view(2, 1, 1, 3)
    hidden = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64).view(2, 1, 1, 3)
    den = 3.8  # |p| + |y|; Dice = 2 tp / den, dD/dp = (2 y den - 2 tp) / den^2
    union = 2.4  # |p| + |y| - tp; Jaccard = tp / union, dJ/dp = (y union - tp (1 - y)) / union^2
    for fn, value, grad_one, grad_zero in (
        (L.dice_loss, 1 - 2.8 / den, -(2 * den - 2.8) / den**2, 2.8 / den**2),
        (L.jaccard_loss, 1 - 1.4 / union, -1 / union, 1.4 / union**2),
    ):
        for reduction in ("mean", "sum", "none"):
            pi = p.clone().requires_grad_(True)
            loss = fn(pi, y, reduction=reduction, **opts)
            assert loss.shape == ((1,) if reduction == "none" else ())
            assert float(loss.detach().sum()) == pytest.approx(value, abs=1e-12)
            (g,) = torch.autograd.grad(loss.sum(), pi)
            expected = (labels * grad_one + (1 - labels) * grad_zero) * (1 - hidden)
            assert torch.allclose(g, expected, atol=1e-12), (g, expected)
    tversky = L.tversky_loss(p, y, alpha=0.3, beta=0.7, **opts)
    assert float(tversky) == pytest.approx(1 - 1.4 / (1.4 + 0.3 * 0.4 + 0.7 * 0.6), abs=1e-12)
    assert float(L.dice_loss(p, y, **{**opts, "smooth": 1.0})) == pytest.approx(1 - 3.8 / 4.8, abs=1e-12)
    empty = torch.zeros(2, 1, 1, 3, dtype=torch.float64, requires_grad=True)
    for fn in (L.dice_loss, L.jaccard_loss, L.tversky_loss):
        loss = fn(empty, torch.zeros(2, 1, 3, dtype=torch.long), **opts)
        (g,) = torch.autograd.grad(loss, empty)
        assert float(loss.detach()) == 0.0 and bool((g == 0).all())
