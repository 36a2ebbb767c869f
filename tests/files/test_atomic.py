"""One float policy for every results file: a float written to a CSV reads back as the same float (#17)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from segbench.files.atomic import format_value, read_csv, write_csv


def test_floats_round_trip_exactly(tmp_path: Path) -> None:
    # regression (#17): compare stored 6 significant digits (0.333333), so the report's statistics ran on
    # rounded values while evaluate stored full precision
    values = [1 / 3, 0.1 + 0.2, 2 / 7 * 1e-9, 123456.78901234567, float(np.float32(0.7)), -0.0, math.inf, -math.inf]
    path = write_csv(tmp_path / "t.csv", ["i", "value"], [{"i": i, "value": v} for i, v in enumerate(values)])
    back = [float(row["value"]) for row in read_csv(path)]
    assert back == values and all(a.hex() == b.hex() for a, b in zip(back, values, strict=True))
    assert format_value(np.float64(1 / 3)) == repr(1 / 3) and format_value(math.nan) == "nan"
    assert math.isnan(float(format_value(math.nan)))


def test_read_json_missing_corrupt_and_default(tmp_path):
    """The one reader of run-folder JSON: absent is an error naming the file unless a default is given; a file
    that exists but is not JSON (or not UTF-8) is always an error that says how to recover, never the default."""
    from segbench.errors import UsageError
    from segbench.files.atomic import read_json, write_json

    write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}
    assert read_json(tmp_path / "absent.json", missing={}) == {}
    with pytest.raises(UsageError, match=r"absent\.json is missing"):
        read_json(tmp_path / "absent.json")
    (tmp_path / "cut.json").write_text('{"a": [1,', encoding="utf-8")
    (tmp_path / "bytes.json").write_bytes(b"\xff\xfe{}")
    for name in ("cut.json", "bytes.json"):
        with pytest.raises(UsageError, match=f"{name}.*delete it to redo that step"):
            read_json(tmp_path / name, missing={})
