"""Reading saved masks for ``segbench evaluate``: PNG, TIFF, NPY/NPZ and NIfTI, 2D or 3D; errors name the file.

Every reader returns a :class:`MaskFile`: the raw stored values as ``int64`` in **array axis order**, plus the
voxel spacing in the same order when the file stores one.

Axis order, said once: 2D masks are ``(Y, X)`` (rows, columns), 3D volumes ``(Z, Y, X)``, and ``--spacing`` and
every reported spacing follow that order. PNG, TIFF and NumPy arrays are kept as stored (a multi-page TIFF is
``(pages, rows, columns)``). NIfTI stores its voxels as ``(i, j, k)`` (usually x, y, z) with
``header.get_zooms()`` in that order, so a NIfTI array is **transposed** to ``(k, j, i)`` and its zooms reversed:
then ``--spacing Z,Y,X`` means the same for every format. Distances do not change under this transposition,
since the spacing moves with the axes.

* PNG (and BMP/GIF): single-channel, or colour with equal channels (a grey mask saved as RGB); 2D only.
* TIFF: one page ``(Y, X)`` or a stack ``(Z, Y, X)``; colour samples must be equal.
* NPY: a 2D or 3D integer or bool array (float arrays only when every value is an integer).
* NPZ: the array named ``mask``, or the only array in the archive.
* NIfTI (``.nii``, ``.nii.gz``): needs the optional ``nibabel`` (``pip install segbench[nifti]``); trailing
  axes of length 1 are dropped (``(x, y, 1)`` is a 2D mask).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segbench.errors import UsageError
from segbench.files import safe_read

__all__ = ["MASK_SUFFIXES", "MaskFile", "header_float", "mask_stem", "mask_suffix", "read_mask_file"]

_Read = tuple[np.ndarray, tuple[float, ...] | None, np.ndarray | None]

MASK_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff", ".npy", ".npz", ".nii", ".nii.gz")
"""File types ``evaluate`` reads (compared case-insensitively). JPEG is not among them: it is lossy."""


@dataclass(frozen=True)
class MaskFile:
    """One mask as stored: ``array`` int64 ``(Y, X)`` or ``(Z, Y, X)``; ``spacing`` from the header or ``None``;
    ``affine`` the NIfTI voxel-to-world matrix (for NIfTI's ``(i, j, k)``, see :mod:`segbench.files.orientation`)
    or ``None`` for the formats without one."""

    path: Path
    array: np.ndarray
    spacing: tuple[float, ...] | None = None
    affine: np.ndarray | None = None


def mask_suffix(path: Path) -> str | None:
    """The supported suffix of ``path`` (lower case; ``.nii.gz`` counts as one), or ``None``.

    >>> mask_suffix(Path("case_01.NII.GZ")), mask_suffix(Path("a.png")), mask_suffix(Path("notes.txt"))
    ('.nii.gz', '.png', None)
    """
    name = path.name.lower()
    for suffix in sorted(MASK_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def mask_stem(path: Path) -> str:
    """The file name without its mask suffix (``case.nii.gz`` -> ``case``), the key predictions pair on.

    >>> mask_stem(Path("dir/case_01.nii.gz")), mask_stem(Path("img.v2.png"))
    ('case_01', 'img.v2')
    """
    suffix = mask_suffix(path)
    return path.name if suffix is None else path.name[: -len(suffix)]


def _integral(array: np.ndarray, path: Path) -> np.ndarray:
    """``array`` as int64; bool becomes 0/1; floats must hold integers only."""
    if array.dtype == bool:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64, copy=False)
    if not np.issubdtype(array.dtype, np.floating):
        raise UsageError(f"mask file {path} holds {array.dtype} values; expected integer labels")
    if not np.isfinite(array).all() or not (array == np.round(array)).all():
        raise UsageError(
            f"mask file {path} holds non-integer values ({array.dtype}); evaluate takes hard label maps, "
            "so threshold probabilities or take the argmax of scores before saving"
        )
    return array.astype(np.int64)


def _equal_channels(array: np.ndarray, path: Path, hint: str = "") -> np.ndarray:
    """Collapse a trailing colour axis whose channels are equal (alpha dropped); otherwise an error."""
    colour = array[..., : min(3, array.shape[-1])]
    if not (colour == colour[..., :1]).all():
        raise UsageError(f"mask file {path} is a colour image with unequal channels; expected a label image{hint}")
    return colour[..., 0]


def _read_pil(path: Path) -> tuple[np.ndarray, None]:
    with safe_read.open_image(path) as im:
        if im.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
            return _equal_channels(np.asarray(im.convert("RGB")), path), None
        return np.asarray(im), None


def _read_tiff(path: Path) -> tuple[np.ndarray, None]:
    array, axes = safe_read.read_tiff(path)
    if axes.endswith("S"):  # samples per pixel: a colour image
        hint = (
            f" (the file stores shape {array.shape} as colour samples; a (Z, Y, X) stack whose last axis "
            "has 3 or 4 voxels must be saved with photometric='minisblack')"
        )
        array = _equal_channels(array, path, hint)
    return array, None


def _read_npy(path: Path) -> tuple[np.ndarray, None]:
    return safe_read.read_npy(path), None


def _read_npz(path: Path) -> tuple[np.ndarray, None]:
    names = safe_read.npz_names(path)
    if "mask" in names or len(names) == 1:
        return safe_read.read_npz(path, "mask" if "mask" in names else names[0]), None
    raise UsageError(f"mask file {path} holds arrays {names}; expected one array, or one named 'mask'")


def header_float(value: float) -> float:
    """A float32 header value at the precision it has: the shortest decimal that reads back as the same float32.

    NIfTI stores voxel sizes as float32, so 0.8 is stored as 0.800000011920929; reported as 0.8.

    Args:
        value: a number read from a float32 header field.

    >>> header_float(float(np.float32(0.8))), header_float(2.5)
    (0.8, 2.5)
    """
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    array, zooms, affine = safe_read.read_nifti(path)
    while array.ndim > 2 and array.shape[-1] == 1:
        array = array[..., 0]
    zooms = zooms[: array.ndim]
    return np.ascontiguousarray(array.transpose()), tuple(header_float(z) for z in reversed(zooms)), affine


def _no_affine(reader: Callable[[Path], tuple[np.ndarray, None]]) -> Callable[[Path], _Read]:
    def read(path: Path) -> _Read:
        array, spacing = reader(path)
        return array, spacing, None

    return read


_READERS: dict[str, Callable[[Path], _Read]] = {
    ".png": _no_affine(_read_pil), ".bmp": _no_affine(_read_pil), ".gif": _no_affine(_read_pil),
    ".tif": _no_affine(_read_tiff), ".tiff": _no_affine(_read_tiff), ".npy": _no_affine(_read_npy),
    ".npz": _no_affine(_read_npz), ".nii": _read_nifti, ".nii.gz": _read_nifti,
}


@contextmanager
def naming_file(what: str, path: Path) -> Iterator[None]:
    """Raise any failure to read or decode ``path`` inside the block as a :class:`UsageError` that names the file
    (``what``: ``"mask"``, ``"probability"``) and keeps the reason; a :class:`UsageError` passes as it is.

    Args:
        what: the kind of file, as the message names it.
        path: the file being read.

    >>> with naming_file("mask", Path("m.png")):  # doctest: +ELLIPSIS
    ...     raise OSError("truncated")
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: cannot read mask file m.png: OSError: truncated
    """
    try:
        yield
    except safe_read.UnreadableFile as exc:
        raise UsageError(f"cannot read {what} file {exc.path}: {exc.reason}") from None
    except UsageError:
        raise
    except Exception as exc:  # any decoder failure: name the file, keep the reason
        raise UsageError(f"cannot read {what} file {path}: {type(exc).__name__}: {exc}") from exc


def read_mask_file(path: Path) -> MaskFile:
    """Read one mask (see the module docstring for formats and axis order); :class:`UsageError` names the file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "m.npy"
    >>> np.save(p, np.array([[[0, 2], [1, 0]]], dtype=np.uint8))
    >>> m = read_mask_file(p)
    >>> m.array.shape, m.array.dtype, m.spacing
    ((1, 2, 2), dtype('int64'), None)
    """
    suffix = mask_suffix(path)
    if suffix is None:
        raise UsageError(f"file {path} is not a mask type evaluate reads ({', '.join(MASK_SUFFIXES)})")
    with naming_file("mask", path):
        array, spacing, affine = _READERS[suffix](path)
    if array.ndim not in (2, 3):
        raise UsageError(f"mask file {path} has shape {tuple(array.shape)}; expected a 2D (Y, X) or 3D (Z, Y, X) mask")
    if array.size == 0:
        raise UsageError(f"mask file {path} is empty (shape {tuple(array.shape)})")
    if spacing is not None and not all(np.isfinite(s) and s > 0 for s in spacing):
        raise UsageError(f"mask file {path} has header spacing {spacing}; expected positive numbers")
    return MaskFile(path, _integral(array, path), spacing, affine)
