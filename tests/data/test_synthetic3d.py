"""The synthetic 3D generator (issue #21): seeded, well under 1% foreground, objects round in millimetres."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segbench.data.synthetic3d import Synthetic3DConfig, generate_volume


def test_same_seed_and_index_same_volume_other_index_differs() -> None:
    config = Synthetic3DConfig(size=(16, 48, 48), num_classes=3, foreground_fraction=0.02)
    a_img, a_lab = generate_volume(config, 3)
    b_img, b_lab = generate_volume(config, 3)
    _, c_lab = generate_volume(config, 4)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert not np.array_equal(a_lab, c_lab)
    assert set(np.unique(a_lab)) <= {0, 1, 2} and a_img.min() >= 0 and a_img.max() <= 1


@pytest.mark.parametrize("fraction", [0.002, 0.005, 0.03])
def test_foreground_share_meets_targets_well_under_one_percent(fraction: float) -> None:
    config = Synthetic3DConfig(size=(32, 64, 64), foreground_fraction=fraction)
    shares = [float((generate_volume(config, k)[1] > 0).mean()) for k in range(4)]
    for share in shares:
        assert 0 < share <= 1.3 * fraction + 1 / (32 * 64 * 64)  # occlusion only removes; the last object fits


def test_objects_are_round_in_millimetres_not_voxels() -> None:
    # a 10 mm ball: 4/3 pi 10^3 mm^3 / 0.625 mm^3 = 6702 voxels of the 400000 (the target leaves it unshrunk)
    config = Synthetic3DConfig(size=(40, 100, 100), spacing=(2.5, 0.5, 0.5), foreground_fraction=6800 / 400000,
                               object_radius=(10.0, 10.0), noise=0.0)
    unclipped = 0
    for index in range(12):
        labels = generate_volume(config, index)[1]
        components, _ = ndimage.label(labels > 0)
        biggest = np.argmax(np.bincount(components.ravel())[1:]) + 1
        zs, ys, xs = np.nonzero(components == biggest)
        # a 10 mm ball spans at most 2 * 10 / 2.5 + 1 = 9 slices but up to 41 rows and columns of 0.5 mm
        assert zs.max() - zs.min() + 1 <= 9 and ys.max() - ys.min() + 1 <= 41 and xs.max() - xs.min() + 1 <= 41
        if zs.min() > 0 and zs.max() < 39 and ys.min() > 0 and ys.max() < 99 and xs.min() > 0 and xs.max() < 99:
            unclipped += 1  # not clipped by the border: round in mm (diameters agree to a voxel), not in voxels
            dz, dy, dx = (zs.max() - zs.min()) * 2.5, (ys.max() - ys.min()) * 0.5, (xs.max() - xs.min()) * 0.5
            assert abs(dz - dy) <= 2.5 and abs(dy - dx) <= 0.5 and ys.max() - ys.min() > 2 * (zs.max() - zs.min())
    assert unclipped >= 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"foreground_fraction must be in \(0, 0.95\]"):
        Synthetic3DConfig(foreground_fraction=0.0)
    with pytest.raises(ValueError, match=r"spacing must be three positive numbers"):
        Synthetic3DConfig(spacing=(1.0, 0.0, 1.0))


def test_synthetic3d_kind_splits_every_volume_once_with_its_spacing() -> None:
    from segbench.data import load_dataset

    options = {"size": [6, 12, 12], "num_volumes": 8, "spacing": [3.0, 1.0, 0.5], "foreground_fraction": 0.02}
    parts = {s: load_dataset("synthetic3d", s, options=options) for s in ("train", "val", "test")}
    ids = [i for d in parts.values() for i in d.ids]
    assert sorted(ids) == [f"synthetic3d_{k:04d}" for k in range(8)]  # disjoint, complete
    test = parts["test"]
    image, mask = test[0]
    assert image.shape == (1, 6, 12, 12) and mask.shape == (6, 12, 12)
    assert test.spacing == (3.0, 1.0, 0.5) and test.spatial_dims == 3
    k = int(test.ids[0].rsplit("_", 1)[1])
    config = Synthetic3DConfig(size=(6, 12, 12), spacing=(3.0, 1.0, 0.5), foreground_fraction=0.02)
    assert np.array_equal(mask.numpy(), generate_volume(config, k)[1])  # volume k whatever the split


def test_synthetic3d_kind_refuses_resizing_and_bad_options() -> None:
    from segbench.data import load_dataset
    from segbench.data.errors import DatasetError

    with pytest.raises(DatasetError, match=r'volumes are not resized; set \[dataset\] image_size = "native"'):
        load_dataset("synthetic3d", "train", image_size=64, options={"size": [4, 8, 8]})
    with pytest.raises(DatasetError, match="option size must be a list of 3 integers"):
        load_dataset("synthetic3d", "train", options={"size": [8, 8]})
    with pytest.raises(DatasetError, match="unknown option"):
        load_dataset("synthetic3d", "train", options={"image_depth": 8})
    with pytest.raises(DatasetError, match="num_volumes must be >= 3"):
        load_dataset("synthetic3d", "train", options={"num_volumes": 2})
