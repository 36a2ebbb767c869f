"""3D pieces of issue #21: the U-Net with ``spatial_dims=3`` and sliding-window inference (MONAI as the oracle)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.models.sliding_window import gaussian_importance, sliding_window_inference, window_starts
from segbench.models.unet import UNet


@pytest.mark.parametrize("up", ["transpose", "bilinear"])
@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
def test_unet_3d_keeps_any_volume_size(up: str, norm: str) -> None:
    torch.manual_seed(0)
    model = UNet(1, 3, width=2, depth=2, norm=norm, up=up, spatial_dims=3)  # type: ignore[arg-type]
    x = torch.randn(2, 1, 5, 9, 6, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 3, 5, 9, 6)
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert all(m.weight.ndim == 5 for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def test_unet_2d_default_is_unchanged_and_3d_is_seeded() -> None:
    torch.manual_seed(0)
    two = UNet(1, 2, width=4, depth=2)
    torch.manual_seed(0)
    again = UNet(1, 2, width=4, depth=2, spatial_dims=2)
    assert list(two.state_dict()) == list(again.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(two.state_dict().values(), again.state_dict().values(), strict=True))
    torch.manual_seed(0)
    three = UNet(1, 2, width=4, depth=2, spatial_dims=3)
    torch.manual_seed(0)
    three_again = UNet(1, 2, width=4, depth=2, spatial_dims=3)
    assert list(three.state_dict()) == list(two.state_dict())  # the same layers, names and order
    assert all(torch.equal(a, b) for a, b in zip(three.state_dict().values(), three_again.state_dict().values(),
                                                 strict=True))
    with pytest.raises(ValueError, match=r"expected input \(N, 1, D, H, W\)"):
        three(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"spatial_dims must be 2 or 3"):
        UNet(1, 2, spatial_dims=1)


def _net() -> torch.nn.Module:
    """A non-pointwise predictor: each output voxel sees a 3x3x3 neighbourhood, zero-padded at window borders."""
    torch.manual_seed(0)
    return torch.nn.Conv3d(1, 2, 3, padding=1).eval()


def test_one_window_equals_whole_volume_inference() -> None:
    torch.manual_seed(0)
    model = UNet(1, 2, width=4, depth=2, norm="instance", spatial_dims=3).eval()  # per-window statistics
    x = torch.randn(2, 1, 6, 10, 7)
    with torch.no_grad():
        whole = model(x)
        for gaussian in (True, False):
            windowed = sliding_window_inference(x, (8, 16, 16), model, overlap=0.5, gaussian=gaussian)
            assert torch.equal(windowed, whole)
            exact = sliding_window_inference(x, (6, 10, 7), model, overlap=0.25, gaussian=gaussian)
            assert torch.equal(exact, whole)
        two = sliding_window_inference(x, (6, 10, 4), model, overlap=0.5)  # 2 windows along the last axis
    assert not torch.allclose(two, whole, atol=1e-3)  # a real tiling differs (instance statistics per window)


def test_uniform_windows_match_monai_constant_mode() -> None:
    monai_inferers = pytest.importorskip("monai.inferers")
    model = _net()
    x = torch.randn(1, 1, 11, 19, 13)
    with torch.no_grad():
        ours = sliding_window_inference(x, (4, 8, 8), model, overlap=0.5, gaussian=False, batch=3)
        theirs = monai_inferers.sliding_window_inference(x, (4, 8, 8), 1, model, overlap=0.5, mode="constant")
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours, model(x).detach(), atol=1e-3)  # the windows really differ from one pass


def test_gaussian_windows_close_to_monai_gaussian_mode() -> None:
    monai_inferers = pytest.importorskip("monai.inferers")
    model = _net()
    x = torch.randn(1, 1, 9, 20, 17)
    with torch.no_grad():
        ours = sliding_window_inference(x, (6, 8, 8), model, overlap=0.5, gaussian=True)
        theirs = monai_inferers.sliding_window_inference(x, (6, 8, 8), 1, model, overlap=0.5, mode="gaussian",
                                                         sigma_scale=0.125)
        uniform = sliding_window_inference(x, (6, 8, 8), model, overlap=0.5, gaussian=False)
    # MONAI builds its Gaussian with a discretised (erf) kernel: close to the exact one, not bit-equal
    assert (ours - theirs).abs().max() < 0.25 * (uniform - theirs).abs().max()


def test_gaussian_importance_by_hand() -> None:
    g = gaussian_importance((5,), sigma_scale=0.2)  # sigma = 1, centre 2
    expected = torch.exp(-torch.tensor([4.0, 1.0, 0.0, 1.0, 4.0]) / 2)
    torch.testing.assert_close(g, expected)
    assert float(gaussian_importance((64,)).min()) == pytest.approx(1e-3)  # floored


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 60), patch=st.integers(1, 20), overlap=st.sampled_from([0.0, 0.25, 0.5, 0.75]))
def test_windows_cover_every_voxel_inside_the_axis(size: int, patch: int, overlap: float) -> None:
    starts = window_starts(size, patch, overlap)
    window = min(size, patch)
    covered = set()
    for s in starts:
        assert 0 <= s and s + window <= size
        covered |= set(range(s, s + window))
    assert covered == set(range(size)) and starts == sorted(set(starts))
