"""A small 2D or 3D U-Net (Ronneberger et al., 2015; Cicek et al., 2016) in plain PyTorch: the model every bench
run trains.

The architecture is fixed so that runs differ only in the loss: ``depth`` encoder levels, each two
``conv3x3 -> norm -> ReLU`` blocks followed by a 2x2 max-pool; a bottleneck block; ``depth`` decoder
levels, each an upsampling (transposed convolution or bilinear + 1x1 convolution) whose output is
concatenated with the encoder's skip connection and refined by two conv blocks; a 1x1 head to
``out_channels`` logits. Level ``k`` has ``width * 2**k`` channels.

Inputs whose height or width is not divisible by ``2**depth`` are zero-padded (bottom/right) to the next
multiple and the logits cropped back, so every input size works and the output always has the input's
spatial size.

``spatial_dims=3`` builds the same network for volumes ``(N, C, D, H, W)``: every 3x3 convolution becomes
3x3x3, pooling and upsampling act on all three axes (``"bilinear"`` upsampling is then trilinear), and the
2D network's layers, names and parameter order are unchanged (``spatial_dims=2`` is the default).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["batch", "instance", "group", "none"]
Upsampling = Literal["transpose", "bilinear"]
NORMS: tuple[str, ...] = get_args(Norm)
UPSAMPLINGS: tuple[str, ...] = get_args(Upsampling)


def _norm(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """The normalisation layer named ``kind`` for ``channels`` channels of ``dims``-D maps."""
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two ``Conv(3x3, padding=1) -> norm -> ReLU`` layers: ``(N, c_in, *S) -> (N, c_out, *S)`` (2D or 3D)."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, dims: int = 2) -> None:
        bias = norm == "none"
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        super().__init__(
            conv(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Upsample by 2 (``(N, c_in, h, w) -> (N, c_in // 2, 2h, 2w)``), concatenate the skip, ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, mode: str, dims: int = 2) -> None:
        super().__init__()
        self.up: nn.Module
        if mode == "transpose":
            transpose = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
            self.up = transpose(in_channels, in_channels // 2, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear" if dims == 2 else "trilinear", align_corners=False),
                (nn.Conv2d if dims == 2 else nn.Conv3d)(in_channels, in_channels // 2, kernel_size=1),
            )
        self.block = ConvBlock(in_channels // 2 + out_channels, out_channels, norm, dims)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x`` (N, c_in, h, w), ``skip`` (N, c_out, 2h, 2w) -> (N, c_out, 2h, 2w)."""
        return self.block(torch.cat([self.up(x), skip], dim=1))


class UNet(nn.Module):
    """A small U-Net: ``(N, in_channels, H, W)`` images to ``(N, out_channels, H, W)`` logits.

    Args:
        in_channels: image channels (1 for grey, 3 for RGB).
        out_channels: logit channels: 1 for a binary sigmoid model, ``C`` for ``C``-class softmax.
        width: channels of the first level; level ``k`` has ``width * 2**k`` (the bottleneck
            ``width * 2**depth``).
        depth: number of 2x down-samplings. The receptive field grows with it.
        norm: ``"batch"`` (default), ``"instance"``, ``"group"`` (``min(8, c)`` groups) or ``"none"``.
        up: ``"transpose"`` (2x2 transposed convolution, default) or ``"bilinear"`` (+ 1x1 convolution).
        spatial_dims: 2 (images ``(N, C, H, W)``, default) or 3 (volumes ``(N, C, D, H, W)``).

    Spatial sizes not divisible by ``2**depth`` are zero-padded at the bottom/right and the output cropped
    back, so the output always has the input's height and width. Initialisation is PyTorch's default,
    hence identical for identical ``torch.manual_seed``.

    >>> _ = torch.manual_seed(0)
    >>> model = UNet(1, 3, width=4, depth=2)
    >>> model(torch.zeros(2, 1, 30, 17)).shape
    torch.Size([2, 3, 30, 17])
    >>> UNet(1, 2, width=2, depth=2, spatial_dims=3)(torch.zeros(1, 1, 5, 9, 8)).shape
    torch.Size([1, 2, 5, 9, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 16,
        depth: int = 3,
        norm: Norm = "batch",
        up: Upsampling = "transpose",
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3) or isinstance(spatial_dims, bool):
            raise ValueError(f"UNet: spatial_dims must be 2 or 3, got {spatial_dims!r}")
        for label, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"UNet: {label} must be a positive int, got {value!r}")
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 8:
            raise ValueError(f"UNet: depth must be an int in [1, 8], got {depth!r}")
        if norm not in NORMS:
            raise ValueError(f"UNet: norm must be one of {NORMS}, got {norm!r}")
        if up not in UPSAMPLINGS:
            raise ValueError(f"UNet: up must be one of {UPSAMPLINGS}, got {up!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.spatial_dims = spatial_dims
        channels = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for c in channels[:-1]:
            self.down.append(ConvBlock(previous, c, norm, spatial_dims))
            previous = c
        self.bottleneck = ConvBlock(channels[-2], channels[-1], norm, spatial_dims)
        self.up = nn.ModuleList(
            Up(channels[k + 1], channels[k], norm, up, spatial_dims) for k in reversed(range(depth))
        )
        self.head = (nn.Conv2d if spatial_dims == 2 else nn.Conv3d)(channels[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, out_channels, *S)`` for inputs ``(N, in_channels, *S)``: ``S = (H, W)``, or ``(D, H, W)``
        with ``spatial_dims=3`` (any sizes >= 1)."""
        if x.ndim != 2 + self.spatial_dims or x.shape[1] != self.in_channels:
            axes = "H, W" if self.spatial_dims == 2 else "D, H, W"
            raise ValueError(
                f"UNet: expected input (N, {self.in_channels}, {axes}), got shape {tuple(x.shape)}"
            )
        sizes = tuple(x.shape[2:])
        multiple = 2**self.depth
        pads = [(-n) % multiple for n in sizes]
        if any(pads):
            x = F.pad(x, [p for pad in reversed(pads) for p in (0, pad)])
        pool = F.max_pool2d if self.spatial_dims == 2 else F.max_pool3d
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = pool(x, 2)
        x = self.bottleneck(x)
        for up, skip in zip(self.up, reversed(skips), strict=True):
            x = up(x, skip)
        logits: torch.Tensor = self.head(x)
        crop: tuple[Any, ...] = (Ellipsis, *(slice(0, n) for n in sizes))
        return logits[crop]
