"""``evaluate`` on medical volumes: orientation, spacing order and override, sparse and 255 labels, naming schemes.

Every expected number is derived by hand from the geometry of the test volumes (a box shifted by whole voxels).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from segbench.cli import evaluate as command
from segbench.errors import UsageError
from segbench.evaluate.folders import evaluate_folders

ZOOMS_XYZ = (0.8, 0.8, 2.5)  # the order nibabel's get_zooms() prints
METRICS = ["dice", "hd", "hd95", "assd", "nsd"]


def _box_xyz(shift_x: int = 0) -> np.ndarray:
    """A (x, y, z) = (20, 18, 8) volume holding a box, shifted along x by ``shift_x`` voxels."""
    m = np.zeros((20, 18, 8), np.uint8)
    m[5 + shift_x : 12 + shift_x, 4:13, 2:6] = 1
    return m


def _affine(zooms: tuple[float, float, float] = ZOOMS_XYZ, origin: tuple[float, ...] = (0.0, 0.0, 0.0)) -> np.ndarray:
    a = np.diag([*zooms, 1.0])
    a[:3, 3] = origin
    return a


def _save(path: Path, xyz: np.ndarray, affine: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(xyz, affine), path)


def _flip_x(xyz: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same volume in world space, stored with i running right to left (RAS -> LAS)."""
    flipped = affine.copy()
    flipped[:3, 0] = -affine[:3, 0]
    flipped[:3, 3] = affine[:3, 3] + affine[:3, 0] * (xyz.shape[0] - 1)
    return xyz[::-1].copy(), flipped


def _row(ev, case: str = "c") -> dict:  # type: ignore[no-untyped-def]
    return next(r for r in ev.rows if r["case"] == case and r["class"] == "foreground")


def test_flipped_affine_scores_as_the_unflipped_prediction(tmp_path: Path) -> None:
    truth, pred = _box_xyz(), _box_xyz(shift_x=3)
    _save(tmp_path / "t" / "c.nii.gz", truth, _affine())
    _save(tmp_path / "plain" / "c.nii.gz", pred, _affine())
    _save(tmp_path / "flip" / "c.nii.gz", *_flip_x(pred, _affine()))
    _save(tmp_path / "same" / "c.nii.gz", *_flip_x(truth, _affine()))
    plain = evaluate_folders(tmp_path / "plain", tmp_path / "t", metrics=METRICS)
    flip = evaluate_folders(tmp_path / "flip", tmp_path / "t", metrics=METRICS)
    same = evaluate_folders(tmp_path / "same", tmp_path / "t", metrics=METRICS)
    assert _row(flip) == _row(plain)
    # hand-derived: 7 of 7 x-columns shifted by 3 -> overlap 4/7; HD = 3 voxels * 0.8 mm
    assert _row(plain)["dice"] == pytest.approx(4 / 7) and _row(plain)["hd"] == pytest.approx(2.4)
    assert _row(same)["dice"] == 1.0 and _row(same)["hd"] == 0.0 and _row(same)["assd"] == 0.0
    assert [n for n in flip.notes if "reoriented 1 prediction(s)" in n and "LAS -> RAS" in n]
    assert not [n for n in plain.notes if "reoriented" in n]


def test_axis_permuted_prediction_is_reoriented(tmp_path: Path) -> None:
    truth = _box_xyz()
    _save(tmp_path / "t" / "c.nii", truth, _affine())
    # stored (y, x, z): the affine's first two columns swap
    affine = _affine()[:, [1, 0, 2, 3]]
    _save(tmp_path / "p" / "c.nii", truth.transpose(1, 0, 2).copy(), affine)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice", "hd"])
    assert _row(ev)["dice"] == 1.0 and _row(ev)["hd"] == 0.0
    assert [n for n in ev.notes if "ARS -> RAS" in n]


def test_real_grid_mismatch_is_one_error_naming_both_files_and_codes(tmp_path: Path) -> None:
    truth = _box_xyz()
    _save(tmp_path / "t" / "c.nii.gz", truth, _affine())
    _save(tmp_path / "p" / "c.nii.gz", *_flip_x(truth, _affine(origin=(1.6, 0.0, 0.0))))
    with pytest.raises(UsageError) as info:
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    text = str(info.value)
    assert "\n" not in text and str(tmp_path / "p" / "c.nii.gz") in text and str(tmp_path / "t" / "c.nii.gz") in text
    assert "(LAS)" in text and "(RAS)" in text and "origin (1.6, 0, 0) vs (0, 0, 0) mm" in text
    _save(tmp_path / "p2" / "c.nii.gz", truth, _affine(zooms=(0.8, 0.8, 3.0)))
    with pytest.raises(UsageError, match=r"different voxel grids: spacing \(i, j, k\) \(0.8, 0.8, 3\) vs "
                                         r"\(0.8, 0.8, 2.5\) mm"):
        evaluate_folders(tmp_path / "p2", tmp_path / "t", metrics=["dice"])
    _save(tmp_path / "p3" / "c.nii.gz", np.zeros((20, 18, 9), np.uint8), _affine())
    with pytest.raises(UsageError, match=r"shape \(i, j, k\) \(20, 18, 9\) vs \(20, 18, 8\)"):
        evaluate_folders(tmp_path / "p3", tmp_path / "t", metrics=["dice"])


def test_sub_tolerance_float32_differences_are_the_same_grid(tmp_path: Path) -> None:
    truth = _box_xyz()
    _save(tmp_path / "t" / "c.nii", truth, _affine(origin=(-100.0, 20.0, 7.0)))
    _save(tmp_path / "p" / "c.nii", truth, _affine(origin=(-100.0 + 1e-5, 20.0, 7.0)))
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    assert _row(ev)["dice"] == 1.0 and not [n for n in ev.notes if "reoriented" in n]


def test_spacing_from_header_order_override_and_precision(tmp_path: Path) -> None:
    _save(tmp_path / "t" / "c.nii.gz", _box_xyz(), _affine())
    _save(tmp_path / "p" / "c.nii.gz", _box_xyz(shift_x=3), _affine())
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"])
    assert ev.spacings["c"] == (2.5, 0.8, 0.8) and ev.spacing_source == "header"  # exact: 0.8, not float32's
    assert _row(ev)["hd"] == pytest.approx(2.4)
    order = r"--spacing 0.8,0.8,2.5 \(Z,Y,X\) disagrees with the header .*2.5,0.8,0.8 \(Z,Y,X\) "
    with pytest.raises(UsageError, match=order + r"\(that is the header's spacing in x,y,z order.*--override-spacing"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"], spacing=[0.8, 0.8, 2.5])
    agreed = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"], spacing=[2.5, 0.8, 0.8])
    assert agreed.spacing_source == "given" and _row(agreed)["hd"] == pytest.approx(2.4)
    forced = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"], spacing=[0.8, 0.8, 2.5],
                              override_spacing=True)
    assert _row(forced)["hd"] == pytest.approx(7.5)  # x is now 2.5 mm per voxel: 3 * 2.5
    with pytest.raises(UsageError, match=r"--override-spacing needs --spacing"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"], override_spacing=True)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_cli_states_axis_order_and_writes_spacing_at_its_precision(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _save(tmp_path / "t" / "c.nii.gz", _box_xyz(), _affine())
    _save(tmp_path / "p" / "c.nii.gz", *_flip_x(_box_xyz(shift_x=3), _affine()))
    out = tmp_path / "scores.csv"
    assert _cli(["--pred", str(tmp_path / "p"), "--truth", str(tmp_path / "t"), "--metrics", "dice,hd",
                 "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "spacing: Z,Y,X = 2.5, 0.8, 0.8 (ground-truth header)" in text
    assert text.count("reoriented") == 1 and "LAS -> RAS" in text
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["spacing"] for r in rows} == {"2.5x0.8x0.8"}
    assert "0.800000" not in out.read_text()
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert "Z,Y,X" in parser.format_help() and "get_zooms" in parser.format_help()
    assert _cli(["--pred", str(tmp_path / "p"), "--truth", str(tmp_path / "t"), "--metrics", "hd",
                 "--spacing", "0.8,0.8,2.5", "--override-spacing", "--no-progress"]) == 0
    assert "Z,Y,X = 0.8, 0.8, 2.5 (--spacing, overriding headers)" in capsys.readouterr().out


def test_sparse_label_values_are_an_error_naming_label_map(tmp_path: Path) -> None:
    truth = np.zeros((10, 12, 12), np.uint16)
    truth[2:6, 2:6, 2:6], truth[6:9, 7:11, 7:11] = 1000, 2000
    pred = truth.copy()
    pred[2:6, 2:6, 2] = 0  # 16 of the 64 voxels of label 1000 missed
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    np.save(tmp_path / "t" / "c.npy", truth), np.save(tmp_path / "p" / "c.npy", pred)
    with pytest.raises(UsageError, match=r"label values \[0, 1000, 2000\]: inferring --num-classes 2001 .* 1998 "
                                         r"classes that appear in no file; .*--label-map 1000=1,2000=2"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], label_map={1000: 1, 2000: 2})
    assert ev.num_classes == 3
    rows = {r["class"]: r["dice"] for r in ev.rows}
    assert rows["class1"] == pytest.approx(2 * 48 / (64 + 48)) and rows["class2"] == 1.0
    kept = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], num_classes=2001)  # asked for
    assert kept.num_classes == 2001


def test_voc_255_border_is_an_error_naming_ignore_index(tmp_path: Path) -> None:
    truth = np.zeros((16, 16), np.uint8)
    truth[4:10, 4:10], truth[11:14, 2:6] = 1, 2
    truth[3, 3:11] = 255  # a border
    pred = np.where(truth == 255, 1, truth).astype(np.uint8)
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    np.save(tmp_path / "t" / "c.npy", truth), np.save(tmp_path / "p" / "c.npy", pred)
    with pytest.raises(UsageError, match=r"label values \[0, 1, 2, 255\].*--ignore-index 255"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    with pytest.raises(UsageError, match=r"holds label\(s\) \[255\].*--ignore-index 255"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], num_classes=3)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], ignore_index=255)
    assert ev.num_classes == 3 and all(r["dice"] == 1.0 for r in ev.rows if r["class"] != "background")


def _touch_masks(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for name in names:
        np.save(folder / name, np.eye(4, dtype=np.uint8))


@pytest.mark.parametrize(("preds", "truths", "note"), [
    (["case_001_pred.npy", "case_002_pred.npy"], ["case_001.npy", "case_002.npy"], "'_pred' from the prediction"),
    (["case_001_0000.npy", "case_002_0000.npy"], ["case_001.npy", "case_002.npy"], "_dddd (nnU-Net channel)"),
    (["case_001.npy", "case_002.npy"], ["case_001_gt.npy", "case_002_gt.npy"], "'_gt' from the ground-truth"),
])
def test_common_naming_schemes_pair_and_say_so(tmp_path: Path, preds: list[str], truths: list[str],
                                               note: str) -> None:
    _touch_masks(tmp_path / "p", preds)
    _touch_masks(tmp_path / "t", truths)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    assert ev.cases == ["case_001", "case_002"] and [n for n in ev.notes if note in n]
    assert all(r["dice"] == 1.0 for r in ev.rows)


def test_other_naming_schemes_name_the_option(tmp_path: Path) -> None:
    _touch_masks(tmp_path / "p", ["case_001-out.npy", "case_002-out.npy"])
    _touch_masks(tmp_path / "t", ["case_001.npy", "case_002.npy"])
    with pytest.raises(UsageError, match=r"have no prediction.*give --pred-suffix _pred or --truth-suffix"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"])
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], pred_suffix="-out")
    assert ev.cases == ["case_001", "case_002"]
    with pytest.raises(UsageError, match=r"1 ground-truth file\(s\) do not end with --truth-suffix '_x': case_002"):
        _touch_masks(tmp_path / "t2", ["case_001_x.npy", "case_002.npy"])
        evaluate_folders(tmp_path / "p", tmp_path / "t2", metrics=["dice"], pred_suffix="-out", truth_suffix="_x")


def test_label_map_flag_parsing() -> None:
    assert command.parse_label_map("1000=1,2000=2") == {1000: 1, 2000: 2}
    for bad in ("1000", "a=1", "1=-1", "1=1,1=2"):
        with pytest.raises(UsageError, match=r"--label-map takes distinct VALUE=LABEL"):
            command.parse_label_map(bad)


def test_no_background_scores_the_foreground_classes_alone_with_the_same_values(tmp_path: Path) -> None:
    truth = np.zeros((20, 18, 8), np.uint8)
    truth[2:9, 3:10, 1:5], truth[12:17, 8:15, 3:7] = 1, 2
    pred = np.roll(truth, (1, -2, 1), axis=(0, 1, 2))
    _save(tmp_path / "t" / "c.nii.gz", truth, _affine())
    _save(tmp_path / "p" / "c.nii.gz", pred, _affine())
    every = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=METRICS)
    fg = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=METRICS, include_background=False)
    background = every.rows[0]["class"]
    assert {r["class"] for r in every.rows} == {background, *(r["class"] for r in fg.rows)}
    assert background not in {r["class"] for r in fg.rows} and len({r["class"] for r in fg.rows}) == 2
    assert fg.rows == [r for r in every.rows if r["class"] != background]  # same values, class 0 left out
    out = tmp_path / "scores.csv"
    assert _cli(["--pred", str(tmp_path / "p"), "--truth", str(tmp_path / "t"), "--metrics", "dice,hd95",
                 "--out", str(out), "--no-progress", "--no-background"]) == 0
    with open(out, newline="") as handle:
        assert background not in {r["class"] for r in csv.DictReader(handle)}
