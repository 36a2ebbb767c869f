"""Numbers as text, one home for every command: undefined (NaN), a miss (inf), intervals and shares.

Results *files* never round (:func:`segbench.files.atomic.format_value`: Python's round-trip ``repr``); the
functions here are for what a person reads (tables, summaries, reports), each caller choosing its digits and the
words for NaN and inf.
"""

from __future__ import annotations

import math

__all__ = ["interval", "number", "percent"]


def number(
    value: float | None,
    spec: str = ".3f",
    *,
    nan: str = "nan",
    inf: str = "inf",
    none: str = "-",
    large: tuple[float, str] | None = None,
) -> str:
    """``value`` formatted with ``spec``; ``nan``/``inf`` words for NaN and infinities (``-`` before ``inf`` for
    negative infinity), ``none`` for ``None``; ``large=(threshold, spec)`` switches to another format from
    ``abs(value) >= threshold`` on.

    Args:
        value: the number (or ``None``: missing).
        spec: the format spec of finite values (``".3f"``, ``".4g"``).
        nan: the text of NaN (an undefined score).
        inf: the text of ``+inf`` (a miss).
        none: the text of ``None``.
        large: ``(threshold, spec)`` for large values, or ``None``.

    >>> number(0.81234), number(float("nan"), nan="n/a"), number(-math.inf, inf="∞")
    ('0.812', 'n/a', '-∞')
    >>> number(1234.5, large=(1000, ".0f")), number(None)
    ('1234', '-')
    """
    if value is None:
        return none
    if math.isnan(value):
        return nan
    if math.isinf(value):
        return inf if value > 0 else f"-{inf}"
    if large is not None and abs(value) >= large[0]:
        spec = large[1]
    return format(value, spec)


def interval(low: float, high: float, spec: str = ".3f", *, nan: str = "nan", inf: str = "inf") -> str:
    """``[low, high]`` with :func:`number`.

    Args:
        low: the lower bound.
        high: the upper bound.
        spec: the format spec of each bound.
        nan: the text of NaN.
        inf: the text of inf.

    >>> interval(0.1, float("inf"), inf="∞")
    '[0.100, ∞]'
    """
    return f"[{number(low, spec, nan=nan, inf=inf)}, {number(high, spec, nan=nan, inf=inf)}]"


def percent(share: float, *, undefined: str = "n/a") -> str:
    """A share in [0, 1] as a percentage with one decimal; ``undefined`` for NaN or inf.

    Args:
        share: the fraction.
        undefined: the text of a non-finite share.

    >>> percent(0.1234), percent(float("nan"))
    ('12.3%', 'n/a')
    """
    return f"{100 * share:.1f}%" if math.isfinite(share) else undefined
