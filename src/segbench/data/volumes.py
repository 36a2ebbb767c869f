"""Reading a folder of 3D cases for the ``volumes:PATH`` datasets of issue #21: images/ and labels/ paired by stem.

Layout: ``PATH/images`` (or ``image``, ``imagesTr``) and ``PATH/labels`` (or ``label``, ``labelsTr``). A case is

* a volume file: NIfTI (``.nii``, ``.nii.gz``), a TIFF stack or a 3D ``.npy``, paired by stem (nnU-Net's
  channel suffix ``_0000`` on image names is dropped), or
* a folder of 2D slices, stacked in **natural name order** (``2.png`` before ``10.png``), paired by folder name;
  when ``images/`` itself holds only 2D slices, the whole folder is one volume named after ``PATH`` (the 30
  ISBI 2012 slices load as one 30 x 512 x 512 volume).

Arrays are in array axis order ``(Z, Y, X)``; NIfTI's ``(i, j, k)`` is transposed and its zooms reversed, as in
:mod:`segbench.files.masks`, and the spacing comes from the label's header (else the image's; slices and TIFF
or NumPy stacks have none). Intensities are normalised **per volume**: 8-bit data divided by 255, anything else
min-max scaled to ``[0, 1]`` over the volume (slices: per slice, by :func:`segbench.files.images.read_image`).
Cases are read one at a time, when asked for (:func:`read_volume_case`), never the whole folder at once.
:func:`open_volume_case` goes further for training on patches: a patch reads only its own voxels from ``.npy``
volumes and uncompressed TIFF stacks (memory maps), and NIfTI files (a memory map where uncompressed and unscaled,
else nibabel's ``dataobj`` slicing: a ``.nii.gz`` is decompressed up to the patch, never held whole); compressed
TIFF and slice stacks are read whole, once per case, and cropped. :class:`PatchCase` (``VolumesLoader.open``) adds
the label mapping and the padding, so that a patch equals the crop of the whole read case bit for bit.

Registered as the dataset kind ``volumes:PATH`` (:func:`load_volumes`): ``PATH/split.json`` or a seeded
60/15/25 split of the case names, labels as the ``folder`` kind maps them (``mapping``, ``num_classes``,
``ignore_index``), and the voxel spacing: the headers' (one for the dataset where they agree, else each case its
own, which its distance metrics are scored in; nothing is resampled), else the ``spacing`` option, else none
(distances in voxels). Cases may differ in shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segbench.data.dataset import SegmentationDataset
from segbench.data.errors import DatasetError, check_options, float_option
from segbench.data.kinds import LoadRequest, register_dataset
from segbench.data.label_maps import LabelMap, infer_label_map, parse_mapping
from segbench.data.splits import check_split, read_split_file, split_stems
from segbench.errors import UsageError

# files.masks as a module, not its names: files.safe_read imports segbench.data, which imports this (a cycle)
from segbench.files import masks, safe_read
from segbench.files.images import IMAGE_SUFFIXES, _scale, read_image, read_mask
from segbench.files.raw_labels import check_dense, distinct_values

__all__ = ["LazyVolume", "PatchCase", "Volume", "VolumeCase", "VolumesLoader", "case_spacing", "load_volumes",
           "natural_key", "open_volume_case", "read_volume_case", "scan_volumes"]

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".tif", ".tiff", ".npy")
IMAGE_DIRS = ("images", "image", "imagesTr")
LABEL_DIRS = ("labels", "label", "labelsTr")
_CHANNEL = re.compile(r"_0000$")


@dataclass(frozen=True)
class VolumeCase:
    """One case: its image and label files (one volume file each, or the slices of a stack, in order)."""

    name: str
    image: tuple[Path, ...]
    label: tuple[Path, ...]


@dataclass(frozen=True)
class Volume:
    """One read case: ``image`` float32 ``(1, Z, Y, X)`` in ``[0, 1]``, ``labels`` int64 ``(Z, Y, X)`` raw values,
    ``spacing`` ``(Z, Y, X)`` from a header or ``None``."""

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, ...] | None


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders digit runs by value: ``2.png`` before ``10.png``.

    Args:
        name: a file name.

    >>> sorted(["10.png", "2.png", "1.png"], key=natural_key)
    ['1.png', '2.png', '10.png']
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)


def _find(root: Path, names: tuple[str, ...], role: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(f"volumes:{root}: no {role} folder; expected one of {', '.join(names)} inside it")


def _is_volume(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and any(name.endswith(s) for s in VOLUME_SUFFIXES) and not _is_slice(path)


def _is_slice(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith((".tif", ".tiff")):
        return len(safe_read.tiff_series_shape(path)) == 2
    if name.endswith(".npy"):
        return len(safe_read.npy_shape(path)) == 2
    return path.is_file() and name.endswith(IMAGE_SUFFIXES)


def _slices(folder: Path) -> tuple[Path, ...]:
    files = [p for p in safe_read.list_folder(folder) if not p.name.startswith(".") and p.is_file()]
    return tuple(sorted((p for p in files if _is_slice(p)), key=lambda p: natural_key(p.name)))


def _entries(folder: Path, image_side: bool) -> dict[str, tuple[Path, ...]]:
    out: dict[str, tuple[Path, ...]] = {}
    for path in safe_read.list_folder(folder):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            stack = _slices(path)
            if stack:
                out[path.name] = stack
        elif _is_volume(path):
            stem = masks.mask_stem(path)
            out[_CHANNEL.sub("", stem) if image_side else stem] = (path,)
    return out


def scan_volumes(root: Path) -> list[VolumeCase]:
    """The cases of a ``volumes:`` folder (see the module docstring), sorted by name; a
    :class:`~segbench.data.errors.DatasetError` lists every unpaired name.

    Args:
        root: the folder holding the images and labels folders.
    """
    root = Path(root)
    images, labels = _find(root, IMAGE_DIRS, "images"), _find(root, LABEL_DIRS, "labels")
    image_slices, label_slices = _slices(images), _slices(labels)
    if image_slices and not _entries(images, True):  # the folder itself is one stack
        names = [p.name for p in image_slices]
        by_stem = {masks.mask_stem(p): p for p in label_slices}
        missing = [n for n in names if masks.mask_stem(Path(n)) not in by_stem]
        if missing or len(label_slices) != len(image_slices):
            raise DatasetError(f"volumes:{root}: the slices of {images} and {labels} do not pair by name "
                               f"({len(image_slices)} vs {len(label_slices)} slices; unpaired: {missing[:10]})")
        return [VolumeCase(root.name, image_slices, tuple(by_stem[masks.mask_stem(p)] for p in image_slices))]
    found_images, found_labels = _entries(images, True), _entries(labels, False)
    unpaired = sorted(set(found_images) ^ set(found_labels))
    if unpaired:
        raise DatasetError(f"volumes:{root}: {len(unpaired)} case(s) lack an image or a label: {unpaired[:10]}")
    if not found_images:
        raise DatasetError(f"volumes:{root}: {images} holds no volumes ({', '.join(VOLUME_SUFFIXES)}) or slices")
    return [VolumeCase(n, found_images[n], found_labels[n]) for n in sorted(found_images, key=natural_key)]


def _read_file(path: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        array, zooms, _ = safe_read.read_nifti(path)
        while array.ndim > 3 and array.shape[-1] == 1:
            array = array[..., 0]
        zooms_zyx = tuple(masks.header_float(z) for z in reversed(zooms[: array.ndim]))
        return np.ascontiguousarray(array.transpose()), zooms_zyx
    if name.endswith((".tif", ".tiff")):
        return safe_read.read_tiff(path)[0], None
    return safe_read.read_npy(path), None


def read_volume_case(case: VolumeCase) -> Volume:
    """Read one case (see the module docstring for axis order, spacing and normalisation).

    Args:
        case: the case, as :func:`scan_volumes` lists it.
    """
    if len(case.image) == 1 and len(case.label) == 1 and _is_volume(case.image[0]):
        raw, image_spacing = _read_file(case.image[0])
        labels, label_spacing = _read_file(case.label[0])
        image = _scale(raw)[None]
        spacing = label_spacing if label_spacing is not None else image_spacing
    else:
        image = np.stack([read_image(p, 1)[0] for p in case.image])[None]
        labels = np.stack([read_mask(p) for p in case.label])
        spacing = None
    if image.ndim != 4 or labels.shape != image.shape[1:]:
        raise DatasetError(f"volumes: case {case.name!r} has image {tuple(image.shape[1:])} and labels "
                           f"{tuple(labels.shape)}; expected two (Z, Y, X) volumes of one shape")
    if not np.issubdtype(labels.dtype, np.integer) and not (labels == np.round(labels)).all():
        raise DatasetError(f"volumes: the labels of case {case.name!r} are not integers")
    return Volume(np.ascontiguousarray(image, np.float32), labels.astype(np.int64), spacing)


class _NiftiWindow:
    """A NIfTI file's voxels as a ``(Z, Y, X)`` array-like that reads only the box it is indexed with (nibabel's
    ``dataobj`` slicing, header scaling applied; a ``.nii.gz`` is decompressed up to the box, never held whole)."""

    ndim = 3

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy
        self.shape = tuple(int(n) for n in reversed(proxy.shape[:3]))
        self.dtype = np.asarray(proxy[(slice(0, 1),) * len(proxy.shape)]).dtype  # after scaling, as read whole

    def __getitem__(self, box: Any) -> np.ndarray:
        box = box if isinstance(box, tuple) else (box,)
        full = (*box, *(slice(None),) * (3 - len(box)))
        extra = (0,) * (len(self.proxy.shape) - 3)  # trailing axes of length 1 (checked by the caller)
        return np.asarray(self.proxy[(*reversed(full), *extra)]).transpose()


def _mapped(path: Path) -> Any:
    """A read-only ``(Z, Y, X)`` view of a volume file that reads only what is indexed, or ``None`` for the
    formats that cannot (compressed TIFF, 2D files): an ``.npy`` (header checked first) or uncompressed TIFF stack
    as a memory map; NIfTI through nibabel (a memory map where uncompressed and unscaled, else
    :class:`_NiftiWindow`)."""
    name = path.name.lower()
    if name.endswith(".npy"):
        shape = safe_read.npy_shape(path)  # dtype, voxel limit and file size checked; never unpickles
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        return mapped if tuple(mapped.shape) == shape and mapped.ndim == 3 else None
    if name.endswith((".nii", ".nii.gz")):
        nibabel = safe_read.check_nifti(path)
        proxy = nibabel.load(str(path), mmap=True).dataobj
        if len(proxy.shape) < 3 or any(n != 1 for n in proxy.shape[3:]):
            return None
        if name.endswith(".nii") and len(proxy.shape) == 3:
            data = np.asanyarray(proxy) if _unscaled(proxy) else None  # a memmap when unscaled
            if isinstance(data, np.memmap):
                return data.transpose()
        return _NiftiWindow(proxy)
    if name.endswith((".tif", ".tiff")):
        shape = safe_read.tiff_series_shape(path)  # size-checked from the header
        if len(shape) != 3:
            return None
        import tifffile

        try:
            mapped = tifffile.memmap(str(path), mode="r")
        except (ValueError, OSError):  # compressed, tiled or not contiguous: read whole instead
            return None
        return mapped if tuple(mapped.shape) == shape else None
    return None


def _unscaled(proxy: Any) -> bool:
    """Whether a nibabel proxy's header scaling is the identity (slope 1, intercept 0, or unset)."""
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    return (slope is None or slope == 1.0) and (inter is None or inter == 0.0)


@dataclass
class LazyVolume:
    """One case opened for patch reading: ``image`` and ``labels`` are memory maps (or arrays, for formats that
    cannot be mapped) in ``(Z, Y, X)``; :meth:`patch` reads one box, normalised as :func:`read_volume_case` does
    (8-bit / 255, else min-max with the volume's ``(low, high)``, computed from the map at the first patch, so that
    opening a case for its shape reads no voxel)."""

    name: str
    image: Any
    labels: Any
    spacing: tuple[float, ...] | None
    known_range: tuple[float, float] | None = None

    @property
    def value_range(self) -> tuple[float, float]:
        """``(low, high)`` of the image's float32 values (8-bit: ``(0, 255)``), computed once."""
        if self.known_range is None:
            self.known_range = (0.0, 255.0) if self.image.dtype == np.uint8 else _range(self.image)
        return self.known_range

    @property
    def shape(self) -> tuple[int, ...]:
        """``(Z, Y, X)``."""
        return tuple(self.labels.shape)

    def patch(self, origin: tuple[int, ...], size: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(1, *size)`` float32 and labels ``size`` int64 of the box at ``origin`` (inside the volume).

        Args:
            origin: the box start per axis.
            size: the box size per axis.
        """
        box = tuple(slice(o, o + n) for o, n in zip(origin, size, strict=True))
        raw = np.asarray(self.image[box])
        if self.image.dtype == np.uint8:
            image = raw.astype(np.float32) / 255.0
        else:
            low, high = self.value_range
            if low >= 0.0 and high <= 1.0:
                image = raw.astype(np.float32)
            else:
                span = high - low
                image = (raw.astype(np.float32) - low) / span if span > 0 else np.zeros(raw.shape, np.float32)
        return image[None], np.asarray(self.labels[box]).astype(np.int64)


def open_volume_case(case: VolumeCase) -> LazyVolume:
    """Open one case for patch reading (see the module docstring): mapped where the format allows.

    Args:
        case: the case, as :func:`scan_volumes` lists it.
    """
    if len(case.image) == 1 and len(case.label) == 1 and _is_volume(case.image[0]):
        image, labels = _mapped(case.image[0]), _mapped(case.label[0])
        if image is not None and labels is not None:
            if image.shape != labels.shape:
                raise DatasetError(f"volumes: case {case.name!r} has image {tuple(image.shape)} and labels "
                                   f"{tuple(labels.shape)}; expected two (Z, Y, X) volumes of one shape")
            spacing = _read_spacing(case.label[0]) or _read_spacing(case.image[0])
            return LazyVolume(case.name, image, labels, spacing)
    whole = read_volume_case(case)
    return LazyVolume(case.name, whole.image[0], whole.labels, whole.spacing, (0.0, 1.0))


def _range(image: Any) -> tuple[float, float]:
    """``(min, max)`` of a mapped volume's float32 values (what :func:`read_volume_case` scales with), a few slices
    at a time (bounded memory)."""
    low, high = math.inf, -math.inf
    step = max(1, (1 << 24) // max(1, int(np.prod(image.shape[1:]))))  # about 16 M voxels per read
    for z in range(0, image.shape[0], step):
        part = np.asarray(image[z : z + step]).astype(np.float32)
        if not np.isfinite(part).all():
            raise DatasetError("volumes: an image holds NaN or inf values")
        low, high = min(low, float(part.min())), max(high, float(part.max()))
    return low, high


def _read_spacing(path: Path) -> tuple[float, ...] | None:
    """The ``(Z, Y, X)`` spacing in the header of a NIfTI file (``.nii`` or ``.nii.gz``; header only)."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return None
    nibabel = safe_read.check_nifti(path)
    zooms = nibabel.load(str(path), mmap=True).header.get_zooms()[:3]
    return tuple(masks.header_float(float(z)) for z in reversed(zooms))


def case_spacing(case: VolumeCase) -> tuple[float, ...] | None:
    """The spacing of one case from its headers alone (label first, then image; no voxel is read)."""
    if len(case.image) != 1 or len(case.label) != 1:
        return None
    return _read_spacing(case.label[0]) or _read_spacing(case.image[0])


OPTIONS = {
    "mapping": '"binary" (>0 -> 1) or {raw value: label}',
    "num_classes": "number of classes incl. background (default: inferred)",
    "ignore_index": "label value of ignored voxels",
    "class_names": "list of class names",
    "spacing": "[Z, Y, X] mm where the files carry none (a header that says otherwise is an error)",
    "val_fraction": "default 0.15",
    "test_fraction": "default 0.25",
    "split_seed": "seed of the split permutation (default 0)",
}


@dataclass(frozen=True)
class VolumesLoader:
    """``loader(i)`` of a ``volumes:`` split (picklable): case ``i`` read whole, labels mapped."""

    cases: tuple[VolumeCase, ...]
    label_map: LabelMap

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(1, Z, Y, X)`` in ``[0, 1]`` and labels ``(Z, Y, X)`` of case ``i``."""
        case = self.cases[i]
        volume = read_volume_case(case)
        return volume.image, self.label_map.apply(volume.labels, case.label[0])

    def open(self, i: int) -> PatchCase:
        """Case ``i`` opened for patch reads (:func:`open_volume_case`; labels mapped as :meth:`__call__` maps
        them)."""
        case = self.cases[i]
        return PatchCase(open_volume_case(case), self.label_map, case.label[0])


class PatchCase:
    """One case of a ``volumes:`` split opened for training patches: :meth:`patch` reads only the patch's box from
    the files where they are mapped (:func:`open_volume_case`), normalised and label-mapped exactly as the whole
    case is read (the patch equals the whole read's crop, bit for bit), zero-padded outside the volume;
    :meth:`foreground` gives the foreground voxels that patches are centred on (the label map read once)."""

    def __init__(self, volume: LazyVolume, label_map: LabelMap, label_path: Path) -> None:
        self.volume, self.label_map, self.label_path = volume, label_map, label_path
        self._foreground: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """``(Z, Y, X)``."""
        return self.volume.shape

    def labels(self) -> np.ndarray:
        """The case's mapped labels ``(Z, Y, X)`` int64, read from the label file alone (no image voxel)."""
        return self.label_map.apply(np.asarray(self.volume.labels[:]).astype(np.int64), self.label_path)

    def foreground(self) -> np.ndarray:
        """Flat C-order indices of the voxels whose mapped label is > 0 (``np.flatnonzero``), computed once."""
        if self._foreground is None:
            self._foreground = np.flatnonzero(self.labels().reshape(-1) > 0)
        return self._foreground

    def patch(self, origin: tuple[int, ...], size: tuple[int, ...], pad_label: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(1, *size)`` float32 and mapped labels ``size`` int64 of the box at ``origin`` (which may pass
        the volume's border: zeros and ``pad_label`` there, as :func:`segbench.data.patches.crop_patch` pads).

        Args:
            origin: the box start per axis (negative: padding before).
            size: the box size per axis.
            pad_label: the label outside the volume.
        """
        inner_lo = tuple(max(o, 0) for o in origin)
        inner_hi = tuple(min(o + n, s) for o, n, s in zip(origin, size, self.shape, strict=True))
        image = np.zeros((1, *size), np.float32)
        labels = np.full(size, pad_label, np.int64)
        if all(h > lo for lo, h in zip(inner_lo, inner_hi, strict=True)):
            part, raw = self.volume.patch(inner_lo, tuple(h - lo for lo, h in zip(inner_lo, inner_hi, strict=True)))
            dst = tuple(slice(lo - o, h - o) for lo, h, o in zip(inner_lo, inner_hi, origin, strict=True))
            image[(slice(None), *dst)] = part
            labels[dst] = self.label_map.apply(raw, self.label_path)
        return image, labels


def _int_option(options: dict[str, object], key: str) -> int | None:
    value = options.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise DatasetError(f"volumes: option {key} must be an int, got {value!r}")
    return value


def _dataset_spacing(cases: list[VolumeCase], option: object, name: str
                     ) -> tuple[tuple[float, ...] | None, dict[str, tuple[float, ...]] | None]:
    """``(shared, per_case)``: one spacing for all cases where the headers agree (relative tolerance 1e-4, or none
    has one: the ``spacing`` option), else ``None`` and each case's own ``{name: spacing}`` from its header.

    A case without a header spacing among cases with differing ones, or a ``spacing`` option that contradicts a
    header, is a DatasetError (one line, naming the cases and values)."""
    given = None
    if option is not None:
        if not isinstance(option, (list, tuple)) or len(option) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in option):
            raise DatasetError(f"{name}: option spacing must be [Z, Y, X] positive numbers (mm), got {option!r}")
        given = tuple(float(v) for v in option)
    found = {c.name: sp for c in cases if (sp := case_spacing(c)) is not None}
    distinct = sorted(set(found.values()))
    if given is not None and distinct:
        clash = {n: list(sp) for n, sp in found.items() if not np.allclose(sp, given, rtol=1e-4)}
        if clash:
            raise DatasetError(f"{name}: option spacing {list(given)} (Z, Y, X) contradicts the headers of "
                               f"{len(clash)} case(s), e.g. {dict(list(clash.items())[:3])}; drop the option")
    if len(distinct) <= 1 or all(np.allclose(distinct[0], d, rtol=1e-4) for d in distinct[1:]):
        return (distinct[0] if distinct else given), None
    bare = [c.name for c in cases if c.name not in found]
    if bare:
        raise DatasetError(f"{name}: the cases' header spacings differ ({distinct[:3]}) and {len(bare)} case(s) "
                           f"have none ({bare[:5]}); give every case a NIfTI header, or resample to one spacing")
    return None, found


def load_volumes(request: LoadRequest) -> SegmentationDataset:
    """The ``split`` of the ``volumes:PATH`` dataset (see the module docstring): volumes ``(1, Z, Y, X)``,
    read one case at a time when an item is asked for (not cached: a split may not fit in memory)."""
    root, split, name, options = request.root, request.split, request.name, dict(request.options)
    check_options("volumes", options, OPTIONS)
    check_split(split)
    cases = {c.name: c for c in scan_volumes(root)}
    ignore_index = _int_option(options, "ignore_index")
    values = [(c.label[0], _label_values(c)) for c in cases.values()]
    mapping, num_classes = parse_mapping(options.get("mapping")), _int_option(options, "num_classes")
    label_map = infer_label_map(values, mapping, num_classes=num_classes, ignore_index=ignore_index)
    if mapping is None and num_classes is None:
        _check_dense(values, label_map.num_classes, ignore_index, name)
    if split == "all":
        names = sorted(cases, key=natural_key)
    elif (root / "split.json").is_file():
        names = read_split_file(root / "split.json", list(cases))[split]
    else:
        names = split_stems(list(cases), split,
                            val_fraction=float_option("volumes", options, "val_fraction", 0.15),
                            test_fraction=float_option("volumes", options, "test_fraction", 0.25),
                            seed=_int_option(options, "split_seed") or 0)
    default_names = ["background", "foreground"] if label_map.num_classes == 2 else [
        "background", *(f"class{k}" for k in range(1, label_map.num_classes))]
    class_names = [str(c) for c in options.get("class_names", default_names)]
    if len(class_names) != label_map.num_classes:
        raise DatasetError(f"{name}: {len(class_names)} class_names for {label_map.num_classes} classes")
    spacing, per_case = _dataset_spacing(list(cases.values()), options.get("spacing"), name)
    loader = VolumesLoader(tuple(cases[n] for n in names), label_map)
    return SegmentationDataset(
        name, names, loader, num_classes=label_map.num_classes, opener=loader.open,
        in_channels=1, class_names=class_names, ignore_index=ignore_index, image_size=request.image_size,
        augment=request.augment, seed=request.seed, spatial_dims=3, spacing=spacing, cache=False,
        spacings=None if per_case is None else [per_case[n] for n in names],
    )


def _check_dense(values: list[tuple[Path, np.ndarray]], num_classes: int, ignore_index: int | None,
                 name: str) -> None:
    """Refuse ``max + 1`` classes over sparse label values ({0, 1000, 2000}), naming the options that fix it."""
    sets = [frozenset(int(x) for x in v.tolist()) - {ignore_index} for _, v in values]
    try:
        check_dense(sets, num_classes)
    except UsageError:
        found = sorted(set().union(*sets))
        table = ", ".join(f'"{v}" = {k}' for k, v in enumerate(found))
        raise DatasetError(f"{name}: the labels hold the values {found[:20]}: inferring {num_classes} classes "
                           f"(largest + 1) would make classes that appear in no case; set [dataset] options "
                           f"mapping = {{ {table} }}, or num_classes = {num_classes} to keep them") from None


_VALUES: dict[tuple[tuple[str, int, int], ...], np.ndarray] = {}
"""Distinct label values per label file(s), keyed by path, modification time and size: each split of a dataset
checks every case's labels, so without it a compare run would read every label file once per split."""


def _label_values(case: VolumeCase) -> np.ndarray:
    """The distinct raw label values of one case, ascending (its label file alone, mapped where it can be; counted,
    not sorted: :func:`segbench.files.raw_labels.distinct_values`), computed once per file version."""
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in case.label)
    if key not in _VALUES:
        mapped = _mapped(case.label[0]) if len(case.label) == 1 and _is_volume(case.label[0]) else None
        labels = np.asarray(mapped[:]) if mapped is not None else read_volume_case(case).labels
        if len(_VALUES) >= 100_000:
            _VALUES.clear()
        integral = np.issubdtype(labels.dtype, np.integer)  # float label files (common in NIfTI): sorted
        _VALUES[key] = (np.array(sorted(distinct_values(labels)), dtype=labels.dtype) if integral
                        else np.unique(labels))
    return _VALUES[key]


register_dataset("volumes", load_volumes, needs_path=True,
                 description="volumes:PATH: PATH/images and PATH/labels of NIfTI, TIFF or .npy volumes "
                             "(or slice folders) paired by stem; spacing from the headers")
