"""Profile a dataset's masks for ``segbench inspect``: imbalance, objects, sizes, and trivial-predictor scores.

What is measured, on the masks at their native size (ignored pixels excluded everywhere):

* class pixel shares, pooled over the dataset and as the mean of per-image shares;
* the per-image foreground share (every non-background class together) and its distribution;
* connected components of each non-background class (8-connectivity in 2D, i.e. the full neighbourhood
  ``scipy.ndimage.generate_binary_structure(ndim, ndim)``, as ``skimage.measure.label``'s default), per image,
  and their sizes in pixels;
* the boundary share of each class: the share of its pixels that touch another label (the mask minus its
  4-neighbour erosion; the image border counts as another label);
* the elongation of each object, ``boundary pixels**2 / (4 * pixels)`` (an isoperimetric ratio: about 3 for
  a disc, 4 for a square, length / width for a long strip), and per class its pixel-weighted median:
  half of the class's pixels lie in objects at least that elongated. Membranes and vessels score tens to
  thousands, blobs single digits;
* the share of images where each class is absent (an empty reference for that class);
* image sizes;
* what the trivial predictors of :func:`segbench.trivial.trivial_predictions` (all background, all
  foreground, majority class) score on every metric of :mod:`segbench.scoring`: the mean of per-image scores
  (NaN excluded and counted, ``inf`` kept and counted, as :func:`segbench.stats.summarize`) and the
  dataset-level (pooled) score of the count metrics. The predictors' classes come from the inspected
  split's own pixel counts (:func:`segbench.trivial.trivial_classes`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from segbench.data.dataset import SegmentationDataset
from segbench.scoring import check_metric_names, pooled_scores, score_label_maps
from segbench.stats import summarize
from segbench.trivial import TRIVIAL_PREDICTORS, background_index, trivial_classes, trivial_predictions

__all__ = [
    "ClassProfile",
    "DatasetProfile",
    "Distribution",
    "TrivialScore",
    "inspect_dataset",
    "profile_masks",
    "score_trivial_predictors",
]


@dataclass(frozen=True)
class Distribution:
    """Summary of a sample: ``n``, mean, median, 10th and 90th percentile, min and max (NaN when empty).

    >>> Distribution.of([1, 2, 3, 4]).median
    2.5
    """

    n: int
    mean: float
    median: float
    q10: float
    q90: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Distribution:
        """The distribution of ``values`` (percentiles with numpy's linear interpolation)."""
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if x.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan, nan)
        q10, median, q90 = np.percentile(x, [10, 50, 90])
        return cls(int(x.size), float(x.mean()), float(median), float(q10), float(q90), float(x.min()), float(x.max()))


@dataclass(frozen=True)
class ClassProfile:
    """One class: its pixel share (pooled and per-image mean), absence, objects and boundary share.

    Components, sizes, ``boundary_share`` and ``elongation`` are measured for non-background classes only
    (empty or NaN otherwise).
    """

    index: int
    name: str
    pixels: int
    pixel_share: float
    mean_image_share: float
    images_absent: int
    absent_share: float
    components_per_image: Distribution
    component_sizes: Distribution
    boundary_share: float
    elongation: float


@dataclass(frozen=True)
class TrivialScore:
    """What one trivial predictor (painting every pixel ``predicted_class``) scores on one metric and class.

    ``mean``, ``median``, ``n_nan``, ``n_inf`` describe the per-image scores (``n`` images); ``pooled`` is the
    dataset-level score (count metrics only, else ``None``).
    """

    predictor: str
    predicted_class: str
    scored_class: str
    metric: str
    n: int
    mean: float
    median: float
    n_nan: int
    n_inf: int
    pooled: float | None


@dataclass
class DatasetProfile:
    """Everything ``segbench inspect`` measures about a dataset (see the module docstring)."""

    name: str
    num_images: int
    num_classes: int
    class_names: list[str]
    background: int
    ignore_index: int | None
    ignored_share: float
    image_sizes: list[tuple[tuple[int, ...], int]]
    foreground_share: Distribution
    pooled_foreground_share: float
    images_without_foreground: int
    classes: list[ClassProfile]
    connectivity: str
    trivial: list[TrivialScore] = field(default_factory=list)

    def class_profile(self, name: str) -> ClassProfile:
        """The profile of the class called ``name``."""
        return next(c for c in self.classes if c.name == name)

    def trivial_score(self, predictor: str, metric: str, scored_class: str) -> TrivialScore | None:
        """The trivial score of ``predictor`` on ``metric`` for ``scored_class``, if it was computed."""
        for t in self.trivial:
            if t.predictor == predictor and t.metric == metric and t.scored_class == scored_class:
                return t
        return None


def _objects(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per connected component (full connectivity) of a bool mask: its pixels and its boundary pixels.

    A boundary pixel has a face neighbour outside the mask; the image border counts as outside.
    """
    labels, count = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, mask.ndim))
    if count == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)
    sizes = np.bincount(labels.reshape(-1), minlength=count + 1)[1:]
    edges = np.bincount(labels[mask & ~eroded], minlength=count + 1)[1:]
    return sizes, edges


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight first reaches half the total (NaN when empty)."""
    if values.size == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def profile_masks(
    masks: Sequence[np.ndarray],
    *,
    class_names: Sequence[str],
    ignore_index: int | None = None,
    name: str = "",
) -> DatasetProfile:
    """Measure ``masks`` (label maps, one per image, any sizes; 2D or 3D) as the module docstring says.

    .. math:: \\text{foreground share}_i = \\frac{|\\{x : y_i(x) \\notin \\{b, \\text{ignore}\\}\\}|}
              {|\\{x : y_i(x) \\ne \\text{ignore}\\}|}

    with :math:`b` the background class (:func:`segbench.trivial.background_index`).

    >>> m = np.zeros((4, 6), dtype=np.int64); m[0, 0] = m[2:4, 2:4] = 1
    >>> p = profile_masks([m, np.zeros((4, 6), dtype=np.int64)], class_names=["background", "cell"])
    >>> p.pooled_foreground_share, p.images_without_foreground, p.class_profile("cell").component_sizes.median
    (0.10416666666666667, 1, 2.5)
    """
    num_classes = len(class_names)
    background = background_index(class_names)
    pixels = np.zeros(num_classes, dtype=np.int64)
    edge_counts: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    image_shares: list[np.ndarray] = []
    fg_shares: list[float] = []
    absent = np.zeros(num_classes, dtype=np.int64)
    per_image_components: list[list[int]] = [[] for _ in range(num_classes)]
    sizes: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    ignored = total = 0
    shapes: Counter[tuple[int, ...]] = Counter()
    for mask in masks:
        mask = np.asarray(mask)
        shapes[tuple(int(s) for s in mask.shape)] += 1
        valid = np.ones(mask.shape, bool) if ignore_index is None else mask != ignore_index
        n_valid = int(valid.sum())
        ignored += mask.size - n_valid
        total += mask.size
        counts = np.bincount(mask[valid].reshape(-1), minlength=num_classes)[:num_classes]
        pixels += counts
        image_shares.append(counts / n_valid if n_valid else np.full(num_classes, np.nan))
        fg = n_valid - int(counts[background])
        fg_shares.append(fg / n_valid if n_valid else float("nan"))
        absent += counts == 0
        for c in range(num_classes):
            if c == background:
                continue
            found, edges = _objects((mask == c) & valid)
            per_image_components[c].append(len(found))
            sizes[c].append(found)
            edge_counts[c].append(edges)
    n_images = len(image_shares)
    if n_images == 0:
        raise ValueError("no masks to profile")
    valid_total = int(pixels.sum())
    mean_shares = np.nanmean(np.stack(image_shares), axis=0)
    classes = []
    for c in range(num_classes):
        is_bg = c == background
        all_sizes = np.concatenate(sizes[c]) if sizes[c] else np.zeros(0, dtype=np.int64)
        all_edges = np.concatenate(edge_counts[c]) if edge_counts[c] else np.zeros(0, dtype=np.int64)
        elongation = _weighted_median(all_edges.astype(np.float64) ** 2 / (4.0 * all_sizes), all_sizes)
        classes.append(ClassProfile(
            c, str(class_names[c]), int(pixels[c]), float(pixels[c] / valid_total) if valid_total else math.nan,
            float(mean_shares[c]), int(absent[c]), float(absent[c] / n_images),
            Distribution.of([] if is_bg else per_image_components[c]), Distribution.of(all_sizes),
            math.nan if is_bg or pixels[c] == 0 else float(all_edges.sum() / pixels[c]), elongation,
        ))
    fg_pixels = valid_total - int(pixels[background])
    return DatasetProfile(
        name, n_images, num_classes, [str(c) for c in class_names], background, ignore_index,
        ignored / total if total else 0.0, sorted(shapes.items(), key=lambda kv: (-kv[1], kv[0])),
        Distribution.of(np.asarray(fg_shares)[~np.isnan(fg_shares)]),
        fg_pixels / valid_total if valid_total else math.nan,
        sum(1 for s in fg_shares if s == 0), classes,
        "full (8-neighbour in 2D, 26 in 3D)",
    )


ADVICE_METRICS = ("pixel_accuracy", "dice")
"""Trivial-predictor metrics the advice quotes; :func:`inspect_dataset` always scores them."""

BATCH_PIXELS = 1 << 22
"""Images of one shape are scored together, up to about this many pixels per call."""


def _batches(masks: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``masks`` grouped by shape (in first-seen order), each group cut to ``BATCH_PIXELS``."""
    groups: dict[tuple[int, ...], list[list[int]]] = {}
    for i, mask in enumerate(masks):
        chunks = groups.setdefault(tuple(mask.shape), [[]])
        if chunks[-1] and (len(chunks[-1]) + 1) * mask.size > BATCH_PIXELS:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunks in groups.values() for chunk in chunks]


def score_trivial_predictors(
    masks: Sequence[np.ndarray],
    profile: DatasetProfile,
    *,
    metrics: Sequence[str] | None = None,
    spacing: Sequence[float] | None = None,
    nsd_tolerance: float = 1.0,
) -> list[TrivialScore]:
    """Score every trivial predictor on every metric, through :mod:`segbench.scoring` (one call per image).

    Per image, ``score_label_maps`` (images of one shape in batches); pooled, ``pooled_scores`` on all pixels
    of the dataset as one flat image (count metrics depend only on the pixel counts, not on the layout).
    Predictors that paint the same class share one computation.
    """
    names = check_metric_names(None) if metrics is None else list(metrics)
    classes = trivial_classes([c.pixels for c in profile.classes], profile.class_names)
    kw: dict[str, Any] = {
        "num_classes": profile.num_classes, "class_names": profile.class_names, "ignore_index": profile.ignore_index,
    }
    with _one_thread():
        return _score_trivial(masks, profile, classes, names, kw, spacing, nsd_tolerance)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block: scoring is many small per-image operations, where thread
    fan-out costs more than it gives (8x slower on a busy 2-core machine, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _score_trivial(
    masks: Sequence[np.ndarray],
    profile: DatasetProfile,
    classes: dict[str, int],
    names: list[str],
    kw: dict[str, Any],
    spacing: Sequence[float] | None,
    nsd_tolerance: float,
) -> list[TrivialScore]:
    flat_target = torch.from_numpy(np.concatenate([np.asarray(m).reshape(-1) for m in masks]).astype(np.int64))[None]
    batches = _batches(masks)
    by_class: dict[int, tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], float]]] = {}
    for label in sorted(set(classes.values())):
        kind = next(k for k in TRIVIAL_PREDICTORS if classes[k] == label)
        per_image: dict[tuple[str, str], list[float]] = {}
        for batch in batches:
            target = torch.from_numpy(np.stack([np.asarray(masks[i], dtype=np.int64) for i in batch]))
            pred = trivial_predictions(target, kind, classes)
            rows = score_label_maps(pred, target, spacing=spacing, metrics=names, nsd_tolerance=nsd_tolerance, **kw)
            for row in rows:
                per_image.setdefault((str(row["class"]), str(row["metric"])), []).append(float(row["value"]))
        pred_flat = trivial_predictions(flat_target, kind, classes)
        pooled_rows = pooled_scores(pred_flat, flat_target, metrics=names, **kw)
        by_class[label] = (per_image, {(str(r["class"]), str(r["metric"])): float(r["value"]) for r in pooled_rows})
    out = []
    for predictor in TRIVIAL_PREDICTORS:
        label = classes[predictor]
        per_image, pooled = by_class[label]
        for (scored, metric), values in per_image.items():
            s = summarize(values)
            out.append(TrivialScore(
                predictor, profile.class_names[label], scored, metric, s.n, s.mean, s.median, s.n_nan, s.n_inf,
                pooled.get((scored, metric)),
            ))
    return out


def _compact(mask: np.ndarray, top: int) -> np.ndarray:
    """The smallest unsigned integer dtype that holds labels up to ``top`` (masks are kept in memory)."""
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int64
    return np.ascontiguousarray(mask.astype(dtype))


def inspect_dataset(
    dataset: SegmentationDataset,
    *,
    metrics: Sequence[str] | None = None,
    nsd_tolerance: float = 1.0,
    trivial: bool = True,
) -> DatasetProfile:
    """Profile every mask of ``dataset`` at its native size and (``trivial=True``) score the trivial predictors.

    ``metrics`` selects the trivial predictors' metrics; ``ADVICE_METRICS`` (which the advice quotes) are
    always added.

    >>> from segbench.data import load_dataset
    >>> data = load_dataset("synthetic", "all", options={"num_images": 3, "image_size": 32})
    >>> p = inspect_dataset(data, metrics=["dice", "pixel_accuracy"])
    >>> p.num_images, [t.predictor for t in p.trivial if t.metric == "dice"]
    (3, ['all-background', 'all-foreground', 'majority-class'])
    """
    with _one_thread():
        top = max(dataset.num_classes - 1, dataset.ignore_index or 0)
        masks = [_compact(dataset.raw_mask(i).numpy(), top) for i in range(len(dataset))]
        profile = profile_masks(
            masks, class_names=dataset.class_names, ignore_index=dataset.ignore_index, name=dataset.name
        )
        if trivial:
            names = None if metrics is None else check_metric_names([*metrics, *ADVICE_METRICS])
            profile.trivial = score_trivial_predictors(masks, profile, metrics=names, nsd_tolerance=nsd_tolerance)
    return profile
