"""Sliding-window inference over volumes (or large images) with overlap and Gaussian weighting, as nnU-Net does.

Windows of ``patch`` voxels tile each spatial axis with starts ``0, step, 2 step, ...`` and a last window flush
with the end (``step = max(1, floor(patch * (1 - overlap)))``; MONAI's ``sliding_window_inference`` places them
the same way). An axis no longer than its patch gets one window covering it, so a volume that fits one window is
predicted in one call, exactly as whole-volume inference. Each window's logits are weighted by an importance map and
the weighted sum is divided by the summed weights:

    out(x) = sum_w g_w(x) f_w(x) / sum_w g_w(x)

``gaussian=True`` uses ``g(x) = exp(-sum_i (x_i - c_i)^2 / (2 sigma_i^2))`` with ``c`` the window centre and
``sigma_i = sigma_scale * patch_i`` (nnU-Net's 1/8), normalised to a maximum of 1 and floored at ``1e-3`` so
that a window's border still counts where it is the only one; ``gaussian=False`` weighs every voxel 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["gaussian_importance", "sliding_window_inference", "window_starts"]


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start indices of the windows along one axis (see the module docstring).

    Args:
        size: the axis length.
        patch: the window length along the axis.
        overlap: the fraction of a window shared with the next, in ``[0, 1)``.

    >>> window_starts(10, 4, 0.5), window_starts(3, 4, 0.5), window_starts(8, 4, 0.0)
    ([0, 2, 4, 6], [0], [0, 4])
    """
    if size <= patch:
        return [0]
    step = max(1, int(patch * (1 - overlap)))
    starts = list(range(0, size - patch, step))
    return [*starts, size - patch]


def gaussian_importance(patch: Sequence[int], sigma_scale: float = 0.125) -> torch.Tensor:
    """The Gaussian importance map of one window (see the module docstring), float32, maximum 1.

    Args:
        patch: the window size per spatial axis.
        sigma_scale: ``sigma_i / patch_i``.

    >>> g = gaussian_importance((5, 4)); tuple(g.shape), float(g.max()), bool(g[2, 1] == g[2, 2])
    ((5, 4), 1.0, True)
    """
    axes = []
    for n in patch:
        x = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
        axes.append(torch.exp(-(x**2) / (2 * (sigma_scale * n) ** 2)))
    weight = axes[0]
    for a in axes[1:]:
        weight = weight[..., None] * a
    weight = weight / weight.max()
    return weight.clamp_min(1e-3).to(torch.float32)


def sliding_window_inference(
    inputs: torch.Tensor,
    patch: Sequence[int],
    predictor: Callable[[torch.Tensor], torch.Tensor],
    *,
    overlap: float = 0.5,
    gaussian: bool = True,
    sigma_scale: float = 0.125,
    batch: int = 1,
) -> torch.Tensor:
    """Logits ``(N, K, *S)`` for ``inputs`` ``(N, C, *S)``, predicted window by window (module docstring).

    Args:
        inputs: the images or volumes, batch and channel first.
        patch: the window size per spatial axis (an axis shorter than it gets one window of its own length).
        predictor: maps ``(B, C, *window)`` to logits ``(B, K, *window)`` (a model in eval mode).
        overlap: the fraction of a window shared with the next, in ``[0, 1)``.
        gaussian: Gaussian weighting (default) or uniform.
        sigma_scale: the Gaussian's sigma as a fraction of the window size.
        batch: windows predicted per call.

    >>> x = torch.arange(2 * 7 * 6, dtype=torch.float32).reshape(1, 2, 7, 6)
    >>> out = sliding_window_inference(x, (4, 4), lambda t: t.sum(1, keepdim=True))  # pointwise: windows agree
    >>> torch.allclose(out, x.sum(1, keepdim=True))
    True
    """
    spatial = tuple(inputs.shape[2:])
    if len(patch) != len(spatial) or any(int(p) < 1 for p in patch):
        raise ValueError(f"patch must give one positive size per spatial axis {spatial}, got {tuple(patch)}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    window = tuple(min(int(p), n) for p, n in zip(patch, spatial, strict=True))
    starts = [window_starts(n, w, overlap) for n, w in zip(spatial, window, strict=True)]
    slices = [tuple(slice(s, s + w) for s, w in zip(origin, window, strict=True))
              for origin in _product(starts)]
    if len(slices) == 1:  # one window covers the volume: whole-volume inference (every weight cancels)
        return predictor(inputs)
    weight = (gaussian_importance(window, sigma_scale) if gaussian else torch.ones(window)).to(inputs.device)
    out: torch.Tensor | None = None
    total = torch.zeros(spatial, dtype=torch.float32, device=inputs.device)
    for n in range(inputs.shape[0]):
        for k in range(0, len(slices), batch):
            chunk = slices[k : k + batch]
            logits = predictor(torch.stack([inputs[_at(n, s)] for s in chunk]))
            if out is None:
                out = torch.zeros((inputs.shape[0], logits.shape[1], *spatial), dtype=logits.dtype,
                                  device=inputs.device)
            for s, part in zip(chunk, logits, strict=True):
                out[_at(n, s)] += part * weight.to(part.dtype)
                if n == 0:
                    total[s] += weight
    assert out is not None
    return out / total.to(out.dtype)


def _at(n: int, window: tuple[slice, ...]) -> tuple[Any, ...]:
    """The index of case ``n``, every channel, ``window``."""
    return (n, slice(None), *window)


def _product(starts: list[list[int]]) -> list[tuple[int, ...]]:
    origins: list[tuple[int, ...]] = [()]
    for axis in starts:
        origins = [(*o, s) for o in origins for s in axis]
    return origins
