"""Fixtures for the reliability tests: a tiny ``compare`` experiment and an in-process command-line runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from segbench.cli import main

Cli = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def tiny_toml(tmp_path: Path, compare_toml: Callable[..., str]) -> Path:
    """A two-epoch, one-loss, one-seed experiment on 12 synthetic 16x16 images (trains in about a second)."""
    path = tmp_path / "tiny.toml"
    path.write_text(compare_toml(metrics=["dice"]))
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli([...]) -> (status, stdout, stderr)`` of ``segbench.cli.main`` called in this process."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        status = main(argv)
        out, err = capsys.readouterr()
        return status, out, err

    return run
