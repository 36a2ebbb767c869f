"""Share subsampling of a real dataset (#23): the kept items are the largest prefix of the extreme-first drop order
nearest the asked share, and the sample set reaches several shares (measured on the kept masks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.data import DatasetError, load_dataset
from segbench.data.share_subsample import subsample_indices


def _pooled(f: np.ndarray, n: np.ndarray, items: list[int]) -> float:
    return float(f[items].sum() / n[items].sum())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.001, 0.999), size=st.integers(1, 12))
def test_the_kept_items_are_the_nearest_extreme_first_subset(seed: int, share: float, size: int) -> None:
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 400, size).astype(float)
    f = np.floor(n * rng.random(size) ** rng.uniform(0.3, 3.0))
    kept = subsample_indices(f, n, share)
    dropped = sorted(set(range(size)) - set(kept))
    assert kept == sorted(kept) and len(kept) >= 1
    whole = _pooled(f, n, list(range(size)))
    here = _pooled(f, n, kept)
    assert abs(here - share) <= abs(whole - share) + 1e-12  # never further than the whole split
    own = f / n
    if whole == share:
        return
    sign = 1.0 if whole > share else -1.0  # the drop order: the far side's extremes first; ties smaller, then later
    order = sorted(range(size), key=lambda i: (-sign * own[i], n[i], -i))
    assert order[: len(dropped)] == sorted(dropped, key=order.index)  # the dropped items are a prefix of it
    if dropped:  # putting back the last dropped item would not come nearer (ties go to the larger subset)
        back = order[len(dropped) - 1]
        assert abs(here - share) < abs(_pooled(f, n, sorted([*kept, back])) - share) + 1e-12
    if len(kept) > 1:  # dropping the next item of the order would not come nearer either
        nxt = order[len(dropped)]
        assert abs(here - share) <= abs(_pooled(f, n, [i for i in kept if i != nxt]) - share) + 1e-12


def test_items_without_valid_pixels_are_kept_and_a_split_at_the_share_is_whole() -> None:
    assert subsample_indices([0, 30, 0], [0, 100, 100], 0.01) == [0, 2]  # the 30% item is the one dropped
    assert subsample_indices([10, 30], [100, 100], 0.2) == [0, 1]
    with pytest.raises(ValueError, match="0 <= foreground <= valid"):
        subsample_indices([5], [4], 0.1)


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_sample_subsets_reach_the_share_measured_on_the_kept_masks(share: float) -> None:
    # the bundled nuclei: 28 training images of 64x64, 12.3% foreground pooled
    full = load_dataset("sample", "train", image_size=64)
    data = load_dataset("sample", "train", image_size=64, options={"subsample_share": share})
    masks = {full.ids[i]: full[i][1].numpy() for i in range(len(full))}
    kept = np.stack([data[i][1].numpy() for i in range(len(data))])
    assert set(data.ids) < set(masks) and all((kept[j] == masks[s]).all() for j, s in enumerate(data.ids))
    whole = float((np.stack(list(masks.values())) > 0).mean())
    measured = float((kept > 0).mean())
    assert abs(measured - share) < abs(whole - share)
    # the kept prefix lies within half of one drop's step of a reachable target; one image's step is < 0.02 here
    assert abs(measured - share) < 0.01


def test_a_bad_subsample_share_is_one_line() -> None:
    with pytest.raises(DatasetError, match=r"option subsample_share must be a number in \(0, 1\), got 1.5"):
        load_dataset("sample", "train", options={"subsample_share": 1.5})
