"""The target forms users bring, for every registered loss: integer and bool one-hot of the prediction's shape
(MONAI's ``to_onehot_y``), ``(N, 1, *spatial)`` label maps, float one-hot; every other form an error that says what
was got and what to pass. And ``include_background`` in multilabel mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segbench import losses

NAMES = losses.names()
BACKGROUND = [n for n in NAMES if losses.get(n).accepts("include_background")]


def _labels(seed: int = 0, c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, c, 6, 7, generator=g), torch.randint(0, c, (2, 6, 7), generator=g)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.int64])
@pytest.mark.parametrize("name", NAMES)
def test_integer_one_hot_is_the_float_one_hot(name: str, dtype: torch.dtype) -> None:
    x, t = _labels()
    onehot = F.one_hot(t, 3).movedim(-1, 1)
    want = losses.get(name)(x, onehot.float())
    torch.testing.assert_close(losses.get(name)(x, onehot.to(dtype)), want)
    # and a one-hot scores as its label map (hard labels: the soft counts are the hard ones)
    torch.testing.assert_close(losses.get(name)(x, t), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_channel_axis_label_map_is_squeezed(name: str, c: int) -> None:
    x, t = _labels(1, c=max(c, 2))
    x = x[:, :c]
    t = t if c > 1 else (t > 0).long()
    for dtype in (torch.int64, torch.uint8):
        torch.testing.assert_close(losses.get(name)(x, t[:, None].to(dtype)), losses.get(name)(x, t))


@pytest.mark.parametrize("name", NAMES)
def test_other_forms_say_what_was_got_and_what_to_pass(name: str) -> None:
    x, t = _labels(2)
    loss = losses.get(name)
    with pytest.raises(TypeError, match=r"\(2, 1, 6, 7\) target with C = 3 classes .* got torch.float32; pass "
                                        r"target.long\(\)"):
        loss(x, t[:, None].float())  # a label map stored as floats
    with pytest.raises(TypeError, match=r"label-map target must be an integer or bool tensor, got torch.float32"):
        loss(x, t.float())
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 6, 7\) \(torch.int64\)"):
        loss(x, t[:, None].expand(2, 2, 6, 7))  # neither a label map nor of the input's shape
    with pytest.raises(ValueError, match=r"dense 0/1 target of the input's shape \(2, 3, 6, 7\).*got shape "
                                         r"\(2, 6, 7\)"):
        losses.get(name, multilabel=True)(x, t)
    with pytest.raises(ValueError, match=r"dense target must hold values in \[0, 1\], got \[0, 2\]"):
        loss(x, F.one_hot(t, 3).movedim(-1, 1) * 2)
    with pytest.raises(ValueError, match="ignore_index applies to integer label-map targets"):
        losses.get(name, ignore_index=0)(x, F.one_hot(t, 3).movedim(-1, 1))


@pytest.mark.parametrize("name", BACKGROUND)
def test_multilabel_include_background_drops_channel_0(name: str) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 6, 7, generator=g, requires_grad=True)
    y = (torch.rand(2, 3, 6, 7, generator=g) < 0.4).float()
    dropped = losses.get(name, multilabel=True, include_background=False)(x, y)
    torch.testing.assert_close(dropped, losses.get(name, multilabel=True)(x[:, 1:], y[:, 1:]))
    assert not torch.allclose(dropped, losses.get(name, multilabel=True)(x, y))
    (grad,) = torch.autograd.grad(dropped, x)
    assert grad[:, 0].abs().max() == 0 and grad[:, 1:].abs().max() > 0
    with pytest.raises(ValueError, match="leaves no channel to score"):
        losses.get(name, multilabel=True, include_background=False)(x[:, :1], y[:, :1])


@pytest.mark.parametrize("name", BACKGROUND)
def test_binary_include_background_scores_the_foreground(name: str) -> None:
    """One channel is the foreground: include_background=False has nothing to drop (documented), same value."""
    x, t = _labels(4, c=2)
    x, t = x[:, :1], t
    torch.testing.assert_close(losses.get(name, include_background=False)(x, t), losses.get(name)(x, t))
