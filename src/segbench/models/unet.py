"""A small 2D U-Net (Ronneberger et al., 2015) in plain PyTorch: the model every bench run trains.

The architecture is fixed so that runs differ only in the loss: ``depth`` encoder levels, each two
``conv3x3 -> norm -> ReLU`` blocks followed by a 2x2 max-pool; a bottleneck block; ``depth`` decoder
levels, each an upsampling (transposed convolution or bilinear + 1x1 convolution) whose output is
concatenated with the encoder's skip connection and refined by two conv blocks; a 1x1 head to
``out_channels`` logits. Level ``k`` has ``width * 2**k`` channels.

Inputs whose height or width is not divisible by ``2**depth`` are zero-padded (bottom/right) to the next
multiple and the logits cropped back, so every input size works and the output always has the input's
spatial size.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["batch", "instance", "group", "none"]
Upsampling = Literal["transpose", "bilinear"]
NORMS: tuple[str, ...] = get_args(Norm)
UPSAMPLINGS: tuple[str, ...] = get_args(Upsampling)


def _norm(kind: str, channels: int) -> nn.Module:
    """The normalisation layer named ``kind`` for ``channels`` channels."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two ``Conv2d(3x3, padding=1) -> norm -> ReLU`` layers: ``(N, c_in, H, W) -> (N, c_out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Upsample by 2 (``(N, c_in, h, w) -> (N, c_in // 2, 2h, 2w)``), concatenate the skip, ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, mode: str) -> None:
        super().__init__()
        self.up: nn.Module
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, in_channels // 2, kernel_size=1),
            )
        self.block = ConvBlock(in_channels // 2 + out_channels, out_channels, norm)

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

    Spatial sizes not divisible by ``2**depth`` are zero-padded at the bottom/right and the output cropped
    back, so the output always has the input's height and width. Initialisation is PyTorch's default,
    hence identical for identical ``torch.manual_seed``.

    >>> _ = torch.manual_seed(0)
    >>> model = UNet(1, 3, width=4, depth=2)
    >>> model(torch.zeros(2, 1, 30, 17)).shape
    torch.Size([2, 3, 30, 17])
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
    ) -> None:
        super().__init__()
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
        channels = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for c in channels[:-1]:
            self.down.append(ConvBlock(previous, c, norm))
            previous = c
        self.bottleneck = ConvBlock(channels[-2], channels[-1], norm)
        self.up = nn.ModuleList(
            Up(channels[k + 1], channels[k], norm, up) for k in reversed(range(depth))
        )
        self.head = nn.Conv2d(channels[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, out_channels, H, W)`` for images ``(N, in_channels, H, W)`` (any H, W >= 1)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet: expected input (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, skip in zip(self.up, reversed(skips), strict=True):
            x = up(x, skip)
        logits: torch.Tensor = self.head(x)
        return logits[..., :height, :width]
