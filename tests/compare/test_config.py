"""The experiment config: defaults, validation of every key, overrides, TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from segbench.compare import config
from segbench.errors import UsageError


def test_defaults_are_the_bundled_default_run() -> None:
    cfg = config.resolve()
    assert cfg.dataset.spec == "sample"
    assert cfg.losses.specs == tuple(config.DEFAULT_LOSSES)
    assert {"ce", "dice", "jaccard", "0.5*bce + 0.5*dice"} <= set(cfg.losses.specs)  # the classic trio, compound
    assert len(cfg.train.seeds) >= 3  # the report counts seed noise
    assert cfg.train.epochs is None and cfg.train.patience is not None  # a step budget to a plateau
    assert cfg.train.crop is not None and isinstance(cfg.train.lr, float)
    assert cfg.eval.select == "best-val-dice"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"trian": {}}, "unknown table [trian]"),
        ({"train": {"epoch": 3}}, "unknown key 'epoch' in [train]; valid keys: augment, batch_size"),
        ({"dataset": {"path": "x"}}, "valid keys: image_size, options, spec"),
        ({"train": {"epochs": 0}}, "[train] epochs must be an integer >= 1, got 0"),
        ({"train": {"epochs": 2.5}}, "[train] epochs must be an integer"),
        ({"train": {"epochs": 2, "max_steps": 9}}, "[train] epochs (the fixed budget of older configs) cannot be "
                                                   "combined with ['max_steps']: max_steps, eval_every and patience"),
        ({"train": {"max_steps": 0}}, "[train] max_steps must be an integer >= 1, got 0"),
        ({"train": {"patience": 1.5}}, "[train] patience must be an integer >= 1"),
        ({"train": {"min_delta": -0.1}}, "[train] min_delta must be >= 0"),
        ({"train": {"crop": [8]}}, "[train] crop must be an integer, [H, W] or \"none\""),
        ({"train": {"lr": []}}, "[train] lr must be a number or a non-empty list"),
        ({"train": {"lr": [1e-3, 1e-3]}}, "[train] lr lists a value twice"),
        ({"train": {"lr": [1e-3, -1.0]}}, "[train] lr must be > 0"),
        ({"train": {"lr": -1.0}}, "[train] lr must be > 0"),
        ({"train": {"seeds": [1, 1]}}, "lists a seed twice"),
        ({"train": {"seeds": []}}, "[train] seeds must be a count >= 1"),
        ({"train": {"device": "tpu"}}, "[train] device must be one of ['auto', 'cpu', 'cuda']"),
        ({"train": {"augment": "yes"}}, "[train] augment must be true or false"),
        ({"losses": {"specs": "dice"}}, "[losses] specs must be a non-empty list of strings"),
        ({"losses": {"specs": []}}, "[losses] specs must be a non-empty list"),
        ({"eval": {"select": "best"}}, "[eval] select must be one of ['best-val-dice', 'last']"),
        ({"dataset": {"image_size": [1, 2, 3]}}, "[dataset] image_size must be an integer, [H, W]"),
        ({"train": 3}, "[train] must be a table"),
    ],
)
def test_bad_values_name_the_key(raw: dict, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        config.resolve(raw)
    assert fragment in str(info.value)


def test_seed_count_and_list_and_image_size() -> None:
    assert config.resolve({"train": {"seeds": 3}}).train.seeds == (0, 1, 2)
    assert config.resolve({"train": {"seeds": [5, 2]}}).train.seeds == (5, 2)
    assert config.resolve({"dataset": {"image_size": 32}}).dataset.image_size == (32, 32)
    assert config.resolve({"dataset": {"image_size": [24, 40]}}).dataset.image_size == (24, 40)
    assert config.resolve({"train": {"lr": 1}}).train.lr == 1.0


def test_overrides_replace_only_given_flags() -> None:
    raw = {"train": {"max_steps": 20, "batch_size": 4}, "losses": {"specs": ["ce"]}}
    merged = config.apply_overrides(raw, {"train": {"max_steps": 2, "seeds": None}, "losses": {"specs": ["dice"]}})
    cfg = config.resolve(merged)
    assert (cfg.train.max_steps, cfg.train.batch_size, cfg.losses.specs) == (2, 4, ("dice",))
    assert raw["train"]["max_steps"] == 20  # the input is not modified


@pytest.mark.parametrize("train", [
    {"epochs": 3},  # the legacy budget: no step keys written, no crop
    {"lr": [3e-4, 1e-3, 3e-3], "crop": "none", "patience": "none"},
    {"crop": [24, 40], "lr": 1e-3},
])
def test_train_keys_round_trip(train: dict) -> None:
    cfg = config.resolve({"train": train})
    text = config.to_toml(cfg)
    assert config.resolve(config.tomllib.loads(text)) == cfg
    assert ("max_steps" in text) == ("epochs" not in train)


def test_legacy_epochs_and_lr_grid() -> None:
    legacy = config.resolve({"train": {"epochs": 3}})
    assert (legacy.train.epochs, legacy.train.crop) == (3, None)
    assert config.resolve({"train": {"epochs": 3, "crop": 8}}).train.crop == (8, 8)
    grid = config.resolve({"train": {"lr": [3e-3, 3e-4]}})
    assert config.lr_grid(grid) == (3e-3, 3e-4) and config.lr_grid(legacy) is None
    assert config.monitored_metric(config.resolve({"eval": {"primary": "iou"}})) == "iou"


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = config.resolve({
        "dataset": {"spec": "pets:some/path", "options": {"border": "ignore", "split_seed": 3}, "image_size": 16},
        "losses": {"specs": ['tversky(alpha=0.3,beta=0.7)', "0.5*bce+0.5*dice"]},
        "eval": {"metrics": ["dice", "hd95"]},
    })
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml(cfg, header="a comment"))
    assert config.resolve(config.load(path)) == cfg


def test_native_image_size_round_trips() -> None:
    cfg = config.resolve({"dataset": {"image_size": None}})
    text = config.to_toml(cfg)
    assert 'image_size = "native"' in text
    assert config.resolve({"dataset": {"image_size": "native"}}) == cfg
    assert config.resolve(config.tomllib.loads(text)).dataset.image_size is None


def test_load_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 3\n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        config.load(bad)


def test_example_configs_are_valid() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(examples.glob("*.toml"))
    assert files, "examples/*.toml are missing"
    for path in files:
        raw = config.load(path)
        if "sweep" in raw:  # a sweep's config: compare's tables plus [sweep] (tests/sweep checks it whole)
            raw = {k: v for k, v in raw.items() if k != "sweep"}
        cfg = config.resolve(raw)
        assert cfg.losses.specs
    assert config.resolve(config.load(examples / "default.toml")) == config.resolve()  # the defaults, written out


def test_the_resolved_config_is_frozen_and_writes_the_same_toml() -> None:
    import dataclasses

    cfg = config.resolve({"train": {"seeds": 2}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 3  # type: ignore[misc]
    text = config.to_toml(cfg)
    assert "seeds = [0, 1]" in text and 'image_size = [64, 64]' in text and "[eval]" in text
    assert text.index("[dataset]") < text.index("[model]") < text.index("[train]") < text.index("[losses]")


def test_a_crop_of_three_sizes_is_the_patch_size_of_volumes_and_resolves_to_the_same_experiment() -> None:
    by_crop = config.resolve({"train": {"crop": [8, 16, 16]}})
    by_patch = config.resolve({"train": {"patch_size": [8, 16, 16]}})
    assert by_crop == by_patch and by_crop.train.patch_size == (8, 16, 16)
    assert config.to_toml(by_crop) == config.to_toml(by_patch)  # one config.toml: a run folder resumes under either
    assert config.resolve({"train": {"crop": [8, 16, 16], "patch_size": [8, 16, 16]}}) == by_patch
    with pytest.raises(UsageError, match=r"crop \[8, 16, 16\] .* contradicts patch_size \[4, 8, 8\]"):
        config.resolve({"train": {"crop": [8, 16, 16], "patch_size": [4, 8, 8]}})
    assert config.resolve({"train": {"crop": [24, 24]}}).train.patch_size is None  # 2D: crops stay crops
