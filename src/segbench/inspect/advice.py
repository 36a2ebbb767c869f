"""Which metrics to report, which to distrust, and which losses suit a dataset, from its measured profile.

Every piece of advice is triggered by a number measured on the user's data (a :class:`DatasetProfile`)
crossing a threshold stated here, and carries its reason with that number in it. Nothing is canned: a
dataset that does not cross a threshold does not get that advice. The rules follow the Metrics Reloaded
recommendations (Maier-Hein, Reinke et al., Nat Methods 2024) and their pitfalls paper (Reinke et al.,
Nat Methods 2024): overlap metrics first, a boundary metric when boundaries or small structures matter,
accuracy only as the imbalance foil, per-image distributions, and a stated empty-reference policy.

Thresholds (module constants, shown in the advice text):

* ``SMALL_FOREGROUND = 0.10``: pooled foreground share below it: the foreground is small.
* ``TRIVIAL_ACCURACY = 0.70``: a trivial predictor's mean accuracy at or above it makes accuracy useless.
* ``SMALL_OBJECT_SHARE = 0.01``: median object smaller than 1% of the median image area: small structures.
* ``SMALL_OBJECT_PIXELS = 64``: median object below 64 pixels: a few pixels of error change Dice a lot.
* ``THIN_ELONGATION = 10``: half of a class's pixels in objects with elongation (perimeter^2 / (4 area),
  see :mod:`segbench.inspect.profile`) of 10 or more: thin, tubular or membrane-like structures.
* ``SPREAD_RATIO = 3.0``: 90th / 10th percentile of per-image foreground share at or above it: image
  difficulty varies, pooled and per-image scores diverge.
* ``MAJORITY = 0.5``: binary data whose labelled (foreground) class covers more than half of the pixels: the
  "background" is the minority, most likely the structure of interest (ISBI membranes are labelled 0 and cover
  22% of the pixels), and Dice of the labelled class is inflated by its size (all-foreground scores
  ``2 s / (1 + s)`` for a share ``s``: 0.876 at 78%).
* ``TRIVIAL_DICE = 0.5``: a trivial predictor (one class everywhere) whose mean per-image Dice on a foreground
  class reaches it makes Dice unfit as the primary metric (:func:`primary_metric`): all-foreground scores
  ``2 s / (1 + s) >= 0.5`` once the class covers ``s >= 1/3`` of an image.

:func:`primary_metric` is the one pick for a verdict (``segbench compare``'s default ``[eval] primary``): Dice of the
foreground classes (Metrics Reloaded's semantic-segmentation default) unless a trivial predictor's measured Dice
reaches ``TRIVIAL_DICE`` on this data; then MCC, which scores every constant prediction 0 (the empty-and-miss
policy) and weighs both sides of the confusion matrix, so no class's size inflates it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segbench import distributed
from segbench.files import atomic
from segbench.files.run_folder import PRIMARY_FILE
from segbench.formatting import percent
from segbench.inspect.profile import ClassProfile, DatasetProfile, profile_masks, score_trivial_predictors

__all__ = ["Advice", "PrimaryPick", "advise", "primary_for_masks", "primary_metric"]

SMALL_FOREGROUND = 0.10
TRIVIAL_ACCURACY = 0.70
SMALL_OBJECT_SHARE = 0.01
SMALL_OBJECT_PIXELS = 64
THIN_ELONGATION = 10.0
SPREAD_RATIO = 3.0
MAJORITY = 0.5
TRIVIAL_DICE = 0.5
PRIMARY_METRICS = ("dice", "mcc")
"""What :func:`primary_metric` picks from, and the trivial scores it needs (``segbench compare`` measures these)."""
_SWAP = "for 0/255 masks whose minority is 0: -o mapping='{\"0\": 1, \"255\": 0}' (TOML: [dataset] options)"


@dataclass(frozen=True)
class Advice:
    """One recommendation: ``topic`` (``"metrics"``, ``"distrust"``, ``"empty"``, ``"loss"``), ``text``, ``reason``."""

    topic: str
    text: str
    reason: str


def _pct(x: float) -> str:
    return percent(x)


def _foreground_classes(profile: DatasetProfile) -> list[ClassProfile]:
    return [c for c in profile.classes if c.index != profile.background]


def _minority_background(profile: DatasetProfile) -> tuple[ClassProfile, ClassProfile] | None:
    """``(labelled class, background)`` of binary data whose labelled class is the majority (> ``MAJORITY``)."""
    if profile.num_classes != 2:
        return None
    (fg,) = _foreground_classes(profile)
    bg = next(c for c in profile.classes if c.index == profile.background)
    return (fg, bg) if fg.pixel_share > MAJORITY else None


def _trivial_mean(profile: DatasetProfile, predictor: str, metric: str, scored: str) -> float:
    t = profile.trivial_score(predictor, metric, scored)
    return math.nan if t is None else t.mean


def _accuracy(profile: DatasetProfile) -> list[Advice]:
    fg_share = profile.pooled_foreground_share
    best: tuple[float, str] = (-1.0, "")
    for t in profile.trivial:
        if t.metric == "pixel_accuracy" and math.isfinite(t.mean) and t.mean > best[0]:
            best = (t.mean, t.predictor)
    if best[0] < 0:
        return []
    acc, who = best
    small = fg_share < SMALL_FOREGROUND
    if not small and acc < TRIVIAL_ACCURACY:
        return [Advice(
            "metrics", "Accuracy may be shown, next to its trivial baseline.",
            f"the best trivial predictor ({who}) reaches pixel accuracy {acc:.3f} (< {TRIVIAL_ACCURACY}) "
            f"and the foreground is {_pct(fg_share)} of the pixels, so accuracy still separates models here",
        )]
    why = f"the foreground is only {_pct(fg_share)} of the pixels (< {_pct(SMALL_FOREGROUND)})" if small else (
        f"a trivial predictor reaches pixel accuracy {acc:.3f} (>= {TRIVIAL_ACCURACY})"
    )
    return [Advice(
        "distrust",
        "Do not report pixel accuracy or specificity as evidence of quality (show accuracy only as the "
        "imbalance foil).",
        f"{why}: '{who}', which paints every pixel with one class, scores pixel accuracy {acc:.3f} on this data "
        "(the accuracy paradox); specificity is dominated by the many true negatives for the same reason",
    )]


def _overlap(profile: DatasetProfile) -> list[Advice]:
    flipped = _minority_background(profile)
    if flipped is not None:
        fg, bg = flipped
        dice_fg = _trivial_mean(profile, "all-foreground", "dice", fg.name)
        measured = f" (all-foreground, which knows nothing, scores mean Dice {dice_fg:.3f} on it)" if math.isfinite(
            dice_fg) else ""
        return [Advice(
            "metrics", f"Score the minority class {bg.name!r} ({_pct(bg.pixel_share)} of the pixels) as the class "
            f"of interest: relabel it as the foreground ({_SWAP}), then report its Dice (or IoU) per image.",
            f"the labelled class {fg.name!r} covers {_pct(fg.pixel_share)} of the pixels (> {_pct(MAJORITY)}), so "
            f"its Dice is inflated by its size{measured}: here the imbalance favours the labelled class, and Dice "
            f"of {fg.name!r} cannot tell a model from a constant; the minority {bg.name!r} is most likely the "
            "structure to find (Metrics Reloaded: score the class of interest)",
        )]
    out = []
    for c in _foreground_classes(profile):
        dice_bg = _trivial_mean(profile, "all-background", "dice", c.name)
        dice_fg = _trivial_mean(profile, "all-foreground", "dice", c.name)
        measured = (
            f": all-background scores mean Dice {dice_bg:.3f} and all-foreground {dice_fg:.3f} on {c.name!r} here"
            if math.isfinite(dice_bg) or math.isfinite(dice_fg) else ""
        )
        out.append(Advice(
            "metrics", f"Report Dice (or IoU; one determines the other) for class {c.name!r}, per class, "
            "without the background in the average.",
            f"overlap ignores true negatives, so imbalance cannot inflate it{measured} (Metrics Reloaded: "
            "DSC/IoU as the semantic-segmentation default)",
        ))
    return out


def _is_thin(c: ClassProfile) -> bool:
    return math.isfinite(c.elongation) and c.elongation >= THIN_ELONGATION


def _median_image_area(profile: DatasetProfile) -> float:
    areas = np.repeat([float(np.prod(shape)) for shape, _ in profile.image_sizes],
                      [n for _, n in profile.image_sizes])
    return float(np.median(areas))


def _boundaries(profile: DatasetProfile) -> list[Advice]:
    out = []
    area = _median_image_area(profile)
    for c in _foreground_classes(profile):
        median = c.component_sizes.median
        if c.component_sizes.n == 0 or not math.isfinite(median):
            continue
        small = median < SMALL_OBJECT_PIXELS or median < SMALL_OBJECT_SHARE * area
        thin = _is_thin(c)
        facts = (f"median object of {c.name!r} is {median:.0f} px ({_pct(median / area)} of the median image "
                 f"area), {c.components_per_image.median:.0f} object(s) per image (median); "
                 f"{_pct(c.boundary_share)} of its pixels lie on a boundary; elongation {c.elongation:.1f} "
                 "(pixel-weighted median)")
        if small or thin:
            what = "thin" if thin else "small"
            out.append(Advice(
                "metrics", f"Add boundary metrics for {c.name!r}: NSD at a stated tolerance and boundary IoU, "
                "plus HD95 for the worst boundary errors; and report per-image scores with their distribution.",
                f"{facts}; for {what} structures a one-pixel boundary shift moves Dice a lot and pooled Dice is "
                f"dominated by the largest objects (thresholds: median object < {SMALL_OBJECT_PIXELS} px or < "
                f"{_pct(SMALL_OBJECT_SHARE)} of the image; elongation >= {THIN_ELONGATION:.0f})",
            ))
            if thin:
                out.append(Advice(
                    "metrics", f"For {c.name!r}, consider a topology-aware score (clDice) next to Dice.",
                    f"half of its pixels lie in objects with elongation >= {c.elongation:.1f} (>= "
                    f"{THIN_ELONGATION:.0f}; a disc is about 3), i.e. long structures a few pixels wide; Dice "
                    "barely notices a broken thin structure (Metrics Reloaded FP2.3)",
                ))
        else:
            out.append(Advice(
                "metrics", f"A boundary metric (NSD or HD95) is optional for {c.name!r}; add one if contours "
                "matter for the application.",
                f"{facts}: objects are large, so Dice already reflects most errors",
            ))
        if c.components_per_image.median > 1:
            out.append(Advice(
                "metrics", f"Semantic scores do not count objects of {c.name!r}: if separating or detecting "
                "each object matters, add the object metrics dsb_score (the Data Science Bowl score), pq "
                "(panoptic quality), object_f1 and aji, against true instances where you have them "
                "(evaluate --instances DIR; --objects-csv lists every object).",
                f"images hold {c.components_per_image.median:.0f} objects (median; up to "
                f"{c.components_per_image.max:.0f}), and two touching objects merged still score a high Dice; "
                "the object metrics count each merged, split, missed or invented object (matched at IoU > 0.5)",
            ))
    return out


def _calibration(profile: DatasetProfile) -> list[Advice]:
    """Calibration metrics, on the measured foreground share: the constant predictor ``p = share`` shows what
    each score rewards (pooled ECE exactly 0, Brier ``share (1 - share)``, AP ``share``)."""
    fg = profile.pooled_foreground_share
    if not 0 < fg < 1:
        return []
    return [Advice(
        "metrics", "If the model's probabilities will be used (thresholds, risk, soft volumes), report the "
        "calibration metrics ece, brier and nll with ap beside them (evaluate --probabilities DIR), never ECE "
        "alone; compare the volume_bias / soft_volume_bias.",
        f"the foreground is {_pct(fg)} of the pixels: a model that outputs p = {fg:.3f} everywhere is perfectly "
        f"calibrated on the pooled pixels (ECE 0) yet finds nothing; its Brier score is {fg * (1 - fg):.4f} "
        f"(= {fg:.3f} x {1 - fg:.3f}) and its AP {fg:.3f} (the prevalence), so Brier, NLL and AP expose what ECE "
        "rewards",
    )]


def _per_image(profile: DatasetProfile) -> list[Advice]:
    d = profile.foreground_share
    if d.n == 0:
        return []
    spread = d.q90 / d.q10 if d.q10 > 0 else math.inf
    if spread < SPREAD_RATIO and profile.images_without_foreground == 0:
        return []
    return [Advice(
        "metrics", "Report the mean of per-image scores with its distribution (and a CI over images), not only "
        "the dataset-level (pooled) score; say which one a table shows.",
        f"per-image foreground share ranges {_pct(d.min)} to {_pct(d.max)} (10th-90th percentile "
        f"{_pct(d.q10)}-{_pct(d.q90)}, ratio {spread:.1f} >= {SPREAD_RATIO}): pooled Dice weights images by "
        "their foreground size, so the images with little foreground barely count in it",
    )]


def _empty(profile: DatasetProfile) -> list[Advice]:
    out = []
    for c in _foreground_classes(profile):
        if c.images_absent == 0:
            continue
        out.append(Advice(
            "empty", f"State how empty references of {c.name!r} are scored; segbench's policy: every count "
            "score NaN when reference and prediction are both empty (excluded from means and counted), a false "
            "alarm or a miss the failure it is (Dice, IoU, precision, recall, MCC 0); HD/ASSD inf for a false "
            "alarm or a miss (kept, so the mean is inf); NSD 0. empty_score=1.0 gives the Kaggle convention instead.",
            f"{c.images_absent} of {profile.num_images} images ({_pct(c.absent_share)}) have no {c.name!r}; "
            "libraries score these cases as NaN, 0 or 1, which changes the mean (Reinke et al. 2024, pitfalls)",
        ))
    return out


def _losses(profile: DatasetProfile) -> list[Advice]:
    ce = "bce" if profile.num_classes == 2 else "ce"
    fg = profile.pooled_foreground_share
    out = []
    flipped = _minority_background(profile)
    if flipped is not None:
        labelled, bg = flipped
        out.append(Advice(
            "loss", f"Train with {bg.name!r} as the foreground (relabel it, see above) and '0.5*{ce} + 0.5*dice'; "
            "a Dice loss on the majority class mostly rewards predicting it everywhere.",
            f"the labelled class {labelled.name!r} is {_pct(labelled.pixel_share)} of the pixels and the minority "
            f"{bg.name!r} {_pct(bg.pixel_share)}: region losses score the foreground channel, so they should see the "
            "class of interest",
        ))
    elif fg < SMALL_FOREGROUND:
        out.append(Advice(
            "loss", f"Train with a region loss combined with {ce}: e.g. '0.5*{ce} + 0.5*dice', or Tversky / "
            "Focal-Tversky with beta > alpha to penalise missed foreground.",
            f"the foreground is {_pct(fg)} of the pixels: plain {ce} is dominated by easy background pixels and "
            "under-segments; region losses are insensitive to the background count, and compound losses were "
            "the most robust in the Loss Odyssey comparison (Ma et al. 2021)",
        ))
    else:
        out.append(Advice(
            "loss", f"'0.5*{ce} + 0.5*dice' is a robust default; plain {ce} is a fair baseline here.",
            f"the foreground is {_pct(fg)} of the pixels, a moderate imbalance: CE alone was competitive on "
            "large structures in the Loss Odyssey comparison, and Dice-type losses help when evaluating by Dice "
            "(Eelbode et al. 2020)",
        ))
    absent = {c.name: c.images_absent for c in _foreground_classes(profile) if c.images_absent}
    if absent:
        listed = ", ".join(f"{name!r} absent from {n}" for name, n in absent.items())
        out.append(Advice(
            "loss", "Do not rely on a per-image Dice loss alone: use the batch (pooled) Dice reduction or keep "
            f"a {ce} term.",
            f"of {profile.num_images} images, {listed}; a per-image Dice loss on an empty reference gives no "
            "useful gradient (or no false-positive penalty), depending on its smoothing",
        ))
    fg_classes = _foreground_classes(profile)
    thin = [c for c in fg_classes if _is_thin(c)]
    if thin:
        out.append(Advice(
            "loss", "For thin structures, try clDice or a boundary-distance term (BoundaryLoss) added to the "
            "region loss.",
            f"{', '.join(repr(c.name) for c in thin)} has elongation {thin[0].elongation:.1f} (>= "
            f"{THIN_ELONGATION:.0f}); skeleton- and distance-based terms target connectivity and contour "
            "placement that Dice does not see",
        ))
    elif any(c.component_sizes.n and c.component_sizes.median < SMALL_OBJECT_PIXELS for c in fg_classes):
        out.append(Advice(
            "loss", "For small objects, add a boundary or Hausdorff-DT term to the region loss.",
            f"median objects below {SMALL_OBJECT_PIXELS} px: boundary losses improved Dice by up to 8% and HD by "
            "up to 10% over GDL alone (Kervadec et al. 2019)",
        ))
    return out


@dataclass(frozen=True)
class PrimaryPick:
    """The primary metric for a verdict on this data, and the measured reason (one sentence)."""

    metric: str
    reason: str


def primary_metric(profile: DatasetProfile) -> PrimaryPick:
    """The one metric to decide "which loss is best" on (see the module docstring): ``dice`` unless a trivial
    predictor's mean per-image Dice on some foreground class reaches :data:`TRIVIAL_DICE`, then ``mcc``. The
    trivial scores come from ``profile.trivial`` (measured on the data); without them, ``dice``.

    Args:
        profile: the data's profile, with its trivial scores (dice; mcc is quoted where measured).

    >>> from segbench.inspect.profile import profile_masks, score_trivial_predictors
    >>> m = np.zeros((8, 8), dtype=np.int64); m[:6] = 1        # the labelled class covers 75% of the pixels
    >>> p = profile_masks([m], class_names=["background", "membrane"])
    >>> p.trivial = score_trivial_predictors([m], p, metrics=["dice", "mcc"])
    >>> pick = primary_metric(p)
    >>> pick.metric, pick.reason[:62]
    ('mcc', "all-foreground scores mean Dice 0.857 on 'membrane' (>= 0.5) w")
    """
    worst: tuple[float, str, str] = (-1.0, "", "")
    for c in _foreground_classes(profile):
        for t in profile.trivial:
            if t.metric == "dice" and t.scored_class == c.name and math.isfinite(t.mean) and t.mean > worst[0]:
                worst = (t.mean, t.predictor, c.name)
    dice, who, name = worst
    if dice < 0:
        return PrimaryPick("dice", "Dice of the foreground classes, Metrics Reloaded's default for semantic "
                           "segmentation (no trivial scores were measured to check it against)")
    if dice < TRIVIAL_DICE:
        return PrimaryPick("dice", f"Dice of the foreground classes (Metrics Reloaded's default): no trivial "
                           f"predictor gets near it on this data (best: {who} {dice:.3f} on {name!r}, < "
                           f"{TRIVIAL_DICE})")
    mcc = _trivial_mean(profile, who, "mcc", name)
    quoted = f" ({who} scores MCC {mcc:.3f})" if math.isfinite(mcc) else ""
    return PrimaryPick("mcc", f"{who} scores mean Dice {dice:.3f} on {name!r} (>= {TRIVIAL_DICE}) without "
                       f"looking at the image, so Dice cannot tell a model from a constant here; MCC scores every "
                       f"constant prediction 0{quoted} and weighs both classes, so a large class earns no "
                       "free score")


def primary_for_masks(masks: Sequence[np.ndarray], *, class_names: Sequence[str],
                      ignore_index: int | None = None) -> PrimaryPick:
    """:func:`primary_metric` of label maps ``masks`` (e.g. a training split): their profile and the trivial
    predictors' :data:`PRIMARY_METRICS` scores, measured as ``segbench inspect`` measures them.

    Args:
        masks: label maps, one per image.
        class_names: the class names (background found as :func:`segbench.trivial.background_index` does).
        ignore_index: a label that counts nowhere.

    >>> m = np.zeros((8, 8), dtype=np.int64); m[:2, :2] = 1
    >>> primary_for_masks([m, m], class_names=["background", "cell"]).metric
    'dice'
    """
    profile = profile_masks(masks, class_names=class_names, ignore_index=ignore_index)
    profile.trivial = score_trivial_predictors(masks, profile, metrics=list(PRIMARY_METRICS))
    return primary_metric(profile)


def primary_record(primary: str | None, masks: Sequence[np.ndarray], *, class_names: Sequence[str],
                   ignore_index: int | None = None) -> dict[str, str]:
    """The record of the verdict's primary metric that ``segbench compare`` and ``sweep`` save
    (``primary.json``) and train with: ``primary`` (``[eval] primary``) where set, else
    :func:`primary_for_masks` of ``masks`` (the training split), with its reason and who chose it.

    Args:
        primary: ``[eval] primary``, or ``None`` for inspect's pick.
        masks: the training split's label maps.
        class_names: the class names.
        ignore_index: a label that counts nowhere.

    >>> m = np.zeros((8, 8), dtype=np.int64); m[:6] = 1
    >>> primary_record(None, [m], class_names=["background", "membrane"])["metric"]
    'mcc'
    >>> primary_record("iou", [m], class_names=["background", "membrane"])["chosen_by"]
    'config'
    """
    if primary is not None:
        return {"metric": primary, "reason": "set in [eval] primary", "chosen_by": "config"}
    pick = primary_for_masks(masks, class_names=class_names, ignore_index=ignore_index)
    return {"metric": pick.metric, "reason": pick.reason, "chosen_by": "inspect advice on the training split"}


def save_primary(exp: Any, folder: Path) -> dict[str, str]:
    """Resolve the verdict's primary metric of a prepared ``segbench compare`` experiment (:func:`primary_record`
    of its ``config.eval.primary`` and training masks), set it as ``exp.primary`` before training (the plateau
    rule and the learning-rate choice watch it), and write ``PRIMARY_FILE`` into ``folder`` on rank 0; returns the
    record. ``segbench compare`` calls it for its run folder and ``segbench sweep`` for each share's.

    Args:
        exp: the prepared experiment (:class:`segbench.compare.runner.Experiment`; read: ``config.eval.primary``,
            ``splits["train"].masks``, ``class_names``, ``ignore_index``).
        folder: the run folder.
    """
    record = primary_record(exp.config.eval.primary, [m.numpy() for m in exp.splits["train"].masks],
                            class_names=exp.class_names, ignore_index=exp.ignore_index)
    exp.primary = record["metric"]
    if distributed.is_main():
        atomic.write_json(Path(folder) / PRIMARY_FILE, record)
    return record


def _primary(profile: DatasetProfile) -> list[Advice]:
    if not profile.trivial:
        return []
    pick = primary_metric(profile)
    return [Advice("metrics", f"Decide between models on {pick.metric} (the primary metric: segbench compare's "
                   "default [eval] primary).", pick.reason)]


def advise(profile: DatasetProfile) -> list[Advice]:
    """All advice for ``profile`` (needs its ``trivial`` scores for the accuracy and overlap advice), in order:
    what to report, what to distrust, empty references, losses.

    >>> from segbench.inspect.profile import profile_masks
    >>> m = np.zeros((32, 32), dtype=np.int64); m[3:5, 3:6] = 1
    >>> profile = profile_masks([m, np.zeros_like(m)], class_names=["background", "cell"])
    >>> [a.topic for a in advise(profile)]
    ['metrics', 'metrics', 'metrics', 'metrics', 'empty', 'loss', 'loss', 'loss']
    """
    items = _primary(profile) + _accuracy(profile) + _overlap(profile) + _boundaries(profile) + _per_image(profile)
    items += _calibration(profile) + _empty(profile) + _losses(profile)
    order = {"metrics": 0, "distrust": 1, "empty": 2, "loss": 3}
    return sorted(items, key=lambda a: order[a.topic])
