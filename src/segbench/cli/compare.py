"""``segbench compare [CONFIG.toml] [--dataset SPEC] [--loss SPEC ...] [--max-steps N] [--seeds N] [--out DIR]``.

Trains identical U-Nets that differ only in the loss (every loss of a seed starts from the same weights and
sees the same batches), scores the test split per image on every metric, scores the trivial predictors
beside them, prints a losses x metrics table and writes the run folder (``docs/run-folder.md``). Flags
override the TOML; with no arguments the bundled default runs (four losses on ``sample``, each run trained to a
validation plateau). Warnings follow the table: a run stopped by the step maximum while still improving, a
learning rate chosen at the edge of its grid, a dead term of a combined loss. Rerunning the same command resumes.

Under ``torchrun --nproc_per_node N -m segbench compare ...`` every rank runs this command; the runs train with
DistributedDataParallel and only rank 0 writes the run folder, prints and builds the report
(``docs/distributed.md``). ``--jobs N`` trains N runs at once in worker processes, ``--engine ray`` as Ray tasks
(on a cluster with ``--address``); the same folder resumes under any of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from segbench import distributed
from segbench.cli.inspect import add_option_argument, parse_options
from segbench.compare import config as _config
from segbench.compare.calibrate import scaled_metrics
from segbench.compare.runner import default_out, prepare, run_compare
from segbench.compare.table import COUNTS_FOOTNOTE, format_table, summarize, table_metrics
from segbench.errors import UsageError
from segbench.files.lock import FolderLock
from segbench.inspect.advice import save_primary
from segbench.report import build_report
from segbench.report.training import load_training, training_warnings
from segbench.schedule import ENGINES, RunFailed

__all__ = ["add_arguments", "add_schedule_arguments", "image_size_argument", "patch_size_argument", "run",
           "schedule_overrides"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def image_size_argument(text: str | None) -> int | list[int] | str | None:
    """``--image-size``: ``native`` (no resizing; volumes need it), ``PX`` (PX x PX) or ``H,W``, as the TOML's
    ``[dataset] image_size`` would hold it (checked there too); ``None`` when not given; UsageError (one line) else.

    >>> image_size_argument("native"), image_size_argument("48"), image_size_argument("32,64")
    ('native', 48, [32, 64])
    """
    if text is None:
        return None
    value = text.strip().lower()
    if value == "native":
        return "native"
    try:
        sizes = [int(part) for part in value.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) == 3:
        raise UsageError(f"--image-size {text}: volumes are never resized; use --image-size native")
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise UsageError(f"--image-size must be native, PX or H,W (positive integers), got {text!r}")
    return sizes[0] if len(sizes) == 1 else sizes


def patch_size_argument(text: str | None) -> list[int] | None:
    """``--patch-size Z,Y,X`` (or ``H,W``): ``[train] patch_size`` as a list of positive integers; ``None`` when not
    given; UsageError (one line) else.

    >>> patch_size_argument("16,24,24")
    [16, 24, 24]
    """
    if text is None:
        return None
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) not in (2, 3) or min(sizes) < 1:
        raise UsageError(f"--patch-size must be Z,Y,X (volumes) or H,W: positive integers, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``compare`` options on ``parser``."""
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG.toml",
                        help="experiment file (tables [dataset] [model] [train] [losses] [eval]); "
                             "default: the bundled default run")
    parser.add_argument("--dataset", metavar="SPEC",
                        help="dataset spec: sample, synthetic, pets:PATH, folder:PATH, synthetic3d, volumes:PATH")
    parser.add_argument("--loss", action="append", metavar="SPEC", dest="losses",
                        help='a loss spec such as "dice" or "0.5*bce+0.5*dice"; repeat for several '
                             "(replaces the config's list)")
    add_option_argument(parser)
    parser.add_argument("--max-steps", type=_positive, metavar="N",
                        help="the most optimizer steps per run (a run stops earlier at a validation plateau)")
    parser.add_argument("--epochs", type=_positive, metavar="N",
                        help="legacy fixed budget: N passes over the training images, no plateau rule")
    parser.add_argument("--seeds", type=_positive, metavar="N", help="train seeds 0..N-1")
    parser.add_argument("--image-size", metavar="native|PX|H,W",
                        help="[dataset] image_size: resize images to PX x PX or H x W, or native (no resizing; "
                             "volumes are never resized and need native)")
    parser.add_argument("--patch-size", metavar="Z,Y,X",
                        help="[train] patch_size: train on random patches, predict by sliding windows (volumes "
                             "need it)")
    parser.add_argument("--device", choices=_config.DEVICES, help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run folder (default runs/compare-<dataset>); rerunning with the same DIR resumes")
    add_schedule_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the HTML/Markdown report (build it later with `segbench report DIR`)")


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``--jobs``, ``--engine`` and ``--address`` (``compare``, and every command that runs studies)."""
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="runs trained at once, each in its own worker process (or Ray tasks in flight); "
                             "CPU threads are split between them ([compute] jobs; default 1: in this process)")
    parser.add_argument("--engine", metavar="|".join(ENGINES),
                        help="local: worker processes on this machine; ray: Ray tasks (extra segbench[ray]) "
                             "([compute] engine; default local)")
    parser.add_argument("--address", metavar="auto|HOST:PORT",
                        help="--engine ray: a running Ray cluster (`ray start --head`); default: a local Ray, "
                             "started and stopped with the command")


def schedule_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[compute]`` overrides of :func:`add_schedule_arguments`' flags (``None``: not given); UsageError
    (one line) for ``--jobs`` < 1 or an unknown ``--engine``."""
    jobs, engine = getattr(args, "jobs", None), getattr(args, "engine", None)
    if jobs is not None and jobs < 1:  # one line (an argparse error would print the usage too)
        raise UsageError(f"--jobs must be an integer >= 1, got {jobs}")
    if engine is not None and engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return {"jobs": jobs, "engine": engine, "address": getattr(args, "address", None)}


def resolve_args(args: argparse.Namespace) -> _config.ExperimentConfig:
    """The resolved config: the TOML file (if any) with the command-line flags laid over it."""
    compute = schedule_overrides(args)
    raw = _config.load(args.config) if args.config is not None else {}
    options = None
    if args.option:  # laid over the TOML's [dataset] options, key by key
        base = raw.get("dataset", {}).get("options", {})
        options = {**(base if isinstance(base, dict) else {}), **parse_options(args.option)}
    overrides = {
        "dataset": {"spec": args.dataset, "image_size": image_size_argument(args.image_size), "options": options},
        "train": {"max_steps": args.max_steps, "epochs": args.epochs, "seeds": args.seeds, "device": args.device,
                  "patch_size": patch_size_argument(args.patch_size)},
        "losses": {"specs": args.losses},
        "compute": compute,
    }
    return _config.resolve(_config.apply_overrides(raw, overrides))


def run(args: argparse.Namespace) -> int:
    """Run the comparison and print the table; 0 on success."""
    start = time.perf_counter()
    config = resolve_args(args)
    out = args.out if args.out is not None else default_out(config.dataset.spec)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    experiment = prepare(config)
    cuda = distributed.device(config.train.device).type == "cuda"
    with ExitStack() as held:  # rank 0 holds the run folder's lock until the report is written
        with distributed.session(cuda=cuda):
            busy = None
            if distributed.is_main():
                try:
                    held.enter_context(FolderLock(out, "segbench compare"))
                except UsageError as exc:
                    busy = str(exc)
            busy = distributed.broadcast_object(busy)  # every rank stops alike
            if busy is not None:
                raise UsageError(busy)
            save_primary(experiment, out)  # before training: training watches the verdict's metric
            try:
                rows = run_compare(experiment, out, quiet=args.quiet)
            except RunFailed as exc:  # one line; the finished runs are kept and the same command resumes
                print(f"segbench compare: {exc}; the other runs are kept: rerun the same command to resume",
                      file=sys.stderr)
                return 1
            ranks, main = distributed.world_size(), distributed.is_main()
        return _print_and_report(args, config, experiment, rows, out, ranks, start) if main else 0


def _print_and_report(args: argparse.Namespace, config: _config.ExperimentConfig, experiment: Any,
                      rows: list[dict[str, str]], out: Path, ranks: int, start: float) -> int:
    """Rank 0's part after training: the table on stdout, the report, the run folder's
    path."""
    background = None if experiment.binary else experiment.class_names[experiment.background]
    shown = table_metrics(scaled_metrics(experiment.metrics))
    summary = summarize(rows, background=background, metrics=shown)
    seeds = len(config.train.seeds)
    scope = "foreground class" if experiment.binary else "mean over the non-background classes"
    on = f", {ranks} processes" if ranks > 1 else ""
    print(f"segbench compare: {experiment.name}, test split {len(experiment.ids['test'])} images, "
          f"{seeds} seed(s){on}; per-image mean ({scope}), ± = SD over seeds")
    paths = None if args.no_report else build_report(out, quiet=args.quiet)
    if paths is not None:  # the answer first (#18)
        print("\n".join(paths.answer) + "\n")
    print(format_table(summary, shown))
    print(COUNTS_FOOTNOTE)
    for warning in training_warnings(load_training(out)):  # still learning at the maximum, lr at the grid's edge,
        print(f"warning: {warning}")                       # dead loss terms
    if paths is not None:
        print(f"report: {paths.html}")
    print(f"run folder: {out}  ({time.perf_counter() - start:.1f} s)")
    return 0
