"""#18: the primary metric of a verdict is inspect's pick for the data (Dice unless a constant scores it well),
saved by compare with its reason and used by the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tomllib

from segbench.compare import config as _config
from segbench.compare.runner import _monitor, prepare
from segbench.files.run_folder import PRIMARY_FILE
from segbench.inspect.advice import TRIVIAL_DICE, advise, primary_for_masks, primary_metric, save_primary
from segbench.inspect.profile import profile_masks, score_trivial_predictors


def _masks(share_rows: int, n: int = 3) -> list[np.ndarray]:
    out = []
    for i in range(n):
        m = np.zeros((10, 10), dtype=np.int64)
        m[: share_rows, i : 10 - i] = 1
        out.append(m)
    return out


def test_dice_unless_a_constant_scores_it_well() -> None:
    small = primary_for_masks(_masks(2), class_names=["background", "cell"])
    assert small.metric == "dice" and "< 0.5" in small.reason
    large = primary_for_masks(_masks(8), class_names=["background", "membrane"])
    assert large.metric == "mcc"
    # the measured basis: all-foreground's mean Dice 2s/(1+s) over the images, and its MCC 0
    shares = [float(m.mean()) for m in _masks(8)]
    dice = np.mean([2 * s / (1 + s) for s in shares])
    assert dice >= TRIVIAL_DICE and f"mean Dice {dice:.3f} on 'membrane'" in large.reason
    assert "scores MCC 0.000" in large.reason


def test_the_threshold_is_where_all_foreground_reaches_half_dice() -> None:
    def pick(rows: int) -> str:
        m = np.zeros((12, 12), dtype=np.int64)
        m[:rows] = 1
        return primary_for_masks([m], class_names=["background", "fg"]).metric

    assert pick(3) == "dice"   # s = 1/4: 2s/(1+s) = 0.4
    assert pick(4) == "mcc"    # s = 1/3: exactly 0.5


def test_advise_states_the_pick_first() -> None:
    masks = _masks(8)
    profile = profile_masks(masks, class_names=["background", "membrane"])
    profile.trivial = score_trivial_predictors(masks, profile, metrics=["dice", "mcc", "pixel_accuracy"])
    first = advise(profile)[0]
    assert first.text.startswith("Decide between models on mcc") and first.reason == primary_metric(profile).reason


def _experiment(compare_toml: Callable[..., str], fraction: float, primary: str | None = None) -> tuple:
    text = compare_toml().replace("foreground_fraction = 0.2", f"foreground_fraction = {fraction}")
    if primary is not None:
        text += f'\n[eval]\nprimary = "{primary}"\n'
    config = _config.resolve(tomllib.loads(text))
    return config, prepare(config)


def test_compare_saves_the_advised_pick_or_the_configured_one(tmp_path: Path,
                                                              compare_toml: Callable[..., str]) -> None:
    _, exp = _experiment(compare_toml, 0.2)
    assert save_primary(exp, tmp_path / "a")["metric"] == "dice"
    _, exp = _experiment(compare_toml, 0.85)
    record = save_primary(exp, tmp_path / "b")
    assert record["metric"] == "mcc" and record["chosen_by"] == "inspect advice on the training split"
    assert json.loads((tmp_path / "b" / PRIMARY_FILE).read_text()) == record
    assert exp.primary == "mcc" and _monitor(exp) == "mcc"  # training watches the verdict's metric
    _, exp = _experiment(compare_toml, 0.85, primary="iou")
    assert save_primary(exp, tmp_path / "c") == {"metric": "iou", "reason": "set in [eval] primary",
                                                          "chosen_by": "config"}


@pytest.mark.skipif(not Path(__file__).parents[2].joinpath("src/segbench/data/sample").is_dir(),
                    reason="no bundled sample")
def test_the_bundled_sample_keeps_dice() -> None:
    from segbench.data import load_dataset

    train = load_dataset("sample", "train")
    masks = [train[i][1].numpy() for i in range(len(train))]
    assert primary_for_masks(masks, class_names=train.class_names).metric == "dice"
