"""Shared test fixtures and settings.

``shared_data`` points at ``../shared/data`` beside the checkout (the real datasets); tests that use it
skip cleanly where it is absent.

Hypothesis: under CI (the environment variable ``CI`` set to anything but ``""``, ``0`` or ``false``) the ``ci``
profile runs: derandomized (the same examples on every run, so a red build is reproducible and no run fails by
luck), no example database, and no deadline (a shared runner's slow moment is no failure).
``HYPOTHESIS_PROFILE=ci`` (or ``default``) picks a profile by name, anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)


def hypothesis_profile(environ: Mapping[str, str]) -> str:
    """The hypothesis profile for an environment: ``HYPOTHESIS_PROFILE`` if given, else ``ci`` under CI."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI", "").strip().lower() not in ("", "0", "false") else "default"


settings.load_profile(hypothesis_profile(os.environ))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The ``../shared/data`` folder; the test is skipped where it does not exist."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def _compare_toml(*, num_images: int = 12, epochs: int = 2, seeds: int = 1, num_threads: int = 1,
                  specs: Sequence[str] = ("ce",), metrics: Sequence[str] | None = None) -> str:
    text = f"""
[dataset]
spec = "synthetic"
image_size = 16
options = {{ num_images = {num_images}, foreground_fraction = 0.2 }}

[model]
width = 2
depth = 2

[train]
epochs = {epochs}
batch_size = 4
seeds = {seeds}
num_threads = {num_threads}
device = "cpu"

[losses]
specs = {json.dumps(list(specs))}
"""
    return text if metrics is None else text + f"\n[eval]\nmetrics = {json.dumps(list(metrics))}\n"


@pytest.fixture(scope="session")
def compare_toml() -> Callable[..., str]:
    """``compare_toml(num_images=12, epochs=2, seeds=1, num_threads=1, specs=("ce",), metrics=None)``: the text of a
    tiny ``compare`` experiment on synthetic 16x16 images (a width-2, depth-2 model on the CPU; trains in seconds),
    with an ``[eval]`` table when ``metrics`` is given."""
    return _compare_toml
