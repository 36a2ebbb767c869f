"""``volumes:`` folders (issue #21): NIfTI/TIFF/NPY volumes by stem, slice folders stacked in natural order, ISBI."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from segbench.data.errors import DatasetError
from segbench.data.volumes import open_volume_case, read_volume_case, scan_volumes

ISBI = Path(__file__).resolve().parents[3] / "shared" / "data" / "isbi2012-em-membrane" / "train"
if not ISBI.is_dir():
    ISBI = Path("/work/shared/data/isbi2012-em-membrane/train")


@pytest.mark.skipif(not ISBI.is_dir(), reason="the shared ISBI 2012 data is not here")
def test_isbi_slices_load_as_one_30_slice_volume_in_natural_order() -> None:
    cases = scan_volumes(ISBI)
    assert len(cases) == 1 and cases[0].name == "train"
    assert [p.name for p in cases[0].image[:3]] == ["0.png", "1.png", "2.png"]  # not 0, 1, 10
    volume = read_volume_case(cases[0])
    assert volume.image.shape == (1, 30, 512, 512) and volume.labels.shape == (30, 512, 512)
    assert volume.image.dtype == np.float32 and volume.spacing is None
    for k in (2, 10, 29):
        assert np.array_equal(volume.labels[k], np.asarray(Image.open(ISBI / "label" / f"{k}.png")).astype(np.int64))
        expected = np.asarray(Image.open(ISBI / "image" / f"{k}.png").convert("L"), dtype=np.float32) / 255
        assert np.array_equal(volume.image[0, k], expected)


def test_nifti_volumes_pair_by_stem_with_nnunet_suffix_and_header_spacing(tmp_path: Path) -> None:
    (tmp_path / "imagesTr").mkdir(), (tmp_path / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        ct = rng.integers(-1000, 1001, (12, 10, 6)).astype(np.int16)  # (x, y, z)
        ct[0, 0, 0], ct[1, 0, 0] = -1000, 1000
        lab = np.zeros((12, 10, 6), np.uint8)
        lab[3:6, 2:5, 1:3] = 1
        for folder, name, array in (("imagesTr", f"case_{i:03d}_0000", ct), ("labelsTr", f"case_{i:03d}", lab)):
            img = nib.Nifti1Image(array, np.diag([0.8, 0.8, 2.5, 1.0]))
            nib.save(img, tmp_path / folder / f"{name}.nii.gz")
    cases = scan_volumes(tmp_path)
    assert [c.name for c in cases] == ["case_000", "case_001"]
    volume = read_volume_case(cases[0])
    assert volume.image.shape == (1, 6, 10, 12) and volume.labels.shape == (6, 10, 12)  # (Z, Y, X)
    assert volume.spacing == (2.5, 0.8, 0.8)
    assert float(volume.image.min()) == 0.0 and float(volume.image.max()) == 1.0  # min-max over the volume
    assert int(volume.labels.sum()) == 3 * 3 * 2 and volume.labels[1, 2, 3] == 1


def test_tiff_stacks_and_slice_subfolders_and_unpaired_names(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir(), (tmp_path / "labels").mkdir()
    stack = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "images" / "a.tif", stack, photometric="minisblack")
    tifffile.imwrite(tmp_path / "labels" / "a.tif", (stack > 60).astype(np.uint8), photometric="minisblack")
    for side in ("images", "labels"):
        (tmp_path / side / "b").mkdir()
        for k in (1, 2, 10):
            Image.fromarray(np.full((5, 6), k, np.uint8)).save(tmp_path / side / "b" / f"s{k}.png")
    cases = {c.name: c for c in scan_volumes(tmp_path)}
    a, b = read_volume_case(cases["a"]), read_volume_case(cases["b"])
    assert np.array_equal(a.image[0], stack / np.float32(255)) and a.labels.shape == (4, 5, 6)
    assert b.labels[:, 0, 0].tolist() == [1, 2, 10]  # natural order of s1, s2, s10
    np.save(tmp_path / "images" / "c.npy", np.zeros((3, 5, 6), np.uint8))
    with pytest.raises(DatasetError, match=r"1 case\(s\) lack an image or a label: \['c'\]"):
        scan_volumes(tmp_path)
    with pytest.raises(DatasetError, match=r"no labels folder"):
        (tmp_path / "only").mkdir()
        (tmp_path / "only" / "images").mkdir()
        scan_volumes(tmp_path / "only")


@pytest.mark.parametrize("suffix", [".npy", ".nii", ".nii.gz", ".tif", "deflate.tif"])
def test_open_volume_case_maps_files_and_patches_equal_the_whole_read(tmp_path: Path, suffix: str) -> None:
    from segbench.data.label_maps import infer_label_map
    from segbench.data.volumes import PatchCase

    (tmp_path / "images").mkdir(), (tmp_path / "labels").mkdir()
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 1001, (9, 20, 24)).astype(np.int16)  # (Z, Y, X)
    lab = (ct > 500).astype(np.uint8) * 7
    for folder, array in (("images", ct), ("labels", lab)):
        if suffix == ".npy":
            np.save(tmp_path / folder / "v.npy", array)
        elif suffix.endswith(".tif"):
            tifffile.imwrite(tmp_path / folder / "v.tif", array, compression="zlib" if "deflate" in suffix else None)
        else:
            affine = np.diag([0.7, 0.7, 3.0, 1.0])
            nib.save(nib.Nifti1Image(array.transpose(), affine), tmp_path / folder / f"v{suffix}")
    case = scan_volumes(tmp_path)[0]
    lazy = open_volume_case(case)
    whole = read_volume_case(case)
    if suffix in (".npy", ".nii", ".tif"):  # memory maps: nothing read
        base = lazy.image if isinstance(lazy.image, np.memmap) else lazy.image.base
        assert isinstance(base, np.memmap)
    elif suffix == ".nii.gz":
        assert type(lazy.image).__name__ == "_NiftiWindow"  # nibabel's proxy: only the box is decompressed
    else:
        assert isinstance(lazy.image, np.ndarray) and not isinstance(lazy.image, np.memmap)  # the fallback: read
    assert lazy.shape == (9, 20, 24) and lazy.spacing == whole.spacing
    assert lazy.spacing == ((3.0, 0.7, 0.7) if ".nii" in suffix else None)
    image, labels = lazy.patch((2, 5, 7), (4, 8, 10))
    assert np.array_equal(image, whole.image[:, 2:6, 5:13, 7:17]) and image.dtype == np.float32  # bit for bit
    assert np.array_equal(labels, whole.labels[2:6, 5:13, 7:17]) and labels.dtype == np.int64
    mapping = infer_label_map([(case.label[0], np.unique(lab))], "binary")
    opened = PatchCase(lazy, mapping, case.label[0])
    image, labels = opened.patch((-2, 15, 20), (4, 8, 8), pad_label=-1)  # past the border: padded
    expected = np.full((4, 8, 8), -1)
    expected[2:, :5, :4] = whole.labels[:2, 15:, 20:] > 0
    assert np.array_equal(labels, expected) and float(image[0, :2].max()) == 0.0
    assert np.array_equal(image[0, 2:, :5, :4], whole.image[0, :2, 15:, 20:])
    assert np.array_equal(opened.foreground(), np.flatnonzero(whole.labels > 0))


def _nifti_cases(root: Path, zooms: list[tuple[float, float, float]], values: tuple[int, ...] = (0, 1)) -> None:
    (root / "images").mkdir(parents=True), (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    for i, zoom in enumerate(zooms):
        lab = np.zeros((8, 6, 4), np.uint8)  # (x, y, z)
        lab[2:5, 1:4, 1:3] = values[-1]
        lab[0, 0, 0] = values[0]
        ct = rng.integers(0, 200, lab.shape).astype(np.int16)
        for folder, array in (("images", ct), ("labels", lab)):
            nib.save(nib.Nifti1Image(array, np.diag([*zoom, 1.0])), root / folder / f"case{i}.nii.gz")


def test_volumes_kind_loads_splits_with_the_headers_spacing_in_array_order(tmp_path: Path) -> None:
    from segbench.data import load_dataset

    _nifti_cases(tmp_path, [(0.8, 0.8, 2.5)] * 5)
    parts = {s: load_dataset(f"volumes:{tmp_path}", s) for s in ("train", "val", "test")}
    assert sorted(i for d in parts.values() for i in d.ids) == [f"case{i}" for i in range(5)]
    data = parts["train"]
    image, mask = data[0]
    assert image.shape == (1, 4, 6, 8) and mask.shape == (4, 6, 8)  # (Z, Y, X)
    assert data.spacing == (2.5, 0.8, 0.8) and data.num_classes == 2 and data.spatial_dims == 3
    assert 0.0 <= float(image.min()) and float(image.max()) == 1.0  # min-max per volume
    with pytest.raises(DatasetError, match="volumes are not resized"):
        load_dataset(f"volumes:{tmp_path}", "train", image_size=32)


def test_volumes_kind_keeps_each_case_spacing_and_refuses_a_contradicting_option(tmp_path: Path) -> None:
    from segbench.data import load_dataset

    _nifti_cases(tmp_path / "mixed", [(0.8, 0.8, 2.5), (0.8, 0.8, 2.5), (1.0, 1.0, 1.0)])
    data = load_dataset(f"volumes:{tmp_path / 'mixed'}", "all")
    assert data.spacing is None and data.ids == ["case0", "case1", "case2"]
    assert [data.item_spacing(k) for k in range(3)] == [(2.5, 0.8, 0.8), (2.5, 0.8, 0.8), (1.0, 1.0, 1.0)]
    with pytest.raises(DatasetError, match=r"contradicts the headers of 1 case\(s\), e.g. \{'case2'"):
        load_dataset(f"volumes:{tmp_path / 'mixed'}", "all", options={"spacing": [2.5, 0.8, 0.8]})
    _nifti_cases(tmp_path / "one", [(0.8, 0.8, 2.5)] * 3)
    with pytest.raises(DatasetError, match=r"option spacing \[1.0, 1.0, 1.0\] \(Z, Y, X\) contradicts"):
        load_dataset(f"volumes:{tmp_path / 'one'}", "train", options={"spacing": [1, 1, 1]})
    assert load_dataset(f"volumes:{tmp_path / 'one'}", "train", options={"spacing": [2.5, 0.8, 0.8]}).spacing == (
        2.5, 0.8, 0.8)


def test_volumes_kind_takes_the_spacing_option_where_files_have_none_and_maps_labels(tmp_path: Path) -> None:
    from segbench.data import load_dataset

    (tmp_path / "images").mkdir(), (tmp_path / "labels").mkdir()
    for i in range(3):
        lab = np.zeros((4, 5, 6), np.uint16)
        lab[1:3, 1:3, 1:3] = 1000
        np.save(tmp_path / "images" / f"v{i}.npy", np.full((4, 5, 6), i, np.float32))
        np.save(tmp_path / "labels" / f"v{i}.npy", lab)
    with pytest.raises(DatasetError, match="mapping"):  # sparse values are not 1001 classes
        load_dataset(f"volumes:{tmp_path}", "all")
    data = load_dataset(f"volumes:{tmp_path}", "all", options={"mapping": {0: 0, 1000: 1}, "spacing": [2, 1, 1]})
    assert data.spacing == (2.0, 1.0, 1.0) and data.num_classes == 2
    assert int(data[1][1].sum()) == 8 and data[1][1].max() == 1
    assert load_dataset(f"volumes:{tmp_path}", "all", options={"mapping": "binary"}).spacing is None
