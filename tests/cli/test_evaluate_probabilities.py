"""``segbench evaluate --probabilities / --instances / --objects-csv``: values by hand, formats, clear errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from segbench.cli import main


def _truth(root: Path) -> tuple[Path, Path, np.ndarray]:
    """One 8x8 case: a 2x4 nucleus (8 px) in the truth; the prediction is the truth."""
    pred, truth = root / "pred", root / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((8, 8), np.uint8)
    t[2:4, 2:6] = 255
    Image.fromarray(t).save(truth / "a.png")
    Image.fromarray(t).save(pred / "a.png")
    return pred, truth, (t > 0)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _save(folder: Path, name: str, array: np.ndarray) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    if name.endswith(".npy"):
        np.save(path, array)
    elif name.endswith(".npz"):
        np.savez(path, probabilities=array)
    else:
        tifffile.imwrite(path, array)
    return path


@pytest.mark.parametrize("name", ["a.npy", "a.npz", "a.tif"])
def test_binary_foreground_probabilities_by_hand(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    pred, truth, fg = _truth(tmp_path)
    p = np.where(fg, 0.75, 0.25).astype(np.float32)  # every pixel on the right side of 1/2
    _save(tmp_path / "probs", name, p)
    out = tmp_path / "scores.csv"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--probabilities", str(tmp_path / "probs"),
                 "--metrics", "dice,ece,brier,nll,ap,soft_volume_bias", "--out", str(out)]) == 0
    rows = {r["class"]: r for r in _rows(out)}
    # top-label confidence .75 everywhere, all right: ECE = |1 - .75|; Brier = .25^2; NLL = -log .75
    assert float(rows["all"]["ece"]) == pytest.approx(0.25)
    assert float(rows["all"]["brier"]) == pytest.approx(0.0625)
    assert float(rows["all"]["nll"]) == pytest.approx(-math.log(0.75), rel=1e-6)
    assert float(rows["foreground"]["ap"]) == 1.0 and float(rows["foreground"]["dice"]) == 1.0
    # soft volume 8 * .75 + 56 * .25 = 20 against 8
    assert float(rows["foreground"]["soft_volume_bias"]) == pytest.approx((20 - 8) / 8)
    assert "ece" in capsys.readouterr().out


def test_multiclass_probabilities_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((4, 4), np.uint8)
    t[0, :2], t[3, 2:] = 1, 2
    np.save(truth / "a.npy", t)
    np.save(pred / "a.npy", t)
    probs = np.full((3, 4, 4), 0.1)
    for k in range(3):
        probs[k][t == k] = 0.8
    _save(tmp_path / "ok", "a.npy", probs)
    out = tmp_path / "s.csv"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--probabilities", str(tmp_path / "ok"),
                 "--num-classes", "3", "--metrics", "brier,nll", "--out", str(out)]) == 0
    row = next(r for r in _rows(out) if r["class"] == "all")
    assert float(row["brier"]) == pytest.approx(0.2**2 + 2 * 0.1**2)  # the same at every pixel
    assert float(row["nll"]) == pytest.approx(-math.log(0.8))
    capsys.readouterr()
    bad = {
        "outside": (probs * 1.5, "expected probabilities in [0, 1]"),
        "sum": (np.full((3, 4, 4), 0.5), "channels do not sum to 1"),
        "shape": (probs[:, :3], "has shape (3, 3, 4); its ground truth is (4, 4) with 3 classes"),
        "channels": (probs[:2], "expected (3, 4, 4)"),
        "labels": (t.astype(np.int64), "holds int64 values; expected floating-point probabilities"),
    }
    for key, (array, message) in bad.items():
        _save(tmp_path / key, "a.npy", array)
        result = tmp_path / f"{key}.csv"
        assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--probabilities", str(tmp_path / key),
                     "--num-classes", "3", "--out", str(result)]) == 2, key
        err = capsys.readouterr().err
        assert message in err and "a.npy" in err, (key, err)
        assert not result.exists()
    (tmp_path / "none").mkdir()
    np.save(tmp_path / "none" / "b.npy", probs)
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--probabilities",
                 str(tmp_path / "none"), "--num-classes", "3"]) == 2
    assert "--probabilities" in capsys.readouterr().err
    # a probability metric without probabilities says what it needs
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "ece"]) == 2
    assert "needs probabilities" in capsys.readouterr().err


def test_nifti_probabilities_are_transposed_like_masks(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((3, 4, 5), np.uint8)  # (z, y, x) as evaluate reads it
    t[1, 1:3, 1:4] = 1
    nib.save(nib.Nifti1Image(t.transpose().copy(), np.eye(4)), truth / "a.nii.gz")
    nib.save(nib.Nifti1Image(t.transpose().copy(), np.eye(4)), pred / "a.nii.gz")
    p = np.where(t == 1, 0.9, 0.2).astype(np.float32)
    (tmp_path / "probs").mkdir()
    nib.save(nib.Nifti1Image(p.transpose().copy(), np.eye(4)), tmp_path / "probs" / "a.nii.gz")
    out = tmp_path / "s.csv"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--probabilities", str(tmp_path / "probs"),
                 "--metrics", "brier", "--out", str(out)]) == 0
    row = next(r for r in _rows(out) if r["class"] == "all")
    assert float(row["brier"]) == pytest.approx((6 * 0.1**2 + 54 * 0.2**2) / 60, rel=1e-6)


def test_instances_object_counts_and_per_object_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two touching nuclei (ids 1, 2) of 4 px each, one separate (id 3); the prediction is the semantic truth,
    # so it merges 1 and 2 into one component (IoU 1/2 with each: no match) and finds 3
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    inst = np.zeros((6, 8), np.uint16)
    inst[1:3, 1:3], inst[1:3, 3:5], inst[4:6, 6:8] = 1, 2, 3
    sem = (inst > 0).astype(np.uint8) * 255
    Image.fromarray(sem).save(truth / "a.png")
    Image.fromarray(sem).save(pred / "a.png")
    (tmp_path / "inst").mkdir()
    np.save(tmp_path / "inst" / "a.npy", inst)
    out, objects = tmp_path / "s.csv", tmp_path / "objects.csv"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--instances", str(tmp_path / "inst"),
                 "--metrics", "dice,dsb_score,pq,object_f1", "--out", str(out), "--objects-csv", str(objects)]) == 0
    row = _rows(out)[0]
    assert (row["reference_objects"], row["predicted_objects"], row["matched_objects"]) == ("3", "2", "1")
    assert float(row["dice"]) == 1.0
    assert float(row["object_f1"]) == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))  # TP 1, FP 1, FN 2
    assert float(row["pq"]) == pytest.approx(1.0 * 1 / (1 + 0.5 + 1))
    assert float(row["dsb_score"]) == pytest.approx(1 / 4)
    per_object = _rows(objects)
    assert sorted((r["side"], r["status"]) for r in per_object) == [
        ("prediction", "FP"), ("prediction", "TP"), ("reference", "FN"), ("reference", "FN"), ("reference", "TP")]
    assert {r["case"] for r in per_object} == {"a"} and {r["class"] for r in per_object} == {"foreground"}
    assert "wrote 5 object rows" in capsys.readouterr().out
    # without instances the reference objects are the truth's components: 2, both matched
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "pq", "--out", str(out)]) == 0
    row = _rows(out)[0]
    assert (row["reference_objects"], row["matched_objects"], row["pq"]) == ("2", "2", "1.0")
    np.save(tmp_path / "inst" / "a.npy", inst[:, :4])
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--instances", str(tmp_path / "inst"),
                 "--metrics", "pq"]) == 2
    assert "instance map" in capsys.readouterr().err
