"""The one catalogue of metrics: every score segbench can compute, by name, with what it needs and how it reads.

Each metric registers itself from its own module with :func:`register_metric` (count metrics in
:mod:`segbench.metrics.overlap`, distance metrics in :mod:`segbench.metrics.distance` and
:mod:`segbench.metrics.boundary`); a new family registers from its new file. Everything that names metrics
reads this catalogue: :mod:`segbench.scoring` (and through it ``segbench compare``, ``evaluate`` and
``inspect``), the report's labels and directions, ``segbench list metrics``, :func:`segbench.metrics.get`, and
the contract test ``tests/metrics/test_catalogue_contract.py``, which runs over every registered metric.

An entry (:class:`MetricEntry`) holds the library function (``function``, with the entry's parameters bound),
its ``family``, whether higher is better, its default class averaging, what input it needs (hard ``labels``,
``probabilities`` or ``instances``), its scope (one value per ``class``, or one for ``all`` classes at once),
and two routes that :mod:`segbench.scoring` calls: ``per_image`` (one value per image and class) and
``pooled`` (the dataset-level value from summed counts; ``None`` where none exists).

>>> from segbench import metrics
>>> entry = get_entry("hd95")
>>> entry.family, entry.higher_is_better, entry.needs
('distance', False, 'labels')
>>> get_entry("accuracy").name     # an alias: the library's accuracy() is pixel accuracy by default
'pixel_accuracy'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from torch import Tensor

from segbench.reduction import Average
from segbench.registry import Registry

__all__ = [
    "FAMILIES",
    "Family",
    "MetricEntry",
    "Needs",
    "Scope",
    "ScoringInputs",
    "check_names",
    "default_names",
    "describe",
    "direction",
    "entries",
    "get",
    "get_entry",
    "names",
    "register_metric",
]

Family = Literal["count", "distance", "calibration", "threshold", "volume", "object", "topology"]
FAMILIES: tuple[str, ...] = get_args(Family)
"""The families, in the order tables list them."""
Needs = Literal["labels", "probabilities", "instances"]
Scope = Literal["class", "all"]


@dataclass
class ScoringInputs:
    """What one scoring call gives every metric: label maps, classes, spacing, the optional probabilities and
    reference instances, and a cache for shared work.

    ``pred`` and ``target`` are int64 label maps ``(N, *spatial)``; ``target`` may hold ``ignore_index``.
    Metrics of one family share their expensive step through :meth:`shared` (the count metrics one confusion
    matrix per image, the distance metrics one surface computation, the probability metrics one histogram, the
    object metrics one matching).

    Args:
        pred: predicted labels ``(N, *spatial)``.
        target: reference labels ``(N, *spatial)``.
        num_classes: the number of classes C (labels ``0 .. C-1``).
        ignore_index: a target label whose pixels count nowhere, or ``None``.
        spacing: voxel spacing in axis order (distance metrics), or ``None`` for 1.
        nsd_tolerance: the tolerance of ``nsd``, in the units of ``spacing``.
        surface: the distance metrics' surfaces: ``"voxel"`` (border voxels: MONAI, MedPy) or ``"surfel"``
            (sub-voxel surface elements: surface-distance).
        percentile_rule: HD95's rule: ``"directed"`` (the larger directed percentile: MONAI) or ``"pooled"``
            (MedPy).
        probabilities: the model's probabilities ``(N, C, *spatial)`` (C == 1: the foreground probability of
            binary data), which entries with ``needs="probabilities"`` score; ``None`` where there are none.
        scaled_probabilities: the same probabilities after temperature scaling (:mod:`segbench.metrics.temperature`:
            one temperature fitted on a validation split), which the ``scaled`` entries (``ece_ts`` ...) score;
            ``None`` where there are none.
        instances: reference instance ids ``(N, *spatial)`` (0 = background), which the object metrics match the
            predicted components against (the class of an instance is ``target`` there); ``None``: the
            reference objects are the connected components of ``target``.
        include_background: ``False``: class 0 is not scored, and the distance metrics skip its surface (the
            costliest one: it runs along the volume's border); its values are NaN.
    """

    pred: Tensor
    target: Tensor
    num_classes: int
    ignore_index: int | None = None
    spacing: float | Sequence[float] | None = None
    nsd_tolerance: float = 1.0
    surface: str = "voxel"
    percentile_rule: str = "directed"
    probabilities: Tensor | None = None
    instances: Tensor | None = None
    scaled_probabilities: Tensor | None = None
    include_background: bool = True
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` computed once per scoring call under ``key`` and handed to every metric that asks."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


@dataclass(frozen=True)
class MetricEntry:
    """One metric of the catalogue.

    Attributes:
        name: the canonical name (results files, ``--metrics``, tables).
        function: the library function ``function(pred, target, **options)`` with this entry's parameters
            bound (what :func:`segbench.metrics.get` returns).
        family: one of :data:`FAMILIES` (``"count"``, ``"distance"``, ``"calibration"``, ``"threshold"``, ``"volume"``,
            ``"object"``, ``"topology"``).
        higher_is_better: the metric's direction.
        average: the default class averaging of ``function``.
        description: one line: the formula or definition, and the parameters it is scored at.
        per_image: ``per_image(inputs)`` -> float64 ``(N, C)`` (scope ``"class"``) or ``(N,)`` (scope ``"all"``).
        pooled: ``pooled(confusion)`` of the dataset's summed ``(C, C)`` matrix -> ``(C,)`` or ``()``; ``None``
            where the metric has no dataset-level form from counts.
        needs: the input it scores: hard ``"labels"``, ``"probabilities"`` or ``"instances"``.
        scope: ``"class"`` (one value per class, one vs the rest) or ``"all"`` (one value for all classes).
        aliases: other names accepted for it.
        label: the short column header of printed tables.
        value_range: the values it can take (``inf`` for an unbounded distance).
        both_empty: its value for a class absent from target and prediction: NaN (undefined) unless the
            formula is defined there (e.g. specificity, from true negatives).
        default: whether it is scored when no metric list is given.
        background: whether it scores class 0 (object and topology metrics score the foreground classes only;
            their class-0 column is NaN and no row is written for it).
        ideal: the value of a perfect prediction where it is not an end of ``value_range`` (a signed error: 0).
        pooled_histogram: ``pooled_histogram(h)`` the dataset-level value from the
            :class:`~segbench.metrics.ProbabilityHistogram` ``h`` of every test pixel (``()`` or ``(K,)`` one per
            channel); ``None`` where the metric has none. Probability metrics only.
        scaled: scores the temperature-scaled probabilities (``ScoringInputs.scaled_probabilities``) instead of the
            raw ones.
    """

    name: str
    function: Callable[..., Tensor]
    family: Family
    higher_is_better: bool
    average: Average
    description: str
    per_image: Callable[[ScoringInputs], Tensor]
    pooled: Callable[[Tensor], Tensor] | None = None
    needs: Needs = "labels"
    scope: Scope = "class"
    aliases: tuple[str, ...] = ()
    label: str = ""
    value_range: tuple[float, float] = (0.0, 1.0)
    both_empty: float = math.nan
    default: bool = True
    background: bool = True
    ideal: float | None = None
    pooled_histogram: Callable[[Any], Tensor] | None = None
    scaled: bool = False

    @property
    def header(self) -> str:
        """The column header: ``label`` if set, else the name."""
        return self.label or self.name

    @property
    def best(self) -> float:
        """The best value the metric can take (``ideal`` if set)."""
        if self.ideal is not None:
            return self.ideal
        return self.value_range[1] if self.higher_is_better else self.value_range[0]


_METRICS: Registry[MetricEntry] = Registry("metric")


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Add ``entry`` to the catalogue (ValueError if its name or an alias is taken); returns it.

    Args:
        entry: the metric to register.
    """
    if entry.family not in FAMILIES:
        raise ValueError(f"unknown metric family {entry.family!r}; expected one of {list(FAMILIES)}")
    return _METRICS.register(entry.name, entry, aliases=entry.aliases, description=entry.description)


def _ordered() -> list[MetricEntry]:
    """Every entry, by family (in :data:`FAMILIES` order), then in registration order."""
    found = [_METRICS.get(n) for n in _METRICS]
    return sorted(found, key=lambda e: FAMILIES.index(e.family))


def names(family: str | None = None) -> list[str]:
    """The canonical names of every registered metric (of one ``family``), in table order.

    Args:
        family: only this family; ``None`` for all.

    >>> names("distance")
    ['hd', 'hd95', 'assd', 'nsd', 'boundary_iou']
    """
    return [e.name for e in _ordered() if family is None or e.family == family]


def default_names() -> list[str]:
    """The metrics scored when no list is given (every entry with ``default=True``), in table order."""
    return [e.name for e in _ordered() if e.default]


def get_entry(name: str) -> MetricEntry:
    """The entry of ``name`` or of an alias; ValueError listing the valid names.

    Args:
        name: a canonical name or an alias.
    """
    return _METRICS.get(name)


def get(name: str) -> Callable[..., Tensor]:
    """The metric function of ``name`` (an alias too), with the entry's parameters bound.

    Args:
        name: any catalogue name or alias (``"dice"``, ``"f1"``, ``"hd95"``, ``"nsd"`` ...).
    """
    return get_entry(name).function


def entries(selected: Iterable[str] | None = None) -> list[MetricEntry]:
    """The entries of ``selected`` names (``None``: the default set), in table order (see :func:`check_names`)."""
    return [get_entry(n) for n in check_names(selected)]


def check_names(selected: Iterable[str] | None) -> list[str]:
    """``selected`` validated against the catalogue's canonical names (``None``: the default set), in table order.

    Args:
        selected: metric names as a user gives them (``--metrics``, ``[eval] metrics``).

    >>> check_names(["hd95", "dice"])
    ['dice', 'hd95']
    >>> check_names(["accuracy"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'accuracy' (an alias of 'pixel_accuracy'; results use the canonical names); ...
    """
    if selected is None:
        return default_names()
    wanted = list(selected)
    known = names()
    for name in wanted:
        if name not in known:
            hint = f" (an alias of {_METRICS.canonical(name)!r}; results use the canonical names)" \
                if name in _METRICS else ""
            raise ValueError(f"unknown metric {name!r}{hint}; expected some of: {', '.join(known)}")
    return [m for m in known if m in wanted]


def describe() -> list[tuple[str, str]]:
    """``(name, one line)`` of every metric in table order: the direction arrow (``±`` for a signed error, best at
    its ``ideal``), then family, scope and definition (what ``segbench list metrics`` prints).

    >>> dict(describe())["hd95"][:12]
    '↓ [distance]'
    """
    out = []
    for e in _ordered():
        arrow = "↑" if e.higher_is_better else "↓"
        if e.ideal is not None:
            arrow = "±"  # a signed error: closest to its ideal is best
        scope = ", all classes" if e.scope == "all" else ""
        request = "" if e.default else " (on request)"
        out.append((e.name, f"{arrow} [{e.family}{scope}] {e.description}{request}"))
    return out


def direction(name: str) -> bool | None:
    """``higher_is_better`` of a metric; ``None`` for a name not in the catalogue and for a signed error (an entry
    with an ``ideal`` inside its range, e.g. ``volume_bias``), whose raw value has no better side: ranking it would
    call a model that misses everything (-1) the best. Its size has a direction (``volume_error``).

    Args:
        name: a metric name as it appears in a results file.

    >>> direction("dice"), direction("hd95"), direction("volume_bias"), direction("volume_error")
    (True, False, None, False)
    """
    if name not in _METRICS:
        return None
    entry = get_entry(name)
    return None if entry.ideal is not None else entry.higher_is_better
