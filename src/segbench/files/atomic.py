"""Atomic file writes for the run folder: a file exists complete under its name, or not at all.

Every writer here writes to a temporary file in the destination's folder (so the rename never crosses a file
system), flushes and fsyncs it, then ``os.replace``\\ s it onto the final name. A process killed at any moment
leaves either the old file or the new one, plus at worst a stray ``.<name>.<random>.tmp`` that the next run
ignores.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from segbench.errors import OutputError, UsageError

__all__ = [
    "atomic_write",
    "format_value",
    "read_csv",
    "write_bytes",
    "write_csv",
    "write_failed",
    "write_json",
    "write_npz",
    "write_npz_members",
    "write_text",
    "write_torch",
]


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The parent folder is created if needed. On any exception the temporary file is removed and
    ``path`` is left as it was.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = atomic_write(folder / "a.txt", lambda f: f.write(b"hello"))
    >>> (folder / "a.txt").read_bytes(), sorted(p.name for p in folder.iterdir())
    (b'hello', ['a.txt'])
    """
    path = Path(path)
    step = "creating its folder"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        step = "creating a temporary file beside it"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_failed(path, step, exc) from exc
    try:
        step = "writing"
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            step = "syncing it to disk"
            os.fsync(handle.fileno())
        step = "renaming it into place"
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise write_failed(path, step, exc) from exc
        raise
    return path


def write_failed(path: Path, step: str, exc: OSError) -> OutputError:
    """The one-line :class:`~segbench.errors.OutputError` for a failed atomic write of ``path``.

    Args:
        path: the file being written.
        step: what was being done when ``exc`` was raised.
        exc: the operating system's error.

    >>> str(write_failed(Path("r/a.csv"), "writing", OSError(28, "No space left on device")))
    'cannot write r/a.csv (writing: No space left on device); its previous content, if any, is intact'
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"cannot write {path} ({step}: {reason}); its previous content, if any, is intact")


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    return atomic_write(path, write)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN/inf as JSON ``NaN``/``Infinity``, as Python reads them)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def format_value(value: Any) -> str:
    """A CSV cell, the one float policy of every results file: a float as Python's ``repr`` (the shortest text
    that reads back as the same float, so ``float(cell) == value`` exactly; ``nan``, ``inf``, ``-inf`` spelled
    out), anything else as ``str``.

    Args:
        value: the cell's value (a Python or numpy float, an int, a string).

    >>> [format_value(v) for v in (0.1 + 0.2, float("nan"), float("inf"), np.float32(0.5), 3, "dice")]
    ['0.30000000000000004', 'nan', 'inf', '0.5', '3', 'dice']
    """
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "nan" if math.isnan(v) else repr(v)
    return str(value)


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts with at least ``columns`` as keys) as a CSV with a header, atomically.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_csv(p, ["a", "b"], [{"a": 1, "b": 0.5}, {"a": 2, "b": float("nan")}])
    >>> p.read_text().splitlines()
    ['a,b', '1,0.5', '2,nan']
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row[c]) for c in columns])
    return write_text(path, buffer.getvalue())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV with a header, as dicts of strings (empty list if the file has only a header)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


_REQUIRED: Any = object()


def read_json(path: str | Path, *, missing: Any = _REQUIRED) -> Any:
    """The JSON value of a file that segbench wrote (:func:`write_json`): the one reader of run-folder JSON.

    An absent file is a :class:`~segbench.errors.UsageError` naming it, or ``missing`` where one is given (files
    that are informative only, or that older folders lack). A file that exists but cannot be read or parsed is
    always that error: segbench writes atomically, so a bad file was changed by hand and is never skipped in
    silence; the message says to delete it, which makes the next run redo that step.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_json(folder / "a.json", {"x": 1})
    >>> read_json(folder / "a.json"), read_json(folder / "b.json", missing=None)
    ({'x': 1}, None)
    >>> _ = (folder / "a.json").write_text("{")
    >>> read_json(folder / "a.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: .../a.json is not valid JSON (...); delete it to redo that step
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing is not _REQUIRED:
            return missing
        raise UsageError(f"{p} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {p} ({exc}); delete it to redo that step") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{p} is not valid JSON ({exc}); delete it to redo that step") from None


def write_npz(path: str | Path, **arrays: Any) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` atomically (``numpy.load(path)`` reads it back)."""
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def write_npz_members(path: str | Path, members: Iterable[tuple[str, Any]]) -> Path:
    """Write the arrays of ``members`` (``(name, array)`` pairs, produced one at a time) as a compressed ``.npz``
    atomically, each written as it comes: only one member is in memory at once (``numpy.load(path)[name]`` reads
    it back). An exception raised by ``members`` leaves ``path`` as it was.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npz"
    >>> _ = write_npz_members(p, ((f"x{k}", np.full(k + 1, k)) for k in range(2)))
    >>> sorted((k, v.tolist()) for k, v in np.load(p).items())
    [('x0', [0]), ('x1', [1, 1])]
    """
    import zipfile

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in members:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    return atomic_write(path, write)


def write_torch(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints)."""
    return atomic_write(path, lambda f: torch.save(obj, f))
