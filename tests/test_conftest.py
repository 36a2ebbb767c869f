"""tests/conftest.py's hypothesis settings: derandomized with no deadline under CI, the default elsewhere."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st


def _conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("segbench_tests_conftest", Path(__file__).parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_selects_the_derandomized_profile() -> None:
    pick = _conftest().hypothesis_profile
    assert pick({}) == "default" and pick({"CI": ""}) == "default" and pick({"CI": "false"}) == "default"
    assert pick({"CI": "0"}) == "default"
    assert pick({"CI": "true"}) == "ci" and pick({"CI": "1"}) == "ci"
    assert pick({"CI": "true", "HYPOTHESIS_PROFILE": "default"}) == "default"
    assert pick({"HYPOTHESIS_PROFILE": "ci"}) == "ci"
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.deadline is None and ci.database is None
    assert settings.default.derandomize == (pick(os.environ) == "ci")  # this session runs the profile it picked


def test_the_ci_profile_draws_the_same_examples_every_run() -> None:
    def draws() -> list[int]:
        seen: list[int] = []

        @settings(settings.get_profile("ci"), max_examples=20)
        @given(st.integers(-10**6, 10**6))
        def record(x: int) -> None:
            seen.append(x)

        record()
        return seen

    first = draws()
    assert len(set(first)) > 5 and draws() == first
