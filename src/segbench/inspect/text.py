"""The plain-text report of ``segbench inspect``: profile, trivial-predictor table, advice with reasons."""

from __future__ import annotations

import textwrap

from segbench.formatting import number, percent
from segbench.inspect.advice import Advice
from segbench.inspect.profile import DatasetProfile, Distribution, TrivialScore
from segbench.trivial import TRIVIAL_PREDICTORS

__all__ = ["format_profile"]

WIDTH = 100


def _pct(x: float) -> str:
    return percent(x)


def _num(x: float | None) -> str:
    return number(x, ".3f", large=(1000, ".0f"))


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def _dist(d: Distribution, pct: bool = False, digits: int = 0) -> str:
    f = _pct if pct else (lambda x: f"{x:.{digits}f}")
    return (f"median {f(d.median)}, mean {f(d.mean)}, 10-90% {f(d.q10)}-{f(d.q90)}, "
            f"range {f(d.min)}-{f(d.max)}")


def _cell(t: TrivialScore) -> str:
    text = _num(t.mean)
    if t.pooled is not None:
        text += f" [{_num(t.pooled)}]"
    extra = [f"{t.n_nan} nan" if t.n_nan else "", f"{t.n_inf} inf" if t.n_inf else ""]
    extra = [e for e in extra if e]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _trivial_table(profile: DatasetProfile) -> list[str]:
    if not profile.trivial:
        return []
    lines = [
        "",
        "What trivial predictors score (mean of per-image scores; [dataset-level pooled score]; "
        "nan: undefined cases, inf: misses):",
    ]
    heads: dict[str, str] = {}
    for t in profile.trivial:
        heads.setdefault(t.predictor, f"{t.predictor} ({t.predicted_class})")
    predictors = [p for p in TRIVIAL_PREDICTORS if p in heads]
    scored = list(dict.fromkeys(t.scored_class for t in profile.trivial))
    width = max(30, *(len(heads[p]) + 2 for p in predictors))
    for cls in scored:
        lines.append(f"  class {cls}" if cls != "all" else "  all classes at once")
        lines.append(f"    {'metric':<18}" + "".join(f"{heads[p]:<{width}}" for p in predictors))
        metrics = list(dict.fromkeys(t.metric for t in profile.trivial if t.scored_class == cls))
        for metric in metrics:
            cells = []
            for p in predictors:
                found = profile.trivial_score(p, metric, cls)
                cells.append(f"{'' if found is None else _cell(found):<{width}}")
            lines.append(f"    {metric:<18}" + "".join(cells))
    return lines


def format_profile(profile: DatasetProfile, advice: list[Advice], *, split: str = "all") -> str:
    """The text report: sizes, class shares, foreground distribution, objects, trivial scores, advice."""
    sizes = ", ".join(f"{_size(s)} ({n})" for s, n in profile.image_sizes[:8])
    if len(profile.image_sizes) > 8:
        sizes += f", ... ({len(profile.image_sizes)} distinct sizes)"
    lines = [
        f"Dataset {profile.name} (split {split}): {profile.num_images} images, {profile.num_classes} classes "
        f"{profile.class_names}; background: {profile.class_names[profile.background]!r}",
        f"Image sizes (HxW, count): {sizes}",
    ]
    if profile.ignore_index is not None:
        lines.append(f"Ignored pixels (label {profile.ignore_index}): {_pct(profile.ignored_share)} (counted nowhere)")
    lines += ["", "Class pixel shares (pooled over all pixels | mean of per-image shares | images where absent):"]
    for c in profile.classes:
        lines.append(f"  {c.name:<16}{_pct(c.pixel_share):>8} | {_pct(c.mean_image_share):>8} | "
                     f"{c.images_absent} of {profile.num_images} ({_pct(c.absent_share)})")
    lines += [
        "",
        f"Foreground share per image (all non-background classes): {_dist(profile.foreground_share, pct=True)}; "
        f"{profile.images_without_foreground} image(s) without foreground",
        "",
        f"Objects (connected components, {profile.connectivity} connectivity):",
    ]
    for c in profile.classes:
        if c.index == profile.background:
            continue
        lines.append(f"  {c.name}: {c.component_sizes.n} objects; per image {_dist(c.components_per_image)}")
        lines.append(f"  {' ' * len(c.name)}  size in pixels {_dist(c.component_sizes)}; "
                     f"{_pct(c.boundary_share)} of its pixels on a boundary; elongation {c.elongation:.1f} "
                     "(perimeter^2 / 4 area, pixel-weighted median; disc ~3, strip = length / width)")
    lines += _trivial_table(profile)
    lines += ["", "Advice (each with the measured reason):"]
    for a in advice:
        lines += textwrap.wrap(f"[{a.topic}] {a.text}", WIDTH, initial_indent="  ", subsequent_indent="    ")
        lines += textwrap.wrap(f"because {a.reason}.", WIDTH, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)
