"""#18: the report's primary metric is the pick saved in the run folder (inspect's advice), and the answer says why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from segbench.files.run_folder import PRIMARY_FILE
from segbench.report.analysis import analyze
from segbench.report.findings import answer
from segbench.report.rundata import load_run


def test_the_report_uses_the_saved_pick_and_says_why(binary_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "run"
    shutil.copytree(binary_run, root)
    assert analyze(load_run(root), n_boot=100).primary_metric == "dice"
    (root / PRIMARY_FILE).write_text(json.dumps({"metric": "iou", "reason": "a measured reason",
                                                 "chosen_by": "inspect advice on the training split"}))
    analysis = analyze(load_run(root), n_boot=100)
    assert analysis.primary_metric == "iou"
    assert answer(analysis)[0] == ("Primary metric: iou (nucleus; higher is better). Why: iou was picked by inspect's "
                                   "advice on the training split: a measured reason.")
    (root / PRIMARY_FILE).write_text(json.dumps({"metric": "not_scored_here", "reason": "x"}))
    assert analyze(load_run(root), n_boot=100).primary_metric == "dice"  # a pick that was not scored: fallback
