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
* ``ignore_index`` (ground truth only): pixels with that value count nowhere; in a prediction it is an
  ordinary value and must be a valid label.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from segbench.errors import UsageError

__all__ = ["check_values", "distinct_values", "infer_num_classes", "is_binary_255", "labels_from_raw"]


def distinct_values(array: np.ndarray) -> frozenset[int]:
    """The distinct values of an integer array (fast path through ``bincount`` for small non-negative labels).

    >>> sorted(distinct_values(np.array([[0, 255], [3, 3]])))
    [0, 3, 255]
    """
    flat = array.reshape(-1)
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


def check_values(
    values: frozenset[int], path: Path, *, num_classes: int, ignore_index: int | None = None
) -> bool:
    """Check a file's distinct values against ``num_classes``; return whether the 0/255 rule applies to it.

    ``values`` are all distinct values of the file; ``ignore_index`` is for ground-truth files only.

    >>> check_values(frozenset({0, 255}), Path("p.png"), num_classes=2)
    True
    >>> check_values(frozenset({0, 3}), Path("p.png"), num_classes=3)
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: mask file p.png holds label(s) [3]; expected labels 0..2 (--num-classes 3)
    """
    checked = _checked_values(values, ignore_index)
    if is_binary_255(checked, num_classes):
        return True
    bad = sorted(v for v in checked if v < 0 or v >= num_classes)
    if bad:
        note = "" if ignore_index is None else f", or the ignore index {ignore_index}"
        raise UsageError(
            f"mask file {path} holds label(s) {bad[:10]}; expected labels 0..{num_classes - 1} "
            f"(--num-classes {num_classes}){note}"
        )
    return False


def labels_from_raw(
    array: np.ndarray, path: Path, *, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Labels ``int64`` of ``array``'s shape: :func:`check_values`, then the 0/255 rule (255 -> 1).

    ``ignore_index`` is for ground-truth files; pass ``None`` for predictions.

    >>> labels_from_raw(np.array([0, 255]), Path("p.png"), num_classes=2).tolist()
    [0, 1]
    """
    if check_values(distinct_values(array), path, num_classes=num_classes, ignore_index=ignore_index):
        out = array.copy()
        out[array == 255] = 1
        return out
    return array
