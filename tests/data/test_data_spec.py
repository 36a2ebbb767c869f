"""Spec strings and load_dataset's own errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from segbench.data import DatasetError, DatasetSpec, available_kinds, load_dataset, parse_spec


def test_parse_each_kind() -> None:
    assert parse_spec("sample") == DatasetSpec("sample", None)
    assert parse_spec(" synthetic ") == DatasetSpec("synthetic", None)
    assert parse_spec("pets:/data/pets") == DatasetSpec("pets", Path("/data/pets"))
    assert parse_spec("folder:rel/dir:with:colons") == DatasetSpec("folder", Path("rel/dir:with:colons"))


def test_available_kinds_lists_every_kind_with_its_syntax() -> None:
    kinds = available_kinds()
    assert list(kinds) == ["sample", "synthetic", "pets", "folder", "synthetic3d", "volumes"]
    assert "pets:PATH" in kinds["pets"] and "folder:PATH" in kinds["folder"] and "volumes:PATH" in kinds["volumes"]


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset kind 'voc' in spec 'voc:/x'; valid kinds: sample, "
                                           r"synthetic, pets:PATH, folder:PATH, synthetic3d, volumes:PATH"):
        load_dataset("voc:/x", "train")


@pytest.mark.parametrize(("spec", "message"), [
    ("pets", r"dataset spec 'pets' needs a path: pets:PATH"),
    ("folder:  ", r"needs a path: folder:PATH"),
    ("sample:/x", r"dataset kind 'sample' takes no path"),
])
def test_path_rules(spec: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_spec(spec)


def test_non_string_spec() -> None:
    with pytest.raises(DatasetError, match="must be a string, got int"):
        parse_spec(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["pets", "folder"])
def test_missing_path_is_named(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=f"path {missing} does not exist"):
        load_dataset(f"{kind}:{missing}", "train")


def test_bad_split_and_unknown_option() -> None:
    expected = r"unknown split 'training'; expected one of \['train', 'val', 'test', 'all'\]"
    with pytest.raises(DatasetError, match=expected):
        load_dataset("sample", "training")
    with pytest.raises(DatasetError, match=r"unknown option\(s\) \['colour'\] for dataset kind 'sample'"):
        load_dataset("sample", "train", options={"colour": True})


def test_bad_image_size() -> None:
    with pytest.raises(DatasetError, match="image_size must hold positive ints"):
        load_dataset("sample", "train", image_size=(0, 8))
    with pytest.raises(DatasetError, match="image_size must be an int or a pair"):
        load_dataset("sample", "train", options={"image_size": "big"})


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


@pytest.mark.parametrize("spec", ["sample", "synthetic"])
def test_datasets_pickle_for_spawned_dataloader_workers(spec: str) -> None:
    import pickle

    import torch

    data = load_dataset(spec, "val", image_size=32)
    copy = pickle.loads(pickle.dumps(data))
    assert torch.equal(copy[0][1], data[0][1]) and torch.equal(copy[0][0], data[0][0])


def test_non_numeric_option_is_named() -> None:
    with pytest.raises(DatasetError, match="synthetic: option noise must be a number, got 'high'"):
        load_dataset("synthetic", "train", options={"noise": "high"})
