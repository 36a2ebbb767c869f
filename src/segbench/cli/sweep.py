"""``segbench sweep CONFIG.toml [--out DIR]``: compare's experiment over one dataset at several foreground shares.

CONFIG.toml holds compare's tables and a ``[sweep]`` table (``shares = [...]``, see
:mod:`segbench.sweep.config`). Each share is one compare run folder ``DIR/share-<share>``; rerunning the same command
resumes per (share, loss, seed). The sweep folder holds the run-folder lock, ``sweep.toml``, ``sweep.json`` and the
sweep report (``report.html``, ``summary.md``, ``figures/signature.png``, ``results/sweep_statistics.csv``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from segbench.cli.compare import add_schedule_arguments, schedule_overrides
from segbench.errors import UsageError
from segbench.files.lock import FolderLock
from segbench.schedule import RunFailed

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sweep`` options on ``parser``."""
    parser.add_argument("config", type=Path, metavar="CONFIG.toml",
                        help="compare's tables plus [sweep] shares = [...] (examples/sweep.toml is the default sweep)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="sweep folder (default runs/sweep-<dataset>); rerunning with the same DIR resumes")
    parser.add_argument("--n-boot", type=int, default=2000, metavar="N",
                        help="bootstrap resamples of the report's intervals (default 2000)")
    add_schedule_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-report", action="store_true", help="skip the sweep report")


def run(args: argparse.Namespace) -> int:
    """Run the sweep and build its report; 0 on success."""
    from segbench.report.sweep import build_sweep_report
    from segbench.sweep import default_sweep_out, load_sweep, run_sweep, share_experiments

    start = time.perf_counter()
    if args.n_boot < 1:
        raise UsageError(f"--n-boot must be a positive integer, got {args.n_boot}")
    sweep = load_sweep(args.config)
    given = {k: v for k, v in schedule_overrides(args).items() if v is not None}
    if given:  # the flags over the file's [compute]; each share's experiment resolves (and checks) them
        sweep = replace(sweep, base={**sweep.base, "compute": {**sweep.base.get("compute", {}), **given}})
    spec = share_experiments(sweep, ".")[0].config.dataset.spec
    out = args.out if args.out is not None else default_sweep_out(spec)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    with FolderLock(out, "segbench sweep"):
        try:
            record = run_sweep(sweep, out, quiet=args.quiet)
        except RunFailed as exc:  # one line; the finished runs are kept and the same command resumes
            print(f"segbench sweep: {exc}; the other runs are kept: rerun the same command to resume",
                  file=sys.stderr)
            return 1
        paths = None if args.no_report else build_sweep_report(out, n_boot=args.n_boot, quiet=args.quiet)
    trained = sum(e["trained_now"] for e in record["shares"])
    shares = ", ".join(f"{e['share']:g}" for e in record["shares"])
    print(f"segbench sweep: {spec}, shares {shares}; {trained} run(s) trained now")
    if paths is not None:
        print("\n".join(paths.answer))
        print(f"report: {paths.html}")
    print(f"sweep folder: {out}  ({time.perf_counter() - start:.1f} s)")
    return 0
