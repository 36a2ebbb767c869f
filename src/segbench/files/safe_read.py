"""Checked reading of files that came from elsewhere: nothing executes, nothing is sized by an unchecked header.

Prediction folders, datasets and run folders travel (shared by colleagues, downloaded with a paper's results), so
every reader here treats a file as hostile until it has been checked:

* **Nothing executes.** ``.npy``/``.npz`` are read with ``allow_pickle=False`` and an object dtype is refused
  by its header; an ``.npz`` member that is not an ``.npy`` array is refused; checkpoints are read with
  ``torch.load(..., weights_only=True)`` (:func:`load_torch`), which builds tensors and plain containers only.
* **No allocation sized by an untrusted header before it is checked** against the file's real size and a voxel
  limit (:func:`max_voxels`, default :data:`DEFAULT_MAX_VOXELS`, environment variable :data:`MAX_VOXELS_ENV`):
  an uncompressed array must fit in the bytes that follow its header; a deflate-compressed one (``.nii.gz``,
  ``.npz`` members, PNG, deflate TIFF) cannot be more than :data:`DEFLATE_MAX_RATIO` times its compressed size;
  images above Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) are refused, not warned about.
* **Every failure is one line** (:class:`UnreadableFile`, a :class:`~segbench.errors.UsageError` and a
  :class:`~segbench.data.errors.DatasetError`, so the command line prints it and exits 2) that names the file
  and says what is wrong: unreadable, truncated, not the format its name says, a symbolic-link loop, a named
  pipe, too large. Decoder warnings are silenced while reading (they would add lines to the output).

The readers return raw stored arrays; turning them into label maps or images is the callers' job
(:mod:`segbench.files.masks`, :mod:`segbench.files.images`).
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import math
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile
from PIL import Image

from segbench.data.errors import DatasetError
from segbench.errors import UsageError

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "DEFLATE_MAX_RATIO",
    "MAX_VOXELS_ENV",
    "UnreadableFile",
    "check_array_size",
    "check_link",
    "check_nifti",
    "list_folder",
    "load_torch",
    "max_voxels",
    "npy_shape",
    "npz_names",
    "open_checked",
    "open_image",
    "read_nifti",
    "read_npy",
    "read_npz",
    "read_tiff",
    "regular_file",
    "tiff_series_shape",
    "tiff_shape",
]

MAX_VOXELS_ENV = "SEGBENCH_MAX_VOXELS"
"""Environment variable that overrides :data:`DEFAULT_MAX_VOXELS` (a positive integer)."""

DEFAULT_MAX_VOXELS = 1 << 30
"""The most values one array file may hold (2**30, a 1024**3 volume) unless :data:`MAX_VOXELS_ENV` says more."""

DEFLATE_MAX_RATIO = 1032
"""Deflate (zlib, gzip, zip) expands at most 1032:1, so a compressed file of ``n`` bytes holds at most ~1032 n."""

_NPY_MAX_HEADER = 10000  # numpy's own default limit on the (literal-parsed, never evaluated) .npy header
_TIFF_MAX_RATIO = {1: 1, 32773: 64, 8: DEFLATE_MAX_RATIO, 32946: DEFLATE_MAX_RATIO, 5: 3500}
"""Largest expansion of a TIFF compression: none, PackBits, deflate (2 codes), LZW (12-bit codes)."""


class UnreadableFile(DatasetError, UsageError):
    """A file that cannot be read safely; the message names the file and what is wrong with it.

    Both a :class:`~segbench.errors.UsageError` and a :class:`~segbench.data.errors.DatasetError`, so that
    each layer's handlers (and the command line: one line, exit 2) treat it as their own.

    Args:
        path: the file (or folder).
        reason: what is wrong, as a clause (``"it is a symbolic link loop"``).
        what: what the file is to the reader (``"file"``, ``"mask file"``, ``"folder"``).

    >>> error = UnreadableFile("a.npy", "it is truncated")
    >>> str(error), error.reason, issubclass(UnreadableFile, UsageError) and issubclass(UnreadableFile, DatasetError)
    ('cannot read file a.npy: it is truncated', 'it is truncated', True)
    """

    def __init__(self, path: Path | str, reason: str, what: str = "file") -> None:
        super().__init__(f"cannot read {what} {path}: {reason}")
        self.path, self.reason, self.what = path, reason, what

    def __reduce__(self) -> tuple[Any, ...]:  # picklable: errors travel back from worker processes
        return (type(self), (self.path, self.reason, self.what))


def _fail(path: Path | str, reason: str) -> UnreadableFile:
    return UnreadableFile(path, reason)


def _oserror(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _brief(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 200 characters (decoder messages can be long)."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def max_voxels() -> int:
    """The most values one array file may hold: ``$SEGBENCH_MAX_VOXELS`` if set, else :data:`DEFAULT_MAX_VOXELS`.

    >>> max_voxels() == DEFAULT_MAX_VOXELS or MAX_VOXELS_ENV in os.environ
    True
    """
    text = os.environ.get(MAX_VOXELS_ENV)
    if text is None or not text.strip():
        return DEFAULT_MAX_VOXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"environment variable {MAX_VOXELS_ENV} must be a positive integer, got {text!r}")
    return value


def _stat(path: Path, what: str = "file") -> int:
    """``os.stat(path).st_mode`` (links followed); a loop, a dangling link or a failure is one line."""
    try:
        return os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableFile(path, "it is a symbolic link loop", what) from None
        if os.path.islink(path):
            raise UnreadableFile(path, f"it is a symbolic link to a missing target ({os.readlink(path)})",
                                 what) from None
        raise UnreadableFile(path, _oserror(exc), what) from None


def check_link(path: Path, what: str = "folder") -> None:
    """Raise :class:`UnreadableFile` when ``path`` is a symbolic link that cannot be followed (a loop, or a link
    to nothing); anything else (a missing path included) passes, for the caller's own checks.

    Args:
        path: a file or folder the user named.
        what: what it is to the caller (for the message).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); (folder / "loop").symlink_to(folder / "loop")
    >>> check_link(folder / "absent")
    >>> check_link(folder / "loop")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.files.safe_read.UnreadableFile: cannot read folder .../loop: it is a symbolic link loop
    """
    if os.path.islink(path):
        _stat(path, what)


def regular_file(path: Path) -> bool:
    """Whether ``path`` (links followed) is a regular file: ``True``; a folder: ``False``; anything else raises.

    Raises :class:`UnreadableFile` for a symbolic-link loop, a link to nothing, a named pipe (reading one would
    block forever), a socket or a device, and when ``path`` cannot be examined at all.

    Args:
        path: a folder entry.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "a.png").touch(); (folder / "loop.png").symlink_to(folder / "loop.png")
    >>> regular_file(folder / "a.png"), regular_file(folder)
    (True, False)
    >>> regular_file(folder / "loop.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.files.safe_read.UnreadableFile: cannot read .../loop.png: it is a symbolic link loop
    """
    mode = _stat(path)
    if stat.S_ISREG(mode):
        return True
    if stat.S_ISDIR(mode):
        return False
    kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise _fail(path, f"it is {kind}, not a regular file")


def list_folder(folder: Path) -> list[Path]:
    """The entries of ``folder``, sorted; an unreadable folder is one :class:`UnreadableFile` line.

    Args:
        folder: the folder to list (not recursed into).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); (folder / "b").touch(); (folder / "a").touch()
    >>> [p.name for p in list_folder(folder)]
    ['a', 'b']
    """
    try:
        return sorted(Path(folder).iterdir())
    except OSError as exc:
        raise UnreadableFile(folder, _oserror(exc), what="folder") from None


@contextmanager
def open_checked(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """Open a regular file for reading: ``(handle, size in bytes)``; every failure names the file.

    Args:
        path: the file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.bin"; _ = p.write_bytes(b"abc")
    >>> with open_checked(p) as (handle, size):
    ...     handle.read(), size
    (b'abc', 3)
    """
    if not regular_file(path):
        raise _fail(path, "it is a folder, not a file")
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise _fail(path, _oserror(exc)) from None
    try:
        yield handle, os.fstat(handle.fileno()).st_size
    finally:
        handle.close()


@contextmanager
def _quiet() -> Iterator[None]:
    """Decoders' warnings and log records silenced (the command line's error is the one line that counts)."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_array_size(path: Path | str, shape: tuple[int, ...], itemsize: int, *, available: int | None,
                     what: str = "its header") -> int:
    """The number of values ``shape`` holds, after checking it against the voxel limit and the real data size.

    .. math:: n = \\prod_k \\text{shape}_k \\le \\text{max\\_voxels}, \\qquad n \\cdot \\text{itemsize} \\le
              \\text{available}

    Args:
        path: the file (for the message).
        shape: the shape the file's header claims.
        itemsize: bytes per value.
        available: bytes the data can occupy (the real file size after the header, or a bound on what a
            compressed stream can expand to); ``None`` to check the voxel limit only.
        what: what claims the shape (for the message).

    >>> check_array_size("a.npy", (2, 3), 1, available=6)
    6
    >>> check_array_size("a.npy", (1000, 1000), 1, available=96)
    Traceback (most recent call last):
    ...
    segbench.files.safe_read.UnreadableFile: cannot read file a.npy: its header claims shape (1000, 1000) of 1-byte \
values (1000000 bytes) but the file holds only 96 bytes of data: truncated or corrupt
    """
    if any(int(s) < 0 for s in shape):
        raise _fail(path, f"{what} claims a negative size in shape {tuple(shape)}")
    count = math.prod(int(s) for s in shape)
    limit = max_voxels()
    if count > limit:
        raise _fail(path, f"{what} claims shape {tuple(shape)} = {count} values, above the limit of {limit} "
                          f"(set {MAX_VOXELS_ENV} to allow more)")
    if available is not None and count * itemsize > available:
        raise _fail(path, f"{what} claims shape {tuple(shape)} of {itemsize}-byte values ({count * itemsize} "
                          f"bytes) but the file holds only {max(available, 0)} bytes of data: truncated or corrupt")
    return count


def _check_dtype(path: Path | str, dtype: np.dtype[Any], kinds: str = "biuf") -> None:
    if dtype.hasobject:
        raise _fail(path, "it holds Python objects (dtype object), which only unpickling could read; "
                          "segbench never unpickles data files")
    if dtype.fields is not None or dtype.kind not in kinds:
        expected = "numbers (bool, integer or float)" if kinds == "biuf" else f"dtype kind(s) {kinds!r}"
        raise _fail(path, f"it holds {dtype} values; expected {expected}")


def _npy_header(handle: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype from an ``.npy`` header (a Python literal, parsed by numpy without evaluation)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read(handle, max_header_size=_NPY_MAX_HEADER)
    except (ValueError, OSError, EOFError, SyntaxError, struct.error, zlib.error) as exc:
        raise _fail(where, f"it is not a valid .npy array ({_brief(exc)})") from None
    return tuple(int(s) for s in shape), np.dtype(dtype)


def npy_shape(path: Path) -> tuple[int, ...]:
    """The shape an ``.npy`` file holds, from its header, checked (dtype, limit, file size); nothing is loaded.

    Args:
        path: the ``.npy`` file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npy"; np.save(p, np.zeros((3, 4), np.uint8))
    >>> npy_shape(p)
    (3, 4)
    """
    with open_checked(path) as (handle, size):
        shape, dtype = _npy_header(handle, str(path))
        _check_dtype(path, dtype)
        check_array_size(path, shape, dtype.itemsize, available=size - handle.tell())
    return shape


def read_npy(path: Path) -> np.ndarray:
    """The array in an ``.npy`` file, its header checked first (:func:`npy_shape`); never unpickles.

    Args:
        path: the ``.npy`` file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npy"; np.save(p, np.arange(3))
    >>> read_npy(p).tolist()
    [0, 1, 2]
    """
    with open_checked(path) as (handle, size):
        shape, dtype = _npy_header(handle, str(path))
        _check_dtype(path, dtype)
        check_array_size(path, shape, dtype.itemsize, available=size - handle.tell())
        handle.seek(0)
        try:
            return np.asarray(np.load(handle, allow_pickle=False))
        except (ValueError, OSError, EOFError) as exc:
            raise _fail(path, _brief(exc)) from None


def _check_member(path: Path, info: zipfile.ZipInfo, size: int) -> None:
    where = f"member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise _fail(path, f"{where} is encrypted")
    if info.compress_size > size:
        raise _fail(path, f"{where} claims {info.compress_size} compressed bytes but the archive holds only {size}: "
                          "truncated or corrupt")
    if info.compress_type == zipfile.ZIP_STORED:
        bound = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        bound = DEFLATE_MAX_RATIO * info.compress_size + 64
    else:
        raise _fail(path, f"{where} uses zip compression method {info.compress_type}; expected stored or deflate "
                          "(what numpy.savez and savez_compressed write)")
    if info.file_size > bound:
        raise _fail(path, f"{where} claims {info.file_size} bytes, more than its {info.compress_size} stored bytes "
                          "can hold: corrupt")


def _npz_members(path: Path, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    others = [i.filename for i in infos if not i.filename.endswith(".npy")]
    if others:
        raise _fail(path, f"it holds member(s) {others[:3]} that are not NumPy arrays; segbench reads only .npy "
                          "members and never unpickles")
    return infos


@contextmanager
def _open_npz(path: Path) -> Iterator[tuple[zipfile.ZipFile, int]]:
    with open_checked(path) as (handle, size):
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
            raise _fail(path, f"it is not a valid .npz (zip) archive ({_brief(exc)})") from None
        with archive:
            yield archive, size


def npz_names(path: Path) -> list[str]:
    """The array names in an ``.npz`` archive; a member that is not an ``.npy`` array (a pickle) is refused.

    Args:
        path: the ``.npz`` file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npz"; np.savez(p, mask=np.eye(2), x=[1])
    >>> npz_names(p)
    ['mask', 'x']
    """
    with _open_npz(path) as (archive, _):
        return [i.filename[: -len(".npy")] for i in _npz_members(path, archive)]


def read_npz(path: Path, name: str, kinds: str = "biuf") -> np.ndarray:
    """The array ``name`` of an ``.npz`` archive, its sizes checked before anything is decompressed.

    The member's claimed size must be what its compressed bytes can expand to, its ``.npy`` header must fit that
    size and the voxel limit, and its dtype must be numeric (an object array, i.e. a pickle, is refused).

    Args:
        path: the ``.npz`` file.
        name: the array's name (:func:`npz_names`).
        kinds: the dtype kinds accepted (numpy's ``dtype.kind``; ``"U"`` for fixed-width text such as ids).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npz"; np.savez_compressed(p, mask=np.eye(2, dtype=np.uint8), x=[1])
    >>> read_npz(p, "mask").tolist()
    [[1, 0], [0, 1]]
    """
    with _open_npz(path) as (archive, size):
        infos = {i.filename: i for i in _npz_members(path, archive)}
        info = infos.get(f"{name}.npy")
        if info is None:
            raise _fail(path, f"it holds no array named {name!r}")
        _check_member(path, info, size)
        where = f"{path} (member {info.filename!r})"
        try:
            with archive.open(info) as member:
                shape, dtype = _npy_header(member, where)
                _check_dtype(where, dtype, kinds)
                check_array_size(where, shape, dtype.itemsize, available=info.file_size - member.tell())
            with archive.open(info) as member:
                return np.asarray(np.lib.format.read_array(member, allow_pickle=False))
        except UnreadableFile:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error) as exc:
            raise _fail(where, _brief(exc)) from None


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """A Pillow image of ``path`` whose size has been checked; decode it inside the ``with`` block.

    Refused: anything Pillow does not recognise, an image above ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow
    itself only warns up to twice that), and a PNG whose header claims more pixels than its bytes can hold.

    Args:
        path: the image file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.png"; Image.new("L", (5, 3)).save(p)
    >>> with open_image(p) as im:
    ...     im.size
    (5, 3)
    """
    with open_checked(path) as (handle, size), _quiet():
        try:
            image = Image.open(handle)
        except Image.DecompressionBombError as exc:
            raise _fail(path, f"it is a decompression bomb ({_brief(exc)})") from None
        except Exception as exc:  # Pillow raises many types for garbage: all mean "not an image it reads"
            raise _fail(path, f"it is not an image Pillow can read ({_brief(exc)})") from None
        with image:
            width, height = image.size
            pixels = width * height
            limit = Image.MAX_IMAGE_PIXELS or max_voxels()
            if pixels > limit:
                raise _fail(path, f"its header claims {width} x {height} = {pixels} pixels, above Pillow's "
                                  f"decompression-bomb limit of {limit} pixels")
            if image.format == "PNG" and pixels > 8 * DEFLATE_MAX_RATIO * size:  # >= 1 bit a pixel, deflated
                raise _fail(path, f"its header claims {width} x {height} pixels, more than its {size} bytes can "
                                  "hold: truncated or corrupt")
            yield image


def _tiff_checked(path: Path, tif: tifffile.TiffFile, size: int) -> tifffile.TiffPageSeries:
    """The first series of an open TIFF, after checking its size against the limit and the file's bytes."""
    try:
        series = tif.series[0]
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        pages = [p for p in series.pages if p is not None]
    except Exception as exc:
        raise _fail(path, f"it is not a TIFF tifffile can read ({_brief(exc)})") from None
    _check_dtype(path, dtype)
    check_array_size(path, shape, dtype.itemsize, available=None)
    stored = 0
    for page in pages:
        offsets, counts = page.dataoffsets, page.databytecounts
        if any(int(o) + int(c) > size for o, c in zip(offsets, counts, strict=False)):
            raise _fail(path, "its image data lies beyond the end of the file: truncated or corrupt")
        stored += sum(int(c) for c in counts)
    compression = int(getattr(pages[0], "compression", 1)) if pages else 1
    ratio = _TIFF_MAX_RATIO.get(compression)
    raw = math.prod(shape) * dtype.itemsize
    if ratio is not None and raw > ratio * max(stored, 0) + 4096:
        raise _fail(path, f"its header claims shape {shape} ({raw} bytes) but it stores {stored} bytes of image "
                          "data: truncated or corrupt")
    return series


@contextmanager
def _open_tiff(path: Path) -> Iterator[tuple[tifffile.TiffFile, tifffile.TiffPageSeries]]:
    """An open TIFF and its first series, checked (:func:`_tiff_checked`), with tifffile's log silenced."""
    with open_checked(path) as (handle, size), _quiet():
        try:
            tif = tifffile.TiffFile(handle)
        except Exception as exc:
            raise _fail(path, f"it is not a TIFF tifffile can read ({_brief(exc)})") from None
        with tif:
            yield tif, _tiff_checked(path, tif, size)


def tiff_shape(path: Path) -> tuple[int, ...]:
    """The shape of the first page of a TIFF, from its header (checked as :func:`read_tiff` does).

    Args:
        path: the TIFF file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"; tifffile.imwrite(p, np.zeros((3, 4), np.uint8))
    >>> tiff_shape(p)
    (3, 4)
    """
    with _open_tiff(path) as (tif, _):
        return tuple(int(s) for s in tif.pages[0].shape)


def tiff_series_shape(path: Path) -> tuple[int, ...]:
    """The shape of a TIFF's first series (every page of a stack: ``(Z, Y, X)``), from its header.

    Args:
        path: the TIFF file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"; tifffile.imwrite(p, np.zeros((2, 3, 4), np.uint8))
    >>> tiff_series_shape(p)
    (2, 3, 4)
    """
    with _open_tiff(path) as (_, series):
        return tuple(int(s) for s in series.shape)


def read_tiff(path: Path) -> tuple[np.ndarray, str]:
    """The first series of a TIFF and its axes string (tifffile's: ``S`` = colour samples), size-checked first.

    Args:
        path: the TIFF file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"; tifffile.imwrite(p, np.zeros((2, 3, 5), np.uint8))
    >>> array, axes = read_tiff(p); array.shape, axes
    ((2, 3, 5), 'QYX')
    """
    with _open_tiff(path) as (_, series):
        try:
            return np.asarray(series.asarray()), str(series.axes)
        except Exception as exc:
            raise _fail(path, f"its image data cannot be decoded ({_brief(exc)})") from None


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:
        raise UsageError(
            "reading NIfTI files (.nii, .nii.gz) needs the optional nibabel package: pip install segbench[nifti]"
        ) from exc
    return nibabel


def _nifti_header(nibabel: Any, head: bytes, path: Path) -> Any:
    """The NIfTI-1 or -2 header at the start of ``head`` (extensions, which may follow, are not read)."""
    for order in "<>":
        size = struct.unpack(f"{order}i", head[:4])[0] if len(head) >= 4 else 0
        if size in (348, 540) and len(head) >= size:
            klass = nibabel.Nifti1Header if size == 348 else nibabel.Nifti2Header
            try:  # the header alone, with "no extensions" after it: only its fields are needed here
                return klass.from_fileobj(io.BytesIO(head[:size] + bytes(4)), check=True)
            except Exception as exc:
                raise _fail(path, f"its NIfTI header is invalid ({_brief(exc)})") from None
    raise _fail(path, "it is not a NIfTI file (its first 4 bytes are not the header size 348 or 540)")


def check_nifti(path: Path) -> Any:
    """Check a NIfTI file's header before any voxel is read (as :func:`read_nifti` does); returns ``nibabel``.

    The header is parsed from the file's first bytes alone: dtype, voxel limit, and data size against the file's
    real size (or, for ``.nii.gz``, against what the compressed bytes can expand to).

    Args:
        path: the NIfTI file.

    >>> import tempfile, nibabel
    >>> p = Path(tempfile.mkdtemp()) / "a.nii"
    >>> nibabel.save(nibabel.Nifti1Image(np.zeros((4, 3, 2), np.uint8), np.eye(4)), p)
    >>> check_nifti(p) is nibabel
    True
    """
    nibabel = _nibabel()
    compressed = path.name.lower().endswith(".gz")
    with open_checked(path) as (handle, size):
        try:
            stream: IO[bytes] = gzip.GzipFile(fileobj=handle) if compressed else handle  # type: ignore[assignment]
            head = stream.read(544)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(path, f"it is not a valid gzip file ({_brief(exc)})") from None
    header = _nifti_header(nibabel, head, path)
    try:
        shape, dtype = tuple(int(s) for s in header.get_data_shape()), np.dtype(header.get_data_dtype())
        offset = int(header.get_data_offset())
    except Exception as exc:
        raise _fail(path, f"its NIfTI header is invalid ({_brief(exc)})") from None
    _check_dtype(path, dtype)
    available = DEFLATE_MAX_RATIO * size if compressed else size - offset
    check_array_size(path, shape, dtype.itemsize, available=available)
    return nibabel


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    """The voxel array of a NIfTI file (``.nii`` or ``.nii.gz``, as stored: ``(i, j, k, ...)``), its zooms and
    its affine (4 x 4, voxel ``(i, j, k)`` to world millimetres, as nibabel gives it).

    The header is parsed from the file's first bytes alone and checked (dtype, voxel limit, data size against the
    file's real size, or for ``.nii.gz`` against what the compressed bytes can expand to) before nibabel reads
    the voxels. Needs the optional ``nibabel``.

    Args:
        path: the NIfTI file.

    >>> import tempfile, nibabel
    >>> p = Path(tempfile.mkdtemp()) / "a.nii"
    >>> nibabel.save(nibabel.Nifti1Image(np.zeros((4, 3, 2), np.uint8), np.eye(4)), p)
    >>> array, zooms, affine = read_nifti(p); array.shape, zooms, affine.shape
    ((4, 3, 2), (1.0, 1.0, 1.0), (4, 4))
    """
    nibabel = check_nifti(path)
    try:
        with _quiet():
            image = nibabel.load(str(path))
            array = np.asarray(image.dataobj)
            zooms = tuple(float(z) for z in image.header.get_zooms())
            affine = np.asarray(image.affine, dtype=np.float64)
    except Exception as exc:
        raise _fail(path, f"its voxel data cannot be read ({_brief(exc)})") from None
    return array, zooms, affine


def load_torch(path: Path, *, map_location: Any = None, keys: tuple[str, ...] = ()) -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and containers only, never code.

    A file that needs more (a pickle that would import or call something) is refused with one line, as is a
    truncated or corrupt file, and (with ``keys``) a file that is not a dict with those keys.

    Args:
        path: the checkpoint (``state.pt``, ``best.pt``).
        map_location: as :func:`torch.load`'s.
        keys: keys the loaded dict must have.

    >>> import tempfile, torch
    >>> p = Path(tempfile.mkdtemp()) / "s.pt"; torch.save({"w": torch.ones(2), "epoch": 3}, p)
    >>> load_torch(p, keys=("w",))["epoch"]
    3
    """
    import pickle

    import torch

    if not regular_file(path):
        raise _fail(path, "it is a folder, not a file")
    try:
        with _quiet():
            value = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # not a pickle of allowed types at all: garbage or another format
            raise _fail(path, "it is not a readable checkpoint (its pickle stream is invalid); delete it (a run "
                              "restarts from scratch)") from None
        raise _fail(path, f"it holds Python objects beyond tensors and plain values (loading it would call "
                          f"{found.group(1)}); segbench never runs code from a file: delete it (a run restarts "
                          "from scratch)") from None
    except OSError as exc:
        raise _fail(path, _oserror(exc)) from None
    except Exception as exc:
        raise _fail(path, f"it is not a readable checkpoint ({_brief(exc)}); delete it (a run restarts from "
                          "scratch)") from None
    if keys:
        missing = [k for k in keys if not isinstance(value, dict) or k not in value]
        if missing:
            raise _fail(path, f"it lacks the entries {missing} of a segbench checkpoint; delete it (a run restarts "
                              "from scratch)")
    return value
