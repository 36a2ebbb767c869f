"""Every reader survives a corpus of broken and hostile files, generated here, through the real command line.

Each corpus entry is one bad file (zero bytes, truncated, random bytes under a valid extension, an object-dtype
NPY, an NPZ with a pickled or non-array member, headers that claim far more data than the file holds, a PNG
beyond Pillow's decompression-bomb limit, NaN/inf/negative values in float masks, symbolic-link loops, a named
pipe, an unreadable file, all under names with spaces and non-ASCII characters). It goes through
``segbench evaluate`` (as a prediction), and where the format is a dataset format through ``segbench inspect
folder:`` and ``segbench compare --dataset folder:`` (as a mask, and as an image), each called in process as
``segbench.cli.main([...])``. Every call must end with exit status 2, exactly one line on stderr that names the
file and says what is wrong, no traceback, nothing on stdout and no output file or run folder left behind, in
bounded time. The entries whose header claims a large array are also run under ``tracemalloc``: the peak must
stay far below what the header claims (nothing is allocated from an unchecked header).

Unreadable files: the tests run as root, for whom ``chmod 000`` changes nothing, so unreadability is simulated
by replacing ``builtins.open`` (which Pillow, numpy, tifffile and nibabel all open files with) by one that raises
``PermissionError`` (EACCES) for that file name, and ``pathlib.Path.iterdir`` for an unreadable folder.
"""

from __future__ import annotations

import builtins
import errno
import gzip
import io
import json
import os
import pathlib
import pickle
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image

from segbench.cli import main

nibabel = pytest.importorskip("nibabel")

STEM = "bad fïle ü 01"  # spaces and non-ASCII in every corpus file's name
SHAPE = (48, 48)
SECONDS = 10.0  # bound on one command's wall time (they take well under a second)
PEAK_BYTES = 64 * 2**20  # bound on traced memory for files whose header claims 100s of MB


class Evil:
    """Unpickling this creates the file ``marker`` (a stand-in for running any code at all)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


# ----------------------------------------------------------------------------------------------- file makers
def _mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[12:30, 18:36] = 1
    return mask


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, raw: bytes, bit_depth: int = 8) -> bytes:
    """A grey PNG built by hand (header as claimed, pixel data as given)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 9))
            + _png_chunk(b"IEND", b""))


def _tiff_claiming(width: int, height: int) -> bytes:
    """An uncompressed 8-bit TIFF whose header claims ``width x height`` pixels in one strip, with 64 bytes."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, min(width * height, 2**32 - 1))]
    data_offset = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, data_offset if tag == 273 else value) for tag, kind, value in tags
    ) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(64)


def _npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _nifti(array: np.ndarray) -> bytes:
    image = nibabel.Nifti1Image(array, np.eye(4))
    return bytes(image.to_bytes())


def _nifti_claiming(shape: tuple[int, ...], version: int = 1) -> bytes:
    """A NIfTI header claiming ``shape`` uint8 voxels, followed by 64 bytes of data."""
    header = nibabel.Nifti1Header() if version == 1 else nibabel.Nifti2Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(shape)
    offset = 352 if version == 1 else 544
    header["vox_offset"] = offset
    block = header.binaryblock
    return block + bytes(offset - len(block)) + bytes(64)


def _good_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_mask()).save(buffer, format="PNG")
    return buffer.getvalue()


def _good(ext: str) -> bytes:
    """A valid random 0/1 mask (or image) of ``SHAPE`` in format ``ext``: a few hundred bytes at least."""
    rng = np.random.default_rng(0)
    big = rng.integers(0, 2, SHAPE).astype(np.uint8)
    if ext == ".png":
        buffer = io.BytesIO()
        Image.fromarray(big).save(buffer, format="PNG")
        return buffer.getvalue()
    if ext == ".tif":
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, big)
        return buffer.getvalue()
    if ext == ".npy":
        return _npy(big)
    if ext == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, mask=big)
        return buffer.getvalue()
    if ext == ".nii":
        return _nifti(big[:, :, None])
    if ext == ".nii.gz":
        return gzip.compress(_nifti(big[:, :, None]))
    raise AssertionError(ext)


# ----------------------------------------------------------------------------------------------- the corpus
Maker = Callable[[Path, Path], None]
"""``make(path, marker)``: write the bad file at ``path``; unpickling it (if it is a pickle) creates ``marker``."""


@dataclass(frozen=True)
class Entry:
    id: str
    ext: str
    make: Maker
    why: str  # a pattern the one-line message must match (what is wrong)
    claims: bool = False  # its header claims a large array: run under tracemalloc too
    data_why: str | None = None  # the pattern for inspect and compare, where it differs

    @property
    def data_pattern(self) -> str:
        return self.why if self.data_why is None else self.data_why


def _bytes(data: bytes | Callable[[], bytes]) -> Maker:
    def make(path: Path, marker: Path) -> None:
        path.write_bytes(data() if callable(data) else data)

    return make


def _truncated(ext: str) -> Maker:
    return _bytes(lambda: _good(ext)[: len(_good(ext)) // 2])


def _random(path: Path, marker: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(4096))


def _float_mask(value: float) -> Maker:
    """A float32 mask with one pixel set to ``value``, saved as NPY or TIFF (by the file's suffix)."""

    def make(path: Path, marker: Path) -> None:
        array = _mask().astype(np.float32)
        array[0, 0] = value
        if path.suffix == ".npy":
            np.save(path, array)
        else:
            tifffile.imwrite(path, array)

    return make


def _object_npy(path: Path, marker: Path) -> None:
    path.write_bytes(_npy(np.array([Evil(marker), 1], dtype=object)))


def _object_npz(path: Path, marker: Path) -> None:
    path.write_bytes(_zip({"mask.npy": _npy(np.array([Evil(marker), 1], dtype=object))}))


def _pickle_member_npz(path: Path, marker: Path) -> None:
    path.write_bytes(_zip({"mask.pkl": pickle.dumps(Evil(marker))}))


def _loop(path: Path, marker: Path) -> None:
    path.symlink_to(path.name)  # a link to itself


def _loop_pair(path: Path, marker: Path) -> None:
    other = path.with_name(f".{path.name}.other")
    other.symlink_to(path.name)
    path.symlink_to(other.name)


def _dangling(path: Path, marker: Path) -> None:
    path.symlink_to("does-not-exist.png")


def _fifo(path: Path, marker: Path) -> None:
    os.mkfifo(path)  # opening a named pipe for reading would block forever


MB400 = (20000, 20000)  # 400 MB of uint8 claimed by a header, in a file of a few hundred bytes

CORPUS = [
    *(Entry(f"zero-byte{ext}", ext, _bytes(b""), why) for ext, why in [
        (".png", "not an image|cannot identify"), (".tif", "not a TIFF"), (".npy", "not a valid .npy|No data left"),
        (".npz", "not a valid .npz|No data left"), (".nii", "not a NIfTI|Empty file"),
        (".nii.gz", "not a NIfTI|Empty file"),
    ]),
    *(Entry(f"truncated{ext}", ext, _truncated(ext), why) for ext, why in [
        (".png", "truncated"), (".tif", "truncated|failed to read"),
        (".npy", "truncated|Failed to read all data|mmap length"),
        (".npz", "not a valid .npz|not a zip file"), (".nii", r"truncated|Expected \d+ bytes"),
        (".nii.gz", "voxel data cannot be read|Compressed file ended"),
    ]),
    *(Entry(f"random{ext}", ext, _random, why) for ext, why in [
        (".png", "not an image|cannot identify"), (".tif", "not a TIFF"),
        (".npy", "not a valid .npy|magic string|pickled"),
        (".npz", "not a valid .npz|not a zip file|pickled"), (".nii", "not a NIfTI|Cannot work out file type"),
        (".nii.gz", "not a valid gzip|not a gzip file"),
    ]),
    Entry("object-dtype.npy", ".npy", _object_npy, "Python objects|pickled|Object arrays"),
    Entry("object-member.npz", ".npz", _object_npz, "Python objects|pickled|Object arrays"),
    Entry("pickle-member.npz", ".npz", _pickle_member_npz, "not NumPy arrays"),
    # header claims: the one-line check accepts any honest "the data is not there"; the memory test is the one
    # that tells an allocation sized by the header from a check against the file
    Entry("npy-claims-400MB.npy", ".npy", _bytes(lambda: _npy_header(MB400) + bytes(64)),
          "truncated|could only read|mmap length", claims=True),
    Entry("npy-claims-10^15.npy", ".npy", _bytes(lambda: _npy_header((10**5,) * 3) + bytes(64)), "above the limit",
          data_why="above the limit|mmap length"),
    Entry("npz-member-claims-400MB.npz", ".npz",
          _bytes(lambda: _zip({"mask.npy": _npy_header(MB400) + bytes(64)})), "truncated|EOF", claims=True),
    Entry("npz-member-size-lie.npz", ".npz",
          _bytes(lambda: _zip({"mask.npy": _npy(_mask())}, zipfile.ZIP_DEFLATED).replace(
              struct.pack("<I", len(_npy(_mask()))), struct.pack("<I", 2**31))), "corrupt"),
    Entry("tiff-claims-400MB.tif", ".tif", _bytes(lambda: _tiff_claiming(*MB400)), "truncated|failed to read",
          claims=True, data_why="truncated|20000x20000"),
    Entry("tiff-claims-10^10.tif", ".tif", _bytes(lambda: _tiff_claiming(10**5, 10**5)), "above the limit",
          data_why="above the limit|100000x100000"),
    Entry("nifti-claims-10^15.nii", ".nii", _bytes(lambda: _nifti_claiming((10**5,) * 3, version=2)),
          "above the limit"),
    Entry("nifti-claims-400MB.nii", ".nii", _bytes(lambda: _nifti_claiming((1000, 1000, 400))),
          r"truncated|Expected \d+ bytes", claims=True),
    Entry("nifti-claims-400MB.nii.gz", ".nii.gz", _bytes(lambda: gzip.compress(_nifti_claiming((1000, 1000, 400)))),
          r"truncated|Expected \d+ bytes", claims=True),
    Entry("png-bomb-10^10.png", ".png", _bytes(lambda: _png(10**5, 10**5, b"\x00")), "decompression bomb"),
    Entry("png-beyond-bomb-limit.png", ".png",  # 10^8 pixels: above Pillow's limit, below the 2x where it raises
          _bytes(lambda: _png(10**4, 10**4, (b"\x00" * 1251) * 10**4, bit_depth=1)), "decompression-bomb limit"),
    # (not under tracemalloc: Pillow's own buffers are invisible to it; the message shows the early refusal)
    Entry("png-claims-81Mpx.png", ".png", _bytes(lambda: _png(9000, 9000, b"\x00" * 100)), "truncated",
          data_why="truncated|9000x9000"),
    Entry("nan.npy", ".npy", _float_mask(float("nan")), "non-integer"),
    Entry("inf.npy", ".npy", _float_mask(float("inf")), "non-integer"),
    Entry("negative.npy", ".npy", _float_mask(-1.0), r"\[-1\]|negative"),
    Entry("nan.tif", ".tif", _float_mask(float("nan")), "non-integer"),
    Entry("negative.tif", ".tif", _float_mask(-3.0), r"\[-3\]|negative"),
    Entry("symlink-loop.png", ".png", _loop, "symbolic link loop"),
    Entry("symlink-loop-pair.npy", ".npy", _loop_pair, "symbolic link loop"),
    Entry("dangling-link.png", ".png", _dangling, "missing target"),
    Entry("named-pipe.png", ".png", _fifo, "named pipe"),
]
DATA_FORMATS = (".png", ".tif", ".npy")  # what folder: datasets read (npz and NIfTI are evaluate's only)
DATA_CORPUS = [e for e in CORPUS if e.ext in DATA_FORMATS]
IMAGE_CORPUS = [e for e in DATA_CORPUS if e.id.split(".")[0] in (
    "zero-byte", "truncated", "random", "object-dtype", "npy-claims-400MB", "tiff-claims-400MB",
    "png-beyond-bomb-limit", "symlink-loop", "named-pipe")] + [
    Entry("nan-image.npy", ".npy", _float_mask(float("nan")), "NaN"),
]


# ----------------------------------------------------------------------------------------------- the commands
def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    return status, out, err, seconds


def _check_one_line(result: tuple[int, str, str, float], command: str, name: str, why: str) -> str:
    status, out, err, seconds = result
    lines = err.strip("\n").splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"segbench {command}: error: "), err
    assert name in lines[0], err  # names the file (spaces and non-ASCII intact)
    assert re.search(why, lines[0]), err  # and says what is wrong
    assert "Traceback" not in err
    assert out == ""  # nothing half-printed
    assert seconds < SECONDS
    return lines[0]


def _evaluate_folders(tmp_path: Path, entry: Entry) -> tuple[Path, Path, Path, str]:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    name = STEM + entry.ext
    entry.make(pred / name, tmp_path / "marker")
    (truth / f"{STEM}.png").write_bytes(_good_png())
    (pred / "ok.png").write_bytes(_good_png())
    (truth / "ok.png").write_bytes(_good_png())
    return pred, truth, tmp_path / "scores.csv", name


def _dataset(tmp_path: Path, entry: Entry, role: str) -> tuple[Path, str]:
    """A folder: dataset of five good image/mask pairs and one pair whose ``role`` file is ``entry``."""
    root = tmp_path / "data set ü"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    image = Image.fromarray((np.arange(SHAPE[0] * SHAPE[1]) % 251).astype(np.uint8).reshape(SHAPE))
    for k in range(5):
        image.save(root / "images" / f"ok{k}.png")
        Image.fromarray(_mask()).save(root / "masks" / f"ok{k}.png")
    name = STEM + entry.ext
    entry.make(root / role / name, tmp_path / "marker")
    other = "masks" if role == "images" else "images"
    if other == "images":
        image.save(root / "images" / f"{STEM}.png")
    else:
        Image.fromarray(_mask()).save(root / "masks" / f"{STEM}.png")
    return root, name


def _compare_argv(root: Path, out: Path) -> list[str]:
    return ["compare", "--dataset", f"folder:{root}", "--loss", "ce", "--epochs", "1", "--seeds", "1",
            "--device", "cpu", "--out", str(out), "-q", "--no-report"]


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e.id)
def test_evaluate_rejects_in_one_line(entry: Entry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth, out, name = _evaluate_folders(tmp_path, entry)
    result = _cli(["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(out)], capsys)
    _check_one_line(result, "evaluate", name, entry.why)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred", "truth"]  # no temp file, no marker


@pytest.mark.parametrize("entry", DATA_CORPUS, ids=lambda e: e.id)
def test_inspect_rejects_a_bad_mask(entry: Entry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, name = _dataset(tmp_path, entry, "masks")
    _check_one_line(_cli(["inspect", f"folder:{root}"], capsys), "inspect", name, entry.data_pattern)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("entry", DATA_CORPUS, ids=lambda e: e.id)
def test_compare_rejects_a_bad_mask(entry: Entry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, name = _dataset(tmp_path, entry, "masks")
    out = tmp_path / "run"
    _check_one_line(_cli(_compare_argv(root, out), capsys), "compare", name, entry.data_pattern)
    assert not out.exists()  # nothing is written before every file has been read
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("entry", IMAGE_CORPUS, ids=lambda e: e.id)
def test_inspect_and_compare_reject_a_bad_image(entry: Entry, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root, name = _dataset(tmp_path, entry, "images")
    _check_one_line(_cli(["inspect", f"folder:{root}"], capsys), "inspect", name, entry.data_pattern)
    out = tmp_path / "run"
    _check_one_line(_cli(_compare_argv(root, out), capsys), "compare", name, entry.data_pattern)
    assert not out.exists()


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.claims], ids=lambda e: e.id)
def test_memory_is_bounded_by_the_real_file(entry: Entry, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A header that claims hundreds of MB in a file of a few hundred bytes allocates nothing of that size."""
    pred, truth, _, name = _evaluate_folders(tmp_path, entry)
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth)]
    if entry.ext in DATA_FORMATS:
        root, _ = _dataset(tmp_path, entry, "masks")
        argvs = [argv, ["inspect", f"folder:{root}"]]
    else:
        argvs = [argv]
    for args in argvs:
        tracemalloc.start()
        try:
            status = main(args)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        capsys.readouterr()
        assert status == 2
        assert peak < PEAK_BYTES, f"{args[0]}: {peak / 2**20:.0f} MiB traced for a {name} of a few hundred bytes"


# ----------------------------------------------------------------------------------------------- folders
def test_a_folder_that_is_a_symlink_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "a.png").write_bytes(_good_png())
    pred = tmp_path / "prédictions loop"
    pred.symlink_to(pred.name)
    result = _cli(["evaluate", "--pred", str(pred), "--truth", str(truth)], capsys)
    _check_one_line(result, "evaluate", str(pred), "symbolic link loop")
    root = tmp_path / "data"
    (root / "masks").mkdir(parents=True)
    (root / "images").symlink_to("images")
    _check_one_line(_cli(["inspect", f"folder:{root}"], capsys), "inspect", str(root / "images"),
                    "symbolic link loop")


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``open`` of any file called ``name`` fails with EACCES, as ``chmod 000`` does for a normal user."""
    real_open = builtins.open

    def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and Path(os.fspath(file)).name == name:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)


@pytest.mark.parametrize("ext", [".png", ".tif", ".npy", ".npz", ".nii", ".nii.gz"])
def test_an_unreadable_file(ext: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    entry = Entry("unreadable", ext, _bytes(lambda: _good(ext)), "Permission denied")
    pred, truth, out, name = _evaluate_folders(tmp_path, entry)
    root, _ = _dataset(tmp_path, entry, "masks")
    _unreadable(monkeypatch, name)
    result = _cli(["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(out)], capsys)
    _check_one_line(result, "evaluate", name, "Permission denied")
    if ext in DATA_FORMATS:
        _check_one_line(_cli(["inspect", f"folder:{root}"], capsys), "inspect", name, "Permission denied")


def test_an_unreadable_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    entry = Entry("ok", ".png", _bytes(_good_png), "")
    pred, truth, _, _ = _evaluate_folders(tmp_path, entry)
    root, _ = _dataset(tmp_path, entry, "masks")
    real_iterdir = pathlib.Path.iterdir

    def guarded(self: Path) -> Any:
        if self.name in ("pred", "masks"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_iterdir(self)

    monkeypatch.setattr(pathlib.Path, "iterdir", guarded)
    result = _cli(["evaluate", "--pred", str(pred), "--truth", str(truth)], capsys)
    _check_one_line(result, "evaluate", str(pred), "Permission denied")
    _check_one_line(_cli(["inspect", f"folder:{root}"], capsys), "inspect", str(root / "masks"), "Permission denied")


def test_absurdly_nested_split_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = _dataset(tmp_path, Entry("ok", ".png", _bytes(_good_png), ""), "masks")
    (root / "split.json").write_text("[" * 200_000)
    _check_one_line(_cli(_compare_argv(root, tmp_path / "run"), capsys), "compare", "split.json", "recursion")
    assert not (tmp_path / "run").exists()


def test_names_with_spaces_and_non_ascii_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same hostile names hold good files here: every format reads, and the case keeps its name."""
    pred, truth = tmp_path / "préd ü", tmp_path / "vérité ü"
    pred.mkdir()
    truth.mkdir()
    for k, ext in enumerate((".png", ".tif", ".npy", ".npz", ".nii", ".nii.gz")):
        (pred / f"{STEM} {k}{ext}").write_bytes(_good(ext))
        (truth / f"{STEM} {k}.png").write_bytes(_good(".png"))
    out = tmp_path / "scores ü.csv"
    status, stdout, err, _ = _cli(["evaluate", "--pred", str(pred), "--truth", str(truth), "--out", str(out),
                                   "--metrics", "dice", "--num-classes", "2"], capsys)
    assert status == 0, err
    rows = out.read_text(encoding="utf-8").splitlines()[1:]
    # the NIfTI files are (X, Y) = transposed against the PNG truth, so their Dice differs; every case scored
    assert sorted({row.split(",")[0] for row in rows}) == [f"{STEM} {k}" for k in range(6)]
    root, _ = _dataset(tmp_path, Entry("ok", ".png", _bytes(_good_png), ""), "masks")
    status, stdout, err, _ = _cli(["inspect", f"folder:{root}", "--json"], capsys)
    assert status == 0, err
    assert json.loads(stdout)["num_images"] == 6


def _unusual_but_valid(folder: Path) -> dict[str, np.ndarray]:
    """Valid files in less common layouts (what a stricter reader could wrongly refuse), and their arrays."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, (6, 20, 30)).astype(np.uint8)
    plane = labels[0]
    expected = {}
    image = nibabel.Nifti1Image(labels.transpose(), np.eye(4))
    image.header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", b"x" * 5000))
    nibabel.save(image, folder / "extension.nii")
    nibabel.save(image, folder / "extension.nii.gz")
    nibabel.save(nibabel.Nifti2Image(labels.transpose(), np.eye(4)), folder / "nifti2.nii.gz")
    big_endian = nibabel.Nifti1Header(endianness=">")
    nibabel.save(nibabel.Nifti1Image(labels.transpose().astype(">i2"), np.eye(4), header=big_endian),
                 folder / "big-endian.nii")
    for name in ("extension.nii", "extension.nii.gz", "nifti2.nii.gz", "big-endian.nii"):
        expected[name] = labels
    tifffile.imwrite(folder / "stack.tif", labels)
    tifffile.imwrite(folder / "stack-zlib.tif", labels, compression="zlib")
    tifffile.imwrite(folder / "tiles.tif", np.zeros((64, 64), np.uint8), tile=(16, 16), compression="zlib")
    np.save(folder / "fortran.npy", np.asfortranarray(plane.astype(np.int32)))
    np.savez(folder / "stored.npz", mask=plane, other=plane)
    np.savez_compressed(folder / "zeros.npz", np.zeros((512, 512), np.uint8))  # ~1000:1, legitimately
    Image.fromarray(plane.astype(np.uint16) * 1000).save(folder / "sixteen-bit.png")
    Image.fromarray(plane > 0).save(folder / "one-bit.png")
    Image.fromarray(np.zeros((3000, 3000), np.uint8)).save(folder / "blank-9Mpx.png")  # compresses ~1000:1
    expected.update({"stack.tif": labels, "stack-zlib.tif": labels, "tiles.tif": np.zeros((64, 64)),
                     "fortran.npy": plane, "stored.npz": plane, "zeros.npz": np.zeros((512, 512)),
                     "sixteen-bit.png": plane.astype(np.int64) * 1000, "one-bit.png": plane > 0,
                     "blank-9Mpx.png": np.zeros((3000, 3000))})
    return expected


def test_unusual_but_valid_files_still_read(tmp_path: Path) -> None:
    from segbench.files.images import read_mask
    from segbench.files.masks import read_mask_file

    for name, array in _unusual_but_valid(tmp_path).items():
        got = read_mask_file(tmp_path / name).array
        assert got.shape == array.shape and (got == array).all(), name
        if name.endswith((".png", ".tif", ".npy")) and array.ndim == 2:
            assert (read_mask(tmp_path / name) == array).all(), name
