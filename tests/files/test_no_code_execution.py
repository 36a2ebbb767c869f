"""Nothing from a run folder, a data file or a spec string executes.

* A crafted ``state.pt`` in a shared run folder (its unpickling would create a marker file) is refused with one
  line when ``compare`` resumes from it, and the marker never appears.
* The source holds no ``torch.load`` without ``weights_only=True``, no ``allow_pickle=True``, no ``pickle.load``,
  no ``eval``/``exec`` (checked on the syntax tree, so the test cannot be fooled by formatting).
* Loss specs, dataset specs, TOML values and ``inspect -o`` options that are Python code are rejected as bad
  input, never run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import segbench

SRC = Path(segbench.__file__).resolve().parent  # the package under test, wherever it is imported from
Cli = Callable[[list[str]], tuple[int, str, str]]


class Evil:
    """Unpickling this calls ``open(marker, "w")``: the file appearing means code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _one_line_error(status: int, err: str, command: str) -> str:
    lines = err.strip("\n").splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"segbench {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_crafted_state_file_is_refused_and_runs_nothing(tmp_path: Path, tiny_toml: Path, cli: Cli) -> None:
    out = tmp_path / "shared run"
    marker = tmp_path / "marker"
    state = out / "runs" / "ce" / "seed0" / "state.pt"
    state.parent.mkdir(parents=True)
    torch.save({"model": Evil(marker), "optimizer": {}, "history": [], "best_epoch": 0, "best_val_dice": None}, state)
    torch.load(state, weights_only=False)["model"].close()  # the payload is real: an unsafe load runs it
    assert marker.exists()
    marker.unlink()

    status, _, err = cli(["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"])
    line = _one_line_error(status, err, "compare")
    assert str(state) in line and "never runs code" in line
    assert not marker.exists()
    assert not (out / "runs" / "ce" / "seed0" / "done.json").exists()


def test_a_state_file_from_another_model_is_one_line(tmp_path: Path, tiny_toml: Path, cli: Cli) -> None:
    out = tmp_path / "run"
    state = out / "runs" / "ce" / "seed0" / "state.pt"
    state.parent.mkdir(parents=True)
    torch.save({"model": {"w": torch.ones(2)}, "optimizer": {}, "history": [], "best_epoch": 0,
                "best_val_dice": None}, state)
    status, _, err = cli(["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"])
    assert str(state) in _one_line_error(status, err, "compare")
    state.write_bytes(b"not a checkpoint")
    status, _, err = cli(["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"])
    assert "not a readable checkpoint" in _one_line_error(status, err, "compare")


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else "?"


def _keyword(call: ast.Call, name: str) -> Any:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else "<expr>"
    return "<absent>"


def test_no_unsafe_deserialisation_or_evaluation_in_the_source() -> None:
    problems = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            name, where = _name(call.func), f"{path.relative_to(SRC)}:{call.lineno}"
            if name == "torch.load" and _keyword(call, "weights_only") is not True:
                problems.append(f"{where}: torch.load without weights_only=True")
            if _keyword(call, "allow_pickle") not in ("<absent>", False):
                problems.append(f"{where}: allow_pickle={_keyword(call, 'allow_pickle')}")
            if name in ("eval", "exec", "compile", "pickle.load", "pickle.loads", "marshal.loads", "yaml.load",
                        "dill.load", "shelve.open", "builtins.eval", "__import__"):
                problems.append(f"{where}: {name}(...)")
    assert problems == []


@pytest.mark.parametrize("argv", [
    ["compare", "--loss", "__import__('pathlib').Path('{marker}').touch()"],
    ["compare", "--loss", "dice(smooth=__import__('pathlib').Path('{marker}').touch())"],
    ["compare", "--loss", "dice + open('{marker}', 'w')"],
    ["compare", "--dataset", "folder:$(touch {marker})"],
    ["inspect", "folder:`touch {marker}`"],
    ["inspect", "synthetic", "-o", "num_images=__import__('pathlib').Path('{marker}').touch()"],
    ["evaluate", "--pred", "$(touch {marker})", "--truth", "."],
])
def test_specs_are_parsed_never_evaluated(argv: list[str], tmp_path: Path, cli: Cli) -> None:
    marker = tmp_path / "marker"
    argv = [a.replace("{marker}", str(marker)) for a in argv]
    if argv[0] == "compare":
        argv += ["--out", str(tmp_path / "run"), "--epochs", "1", "--seeds", "1", "-q", "--no-report"]
    status, _, err = cli(argv)
    _one_line_error(status, err, argv[0])
    assert not marker.exists()


def test_toml_values_are_data(tmp_path: Path, cli: Cli) -> None:
    marker = tmp_path / "marker"
    config = tmp_path / "evil.toml"
    config.write_text(f'[losses]\nspecs = ["__import__(\'pathlib\').Path(\'{marker}\').touch()"]\n'
                      f'[dataset]\nspec = "synthetic"\n')
    status, _, err = cli(["compare", str(config), "--out", str(tmp_path / "run"), "-q", "--no-report"])
    assert "bad loss spec" in _one_line_error(status, err, "compare")
    assert not marker.exists()
    config.write_text("[losses\nspecs = " + "[" * 100_000 + "\n")  # malformed and absurdly nested
    status, _, err = cli(["compare", str(config), "--out", str(tmp_path / "run"), "-q", "--no-report"])
    assert str(config) in _one_line_error(status, err, "compare")


def test_report_refuses_pickled_predictions(tmp_path: Path, tiny_toml: Path, cli: Cli) -> None:
    """``segbench report`` on a run folder whose saved predictions carry a pickle: one line, nothing runs."""
    import numpy as np

    out, marker = tmp_path / "run", tmp_path / "marker"
    assert cli(["compare", str(tiny_toml), "--out", str(out), "-q", "--no-report"])[0] == 0
    test_data = out / "predictions" / "test_data.npz"
    with np.load(test_data) as saved:
        arrays = dict(saved)
    arrays["ids"] = np.array([Evil(marker)] * len(arrays["ids"]), dtype=object)
    np.savez(test_data, **arrays)
    status, _, err = cli(["report", str(out), "--quiet"])
    line = _one_line_error(status, err, "report")
    assert str(test_data) in line and "Python objects" in line
    assert not marker.exists()
