"""Random patches with a stated foreground share (issue #21): the share is exact per batch, patches hit foreground."""

from __future__ import annotations

import numpy as np
import pytest

from segbench.data.patches import crop_patch, sample_patch_origins


def _sparse_volume() -> np.ndarray:
    labels = np.zeros((40, 64, 64), np.int64)
    labels[30:32, 50:53, 5:8] = 2  # 18 of 163840 voxels: 0.011 % foreground
    return labels


@pytest.mark.parametrize(("share", "batch", "expected"), [(1 / 3, 6, 2), (0.5, 4, 2), (0.0, 5, 0), (1.0, 3, 3)])
def test_foreground_share_is_as_configured(share: float, batch: int, expected: int) -> None:
    labels = _sparse_volume()
    rng = np.random.default_rng(1)
    patch = (16, 24, 24)
    hits = 0
    for _ in range(50):
        draws = sample_patch_origins(labels, patch, batch, share, rng)
        assert sum(d.foreground for d in draws) == expected
        for d in draws:
            assert all(0 <= o and o + p <= n for o, p, n in zip(d.origin, patch, labels.shape, strict=True))
            window = crop_patch(labels, d.origin, patch)
            if d.foreground:
                assert window.any()  # every foreground-centred patch holds foreground
            hits += int(window.any())
    # uniform patches almost never hit 0.011 % foreground: the oversampling is what makes the share
    assert hits >= 50 * expected


def test_same_seed_same_patches_and_padding_for_short_axes() -> None:
    labels = _sparse_volume()[:, :, :10]
    a = sample_patch_origins(labels, (16, 24, 24), 4, 0.5, np.random.default_rng(7))
    b = sample_patch_origins(labels, (16, 24, 24), 4, 0.5, np.random.default_rng(7))
    assert a == b
    assert all(d.origin[2] == -7 for d in a)  # 10 voxels centred in 24: 7 padded before
    patch = crop_patch(labels, a[-1].origin, (16, 24, 24), pad_value=-1)
    assert patch.shape == (16, 24, 24) and (patch[..., :7] == -1).all() and (patch[..., 17:] == -1).all()
    empty = sample_patch_origins(np.zeros((8, 8), np.int64), (4, 4), 3, 1.0, np.random.default_rng(0))
    assert not any(d.foreground for d in empty)  # no foreground: uniform patches, said by the flag
    with pytest.raises(ValueError, match=r"foreground_share must lie in \[0, 1\]"):
        sample_patch_origins(labels, (4, 4, 4), 2, 1.5, np.random.default_rng(0))
