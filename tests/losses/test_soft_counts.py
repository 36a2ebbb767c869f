"""soft_counts on label maps (fused gather/scatter with a hand-written backward) against the one-hot formula."""

from __future__ import annotations

import pytest
import torch

from segbench._checks import check_loss_inputs
from segbench.counts import _kernels, soft_counts, soft_counts_reference
from segbench.losses import functional as L


def _reference(x: torch.Tensor, t: torch.Tensor, from_logits: bool, ignore_index: int | None, per_image: bool):
    """tp, fp, fn side by side, ``(N or 1, 3 C)``, by the plain route (soft_counts_reference: a dense one-hot
    target, probabilities masked by the valid pixels, autograd for the gradient)."""
    li = check_loss_inputs(x, t, from_logits=from_logits, ignore_index=ignore_index)
    k = soft_counts_reference(li, per_image=per_image)
    return torch.cat([k.tp, k.fp, k.fn], 1)


def test_reference_counts_equal_hand_sums() -> None:
    """The plain route itself, by hand: 2 images, 2 classes, 3 pixels, one pixel ignored; then pooled; then a soft
    target, where tp = (|p| + |y| - |p - y|) / 2."""
    p = torch.tensor([[[0.7, 0.4, 0.1], [0.3, 0.6, 0.9]], [[0.5, 0.2, 0.8], [0.5, 0.8, 0.2]]], dtype=torch.float64)
    t = torch.tensor([[0, 1, 1], [0, 9, 1]])
    k = soft_counts_reference(check_loss_inputs(p, t, from_logits=False, ignore_index=9))
    # image 0: class 0 holds pixel 0 (p 0.7); class 1 pixels 1, 2 (0.6 + 0.9); |p| = 1.2, 1.8; |y| = 1, 2
    # image 1 (pixel 1 ignored): class 0 pixel 0 (0.5), class 1 pixel 2 (0.2); |p| = 1.3, 0.7; |y| = 1, 1
    assert torch.allclose(k.tp, torch.tensor([[0.7, 1.5], [0.5, 0.2]], dtype=torch.float64))
    assert torch.allclose(k.fp, torch.tensor([[0.5, 0.3], [0.8, 0.5]], dtype=torch.float64))
    assert torch.allclose(k.fn, torch.tensor([[0.3, 0.5], [0.5, 0.8]], dtype=torch.float64))
    pooled = soft_counts_reference(check_loss_inputs(p, t, from_logits=False, ignore_index=9), per_image=False)
    assert torch.allclose(pooled.tp, torch.tensor([[1.2, 1.7]], dtype=torch.float64))
    y = torch.tensor([[[0.5, 1.0, 0.0]]], dtype=torch.float64)  # binary soft target: min(p, y) summed = tp
    q = torch.tensor([[[0.7, 0.4, 0.1]]], dtype=torch.float64)
    soft = soft_counts_reference(check_loss_inputs(q, y, from_logits=False))
    assert torch.allclose(torch.cat(soft[:3], 1), torch.tensor([[0.9, 0.3, 0.6]], dtype=torch.float64))


# The multiclass backward has two routes, by the number of classes (_kernels._TABLE_CLASSES): each runs on 2, 4, 9.
CASES = [
    (c, logits, ign, table)
    for c, tables in ((1, (None,)), (2, (True, False)), (4, (True, False)), (9, (True, False)))
    for table in tables
    for logits in (True, False)
    for ign in (None, 7)
]


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize(("c", "from_logits", "ignore_index", "table"), CASES)
def test_label_map_counts_equal_one_hot_route_with_gradient(
    c: int, from_logits: bool, ignore_index: int | None, table: bool | None, per_image: bool,
    monkeypatch: pytest.MonkeyPatch,
):
    if table is not None:
        monkeypatch.setattr(_kernels, "_TABLE_CLASSES", c if table else c - 1)
    g = torch.Generator().manual_seed(c * 10 + (ignore_index or 0) + from_logits)
    shape = (3, c, 5, 6)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if not from_logits:
        x = x.softmax(1) if c > 1 else x.sigmoid()
    t = torch.randint(0, max(c, 2), (3, 5, 6), generator=g)
    if ignore_index is not None:
        t[torch.rand(t.shape, generator=g) < 0.3] = ignore_index
    x.requires_grad_(True)
    rows = 3 if per_image else 1
    w = torch.rand(rows, 3 * c, generator=g, dtype=torch.float64)  # arbitrary weights on tp, fp, fn

    def ours(inp: torch.Tensor) -> torch.Tensor:
        li = check_loss_inputs(inp, t, from_logits=from_logits, ignore_index=ignore_index)
        k = soft_counts(li, per_image=per_image)
        assert k.tp.shape == (rows, c)
        return (torch.cat([k.tp, k.fp, k.fn], 1) * w).sum()

    def ref(inp: torch.Tensor) -> torch.Tensor:
        return (_reference(inp, t, from_logits, ignore_index, per_image) * w).sum()

    assert torch.allclose(ours(x), ref(x), atol=1e-12)
    (g_ours,) = torch.autograd.grad(ours(x), x)
    (g_ref,) = torch.autograd.grad(ref(x), x)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    if ignore_index is not None:
        ignored = (t == ignore_index).unsqueeze(1).expand_as(g_ours)
        assert bool((g_ours[ignored] == 0).all())
    if from_logits:  # probabilities must stay on the simplex, so gradcheck only the logits
        assert torch.autograd.gradcheck(ours, (x,))


@pytest.mark.parametrize("c", [3, 5])
@pytest.mark.parametrize("ignore_index", [None, 7])
@pytest.mark.parametrize("per_image", [True, False])
def test_softmax_backward_in_chunks_of_images_equals_one_pass(
    c: int, ignore_index: int | None, per_image: bool, monkeypatch: pytest.MonkeyPatch
):
    """The table route builds G for a few whole images at a time (_kernels._G_CHUNK elements) to bound the
    backward's memory: chunks of 1 and 2 of 5 images give the gradient of one pass, bit for bit."""
    g = torch.Generator().manual_seed(c)
    x = torch.randn(5, c, 6, 7, generator=g)
    t = torch.randint(0, c, (5, 6, 7), generator=g)
    if ignore_index is not None:
        t[torch.rand(t.shape, generator=g) < 0.3] = ignore_index
    grads = []
    for chunk in (1 << 30, c * 42, 2 * c * 42):  # everything at once; one image; two images (and a last one)
        monkeypatch.setattr(_kernels, "_G_CHUNK", chunk)
        xi = x.clone().requires_grad_(True)
        L.dice_loss(xi, t, ignore_index=ignore_index, per_image=per_image).backward()
        grads.append(xi.grad)
    assert bool(grads[0].abs().sum() > 0)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


def test_float32_sums_do_not_drift_on_large_images():
    """tp accumulates in float64: on 2^20 pixels it is the float64 sum rounded once, where a float32 running sum
    drifts by several units."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 1024, 1024, generator=g)
    t = torch.randint(0, 2, (1, 1024, 1024), generator=g)
    k = soft_counts(check_loss_inputs(x, t))
    own = x.double().softmax(1).gather(1, t.unsqueeze(1))[:, 0]
    exact = torch.stack([own[t == 0].sum(), own[t == 1].sum()])
    ulp = torch.finfo(torch.float32).eps * exact
    assert bool(((k.tp[0].double() - exact).abs() <= ulp).all())
    running = torch.zeros(2).index_add_(0, t.flatten(), own.float().flatten())  # float32, one after another
    assert float((running.double() - exact).abs().max()) > 10 * float(ulp.max())  # the drift this avoids


def test_binary_float32_sums_do_not_drift_on_large_images():
    """Binary tp sums float32 products in runs of at most 2048 pixels: on 2^20 probabilities near 1 it stays within
    an ulp of the float64 sum, where one batched product over the whole image drifts by many."""
    g = torch.Generator().manual_seed(1)
    x = 8 + 0.01 * torch.randn(1, 1, 1024, 1024, generator=g)
    t = torch.randint(0, 2, (1, 1024, 1024), generator=g)
    k = soft_counts(check_loss_inputs(x, t))
    p = x.sigmoid().flatten()
    exact = (p.double() * t.flatten()).sum()
    ulp = torch.finfo(torch.float32).eps * float(exact)
    assert abs(float(k.tp[0, 0]) - float(exact)) <= ulp
    one_run = torch.mv(p.view(1, -1), t.flatten().float())  # the same product in one run
    assert abs(float(one_run[0]) - float(exact)) > 10 * ulp


def test_autocast_leaves_counts_and_gradient_in_float32():
    """Under bfloat16 autocast (backward inside the region too) counts and gradients match float32 ones."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.randint(0, 4, (2, 16, 16), generator=g)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xi = x.clone().requires_grad_(True)
        k = soft_counts(check_loss_inputs(xi, t))
        value = (k.tp / (k.tp + k.fp + k.fn)).sum()
        value.backward()
        assert xi.grad is not None
        return value.detach(), xi.grad

    plain = run()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = run()
    assert cast[0].dtype == torch.float32 and cast[1].dtype == torch.float32
    assert torch.allclose(plain[0], cast[0], atol=1e-6) and torch.allclose(plain[1], cast[1], atol=1e-6)


def test_non_finite_logits_raise_where_probabilities_are_undefined():
    """Region losses skip the input scan: NaN, or +inf under a softmax, still raises from the sums; a sigmoid of
    +-inf is a defined 0 or 1 and scores like a very large logit."""
    t = torch.tensor([[[0, 1], [1, 0]]])
    for bad in (float("nan"), float("inf")):
        x = torch.zeros(1, 3, 2, 2)
        x[0, 1, 0, 0] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            L.dice_loss(x, t)
    with pytest.raises(ValueError, match="NaN or inf"):
        L.dice_loss(torch.full((1, 1, 2, 2), float("nan")), t)
    xb = torch.tensor([[[[float("inf"), float("-inf")], [float("inf"), float("-inf")]]]])
    big = torch.tensor([[[[100.0, -100.0], [100.0, -100.0]]]])
    assert float(L.dice_loss(xb, t, smooth=0)) == pytest.approx(float(L.dice_loss(big, t, smooth=0)))


@pytest.mark.parametrize("with_valid", [False, True])
def test_label_bins_equal_hand_sums(with_valid: bool):
    from segbench.counts._kernels import _label_bins

    g = torch.Generator().manual_seed(5)
    own = torch.rand(3, 50, generator=g)
    t = torch.randint(0, 4, (3, 50), generator=g)
    valid = (torch.rand(3, 50, generator=g) > 0.3).float() if with_valid else None
    tp, y = _label_bins(own, t, valid, 4)
    v = torch.ones(3, 50) if valid is None else valid
    masked = own * v
    hand_tp = torch.stack([torch.stack([masked[n][t[n] == k].double().sum() for k in range(4)]) for n in range(3)])
    hand_y = torch.stack([torch.stack([v[n][t[n] == k].double().sum() for k in range(4)]) for n in range(3)])
    assert tp.dtype == y.dtype == torch.float64
    assert torch.allclose(tp, hand_tp, atol=1e-12) and torch.allclose(y, hand_y, atol=1e-12)


LOOKUP = ["dice", "jaccard", "tversky", "focal_tversky", "log_cosh_dice", "generalized_dice", "ce"]


@pytest.mark.parametrize("name", LOOKUP)
@pytest.mark.parametrize(("bad", "ignore_index"), [(-1, None), (3, None), (9, None), (4, 255), (-2, 255)])
def test_labels_left_to_the_gather_raise_the_checks_error(name: str, bad: int, ignore_index: int | None):
    """Region losses and CE leave the multiclass label range to PyTorch's lookups on the CPU (soft_counts' gather,
    F.cross_entropy); an out-of-range label still raises check_loss_inputs' ValueError word for word, its range
    taken over the non-ignored pixels."""
    from segbench import losses

    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 4, 5, generator=g)
    t = torch.randint(0, 3, (2, 4, 5), generator=g)
    t[1, 2, 3] = bad
    if ignore_index is not None:
        t[0, 0, :2] = ignore_index
    with pytest.raises(ValueError) as expected:
        check_loss_inputs(x, t, ignore_index=ignore_index)
    assert "labels must lie in [0, 3)" in str(expected.value)
    unchecked = check_loss_inputs(x, t, ignore_index=ignore_index, check_labels=False)
    assert unchecked.labels_unchecked
    with pytest.raises(ValueError) as got:
        losses.get(name, ignore_index=ignore_index)(x, t)
    assert str(got.value) == str(expected.value)


def test_binary_labels_are_checked_on_their_float_copy_or_left_to_the_counts():
    """Checked binary label maps are range-checked once, on the float copy the losses use; left unchecked
    (check_labels=False) no copy is made, and the copy dense_target() makes checks them instead."""
    x = torch.zeros(1, 1, 2, 3)
    t = torch.tensor([[[0, 1, 1], [0, 0, 1]]])
    li = check_loss_inputs(x, t)
    assert not li.labels_unchecked and li.binary_float is not None
    assert torch.equal(li.dense_target(), t[:, None].float())
    lazy = check_loss_inputs(x, t, check_labels=False)
    assert lazy.labels_unchecked and lazy.binary_float is None
    assert torch.equal(lazy.dense_target(), t[:, None].float())
    bad = t.clone()
    bad[0, 1, 1] = 2
    with pytest.raises(ValueError) as expected:
        check_loss_inputs(x, bad)
    with pytest.raises(ValueError) as got:
        check_loss_inputs(x, bad, check_labels=False).dense_target()
    assert str(got.value) == str(expected.value) == "binary (C=1) targets must be 0 or 1, got labels in [0, 2]"


BINARY_BAD = [2, -1, 255, 2**12 + 1, 2**40, -(2**62)]


@pytest.mark.parametrize("name", [*LOOKUP, "bce"])
@pytest.mark.parametrize("hw", [(2, 3), (128, 128), (101, 103)])  # one run; runs of 2048; runs of 1024, padded
@pytest.mark.parametrize("ignore_index", [None, 7])
def test_binary_labels_left_to_the_sums_raise_the_checks_error(
    name: str, hw: tuple[int, int], ignore_index: int | None
):
    """Region losses and BCE leave binary labels to their own computation (the sums' test sum y^2 = sum y, the
    float copy's range): any label outside {0, 1}, small or huge, among many 1s or alone, raises the label check's
    ValueError word for word; ignored pixels (holding ignore_index) do not."""
    from segbench import losses

    g = torch.Generator().manual_seed(hw[0])
    x = torch.randn(2, 1, *hw, generator=g)
    t = torch.ones(2, *hw, dtype=torch.long)  # all 1s: the sums are as large as they get
    if ignore_index is not None:
        t[0, 0, :2] = ignore_index
    loss = losses.get(name, ignore_index=ignore_index)
    assert torch.isfinite(loss(x, t))
    for bad in BINARY_BAD:
        tb = t.clone()
        tb[1, -1, -1] = bad
        with pytest.raises(ValueError) as expected:
            check_loss_inputs(x, tb, ignore_index=ignore_index)
        assert "binary (C=1) targets must be 0 or 1" in str(expected.value)
        with pytest.raises(ValueError) as got:
            loss(x, tb)
        assert str(got.value) == str(expected.value)
    pair = torch.zeros_like(t)  # -1 and 2 together: sum y = 1, as a single 1 would give; sum y^2 = 5
    pair[1, 0, 0], pair[1, -1, -1] = -1, 2
    with pytest.raises(ValueError, match=r"got labels in \[-1, 2\]"):
        loss(x, pair)


@pytest.mark.parametrize(("hw", "runs"), [((5, 6), (30, 30)), ((128, 128), (2048, 16384)),
                                           ((120, 100), (2000, 12000)), ((101, 103), (1024, 11264))])
def test_binary_runs_divide_the_image_or_pad_it(hw: tuple[int, int], runs: tuple[int, int]):
    """The binary sums run over pieces of at most 2048 pixels: the largest divisor of the image in [512, 2048],
    else pieces of 1024 over a padded tail (101 x 103 has no divisor there)."""
    from segbench.counts._kernels import _runs

    assert _runs(hw[0] * hw[1]) == runs


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("hw", [(128, 128), (101, 103)])
@pytest.mark.parametrize(("from_logits", "ignore_index"), [(True, None), (True, 7), (False, None), (False, 7)])
def test_binary_runs_equal_one_hot_route_with_gradient(
    hw: tuple[int, int], per_image: bool, from_logits: bool, ignore_index: int | None, exact: bool
):
    """Binary counts summed over several runs, or over a padded tail, equal the one-hot route with its gradient (the
    padding gets none); with the float32 matmul precision lowered, where a batched product would multiply in
    bfloat16 (exact=False), the sums take elementwise products and stay float32-accurate."""
    g = torch.Generator().manual_seed(hw[1])
    x = torch.randn(2, 1, *hw, generator=g)
    if not from_logits:
        x = x.sigmoid()
    t = torch.randint(0, 2, (2, *hw), generator=g)
    if ignore_index is not None:
        t[torch.rand(t.shape, generator=g) < 0.3] = ignore_index
    x.requires_grad_(True)
    w = torch.rand(2 if per_image else 1, 3, generator=g)

    def ours(inp: torch.Tensor) -> torch.Tensor:
        k = soft_counts(check_loss_inputs(inp, t, from_logits=from_logits, ignore_index=ignore_index,
                                          check_labels=False), per_image=per_image)
        return (torch.cat([k.tp, k.fp, k.fn], 1) * w).sum()

    def ref(inp: torch.Tensor) -> torch.Tensor:
        return (_reference(inp.double(), t, from_logits, ignore_index, per_image) * w.double()).sum()

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest" if exact else "medium")
    try:
        value = ours(x)
        (g_ours,) = torch.autograd.grad(value, x)
    finally:
        torch.set_float32_matmul_precision(before)
    expected = ref(x)
    (g_ref,) = torch.autograd.grad(expected, x)
    assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=2e-6)
    assert g_ours.shape == x.shape and torch.allclose(g_ours, g_ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("c", [1, 3])
def test_backward_twice_with_retained_graph_accumulates(c: int):
    """A second backward through a retained graph gives the gradient again: the backward writes into a new buffer
    and leaves what the forward saved intact."""
    g = torch.Generator().manual_seed(12)
    x0 = torch.randn(2, c, 6, 7, generator=g)
    t = torch.randint(0, max(c, 2), (2, 6, 7), generator=g)
    once = x0.clone().requires_grad_(True)
    L.dice_loss(once, t).backward()
    twice = x0.clone().requires_grad_(True)
    loss = L.dice_loss(twice, t)
    loss.backward(retain_graph=True)
    (2 * loss).backward()  # a different gradient: reusing the buffer would give 2 + 2, not 1 + 2
    assert once.grad is not None and twice.grad is not None
    assert torch.allclose(twice.grad, 3 * once.grad, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_raises_on_nan_and_inf_from_its_value(reduction: str):
    """CE without ignore_index checks its value instead of scanning the logits: NaN or +inf logits raise; a -inf
    logit is a probability of 0, scored like a very negative one unless it is the target's (infinite loss)."""
    t = torch.tensor([[[0, 1], [2, 0]]])
    for bad in (float("nan"), float("inf")):
        x = torch.zeros(1, 3, 2, 2)
        x[0, 1, 0, 0] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            L.cross_entropy_loss(x, t, reduction=reduction)
    x = torch.zeros(1, 3, 2, 2)
    x[0, 1, 0, 0] = float("-inf")  # pixel (0, 0) is labelled 0: class 1 has probability 0 there
    big = x.clone()
    big[0, 1, 0, 0] = -200.0
    assert torch.allclose(L.cross_entropy_loss(x, t, reduction=reduction),
                          L.cross_entropy_loss(big, t, reduction=reduction))
    x[0, 0, 0, 0] = float("-inf")  # now the target class's: log 0
    with pytest.raises(ValueError, match="NaN or inf"):
        L.cross_entropy_loss(x, t, reduction=reduction)
    ignored_nan = torch.zeros(1, 3, 2, 2)
    ignored_nan[0, :, 1, 0] = float("nan")  # pixel (1, 0) is labelled 2 and ignored: left out of the value, but
    with pytest.raises(ValueError, match="NaN or inf"):  # not out of the gradient, so the logits are scanned
        L.cross_entropy_loss(ignored_nan, t, ignore_index=2, reduction=reduction)


@pytest.mark.parametrize("name", ["bce", "ce"])
def test_binary_cross_entropy_judges_logits_by_its_value(name: str):
    """Sigmoid BCE (``bce``, and ``ce`` on one channel) of logits is not scanned beforehand, yet every non-finite
    logit still raises: PyTorch's formula max(x, 0) - x y + log(1 + e^-|x|) is NaN or inf at x = +-inf."""
    from segbench import losses

    t = torch.tensor([[[0, 1], [1, 0]]])
    for bad in (float("nan"), float("inf"), float("-inf")):
        for at in ((0, 0), (0, 1)):  # on a 0 label and on a 1 label
            x = torch.zeros(1, 1, 2, 2)
            x[0, 0, at[0], at[1]] = bad
            for reduction in ("mean", "none"):
                with pytest.raises(ValueError, match="NaN or inf"):
                    losses.get(name, reduction=reduction)(x, t)
