"""The evaluate engine: hand-derived scores, 2D and 3D, spacing, parallel == serial, summaries, bad input."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from segbench import metrics
from segbench.errors import UsageError
from segbench.evaluate.folders import evaluate_folders
from segbench.evaluate.per_case import summarize_evaluation, write_csv


def _square(shape: tuple[int, ...], shift: int = 0, axis: int = 0) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    m[tuple(slice(2, 12) for _ in shape)] = 1
    return np.roll(m, shift, axis=axis)


def _row(ev, case: str, cls: str = "foreground") -> dict:  # type: ignore[no-untyped-def]
    return next(r for r in ev.rows if r["case"] == case and r["class"] == cls)


def test_hand_derived_2d_scores_with_png_0_255_against_npy(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    truth = _square((16, 16))
    Image.fromarray(_square((16, 16), shift=1) * 255).save(tmp_path / "p" / "c.png")
    np.save(tmp_path / "t" / "c.npy", truth)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice", "iou", "hd", "pixel_accuracy"])
    row = _row(ev, "c")
    # 10x10 square shifted one row: tp = 90, fp = fn = 10
    assert row["dice"] == pytest.approx(180 / 200) and row["iou"] == pytest.approx(90 / 110)
    assert row["hd"] == pytest.approx(1.0)
    assert row["reference_size"] == 100 and row["prediction_size"] == 100
    assert _row(ev, "c", "all")["pixel_accuracy"] == pytest.approx(1 - 20 / 256)
    assert ev.num_classes == 2 and [r["class"] for r in ev.rows] == ["all", "foreground"]


def test_3d_nifti_uses_header_spacing_in_zyx_order(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    truth = _square((14, 14, 14))
    pred = _square((14, 14, 14), shift=1, axis=0)  # one slice along z
    for folder, array in (("p", pred), ("t", truth)):
        image = nib.Nifti1Image(array.transpose(), np.eye(4))  # stored (x, y, z)
        image.header.set_zooms((0.5, 0.5, 3.0))
        nib.save(image, tmp_path / folder / "vol.nii.gz")
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice", "hd", "assd"])
    row = _row(ev, "vol")
    assert ev.spacings["vol"] == pytest.approx((3.0, 0.5, 0.5)) and ev.spacing_source == "header"
    assert row["hd"] == pytest.approx(3.0)  # a one-slice shift along z is 3 mm
    expected = metrics.average_surface_distance(torch.from_numpy(pred)[None], torch.from_numpy(truth)[None],
                                                spacing=(3.0, 0.5, 0.5))
    assert row["assd"] == pytest.approx(float(expected))
    assert row["dice"] == pytest.approx(2 * 900 / 2000)
    given = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"], spacing=[1.0, 1.0, 1.0],
                             override_spacing=True)
    assert _row(given, "vol")["hd"] == pytest.approx(1.0) and given.spacing_source == "override"
    assert any("replaces header spacings" in n for n in given.notes)


def test_3d_tiff_and_npz_volumes(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    tifffile.imwrite(tmp_path / "t" / "v.tif", _square((14, 14, 14)) * 255, photometric="minisblack")
    np.savez_compressed(tmp_path / "p" / "v.npz", mask=_square((14, 14, 14), shift=2, axis=2))
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice", "hd"], spacing=[2.0, 1.0, 0.5])
    row = _row(ev, "v")
    assert row["dice"] == pytest.approx(2 * 800 / 2000) and row["hd"] == pytest.approx(1.0)  # 2 voxels * 0.5


def _cases(root: Path, n: int = 6) -> None:
    (root / "p").mkdir(), (root / "t").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        truth = np.zeros((24, 24), dtype=np.uint8)
        if i != 0:  # case 0: empty reference
            truth[4 : 8 + 2 * i, 5 : 9 + i] = 1 + (i % 2)
        pred = np.roll(truth, int(rng.integers(-2, 3)), axis=1)
        if i == 3:
            pred[:] = 0  # a miss
        if i == 0:
            pred[1:3, 1:3] = 1  # a false alarm on an empty reference
        Image.fromarray(truth).save(root / "t" / f"case{i}.png")
        np.save(root / "p" / f"case{i}.npy", pred)


def test_parallel_equals_serial_and_csv_roundtrips(tmp_path: Path) -> None:
    _cases(tmp_path)
    kwargs = {"metrics": ["dice", "recall", "hd95", "nsd", "pixel_accuracy"], "num_classes": 3}
    serial = evaluate_folders(tmp_path / "p", tmp_path / "t", jobs=1, **kwargs)  # type: ignore[arg-type]
    parallel = evaluate_folders(tmp_path / "p", tmp_path / "t", jobs=2, **kwargs)  # type: ignore[arg-type]
    write_csv(serial, tmp_path / "serial.csv")
    write_csv(parallel, tmp_path / "parallel.csv")
    assert (tmp_path / "serial.csv").read_bytes() == (tmp_path / "parallel.csv").read_bytes()
    with open(tmp_path / "serial.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(serial.rows) == 6 * 4  # "all" + 3 classes per case
    for row, back in zip(serial.rows, read, strict=True):
        for metric in serial.metrics:
            if metric in row:
                a, b = row[metric], float(back[metric])
                assert (math.isnan(a) and math.isnan(b)) or a == b


def test_one_process_reads_each_case_once_and_scores_alike_whatever_it_keeps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pass 3 scores the cases pass 2 kept (ReadAhead) without reading them again; a budget that keeps only some
    (or none) reads the rest again and gives the same CSV to the byte."""
    from segbench.evaluate import folders

    _cases(tmp_path)
    kwargs = {"metrics": ["dice", "hd95", "pixel_accuracy"], "num_classes": 3, "ignore_index": 2}
    reads: list[str] = []
    real = folders.read_pair
    monkeypatch.setattr(folders, "read_pair",
                        lambda case, label_map=(): reads.append(case.name) or real(case, label_map))
    outputs = []
    for budget in (folders.READ_AHEAD_BYTES, 2 * 24 * 24, 0):  # all kept, one case (two uint8 maps), none
        monkeypatch.setattr(folders, "READ_AHEAD", folders.ReadAhead(budget))
        reads.clear()
        write_csv(evaluate_folders(tmp_path / "p", tmp_path / "t", jobs=1, **kwargs),  # type: ignore[arg-type]
                  tmp_path / f"{budget}.csv")
        outputs.append((tmp_path / f"{budget}.csv").read_bytes())
        assert folders.READ_AHEAD.used == 0  # emptied after scoring
        assert len(reads) == {folders.READ_AHEAD_BYTES: 6, 2 * 24 * 24: 11, 0: 12}[budget]
    assert outputs[0] == outputs[1] == outputs[2]


def test_summary_counts_empty_missed_and_false_alarms(tmp_path: Path) -> None:
    _cases(tmp_path)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice", "hd"], num_classes=3)
    by_name = {s.name: s for s in summarize_evaluation(ev, n_boot=200)}
    c1, c2 = by_name["class1"], by_name["class2"]  # class 1 in cases 2, 4; class 2 in cases 1, 3, 5
    assert (c1.cases, c1.empty_reference, c1.false_positive_on_empty, c1.missed) == (6, 4, 1, 0)  # alarm: case 0
    assert (c2.cases, c2.empty_reference, c2.false_positive_on_empty, c2.missed) == (6, 3, 0, 1)  # miss: case 3

    def stats(cs, metric):  # type: ignore[no-untyped-def]
        return next(m for m in cs.metrics if m.metric == metric).summary

    assert (stats(c1, "hd").n_inf, stats(c1, "hd").n_nan, stats(c1, "dice").n_nan) == (1, 3, 3)
    assert (stats(c2, "hd").n_inf, stats(c2, "hd").n_nan, stats(c2, "dice").n_nan) == (1, 3, 3)
    assert stats(c2, "hd").mean == math.inf and stats(c2, "dice").median < 1


def test_inferred_classes_note_and_class_names(tmp_path: Path) -> None:
    _cases(tmp_path)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], class_names=["bg", "a", "b"])
    assert ev.num_classes == 3 and any("3 classes inferred" in n for n in ev.notes)
    assert {r["class"] for r in ev.rows} == {"bg", "a", "b"}
    with pytest.raises(UsageError, match=r"--class-names must give 3 distinct names"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], class_names=["bg", "a"])


def test_every_bad_case_is_named_before_scoring(tmp_path: Path) -> None:
    _cases(tmp_path)
    np.save(tmp_path / "p" / "case1.npy", np.zeros((24, 25), dtype=np.uint8))
    (tmp_path / "p" / "case2.npy").write_bytes(b"garbage")
    with pytest.raises(UsageError) as info:
        evaluate_folders(tmp_path / "p", tmp_path / "t", jobs=2, metrics=["dice"])
    text = str(info.value)
    assert text.startswith("2 case(s) failed the checks")
    assert "case1.npy is (24, 25) but ground truth" in text and "case1.png is (24, 24)" in text
    assert "cannot read mask file" in text and "case2.npy" in text


def test_labels_out_of_range_and_bad_options(tmp_path: Path) -> None:
    _cases(tmp_path)
    with pytest.raises(UsageError, match=r"case\d.npy holds label\(s\) \[2\]; expected labels 0..1"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", num_classes=2, metrics=["dice"])
    with pytest.raises(UsageError, match=r"--spacing has 3 value\(s\) but case 'case0' is 2D"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", spacing=[1.0, 1.0, 1.0], metrics=["dice"])
    with pytest.raises(UsageError, match=r"--metrics: unknown metric 'dsc'"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dsc"])


def test_header_spacing_disagreement_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    for folder, zooms in (("p", (1.0, 1.0, 1.0)), ("t", (1.0, 1.0, 2.5))):
        image = nib.Nifti1Image(_square((14, 14, 14)), np.eye(4))
        image.header.set_zooms(zooms)
        nib.save(image, tmp_path / folder / "v.nii")
    with pytest.raises(UsageError, match=r"header spacing differs in case 'v'.*\(2.5, 1.0, 1.0\)"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["hd"])


def test_ignore_index_pixels_count_nowhere(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    truth = _square((16, 16))
    truth[0:2, :] = 255  # ignored rows; the prediction paints them foreground, which must not count
    pred = _square((16, 16))
    pred[0:2, :] = 1
    np.save(tmp_path / "t" / "c.npy", truth)
    np.save(tmp_path / "p" / "c.npy", pred)
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", ignore_index=255, metrics=["dice", "precision"])
    row = _row(ev, "c")
    assert row["dice"] == 1.0 and row["precision"] == 1.0
    assert (row["reference_size"], row["prediction_size"]) == (100, 100)
    with pytest.raises(UsageError, match=r"c.npy holds label\(s\) \[255\]"):
        evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["dice"], num_classes=2)
