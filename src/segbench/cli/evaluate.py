"""``segbench evaluate``: score saved predictions against ground truth on disk, one CSV row per case and class.

Pairs ``--pred`` and ``--truth`` files by stem (PNG, TIFF, NPY/NPZ, NIfTI; 2D and 3D), checks every case
before scoring any, scores every metric of :mod:`segbench.scoring` (count and distance metrics), prints a
summary (mean, 95% CI, median, undefined and missed cases per class and metric) and, with ``--out``, writes
the per-case CSV atomically. Any bad input stops the command with one line naming the file(s), exit 2, and
no results file. Under ``torchrun --nproc_per_node N -m segbench evaluate ...`` the cases are spread over the
ranks and rank 0 alone prints and writes (``docs/distributed.md``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segbench import distributed
from segbench.errors import UsageError
from segbench.evaluate.folders import OBJECT_CSV_COLUMNS, evaluate_folders
from segbench.evaluate.per_case import format_summary, summarize_evaluation, write_csv
from segbench.files import atomic as files
from segbench.metrics import catalogue

__all__ = ["add_arguments", "parse_label_map", "parse_list", "run"]


def parse_list(text: str | None, flag: str, kind: type = str) -> list[Any] | None:
    """Split a comma-separated flag value; ``kind`` converts each item (a bad item names the flag).

    >>> parse_list("1.5, 1,1", "--spacing", float), parse_list(None, "--metrics")
    ([1.5, 1.0, 1.0], None)
    """
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{flag} is empty; expected a comma-separated list")
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise UsageError(f"{flag} must be a comma-separated list of {kind.__name__} values, got {text!r}") from None


def parse_label_map(text: str | None) -> dict[int, int] | None:
    """``--label-map 1000=1,2000=2`` as ``{1000: 1, 2000: 2}``; a bad item names the flag.

    Args:
        text: the flag's value, or ``None``.

    >>> parse_label_map("1000=1, 2000=2"), parse_label_map(None)
    ({1000: 1, 2000: 2}, None)
    """
    items = parse_list(text, "--label-map")
    if items is None:
        return None
    mapping: dict[int, int] = {}
    for item in items:
        value, sep, label = item.partition("=")
        try:
            key, target = int(value), int(label)
        except ValueError:
            key, target = -1, -1
        if not sep or target < 0 or key in mapping:
            raise UsageError(f"--label-map takes distinct VALUE=LABEL integer pairs such as 1000=1,2000=2, "
                             f"got {item!r} in {text!r}")
        mapping[key] = target
    return mapping


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``segbench evaluate``."""
    parser.add_argument("--pred", required=True, type=Path, metavar="DIR", help="folder of predicted label maps")
    parser.add_argument("--truth", required=True, type=Path, metavar="DIR", help="folder of ground-truth label maps")
    parser.add_argument(
        "--num-classes", type=int, metavar="N",
        help="classes incl. background (default: largest label + 1, at least 2; 0/255 masks are binary)",
    )
    parser.add_argument("--class-names", metavar="A,B,...", help="one name per class (default background, ...)")
    parser.add_argument(
        "--spacing", metavar="Z,Y,X",
        help="voxel spacing in array axis order Z,Y,X (Y,X for 2D): the REVERSE of nibabel's get_zooms() order "
        "x,y,z; default: the ground truth's NIfTI header, else none (pixels). A value that disagrees with a "
        "header is an error unless --override-spacing is given",
    )
    parser.add_argument(
        "--override-spacing", action="store_true",
        help="let --spacing replace header spacings that say otherwise (default: that is an error)",
    )
    parser.add_argument(
        "--label-map", metavar="V=K,...",
        help="map stored values to labels in both folders, e.g. 1000=1,2000=2 (other values kept)",
    )
    parser.add_argument("--pred-suffix", metavar="S", help="strip S from prediction names before pairing (_pred)")
    parser.add_argument("--truth-suffix", metavar="S", help="strip S from ground-truth names before pairing")
    parser.add_argument(
        "--metrics", metavar="LIST", help=f"comma-separated subset of: {', '.join(catalogue.names())} "
        f"(default: all but {', '.join(sorted(set(catalogue.names()) - set(catalogue.default_names())))})"
    )
    parser.add_argument(
        "--nsd-tolerance", type=float, default=1.0, metavar="T",
        help="NSD tolerance in spacing units (default 1.0)",
    )
    parser.add_argument(
        "--surface", choices=("voxel", "surfel"), default="voxel",
        help="distance metrics' surfaces: voxel (border voxels, default: MONAI, MedPy) or surfel (sub-voxel "
        "surface elements: DeepMind's surface-distance)",
    )
    parser.add_argument(
        "--no-background", action="store_true",
        help="score the foreground classes only: class 0 gets no rows, and the distance metrics skip its surface "
        "(which runs along a volume's border and costs most of their time; MONAI's include_background=False)",
    )
    parser.add_argument(
        "--percentile-rule", choices=("directed", "pooled"), default="directed",
        help="HD95: directed (the larger of the two directed percentiles, default: MONAI) or pooled (the "
        "percentile of both directions' distances together: MedPy's hd95)",
    )
    parser.add_argument(
        "--ignore-index", type=int, metavar="K",
        help="ground-truth value (after --label-map) of pixels that count nowhere, e.g. 255 for a VOC border",
    )
    parser.add_argument("--probabilities", type=Path, metavar="DIR",
                        help="folder of probability maps (NPY/NPZ, float TIFF, float NIfTI; one channel per class or "
                             "one foreground channel), paired by stem: adds ECE, Brier, NLL, AP, soft volume bias")
    parser.add_argument("--instances", type=Path, metavar="DIR",
                        help="folder of reference instance label maps (0 = background), paired by stem: object "
                             "metrics (DSB score, PQ, AJI, object F1) match predicted components against them")
    parser.add_argument("--objects-csv", type=Path, metavar="FILE.csv",
                        help="write one row per reference and predicted object (TP / FN / FP, IoU, size) here")
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="write one row per case and class here")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (0: one per CPU; default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")


def run(args: argparse.Namespace) -> int:
    """Run ``segbench evaluate``; returns 0 (errors are raised as :class:`UsageError`)."""
    for flag, target in (("--out", args.out), ("--objects-csv", args.objects_csv)):
        if target is not None:
            folder = target.parent if str(target.parent) else Path(".")
            if not folder.is_dir():
                raise UsageError(f"{flag} {target}: folder {folder} does not exist")
            if target.is_dir():
                raise UsageError(f"{flag} {target} is a folder; expected a file name such as scores.csv")
    spacing: Sequence[float] | None = parse_list(args.spacing, "--spacing", float)
    with distributed.session():  # scoring runs on CPU: gloo
        evaluation = evaluate_folders(
            args.pred, args.truth, num_classes=args.num_classes,
            class_names=parse_list(args.class_names, "--class-names"), spacing=spacing,
            metrics=parse_list(args.metrics, "--metrics"), nsd_tolerance=args.nsd_tolerance,
            ignore_index=args.ignore_index, label_map=parse_label_map(args.label_map),
            override_spacing=args.override_spacing, pred_suffix=args.pred_suffix, truth_suffix=args.truth_suffix,
            jobs=args.jobs, progress=not args.no_progress and sys.stderr.isatty(),
            surface=args.surface, percentile_rule=args.percentile_rule,
            probabilities_dir=args.probabilities, instances_dir=args.instances, objects=args.objects_csv is not None,
            include_background=not args.no_background,
        )
        main = distributed.is_main()
    if not main:  # every rank holds the rows; rank 0 prints and writes
        return 0
    summaries = summarize_evaluation(evaluation)
    if args.out is not None:
        write_csv(evaluation, args.out)
    print(format_summary(evaluation, summaries))
    if args.out is not None:
        print(f"\nwrote {len(evaluation.rows)} rows ({len(evaluation.cases)} cases) to {args.out}")
    if args.objects_csv is not None:
        files.write_csv(args.objects_csv, OBJECT_CSV_COLUMNS, evaluation.objects)
        print(f"wrote {len(evaluation.objects)} object rows to {args.objects_csv}")
    return 0
