"""``segbench inspect DATASET_SPEC``: a dataset's imbalance, what trivial predictors score, which metrics to trust.

Plain text by default; ``--json`` prints one JSON object (NaN as ``null``, infinity as the string ``"inf"``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from typing import Any

from segbench.data import load_dataset
from segbench.errors import UsageError
from segbench.inspect.advice import advise
from segbench.inspect.profile import inspect_dataset
from segbench.inspect.text import format_profile
from segbench.scoring import check_metric_names

__all__ = ["add_arguments", "add_option_argument", "jsonable", "parse_options", "run"]


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    """``-o/--option KEY=VALUE`` (repeatable), with every dataset kind's options listed in its help: the one
    definition ``inspect`` and ``compare`` share."""
    from segbench.data import folder, pets, sample, synthetic, synthetic3d, volumes

    kinds = {"folder:PATH": folder.OPTIONS, "pets:PATH": pets.OPTIONS, "synthetic": synthetic.OPTIONS,
             "sample": sample.OPTIONS, "synthetic3d": synthetic3d.OPTIONS, "volumes:PATH": volumes.OPTIONS}
    listed = "; ".join(f"{kind}: {', '.join(options)}" for kind, options in kinds.items())
    parser.add_argument(
        "--option", "-o", action="append", metavar="KEY=VALUE",
        help="a dataset option (repeatable; values read as JSON where they parse), e.g. -o images=image "
        f"-o masks=label for folder:PATH. Options by kind: {listed}",
    )


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; a value is read as JSON when it parses (numbers, lists), else a string.

    >>> parse_options(["images=image", "num_classes=3", "class_names=[\\"bg\\", \\"cell\\"]"])
    {'images': 'image', 'num_classes': 3, 'class_names': ['bg', 'cell']}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def jsonable(value: Any) -> Any:
    """``value`` with NaN -> ``None`` and ``inf`` -> ``"inf"`` (``-inf`` -> ``"-inf"``), recursively.

    >>> jsonable({"a": [float("nan"), float("inf"), 1.5, (2, 3)]})
    {'a': [None, 'inf', 1.5, [2, 3]]}
    """
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``segbench inspect``."""
    parser.add_argument("spec", metavar="DATASET_SPEC", help="sample, synthetic, pets:PATH or folder:PATH")
    parser.add_argument("--split", default="all", choices=("all", "train", "val", "test"), help="default: all")
    add_option_argument(parser)
    parser.add_argument("--metrics", metavar="LIST", help="trivial predictors' metrics (default: all)")
    parser.add_argument("--nsd-tolerance", type=float, default=1.0, metavar="T", help="NSD tolerance in pixels")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    """Run ``segbench inspect``; returns 0."""
    metrics = None
    if args.metrics is not None:
        try:
            metrics = check_metric_names([m.strip() for m in args.metrics.split(",") if m.strip()])
        except ValueError as exc:
            raise UsageError(f"--metrics: {exc}") from None
    dataset = load_dataset(args.spec, args.split, options=parse_options(args.option))
    profile = inspect_dataset(dataset, metrics=metrics, nsd_tolerance=args.nsd_tolerance)
    advice = advise(profile)
    if args.json:
        payload = {**asdict(profile), "split": args.split, "advice": [asdict(a) for a in advice]}
        print(json.dumps(jsonable(payload), indent=2))
    else:
        print(format_profile(profile, advice, split=args.split))
    return 0
