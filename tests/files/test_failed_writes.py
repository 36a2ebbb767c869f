"""A write that fails midway (no space left, permission denied: a failing filesystem call, simulated) leaves the
previous results intact, leaves no temporary file, and says in one line what failed (exit 1); the next run
resumes as if nothing had happened."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

Cli = Callable[[list[str]], tuple[int, str, str]]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EACCES = PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 5:12] = 1
    for k in range(3):
        Image.fromarray(mask).save(pred / f"c{k}.png")
        Image.fromarray(np.roll(mask, k, axis=0)).save(truth / f"c{k}.png")
    return pred, truth


def _one_line_failure(status: int, err: str, command: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert status == 1, err
    assert len(lines) == 1 and lines[0].startswith(f"segbench {command}: error: cannot write "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


def _fail_replace_onto(monkeypatch: pytest.MonkeyPatch, name: str, error: OSError, after: int = 0) -> None:
    """``os.replace(src, dst)`` raises ``error`` when ``dst`` is called ``name`` (after ``after`` good calls)."""
    real, calls = os.replace, [0]

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst).name == name:
            calls[0] += 1
            if calls[0] > after:
                raise error
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


class _HalfWriter:
    """A binary file whose ``write`` writes half of its first chunk, then fails with ENOSPC (a disk filling up)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise ENOSPC

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.mark.parametrize("failure", ["replace-ENOSPC", "mkstemp-EACCES", "write-ENOSPC-midway"])
def test_evaluate_keeps_the_previous_results(failure: str, tmp_path: Path, cli: Cli,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pred, truth = _folders(tmp_path)
    results = tmp_path / "out" / "scores.csv"
    results.parent.mkdir()
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(results), "--metrics", "dice"]
    assert cli(argv)[0] == 0
    previous = results.read_bytes()
    if failure == "replace-ENOSPC":
        _fail_replace_onto(monkeypatch, "scores.csv", ENOSPC)
        expected = ("renaming it into place", "No space left on device")
    elif failure == "mkstemp-EACCES":
        def mkstemp(*args: Any, **kwargs: Any) -> Any:
            raise EACCES

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        expected = ("creating a temporary file", "Permission denied")
    else:
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _HalfWriter(real_fdopen(fd, *a, **k)))
        expected = ("writing", "No space left on device")
    status, _, err = cli(argv)
    _one_line_failure(status, err, "evaluate", str(results), *expected, "previous content")
    assert results.read_bytes() == previous
    assert sorted(p.name for p in results.parent.iterdir()) == ["scores.csv"]  # no temporary file left


def test_compare_survives_a_full_disk_and_resumes(tmp_path: Path, tiny_toml: Path, cli: Cli,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    argv = ["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"]
    state = out / "runs" / "ce" / "seed0" / "state.pt"
    with monkeypatch.context() as patch:  # the disk fills up while epoch 2's resume point is written
        _fail_replace_onto(patch, "state.pt", ENOSPC, after=1)
        status, _, err = cli(argv)
    _one_line_failure(status, err, "compare", str(state), "No space left on device")
    saved = torch.load(state, weights_only=True)
    first = [row["step"] for row in saved["history"]]
    assert len(first) == 1  # epoch 1's resume point is intact
    assert not [p for p in state.parent.iterdir() if p.name.endswith(".tmp")]

    status, _, err = cli(argv)  # space is back: the rerun resumes from epoch 1
    assert status == 0, err
    per_image = out / "results" / "per_image.csv"
    previous = per_image.read_bytes()
    assert [row["step"] for row in torch.load(state, weights_only=True)["history"]] == [first[0], 2 * first[0]]

    with monkeypatch.context() as patch:  # a rerun whose result tables cannot be replaced
        _fail_replace_onto(patch, "per_image.csv", EACCES)
        status, _, err = cli(argv)
    _one_line_failure(status, err, "compare", str(per_image), "Permission denied")
    assert per_image.read_bytes() == previous
