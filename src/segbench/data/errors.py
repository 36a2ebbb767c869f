"""The one error type of the data layer, and the option check every loader shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DatasetError(ValueError):
    """A user-facing data problem: bad spec, missing path or partner file, unreadable file, bad labels.

    The message always names the spec or the offending file(s).

    >>> issubclass(DatasetError, ValueError)
    True
    """


def check_options(kind: str, options: Mapping[str, Any], allowed: Mapping[str, str]) -> None:
    """Raise :class:`DatasetError` when ``options`` has a key not in ``allowed`` (key -> description).

    >>> check_options("demo", {"a": 1}, {"a": "an option"})
    >>> check_options("demo", {"b": 1}, {"a": "an option"})
    Traceback (most recent call last):
    ...
    segbench.data.errors.DatasetError: unknown option(s) ['b'] for dataset kind 'demo'; valid options: a (an option)
    """
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(f"{key} ({text})" for key, text in allowed.items())
        raise DatasetError(f"unknown option(s) {unknown} for dataset kind {kind!r}; valid options: {valid}")


def float_option(kind: str, options: Mapping[str, Any], key: str, default: float) -> float:
    """``options[key]`` (or ``default``) as a float; :class:`DatasetError` naming the option otherwise.

    >>> float_option("demo", {"noise": 1}, "noise", 0.1), float_option("demo", {}, "noise", 0.1)
    (1.0, 0.1)
    """
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{kind}: option {key} must be a number, got {value!r}")
    return float(value)
