"""Display numbers: the words for undefined and missed, and the switch to fewer digits for large values."""

from __future__ import annotations

import math

from segbench.formatting import interval, number, percent


def test_number_interval_percent() -> None:
    assert number(0.123456) == "0.123" and number(0.5, ".4g") == "0.5"
    assert number(math.nan) == "nan" and number(math.nan, nan="-") == "-" and number(None, none="?") == "?"
    assert number(math.inf) == "inf" and number(-math.inf, inf="∞") == "-∞"
    assert number(99.9, large=(100, ".1f")) == "99.900" and number(150.25, large=(100, ".1f")) == "150.2"
    assert interval(0.25, math.nan, nan="n/a") == "[0.250, n/a]"
    assert percent(0.5) == "50.0%" and percent(math.inf) == "n/a"
