"""Reading the run folder: shapes, order, and a clear error for every malformed input."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from segbench.errors import UsageError
from segbench.files.run_folder import slug
from segbench.report.rundata import load_predictions, load_run


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def test_load_shapes_and_order(binary_run: Path) -> None:
    run = load_run(binary_run)
    assert run.trained == ("ce", "dice", "0.5*bce + 0.5*dice")
    assert run.trivial == ("all-background", "all-foreground", "majority-class")
    assert run.seeds == (0, 1) and len(run.images) == 16
    assert run.classes == ("nucleus",) and run.background == "background"
    assert run.values[("dice", "nucleus")].shape == (6, 2, 16)
    assert run.pooled[("dice", "nucleus")].shape == (6, 2)
    assert run.history["ce"]["val_dice"].shape == (2, 4)


def test_values_match_csv_including_nan_and_inf(binary_run: Path) -> None:
    run = load_run(binary_run)
    with open(binary_run / "results" / "per_image.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "hd95" and r["model"] == "dice"]
    expected = np.array([float(r["value"]) for r in rows]).reshape(2, 16)
    got = run.values[("hd95", "nucleus")][1]
    np.testing.assert_array_equal(got, expected)  # NaN == NaN and inf == inf here
    assert np.isposinf(got).any() and np.isnan(run.values[("dice", "nucleus")]).any()


def test_missing_folder_and_files(tmp_path: Path, binary_run: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_run(tmp_path / "nope")
    run = _copy(binary_run, tmp_path)
    (run / "results" / "per_image.csv").unlink()
    with pytest.raises(UsageError, match=r"per_image\.csv not found"):
        load_run(run)


def test_duplicate_and_missing_rows(tmp_path: Path, binary_run: Path) -> None:
    run = _copy(binary_run, tmp_path)
    path = run / "results" / "per_image.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[5]]) + "\n")
    with pytest.raises(UsageError, match="duplicate score"):
        load_run(run)
    path.write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    with pytest.raises(UsageError, match="incomplete results"):
        load_run(run)


def test_bad_value_and_column(tmp_path: Path, binary_run: Path) -> None:
    run = _copy(binary_run, tmp_path)
    path = run / "results" / "per_image.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",abc"]) + "\n")
    with pytest.raises(UsageError, match="line 2: value 'abc' is not a number"):
        load_run(run)
    path.write_text("model,seed,value\nce,0,1.0\n")
    with pytest.raises(UsageError, match="missing column"):
        load_run(run)


def test_slug_follows_the_schema() -> None:
    assert slug("0.5*bce + 0.5*dice") == "0.5_bce_0.5_dice"
    assert slug("tversky(alpha=0.3)") == "tversky_alpha=0.3"  # no trailing "_": the name compare saves


def test_predictions_of_a_model_with_parameters_are_found(tmp_path: Path, binary_run: Path) -> None:
    # regression (#17): compare saved `tversky_alpha=0.5_seed0.npz`, the report looked for `..._alpha=0.5__seed0`
    run_dir = _copy(binary_run, tmp_path)
    run = load_run(run_dir)
    first = run_dir / "predictions" / f"{slug(run.trained[0])}_seed{run.seeds[0]}.npz"
    (run_dir / "predictions" / f"tversky_alpha=0.5_seed{run.seeds[0]}.npz").write_bytes(first.read_bytes())
    preds = load_predictions(run, ("tversky(alpha=0.5)",), seed=run.seeds[0])
    assert preds is not None and preds.missing == () and set(preds.preds) == {"tversky(alpha=0.5)"}


def test_predictions_aligned(binary_run: Path) -> None:
    run = load_run(binary_run)
    preds = load_predictions(run, (*run.trained, "not-a-model"), seed=1)
    assert preds is not None
    assert set(preds.preds) == set(run.trained) and preds.missing == ("not-a-model",)
    assert preds.images.shape == (16, 1, 24, 24) and preds.targets.shape == (16, 24, 24) and preds.seed == 1
