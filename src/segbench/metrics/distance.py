"""Distance metrics between segmentation boundaries: Hausdorff (any percentile), ASSD/MASD and NSD.

All four come from one object, :class:`SurfaceDistances`: the nearest-surface distances of every (image, class)
pair, computed once (see :mod:`segbench.metrics._surface`), so asking for several metrics costs one surface
extraction and one pair of nearest-neighbour searches per pair, not one per metric.

Definitions (``S_P``, ``S_T``: the prediction's and target's surfaces; ``d(x, S)``: the Euclidean distance in
physical units from ``x`` to the nearest point of ``S``; ``w(x)``: the weight of a surface point, 1 for
``surface="voxel"`` and the surfel length/area for ``surface="surfel"``):

* ``surface="voxel"`` (default) reproduces MONAI (``compute_hausdorff_distance``,
  ``compute_average_surface_distance(symmetric=True)``, ``compute_surface_dice``), MetricsReloaded and, with
  ``percentile_rule="pooled"``, MedPy's ``hd95``. ``surface="surfel"`` reproduces DeepMind's surface-distance
  (``compute_robust_hausdorff``, ``compute_surface_dice_at_tolerance``) and MONAI's ``use_subvoxels=True``.
* Percentiles: voxel surfaces use linear interpolation between order statistics (``numpy.percentile``, as MONAI
  and MedPy); surfel surfaces use surface-distance's area-weighted rule (the smallest distance whose cumulative
  surfel area reaches the percentile, no interpolation).
* Empty masks: a *miss* (exactly one of prediction and target empty) is ``inf`` for HD and ASSD, or the stated
  ``worst_case`` (``"diagonal"``: the image's physical diagonal ``sqrt(sum_i (n_i s_i)^2)``, an upper bound of
  every distance in the image; or a number); NSD of a miss is 0. Both empty is undefined: NaN for every metric.
  Never NaN for a miss (MONAI's HD95 is NaN there, MONAI issue #9095, and a NaN drops out of a mean).
* Label maps with ``num_classes=C`` give one value per (image, class); the background class 0 is left out by
  default (``include_background=False``, as MONAI's distance metrics). Binary input (bool, or labels in {0, 1}
  without ``num_classes``) gives one value per image for the foreground. ``multilabel=True`` scores each channel
  as its own mask, channel 0 only with ``include_background=True`` (as MONAI's one-hot channel 0 and the count
  metrics).
* ``ignore_index``: pixels whose target is ``ignore_index`` are background in both maps before surfaces are found
  (as MONAI's ``compute_surface_dice``), so they add no surface of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from segbench._checks import check_label_maps
from segbench._docs import document_args
from segbench.metrics._surface import FloatArray, PairSurfaces, check_spacing, pair_surfaces
from segbench.metrics.catalogue import MetricEntry, ScoringInputs, register_metric

__all__ = [
    "SurfaceDistances",
    "average_surface_distance",
    "distance_metrics",
    "hausdorff_distance",
    "normalized_surface_distance",
    "surface_distances",
]

Surface = Literal["voxel", "surfel"]
PercentileRule = Literal["directed", "pooled"]
WorstCase = Literal["diagonal"] | float | None
DISTANCE_METRICS = ("hd", "hd95", "assd", "masd", "nsd")

# What the parameters that the distance metrics share mean (segbench._docs.document_args builds their Args: from it).
DISTANCE_ARGS: dict[str, str] = {
    "pred": "the predicted hard label map ``(N, *spatial)``, bool or integer (2D or 3D; voxel surfaces any "
    "dimension); a float map raises TypeError (threshold or argmax it first: ``segbench.metrics.to_labels``).",
    "target": "the reference label map, of ``pred``'s shape.",
    "spacing": "the voxel size in physical units, one number or one per spatial axis (in the array's axis order); "
    "None: 1 along every axis.",
    "num_classes": "label maps with C classes: one value per (image, class); None: binary input (bool, or labels "
    "in {0, 1}) gives one value per image for the foreground.",
    "include_background": "False (default, as MONAI): class 0 (channel 0 of multilabel maps, MONAI's background "
    "channel) is left out of the per-class values; binary input scores its foreground either way.",
    "multilabel": "True: ``(N, C, *spatial)`` 0/1 maps, every channel scored as its own binary mask (channel 0 only "
    "with ``include_background=True``).",
    "ignore_index": "pixels whose target is this are background in both maps before the surfaces are found; "
    "None: every pixel counts.",
    "surface": '``"voxel"`` (default): the border voxels of each mask (MONAI, MetricsReloaded, MedPy); '
    '``"surfel"``: area-weighted sub-voxel surface elements (DeepMind\'s surface-distance; 2D and 3D).',
    "percentile_rule": '``"directed"`` (default): the larger of the two directed percentiles (MONAI, '
    'MetricsReloaded); ``"pooled"``: the percentile of both directions\' distances together (MedPy).',
    "worst_case": "the value of a miss (exactly one mask empty): None (default) ``inf``; ``\"diagonal\"``, the "
    "image's physical diagonal; or a number >= 0.",
    "tolerance": "the NSD tolerance ``tau`` in physical units: one number, or one per scored class.",
    "percentile": "``q`` in [0, 100]: 100 (default) is the Hausdorff distance, 95 HD95.",
    "variant": '``"assd"`` (default): pooled over both surfaces; ``"masd"``: the mean of the two directed means.',
    "metrics": 'which metrics, among ``"hd"``, ``"hd95"``, ``"assd"``, ``"masd"``, ``"nsd"``.',
}


def _check_choice(value: str, name: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def _linear_percentile(d: FloatArray, q: float) -> float:
    return float(d.max()) if q == 100.0 else float(np.percentile(d, q))


def _weighted_percentile(d: FloatArray, w: FloatArray, q: float) -> float:
    """surface-distance's rule: sort by (distance, weight); first distance whose cumulative weight share >= q."""
    if q == 100.0:
        return float(d.max())
    order = np.lexsort((w, d))
    ds, ws = d[order], w[order]
    cum = np.cumsum(ws) / np.sum(ws)
    idx = int(np.searchsorted(cum, q / 100.0))
    return float(ds[min(idx, len(ds) - 1)])


def _weights(pair: PairSurfaces) -> tuple[FloatArray, FloatArray]:
    wp = pair.weights_pred if pair.weights_pred is not None else np.ones_like(pair.pred_to_target)
    wt = pair.weights_target if pair.weights_target is not None else np.ones_like(pair.target_to_pred)
    return wp, wt


def _pair_hd(pair: PairSurfaces, q: float, rule: str) -> float:
    dp, dt = pair.pred_to_target, pair.target_to_pred
    voxel = pair.weights_pred is None
    if rule == "directed":
        if voxel:
            return max(_linear_percentile(dp, q), _linear_percentile(dt, q))
        wp, wt = _weights(pair)
        return max(_weighted_percentile(dp, wp, q), _weighted_percentile(dt, wt, q))
    pooled = np.concatenate([dp, dt])
    if voxel:
        return _linear_percentile(pooled, q)
    wp, wt = _weights(pair)
    return _weighted_percentile(pooled, np.concatenate([wp, wt]), q)


def _pair_asd(pair: PairSurfaces, variant: str) -> float:
    dp, dt = pair.pred_to_target, pair.target_to_pred
    if pair.weights_pred is None:
        if variant == "assd":
            return float(np.concatenate([dp, dt]).mean())
        return 0.5 * (float(dp.mean()) + float(dt.mean()))
    wp, wt = _weights(pair)
    sp, st = float(np.sum(dp * wp)), float(np.sum(dt * wt))
    if variant == "assd":
        return (sp + st) / (float(np.sum(wp)) + float(np.sum(wt)))
    return 0.5 * (sp / float(np.sum(wp)) + st / float(np.sum(wt)))


def _pair_nsd(pair: PairSurfaces, tolerance: float) -> float:
    wp, wt = _weights(pair)
    hit = float(np.sum(wp[pair.pred_to_target <= tolerance])) + float(np.sum(wt[pair.target_to_pred <= tolerance]))
    return hit / (float(np.sum(wp)) + float(np.sum(wt)))


@dataclass(frozen=True)
class SurfaceDistances:
    """Nearest-surface distances of every (image, class) pair; every distance metric is read from it.

    ``pairs`` holds one :class:`~segbench.metrics._surface.PairSurfaces` per case (row-major over ``shape``), or
    None where a mask is empty; ``pred_empty``/``target_empty`` (bool tensors of ``shape``) say which.
    ``shape`` is ``(N,)`` for binary input and ``(N, C')`` per class. ``diagonal`` is the image's physical
    diagonal, the ``worst_case="diagonal"`` value.
    """

    pairs: tuple[PairSurfaces | None, ...]
    pred_empty: Tensor
    target_empty: Tensor
    shape: tuple[int, ...]
    diagonal: float
    surface: str

    @property
    def miss(self) -> Tensor:
        """Cases with exactly one side empty (bool tensor of ``shape``)."""
        return self.pred_empty ^ self.target_empty

    @property
    def undefined(self) -> Tensor:
        """Cases with both sides empty (bool tensor of ``shape``)."""
        return self.pred_empty & self.target_empty

    def _worst(self, worst_case: WorstCase) -> float:
        if worst_case is None:
            return float("inf")
        if isinstance(worst_case, str):
            _check_choice(worst_case, "worst_case", ("diagonal",))
            return self.diagonal
        value = float(worst_case)
        if not value >= 0:
            raise ValueError(f"worst_case must be None, 'diagonal' or a number >= 0, got {worst_case!r}")
        return value

    def _collect(self, fn: Any, miss_value: float) -> Tensor:
        out = np.empty(len(self.pairs))
        miss, undefined = self.miss.flatten().tolist(), self.undefined.flatten().tolist()
        for i, pair in enumerate(self.pairs):
            if pair is not None:
                out[i] = fn(pair)
            else:
                out[i] = float("nan") if undefined[i] else miss_value if miss[i] else float("nan")
        return torch.from_numpy(out).reshape(self.shape)

    @document_args(DISTANCE_ARGS)
    def hausdorff(
        self, percentile: float = 100.0, *, percentile_rule: PercentileRule = "directed", worst_case: WorstCase = None
    ) -> Tensor:
        """Hausdorff distance at ``percentile`` (the formula of :func:`hausdorff_distance`).

        .. math:: \\mathrm{HD}_q = \\max\\big(P_q\\{d(x, S_T)\\}_{x \\in S_P},\\; P_q\\{d(y, S_P)\\}_{y \\in S_T}\\big)

        >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
        >>> surface_distances(t.roll(2, dims=1), t).hausdorff(95).tolist()
        [2.0]
        """
        q = float(percentile)
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
        _check_choice(percentile_rule, "percentile_rule", ("directed", "pooled"))
        return self._collect(lambda p: _pair_hd(p, q, percentile_rule), self._worst(worst_case))

    @document_args(DISTANCE_ARGS)
    def average(self, variant: Literal["assd", "masd"] = "assd", *, worst_case: WorstCase = None) -> Tensor:
        """Average surface distance, ``"assd"`` (pooled) or ``"masd"`` (the formulas of
        :func:`average_surface_distance`).

        .. math::
            \\mathrm{ASSD} = \\frac{\\sum_{S_P} w\\, d(\\cdot, S_T) + \\sum_{S_T} w\\, d(\\cdot, S_P)}
                                 {\\sum_{S_P} w + \\sum_{S_T} w}

        >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
        >>> surface_distances(t.roll(1, dims=2), t).average().tolist()   # 4 of 8 border pixels each side move 1
        [0.5]
        """
        _check_choice(variant, "variant", ("assd", "masd"))
        return self._collect(lambda p: _pair_asd(p, variant), self._worst(worst_case))

    @document_args(DISTANCE_ARGS)
    def nsd(self, tolerance: float | Sequence[float]) -> Tensor:
        """Normalized surface distance at ``tolerance`` (the formula of :func:`normalized_surface_distance`).

        .. math::
            \\mathrm{NSD}_\\tau = \\frac{\\sum_{S_P,\\, d \\le \\tau} w + \\sum_{S_T,\\, d \\le \\tau} w}
                                     {\\sum_{S_P} w + \\sum_{S_T} w}

        >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
        >>> surface_distances(t.roll(1, dims=2), t).nsd(0.5).tolist()    # half of each border within 0.5
        [0.5]
        """
        n_cls = self.shape[1] if len(self.shape) == 2 else 1
        tol = [float(tolerance)] * n_cls if isinstance(tolerance, (int, float)) else [float(t) for t in tolerance]
        if len(tol) != n_cls:
            raise ValueError(f"tolerance needs one value, or one per scored class ({n_cls}), got {len(tol)}")
        if not all(np.isfinite(t) and t >= 0 for t in tol):
            raise ValueError(f"tolerance must be finite and >= 0, got {tol}")
        out = np.empty(len(self.pairs))
        miss, undefined = self.miss.flatten().tolist(), self.undefined.flatten().tolist()
        for i, pair in enumerate(self.pairs):
            if pair is not None:
                out[i] = _pair_nsd(pair, tol[i % n_cls])
            else:
                out[i] = 0.0 if miss[i] and not undefined[i] else float("nan")
        return torch.from_numpy(out).reshape(self.shape)


def _case_masks(
    pred: Any,
    target: Any,
    num_classes: int | None,
    include_background: bool,
    multilabel: bool,
    ignore_index: int | None,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[int, ...], tuple[int, ...]]:
    """Validated (pred, target) bool masks per case, the output shape, and the spatial shape."""
    lm = check_label_maps(
        pred, target, num_classes=num_classes, multilabel=multilabel, ignore_index=ignore_index, to_long=False
    )
    # the maps in their own dtype (bool input used as is, no int64 copies); ignored pixels are 0 in both
    p, t = lm.pred.detach().cpu().numpy(), lm.target.detach().cpu().numpy()
    if lm.binary and p.dtype == np.bool_ and t.dtype == np.bool_:
        return [(p[i], t[i]) for i in range(p.shape[0])], (p.shape[0],), p.shape[1:]
    valid = None if lm.valid is None else lm.valid.detach().cpu().numpy()
    n = p.shape[0]
    cases: list[tuple[np.ndarray, np.ndarray]] = []
    if lm.multilabel:
        channels = range(0 if include_background else 1, p.shape[1])
        if not channels:
            raise ValueError(
                "include_background=False leaves no channel to score: the multilabel maps have 1 channel "
                "(pass include_background=True)"
            )
        for i in range(n):
            cases.extend((p[i, c] == 1, t[i, c] == 1) for c in channels)
        return cases, (n, len(channels)), p.shape[2:]
    if lm.binary:
        return [(p[i] == 1, t[i] == 1) for i in range(n)], (n,), p.shape[1:]
    classes = list(range(0 if include_background else 1, lm.num_classes))
    for i in range(n):
        for c in classes:
            pm, tm = p[i] == c, t[i] == c
            if c == 0 and valid is not None:
                pm &= valid[i]
                tm &= valid[i]
            cases.append((pm, tm))
    return cases, (n, len(classes)), p.shape[1:]


@document_args(DISTANCE_ARGS)
def surface_distances(
    pred: Any,
    target: Any,
    *,
    spacing: float | Sequence[float] | None = None,
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    surface: Surface = "voxel",
) -> SurfaceDistances:
    """Compute the nearest-surface distances of every (image, class) pair once, for any distance metric.

    ``pred`` and ``target`` are hard label maps ``(N, *spatial)`` (bool or integer), 2D or 3D (voxel surfaces
    work in any dimension), with ``spacing`` in the array's axis order. For each pair of surfaces it holds

    .. math:: \\{d(x, S_T) : x \\in S_P\\},\\quad \\{d(y, S_P) : y \\in S_T\\},\\quad
        d(x, S) = \\min_{s \\in S} \\lVert (x - s) \\odot \\mathrm{spacing} \\rVert_2

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> sd = surface_distances(t.roll(1, dims=2), t)
    >>> sd.hausdorff().tolist(), sd.nsd(0.5).tolist()
    ([1.0], [0.5])
    """
    _check_choice(surface, "surface", ("voxel", "surfel"))
    cases, shape, spatial = _case_masks(pred, target, num_classes, include_background, multilabel, ignore_index)
    sp = check_spacing(spacing, len(spatial))
    if surface == "surfel" and len(spatial) not in (2, 3):
        raise ValueError(f"surface='surfel' supports 2D and 3D masks, got {len(spatial)} spatial axes")
    pairs = tuple(pair_surfaces(pm, tm, sp, surface) for pm, tm in cases)
    pred_empty = torch.tensor([not pm.any() for pm, _ in cases], dtype=torch.bool).reshape(shape)
    target_empty = torch.tensor([not tm.any() for _, tm in cases], dtype=torch.bool).reshape(shape)
    diagonal = float(np.sqrt(sum((n * s) ** 2 for n, s in zip(spatial, sp, strict=True))))
    return SurfaceDistances(pairs, pred_empty, target_empty, shape, diagonal, surface)


@document_args(DISTANCE_ARGS)
def hausdorff_distance(
    pred: Any,
    target: Any,
    *,
    spacing: float | Sequence[float] | None = None,
    percentile: float = 100.0,
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    surface: Surface = "voxel",
    percentile_rule: PercentileRule = "directed",
    worst_case: WorstCase = None,
) -> Tensor:
    r"""Hausdorff distance between the two surfaces (``percentile=95``: HD95); one value per image, nothing pooled.

    .. math::

        \mathrm{HD}_q = \max\big(P_q\{d(x, S_T) : x \in S_P\},\; P_q\{d(y, S_P) : y \in S_T\}\big)

    with ``percentile_rule="directed"`` (MONAI, MetricsReloaded); ``"pooled"`` takes one percentile of both
    sets together, :math:`P_q(\{d(x, S_T)\} \cup \{d(y, S_P)\})` (MedPy's ``hd95``). ``q = 100`` is the classic
    Hausdorff distance (both rules agree). Returns float64 ``(N,)`` (binary) or ``(N, C')`` (per class); ``inf``
    (or ``worst_case``) for a miss, NaN when both masks are empty.

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> hausdorff_distance(t.roll(2, dims=1), t, spacing=(0.5, 1.0)).tolist()
    [1.0]
    """
    sd = surface_distances(
        pred, target, spacing=spacing, num_classes=num_classes, include_background=include_background,
        multilabel=multilabel, ignore_index=ignore_index, surface=surface,
    )
    return sd.hausdorff(percentile, percentile_rule=percentile_rule, worst_case=worst_case)


@document_args(DISTANCE_ARGS)
def average_surface_distance(
    pred: Any,
    target: Any,
    *,
    spacing: float | Sequence[float] | None = None,
    variant: Literal["assd", "masd"] = "assd",
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    surface: Surface = "voxel",
    worst_case: WorstCase = None,
) -> Tensor:
    r"""Average symmetric surface distance (ASSD), or the mean of the directed means (MASD); one value per image.

    .. math::

        \mathrm{ASSD} = \frac{\sum_{x \in S_P} w(x) d(x, S_T) + \sum_{y \in S_T} w(y) d(y, S_P)}
                             {\sum_{x \in S_P} w(x) + \sum_{y \in S_T} w(y)}, \qquad
        \mathrm{MASD} = \tfrac12 \Big(\frac{\sum_{S_P} w\, d(\cdot, S_T)}{\sum_{S_P} w}
                        + \frac{\sum_{S_T} w\, d(\cdot, S_P)}{\sum_{S_T} w}\Big)

    ``variant="assd"`` is MONAI's ``symmetric=True``, MedPy 0.5 ``assd`` and MetricsReloaded ``assd``;
    ``"masd"`` is MetricsReloaded ``masd`` (and the mean of surface-distance's two directed averages with
    ``surface="surfel"``). They differ when one surface is much larger than the other. Shapes and empty cases as
    :func:`hausdorff_distance`.

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> average_surface_distance(t.roll(1, dims=2), t).tolist()
    [0.5]
    """
    sd = surface_distances(
        pred, target, spacing=spacing, num_classes=num_classes, include_background=include_background,
        multilabel=multilabel, ignore_index=ignore_index, surface=surface,
    )
    return sd.average(variant, worst_case=worst_case)


@document_args(DISTANCE_ARGS)
def normalized_surface_distance(
    pred: Any,
    target: Any,
    *,
    tolerance: float | Sequence[float],
    spacing: float | Sequence[float] | None = None,
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    surface: Surface = "voxel",
) -> Tensor:
    r"""Normalized surface distance (surface Dice) at ``tolerance`` (physical units); one value per image.

    .. math::

        \mathrm{NSD}_\tau = \frac{\sum_{x \in S_P,\, d(x, S_T) \le \tau} w(x)
                                  + \sum_{y \in S_T,\, d(y, S_P) \le \tau} w(y)}
                                 {\sum_{x \in S_P} w(x) + \sum_{y \in S_T} w(y)}

    MONAI ``compute_surface_dice`` and MetricsReloaded ``nsd`` (voxel surfaces); surface-distance
    ``compute_surface_dice_at_tolerance`` and MONAI ``use_subvoxels=True`` (surfels). In [0, 1]; 0 for a miss,
    NaN when both masks are empty.

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> normalized_surface_distance(t.roll(1, dims=2), t, tolerance=1.0).tolist()
    [1.0]
    """
    sd = surface_distances(
        pred, target, spacing=spacing, num_classes=num_classes, include_background=include_background,
        multilabel=multilabel, ignore_index=ignore_index, surface=surface,
    )
    return sd.nsd(tolerance)


@document_args(DISTANCE_ARGS)
def distance_metrics(
    pred: Any,
    target: Any,
    *,
    metrics: Sequence[str] = ("hd", "hd95", "assd", "nsd"),
    tolerance: float | Sequence[float] = 1.0,
    spacing: float | Sequence[float] | None = None,
    num_classes: int | None = None,
    include_background: bool = False,
    multilabel: bool = False,
    ignore_index: int | None = None,
    surface: Surface = "voxel",
    percentile_rule: PercentileRule = "directed",
    worst_case: WorstCase = None,
) -> dict[str, Tensor]:
    """Several distance metrics from one surface computation: ``{"hd", "hd95", "assd", "masd", "nsd"}``.

    Each value is what the matching function returns with the same arguments (``nsd`` at ``tolerance``): the
    formulas of :func:`hausdorff_distance` (``hd``: :math:`q = 100`, ``hd95``: :math:`q = 95`),
    :func:`average_surface_distance` and :func:`normalized_surface_distance`.

    .. math::
        \\mathrm{HD}_q,\\ \\mathrm{ASSD},\\ \\mathrm{MASD},\\ \\mathrm{NSD}_\\tau
        \\text{ of one pair } \\{d(x, S_T)\\}_{x \\in S_P},\\ \\{d(y, S_P)\\}_{y \\in S_T}

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> {k: v.tolist() for k, v in distance_metrics(t.roll(1, dims=2), t).items()}
    {'hd': [1.0], 'hd95': [1.0], 'assd': [0.5], 'nsd': [1.0]}
    """
    for name in metrics:
        _check_choice(name, "each metric", DISTANCE_METRICS)
    sd = surface_distances(
        pred, target, spacing=spacing, num_classes=num_classes, include_background=include_background,
        multilabel=multilabel, ignore_index=ignore_index, surface=surface,
    )
    return metrics_from(sd, metrics, tolerance=tolerance, percentile_rule=percentile_rule, worst_case=worst_case)


@document_args(DISTANCE_ARGS, sd="the surface distances of every (image, class) pair (:func:`surface_distances`).")
def metrics_from(
    sd: SurfaceDistances,
    metrics: Sequence[str],
    *,
    tolerance: float | Sequence[float] = 1.0,
    percentile_rule: PercentileRule = "directed",
    worst_case: WorstCase = None,
) -> dict[str, Tensor]:
    """The named metrics (keys of ``DISTANCE_METRICS``) read from one :class:`SurfaceDistances`: the formulas of
    :func:`distance_metrics`, without computing the surfaces again.

    .. math:: \\mathrm{HD}_q,\\ \\mathrm{ASSD},\\ \\mathrm{MASD},\\ \\mathrm{NSD}_\\tau

    >>> t = torch.zeros(1, 8, 8, dtype=torch.bool); t[0, 2:5, 2:5] = True
    >>> {k: v.tolist() for k, v in metrics_from(surface_distances(t.roll(1, dims=2), t), ["hd", "masd"]).items()}
    {'hd': [1.0], 'masd': [0.5]}
    """
    out: dict[str, Tensor] = {}
    for name in metrics:
        _check_choice(name, "each metric", DISTANCE_METRICS)
        if name in ("hd", "hd95"):
            q = 100.0 if name == "hd" else 95.0
            out[name] = sd.hausdorff(q, percentile_rule=percentile_rule, worst_case=worst_case)
        elif name in ("assd", "masd"):
            out[name] = sd.average(name, worst_case=worst_case)  # type: ignore[arg-type]
        else:
            out[name] = sd.nsd(tolerance)
    return out


# ---- the catalogue entries: one surface computation per scoring call, shared by every distance metric ---------


def _shared_surfaces(inputs: ScoringInputs) -> SurfaceDistances:
    def compute() -> SurfaceDistances:
        return surface_distances(inputs.pred, inputs.target, spacing=inputs.spacing, num_classes=inputs.num_classes,
                                 include_background=inputs.include_background, ignore_index=inputs.ignore_index,
                                 surface=inputs.surface)  # type: ignore[arg-type]

    return inputs.shared("surface_distances", compute)


def _from_surfaces(metric: str) -> Callable[[ScoringInputs], Tensor]:
    def per_image(inputs: ScoringInputs) -> Tensor:
        found = metrics_from(
            _shared_surfaces(inputs), [metric], tolerance=inputs.nsd_tolerance,
            percentile_rule=inputs.percentile_rule,  # type: ignore[arg-type]
        )[metric]
        n, c = inputs.pred.shape[0], inputs.num_classes
        if inputs.include_background:
            return found.reshape(n, c).double()
        skipped = torch.full((n, 1), float("nan"), dtype=torch.float64)  # class 0, not scored
        return torch.cat([skipped, found.reshape(n, c - 1).double()], dim=1)

    return per_image


_INF = (0.0, float("inf"))
register_metric(MetricEntry(
    "hd", hausdorff_distance, "distance", False, "none",
    "Hausdorff distance: the larger of the two directed maximum surface distances (voxel surfaces)",
    _from_surfaces("hd"), value_range=_INF))
register_metric(MetricEntry(
    "hd95", partial(hausdorff_distance, percentile=95.0), "distance", False, "none",
    "95th-percentile Hausdorff: the larger of the two directed 95th percentiles (MONAI's rule)",
    _from_surfaces("hd95"), value_range=_INF))
register_metric(MetricEntry(
    "assd", average_surface_distance, "distance", False, "none",
    "average symmetric surface distance: both directions' distances pooled", _from_surfaces("assd"),
    value_range=_INF))
register_metric(MetricEntry(
    "nsd", partial(normalized_surface_distance, tolerance=1.0), "distance", True, "none",
    "normalized surface distance (surface Dice) at the tolerance (default 1 voxel unit)", _from_surfaces("nsd")))
