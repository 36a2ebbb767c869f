"""Shared test fixtures and settings.

``shared_data`` points at ``../shared/data`` beside the checkout (the real datasets); tests that use it
skip cleanly where it is absent.

Hypothesis: under CI (the environment variable ``CI`` set to anything but ``""``, ``0`` or ``false``) the ``ci``
profile runs: derandomized (the same examples on every run, so a red build is reproducible and no run fails by
luck), no example database, and no deadline (a shared runner's slow moment is no failure).
``HYPOTHESIS_PROFILE=ci`` (or ``default``) picks a profile by name, anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
