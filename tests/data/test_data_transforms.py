"""Paired transforms: mask resizing never invents labels, flips keep image and mask aligned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from segbench.data import load_dataset, random_flip, resize_image, resize_mask
from segbench.data.dataset import SegmentationDataset
from segbench.data.transforms import nearest_indices


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=st.sampled_from([0, 3, 7, 255])),
    st.integers(1, 50),
    st.integers(1, 50),
)
def test_resized_masks_hold_only_input_labels(mask: np.ndarray, height: int, width: int) -> None:
    out = resize_mask(torch.from_numpy(mask), (height, width))
    assert out.shape == (height, width) and out.dtype == torch.int64
    assert set(out.unique().tolist()) <= set(np.unique(mask).tolist())


def test_nearest_indices_match_torch_nearest_exact_away_from_ties() -> None:
    for length_in in range(1, 60):
        for length_out in range(1, 60):
            ours = nearest_indices(length_in, length_out)
            source = torch.arange(length_in, dtype=torch.float32)[None, None, None]
            theirs = F.interpolate(source, size=(1, length_out), mode="nearest-exact")[0, 0, 0].long()
            tie = (2 * torch.arange(length_out) + 1) * length_in % (2 * length_out) == 0
            assert torch.equal(ours[~tie], theirs[~tie])


def test_nearest_resize_by_hand() -> None:
    mask = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert resize_mask(mask, (4, 3)).tolist() == [[1, 2, 3], [1, 2, 3], [4, 5, 6], [4, 5, 6]]
    assert resize_mask(mask, (1, 2)).tolist() == [[4, 6]]  # centres (1.0, 0.75 and 2.25) -> rows 1, cols 0, 2


def test_image_resize_keeps_constants() -> None:
    image = torch.full((2, 10, 14), 0.25)
    torch.testing.assert_close(resize_image(image, (5, 7)), torch.full((2, 5, 7), 0.25))


@pytest.mark.parametrize("sizes", [(10, 14, 5, 7), (33, 17, 8, 30), (96, 96, 40, 56), (20, 20, 45, 45)])
def test_image_resize_matches_pil_bilinear(sizes: tuple[int, int, int, int]) -> None:
    """Oracle: PIL's BILINEAR resize (a tent filter widened by the scale when shrinking)."""
    height, width, out_h, out_w = sizes
    array = np.random.default_rng(0).random((height, width)).astype(np.float32)
    pil = np.asarray(Image.fromarray(array, mode="F").resize((out_w, out_h), Image.Resampling.BILINEAR))
    ours = resize_image(torch.from_numpy(array)[None], (out_h, out_w))[0].numpy()
    np.testing.assert_allclose(ours, pil, atol=1e-5)


def test_flips_keep_image_and_mask_aligned_and_use_all_four() -> None:
    mask = torch.arange(12).view(3, 4)
    image = torch.stack([mask.float(), -mask.float()])
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        flipped_image, flipped_mask = random_flip(image, mask, generator)
        assert torch.equal(flipped_image[0], flipped_mask.float())
        assert torch.equal(flipped_image[1], -flipped_mask.float())
        seen.add(tuple(flipped_mask.flatten().tolist()))
    assert len(seen) == 4


def _toy(augment: bool, seed: int = 0) -> SegmentationDataset:
    def loader(i: int) -> tuple[np.ndarray, np.ndarray]:
        mask = (np.arange(30).reshape(5, 6) + i) % 3
        return (mask / 10).astype(np.float32)[None], mask.astype(np.int64)

    return SegmentationDataset("toy", ["a", "b"], loader, num_classes=3, in_channels=1,
                               class_names=["x", "y", "z"], augment=augment, seed=seed)


def test_augmentation_is_reproducible_varied_and_aligned() -> None:
    first, second, other = _toy(True), _toy(True), _toy(True, seed=1)
    run = [first[1] for _ in range(12)]
    again = [second[1] for _ in range(12)]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(run, again, strict=True))
    assert len({tuple(m.flatten().tolist()) for _, m in run}) > 1
    assert [tuple(m.flatten().tolist()) for _, m in run] != [tuple(other[1][1].flatten().tolist()) for _ in run]
    for image, mask in run:
        torch.testing.assert_close(image[0], mask.float() / 10)


def test_without_augmentation_items_are_fixed_and_copies() -> None:
    data = _toy(False)
    _, mask = data[0]
    mask.fill_(9)
    assert torch.equal(data[0][1], data.raw_mask(0)) and int(data[0][1].max()) == 2


def test_set_epoch_changes_the_flips_reproducibly() -> None:
    def flips(epoch: int) -> list[tuple[int, ...]]:
        data = _toy(True)
        data.set_epoch(epoch)
        return [tuple(data[i % 2][1].flatten().tolist()) for i in range(16)]

    assert flips(3) == flips(3) and flips(3) != flips(4)


def test_augmented_sample_items_are_flips_of_the_plain_ones() -> None:
    plain = load_dataset("sample", "val")
    augmented = load_dataset("sample", "val", augment=True, seed=5)
    for i in range(len(plain)):
        image, mask = plain[i]
        a_image, a_mask = augmented[i]
        candidates = [(image, mask), (image.flip(-1), mask.flip(-1)), (image.flip(-2), mask.flip(-2)),
                      (image.flip(-1, -2), mask.flip(-1, -2))]
        assert any(torch.equal(a_image, c[0]) and torch.equal(a_mask, c[1]) for c in candidates)
