"""Run a sweep: every share's compare experiment in its subfolder, through compare's own ``prepare`` and
``run_compare``, then the sweep's aggregates.

:func:`run_sweep` first prepares every share (so a bad dataset option or data file stops the sweep before anything
is written), writes ``sweep.toml`` (or checks that an existing one is the same sweep), then runs the shares largest
first. ``run_compare`` skips every (loss, seed) whose ``done.json`` exists, so rerunning a sweep resumes per
(share, loss, seed). The caller holds the sweep folder's lock (:class:`~segbench.files.lock.FolderLock`); each share's
run folder is locked while it runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from segbench.compare import config as _config
from segbench.compare.runner import prepare, run_compare
from segbench.errors import UsageError
from segbench.files import atomic as io
from segbench.files.lock import FolderLock
from segbench.files.run_folder import slug
from segbench.inspect.advice import save_primary
from segbench.report.sweep import SWEEP_FILE, SWEEP_TOML
from segbench.sweep.config import ShareExperiment, SweepConfig, resolve_sweep, share_experiments

__all__ = ["default_sweep_out", "run_sweep", "sweep_toml"]


def default_sweep_out(spec: str) -> Path:
    """``runs/sweep-<dataset>``.

    >>> default_sweep_out("synthetic").as_posix()
    'runs/sweep-synthetic'
    """
    kind, _, path = spec.partition(":")
    return Path("runs") / f"sweep-{slug(kind if not path else f'{kind}-{Path(path.rstrip(chr(47))).name}')}"


def sweep_toml(sweep: SweepConfig) -> str:
    """The sweep as TOML: the resolved base experiment's tables (every key explicit) and ``[sweep]``.

    >>> from segbench.sweep.config import resolve_sweep
    >>> sweep_toml(resolve_sweep({"dataset": {"spec": "synthetic"}, "sweep": {"shares": [0.1]}})).splitlines()[-3:]
    ['[sweep]', 'shares = [0.1]', 'method = "generate"']
    """
    base = _config.to_toml(_config.resolve(sweep.base), header="segbench sweep: the resolved sweep")
    lines = [f"shares = [{', '.join(repr(s) for s in sweep.shares)}]", f'method = "{sweep.method}"']
    if sweep.crop_size is not None:
        lines.append(f"crop_size = [{sweep.crop_size[0]}, {sweep.crop_size[1]}]")
    return base + "\n[sweep]\n" + "\n".join(lines) + "\n"


def _claim(out: Path, sweep: SweepConfig) -> None:
    path = out / SWEEP_TOML
    text = sweep_toml(sweep)
    if path.exists():
        old = resolve_sweep(_config.load(path))
        if sweep_toml(old) != text:
            raise UsageError(f"{out} holds a different sweep ({path} differs); use another --out or delete that folder")
        return
    io.write_text(path, text)


def _runs_planned(exp: ShareExperiment, n_models: int) -> int:
    """The training runs of one share: every (loss, seed), or with an lr grid every (loss, lr) on the first seed
    plus every (loss, other seed) at the chosen value (compare's equal tuning protocol)."""
    seeds, grid = len(exp.config.train.seeds), _config.lr_grid(exp.config)
    return n_models * (seeds if grid is None else len(grid) + seeds - 1)


def _runs_done(exp: ShareExperiment) -> int:
    """The share's complete training runs: ``done.json`` in ``runs/<slug>/seed<k>`` (scalar lr) or in
    ``runs/<slug>/lr=<value>/seed<k>`` (an lr grid); the trivial predictors' ``runs/trivial`` is not counted."""
    grid = _config.lr_grid(exp.config) is not None
    return sum(1 for _ in (exp.folder / "runs").glob("*/lr=*/seed*/done.json" if grid else "*/seed*/done.json"))


def _measured_share(folder: Path) -> dict[str, float]:
    """Each split's foreground share (1 minus the background class's share) from the share's ``dataset.json``."""
    path = folder / "dataset.json"
    info = io.read_json(path, missing={})
    background = info.get("background_class")
    return {split: round(1.0 - float(share.get(background, 0.0)), 6)
            for split, share in info.get("class_share", {}).items()}


def run_sweep(sweep: SweepConfig, out: Path, *, quiet: bool = False) -> dict[str, Any]:
    """Run every share of ``sweep`` into ``out`` (resuming); write ``out/sweep.json``; return its content.

    ``sweep.json`` lists each share with its folder (relative to ``out``), the measured foreground share per split
    and the runs trained in this invocation; one tqdm bar counts the (share, loss, seed) runs of the whole sweep.
    """
    start = time.perf_counter()
    shares = share_experiments(sweep, out)
    prepared = [prepare(exp.config) for exp in shares]  # every share's data and losses checked before writing
    _claim(out, sweep)
    total = sum(_runs_planned(e, len(p.models)) for e, p in zip(shares, prepared, strict=True))
    done_before = [_runs_done(e) for e in shares]
    bar = tqdm(total=total, initial=sum(done_before), desc="sweep", unit="run", disable=quiet, file=sys.stderr,
               position=0)
    entries = []
    for exp, experiment, before in zip(shares, prepared, done_before, strict=True):
        bar.set_postfix_str(f"share {exp.share:g}")
        t0 = time.perf_counter()
        with FolderLock(exp.folder, "segbench sweep"):  # a `segbench compare` on the share's folder waits its turn
            save_primary(experiment, exp.folder)
            run_compare(experiment, exp.folder, quiet=quiet)
        after = _runs_done(exp)
        bar.update(after - before)
        entries.append({"share": exp.share, "folder": exp.folder.name, "measured_share": _measured_share(exp.folder),
                        "runs": after, "trained_now": after - before,
                        "seconds_this_invocation": round(time.perf_counter() - t0, 3)})
    bar.close()
    record = {"shares": entries, "method": sweep.method, "spec": shares[0].config.dataset.spec,
              "seconds_this_invocation": round(time.perf_counter() - start, 3)}
    io.write_json(out / SWEEP_FILE, record)
    return record
