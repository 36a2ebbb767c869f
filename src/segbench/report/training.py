r"""How the runs trained: the step budget and plateau rule, the equal tuning protocol, live loss terms.

Everything here reads ``results/training.json`` (written by ``segbench compare``; absent in older run folders,
where every function returns nothing). The sentences are said once, here: the report's "Training and tuning"
section and the warnings ``segbench compare`` prints both come from :func:`training_notes` and
:func:`training_warnings`.

The warnings:

- a run **stopped by the maximum while still improving** (``stop == "max_steps"``: its validation metric rose by
  more than ``min_delta`` within the last ``patience`` steps): its loss's ranking then reflects how fast it learns,
  not where it ends;
- a loss whose **learning rate sits at the edge of the grid** (the smallest or the largest value): its best value
  may lie outside the grid; and a tuning run stopped by the maximum while still improving (the values were then
  compared at unequal maturity);
- a **dead term** of a combined loss: one whose value stayed constant or whose gradient with respect to the logits
  was zero all run (as MONAI's Dice-CE with one sigmoid channel, whose CE term is 0).

The sensitivity figure (:func:`sensitivity_figure`) plots, per loss, the best validation value of the watched
metric on the tuning seed against the learning rate (log axis), the chosen value circled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from segbench.files.atomic import read_json
from segbench.files.run_folder import TRAINING_FILE
from segbench.report.analysis import Analysis

__all__ = ["load_training", "ranking_caveat", "sensitivity_figure", "training_notes", "training_warnings"]


def load_training(root: Path) -> dict[str, Any] | None:
    """``results/training.json`` of the run folder ``root``, or ``None`` where it is absent or unreadable (older
    folders)."""
    path = root / "results" / TRAINING_FILE
    found = read_json(path, missing=None)
    return found if isinstance(found, dict) else None


def _lr(value: Any) -> str:
    return f"{float(value):g}"


def _runs(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in summary.get("runs", []) if isinstance(r, dict)]


def _still_improving(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _runs(summary) if r.get("stop") == "max_steps" and r.get("still_improving")]


def _chosen(summary: dict[str, Any]) -> dict[str, float]:
    return {str(r["model"]): float(r["lr"]) for r in summary.get("lr_search", []) if r.get("chosen")}


def _edges(summary: dict[str, Any]) -> list[tuple[str, float, str]]:
    grid = sorted(float(v) for v in summary.get("lr_grid") or [])
    if len(grid) < 2:
        return []
    return [(model, lr, "smallest" if lr == grid[0] else "largest")
            for model, lr in _chosen(summary).items() if lr in (grid[0], grid[-1])]


def _dead(summary: dict[str, Any]) -> dict[tuple[str, str], list[int]]:
    """``{(loss, term): [seeds]}`` of the dead terms."""
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in _runs(summary):
        for term in r.get("dead_terms") or []:
            out[(str(r["model"]), str(term))].append(int(r["seed"]))
    return dict(out)


def training_warnings(summary: dict[str, Any] | None) -> list[str]:
    """The warnings of a run folder's ``training.json`` (see the module docstring), one sentence each.

    Args:
        summary: the parsed ``results/training.json`` (``None``: no warnings).

    >>> s = {"lr_grid": [1e-3, 3e-3], "max_steps": 100, "runs": [
    ...     {"model": "dice", "seed": 0, "stop": "max_steps", "still_improving": True, "dead_terms": []},
    ...     {"model": "ce+dice", "seed": 0, "stop": "plateau", "dead_terms": ["ce"]}],
    ...     "lr_search": [{"model": "dice", "lr": 3e-3, "val": 0.7, "chosen": True}]}
    >>> for line in training_warnings(s): print(line[:72])
    dice seed 0 stopped at the maximum of 100 steps while still improving: i
    dice: the chosen learning rate 0.003 is the largest of the grid [0.001,
    ce+dice: term ce is dead (constant or without gradient) in seed(s) [0]:
    """
    if not summary:
        return []
    out = [f"{r['model']} seed {r['seed']} stopped at the maximum of {r.get('max_steps', summary.get('max_steps'))} "
           "steps while still improving: its ranking reflects how fast it learns, not where it ends (raise [train] "
           "max_steps)." for r in _still_improving(summary)]
    grid = "[" + ", ".join(_lr(v) for v in sorted(summary.get("lr_grid") or [])) + "]"
    out += [f"{model}: the chosen learning rate {_lr(lr)} is the {side} of the grid {grid}; its best value may lie "
            f"{'below' if side == 'smallest' else 'beyond'} it (widen [train] lr)."
            for model, lr, side in _edges(summary)]
    out += [f"{r['model']}: its tuning run at learning rate {_lr(r['lr'])} stopped at the maximum while still "
            "improving, so the choice compared values at unequal maturity (raise [train] max_steps)."
            for r in summary.get("lr_search", []) if r.get("still_improving")]
    out += [f"{loss}: term {term} is dead (constant or without gradient) in seed(s) {seeds}: the combined loss "
            "trains as its other terms alone." for (loss, term), seeds in _dead(summary).items()]
    return out


def ranking_caveat(summary: dict[str, Any] | None) -> list[str]:
    """One sentence for the answer, where some final run stopped at the maximum while still improving; else none.

    >>> ranking_caveat({"runs": [{"model": "dice", "seed": 1, "stop": "max_steps", "still_improving": True},
    ...                          {"model": "ce", "seed": 1, "stop": "plateau"}]})[0][:60]
    '1 of 2 runs stopped at the step maximum while still improvin'
    """
    cut = _still_improving(summary or {})
    if not cut:
        return []
    which = ", ".join(f"{r['model']} seed {r['seed']}" for r in cut)
    return [f"{len(cut)} of {len(_runs(summary or {}))} runs stopped at the step maximum while still improving "
            f"({which}): the ranking then reflects how fast each loss learns, not where it ends."]


def training_notes(summary: dict[str, Any] | None) -> list[str]:
    """The protocol in words: the budget and plateau rule, how many runs reached the plateau, the learning-rate
    protocol and each loss's chosen value, the term logging; then :func:`training_warnings`.

    Args:
        summary: the parsed ``results/training.json`` (``None``: nothing to say).
    """
    if not summary:
        return []
    runs = _runs(summary)
    monitor = summary.get("monitor", "dice")
    crop, patch = summary.get("crop"), summary.get("patch_size")
    if patch:  # volumes: patches with foreground oversampling (older folders recorded the 2D crop instead)
        share = summary.get("foreground_share")
        what = f" random {'x'.join(str(v) for v in patch)} patches" + (
            f", {share:.0%} of them centred on foreground" if isinstance(share, (int, float)) else "")
    else:
        what = f" random {crop[0]}x{crop[1]} crops" if crop else " whole images"
    batch = f"batches of {summary.get('batch_size', '?')}{what}"
    if summary.get("patience") is None:
        rule = (f"a fixed budget of {summary.get('max_steps')} optimizer steps ({summary.get('epochs', '?')} passes "
                f"over the training images, {batch}), validated every {summary.get('eval_every')} steps, with no "
                "plateau rule")
    else:
        rule = (f"at most {summary.get('max_steps')} optimizer steps ({batch}), validated every "
                f"{summary.get('eval_every')} steps; a run stops at a plateau: validation {monitor} not improved by "
                f"more than {summary.get('min_delta')} for {summary.get('patience')} steps")
    plateaued = [r for r in runs if r.get("stop") == "plateau"]
    steps = sorted(int(r.get("stop_step", 0)) for r in runs)
    notes = [f"Training: {rule}. {len(plateaued)} of {len(runs)} runs reached the plateau"
             + (f" (stop steps {steps[0]} to {steps[-1]}, median {steps[len(steps) // 2]})." if steps else ".")]
    if summary.get("lr_grid"):
        grid = ", ".join(_lr(v) for v in sorted(summary["lr_grid"]))
        chosen = ", ".join(f"{m} {_lr(lr)}" for m, lr in _chosen(summary).items())
        notes.append(f"Equal tuning: every loss trained at each learning rate of [{grid}] on seed "
                     f"{summary.get('lr_seed')}; the value with the best validation {monitor} was kept (ties: the "
                     f"smallest), then every seed trained at it. Chosen: {chosen}. Test scores played no part.")
    notes.append("Every loss term's value and the L2 norm of its gradient with respect to the logits are logged per "
                 "validation window (terms.csv).")
    return notes + [f"Warning: {w}" for w in training_warnings(summary)]


def sensitivity_figure(analysis: Analysis) -> Figure | None:
    """Validation value of the watched metric against the learning rate (log axis), one line per loss, the chosen
    value circled; ``None`` without a learning-rate grid."""
    summary = load_training(analysis.run.root)
    if not summary or not summary.get("lr_search"):
        return None
    from segbench.report.figures import model_colors

    colors = model_colors(analysis)
    by_model: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for r in summary["lr_search"]:
        by_model[str(r["model"])].append((float(r["lr"]), float(r["val"]), bool(r["chosen"])))
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for model, points in by_model.items():
        points.sort()
        color = colors.get(model, ("black", ""))[0]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=color, label=model)
        for lr, val, chosen in points:
            if chosen and math.isfinite(val):
                ax.plot([lr], [val], marker="o", markersize=13, markerfacecolor="none", color=color)
    ax.set_xscale("log")
    grid = sorted(float(v) for v in summary.get("lr_grid") or [])
    if grid:
        ax.set_xticks(grid, labels=[_lr(v) for v in grid])
        ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"best validation {summary.get('monitor', 'dice')} (seed {summary.get('lr_seed')})")
    ax.set_title("Learning-rate sensitivity per loss (circle: the chosen value)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", frameon=False, title="loss")
    return fig
