"""From stored mask values to class labels: the rule is stated here once, and ``segbench evaluate``, ``segbench
inspect`` and the ``folder:`` datasets (:mod:`segbench.data.label_maps`) all apply it.

* A file whose values (``ignore_index`` aside) lie within ``{0, 255}`` and include 255 is a 0/255 binary mask:
  255 becomes label 1. This is decided **per file**, not per dataset, so 0/255 predictions pair with 0/1 ground
  truth and a folder mixing 0/255 and 0/1 masks (a common result of saving some masks as 8-bit images) reads
  as one binary dataset. Per file is also the only rule that gives a file the same labels whatever else lies
  in its folder. It does not apply when the dataset has more than 2 classes (``num_classes`` given, or
  inferred from the other files): then 255 must be a real label (``num_classes > 255``) or it is an error.
* Any other file holds integer labels as stored, which must lie in ``[0, num_classes)``.
* ``num_classes`` not given: it is inferred as ``max label + 1`` over all prediction and ground-truth files
  (at least 2), and the command says so. Inference cannot change any number that is reported: a class that
  appears in no file is empty in every case, so each of its scores is undefined (NaN) and counted as such.
  Give ``--num-classes`` to fix the class list (e.g. for identical CSV columns across runs).
* Sparse values: inference refuses a range where more labels would be absent from every file than present
  (``{0, 1000, 2000}`` would give 2001 classes, a VOC mask ``{0..20, 255}`` 256): that is an error listing the
  values found and naming ``--label-map`` (e.g. ``1000=1,2000=2``, :func:`apply_label_map`, applied to
  predictions and ground truths as they are read) and, when 255 is among them, ``--ignore-index 255``.
* ``ignore_index`` (ground truth only): pixels with that value count nowhere; in a prediction it is an
  ordinary value and must be a valid label.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from segbench.errors import UsageError

__all__ = [
    "apply_label_map", "check_dense", "check_values", "distinct_values", "infer_num_classes", "is_binary_255",
    "labels_from_raw",
]


def distinct_values(array: np.ndarray) -> frozenset[int]:
    """The distinct values of an integer array (fast path through ``bincount`` for small non-negative labels).

    >>> sorted(distinct_values(np.array([[0, 255], [3, 3]])))
    [0, 3, 255]
    """
    flat = array.ravel(order="K")  # memory order: a view of a NIfTI's Fortran-ordered array, not a copy
    lo, hi = int(flat.min()), int(flat.max())
    if lo >= 0 and hi < 65536:
        return frozenset(int(v) for v in np.flatnonzero(np.bincount(flat, minlength=hi + 1)))
    return frozenset(int(v) for v in np.unique(flat))


def is_binary_255(values: Iterable[int], num_classes: int | None) -> bool:
    """Whether a file with these (non-ignored) values is a 0/255 binary mask under ``num_classes``.

    Args:
        values: the file's distinct values, ``ignore_index`` (of a ground-truth file) left out.
        num_classes: the dataset's class count, or ``None`` while it is still being inferred.

    >>> is_binary_255({0, 255}, None), is_binary_255({255}, 2), is_binary_255({0, 255}, 3), is_binary_255({0}, None)
    (True, True, False, False)
    """
    values = set(values)
    return 255 in values and values <= {0, 255} and num_classes in (None, 2)


def _checked_values(values: frozenset[int], ignore_index: int | None) -> frozenset[int]:
    return values - {ignore_index} if ignore_index is not None else values


def infer_num_classes(values_per_file: Iterable[frozenset[int]]) -> int:
    """``max label + 1`` (at least 2) over files' distinct values, after the 0/255 rule.

    ``values_per_file`` must already exclude the ground truth's ``ignore_index``.

    >>> infer_num_classes([frozenset({0, 255}), frozenset({0, 1})]), infer_num_classes([frozenset({0, 4})])
    (2, 5)
    """
    top = 1
    for values in values_per_file:
        if values and not is_binary_255(values, None):
            top = max(top, max(values))
    return top + 1


def _mapped_values(values: Iterable[frozenset[int]]) -> set[int]:
    present: set[int] = set()
    for v in values:
        present |= (set(v) - {255}) | {1} if is_binary_255(v, None) else set(v)
    return present


def check_dense(values_per_file: Iterable[frozenset[int]], num_classes: int) -> None:
    """Refuse an inferred class count over a sparse range: more labels absent from every file than present.

    Args:
        values_per_file: every file's distinct values (``ignore_index`` of the ground truths left out).
        num_classes: the count :func:`infer_num_classes` gave.

    >>> check_dense([frozenset({0, 1}), frozenset({0, 3})], 4)  # 1 absent label (2) of 4: accepted
    >>> check_dense([frozenset({0, 1000}), frozenset({0, 2000})], 2001)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: the masks hold the label values [0, 1000, 2000]: inferring ...
    """
    present = _mapped_values(values_per_file)
    absent = num_classes - len(present & set(range(num_classes)))
    if absent <= len(present):
        return
    found = sorted(present)
    mapping = ",".join(f"{v}={k}" for k, v in enumerate((v for v in found if v not in (0, 255)), start=1))
    border = (", or --ignore-index 255 if 255 marks borders or void pixels (VOC style) in the ground truth"
              if 255 in present else "")
    listed = str(found) if len(found) <= 20 else f"{found[:20]} ... ({len(found)} values)"
    raise UsageError(
        f"the masks hold the label values {listed}: inferring --num-classes {num_classes} (largest + 1) would "
        f"make {absent} classes that appear in no file; map the values to 0..N-1 with --label-map {mapping}"
        f"{border}, or give --num-classes {num_classes} to keep them as they are"
    )


def apply_label_map(array: np.ndarray, mapping: dict[int, int] | None) -> np.ndarray:
    """``array`` with each stored value ``v`` in ``mapping`` replaced by ``mapping[v]``; other values kept.

    All replacements read the original values (``{1: 2, 2: 1}`` swaps two labels).

    Args:
        array: stored integer values.
        mapping: ``{stored value: label}``, or ``None`` (no change).

    >>> apply_label_map(np.array([0, 1000, 2000, 1000]), {1000: 1, 2000: 2}).tolist()
    [0, 1, 2, 1]
    """
    if not mapping:
        return array
    out = array.copy()
    for value, label in mapping.items():
        out[array == value] = label
    return out


def check_values(
    values: frozenset[int], path: Path, *, num_classes: int, ignore_index: int | None = None
) -> bool:
    """Check a file's distinct values against ``num_classes``; return whether the 0/255 rule applies to it.

    ``values`` are all distinct values of the file; ``ignore_index`` is for ground-truth files only.

    >>> check_values(frozenset({0, 255}), Path("p.png"), num_classes=2)
    True
    >>> check_values(frozenset({0, 3}), Path("p.png"), num_classes=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: mask file p.png holds label(s) [3]; expected labels 0..2 (--num-classes 3); map ...
    """
    checked = _checked_values(values, ignore_index)
    if is_binary_255(checked, num_classes):
        return True
    bad = sorted(v for v in checked if v < 0 or v >= num_classes)
    if bad:
        note = "" if ignore_index is None else f", or the ignore index {ignore_index}"
        hint = "; map stored values to labels with --label-map V=K,..."
        if 255 in bad and ignore_index is None:
            hint += " or ignore a VOC-style 255 border in the ground truth with --ignore-index 255"
        raise UsageError(
            f"mask file {path} holds label(s) {bad[:10]}; expected labels 0..{num_classes - 1} "
            f"(--num-classes {num_classes}){note}{hint}"
        )
    return False


def labels_from_raw(
    array: np.ndarray, path: Path, *, num_classes: int, ignore_index: int | None = None,
    values: frozenset[int] | None = None,
) -> np.ndarray:
    """Labels ``int64`` of ``array``'s shape: :func:`check_values`, then the 0/255 rule (255 -> 1).

    ``ignore_index`` is for ground-truth files; pass ``None`` for predictions. ``values``: the array's
    :func:`distinct_values` where the caller has them already (``segbench evaluate`` collects them while checking
    every case), else they are counted here.

    >>> labels_from_raw(np.array([0, 255]), Path("p.png"), num_classes=2).tolist()
    [0, 1]
    """
    found = distinct_values(array) if values is None else values
    if check_values(found, path, num_classes=num_classes, ignore_index=ignore_index):
        out = array.copy()
        out[array == 255] = 1
        return out
    return array
