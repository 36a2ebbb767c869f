"""``compare --jobs / --engine / --address`` and ``[compute]`` (#26): bad input is one line and exit 2 before
anything is written; a run that fails in a worker stops the study with one line naming it (exit 1)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from segbench import cli


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("runs:", "\r"))]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("flags,toml,message", [
    (["--jobs", "0"], "", r"--jobs must be an integer >= 1, got 0"),
    (["--engine", "spark"], "", r"--engine must be one of local, ray, got 'spark'"),
    ([], '[compute]\nengine = "spark"\n', r"\[compute\] engine must be one of \['local', 'ray'\], got 'spark'"),
    ([], "[compute]\njobs = 0\n", r"\[compute\] jobs must be an integer >= 1, got 0"),
    ([], "[compute]\nthreads = 2\n", r"unknown key 'threads' in \[compute\]; valid keys: address, engine, jobs"),
    (["--address", "auto"], "", r"--address \(a Ray cluster\) needs --engine ray"),
])
def test_bad_schedule_is_one_line_exit_2_and_nothing_written(
    flags: list[str], toml: str, message: str, tmp_path: Path, compare_toml: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "x.toml").write_text(compare_toml() + toml)
    out = tmp_path / "run"
    assert cli.main(["compare", str(tmp_path / "x.toml"), "--out", str(out), "-q", *flags]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("segbench compare: error: ") and re.search(message, line), line
    assert not out.exists()


def test_ray_not_installed_names_the_extra(tmp_path: Path, compare_toml: Callable[..., str],
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    (tmp_path / "x.toml").write_text(compare_toml())
    assert cli.main(["compare", str(tmp_path / "x.toml"), "--out", str(tmp_path / "run"), "-q",
                     "--engine", "ray"]) == 2
    assert "install the extra segbench[ray]" in _one_line(capsys.readouterr().err)


def test_a_run_that_fails_in_a_worker_stops_the_study_naming_it(
    tmp_path: Path, compare_toml: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    # a learning rate that blows the logits up: the worker's run raises (non-finite logits or loss)
    (tmp_path / "x.toml").write_text(compare_toml(specs=("dice",)).replace("[train]\n", "[train]\nlr = 1e30\n"))
    out = tmp_path / "run"
    assert cli.main(["compare", str(tmp_path / "x.toml"), "--out", str(out), "-q", "--no-report", "--jobs", "2"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert re.fullmatch(r"segbench compare: run dice seed 0 \(lr 1e\+30\) failed: \w+Error: [^\n]*(NaN|nan|inf)[^\n]*; "
                        r"the other runs are kept: rerun the same command to resume", line), line
    assert "Traceback" in (out / "runs" / "dice" / "seed0" / "run.log").read_text()  # the details: in the run's log
