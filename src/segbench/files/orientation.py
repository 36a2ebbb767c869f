"""Putting a predicted volume on its reference's voxel grid: the affine check of ``segbench evaluate``.

Two NIfTI files describe the same voxels only when their affines (voxel ``(i, j, k)`` to world millimetres) and
shapes agree. Three cases, decided by :func:`align_to_reference`:

* **Same grid** (every affine entry within the tolerance, same shape): the arrays are compared as stored.
* **Same world grid in another axis order or direction** (e.g. the prediction stored ``LAS``, the reference
  ``RAS``, as resampling tools write it): the prediction is reoriented to the reference with nibabel's
  orientation tools (``io_orientation``, ``ornt_transform``, ``apply_orientation``, ``inv_ornt_aff``); the
  reoriented affine must then equal the reference's within the tolerance. This moves voxels, never
  interpolates, so labels stay labels.
* **Different grids** (origin, spacing, direction or shape differ beyond the tolerance after reorientation): a
  :class:`~segbench.errors.UsageError` naming both files, both orientation codes and the values that differ.

Tolerance: an affine entry may differ by at most ``1e-3`` times the reference's smallest voxel size (headers
store float32, and a qform quaternion round-trips with errors of about ``1e-7``), so two grids accepted as
the same are never more than a thousandth of a voxel apart.

Arrays here are in **array axis order** ``(Z, Y, X)`` (:mod:`segbench.files.masks` transposes NIfTI's
``(i, j, k)``); the affines are NIfTI's, for ``(i, j, k)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segbench.errors import UsageError

__all__ = ["AFFINE_TOLERANCE", "Alignment", "align_to_reference", "orientation_code"]

AFFINE_TOLERANCE = 1e-3
"""The largest affine difference accepted as "the same grid", as a fraction of the smallest voxel size."""


@dataclass(frozen=True)
class Alignment:
    """The prediction array on the reference grid (array axis order) and how it got there.

    ``reoriented`` is ``None`` when the grids were already the same, else ``"LAS -> RAS"`` (prediction's
    orientation code, then the reference's).
    """

    array: np.ndarray
    reoriented: str | None


def orientation_code(affine: np.ndarray) -> str:
    """The three-letter orientation code of an affine (where each voxel axis ``i, j, k`` points to).

    Args:
        affine: a 4 x 4 voxel-to-world matrix (NIfTI's RAS+ world).

    >>> orientation_code(np.diag([1.0, 1.0, 1.0, 1.0])), orientation_code(np.diag([-0.8, 0.8, 2.5, 1.0]))
    ('RAS', 'LAS')
    """
    from nibabel.orientations import aff2axcodes

    return "".join(str(c) for c in aff2axcodes(affine))


def _ijk(array: np.ndarray) -> np.ndarray:
    """Array axis order back to NIfTI's ``(i, j, k)``, padded to 3 axes (2D masks dropped a trailing 1)."""
    ijk = array.transpose()
    return ijk.reshape(ijk.shape + (1,) * (3 - ijk.ndim))


def _describe(pred_affine: np.ndarray, truth_affine: np.ndarray, pred_shape: tuple[int, ...],
              truth_shape: tuple[int, ...], scale: float) -> str:
    parts = []
    if pred_shape != truth_shape:
        parts.append(f"shape (i, j, k) {pred_shape} vs {truth_shape}")
    p_sp, t_sp = np.linalg.norm(pred_affine[:3, :3], axis=0), np.linalg.norm(truth_affine[:3, :3], axis=0)
    if not np.allclose(p_sp, t_sp, rtol=0, atol=AFFINE_TOLERANCE * scale):
        parts.append(f"spacing (i, j, k) {_values(p_sp)} vs {_values(t_sp)} mm")
    if not np.allclose(pred_affine[:3, 3], truth_affine[:3, 3], rtol=0, atol=AFFINE_TOLERANCE * scale):
        parts.append(f"origin {_values(pred_affine[:3, 3])} vs {_values(truth_affine[:3, 3])} mm")
    p_dir, t_dir = pred_affine[:3, :3] / p_sp, truth_affine[:3, :3] / t_sp
    if not np.allclose(p_dir, t_dir, rtol=0, atol=AFFINE_TOLERANCE):
        parts.append(f"direction cosines {_values(p_dir.ravel())} vs {_values(t_dir.ravel())}")
    return "; ".join(parts) or "affine differs"


def _values(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


def align_to_reference(
    pred: np.ndarray, pred_affine: np.ndarray, truth_shape: tuple[int, ...], truth_affine: np.ndarray,
    *, pred_path: Path, truth_path: Path,
) -> Alignment:
    """The prediction on the reference's voxel grid (see the module docstring), or a :class:`UsageError`.

    Reorientation permutes and flips the axes of ``pred`` (``apply_orientation``) so that its orientation equals
    the reference's; ``inv_ornt_aff`` gives the affine of the reoriented array, which must then match the
    reference's affine entry by entry (``|A_pred' - A_truth| <= 1e-3 * min voxel size``) and shape.

    Args:
        pred: the prediction, array axis order ``(Z, Y, X)`` (or ``(Y, X)``).
        pred_affine: the prediction's NIfTI affine (for ``(i, j, k)``).
        truth_shape: the reference's shape, array axis order.
        truth_affine: the reference's NIfTI affine.
        pred_path: the prediction file (named in errors).
        truth_path: the reference file (named in errors).

    >>> truth = np.zeros((2, 3, 4), np.int64); truth[0, 0, 0] = 1            # (Z, Y, X); x = 0 is voxel i = 0
    >>> flip = np.diag([-1.0, 1.0, 1.0, 1.0]); flip[0, 3] = 3.0               # i runs right to left
    >>> a = align_to_reference(truth[:, :, ::-1], flip, truth.shape, np.eye(4), pred_path=Path("p.nii"),
    ...                        truth_path=Path("t.nii"))
    >>> a.reoriented, bool((a.array == truth).all())
    ('LAS -> RAS', True)
    """
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    truth_affine = np.asarray(truth_affine, dtype=np.float64)
    pred_affine = np.asarray(pred_affine, dtype=np.float64)
    scale = float(np.linalg.norm(truth_affine[:3, :3], axis=0).min())
    tol = AFFINE_TOLERANCE * scale
    pred_ijk = _ijk(pred)
    truth_ijk_shape = tuple(truth_shape[::-1]) + (1,) * (3 - len(truth_shape))
    if pred_ijk.shape == truth_ijk_shape and np.allclose(pred_affine, truth_affine, rtol=0, atol=tol):
        return Alignment(pred, None)
    codes = f"{orientation_code(pred_affine)} -> {orientation_code(truth_affine)}"
    transform = ornt_transform(io_orientation(pred_affine), io_orientation(truth_affine))
    moved = apply_orientation(pred_ijk, transform)
    moved_affine = pred_affine @ inv_ornt_aff(transform, pred_ijk.shape)
    if moved.shape != truth_ijk_shape or not np.allclose(moved_affine, truth_affine, rtol=0, atol=tol):
        raise UsageError(
            f"prediction {pred_path} ({orientation_code(pred_affine)}) and ground truth {truth_path} "
            f"({orientation_code(truth_affine)}) are on different voxel grids"
            f"{' even after reorienting the prediction' if codes.split(' -> ')[0] != codes.split(' -> ')[1] else ''}: "
            f"{_describe(moved_affine, truth_affine, tuple(moved.shape), truth_ijk_shape, scale)}; "
            "resample the prediction onto the reference grid (nearest neighbour) before evaluating"
        )
    out = np.ascontiguousarray(moved.reshape(truth_ijk_shape[: len(truth_shape)]).transpose())
    return Alignment(out, codes if not np.allclose(pred_affine, truth_affine, rtol=0, atol=tol) else None)
