"""The U-Net: output shapes, any input size, deterministic init, argument checks, the registry."""

from __future__ import annotations

import pytest
import torch

from segbench.models import UNet, available_models, build_model


@pytest.mark.parametrize(("width", "depth", "size"), [(4, 2, (32, 48)), (8, 3, (64, 64)), (4, 4, (16, 16))])
def test_output_shape(width: int, depth: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = UNet(3, 5, width=width, depth=depth)
    assert model(torch.rand(2, 3, *size)).shape == (2, 5, *size)


@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("up", ["transpose", "bilinear"])
def test_sizes_not_divisible_are_padded_and_cropped(norm: str, up: str) -> None:
    torch.manual_seed(0)
    model = UNet(1, 2, width=4, depth=3, norm=norm, up=up)
    assert model(torch.rand(2, 1, 13, 21)).shape == (2, 2, 13, 21)


def test_odd_sizes_are_zero_padded_bottom_right_then_cropped() -> None:
    torch.manual_seed(0)
    model = UNet(1, 1, width=4, depth=2).eval()
    x = torch.rand(1, 1, 15, 13)
    expected = model(torch.nn.functional.pad(x, (0, 3, 0, 1)))[..., :15, :13]
    torch.testing.assert_close(model(x), expected)


def test_init_is_deterministic_given_the_seed() -> None:
    torch.manual_seed(123)
    a = UNet(1, 2, width=4, depth=2)
    torch.manual_seed(123)
    b = UNet(1, 2, width=4, depth=2)
    torch.manual_seed(124)
    c = UNet(1, 2, width=4, depth=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_width_and_depth_set_the_channels() -> None:
    model = UNet(1, 1, width=6, depth=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(m.out_channels for m in convs) == 6 * 2**3
    assert model.head.out_channels == 1 and model.head.in_channels == 6


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = UNet(1, 2, width=4, depth=2)
    model(torch.rand(2, 1, 16, 16)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0, "out_channels": 1}, "in_channels must be a positive int"),
        ({"in_channels": 1, "out_channels": 1, "depth": 0}, "depth must be an int in"),
        ({"in_channels": 1, "out_channels": 1, "norm": "layer"}, "norm must be one of"),
        ({"in_channels": 1, "out_channels": 1, "up": "pixelshuffle"}, "up must be one of"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UNet(**kwargs)


def test_wrong_input_channels_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected input \(N, 3, H, W\), got shape \(1, 1, 8, 8\)"):
        UNet(3, 1, width=4, depth=1)(torch.zeros(1, 1, 8, 8))


def test_registry() -> None:
    assert available_models() == ["unet"]
    assert isinstance(build_model("UNet", in_channels=1, out_channels=1, width=4), UNet)
    with pytest.raises(ValueError, match="unknown model 'resnet'; expected one of"):
        build_model("resnet")
