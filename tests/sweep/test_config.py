"""The sweep file: the explicit list of per-share experiments, and the checks of ``[sweep]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from segbench.errors import UsageError
from segbench.sweep import resolve_sweep, share_experiments
from segbench.sweep.config import DEFAULT_SHARES


def test_the_default_shares_and_one_experiment_per_share() -> None:
    sweep = resolve_sweep({"dataset": {"spec": "synthetic", "options": {"num_images": 20}},
                           "losses": {"specs": ["dice"]}})
    assert sweep.shares == DEFAULT_SHARES == (0.3, 0.1, 0.03, 0.01, 0.003)
    pairs = share_experiments(sweep, "OUT")
    assert [p.folder for p in pairs] == [Path("OUT") / f"share-{s:g}" for s in DEFAULT_SHARES]
    for pair in pairs:  # the base experiment, with only the share set
        assert dict(pair.config.dataset.options) == {"num_images": 20, "foreground_share": pair.share}
        assert pair.config.losses.specs == ("dice",)


def test_crop_sets_the_crop_options() -> None:
    sweep = resolve_sweep({"dataset": {"spec": "sample", "image_size": 64},
                           "sweep": {"shares": [0.05, 0.4], "method": "crop", "crop_size": 32}})
    assert [dict(e.config.dataset.options) for e in share_experiments(sweep, "S")] == [
        {"crop_share": 0.4, "crop_size": [32, 32]}, {"crop_share": 0.05, "crop_size": [32, 32]}]


def test_subsample_sets_the_subsample_option() -> None:
    sweep = resolve_sweep({"dataset": {"spec": "sample", "image_size": 64, "options": {"image_size": 64}},
                           "sweep": {"shares": [0.05, 0.2], "method": "subsample"}})
    assert [dict(e.config.dataset.options) for e in share_experiments(sweep, "S")] == [
        {"image_size": 64, "subsample_share": 0.2}, {"image_size": 64, "subsample_share": 0.05}]


@pytest.mark.parametrize(("raw", "message"), [
    ({"dataset": {"spec": "sample"}}, 'is not synthetic, so its shares are reached by cropping'),
    ({"dataset": {"spec": "sample"}, "sweep": {"method": "generate"}}, 'needs the synthetic dataset'),
    ({"dataset": {"spec": "sample"}, "sweep": {"method": "crop"}}, "needs crop_size"),
    ({"dataset": {"spec": "sample"}, "sweep": {"method": "subsample", "crop_size": 8}}, 'is for method = "crop" only'),
    ({"dataset": {"spec": "sample", "options": {"subsample_share": 0.1}}, "sweep": {"method": "subsample"}},
     "the sweep sets these itself"),
    ({"dataset": {"spec": "sample", "image_size": 32}, "sweep": {"method": "crop", "crop_size": 48}},
     "larger than [dataset] image_size"),
    ({"dataset": {"spec": "synthetic"}, "train": {"epoch": 1}}, "unknown key 'epoch' in [train]"),
    ({"sweep": 3}, "[sweep] must be a table"),
])
def test_bad_sweeps(raw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        resolve_sweep(raw)
    assert message in str(info.value)


def test_the_bundled_sweep_example_resolves_with_the_default_shares() -> None:
    from pathlib import Path

    from segbench.sweep.config import load_sweep

    path = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"
    sweep = load_sweep(path)
    assert sweep.shares == (0.3, 0.1, 0.03, 0.01, 0.003)
