"""segbench.models: the networks the bench trains, by name.

``build_model("unet", in_channels=1, out_channels=2, width=16, depth=3)`` is the one entry point the bench
and CLI use; ``available_models()`` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from segbench.models.unet import UNet
from segbench.registry import Registry

_MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
_MODELS.register("unet", UNet, description="U-Net (Ronneberger et al. 2015): width, depth, norm")


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted.

    >>> available_models()
    ['unet']
    """
    return sorted(_MODELS)


def build_model(name: str = "unet", **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` (case-insensitive) with ``kwargs``.

    >>> import torch
    >>> model = build_model("unet", in_channels=1, out_channels=2, width=4, depth=2)
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 16, 16])
    """
    key = name.strip().lower()
    if key not in _MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {available_models()}")
    return _MODELS.get(key)(**kwargs)


__all__ = ["UNet", "available_models", "build_model"]
