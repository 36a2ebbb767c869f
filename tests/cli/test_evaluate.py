"""``segbench evaluate`` as a command: output, the results file, and bad input (one line, exit 2, no file)."""

from __future__ import annotations

import argparse
import csv
import importlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segbench.cli import evaluate as command
from segbench.errors import UsageError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def _main(argv: list[str]) -> int:
    """The real ``segbench`` entry point (skipped while another command module is still missing)."""
    try:
        cli = importlib.import_module("segbench.cli")
        cli.build_parser()
    except ImportError as exc:
        pytest.skip(f"the full CLI is not importable yet: {exc}")
    return int(cli.main(argv))


def _folders(root: Path, n: int = 3) -> tuple[Path, Path]:
    pred, truth = root / "pred", root / "truth"
    pred.mkdir(), truth.mkdir()
    for i in range(n):
        t = np.zeros((20, 20), dtype=np.uint8)
        t[3:10, 4 : 10 + i] = 255
        Image.fromarray(t).save(truth / f"img{i}.png")
        Image.fromarray(np.roll(t, 1, axis=1)).save(pred / f"img{i}.png")
    return pred, truth


def test_writes_csv_and_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth = _folders(tmp_path)
    out = tmp_path / "scores.csv"
    assert _run(["--pred", str(pred), "--truth", str(truth), "--out", str(out), "--metrics", "dice,hd",
                 "--jobs", "2"]) == 0
    text = capsys.readouterr().out
    assert "3 cases, 2 classes" in text and "class 1 'foreground': 3 cases; 0 with an empty reference" in text
    assert "95% CI of the mean" in text and f"wrote 3 rows (3 cases) to {out}" in text
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case"] for r in rows] == ["img0", "img1", "img2"]
    assert all(float(r["hd"]) == 1.0 for r in rows)  # a one-column shift
    assert float(rows[0]["dice"]) == pytest.approx(2 * 35 / 84)  # 7x6 box shifted: tp 7*5, |p| = |t| = 42
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_fbeta_and_tversky_can_be_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # regression (#17): `evaluate --metrics fbeta,tversky` was refused. Case img0: tp 35, fp 7, fn 7
    pred, truth = _folders(tmp_path)
    out = tmp_path / "scores.csv"
    assert _run(["--pred", str(pred), "--truth", str(truth), "--out", str(out), "--metrics", "fbeta,tversky"]) == 0
    assert "fbeta" in capsys.readouterr().out
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[0]["fbeta"]) == pytest.approx(5 * 35 / (5 * 35 + 4 * 7 + 7))  # F2
    assert float(rows[0]["tversky"]) == pytest.approx(35 / (35 + 0.3 * 7 + 0.7 * 7))


def test_bad_input_leaves_no_results_file(tmp_path: Path) -> None:
    pred, truth = _folders(tmp_path)
    out = tmp_path / "scores.csv"
    np.save(pred / "img1.npy", np.zeros((20, 21), dtype=np.uint8))
    (pred / "img1.png").unlink()
    with pytest.raises(UsageError, match=r"shape mismatch in case 'img1'.*img1.npy.*img1.png"):
        _run(["--pred", str(pred), "--truth", str(truth), "--out", str(out)])
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["pred", "truth"]
    out.write_text("old results\n")  # an earlier file is left as it was
    with pytest.raises(UsageError):
        _run(["--pred", str(pred), "--truth", str(truth), "--out", str(out)])
    assert out.read_text() == "old results\n"


def test_flag_errors(tmp_path: Path) -> None:
    pred, truth = _folders(tmp_path)
    with pytest.raises(UsageError, match=r"--out .*: folder .*missing does not exist"):
        _run(["--pred", str(pred), "--truth", str(truth), "--out", str(tmp_path / "missing" / "s.csv")])
    with pytest.raises(UsageError, match=r"--spacing must be a comma-separated list of float"):
        _run(["--pred", str(pred), "--truth", str(truth), "--spacing", "1,x"])
    with pytest.raises(UsageError, match=r"--jobs must be an integer >= 0"):
        _run(["--pred", str(pred), "--truth", str(truth), "--jobs", "-1"])


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth = _folders(tmp_path)
    (truth / "extra.png").write_bytes((truth / "img0.png").read_bytes())
    out = tmp_path / "s.csv"
    status = _main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and not out.exists()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("segbench evaluate: error: 1 ground-truth case(s) have no prediction") and "extra" in err
    assert _main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "dice"]) == 2  # still extra
    (truth / "extra.png").unlink()
    assert _main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "dice", "--out", str(out)]) == 0
    assert out.exists()
