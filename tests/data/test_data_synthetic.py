"""The synthetic generator: determinism, imbalance down to < 1 %, classes, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.data import DatasetError, load_dataset
from segbench.data.synthetic import SyntheticConfig, generate


def _stack(spec_options: dict, split: str = "all") -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("synthetic", split, options=spec_options)
    images, masks = zip(*(data[i] for i in range(len(data))), strict=True)
    return torch.stack(images), torch.stack(masks)


def test_same_seed_same_tensors_other_seed_differs() -> None:
    options = {"num_images": 6, "image_size": 32, "num_classes": 3}
    a, b = _stack(options), _stack(options)
    c = _stack({**options, "seed": 1})
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1]) and not torch.equal(a[0], c[0])


def test_an_image_does_not_depend_on_the_split_or_the_count() -> None:
    config = SyntheticConfig(size=(24, 24), num_images=4)
    image, mask = generate(config, 3)
    data = load_dataset("synthetic", "all", options={"num_images": 10, "image_size": 24})
    assert torch.equal(data[3][1], torch.from_numpy(mask)) and torch.equal(data[3][0], torch.from_numpy(image))


@pytest.mark.parametrize("target", [0.003, 0.008])
def test_reaches_well_under_one_percent(target: float) -> None:
    _, masks = _stack({"num_images": 12, "image_size": 64, "foreground_fraction": target})
    per_image = (masks > 0).float().mean(dim=(1, 2))
    assert bool((per_image > 0).all())  # every image has an object
    assert float(per_image.mean()) < 0.01
    assert abs(float(per_image.mean()) - target) < 0.5 * target


def test_foreground_fraction_is_met_closely() -> None:
    _, masks = _stack({"num_images": 8, "image_size": 48, "foreground_fraction": 0.3, "num_classes": 4})
    share = float((masks > 0).float().mean())
    assert 0.29 < share < 0.32
    assert set(masks.unique().tolist()) == {0, 1, 2, 3}


def test_images_follow_the_class_intensities() -> None:
    options = {"num_images": 4, "image_size": 48, "num_classes": 3, "noise": 0.0, "blur": 0.0,
               "intensities": [0.1, 0.5, 0.9], "foreground_fraction": 0.3}
    images, masks = _stack(options)
    expected = torch.tensor([0.1, 0.5, 0.9])[masks]
    torch.testing.assert_close(images[:, 0], expected)


def test_noise_is_gaussian_with_the_given_std() -> None:
    options = {"num_images": 4, "image_size": 64, "noise": 0.05, "blur": 0.0, "intensities": [0.4, 0.6]}
    images, masks = _stack(options)
    residual = images[:, 0] - torch.tensor([0.4, 0.6])[masks]
    assert abs(float(residual.std()) - 0.05) < 0.005 and abs(float(residual.mean())) < 0.005


def test_num_objects_and_shapes() -> None:
    config = SyntheticConfig(size=(64, 64), num_objects=(1, 1), object_radius=(6.0, 6.0), shapes=("rectangle",))
    mask = generate(config, 0)[1]
    # one rotated square of the disc's area pi * 36 ~ 113 pixels (pixel-centre rasterisation; may be cut at the edge)
    assert 40 <= int((mask > 0).sum()) <= 125


def test_splits_are_disjoint_and_image_size_overrides_the_option() -> None:
    parts = {s: load_dataset("synthetic", s, image_size=(16, 24), options={"num_images": 20, "image_size": 64})
             for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [12, 3, 5]
    assert len({i for d in parts.values() for i in d.ids}) == 20
    assert parts["val"][0][0].shape == (1, 16, 24)


@pytest.mark.parametrize(("options", "message"), [
    ({"num_classes": 1}, "num_classes must be an int >= 2"),
    ({"foreground_fraction": 0.0}, r"foreground_fraction must be in \(0, 0.95\]"),
    ({"shapes": ["star"]}, "shapes must be a non-empty subset"),
    ({"intensities": [0.1]}, "1 intensities for 2 classes"),
    ({"object_radius": [5, 2]}, "object_radius must be a number or"),
    ({"noise": -1}, "noise and blur must be >= 0"),
    ({"num_image": 3}, r"unknown option\(s\) \['num_image'\] for dataset kind 'synthetic'"),
])
def test_option_errors(options: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset("synthetic", "train", options=options)


def test_generation_is_reproducible_at_the_array_level() -> None:
    config = SyntheticConfig(size=(32, 40), num_classes=3, foreground_fraction=0.05)
    first, second = generate(config, 7), generate(config, 7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


# ---- foreground_share (#23): one layout per image, scaled to an exact share
def _share_stack(share: float, **options: object) -> tuple[torch.Tensor, torch.Tensor]:
    return _stack({"num_images": 6, "image_size": 48, "foreground_share": share, **options})


@settings(max_examples=40, deadline=None)
@given(share=st.floats(0.001, 0.6), seed=st.integers(0, 10_000), size=st.integers(16, 56),
       classes=st.integers(2, 4))
def test_measured_share_is_the_configured_one(share: float, seed: int, size: int, classes: int) -> None:
    # tolerance: exact up to the rounding to whole pixels, max(1, round(f * H * W)) foreground pixels per mask
    # (+1e-12: a tie, f * H * W = k + 0.5, sits exactly on the bound)
    config = SyntheticConfig(size=(size, size), foreground_share=share, seed=seed, num_classes=classes)
    expected = max(1, round(share * size * size))
    for index in range(3):
        mask = generate(config, index)[1]
        assert int((mask > 0).sum()) == expected
        assert abs(float((mask > 0).mean()) - share) <= max(0.5 / size**2, 1.0 / size**2 - share) + 1e-12


@pytest.mark.parametrize("share", [0.3, 0.1, 0.03, 0.01, 0.003])
def test_the_sweep_shares_measured_on_a_dataset(share: float) -> None:
    _, masks = _share_stack(share, image_size=64)
    measured = float((masks > 0).float().mean())
    assert abs(measured - share) <= 0.5 / 64**2  # round(f * 4096) pixels in every mask


def test_shares_differ_only_in_the_objects_noise_and_layout_alike() -> None:
    plain = {"noise": 0.1, "blur": 0.0, "intensities": [0.2, 0.8]}
    big_images, big = _share_stack(0.3, **plain)
    small_images, small = _share_stack(0.01, **plain)
    intensity = torch.tensor([0.2, 0.8])
    # same noise draw: away from the clipping at 0 and 1, image minus class intensity is identical
    res_big, res_small = big_images[:, 0] - intensity[big], small_images[:, 0] - intensity[small]
    inner = (big_images[:, 0] > 0) & (big_images[:, 0] < 1) & (small_images[:, 0] > 0) & (small_images[:, 0] < 1)
    torch.testing.assert_close(res_big[inner], res_small[inner])
    # objects shrink: every foreground pixel at 1% is foreground at 30% too (one layout, one growing scale)
    assert bool(((small > 0) <= (big > 0)).all())


def test_objects_thin_out_at_tiny_shares() -> None:
    from scipy import ndimage

    config = SyntheticConfig(size=(64, 64), foreground_share=0.3, num_objects=(6, 6), shapes=("ellipse",))
    tiny = SyntheticConfig(size=(64, 64), foreground_share=0.002, num_objects=(6, 6), shapes=("ellipse",))
    counts = [(ndimage.label(generate(c, i)[1] > 0)[1]) for c in (config, tiny) for i in range(8)]
    many, few = counts[:8], counts[8:]
    assert sum(few) < sum(many) and max(few) <= 3  # 8 foreground pixels: at most 3 objects of radius >= 1.5


def test_share_option_errors() -> None:
    with pytest.raises(DatasetError, match="not both"):
        load_dataset("synthetic", "train", options={"foreground_share": 0.1, "foreground_fraction": 0.1})
    with pytest.raises(DatasetError, match=r"foreground_share must be in \(0, 0.95\]"):
        load_dataset("synthetic", "train", options={"foreground_share": 1.0})
