"""Reading image and mask files (PNG, JPEG, GIF, BMP, TIFF, NPY) into arrays; errors name the file.

File types are decided by content for PIL formats (a PNG named ``.jpg`` loads), and by suffix only for
``.npy`` and ``.tif``/``.tiff`` (read with numpy and tifffile).

Images become ``float32`` arrays ``(C, H, W)`` in ``[0, 1]``: 8-bit data is divided by 255, anything else
(16-bit, float) is min-max scaled per image unless it already lies in ``[0, 1]``. Masks become ``int64``
arrays ``(H, W)`` of the raw stored values (palette PNGs give their palette indices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segbench.data.errors import DatasetError
from segbench.files import safe_read

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".bmp", ".gif")
_ARRAY_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
_GREY_MODES = ("1", "L", "LA", *_ARRAY_MODES)


def _read_array(path: Path) -> np.ndarray:
    """The raw array stored in ``path`` (npy and tiff only)."""
    if path.suffix.lower() == ".npy":
        return safe_read.read_npy(path)
    return safe_read.read_tiff(path)[0]


def _is_array_file(path: Path) -> bool:
    return path.suffix.lower() in (".npy", ".tif", ".tiff")


def image_shape(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image or mask file, read from its header where possible.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("L", (5, 3)).save(p)
    >>> image_shape(p)
    (3, 5)
    """
    try:
        if path.suffix.lower() == ".npy":
            shape = safe_read.npy_shape(path)
        elif _is_array_file(path):
            shape = safe_read.tiff_shape(path)
        else:
            with safe_read.open_image(path) as im:
                return int(im.size[1]), int(im.size[0])
    except safe_read.UnreadableFile:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot read file {path}: {exc}") from exc
    if len(shape) < 2:
        raise DatasetError(f"file {path} holds an array of shape {tuple(shape)}; expected (H, W[, C])")
    return int(shape[0]), int(shape[1])


def image_channels(path: Path) -> int:
    """1 if the file is single-channel (grey), else 3 (its colour channels; alpha is dropped).

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("RGBA", (4, 4)).save(p)
    >>> image_channels(p)
    3
    """
    try:
        if _is_array_file(path):
            array = _read_array(path)
            return 1 if array.ndim == 2 or array.shape[-1] == 1 else 3
        with safe_read.open_image(path) as im:
            return 1 if im.mode in _GREY_MODES else 3
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot read image file {path}: {exc}") from exc


def _scale(array: np.ndarray) -> np.ndarray:
    """``float32`` in ``[0, 1]``: uint8 / 255; otherwise min-max per image unless already in [0, 1]."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    out = array.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError("image holds NaN or inf values")
    low, high = float(out.min()), float(out.max())
    if low >= 0.0 and high <= 1.0:
        return out
    return (out - low) / (high - low) if high > low else np.zeros_like(out)


def read_image(path: Path, channels: int) -> np.ndarray:
    """The image in ``path`` as ``float32`` ``(channels, H, W)`` in ``[0, 1]`` (``channels`` is 1 or 3).

    Colour is converted to grey with ITU-R 601 luma (PIL's ``convert("L")``); grey is repeated for
    ``channels=3``; an alpha channel is dropped.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.jpg"
    >>> Image.new("RGBA", (2, 1), (255, 0, 0, 128)).save(p, format="PNG")  # a PNG named .jpg
    >>> read_image(p, channels=3)[:, 0, 0].tolist()
    [1.0, 0.0, 0.0]
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    try:
        if _is_array_file(path):
            array = _read_array(path)
        else:
            with safe_read.open_image(path) as im:
                if im.mode in _ARRAY_MODES:
                    array = np.asarray(im)
                else:
                    array = np.asarray(im.convert("L" if channels == 1 else "RGB"))
        if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
            array = array[..., :3]
            if channels == 1 and array.shape[-1] == 3:
                weights = np.array([0.299, 0.587, 0.114])
                array = (array.astype(np.float64) @ weights).astype(array.dtype)
            elif channels == 1:
                array = array[..., 0]
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3:
            raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
        if array.shape[-1] != channels:
            array = np.repeat(array[..., :1], channels, axis=-1)
        return np.ascontiguousarray(_scale(array).transpose(2, 0, 1))
    except safe_read.UnreadableFile:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot read image file {path}: {exc}") from exc


def read_mask(path: Path) -> np.ndarray:
    """The label image in ``path`` as ``int64`` ``(H, W)`` raw values.

    Colour masks are accepted only when their channels are equal; float arrays only when integral.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "m.png"
    >>> Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(p)
    >>> read_mask(p).tolist()
    [[0, 255]]
    """
    try:
        if _is_array_file(path):
            array = _read_array(path)
        else:
            with safe_read.open_image(path) as im:
                array = np.asarray(im.convert("RGB") if im.mode in ("RGBA", "LA", "CMYK", "YCbCr") else im)
    except safe_read.UnreadableFile:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot read mask file {path}: {exc}") from exc
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        channels = array[..., : min(3, array.shape[-1])]
        if not (channels == channels[..., :1]).all():
            raise DatasetError(f"mask file {path} is a colour image; expected a single-channel label image")
        array = channels[..., 0]
    if array.ndim != 2:
        raise DatasetError(f"mask file {path} has shape {array.shape}; expected (H, W)")
    if array.dtype == bool:
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.isfinite(array).all() or not (array == np.round(array)).all():
            raise DatasetError(f"mask file {path} holds non-integer values; expected integer labels")
    return array.astype(np.int64)
