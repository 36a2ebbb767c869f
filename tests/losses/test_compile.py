"""Every registered loss under ``torch.compile``: with ``validate=False`` one graph (``fullgraph=True``, zero graph
breaks), values and gradients equal to eager's (with its checks on); and in eager mode with ``validate=False`` no
tensor value is read on the host.

The compiled graphs run on the ``aot_eager`` backend (Dynamo's capture and AOTAutograd's joint forward/backward
trace, which is where graph breaks and traced-gradient errors show, without the C++ compile of Inductor);
one Inductor run per route is in the ``slow`` set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from segbench import losses

NAMES = losses.names()


def _case(mode: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Input and target of one target form: a label map with ignored pixels, a binary map, a soft dense target, a
    multilabel one-hot, an integer one-hot, an (N, 1, H, W) label map."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = 2, 3, 6, 7
    t = torch.randint(0, c, (n, h, w), generator=g)
    if mode == "binary":
        return torch.randn(n, 1, h, w, generator=g), (t > 0).long(), {}
    x = torch.randn(n, c, h, w, generator=g)
    if mode == "labels":
        return x, torch.where(torch.rand(n, h, w, generator=g) < 0.2, 255, t), {"ignore_index": 255}
    if mode == "soft":
        return x, torch.softmax(torch.randn(n, c, h, w, generator=g), 1), {}
    if mode == "multilabel":
        return x, (torch.rand(n, c, h, w, generator=g) < 0.4).to(torch.uint8), {"multilabel": True}
    if mode == "onehot_uint8":
        return x, F.one_hot(t, c).movedim(-1, 1).to(torch.uint8), {}
    if mode == "channel_labels":
        return x, t[:, None], {}
    raise AssertionError(mode)


MODES = ["labels", "binary", "soft", "multilabel", "onehot_uint8", "channel_labels"]


class CountingBackend:
    """A Dynamo backend that counts the graphs it is given and runs them through AOTAutograd (``aot_eager``)."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        from torch._dynamo.backends.debugging import aot_eager

        self.graphs += 1
        return aot_eager(gm, example_inputs)


def _value_and_grad(loss: torch.nn.Module, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    value = loss(x, t)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad


def _compiled_equals_eager(eager: torch.nn.Module, unchecked: torch.nn.Module, x: torch.Tensor,
                           t: torch.Tensor, inductor: bool = False) -> int:
    """Compile ``unchecked`` (``fullgraph=True``, which raises on a graph break; Inductor, or the counting
    ``aot_eager`` backend), compare its value and gradient with ``eager``'s to 1e-6, and return how many graphs the
    counting backend was given (-1 for Inductor)."""
    backend = CountingBackend()
    compiled = torch.compile(unchecked, backend="inductor" if inductor else backend, fullgraph=True)
    torch._dynamo.reset()
    try:
        v_eager, g_eager = _value_and_grad(eager, x, t)
        v_comp, g_comp = _value_and_grad(compiled, x, t)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(v_comp, v_eager, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(g_comp, g_eager, atol=1e-6, rtol=1e-6)
    return -1 if inductor else backend.graphs


@pytest.mark.slow  # 90 compilations: about 25 s on one core
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_compiled_fullgraph_equals_eager(name: str, mode: str) -> None:
    x, t, kw = _case(mode)
    graphs = _compiled_equals_eager(losses.get(name, **kw), losses.get(name, validate=False, **kw), x, t)
    assert graphs == 1  # zero graph breaks (fullgraph=True would raise), no recompilation


@pytest.mark.slow
@pytest.mark.parametrize("kw", [{"per_image": True, "reduction": "none"}, {"class_weights": (1.0, 2.0, 3.0)},
                                {"include_background": False}], ids=["per_image", "class_weights", "no_background"])
@pytest.mark.parametrize("name", ["dice", "generalized_dice", "lovasz", "ce", "focal"])
def test_compiled_options(name: str, kw: dict[str, Any]) -> None:
    cls = losses.get(name)
    kw = {k: v for k, v in kw.items() if cls.accepts(k)}
    x, t, base = _case("labels", seed=1)
    assert _compiled_equals_eager(losses.get(name, **base, **kw), losses.get(name, validate=False, **base, **kw),
                                  x, t) == 1


def test_composite_compiles_in_one_graph() -> None:
    """The issue's example: ``0.3*ce + 0.7*dice`` had 6 graph breaks."""
    x, t, _ = _case("labels", seed=2)
    t = t.clamp_max(2)
    unchecked = losses.parse("0.3*ce+0.7*dice", validate=False)
    assert _compiled_equals_eager(losses.parse("0.3*ce+0.7*dice"), unchecked, x, t) == 1
    assert set(unchecked.last_values) == {"ce", "dice"}


def test_validation_on_still_compiles_with_breaks() -> None:
    """With the checks on (the default) a compiled loss still runs, and still refuses bad labels."""
    x, t, _ = _case("labels", seed=3)
    t = t.clamp_max(2)
    explained = torch._dynamo.explain(losses.DiceLoss())(x, t)
    assert explained.graph_break_count > 0  # the checks read values on the host
    torch._dynamo.reset()
    compiled = torch.compile(losses.DiceLoss(), backend="aot_eager")
    try:
        torch.testing.assert_close(compiled(x, t), losses.DiceLoss()(x, t), atol=1e-6, rtol=1e-6)
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
            compiled(x, t + 1)
    finally:
        torch._dynamo.reset()


@contextmanager
def _no_host_reads() -> Iterator[list[str]]:
    """Make every way of reading a tensor's value into Python raise (``item``, ``tolist``, ``bool``, ``float``,
    ``int``, ``torch.equal``, ``torch.allclose``)."""
    reads: list[str] = []
    patched: list[tuple[Any, str, Any]] = []

    def forbid(owner: Any, name: str) -> None:
        original = getattr(owner, name)
        patched.append((owner, name, original))

        def read(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            raise AssertionError(f"{name} read a tensor value on the host")

        setattr(owner, name, read)

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        forbid(torch.Tensor, name)
    for name in ("equal", "allclose"):
        forbid(torch, name)
    try:
        yield reads
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_validate_false_reads_nothing_on_the_host(name: str, mode: str) -> None:
    x, t, kw = _case(mode)
    loss = losses.get(name, validate=False, **kw)
    x.requires_grad_(True)
    with _no_host_reads() as reads:
        value = loss(x, t)
        value.backward()
    assert reads == []
    v_checked = losses.get(name, **kw)(x.detach(), t)
    torch.testing.assert_close(value.detach(), v_checked, atol=1e-6, rtol=1e-6)


def test_the_host_read_guard_catches_the_checks() -> None:
    """The guard above is not vacuous: the default (validating) loss trips it."""
    x, t, _ = _case("labels")
    with _no_host_reads() as reads, pytest.raises(AssertionError, match="read a tensor value"):
        losses.DiceLoss(ignore_index=255)(x, t)
    assert reads


@pytest.mark.slow
@pytest.mark.parametrize("name,mode", [("dice", "labels"), ("dice", "binary"), ("ce", "labels"),
                                       ("hausdorff_dt", "labels"), ("lovasz", "soft")])
def test_inductor_equals_eager(name: str, mode: str) -> None:
    x, t, kw = _case(mode)
    _compiled_equals_eager(losses.get(name, **kw), losses.get(name, validate=False, **kw), x, t, inductor=True)
