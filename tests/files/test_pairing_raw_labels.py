"""Pairing by stem (every problem listed by name) and the rules that turn stored values into labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.errors import UsageError
from segbench.files.pairing import pair_by_stem
from segbench.files.raw_labels import distinct_values, infer_num_classes, labels_from_raw


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_pairs_across_formats_sorted_and_skips_other_files(tmp_path: Path) -> None:
    _touch(tmp_path, "pred/b.npy", "pred/a.png", "pred/notes.txt", "pred/.hidden.png",
           "truth/a.nii.gz", "truth/b.tif")
    pairing = pair_by_stem(tmp_path / "pred", tmp_path / "truth")
    assert [(c.name, c.pred.name, c.truth.name) for c in pairing.cases] == [
        ("a", "a.png", "a.nii.gz"), ("b", "b.npy", "b.tif")
    ]
    assert [p.name for p in pairing.skipped] == ["notes.txt"]


def test_missing_and_extra_files_are_listed_by_name(tmp_path: Path) -> None:
    _touch(tmp_path, "pred/a.png", "pred/x1.png", "pred/x2.png", "truth/a.png", "truth/m1.png", "truth/m2.npy")
    with pytest.raises(UsageError) as info:
        pair_by_stem(tmp_path / "pred", tmp_path / "truth")
    text = str(info.value)
    assert "2 ground-truth case(s) have no prediction" in text and "m1, m2" in text
    assert "2 prediction(s) have no ground truth" in text and "x1, x2" in text
    assert "\n" not in text


def test_duplicate_stem_and_missing_folder(tmp_path: Path) -> None:
    _touch(tmp_path, "pred/a.png", "pred/a.npy", "truth/a.png")
    with pytest.raises(UsageError, match=r"prediction folder .* has 2 files for case 'a': a.npy, a.png"):
        pair_by_stem(tmp_path / "pred", tmp_path / "truth")
    with pytest.raises(UsageError, match=r"ground-truth folder .*nowhere does not exist"):
        pair_by_stem(tmp_path / "pred", tmp_path / "nowhere")
    _touch(tmp_path, "empty/readme.txt")
    with pytest.raises(UsageError, match=r"holds no mask files"):
        pair_by_stem(tmp_path / "empty", tmp_path / "truth")


def test_0_255_rule_applies_per_file() -> None:
    assert labels_from_raw(np.array([0, 255, 255]), Path("p.png"), num_classes=2).tolist() == [0, 1, 1]
    assert labels_from_raw(np.array([0, 1]), Path("t.png"), num_classes=2).tolist() == [0, 1]
    with pytest.raises(UsageError, match=r"p.png holds label\(s\) \[255\]; expected labels 0..2"):
        labels_from_raw(np.array([0, 255]), Path("p.png"), num_classes=3)
    big = labels_from_raw(np.array([0, 255]), Path("p.png"), num_classes=256)  # 255 is a real label there
    assert big.tolist() == [0, 255]


def test_ignore_index_in_ground_truth() -> None:
    t = np.array([0, 1, 255])
    assert labels_from_raw(t, Path("t.png"), num_classes=2, ignore_index=255).tolist() == [0, 1, 255]
    with pytest.raises(UsageError, match=r"\[255\]"):
        labels_from_raw(t, Path("p.png"), num_classes=2)


def test_infer_num_classes() -> None:
    assert infer_num_classes([frozenset({0}), frozenset({0, 255})]) == 2
    assert infer_num_classes([frozenset({0, 1}), frozenset({3})]) == 4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 70000), min_size=1, max_size=40))
def test_distinct_values_equals_numpy_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert distinct_values(array) == frozenset(np.unique(array).tolist())
