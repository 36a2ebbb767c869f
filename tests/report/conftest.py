"""Fixtures of the report tests: small synthetic run folders (tests/report/fake_run.py), built once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def load_fake_run_module() -> ModuleType:
    """Import tests/report/fake_run.py by path (the tests are not a package)."""
    spec = importlib.util.spec_from_file_location("segbench_tests_fake_run", Path(__file__).with_name("fake_run.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fake_run_module() -> ModuleType:
    return load_fake_run_module()


@pytest.fixture(scope="session")
def binary_run(tmp_path_factory: pytest.TempPathFactory, fake_run_module: ModuleType) -> Path:
    """3 losses x 2 seeds x 16 images, binary (nucleus), with undefined and missed cases."""
    return fake_run_module.write_fake_run(tmp_path_factory.mktemp("binary") / "run", n_losses=3)


@pytest.fixture(scope="session")
def multiclass_run(tmp_path_factory: pytest.TempPathFactory, fake_run_module: ModuleType) -> Path:
    """3 losses x 1 seed x 16 images, 3 classes."""
    return fake_run_module.write_fake_run(tmp_path_factory.mktemp("multi") / "run", n_losses=3, num_classes=3,
                                          seeds=(0,))
