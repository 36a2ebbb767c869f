"""Pairing prediction files with ground-truth files by file stem (``case_01.png`` <-> ``case_01.nii.gz``).

Formats may differ between the two folders; only the stem (the name without its mask suffix, see
:func:`segbench.files.masks.mask_stem`) must match.

Common naming schemes: when the stems do not pair one to one, and stripping one known name suffix from every
prediction stem, or from every ground-truth stem, that ends with it (``_pred``, ``_prediction``, ``_seg``,
``_mask``, ``_label``, ``_gt``, or nnU-Net's 4-digit channel suffix ``_0000``) pairs every file one to one,
that pairing is used and said in :attr:`Pairing.note`. Any other scheme is named with ``pred_suffix`` /
``truth_suffix`` (``--pred-suffix`` / ``--truth-suffix``), and the error for unpaired files names those
options. Hidden files and files of other types are skipped and
reported as notes. Every problem is collected before anything is raised, so one error lists every missing
prediction, every extra prediction and every duplicated stem by name.
"""

from __future__ import annotations

import re
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
    """The cases (sorted by name), the files that were skipped because of their type, and how names were
    matched when not by identical stems (``None``: identical stems)."""

    cases: list[Case]
    skipped: list[Path]
    note: str | None = None


KNOWN_SUFFIXES = ("_pred", "_prediction", "_seg", "_segmentation", "_mask", "_label", "_labels", "_gt", "_0000")
"""Name suffixes tried automatically when stems do not pair (``_0000``: any nnU-Net channel ``_dddd``)."""

_CHANNEL = re.compile(r"_\d{4}$")


def _strip(stem: str, suffix: str) -> str:
    if suffix == "_0000":
        return _CHANNEL.sub("", stem)
    return stem[: -len(suffix)] if stem.endswith(suffix) and len(stem) > len(suffix) else stem


def _keyed(found: dict[str, Path], suffix: str | None, role: str, flag: str, problems: list[str]) -> dict[str, Path]:
    """``found`` re-keyed with ``suffix`` stripped; stems without it, or colliding, go to ``problems``."""
    if suffix is None:
        return found
    out: dict[str, Path] = {}
    lacking = sorted(stem for stem in found if not stem.endswith(suffix) or stem == suffix)
    if lacking:
        problems.append(f"{len(lacking)} {role} file(s) do not end with {flag} {suffix!r}: {_listing(lacking)}")
    for stem, path in found.items():
        key = stem[: -len(suffix)] if stem.endswith(suffix) and stem != suffix else stem
        if key in out:
            problems.append(f"{role} files {out[key].name} and {path.name} both give case {key!r} with {flag}")
        out[key] = path
    return out


def _auto(preds: dict[str, Path], truths: dict[str, Path]) -> tuple[dict[str, Path], dict[str, Path], str] | None:
    """A known suffix that, stripped from one side, pairs every file one to one; ``None`` if none does."""
    for suffix in KNOWN_SUFFIXES:
        for side in ("prediction", "ground-truth"):
            source = preds if side == "prediction" else truths
            keyed = {_strip(stem, suffix): path for stem, path in source.items()}
            if len(keyed) != len(source) or keyed == source:
                continue
            other = truths if side == "prediction" else preds
            if set(keyed) == set(other):
                shown = "_dddd (nnU-Net channel)" if suffix == "_0000" else repr(suffix)
                note = f"paired by stripping the suffix {shown} from the {side} file names"
                return (keyed, truths, note) if side == "prediction" else (preds, keyed, note)
    return None


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


def pair_by_stem(
    pred_dir: Path, truth_dir: Path, *, pred_suffix: str | None = None, truth_suffix: str | None = None
) -> Pairing:
    """Pair every file of ``pred_dir`` with the file of ``truth_dir`` that has the same stem.

    Raises :class:`UsageError` listing, by name, ground truths without a prediction, predictions without a
    ground truth, and stems with two files in one folder. Without suffixes given, a known naming scheme is
    tried when the stems do not pair (see the module docstring).

    Args:
        pred_dir: the folder of predictions.
        truth_dir: the folder of ground truths.
        pred_suffix: stripped from every prediction stem before pairing (``"_pred"``), or ``None``.
        truth_suffix: stripped from every ground-truth stem before pairing, or ``None``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("pred/a.png", "pred/b.npy", "truth/a.tif", "truth/b.npy", "truth/c.npy"):
    ...     (root / name).parent.mkdir(exist_ok=True); (root / name).touch()
    >>> pair_by_stem(root / "pred", root / "truth")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: 1 ground-truth case(s) have no prediction in ... c; if the names differ by a suffix ...
    """
    problems: list[str] = []
    preds, skipped_pred = _scan(Path(pred_dir), "prediction", problems)
    truths, skipped_truth = _scan(Path(truth_dir), "ground-truth", problems)
    preds = _keyed(preds, pred_suffix, "prediction", "--pred-suffix", problems)
    truths = _keyed(truths, truth_suffix, "ground-truth", "--truth-suffix", problems)
    note = None
    if not problems and pred_suffix is None and truth_suffix is None and set(preds) != set(truths):
        auto = _auto(preds, truths)
        if auto is not None:
            preds, truths, note = auto
    missing = sorted(set(truths) - set(preds))
    extra = sorted(set(preds) - set(truths))
    if missing:
        problems.append(f"{len(missing)} ground-truth case(s) have no prediction in {pred_dir}: {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction(s) have no ground truth in {truth_dir}: {_listing(extra)}")
    if missing or extra:
        problems.append("if the names differ by a suffix (case_001_pred vs case_001), give --pred-suffix _pred "
                        "or --truth-suffix SUFFIX")
    if problems:
        raise UsageError("; ".join(problems))
    cases = [Case(stem, preds[stem], truths[stem]) for stem in sorted(truths)]
    return Pairing(cases, skipped_pred + skipped_truth, note)
