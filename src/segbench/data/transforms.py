"""Paired image/mask transforms: a fixed resize and random flips applied identically to both.

Images are resized bilinearly, antialiased (the tent filter widened by the scale when shrinking: PIL's
``BILINEAR``); masks always with
nearest-neighbour sampling, so a resized mask only ever holds labels of the input mask. Flips draw from
an explicit :class:`torch.Generator`, so augmentation is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def as_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from an int (square) or a pair of positive ints.

    >>> as_size(64), as_size((32, 48))
    ((64, 64), (32, 48))
    """
    if isinstance(size, int) and not isinstance(size, bool):
        pair: tuple[object, ...] = (size, size)
    elif isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2:
        pair = tuple(size)
    else:
        raise ValueError(f"image_size must be an int or a pair (H, W) of ints, got {size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ValueError(f"image_size must hold positive ints, got {size!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a float image ``(C, H, W)`` to ``(C, *size)``, as PIL's ``BILINEAR``.

    >>> resize_image(torch.ones(1, 4, 4), (2, 3)).shape
    torch.Size([1, 2, 3])
    """
    if tuple(image.shape[-2:]) == size:
        return image
    resized = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized[0]


def nearest_indices(length_in: int, length_out: int) -> torch.Tensor:
    """Source index of each output position for nearest-neighbour resizing (pixel-centre aligned).

    .. math:: i_{in} = \\left\\lfloor \\frac{(2 i_{out} + 1)\\, L_{in}}{2 L_{out}} \\right\\rfloor

    the input pixel under the output pixel's centre (the upper one when the centre falls exactly on a
    border), in exact integer arithmetic. This is PyTorch's ``nearest-exact`` interpolation, which
    computes the same in floating point and so can pick the lower pixel at some exact ties.

    >>> nearest_indices(4, 2).tolist(), nearest_indices(2, 4).tolist()
    ([1, 3], [0, 0, 1, 1])
    """
    return (2 * torch.arange(length_out) + 1) * length_in // (2 * length_out)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of a label map ``(H, W)`` to ``size``: every output label is an input label.

    >>> resize_mask(torch.tensor([[0, 1], [2, 3]]), (4, 4))[0].tolist()
    [0, 0, 1, 1]
    """
    if tuple(mask.shape[-2:]) == size:
        return mask
    rows = nearest_indices(mask.shape[-2], size[0])
    cols = nearest_indices(mask.shape[-1], size[1])
    return mask[..., rows, :][..., cols]


def random_flip(
    image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip ``image`` ``(C, H, W)`` and ``mask`` ``(H, W)`` horizontally and vertically, each with p = 1/2.

    Two draws from ``generator`` decide (horizontal, vertical); the same flips apply to both tensors.

    >>> g = torch.Generator().manual_seed(0)
    >>> image, mask = random_flip(torch.arange(4.0).view(1, 2, 2), torch.arange(4).view(2, 2), g)
    >>> bool((image[0].long() == mask).all())
    True
    """
    horizontal, vertical = (torch.rand(2, generator=generator) < 0.5).tolist()
    if horizontal:
        image, mask = image.flip(-1), mask.flip(-1)
    if vertical:
        image, mask = image.flip(-2), mask.flip(-2)
    return image, mask
