"""The base classes of every loss: arithmetic composition and a canonical spec string.

:class:`Loss` is a :class:`torch.nn.Module` taking ``(input, target)``. Losses compose by arithmetic with numbers
(``0.5 * BCELoss() + 0.5 * JaccardLoss()``, ``DiceLoss() / 2``) into a
:class:`~segbench.losses.compose.CompositeLoss`. :class:`FunctionLoss` is the thin module around one pure function
of :mod:`segbench.losses.functional`: it stores that function's keyword arguments and calls it in ``forward``.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from segbench._docs import section

if TYPE_CHECKING:
    from segbench.losses.compose import CompositeLoss

__all__ = ["FunctionLoss", "Loss", "format_value"]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def format_value(v: Any) -> str:
    """Canonical text of a keyword value in a spec string (parsed back by :func:`ast.literal_eval`).

    Args:
        v: a keyword value: a number, bool, None, string, or tuple of them.

    >>> format_value(2.0), format_value(0.3), format_value((1, 2.5)), format_value((3,)), format_value(None)
    ('2', '0.3', '(1,2.5)', '(3,)', 'None')
    """
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, tuple):
        inner = ",".join(format_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"cannot write a {type(v).__name__} into a loss spec")


def _canonical(v: Any) -> Any:
    """Keyword values as immutable plain Python: tensors, arrays and lists become tuples of floats."""
    if isinstance(v, Tensor):
        return tuple(float(x) for x in v.detach().flatten().tolist())
    if isinstance(v, (list, tuple)):
        return tuple(float(x) if _is_number(x) else x for x in v)
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy arrays and scalars
        return _canonical(torch.as_tensor(v)) if getattr(v, "ndim", 0) else v.tolist()
    return v


class Loss(nn.Module):
    """Base class of segbench losses: ``loss(input, target) -> Tensor``, arithmetic, and a ``spec`` string.

    ``a + b``, ``w * a``, ``a * w`` and ``a / w`` (``w`` a number) give a
    :class:`~segbench.losses.compose.CompositeLoss`, whose value is the weighted sum of its terms.
    """

    @property
    def spec(self) -> str:
        """Canonical spec string; ``segbench.losses.parse(loss.spec)`` rebuilds an equal loss."""
        raise NotImplementedError

    def _as_terms(self) -> list[tuple[float, Loss]]:
        return [(1.0, self)]

    def _scaled(self, w: float) -> CompositeLoss:
        from segbench.losses.compose import CompositeLoss

        return CompositeLoss([(w * tw, t) for tw, t in self._as_terms()])

    def __add__(self, other: object) -> CompositeLoss:
        from segbench.losses.compose import CompositeLoss

        if not isinstance(other, Loss):
            return NotImplemented
        return CompositeLoss(self._as_terms() + other._as_terms())

    def __radd__(self, other: object) -> Loss:
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:  # sum([...])
            return self
        return NotImplemented

    def __mul__(self, other: object) -> CompositeLoss:
        if not _is_number(other):
            return NotImplemented
        return self._scaled(float(other))  # type: ignore[arg-type]

    def __rmul__(self, other: object) -> CompositeLoss:
        return self.__mul__(other)

    def __truediv__(self, other: object) -> CompositeLoss:
        if not _is_number(other) or other == 0:
            return NotImplemented
        return self._scaled(1.0 / float(other))  # type: ignore[arg-type]


def _class_doc(doc: str, function: Callable[..., Tensor]) -> str:
    """A loss class's docstring: its own first lines, then its function's formula and ``Args:`` (the keywords the
    class takes, and ``forward``'s ``input`` and ``target``), then its own doctest."""
    fn_doc = function.__doc__ or ""
    formula, args = section(fn_doc, ".. math::"), section(fn_doc, "Args:")
    indent = " " * 4
    lead = textwrap.fill(
        f"The module form of :func:`~{function.__module__}.{function.__name__}`: the keyword arguments are its, and "
        "``forward(input, target)`` takes its two tensors.", 112,
    )
    parts = [textwrap.dedent(block) for block in (formula, args) if block]
    extra = "\n\n".join([lead, *parts])
    at = doc.find(">>>")
    head, tail = (doc, "") if at < 0 else (doc[:at].rstrip(" "), doc[at:])
    return head.rstrip() + "\n\n" + textwrap.indent(extra, indent) + ("\n\n" + indent + tail if tail else "\n")


class FunctionLoss(Loss):
    """A loss module around one pure function; the keyword arguments are the function's, checked by name.

    Subclasses name their function in the class statement: ``class DiceLoss(FunctionLoss, function=dice_loss)``.
    The registry sets ``key`` (the name in spec strings).
    """

    key: ClassVar[str] = ""
    _function: ClassVar[Callable[..., Tensor]]
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, function: Callable[..., Tensor] | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if function is None:
            return
        params = [p for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY]
        cls._function = staticmethod(function)
        cls._defaults = {p.name: p.default for p in params}
        cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        cls.__doc__ = _class_doc(cls.__doc__ or "", function)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(self._defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown keyword(s) {unknown}; it accepts {sorted(self._defaults)}"
            )
        self.kwargs: dict[str, Any] = {k: _canonical(v) for k, v in kwargs.items()}

    @classmethod
    def accepts(cls, name: str) -> bool:
        """Whether the loss has a keyword argument ``name``."""
        return name in cls._defaults

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` (logits ``(N, C, *spatial)``) against ``target``; see the function's docs."""
        return type(self)._function(input, target, **self.kwargs)

    @property
    def spec(self) -> str:
        """``key`` followed by the keyword arguments that differ from their defaults, e.g. ``tversky(alpha=0.5)``."""
        parts = [
            f"{k}={format_value(v)}"
            for k, v in ((k, self.kwargs[k]) for k in self._defaults if k in self.kwargs)
            if v != _canonical(self._defaults[k])
        ]
        return f"{self.key}({','.join(parts)})" if parts else self.key

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())

