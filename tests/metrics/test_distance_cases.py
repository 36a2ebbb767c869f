"""Distance metrics on hand-built cases: values derived by hand, empty cases, classes, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench.metrics.distance import (
    average_surface_distance,
    distance_metrics,
    hausdorff_distance,
    normalized_surface_distance,
    surface_distances,
)


def _square_with_outlier() -> tuple[torch.Tensor, torch.Tensor]:
    """Target: a 3x3 square (8 border pixels); prediction: the same square and one pixel 8 columns away."""
    t = torch.zeros(1, 5, 16, dtype=torch.bool)
    t[0, 1:4, 1:4] = True
    p = t.clone()
    p[0, 2, 11] = True
    return p, t


def test_modes_differ_as_documented_on_one_case() -> None:
    # Distances prediction -> target: 8 zeros and 8 (outlier to (2, 3)); target -> prediction: 8 zeros.
    p, t = _square_with_outlier()
    sd = surface_distances(p, t)
    assert sd.hausdorff(100).item() == 8.0
    # directed, linear: position 0.95 * 8 = 7.6 in [0]*8 + [8] -> 0.6 * 8; the other direction is 0.
    assert sd.hausdorff(95).item() == pytest.approx(4.8)
    # pooled: 16 zeros and one 8; position 0.95 * 16 = 15.2 -> 0.2 * 8.
    assert sd.hausdorff(95, percentile_rule="pooled").item() == pytest.approx(1.6)
    assert sd.average("assd").item() == pytest.approx(8 / 17)
    assert sd.average("masd").item() == pytest.approx(0.5 * (8 / 9 + 0))
    assert sd.nsd(1.0).item() == pytest.approx(16 / 17)
    # surfels: contour vertices between pixels. The square's contour: 4 corner vertices (length sqrt(2)/2 each)
    # and 8 edge vertices (length 1), 4 + 2 sqrt(2) in all, all at distance 0. The outlier adds 4 corner vertices
    # (2 sqrt(2) in all), two at distance 7 and two at 8 from the square's contour. Area shares of the prediction:
    # 0 up to 79.3 %, 7 up to 89.6 %, 8 up to 100 %: the area-weighted rule picks 8 at 95 %, 7 at 85 %, 0 at 70 %.
    surf = surface_distances(p, t, surface="surfel")
    assert surf.hausdorff(95).item() == 8.0
    assert surf.hausdorff(85).item() == 7.0
    assert surf.hausdorff(70).item() == 0.0


def test_shifted_square_anisotropic() -> None:
    t = torch.zeros(1, 10, 10, dtype=torch.bool)
    t[0, 2:6, 2:6] = True
    p = t.roll(2, dims=1)  # two rows down; rows are 0.5 apart
    sp = (0.5, 3.0)
    assert hausdorff_distance(p, t, spacing=sp).item() == pytest.approx(1.0)
    # prediction's 12 border pixels (rows 4 and 7, and columns 2 and 5 of rows 5-6) to the target's border:
    # row 4: 0, 0.5, 0.5, 0 (the middle two are inside the target, 1 row from its last row); row 5: 0, 0;
    # row 6: 0.5, 0.5; row 7: 1.0 x 4. Sum 6 over 12; the other direction is the mirror image.
    assert average_surface_distance(p, t, spacing=sp).item() == pytest.approx(12 / 24)
    assert average_surface_distance(p, t, spacing=sp, variant="masd").item() == pytest.approx(0.5)
    assert normalized_surface_distance(p, t, spacing=sp, tolerance=0.5).item() == pytest.approx(16 / 24)


def test_identical_single_pixel_and_thin_line() -> None:
    t = torch.zeros(1, 6, 7, 8, dtype=torch.bool)
    t[0, 3, 2, 5] = True
    r = distance_metrics(t, t, metrics=("hd", "hd95", "assd", "masd", "nsd"), spacing=(2.0, 1.0, 0.5))
    assert {k: v.item() for k, v in r.items()} == {"hd": 0.0, "hd95": 0.0, "assd": 0.0, "masd": 0.0, "nsd": 1.0}
    line = torch.zeros(1, 6, 9, dtype=torch.bool)
    line[0, 2, :] = True  # touches both borders
    moved = line.roll(3, dims=1)
    assert hausdorff_distance(moved, line, spacing=(1.5, 1.0)).item() == pytest.approx(4.5)
    assert hausdorff_distance(moved, line, spacing=(1.5, 1.0), surface="surfel").item() == pytest.approx(4.5)


def test_empty_cases() -> None:
    t = torch.zeros(3, 4, 5, dtype=torch.bool)
    p = torch.zeros_like(t)
    t[1, 1, 1] = True  # image 1: prediction empty (miss)
    p[2, 2, 2] = True  # image 2: target empty (false positive only)
    sd = surface_distances(p, t, spacing=(2.0, 1.0))
    assert sd.undefined.tolist() == [True, False, False] and sd.miss.tolist() == [False, True, True]
    hd = sd.hausdorff(95)
    assert math.isnan(hd[0]) and hd[1:].tolist() == [math.inf, math.inf]
    diag = math.sqrt((4 * 2.0) ** 2 + 5**2)
    assert sd.hausdorff(95, worst_case="diagonal")[1:].tolist() == pytest.approx([diag, diag])
    assert sd.average(worst_case=7.5)[1:].tolist() == [7.5, 7.5]
    assert math.isnan(sd.average(worst_case=7.5)[0])
    nsd = sd.nsd(1.0)
    assert math.isnan(nsd[0]) and nsd[1:].tolist() == [0.0, 0.0]


def test_label_maps_per_class_equal_binary_masks() -> None:
    rng = np.random.default_rng(3)
    labels_p = torch.from_numpy(rng.integers(0, 3, (2, 9, 8, 7)))
    labels_t = torch.from_numpy(rng.integers(0, 3, (2, 9, 8, 7)))
    labels_p[1][labels_p[1] == 2] = 0  # class 2 missing from the second prediction
    sp = (1.0, 0.8, 2.5)
    for inc in (False, True):
        r = distance_metrics(labels_p, labels_t, num_classes=3, include_background=inc, spacing=sp, tolerance=1.3)
        classes = range(0 if inc else 1, 3)
        for name, value in r.items():
            assert value.shape == (2, len(classes))
            for j, c in enumerate(classes):
                binary = distance_metrics(labels_p == c, labels_t == c, metrics=(name,), spacing=sp, tolerance=1.3)
                torch.testing.assert_close(value[:, j], binary[name], equal_nan=True)
    ml = distance_metrics(
        torch.stack([labels_p == 1, labels_p == 2], 1), torch.stack([labels_t == 1, labels_t == 2], 1),
        multilabel=True, include_background=True, spacing=sp, tolerance=1.3,
    )
    for name, value in distance_metrics(labels_p, labels_t, num_classes=3, spacing=sp, tolerance=1.3).items():
        torch.testing.assert_close(ml[name], value, equal_nan=True)


def test_ignore_index_sets_ignored_pixels_to_background() -> None:
    rng = np.random.default_rng(5)
    p = torch.from_numpy(rng.integers(0, 2, (1, 12, 12)))
    t = torch.from_numpy(rng.integers(0, 2, (1, 12, 12)))
    t[0, :, 8:] = 255
    got = distance_metrics(p, t, ignore_index=255, tolerance=1.0)
    p2, t2 = p.clone(), t.clone()
    p2[0, :, 8:] = 0
    t2[0, :, 8:] = 0
    want = distance_metrics(p2, t2, tolerance=1.0)
    for k in want:
        torch.testing.assert_close(got[k], want[k])


masks_2d = st.integers(0, 2**30).map(
    lambda s: np.random.default_rng(s).random((2, 9, 11)) < np.random.default_rng(s + 1).uniform(0.1, 0.6)
)


@settings(max_examples=30, deadline=None)
@given(masks_2d, st.integers(0, 5), st.integers(0, 4), st.sampled_from(["voxel", "surfel"]))
def test_translation_padding_and_symmetry(pair: np.ndarray, pad_before: int, pad_after: int, surface: str) -> None:
    p, t = (torch.from_numpy(pair[i])[None] for i in range(2))
    sp = (0.7, 1.9)
    keys = ("hd", "hd95", "assd", "masd", "nsd")
    base = distance_metrics(p, t, metrics=keys, spacing=sp, surface=surface)  # type: ignore[arg-type]
    pads = (pad_before, pad_after, pad_after, pad_before)
    padded = distance_metrics(
        torch.nn.functional.pad(p, pads), torch.nn.functional.pad(t, pads), metrics=keys, spacing=sp,
        surface=surface,  # type: ignore[arg-type]
    )
    swapped = distance_metrics(t, p, metrics=keys, spacing=sp, surface=surface)  # type: ignore[arg-type]
    for k in keys:
        torch.testing.assert_close(padded[k], base[k], equal_nan=True)
        torch.testing.assert_close(swapped[k], base[k], equal_nan=True)


def test_bad_input_raises() -> None:
    t = torch.zeros(1, 5, 5, dtype=torch.bool)
    t[0, 2, 2] = True
    with pytest.raises(TypeError, match="to_labels"):
        hausdorff_distance(torch.rand(1, 5, 5), t)
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance(t, t, spacing=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance(t, t, spacing=(1.0, -2.0))
    with pytest.raises(ValueError, match="percentile"):
        hausdorff_distance(t, t, percentile=101)
    with pytest.raises(ValueError, match="percentile_rule"):
        hausdorff_distance(t, t, percentile_rule="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="surface"):
        hausdorff_distance(t, t, surface="mesh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="worst_case"):
        hausdorff_distance(t, t, worst_case="huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        normalized_surface_distance(t, t, tolerance=-1.0)
    with pytest.raises(ValueError, match="metric"):
        distance_metrics(t, t, metrics=("dice",))
    with pytest.raises(ValueError, match="surfel"):
        hausdorff_distance(t[None, None], t[None, None], surface="surfel")


def test_multilabel_include_background_drops_channel_0() -> None:
    """``include_background`` is honoured in multilabel mode: False (the default) scores channels 1.., True all,
    each channel's values those of its own binary masks; one channel and False is refused."""
    rng = np.random.default_rng(8)
    p = torch.from_numpy(rng.random((2, 3, 9, 9)) < 0.4)
    t = torch.from_numpy(rng.random((2, 3, 9, 9)) < 0.4)
    every = distance_metrics(p, t, multilabel=True, include_background=True, tolerance=1.0)
    default = distance_metrics(p, t, multilabel=True, tolerance=1.0)
    for name in every:
        assert every[name].shape == (2, 3) and default[name].shape == (2, 2)
        torch.testing.assert_close(default[name], every[name][:, 1:], equal_nan=True)
        one = distance_metrics(p[:, 0], t[:, 0], metrics=(name,), tolerance=1.0)[name]
        torch.testing.assert_close(every[name][:, 0], one, equal_nan=True)
    with pytest.raises(ValueError, match="leaves no channel"):
        distance_metrics(p[:, :1], t[:, :1], multilabel=True, tolerance=1.0)
