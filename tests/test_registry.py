"""The generic Registry behind losses, metrics, datasets and models."""

from __future__ import annotations

import pytest

from segbench import losses, metrics
from segbench.data.kinds import DATASETS
from segbench.registry import Registry


def test_register_get_aliases_and_order() -> None:
    reg = Registry[str]("thing")
    reg.register("b", "B", aliases=("bee",), description="second letter")
    reg.register("a", "A")
    assert reg.names() == ["b", "a"] and list(reg) == ["b", "a"] and len(reg) == 2  # registration order
    assert reg.get("bee") == "B" and reg.canonical("bee") == "b" and "bee" in reg and "c" not in reg
    assert reg.describe() == [("b", "second letter"), ("a", "")]
    with pytest.raises(ValueError, match=r"unknown thing 'c'; valid names: b, a \(aliases: bee\)"):
        reg.get("c")
    for taken in ("a", "bee"):
        with pytest.raises(ValueError, match=f"a thing named '{taken}' is already registered"):
            reg.register(taken, "X")
    assert reg.decorator("d")("D") == "D" and reg.get("d") == "D"


def test_every_catalogue_is_a_registry() -> None:
    assert losses.names() == sorted(losses.registry._LOSSES.names())
    assert DATASETS.names() == ["sample", "synthetic", "pets", "folder", "synthetic3d", "volumes"]
    assert isinstance(metrics.catalogue._METRICS, Registry)
