"""Turning stored mask values into class labels: ``"binary"``, an explicit mapping, or integer labels.

Without a mapping the 0/255 rule of :mod:`segbench.files.raw_labels` applies, per file, exactly as in
``segbench evaluate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segbench.data.errors import DatasetError
from segbench.files.raw_labels import infer_num_classes, is_binary_255


@dataclass(frozen=True)
class LabelMap:
    """How raw mask values become labels.

    ``mode="binary"``: ``v > 0 -> 1``, else 0. ``mode="mapping"``: ``table[v]``; a value absent from the
    table is an error. ``mode="identity"``: the value itself, which must lie in ``[0, num_classes)``, after the
    per-file 0/255 rule (:func:`segbench.files.raw_labels.is_binary_255`: a file of values within {0, 255}
    has 255 -> 1 when ``num_classes == 2``). In
    every mode a raw value equal to ``ignore_index`` stays ``ignore_index`` (pixels that count nowhere).

    >>> LabelMap("mapping", 2, {0: 1, 255: 0}).apply(np.array([0, 255]), Path("m.png")).tolist()
    [1, 0]
    """

    mode: str
    num_classes: int
    table: Mapping[int, int] | None = None
    ignore_index: int | None = None

    def apply(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """Labels ``int64`` of the shape of ``raw``; :class:`DatasetError` naming ``path`` on bad values."""
        ignored = raw == self.ignore_index if self.ignore_index is not None else np.zeros(raw.shape, bool)
        if self.mode == "binary":
            out = (raw > 0).astype(np.int64)
        elif self.mode == "mapping":
            table = self.table or {}
            values = np.unique(raw[~ignored])
            unknown = [int(v) for v in values if int(v) not in table]
            if unknown:
                raise DatasetError(
                    f"mask file {path} holds values {unknown[:10]} that the mapping does not cover "
                    f"(mapping keys: {sorted(table)})"
                )
            out = np.zeros(raw.shape, dtype=np.int64)
            for value in values:
                out[raw == value] = table[int(value)]
        else:
            if is_binary_255((int(v) for v in np.unique(raw[~ignored])), self.num_classes):
                raw = np.where(raw == 255, 1, raw)
            bad = np.unique(raw[~ignored & ((raw < 0) | (raw >= self.num_classes))])
            if bad.size:
                raise DatasetError(
                    f"mask file {path} holds values {bad[:10].tolist()}; expected labels "
                    f"0..{self.num_classes - 1}" + self._ignore_text()
                )
            out = raw.astype(np.int64)
        if self.ignore_index is not None:
            out[ignored] = self.ignore_index
        return out

    def _ignore_text(self) -> str:
        return "" if self.ignore_index is None else f" or ignore_index {self.ignore_index}"


def parse_mapping(mapping: Any) -> dict[int, int] | str | None:
    """``None``, ``"binary"``, or a dict raw value -> label (TOML string keys like ``"255"`` are accepted).

    >>> parse_mapping({"0": 1, "255": 0})
    {0: 1, 255: 0}
    """
    if mapping is None or mapping == "binary":
        return None if mapping is None else "binary"
    if isinstance(mapping, Mapping):
        try:
            table = {int(k): int(v) for k, v in mapping.items()}
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"mapping must map integer raw values to integer labels, got {mapping!r}") from exc
        if any(v < 0 for v in table.values()):
            raise DatasetError(f"mapping labels must be >= 0, got {mapping!r}")
        return table
    raise DatasetError(f'mapping must be "binary" or a dict raw value -> label, got {mapping!r}')


def infer_label_map(
    values_per_file: Iterable[tuple[Path, np.ndarray]],
    mapping: dict[int, int] | str | None,
    *,
    num_classes: int | None = None,
    ignore_index: int | None = None,
) -> LabelMap:
    """Choose the :class:`LabelMap` for masks whose distinct raw values are ``values_per_file``.

    Without a mapping: integer labels, with the per-file 0/255 rule (a file of values within ``{0, 255}`` is
    binary, 255 -> 1); ``num_classes = max + 1`` unless given (:func:`segbench.files.raw_labels.infer_num_classes`).
    255 next to other labels in one file is ambiguous and an error (set ``ignore_index=255`` or a mapping).
    Errors name a file that holds the offending values.

    >>> infer_label_map([(Path("a.png"), np.array([0, 255])), (Path("b.png"), np.array([0, 1]))], None)
    LabelMap(mode='identity', num_classes=2, table=None, ignore_index=None)
    >>> infer_label_map([(Path("a.png"), np.array([0, 1, 2]))], None).num_classes
    3
    """
    files = [(path, np.asarray(v)) for path, v in values_per_file]
    if ignore_index is not None:
        files = [(path, v[v != ignore_index]) for path, v in files]
    if mapping == "binary":
        chosen = LabelMap("binary", 2, None, ignore_index)
    elif isinstance(mapping, dict):
        labels = [v for v in mapping.values() if v != ignore_index]
        if num_classes is not None and max(labels, default=0) >= num_classes:
            raise DatasetError(f"mapping {mapping} gives labels >= num_classes={num_classes}")
        chosen = LabelMap("mapping", num_classes or max([*labels, 1]) + 1, mapping, ignore_index)
    else:
        per_file = [(path, frozenset(int(x) for x in v.tolist())) for path, v in files]
        union = set().union(*(v for _, v in per_file))
        inferred = infer_num_classes(v for _, v in per_file)
        stray = [p for p, v in per_file if 255 in v and not is_binary_255(v, num_classes or inferred)]
        if stray and num_classes is None:
            raise DatasetError(
                f"mask file {stray[0]} holds 255 next to other labels {sorted(union - {255})[:10]}: "
                "set ignore_index=255 if 255 marks ignored pixels, or give a mapping"
            )
        negative = [p for p, v in files if v.size and v.min() < 0]
        if negative:
            raise DatasetError(f"mask file {negative[0]} holds negative values; expected labels >= 0")
        chosen = LabelMap("identity", num_classes or inferred, None, ignore_index)
    if chosen.num_classes < 2:
        raise DatasetError(f"num_classes must be >= 2 (background included), got {chosen.num_classes}")
    for path, values in files:  # report the first file with values the map rejects
        chosen.apply(np.asarray(values), path)
    return chosen
