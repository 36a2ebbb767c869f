"""Shared test fixtures.

``shared_data`` points at ``../shared/data`` beside the checkout (the real datasets); tests that use it
skip cleanly where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The ``../shared/data`` folder; the test is skipped where it does not exist."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
