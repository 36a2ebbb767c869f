"""The advice when the labelled class of binary data is the majority (``MAJORITY``): the minority is named as the
likely class of interest, and nothing says imbalance cannot inflate Dice; below the threshold the usual advice."""

from __future__ import annotations

import numpy as np

from segbench.inspect.advice import MAJORITY, advise
from segbench.inspect.profile import profile_masks


def _masks(share: float) -> list[np.ndarray]:
    m = np.zeros((20, 20), dtype=np.int64)
    m.reshape(-1)[: round(share * 400)] = 1
    return [m, m.copy()]


def test_majority_foreground_names_the_minority() -> None:
    profile = profile_masks(_masks(0.78), class_names=["background", "cell"])
    texts = [a.text + " " + a.reason for a in advise(profile)]
    assert not any("cannot inflate" in t for t in texts)
    assert any(t.startswith("Score the minority class 'background' (22.0% of the pixels)") for t in texts)
    assert any("Train with 'background' as the foreground" in t for t in texts)


def test_minority_foreground_keeps_the_usual_advice() -> None:
    for share in (0.2, MAJORITY):  # at the threshold itself: not flipped
        texts = [a.text + " " + a.reason for a in advise(profile_masks(_masks(share), class_names=["bg", "cell"]))]
        assert any("Report Dice (or IoU" in t and "cannot inflate" in t for t in texts)
        assert not any("Score the minority class" in t for t in texts)
