"""Each distance-metric mode reproduces its peer library (test-only oracles) on random 2D and 3D shapes.

default (voxel, directed) == MONAI; percentile_rule="pooled" == MedPy hd95; surface="surfel" == DeepMind
surface-distance and MONAI use_subvoxels=True. MONAI works in float32, so the tolerance is relative 1e-6.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from segbench.metrics.distance import distance_metrics, hausdorff_distance, surface_distances

monai_metrics = pytest.importorskip("monai.metrics")
medpy_binary = pytest.importorskip("medpy.metric.binary")
for _alias, _value in (("Inf", np.inf), ("NaN", np.nan)):  # surface-distance 0.1 (PyPI) uses NumPy 1 aliases
    if not hasattr(np, _alias):
        setattr(np, _alias, _value)
sd_lib = pytest.importorskip("surface_distance")

RTOL = 1e-6
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _blob(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.random(shape), 1.2)
    return noise > np.quantile(noise, rng.uniform(0.5, 0.9))


def _special(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    if kind == "pixel":
        mask[tuple(int(rng.integers(0, n)) for n in shape)] = True
    elif kind == "thin":  # a one-voxel-thick line (2D) or plane (3D)
        mask[(slice(None),) * (len(shape) - 1) + (int(rng.integers(0, shape[-1])),)] = True
    elif kind == "border":  # a block touching the image border
        mask[tuple(slice(0, max(1, n // 2)) for n in shape)] = True
    return mask


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], float]:
    rng = np.random.default_rng(seed)
    nd = 2 + seed % 2
    shape = tuple(int(n) for n in rng.integers(5, 24 if nd == 3 else 40, nd))
    spacing = tuple(float(s) for s in rng.uniform(0.4, 2.6, nd))
    kinds = ["blob", "blob", "pixel", "thin", "border"]
    masks = []
    for _ in range(2):
        kind = kinds[int(rng.integers(0, len(kinds)))] if seed >= 6 else "blob"
        m = _blob(rng, shape) if kind == "blob" else _special(kind, rng, shape)
        if not m.any():
            m[0, ...] = True
        masks.append(m)
    return masks[0], masks[1], spacing, float(rng.uniform(0.3, 3.0))


def _onehot(m: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(m)[None, None].float()


SEEDS = list(range(40))


@pytest.mark.parametrize("seed", SEEDS)
def test_voxel_directed_matches_monai(seed: int) -> None:
    p, t, sp, tol = _case(seed)
    pp, tt = torch.from_numpy(p)[None], torch.from_numpy(t)[None]
    q = 50.0 + seed
    ours = distance_metrics(pp, tt, spacing=sp, tolerance=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(include_background=True, spacing=sp)
        ref = {
            "hd": monai_metrics.compute_hausdorff_distance(_onehot(p), _onehot(t), **kw),
            "hd95": monai_metrics.compute_hausdorff_distance(_onehot(p), _onehot(t), percentile=95, **kw),
            "assd": monai_metrics.compute_average_surface_distance(_onehot(p), _onehot(t), symmetric=True, **kw),
            "nsd": monai_metrics.compute_surface_dice(_onehot(p), _onehot(t), [tol], **kw),
        }
        ref_q = monai_metrics.compute_hausdorff_distance(_onehot(p), _onehot(t), percentile=q, **kw)
    for name, value in ref.items():
        np.testing.assert_allclose(ours[name].numpy(), value.double().numpy()[:, 0], rtol=RTOL, err_msg=name)
    ours_q = hausdorff_distance(pp, tt, spacing=sp, percentile=q)
    np.testing.assert_allclose(ours_q.numpy(), ref_q.double().numpy()[:, 0], rtol=RTOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_voxel_pooled_matches_medpy(seed: int) -> None:
    p, t, sp, _ = _case(seed)
    pp, tt = torch.from_numpy(p)[None], torch.from_numpy(t)[None]
    sd = surface_distances(pp, tt, spacing=sp)
    assert sd.hausdorff(95, percentile_rule="pooled").item() == pytest.approx(
        medpy_binary.hd95(p, t, voxelspacing=sp), rel=1e-12
    )
    assert sd.hausdorff(100).item() == pytest.approx(medpy_binary.hd(p, t, voxelspacing=sp), rel=1e-12)
    assert sd.average("assd").item() == pytest.approx(medpy_binary.assd(p, t, voxelspacing=sp), rel=1e-12)
    # MetricsReloaded's masd: the mean of the two directed means, i.e. MedPy's two asd values averaged
    masd = 0.5 * (medpy_binary.asd(p, t, voxelspacing=sp) + medpy_binary.asd(t, p, voxelspacing=sp))
    assert sd.average("masd").item() == pytest.approx(masd, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_surfel_matches_surface_distance_and_monai_subvoxels(seed: int) -> None:
    p, t, sp, tol = _case(seed)
    pp, tt = torch.from_numpy(p)[None], torch.from_numpy(t)[None]
    ref = sd_lib.compute_surface_distances(t, p, sp)
    sd = surface_distances(pp, tt, spacing=sp, surface="surfel")
    for q in (100.0, 95.0, 50.0 + seed):
        assert sd.hausdorff(q).item() == pytest.approx(sd_lib.compute_robust_hausdorff(ref, q), rel=1e-12)
    assert sd.nsd(tol).item() == pytest.approx(sd_lib.compute_surface_dice_at_tolerance(ref, tol), rel=1e-12)
    gt_to_pred, pred_to_gt = sd_lib.compute_average_surface_distance(ref)
    assert sd.average("masd").item() == pytest.approx(0.5 * (gt_to_pred + pred_to_gt), rel=1e-12)
    weights = np.concatenate([ref["surfel_areas_gt"], ref["surfel_areas_pred"]])
    dists = np.concatenate([ref["distances_gt_to_pred"], ref["distances_pred_to_gt"]])
    assert sd.average("assd").item() == pytest.approx(float(np.sum(weights * dists) / np.sum(weights)), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai_nsd = monai_metrics.compute_surface_dice(
            _onehot(p), _onehot(t), [tol], include_background=True, spacing=sp, use_subvoxels=True
        )
    np.testing.assert_allclose(sd.nsd(tol).numpy(), monai_nsd.double().numpy()[:, 0], rtol=RTOL)
