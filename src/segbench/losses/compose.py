"""Weighted sums of losses, built by arithmetic or parsed from a spec string such as ``"0.5*bce + 0.5*dice"``."""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from segbench.losses.base import FunctionLoss, Loss, format_value
from segbench.losses.registry import loss_class

__all__ = ["CompositeLoss", "parse"]


class CompositeLoss(Loss):
    """A weighted sum of losses: :math:`L = \\sum_k w_k L_k`.

    ``terms`` lists ``(weight, name, loss)``; ``last_values`` maps each term's name to its (unweighted) value
    from the last forward call, for logging. Names are the registry keys, or the terms' specs where a key
    repeats. ``ignore_index`` and the other keywords live in each term (``parse(spec, ignore_index=255)``
    passes them to every term that accepts them).

    Args:
        terms: ``(weight, loss)`` pairs, at least one: weights finite and >= 0, losses single segbench losses
            (:class:`~segbench.losses.base.FunctionLoss`; ``+`` between composites flattens them).

    >>> import torch
    >>> from segbench.losses import BCELoss, JaccardLoss
    >>> loss = 0.5 * BCELoss() + 0.5 * JaccardLoss()
    >>> loss.spec
    '0.5*bce+0.5*jaccard'
    >>> x, y = torch.zeros(1, 1, 2, 2), torch.tensor([[[0, 1], [1, 1]]])
    >>> round(float(loss(x, y)), 4), {k: round(v, 4) for k, v in loss.last_values.items()}
    (0.5688, {'bce': 0.6931, 'jaccard': 0.4444})
    """

    def __init__(self, terms: Sequence[tuple[float, Loss]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("a composite loss needs at least one term")
        funcs: list[FunctionLoss] = []
        for w, t in terms:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                raise ValueError(
                    f"term weights must be finite numbers > 0, got {w!r} (a term of weight 0 adds nothing to the "
                    "loss; leave it out)"
                )
            if not isinstance(t, FunctionLoss):
                raise TypeError(f"terms must be segbench losses, got {type(t).__name__}")
            funcs.append(t)
        self.weights: list[float] = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList(funcs)
        keys = [t.key for t in funcs]
        specs = [t.spec for t in funcs]
        self.names: list[str] = [
            k if keys.count(k) == 1 else (s if specs.count(s) == 1 else f"{s}#{i}")
            for i, (k, s) in enumerate(zip(keys, specs, strict=True))
        ]
        self._last: dict[str, Tensor] = {}

    @property
    def terms(self) -> list[tuple[float, str, Loss]]:
        """``(weight, name, loss)`` for each term."""
        return [(w, n, t) for (w, t), n in zip(self._as_terms(), self.names, strict=True)]

    @property
    def last_values(self) -> dict[str, float]:
        """Each term's unweighted value in the last forward call (read lazily: no device sync per step)."""
        return {k: float(v) for k, v in self._last.items()}

    def _as_terms(self) -> list[tuple[float, Loss]]:
        return list(zip(self.weights, self.losses, strict=True))  # type: ignore[arg-type]

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """:math:`\\sum_k w_k L_k(\\text{input}, \\text{target})`."""
        total: Tensor | None = None
        last = {}
        for w, name, loss in self.terms:
            value = loss(input, target)
            last[name] = value.detach()
            total = w * value if total is None else total + w * value
        self._last = last
        if total is None:  # pragma: no cover - a composite always has terms
            raise RuntimeError("empty composite loss")
        return total

    @property
    def spec(self) -> str:
        """``"w1*spec1+w2*spec2"``, weights of 1 left out."""
        return "+".join(t.spec if w == 1 else f"{format_value(w)}*{t.spec}" for w, t in self._as_terms())


def _literal(node: ast.expr, spec: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as e:
        raise ValueError(f"loss spec {spec!r}: keyword values must be literals, got {ast.unparse(node)!r}") from e


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _terms(node: ast.expr, spec: str, common: dict[str, Any]) -> list[tuple[float, FunctionLoss]]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _terms(node.left, spec, common) + _terms(node.right, spec, common)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        lw, rw = _number(node.left), _number(node.right)
        if isinstance(node.op, ast.Mult) and (lw is not None or rw is not None):
            w, sub = (lw, node.right) if lw is not None else (rw, node.left)
        elif isinstance(node.op, ast.Div) and rw is not None and rw != 0:
            w, sub = 1.0 / rw, node.left
        else:
            raise ValueError(f"loss spec {spec!r}: {ast.unparse(node)!r} must multiply or divide a loss by a number")
        return [(w * tw, t) for tw, t in _terms(sub, spec, common)]  # type: ignore[operator]
    if isinstance(node, ast.Name):
        name, kwargs = node.id, {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        name = node.func.id
        if any(k.arg is None for k in node.keywords):
            raise ValueError(f"loss spec {spec!r}: ** is not allowed")
        kwargs = {k.arg: _literal(k.value, spec) for k in node.keywords if k.arg is not None}
    else:
        raise ValueError(
            f"loss spec {spec!r}: expected terms like 'dice', '0.5*bce' or 'tversky(alpha=0.3)', "
            f"got {ast.unparse(node)!r}"
        )
    cls = loss_class(name)
    merged = {k: v for k, v in common.items() if cls.accepts(k)}
    merged.update(kwargs)
    return [(1.0, cls(**merged))]


def parse(spec: str, **common: Any) -> CompositeLoss:
    """Build a loss from a spec string; ``common`` keywords go to every term that accepts them.

    Grammar: terms joined by ``+``; a term is ``name``, ``name(key=value, ...)``, ``number*term``, ``term*number``
    or ``term/number``; parentheses group. Names are the registry keys (:func:`~segbench.losses.names`).
    Keywords written in a term win over ``common``. The result is always a :class:`CompositeLoss` (one term
    for a single name), and ``parse(loss.spec).spec == loss.spec``.

    .. math:: L = \\sum_k w_k L_k

    Args:
        spec: the loss spec string, e.g. ``"0.5*bce + 0.5*dice"``.
        common: keyword arguments given to every term that accepts them (e.g. ``ignore_index=255``); one that no
            term accepts raises ValueError.

    >>> parse("0.5*bce + 0.5*dice").spec
    '0.5*bce+0.5*dice'
    >>> parse("ce+tversky(alpha=0.5, beta=0.5)", ignore_index=255).spec
    'ce(ignore_index=255)+tversky(ignore_index=255,alpha=0.5,beta=0.5)'
    >>> parse("2*focal(gamma=1)").terms[0][:2]
    (2.0, 'focal')
    """
    if not isinstance(spec, str):
        raise TypeError(f"a loss spec must be a string, got {type(spec).__name__}")
    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"cannot parse loss spec {spec!r}: {e.msg}") from e
    terms = _terms(tree.body, spec, common)
    unused = [k for k in common if not any(t.accepts(k) for _, t in terms)]
    if unused:
        raise ValueError(f"keyword(s) {unused} are accepted by none of the terms of {spec!r}")
    return CompositeLoss(terms)

