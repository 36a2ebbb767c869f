"""The registry of losses by name: it drives spec strings, ``segbench list losses`` and the contract tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from segbench.losses.base import FunctionLoss
from segbench.registry import Registry

__all__ = ["describe", "get", "loss_class", "names", "register"]

L = TypeVar("L", bound=type[FunctionLoss])

_LOSSES: Registry[type[FunctionLoss]] = Registry("loss")


def register(key: str, *, aliases: tuple[str, ...] = ()) -> Callable[[L], L]:
    """Class decorator: register a loss under ``key`` (and ``aliases``), and set its ``key``.

    Args:
        key: the loss's name in spec strings, the CLI and reports (lower case, e.g. ``"dice"``).
        aliases: other names accepted for it (not listed by :func:`names`).

    >>> loss_class("iou") is loss_class("jaccard"), loss_class("jaccard").key
    (True, 'jaccard')
    """

    def deco(cls: L) -> L:
        doc = (cls.__doc__ or "").strip().splitlines()
        _LOSSES.register(key, cls, aliases=aliases, description=doc[0].strip() if doc else "")
        cls.key = key
        return cls

    return deco


def names() -> list[str]:
    """The registered keys, sorted (aliases such as ``iou`` are accepted but not listed).

    >>> names()[:4]
    ['bce', 'boundary', 'ce', 'cldice']
    """
    return sorted(_LOSSES)


def loss_class(name: str) -> type[FunctionLoss]:
    """The class registered under ``name`` or one of its aliases; ValueError listing the valid names.

    Args:
        name: a registered key or alias.

    >>> loss_class("dice").__name__
    'DiceLoss'
    """
    if name not in _LOSSES:
        aliases = ", ".join(f"{a} (= {k})" for a, k in _LOSSES.aliases().items())
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(names())}; aliases: {aliases}")
    return _LOSSES.get(name)


def get(name: str, **kwargs: Any) -> FunctionLoss:
    """A new loss module by name, e.g. ``get("tversky", alpha=0.3, beta=0.7)``.

    Args:
        name: a registered key or alias (:func:`names`).
        kwargs: the loss function's keyword arguments; an unknown one raises TypeError.

    >>> get("iou").spec
    'jaccard'
    """
    return loss_class(name)(**kwargs)


def describe() -> list[tuple[str, str]]:
    """``(key, one-line summary)`` for every registered loss (the first line of its class docstring).

    >>> dict(describe())["dice"]
    'Soft Dice loss 1 - (2tp + s) / (2tp + fp + fn + s); default: counts pooled over the batch (per_image=False).'
    """
    return sorted(_LOSSES.describe())
