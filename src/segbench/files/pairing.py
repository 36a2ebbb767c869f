"""Pairing prediction files with ground-truth files by file stem (``case_01.png`` <-> ``case_01.nii.gz``).

Formats may differ between the two folders; only the stem (the name without its mask suffix, see
:func:`segbench.files.masks.mask_stem`) must match. Hidden files and files of other types are skipped and
reported as notes. Every problem is collected before anything is raised, so one error lists every missing
prediction, every extra prediction and every duplicated stem by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbench.errors import UsageError
from segbench.files import safe_read
from segbench.files.masks import MASK_SUFFIXES, mask_stem, mask_suffix

__all__ = ["Case", "Pairing", "pair_by_stem"]

MAX_LISTED = 20
"""At most this many names are listed per kind of problem (the count is always given)."""


@dataclass(frozen=True)
class Case:
    """One prediction/ground-truth pair."""

    name: str
    pred: Path
    truth: Path


@dataclass(frozen=True)
class Pairing:
    """The cases (sorted by name) and the files that were skipped because of their type."""

    cases: list[Case]
    skipped: list[Path]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f", ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def _scan(folder: Path, role: str, problems: list[str]) -> tuple[dict[str, Path], list[Path]]:
    """``stem -> file`` for the mask files in ``folder``; duplicated stems go to ``problems``."""
    safe_read.check_link(folder, f"{role} folder")
    if not folder.is_dir():
        raise UsageError(f"{role} folder {folder} does not exist or is not a directory")
    found: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for path in safe_read.list_folder(folder):
        if path.name.startswith("."):
            continue
        if mask_suffix(path) is None:
            if path.is_file():
                skipped.append(path)
            continue
        if not safe_read.regular_file(path):  # a folder is skipped; a link loop, a named pipe... raise
            continue
        found.setdefault(mask_stem(path), []).append(path)
    for stem, paths in found.items():
        if len(paths) > 1:
            problems.append(f"{role} folder {folder} has {len(paths)} files for case {stem!r}: "
                            + ", ".join(p.name for p in paths))
    if not found:
        raise UsageError(f"{role} folder {folder} holds no mask files ({', '.join(MASK_SUFFIXES)})")
    return {stem: paths[0] for stem, paths in found.items()}, skipped


def pair_by_stem(pred_dir: Path, truth_dir: Path) -> Pairing:
    """Pair every file of ``pred_dir`` with the file of ``truth_dir`` that has the same stem.

    Raises :class:`UsageError` listing, by name, ground truths without a prediction, predictions without a
    ground truth, and stems with two files in one folder.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("pred/a.png", "pred/b.npy", "truth/a.tif", "truth/b.npy", "truth/c.npy"):
    ...     (root / name).parent.mkdir(exist_ok=True); (root / name).touch()
    >>> pair_by_stem(root / "pred", root / "truth")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: 1 ground-truth case(s) have no prediction in ... c
    """
    problems: list[str] = []
    preds, skipped_pred = _scan(Path(pred_dir), "prediction", problems)
    truths, skipped_truth = _scan(Path(truth_dir), "ground-truth", problems)
    missing = sorted(set(truths) - set(preds))
    extra = sorted(set(preds) - set(truths))
    if missing:
        problems.append(f"{len(missing)} ground-truth case(s) have no prediction in {pred_dir}: {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction(s) have no ground truth in {truth_dir}: {_listing(extra)}")
    if problems:
        raise UsageError("; ".join(problems))
    cases = [Case(stem, preds[stem], truths[stem]) for stem in sorted(truths)]
    return Pairing(cases, skipped_pred + skipped_truth)
