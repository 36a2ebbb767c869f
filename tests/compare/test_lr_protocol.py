"""The equal tuning protocol: a learning-rate grid trained on the first seed, the best value kept (the same
whatever order the grid is given in), then every seed at it; the choice and the runs resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segbench.compare import config, runner
from segbench.compare.runner import RunKey, choose_lr, prepare, run_compare

GRID = [3e-4, 1e-3, 3e-3]
TINY = {
    "dataset": {"spec": "synthetic", "image_size": 16, "options": {"num_images": 12, "foreground_fraction": 0.2}},
    "model": {"width": 2, "depth": 2},
    "train": {"max_steps": 6, "eval_every": 3, "patience": 3, "crop": 12, "batch_size": 4, "seeds": 2,
              "num_threads": 1, "device": "cpu", "lr": GRID},
    "losses": {"specs": ["ce", "dice"]},
    "eval": {"metrics": ["dice"]},
}


@given(st.dictionaries(st.sampled_from([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
                       st.one_of(st.sampled_from([0.0, 0.5, 0.7]), st.just(math.nan)), min_size=1),
       st.booleans(), st.randoms())
def test_choice_is_the_best_value_ties_to_the_smallest_whatever_the_order(scores: dict, higher: bool, rnd) -> None:
    items = list(scores.items())
    rnd.shuffle(items)
    chosen = choose_lr(dict(items), higher_is_better=higher)
    assert chosen == choose_lr(dict(sorted(items)), higher_is_better=higher)
    finite = [v for v in scores.values() if not math.isnan(v)]
    if finite:
        best = max(finite) if higher else min(finite)
        assert scores[chosen] == best
        assert chosen == min(lr for lr, v in scores.items() if v == best)
    else:
        assert chosen == min(scores)


def _cfg(grid: list[float], **train: object) -> config.ExperimentConfig:
    return config.resolve({**TINY, "train": {**TINY["train"], "lr": grid, **train}})


def _record(out: Path, loss: str) -> dict:
    return json.loads((out / "runs" / loss / "lr.json").read_text())


def test_grid_order_does_not_change_the_choice_or_the_results(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_compare(prepare(_cfg(GRID)), a, quiet=True)
    run_compare(prepare(_cfg([GRID[2], GRID[0], GRID[1]])), b, quiet=True)
    for loss in ("ce", "dice"):
        rec = _record(a, loss)
        assert rec == _record(b, loss)
        scores = {r["lr"]: r["val"] for r in rec["scores"]}
        assert rec["chosen"] == choose_lr(scores)
        # the grid ran on the first seed only; every seed at the chosen value
        folders = sorted(p.relative_to(a / "runs" / loss).as_posix() for p in (a / "runs" / loss).glob("*/seed*"))
        lr = f"lr={rec['chosen']!r}"
        assert folders == sorted({f"lr={v!r}/seed0" for v in GRID} | {f"{lr}/seed1"})
    assert (a / "results" / "per_image.csv").read_text() == (b / "results" / "per_image.csv").read_text()
    summary = json.loads((a / "results" / "training.json").read_text())
    assert summary["lr_grid"] == GRID and {r["lr"] for r in summary["runs"] if r["model"] == "ce"} == {
        _record(a, "ce")["chosen"]}
    assert len(summary["lr_search"]) == 2 * len(GRID)


def test_the_choice_and_the_runs_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    calls: list[list[RunKey]] = []
    original = runner._train_runs

    def interrupted(exp, out_, runs, settings, bar):  # type: ignore[no-untyped-def]
        calls.append(list(runs))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after the grid, before the other seeds
        original(exp, out_, runs, settings, bar)

    monkeypatch.setattr(runner, "_train_runs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_compare(prepare(_cfg(GRID)), out, quiet=True)
    assert [len(c) for c in calls] == [2 * len(GRID), 2]
    assert {k.seed for k in calls[0]} == {0} and {k.seed for k in calls[1]} == {1}
    # the choice is on disk; make it another grid value to show the rerun reads it back, not recomputes it
    record = _record(out, "dice")
    other = next(v for v in GRID if v != record["chosen"])
    (out / "runs" / "dice" / "lr.json").write_text(json.dumps({**record, "chosen": other}))

    trained: list[RunKey] = []
    original_one = runner._run_one

    def counting(exp, out_, key, settings, bar):  # type: ignore[no-untyped-def]
        if not (runner._run_dir(exp, out_, key) / "done.json").exists():
            trained.append(key)
        original_one(exp, out_, key, settings, bar)

    monkeypatch.setattr(runner, "_train_runs", original)
    monkeypatch.setattr(runner, "_run_one", counting)
    run_compare(prepare(_cfg(GRID)), out, quiet=True)
    assert sorted(trained, key=str) == sorted([RunKey("ce", 1, _record(out, "ce")["chosen"]),
                                               RunKey("dice", 1, other)], key=str)  # no grid run again
    trained.clear()
    run_compare(prepare(_cfg(GRID)), out, quiet=True)
    assert trained == []  # a finished experiment trains nothing


def test_a_scalar_lr_keeps_the_plain_run_folders(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_compare(prepare(config.resolve({**TINY, "train": {**TINY["train"], "lr": 1e-3, "seeds": 1}})), out,
                quiet=True)
    assert sorted(p.relative_to(out / "runs").as_posix() for p in (out / "runs").glob("*/seed*")) == [
        "ce/seed0", "dice/seed0"]
    assert not list((out / "runs").glob("*/lr.json")) and (out / "predictions" / "ce_seed0.npz").exists()
    summary = json.loads((out / "results" / "training.json").read_text())
    assert summary["lr_grid"] is None and summary["lr_search"] == []
