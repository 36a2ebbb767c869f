"""The sweep file: compare's tables (``[dataset] [model] [train] [losses] [eval]``) plus ``[sweep]``::

    [sweep]
    shares = [0.3, 0.1, 0.03, 0.01, 0.003]   # foreground shares, each in (0, 1); the default
    method = "generate"                       # synthetic: generate each share (objects shrink / thin out)
    # method = "crop"; crop_size = 32         # a real dataset: crop each image around its foreground (see
                                              # segbench.data.share_crop) to reach each share
    # method = "subsample"                    # a real dataset: keep the items whose pooled share is nearest
                                              # each share (see segbench.data.share_subsample)

Every share becomes one compare experiment: the base tables with the share set in ``[dataset] options``
(``foreground_share`` for ``synthetic``; ``crop_share`` and ``crop_size`` for ``crop``; ``subsample_share`` for
``subsample``). Its run folder is
``OUT/share-<share>`` (:func:`share_folder`). :func:`share_experiments` lists the (share, config, folder) triples, so
a scheduler can collect every (share, loss, seed) run. An unknown key in ``[sweep]``, a share outside (0, 1), a share
given twice, or a method that does not fit the dataset is a :class:`~segbench.errors.UsageError`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segbench.compare import config as _config
from segbench.data.share_crop import CROP_OPTIONS
from segbench.data.share_subsample import SUBSAMPLE_OPTION
from segbench.errors import UsageError

__all__ = ["DEFAULT_SHARES", "METHODS", "SWEEP_KEYS", "ShareExperiment", "SweepConfig", "load_sweep",
           "resolve_sweep", "share_experiments", "share_folder"]

DEFAULT_SHARES = (0.3, 0.1, 0.03, 0.01, 0.003)
"""The default foreground shares of a sweep (30% down to 0.3%)."""
METHODS = ("generate", "crop", "subsample")
SWEEP_KEYS = {"shares": "foreground shares in (0, 1)",
              "method": "generate (synthetic), crop or subsample (a real dataset)",
              "crop_size": "crop: the crop's size, an int or [H, W]"}
SHARE_OPTION = "foreground_share"
"""The synthetic dataset's option that a ``generate`` sweep sets."""


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: the shares (largest first), how each is reached, and the base tables (raw, unresolved)."""

    shares: tuple[float, ...]
    method: str
    crop_size: tuple[int, int] | None
    base: dict[str, Any]


@dataclass(frozen=True)
class ShareExperiment:
    """One share of a sweep: its resolved compare experiment and the run folder it fills."""

    share: float
    config: _config.ExperimentConfig
    folder: Path


def share_folder(out: str | Path, share: float) -> Path:
    """``OUT/share-<share>``, the share written with ``%g``.

    >>> share_folder("SWEEP", 0.003).as_posix(), share_folder("SWEEP", 0.3).name
    ('SWEEP/share-0.003', 'share-0.3')
    """
    return Path(out) / f"share-{share:g}"


def _shares(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"[sweep] shares must be a non-empty list of numbers in (0, 1), got {value!r}")
    shares = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 < v < 1.0:
            raise UsageError(f"[sweep] shares must be numbers in (0, 1) (a share of the pixels), got {v!r}")
        shares.append(float(v))
    if len({f"{s:g}" for s in shares}) != len(shares):
        raise UsageError(f"[sweep] shares lists a share twice: {shares}")
    return tuple(sorted(shares, reverse=True))


def _crop_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 2 for v in value)):
        raise UsageError(f"[sweep] crop_size must be an integer >= 2 or [H, W], got {value!r}")
    return int(value[0]), int(value[1])


def resolve_sweep(raw: Mapping[str, Any]) -> SweepConfig:
    """Validate the ``[sweep]`` table of ``raw`` (the whole file's tables) and every share's experiment.

    >>> s = resolve_sweep({"dataset": {"spec": "synthetic"}, "sweep": {"shares": [0.01, 0.1]}})
    >>> s.shares, s.method
    ((0.1, 0.01), 'generate')
    >>> resolve_sweep({"sweep": {"share": [0.1]}})
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: unknown key 'share' in [sweep]; valid keys: crop_size, method, shares
    """
    tables = copy.deepcopy(dict(raw))
    table = tables.pop("sweep", {})
    if not isinstance(table, Mapping):
        raise UsageError(f"[sweep] must be a table of keys, got {table!r}")
    for key in table:
        if key not in SWEEP_KEYS:
            raise UsageError(f"unknown key {key!r} in [sweep]; valid keys: {', '.join(sorted(SWEEP_KEYS))}")
    shares = _shares(table.get("shares", list(DEFAULT_SHARES)))
    base = _config.resolve(tables)  # the compare tables' own errors first
    synthetic = base.dataset.spec.strip().lower() == "synthetic"
    method = table.get("method", "generate" if synthetic else None)
    if method is None:
        raise UsageError(f"[sweep] method: dataset {base.dataset.spec!r} is not synthetic, so its shares are reached "
                         'by cropping or subsampling: set method = "crop" and crop_size, or method = "subsample"')
    if method not in METHODS:
        raise UsageError(f"[sweep] method must be one of {list(METHODS)}, got {method!r}")
    options = base.dataset.options
    if method == "generate":
        if not synthetic:
            raise UsageError(f'[sweep] method = "generate" needs the synthetic dataset, got {base.dataset.spec!r}; '
                             'use method = "crop" or "subsample" for a real dataset')
        if "crop_size" in table:
            raise UsageError('[sweep] crop_size is for method = "crop" only')
        taken = sorted({SHARE_OPTION, "foreground_fraction"} & set(options))
        crop = None
    elif method == "subsample":
        if "crop_size" in table:
            raise UsageError('[sweep] crop_size is for method = "crop" only')
        taken = sorted({SUBSAMPLE_OPTION} & set(options))
        crop = None
    else:
        if "crop_size" not in table:
            raise UsageError('[sweep] method = "crop" needs crop_size (an integer or [H, W])')
        crop = _crop_size(table["crop_size"])
        size = base.dataset.image_size
        if size is not None and (crop[0] > size[0] or crop[1] > size[1]):
            raise UsageError(f"[sweep] crop_size {list(crop)} is larger than [dataset] image_size {list(size)}")
        taken = sorted(set(CROP_OPTIONS) & set(options))
    if taken:
        raise UsageError(f"[dataset] options {taken}: the sweep sets these itself, one value per share; remove them")
    sweep = SweepConfig(shares, method, crop, tables)
    for share in shares:  # every share's experiment resolves (its options are checked when its data load)
        _share_config(sweep, share)
    return sweep


def _share_config(sweep: SweepConfig, share: float) -> _config.ExperimentConfig:
    tables = copy.deepcopy(sweep.base)
    dataset = tables.setdefault("dataset", {})
    options = dict(dataset.get("options", {}))
    if sweep.method == "generate":
        options[SHARE_OPTION] = share
    elif sweep.method == "subsample":
        options[SUBSAMPLE_OPTION] = share
    else:
        options.update(crop_share=share, crop_size=list(sweep.crop_size or ()))
    dataset["options"] = options
    return _config.resolve(tables)


def share_experiments(sweep: SweepConfig, out: str | Path) -> list[ShareExperiment]:
    """Every share's experiment and run folder, largest share first: what a scheduler collects runs from.

    >>> s = resolve_sweep({"dataset": {"spec": "synthetic"}, "sweep": {"shares": [0.1, 0.01]}})
    >>> [(e.share, e.folder.name, e.config.dataset.options["foreground_share"]) for e in share_experiments(s, "S")]
    [(0.1, 'share-0.1', 0.1), (0.01, 'share-0.01', 0.01)]
    """
    return [ShareExperiment(s, _share_config(sweep, s), share_folder(out, s)) for s in sweep.shares]


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate the sweep file ``path`` (:func:`segbench.compare.config.load`'s errors for the file)."""
    return resolve_sweep(_config.load(path))
