"""The report's "Training and tuning" section: the plateau protocol, runs stopped while still improving, the
learning-rate protocol with its sensitivity figure and edge warning, dead loss terms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from segbench.report import build_report
from segbench.report.training import load_training, training_notes, training_warnings

SUMMARY: dict = {
    "monitor": "dice", "max_steps": 800, "eval_every": 25, "patience": 100, "min_delta": 0.01, "batch_size": 8,
    "crop": [32, 32], "epochs": None, "lr_grid": [3e-4, 1e-3, 3e-3], "lr_seed": 0,
    "runs": [{"model": "ce", "seed": 0, "lr": 1e-3, "stop": "plateau", "stop_step": 300, "max_steps": 800,
              "still_improving": False, "dead_terms": []},
             {"model": "ce", "seed": 1, "lr": 1e-3, "stop": "max_steps", "stop_step": 800, "max_steps": 800,
              "still_improving": True, "dead_terms": []},
             {"model": "dice", "seed": 0, "lr": 3e-3, "stop": "plateau", "stop_step": 250, "max_steps": 800,
              "still_improving": False, "dead_terms": ["ce"]}],
    "lr_search": [{"model": m, "lr": lr, "val": v, "chosen": c} for m, lr, v, c in [
        ("ce", 3e-4, 0.6, False), ("ce", 1e-3, 0.8, True), ("ce", 3e-3, 0.7, False),
        ("dice", 3e-4, 0.5, False), ("dice", 1e-3, 0.6, False), ("dice", 3e-3, 0.75, True)]],
}


SUMMARY["lr_search"][3]["still_improving"] = True  # dice's tuning run at 3e-4 was cut by the maximum


def test_the_notes_state_the_protocol_and_every_warning() -> None:
    notes = training_notes(SUMMARY)
    assert notes[0].startswith("Training: at most 800 optimizer steps (batches of 8 random 32x32 crops)")
    assert "2 of 3 runs reached the plateau" in notes[0]
    assert "Chosen: ce 0.001, dice 0.003" in notes[1] and "[0.0003, 0.001, 0.003]" in notes[1]
    warnings = training_warnings(SUMMARY)
    assert len(warnings) == 4
    assert warnings[0].startswith("ce seed 1 stopped at the maximum of 800 steps while still improving")
    assert "ranking reflects how fast it learns" in warnings[0]
    assert warnings[1].startswith("dice: the chosen learning rate 0.003 is the largest of the grid")  # not ce
    assert warnings[2].startswith("dice: its tuning run at learning rate 0.0003 stopped at the maximum")
    assert warnings[3].startswith("dice: term ce is dead")
    assert [f"Warning: {w}" for w in warnings] == notes[-4:]


def test_no_warning_for_a_run_that_plateaued_inside_the_grid() -> None:
    calm = {**SUMMARY, "runs": SUMMARY["runs"][:1], "lr_search": SUMMARY["lr_search"][:3]}
    assert training_warnings(calm) == []
    assert training_warnings(None) == [] and training_notes(None) == []


def test_the_report_has_the_section_and_the_sensitivity_figure(tmp_path: Path, binary_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(binary_run, run)
    (run / "results" / "training.json").write_text(json.dumps(SUMMARY))
    assert load_training(run) == SUMMARY
    paths = build_report(run, n_boot=50, quiet=True)
    html = paths.html.read_text()
    assert '<section id="training"><h2>Training and tuning</h2>' in html
    assert "stopped at the maximum of 800 steps while still improving" in html
    assert "<b>Caveat:</b> 1 of 3 runs stopped at the step maximum while still improving (ce seed 1)" in html
    assert "sensitivity" in paths.figures and 'id="fig-sensitivity"' in html
    markdown = paths.markdown.read_text()
    assert "## Training and tuning" in markdown and "**Caveat:** 1 of 3 runs stopped" in markdown


def test_volume_runs_state_their_patches_not_a_2d_crop() -> None:
    volume = {**SUMMARY, "crop": None, "patch_size": [16, 24, 24], "foreground_share": 0.5}
    assert training_notes(volume)[0].startswith(
        "Training: at most 800 optimizer steps (batches of 8 random 16x24x24 patches, 50% of them centred on "
        "foreground)")


def test_an_older_run_folder_has_no_training_notes(binary_run: Path) -> None:
    assert load_training(binary_run) is None  # the fake folder predates results/training.json
