"""Fixtures for the reliability tests: a tiny ``compare`` experiment and an in-process command-line runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from segbench.cli import main

TINY_TOML = """
[dataset]
spec = "synthetic"
image_size = 16
options = { num_images = 12, foreground_fraction = 0.2 }

[model]
width = 2
depth = 2

[train]
epochs = 2
batch_size = 4
seeds = 1
num_threads = 1
device = "cpu"

[losses]
specs = ["ce"]

[eval]
metrics = ["dice"]
"""

Cli = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def tiny_toml(tmp_path: Path) -> Path:
    """A two-epoch, one-loss, one-seed experiment on 12 synthetic 16x16 images (trains in about a second)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli([...]) -> (status, stdout, stderr)`` of ``segbench.cli.main`` called in this process."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        status = main(argv)
        out, err = capsys.readouterr()
        return status, out, err

    return run
