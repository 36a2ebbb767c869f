"""Score saved predictions against ground truth on disk: the engine behind ``segbench evaluate``.

Three passes, the first two before any score is computed:

1. **Pair** the two folders by file stem (:func:`~segbench.files.pairing.pair_by_stem`): missing and
   extra files are listed by name.
2. **Check** every case (reading in parallel): both files read, their shapes match, their values are labels
   (given the class count). Every problem of every case is collected and raised together, each naming its
   file(s). The class count is
   fixed here (given, or inferred as described in :mod:`segbench.files.raw_labels`) and each case's
   spacing is resolved: ``--spacing`` if given, else the ground truth's header spacing (NIfTI), else the
   prediction's, else none (distances in pixels). Headers that disagree are an error.
3. **Score** every case on every metric (in parallel), through :func:`segbench.scoring.score_label_maps`,
   the one place where "score a pair of label maps on every metric" is written. With ``jobs=1`` the cases that
   pass 2 read are kept for it (:class:`ReadAhead`, bounded), so one process reads each file once.

The result has one row per (case, class): the scores, plus the reference and prediction sizes (pixel or
voxel counts) that tell empty references and misses apart, and, where object metrics are scored, the object
counts (reference objects, predicted objects, matched references). Results do not depend on ``jobs``.

Optional folders, paired with the ground truth by stem like the predictions: ``probabilities_dir`` (probability
maps, :func:`segbench.files.probability_maps.read_probability_map`: the probability metrics ECE, Brier, NLL,
AP, soft volume bias are scored from them beside the hard-label metrics) and ``instances_dir`` (reference
instance label maps: the object metrics match the predicted components against these true instances instead
of the ground truth's components). ``objects=True`` keeps one row per object (:attr:`Evaluation.objects`).

Under ``torchrun`` (:mod:`segbench.distributed`) passes 2 and 3 are spread over the ranks: rank ``r`` of ``W``
checks and scores cases ``r, r + W, ...`` (with ``jobs`` workers of its own), and the results and errors come
back to every rank in case order, so every rank takes the same decisions and raises the same errors, and the
rows equal those of one process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from segbench import distributed
from segbench.errors import UsageError
from segbench.evaluate.parallel import check_jobs, ordered_map
from segbench.files.masks import MaskFile, read_mask_file
from segbench.files.orientation import align_to_reference
from segbench.files.pairing import MAX_LISTED, Case, pair_by_stem
from segbench.files.probability_maps import read_probability_map
from segbench.files.raw_labels import (
    apply_label_map,
    check_dense,
    check_values,
    distinct_values,
    infer_num_classes,
    labels_from_raw,
)
from segbench.metrics import catalogue
from segbench.scoring import check_metric_names, object_matches, score_label_maps

__all__ = [
    "CaseCheck", "CheckTask", "Evaluation", "ScoreTask", "evaluate_folders", "format_spacing", "read_pair",
    "resolve_spacing", "score_case",
]

T = TypeVar("T")
R = TypeVar("R")

SIZE_COLUMNS = ("reference_size", "prediction_size")
"""Per (case, class): pixels (voxels) of the class in the ground truth and in the prediction."""
OBJECT_COLUMNS = ("reference_objects", "predicted_objects", "matched_objects")
"""Per (case, foreground class), where object metrics are scored: reference objects (components or true
instances), predicted components, and reference objects matched (IoU > 0.5)."""
OBJECT_CSV_COLUMNS = ("case", "class", "side", "id", "size", "status", "iou", "dice")
"""The per-object CSV (``--objects-csv``): one row per reference and predicted object (TP / FN / FP)."""


@dataclass(frozen=True)
class CaseCheck:
    """What pass 2 learns about a case without scoring it."""

    case: Case
    shape: tuple[int, ...]
    pred_values: frozenset[int]
    truth_values: frozenset[int]
    pred_spacing: tuple[float, ...] | None
    truth_spacing: tuple[float, ...] | None
    reoriented: str | None = None


@dataclass(frozen=True)
class ScoreTask:
    """Everything a worker needs to score one case (picklable)."""

    case: Case
    num_classes: int
    class_names: tuple[str, ...]
    spacing: tuple[float, ...] | None
    metrics: tuple[str, ...]
    nsd_tolerance: float
    ignore_index: int | None
    surface: str = "voxel"
    percentile_rule: str = "directed"
    label_map: tuple[tuple[int, int], ...] = ()
    probabilities: Path | None = None
    instances: Path | None = None
    objects: bool = False
    include_background: bool = True
    pred_values: frozenset[int] | None = None
    """The prediction's distinct values as pass 2 found them (``None``: counted again when scoring)."""
    truth_values: frozenset[int] | None = None
    """The same for the ground truth."""


@dataclass
class Evaluation:
    """The scores of every case: ``rows`` has one dict per (case, class), columns ``columns``; ``objects`` one
    dict per object (``OBJECT_CSV_COLUMNS``) when asked for."""

    cases: list[str]
    num_classes: int
    class_names: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]
    spacings: dict[str, tuple[float, ...] | None]
    spacing_source: str
    notes: list[str] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """CSV column order: ``case, class_index, class``, ``spacing`` (when any case has one: ``Z x Y x X`` at
        its own precision, e.g. ``2.5x0.8x0.8``), the two sizes, the object counts (where object metrics are
        scored), then one column per metric."""
        spacing = ["spacing"] if any(s is not None for s in self.spacings.values()) else []
        counts = list(OBJECT_COLUMNS) if _has_objects(self.metrics) else []
        return ["case", "class_index", "class", *spacing, *SIZE_COLUMNS, *counts, *self.metrics]


def _has_objects(metrics: Sequence[str]) -> bool:
    return any(catalogue.get_entry(m).family == "object" for m in metrics)


@dataclass(frozen=True)
class CheckTask:
    """Everything a worker needs to check one case (picklable)."""

    case: Case
    label_map: tuple[tuple[int, int], ...] = ()
    keep: bool = False
    """Keep the case read for pass 3 (:class:`ReadAhead`): one process scores it without reading it again."""


Pair = tuple[np.ndarray, "tuple[float, ...] | None", MaskFile, "str | None"]


class ReadAhead:
    """The cases pass 2 read, kept for pass 3 in this process up to :data:`READ_AHEAD_BYTES`, each array in the
    smallest unsigned type that holds its labels (a 3-class volume: 1 byte a voxel, not int64's 8), least
    recently read first out; a case not kept is read again. Scores are unchanged: the arrays come back as the
    int64 they were read as."""

    def __init__(self, budget: int) -> None:
        self.budget, self.used = int(budget), 0
        self._kept: OrderedDict[tuple[Any, ...], tuple[Pair, int]] = OrderedDict()

    @staticmethod
    def key(case: Case, label_map: tuple[tuple[int, int], ...]) -> tuple[Any, ...]:
        return case.name, str(case.pred), str(case.truth), label_map

    @staticmethod
    def _compact(array: np.ndarray, values: frozenset[int]) -> np.ndarray:
        if values and min(values) >= 0 and max(values) < 256:
            return array.astype(np.uint8)
        if values and min(values) >= 0 and max(values) < 65536:
            return array.astype(np.uint16)
        return array

    def put(self, key: tuple[Any, ...], pair: Pair, pred_values: frozenset[int], truth_values: frozenset[int]) -> None:
        pred, spacing, truth, reoriented = pair
        small = (self._compact(pred, pred_values), spacing,
                 MaskFile(truth.path, self._compact(truth.array, truth_values), truth.spacing, truth.affine),
                 reoriented)
        size = small[0].nbytes + small[2].array.nbytes
        if size > self.budget:
            return
        self._kept[key] = (small, size)
        self.used += size
        while self.used > self.budget:
            _, (_, freed) = self._kept.popitem(last=False)
            self.used -= freed

    def pop(self, key: tuple[Any, ...]) -> Pair | None:
        found = self._kept.pop(key, None)
        if found is None:
            return None
        (pred, spacing, truth, reoriented), size = found
        self.used -= size
        return (pred.astype(np.int64), spacing,
                MaskFile(truth.path, truth.array.astype(np.int64), truth.spacing, truth.affine), reoriented)

    def clear(self) -> None:
        self._kept.clear()
        self.used = 0


READ_AHEAD_BYTES = 256 << 20
"""What one process keeps of pass 2's reads for pass 3 (``segbench evaluate --jobs 1``)."""
READ_AHEAD = ReadAhead(READ_AHEAD_BYTES)


def read_pair(
    case: Case, label_map: tuple[tuple[int, int], ...] = ()
) -> tuple[np.ndarray, tuple[float, ...] | None, MaskFile, str | None]:
    """Read a case: the prediction's stored values on the ground truth's grid and its header spacing on that
    grid, the ground truth, and the reorientation applied (``"LAS -> RAS"``) or ``None``.

    ``--label-map`` is applied to both files as read. Two NIfTI files have their affines compared
    (:func:`segbench.files.orientation.align_to_reference`: same grid, reoriented, or an error); otherwise
    the shapes must match.

    Args:
        case: the prediction and ground-truth files.
        label_map: ``(stored value, label)`` pairs applied to both files.
    """
    pred, truth = read_mask_file(case.pred), read_mask_file(case.truth)
    mapping = dict(label_map)
    pred_array, pred_spacing, reoriented = apply_label_map(pred.array, mapping), pred.spacing, None
    truth = MaskFile(truth.path, apply_label_map(truth.array, mapping), truth.spacing, truth.affine)
    if pred.affine is not None and truth.affine is not None:
        aligned = align_to_reference(pred_array, pred.affine, tuple(truth.array.shape), truth.affine,
                                     pred_path=case.pred, truth_path=case.truth)
        pred_array, reoriented = aligned.array, aligned.reoriented
        same_zooms = pred.spacing is not None and truth.spacing is not None and np.allclose(
            sorted(pred.spacing), sorted(truth.spacing), rtol=1e-4, atol=0.0)
        if reoriented is not None and same_zooms:  # the zooms, permuted with the axes, are the reference's
            pred_spacing = truth.spacing
    elif pred_array.shape != truth.array.shape:
        raise UsageError(
            f"shape mismatch in case {case.name!r}: prediction {case.pred} is {tuple(pred_array.shape)} but "
            f"ground truth {case.truth} is {tuple(truth.array.shape)}"
        )
    return pred_array, pred_spacing, truth, reoriented


def check_case(task: CheckTask | Case) -> CaseCheck:
    """Pass 2 for one case: read both files, put them on one grid, collect their distinct values."""
    if isinstance(task, Case):
        task = CheckTask(task)
    case = task.case
    pair = read_pair(case, task.label_map)
    pred_array, pred_spacing, truth, reoriented = pair
    pred_values, truth_values = distinct_values(pred_array), distinct_values(truth.array)
    if task.keep:
        READ_AHEAD.put(ReadAhead.key(case, task.label_map), pair, pred_values, truth_values)
    return CaseCheck(case, tuple(truth.array.shape), pred_values, truth_values, pred_spacing, truth.spacing,
                     reoriented)


def _zyx(ndim: int) -> str:
    return "Z,Y,X" if ndim == 3 else "Y,X"


def resolve_spacing(
    check: CaseCheck, given: Sequence[float] | None, *, override: bool = False
) -> tuple[tuple[float, ...] | None, str]:
    """The spacing of a case (array axis order) and where it came from: ``given``, ``header``, ``override``
    (given, replacing a header that says otherwise) or ``none``.

    A given spacing that disagrees with the header is an error unless ``override``; when it is the header's
    spacing in reverse (NIfTI's ``get_zooms()`` order, x, y, z) the error says so.

    Args:
        check: the case's shapes and header spacings.
        given: ``--spacing`` in array axis order, or ``None``.
        override: whether ``given`` may replace a header spacing that differs (``--override-spacing``).

    >>> c = CaseCheck(Case("a", Path("p.nii"), Path("t.nii")), (4, 5, 6), frozenset(), frozenset(),
    ...               None, (2.0, 1.0, 1.0))
    >>> resolve_spacing(c, None), resolve_spacing(c, [2.0, 1.0, 1.0]), resolve_spacing(c, [3, 1, 1], override=True)
    (((2.0, 1.0, 1.0), 'header'), ((2.0, 1.0, 1.0), 'given'), ((3.0, 1.0, 1.0), 'override'))
    """
    ndim = len(check.shape)
    pred, truth = check.pred_spacing, check.truth_spacing
    header = truth if truth is not None else pred
    if given is not None:
        if len(given) != ndim:
            raise UsageError(
                f"--spacing has {len(given)} value(s) but case {check.case.name!r} is {ndim}D "
                f"(shape {check.shape}); give {ndim} values in array axis order ({_zyx(ndim)})"
            )
        spacing = tuple(float(s) for s in given)
        if header is None or np.allclose(spacing, header, rtol=1e-4, atol=0.0):
            return spacing, "given"
        if override:
            return spacing, "override"
        source = check.case.truth if truth is not None else check.case.pred
        reverse = (" (that is the header's spacing in x,y,z order, as nibabel's get_zooms() prints it; "
                   f"--spacing takes {_zyx(ndim)})" if np.allclose(spacing[::-1], header, rtol=1e-4, atol=0) else "")
        raise UsageError(
            f"--spacing {format_spacing(spacing, sep=',')} ({_zyx(ndim)}) disagrees with the header of {source}: "
            f"{format_spacing(header, sep=',')} ({_zyx(ndim)}){reverse}; leave --spacing out to use the header, "
            "or add --override-spacing to replace it"
        )
    if pred is not None and truth is not None and not np.allclose(pred, truth, rtol=1e-4, atol=0.0):
        raise UsageError(
            f"header spacing differs in case {check.case.name!r}: prediction {check.case.pred} has {pred} but "
            f"ground truth {check.case.truth} has {truth}; resample one, or give --spacing"
        )
    return (header, "header") if header is not None else (None, "none")


def format_spacing(spacing: Sequence[float] | None, sep: str = "x") -> str:
    """A spacing at the precision it has (``2.5x0.8x0.8``; shortest round-trip digits), ``""`` for none.

    Args:
        spacing: the spacing in array axis order, or ``None``.
        sep: the separator between axes.

    >>> format_spacing((2.5, 0.8, 0.8)), format_spacing([1.0, 0.5], sep=","), format_spacing(None)
    ('2.5x0.8x0.8', '1.0,0.5', '')
    """
    if spacing is None:
        return ""
    return sep.join(repr(float(s)) for s in spacing)


def _read_instances(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    inst = read_mask_file(path).array
    if inst.shape != shape:
        raise UsageError(f"shape mismatch: instance map {path} is {tuple(inst.shape)} but its ground truth is {shape}")
    if inst.min() < 0:
        raise UsageError(f"instance map {path} holds negative ids; expected 0 (background) and object ids > 0")
    return inst


def score_case(task: ScoreTask) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pass 3 for one case: rows ``{case, class_index, class, reference_size, prediction_size, metric...}``,
    and the per-object rows (empty unless ``task.objects``).

    One row per scored class (binary data: the foreground only), plus a row of class ``all`` (empty index and
    sizes) for the metrics defined over all classes at once (``pixel_accuracy``). Where object metrics are
    scored, each foreground class row also holds the object counts (``OBJECT_COLUMNS``).
    """
    case = task.case
    pred_array, _, truth_file, _ = READ_AHEAD.pop(ReadAhead.key(case, task.label_map)) or read_pair(
        case, task.label_map)
    pred = labels_from_raw(pred_array, case.pred, num_classes=task.num_classes, values=task.pred_values)
    truth = labels_from_raw(truth_file.array, truth_file.path, num_classes=task.num_classes,
                            ignore_index=task.ignore_index, values=task.truth_values)
    probs = None if task.probabilities is None else \
        torch.from_numpy(read_probability_map(task.probabilities, truth.shape, task.num_classes))[None]
    inst = None if task.instances is None else torch.from_numpy(_read_instances(task.instances, truth.shape))[None]
    p, t = torch.from_numpy(pred)[None], torch.from_numpy(truth)[None]
    try:
        scored = score_label_maps(
            p, t, num_classes=task.num_classes,
            binary=task.num_classes == 2, class_names=list(task.class_names), image_ids=[case.name],
            spacing=task.spacing, metrics=list(task.metrics),
            nsd_tolerance=task.nsd_tolerance, ignore_index=task.ignore_index, surface=task.surface,
            percentile_rule=task.percentile_rule, probabilities=probs, instances=inst,
            include_background=task.include_background,
        )
    except ValueError as exc:  # probabilities that do not fit the labels: name the case
        raise UsageError(f"case {case.name!r}: {exc}") from None
    counts: dict[int, dict[str, int]] = {}
    object_rows: list[dict[str, Any]] = []
    if _has_objects(task.metrics) or task.objects:
        matches = object_matches(p, t, num_classes=task.num_classes, instances=inst,
                                 ignore_index=task.ignore_index, spacing=task.spacing)
        c = matches.counts()
        for j, k in enumerate(matches.classes):
            counts[k] = {"reference_objects": int(c["n_ref"][0, j]), "predicted_objects": int(c["n_pred"][0, j]),
                         "matched_objects": int(c["tp_ref"][0, j])}
        if task.objects:
            object_rows = [{**row, "case": case.name, "class": task.class_names[row["class"]]}
                           for row in matches.rows(physical=task.spacing is not None)]
    flat_t, flat_p = truth.ravel(), pred.ravel()
    if task.ignore_index is not None:
        keep = flat_t != task.ignore_index
        flat_t, flat_p = flat_t[keep], flat_p[keep]
    ref_sizes = np.bincount(flat_t, minlength=task.num_classes)  # voxels per class, ignored ones left out
    got_sizes = np.bincount(flat_p, minlength=task.num_classes)
    by_class: dict[str, dict[str, Any]] = {}
    for row in scored:
        name = str(row["class"])
        if name not in by_class:
            if name in task.class_names:
                k = task.class_names.index(name)
                ref, got = int(ref_sizes[k]), int(got_sizes[k])
                by_class[name] = {"case": case.name, "class_index": k, "class": name,
                                  "spacing": format_spacing(task.spacing),
                                  "reference_size": ref, "prediction_size": got, **counts.get(k, {})}
            else:  # a metric over all classes at once
                by_class[name] = {"case": case.name, "class_index": "", "class": name,
                                  "spacing": format_spacing(task.spacing),
                                  "reference_size": "", "prediction_size": ""}
        by_class[name][str(row["metric"])] = float(row["value"])
    return list(by_class.values()), object_rows


def _spread_map(
    fn: Callable[[T], R], items: Sequence[T], *, jobs: int, desc: str, progress: bool
) -> tuple[list[R | None], list[tuple[int, UsageError]]]:
    """:func:`~segbench.evaluate.parallel.ordered_map` over this rank's share of ``items``; the results and the
    errors of every rank, gathered to every rank in item order (one process: ``ordered_map`` itself)."""
    if distributed.world_size() == 1:
        return ordered_map(fn, items, jobs=jobs, desc=desc, progress=progress)
    share = distributed.shard_indices(len(items))
    local, errors = ordered_map(fn, [items[i] for i in share], jobs=jobs, desc=desc,
                                progress=progress and distributed.is_main())
    failed = dict(errors)
    outcome = distributed.gather_in_order([(r, failed.get(k)) for k, r in enumerate(local)], share, len(items),
                                          to_all=True)
    pairs = outcome if outcome is not None else []
    return [r for r, _ in pairs], [(i, e) for i, (_, e) in enumerate(pairs) if e is not None]


def _raise_collected(errors: list[tuple[int, UsageError]], what: str) -> None:
    if not errors:
        return
    shown = "; ".join(str(e) for _, e in errors[:MAX_LISTED])
    more = f"; ... ({len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
    raise UsageError(f"{len(errors)} case(s) failed {what}: {shown}{more}")


def default_class_names(num_classes: int) -> list[str]:
    """``background, foreground`` for two classes, else ``background, class1, class2, ...``.

    >>> default_class_names(2), default_class_names(3)
    (['background', 'foreground'], ['background', 'class1', 'class2'])
    """
    if num_classes == 2:
        return ["background", "foreground"]
    return ["background", *(f"class{k}" for k in range(1, num_classes))]


def evaluate_folders(
    pred_dir: Path,
    truth_dir: Path,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    spacing: Sequence[float] | None = None,
    metrics: Sequence[str] | None = None,
    nsd_tolerance: float = 1.0,
    ignore_index: int | None = None,
    label_map: dict[int, int] | None = None,
    override_spacing: bool = False,
    pred_suffix: str | None = None,
    truth_suffix: str | None = None,
    jobs: int = 1,
    progress: bool = False,
    surface: str = "voxel",
    percentile_rule: str = "directed",
    probabilities_dir: Path | None = None,
    instances_dir: Path | None = None,
    objects: bool = False,
    include_background: bool = True,
) -> Evaluation:
    """Pair, check and score every case of ``pred_dir`` against ``truth_dir`` (see the module docstring).

    Raises :class:`UsageError` (listing every problem by file name) before scoring when any case is bad.
    ``surface`` and ``percentile_rule`` choose the distance metrics' definitions (see
    :mod:`segbench.metrics.distance`: ``"voxel"``/``"directed"`` MONAI, ``"voxel"``/``"pooled"`` MedPy,
    ``"surfel"`` surface-distance).

    ``label_map`` maps stored values to labels in both folders (``ignore_index`` is a value after mapping);
    ``override_spacing`` lets ``spacing`` replace header spacings that differ; ``pred_suffix`` and
    ``truth_suffix`` are stripped from file stems before pairing (:func:`~segbench.files.pairing.pair_by_stem`).
    ``include_background=False`` scores the foreground classes only (class 0 gets no rows and no surface).
    """
    if surface not in ("voxel", "surfel"):
        raise UsageError(f"--surface must be voxel or surfel, got {surface!r}")
    if percentile_rule not in ("directed", "pooled"):
        raise UsageError(f"--percentile-rule must be directed or pooled, got {percentile_rule!r}")
    jobs = check_jobs(jobs)
    if num_classes is not None and (isinstance(num_classes, bool) or num_classes < 2):
        raise UsageError(f"--num-classes must be an integer >= 2 (background included), got {num_classes!r}")
    if spacing is not None and not all(np.isfinite(s) and s > 0 for s in spacing):
        raise UsageError(f"--spacing must hold positive numbers, got {list(spacing)}")
    if nsd_tolerance < 0 or not np.isfinite(nsd_tolerance):
        raise UsageError(f"--nsd-tolerance must be a finite number >= 0, got {nsd_tolerance!r}")
    try:
        metric_names = check_metric_names(metrics, probabilities=probabilities_dir is not None)
    except ValueError as exc:
        raise UsageError(f"--metrics: {exc}") from None
    if override_spacing and spacing is None:
        raise UsageError("--override-spacing needs --spacing (the spacing that replaces the headers')")
    mapped = tuple(sorted((label_map or {}).items()))
    pairing = pair_by_stem(pred_dir, truth_dir, pred_suffix=pred_suffix, truth_suffix=truth_suffix)
    notes = [] if pairing.note is None else [pairing.note]
    extra: dict[str, dict[str, Path]] = {}
    for flag, folder in (("--probabilities", probabilities_dir), ("--instances", instances_dir)):
        if folder is not None:
            try:
                extra[flag] = {c.name: c.pred for c in pair_by_stem(folder, truth_dir, pred_suffix=pred_suffix,
                                                                   truth_suffix=truth_suffix).cases}
            except UsageError as exc:
                raise UsageError(f"{flag} {folder}: {exc}") from None
    if pairing.skipped:
        skipped = ", ".join(p.name for p in pairing.skipped[:MAX_LISTED])
        notes.append(f"skipped {len(pairing.skipped)} file(s) of other types: {skipped}")
    cases = pairing.cases
    READ_AHEAD.clear()
    keep = jobs == 1  # in this process: pass 3 finds what pass 2 read (workers would each keep their own)
    checked, errors = _spread_map(check_case, [CheckTask(c, mapped, keep) for c in cases], jobs=jobs,
                                  desc="checking", progress=progress)
    if errors:
        READ_AHEAD.clear()
    _raise_collected(errors, "the checks")
    checks = [c for c in checked if c is not None]
    reoriented = [c for c in checks if c.reoriented is not None]
    if reoriented:
        kinds = sorted({str(c.reoriented) for c in reoriented})
        names_shown = ", ".join(c.case.name for c in reoriented[:MAX_LISTED])
        notes.append(f"reoriented {len(reoriented)} prediction(s) to their ground truth's axes "
                     f"({'; '.join(kinds)}; same world grid, voxels moved, not resampled): {names_shown}"
                     + (" ..." if len(reoriented) > MAX_LISTED else ""))
    if num_classes is None:
        truth_values = [c.truth_values - {ignore_index} for c in checks]
        num_classes = infer_num_classes([c.pred_values for c in checks] + truth_values)
        check_dense([c.pred_values for c in checks] + truth_values, num_classes)
        if num_classes > 2:
            notes.append(f"--num-classes not given: {num_classes} classes inferred (largest label + 1)")
    names = list(class_names) if class_names is not None else default_class_names(num_classes)
    if len(names) != num_classes or len(set(names)) != len(names):
        raise UsageError(f"--class-names must give {num_classes} distinct names, got {names}")
    spacings: dict[str, tuple[float, ...] | None] = {}
    sources: set[str] = set()
    case_errors: list[tuple[int, UsageError]] = []
    for i, check in enumerate(checks):
        try:
            check_values(check.pred_values, check.case.pred, num_classes=num_classes)
            check_values(check.truth_values, check.case.truth, num_classes=num_classes, ignore_index=ignore_index)
            spacings[check.case.name], source = resolve_spacing(check, spacing, override=override_spacing)
            sources.add(source)
        except UsageError as exc:
            case_errors.append((i, exc))
    _raise_collected(case_errors, "the label and spacing checks")
    if "override" in sources:
        notes.append(f"--spacing {format_spacing(spacing, sep=',')} replaces header spacings that differ "
                     "(--override-spacing)")
    tasks = [
        ScoreTask(c.case, num_classes, tuple(names), spacings[c.case.name], tuple(metric_names),
                  float(nsd_tolerance), ignore_index, surface=surface, percentile_rule=percentile_rule,
                  label_map=mapped, probabilities=extra.get("--probabilities", {}).get(c.case.name),
                  instances=extra.get("--instances", {}).get(c.case.name), objects=objects,
                  include_background=include_background, pred_values=c.pred_values,
                  truth_values=c.truth_values)
        for c in checks
    ]
    try:
        scored, errors = _spread_map(score_case, tasks, jobs=jobs, desc="scoring", progress=progress)
    finally:
        READ_AHEAD.clear()
    _raise_collected(errors, "scoring")
    rows = [row for case_rows in scored if case_rows is not None for row in case_rows[0]]
    object_rows = [row for case_rows in scored if case_rows is not None for row in case_rows[1]]
    return Evaluation(
        [c.case.name for c in checks], num_classes, names, metric_names, rows, spacings,
        "+".join(sorted(sources)), notes, object_rows,
    )
