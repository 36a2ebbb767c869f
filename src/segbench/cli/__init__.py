"""The ``segbench`` command line: ``compare``, ``evaluate``, ``inspect``, ``report``, ``list``.

Each subcommand's command-line glue lives in ``segbench.cli.<name>`` as two functions, ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches and turns user errors into one line on stderr (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from segbench import __version__
from segbench.data.errors import DatasetError
from segbench.errors import OutputError, UsageError

COMMANDS: dict[str, str] = {
    "compare": "train identical models that differ only in the loss, evaluate every metric, report",
    "evaluate": "score saved predictions against ground truth on disk",
    "inspect": "a dataset's class imbalance, what trivial predictors score, which metrics to trust",
    "report": "rebuild the HTML/Markdown report of a compare run from its saved results",
    "list": "list the registered losses, metrics and dataset kinds",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command (modules are imported here, lazily per command)."""
    parser = argparse.ArgumentParser(
        prog="segbench",
        description="Segmentation losses and metrics you can trust under class imbalance.",
    )
    parser.add_argument("--version", action="version", version=f"segbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"segbench.cli.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def one_line(exc: BaseException) -> str:
    """An error message on one line (a file name or a decoder's message may hold line breaks).

    >>> one_line(ValueError("cannot read b.png:\\n  truncated"))
    'cannot read b.png: truncated'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except (UsageError, DatasetError) as exc:
        print(f"segbench {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OutputError as exc:  # a failed write (disk full, permission denied): the previous file is intact
        print(f"segbench {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"segbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
