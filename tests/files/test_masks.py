"""Reading masks: every format, 2D and 3D, axis order and spacing, and the errors that name the file."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from segbench.errors import UsageError
from segbench.files.masks import mask_stem, read_mask_file

LABELS_2D = np.array([[0, 1, 2], [2, 0, 1]], dtype=np.uint8)
LABELS_3D = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) % 3


def _save(path: Path, array: np.ndarray) -> Path:
    suffix = "".join(path.suffixes).lower()
    if suffix == ".png":
        Image.fromarray(array).save(path)
    elif suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, array, photometric="minisblack")
    elif suffix == ".npy":
        np.save(path, array)
    elif suffix == ".npz":
        np.savez_compressed(path, mask=array)
    else:
        raise AssertionError(suffix)
    return path


@pytest.mark.parametrize("name", ["m.png", "m.tif", "m.tiff", "m.npy", "m.npz"])
def test_2d_formats_roundtrip(tmp_path: Path, name: str) -> None:
    m = read_mask_file(_save(tmp_path / name, LABELS_2D))
    assert m.array.dtype == np.int64 and m.array.tolist() == LABELS_2D.tolist() and m.spacing is None


@pytest.mark.parametrize("name", ["v.tif", "v.npy", "v.npz"])
def test_3d_formats_roundtrip(tmp_path: Path, name: str) -> None:
    m = read_mask_file(_save(tmp_path / name, LABELS_3D))
    assert m.array.shape == (2, 3, 4) and np.array_equal(m.array, LABELS_3D)


def test_png_0_255_and_equal_channel_rgb(tmp_path: Path) -> None:
    binary = (LABELS_2D > 0).astype(np.uint8) * 255
    Image.fromarray(np.stack([binary] * 3, axis=-1)).save(tmp_path / "rgb.png")
    assert read_mask_file(tmp_path / "rgb.png").array.tolist() == binary.tolist()
    colour = np.stack([binary, binary, 255 - binary], axis=-1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(UsageError, match=r"colour.png is a colour image"):
        read_mask_file(tmp_path / "colour.png")


def test_tiff_stack_saved_as_rgb_gets_a_hint(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "v.tif", LABELS_3D)  # last axis 4: tifffile guesses RGBA
    with pytest.raises(UsageError, match=r"v.tif is a colour image.*photometric='minisblack'"):
        read_mask_file(tmp_path / "v.tif")


def test_npy_bool_and_integral_float(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", LABELS_2D > 0)
    assert read_mask_file(tmp_path / "b.npy").array.tolist() == [[0, 1, 1], [1, 0, 1]]
    np.save(tmp_path / "f.npy", LABELS_2D.astype(np.float32))
    assert read_mask_file(tmp_path / "f.npy").array.tolist() == LABELS_2D.tolist()
    np.save(tmp_path / "p.npy", np.array([[0.2, 0.9]]))
    with pytest.raises(UsageError, match=r"p.npy holds non-integer values.*threshold"):
        read_mask_file(tmp_path / "p.npy")


def test_npz_needs_one_array_or_mask(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", seg=LABELS_2D)
    assert read_mask_file(tmp_path / "one.npz").array.tolist() == LABELS_2D.tolist()
    np.savez(tmp_path / "two.npz", a=LABELS_2D, b=LABELS_2D)
    with pytest.raises(UsageError, match=r"two.npz holds arrays \['a', 'b'\]"):
        read_mask_file(tmp_path / "two.npz")


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_nifti_is_transposed_to_zyx_with_reversed_zooms(tmp_path: Path, name: str) -> None:
    xyz = LABELS_3D.transpose()  # nibabel order (x, y, z) = (4, 3, 2)
    image = nib.Nifti1Image(xyz, np.eye(4))
    image.header.set_zooms((0.5, 0.7, 3.0))  # x, y, z
    nib.save(image, tmp_path / name)
    m = read_mask_file(tmp_path / name)
    assert m.array.shape == (2, 3, 4) and np.array_equal(m.array, LABELS_3D)
    assert m.spacing == pytest.approx((3.0, 0.7, 0.5))  # z, y, x


def test_nifti_2d_with_trailing_singleton(tmp_path: Path) -> None:
    image = nib.Nifti1Image(LABELS_2D.transpose()[..., None], np.eye(4))
    image.header.set_zooms((0.5, 2.0, 1.0))
    nib.save(image, tmp_path / "s.nii.gz")
    m = read_mask_file(tmp_path / "s.nii.gz")
    assert m.array.tolist() == LABELS_2D.tolist() and m.spacing == pytest.approx((2.0, 0.5))


def test_nifti_without_nibabel_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nib.save(nib.Nifti1Image(LABELS_3D, np.eye(4)), tmp_path / "v.nii")
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "nibabel":
            raise ImportError("No module named 'nibabel'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(UsageError, match=r"pip install segbench\[nifti\]"):
        read_mask_file(tmp_path / "v.nii")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    for name in ("bad.png", "bad.tif", "bad.npy", "bad.nii.gz"):
        (tmp_path / name).write_bytes(b"not an image at all")
        with pytest.raises(UsageError, match=rf"cannot read mask file .*{name}"):
            read_mask_file(tmp_path / name)


def test_wrong_dimensions_and_type(tmp_path: Path) -> None:
    np.save(tmp_path / "4d.npy", np.zeros((2, 2, 2, 2), dtype=np.uint8))
    with pytest.raises(UsageError, match=r"4d.npy has shape \(2, 2, 2, 2\)"):
        read_mask_file(tmp_path / "4d.npy")
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(UsageError, match=r"a.jpg is not a mask type"):
        read_mask_file(tmp_path / "a.jpg")


def test_mask_stem() -> None:
    assert mask_stem(Path("x/case.NII.GZ")) == "case" and mask_stem(Path("a.b.tif")) == "a.b"
