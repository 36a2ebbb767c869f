"""Every registered loss documents itself: its first line states its default reduction truthfully (what
``segbench list losses`` prints), and class and function carry the formula, every parameter under ``Args:``, and a
doctest (run by pytest's --doctest-modules)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from segbench import losses
from segbench._docs import documented
from segbench.losses.registry import loss_class

NAMES = losses.names()


@pytest.mark.parametrize("name", NAMES)
def test_first_line_states_the_default_reduction(name: str) -> None:
    cls = loss_class(name)
    first = dict(losses.describe())[name]
    defaults = cls._defaults
    if "per_image" in defaults:  # region, distance, Lovász, clDice: pooled over the batch unless per_image=True
        assert defaults["per_image"] is False
        assert "pooled over the batch" in first and "per (image" not in first, first
        assert losses.get(name, per_image=True).kwargs["per_image"] is True
    else:  # pixel-wise losses: a mean over pixels, pooled over the batch
        assert "mean over the batch's valid pixels" in first, first
    assert defaults["reduction"] == "mean"
    assert len(first) <= 113  # one source line of 120 with its indentation and quotes


@pytest.mark.parametrize("name", NAMES)
def test_class_and_function_document_formula_every_parameter_and_an_example(name: str) -> None:
    cls = loss_class(name)
    fn = cls._function
    params = list(inspect.signature(fn).parameters)
    for doc in (fn.__doc__ or "", cls.__doc__ or ""):
        assert documented(doc) == params, (name, documented(doc), params)
        assert ".. math::" in doc and ">>>" in doc, name


def _public_functions() -> list[object]:
    from segbench.losses import base, compose, distance, lovasz, overlap, pixelwise, registry, topology

    modules = (base, compose, distance, lovasz, overlap, pixelwise, registry, topology)
    return [getattr(m, n) for m in modules for n in m.__all__ if inspect.isfunction(getattr(m, n))]


@pytest.mark.parametrize("fn", _public_functions(), ids=lambda f: getattr(f, "__qualname__", "?"))
def test_every_public_function_of_the_losses_documents_its_parameters(fn: Any) -> None:
    assert documented(fn.__doc__ or "") == list(inspect.signature(fn).parameters)
    assert ">>>" in (fn.__doc__ or "")
