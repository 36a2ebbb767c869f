"""One float policy for every results file: a float written to a CSV reads back as the same float (#17)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

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
