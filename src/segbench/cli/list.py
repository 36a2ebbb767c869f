"""``segbench list [losses|metrics|datasets|models]``: what can be named in a config or on the command line."""

from __future__ import annotations

import argparse

from segbench import losses
from segbench.data import available_kinds
from segbench.metrics import catalogue
from segbench.models import available_models

__all__ = ["SECTIONS", "add_arguments", "lines", "run"]

SECTIONS = ("losses", "metrics", "datasets", "models")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``list`` options on ``parser``."""
    parser.add_argument("what", nargs="?", choices=SECTIONS, help="one section (default: all)")


def lines(section: str) -> list[str]:
    """The lines of one section: a name column and a one-line description.

    >>> lines("models")
    ['  unet']
    >>> [line.split()[:2] for line in lines("metrics")[:2]]
    [['pixel_accuracy', '↑'], ['class_accuracy', '↑']]
    """
    if section == "losses":
        items = [(name, text) for name, text in losses.describe()]
    elif section == "metrics":
        items = [(f"{name} {text[0]}", text[2:]) for name, text in catalogue.describe()]  # "name ↑", the rest
    elif section == "datasets":
        items = [*available_kinds().items(),
                 ("(any kind)", "options crop_share=F with crop_size=N or [H, W]: each item cropped to the window "
                  "whose foreground share is nearest F; subsample_share=F: each split keeps the items whose pooled "
                  "share is nearest F (segbench sweep's methods)")]
    elif section == "models":
        items = [(name, "") for name in available_models()]
    else:
        raise ValueError(f"unknown section {section!r}; expected one of {list(SECTIONS)}")
    width = max(len(name) for name, _ in items)
    return [f"  {name.ljust(width)}  {text}".rstrip() for name, text in items]


def run(args: argparse.Namespace) -> int:
    """Print the requested sections; 0."""
    sections = [args.what] if args.what else list(SECTIONS)
    for k, section in enumerate(sections):
        if len(sections) > 1:
            print(("\n" if k else "") + f"{section}:")
        print("\n".join(lines(section)))
    return 0
