"""``segbench report RUN_DIR``: rebuild the HTML/Markdown report of a compare run (or of a ``segbench sweep`` folder,
recognised by its ``sweep.json``) from its saved results.

Nothing is retrained: the command reads ``RUN_DIR/results/*.csv``, ``history.csv``, ``dataset.json`` and
``predictions/`` (see ``docs/run-folder.md``) and rewrites ``report.html``, ``summary.md``, ``figures/*.png``
and ``results/statistics.csv``. The bootstrap is seeded, so a rebuild gives identical numbers.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from segbench.errors import UsageError
from segbench.files.lock import FolderLock

__all__ = ["FORMATS", "add_arguments", "parse_formats", "run"]

FORMATS = ("html", "md")


def parse_formats(text: str) -> tuple[str, ...]:
    """``--format`` as a tuple of known formats, in the order given.

    >>> parse_formats("md, html"), parse_formats("html")
    (('md', 'html'), ('html',))
    >>> parse_formats("pdf")
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: --format: unknown format(s) ['pdf']; expected a comma-separated subset of html,md
    """
    items = tuple(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    unknown = [i for i in items if i not in FORMATS]
    if unknown or not items:
        raise UsageError(f"--format: unknown format(s) {unknown or [text]}; expected a comma-separated subset of "
                         f"{','.join(FORMATS)}")
    return items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``segbench report``."""
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out folder of `segbench compare`")
    parser.add_argument("--format", default="html,md", metavar="LIST",
                        help="comma-separated: html (report.html), md (summary.md); default: html,md")
    parser.add_argument("--n-boot", type=int, default=2000, metavar="N",
                        help="bootstrap resamples for the confidence intervals (default 2000)")
    parser.add_argument("--reference", metavar="LOSS",
                        help="loss spec the others are tested against (default: the first loss of the run)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    """Rebuild the report; prints the paths written."""
    from segbench.report import build_report, load_run
    from segbench.report.sweep import SWEEP_FILE

    formats = parse_formats(args.format)
    if args.n_boot < 1:
        raise UsageError(f"--n-boot must be a positive integer, got {args.n_boot}")
    if (args.run_dir / SWEEP_FILE).is_file():  # a `segbench sweep` folder: its report across the shares (#23)
        return _sweep_report(args)
    if args.reference is not None:
        trained = load_run(args.run_dir).trained
        if args.reference not in trained:
            raise UsageError(f"--reference {args.reference!r} is not a loss of this run; expected one of "
                             f"{', '.join(trained)}")
    with FolderLock(args.run_dir, "segbench report") if args.run_dir.is_dir() else nullcontext():
        paths = build_report(args.run_dir, n_boot=args.n_boot, quiet=args.quiet, formats=formats,
                             reference=args.reference)
    if "html" in formats:
        print(f"report:     {paths.html}")
    if "md" in formats:
        print(f"summary:    {paths.markdown}")
    print(f"statistics: {paths.statistics}")
    print(f"figures:    {len(paths.figures)} in {paths.statistics.parent.parent / 'figures'}")
    return 0


def _sweep_report(args: argparse.Namespace) -> int:
    """Rebuild the report of a sweep folder (``report.html``, ``summary.md``, the signature figure)."""
    from segbench.report.sweep import build_sweep_report

    if args.reference is not None:
        raise UsageError("--reference is for a compare run folder; a sweep report compares every loss with the best")
    with FolderLock(args.run_dir, "segbench report"):
        paths = build_sweep_report(args.run_dir, n_boot=args.n_boot, quiet=args.quiet)
    print(f"report:     {paths.html}")
    print(f"summary:    {paths.markdown}")
    print(f"statistics: {paths.statistics}")
    return 0
