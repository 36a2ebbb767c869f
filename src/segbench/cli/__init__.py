"""The ``segbench`` command line: ``compare``, ``evaluate``, ``inspect``, ``sweep``, ``report``, ``list``.

Each subcommand's command-line glue lives in ``segbench.cli.<name>`` as two functions, ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches and turns user errors into one line on stderr (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from segbench import __version__
from segbench.errors import OutputError, UsageError

INTERRUPTED = "{command}: interrupted (Ctrl-C); rerun the same command to resume where it stopped"
COMMANDS: dict[str, str] = {
    "compare": "train identical models that differ only in the loss, evaluate every metric, report",
    "evaluate": "score saved predictions against ground truth on disk",
    "inspect": "a dataset's class imbalance, what trivial predictors score, which metrics to trust",
    "sweep": "compare's losses over one dataset at several foreground shares, one report across the shares",
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


_NEGATIVE = re.compile(r"^-(\d|\.\d)")


def negative_values_joined(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with an option's value that starts with a minus sign joined to its option (``--spacing -1,1,1`` ->
    ``--spacing=-1,1,1``), so that argparse does not read the value as an option; flags are left alone.

    >>> negative_values_joined(build_parser(), ["evaluate", "--spacing", "-1,1,1", "--jobs", "2"])[:2]
    ['evaluate', '--spacing=-1,1,1']
    """
    argv = [*argv]  # (not list(): the submodule segbench.cli.list shadows the builtin in this namespace)
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    command = next((tok for tok in argv if not tok.startswith("-")), None)
    if sub is None or command not in sub.choices:
        return argv
    options = sub.choices[command]._option_string_actions
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        action = options.get(tok)
        if action is not None and action.nargs in (None, "?") and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}" if tok.startswith("--") else tok + argv[i + 1])
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _exit_interrupted(signum: int, frame: object) -> None:
    """SIGINT while the commands are imported: one line and exit 130 at once. A KeyboardInterrupt raised inside a
    half-run import (numpy's, torch's) can leave the module broken and surface as another error; nothing has been
    written yet, so the process ends here."""
    sys.stderr.write(INTERRUPTED.format(command="segbench") + "\n")
    sys.stderr.flush()
    os._exit(130)


@contextmanager
def _interrupt_exits() -> Iterator[None]:
    """Within the block, Ctrl-C ends the process as :func:`_exit_interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _exit_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def one_line(exc: BaseException) -> str:
    """An error message on one line (a file name or a decoder's message may hold line breaks).

    >>> one_line(ValueError("cannot read b.png:\\n  truncated"))
    'cannot read b.png: truncated'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage error, 130 interrupted)."""
    try:
        with _interrupt_exits():  # the commands' imports (and torch's): Ctrl-C here is an interruption too
            parser = build_parser()
            args = parser.parse_args(negative_values_joined(parser, sys.argv[1:] if argv is None else argv))
            from segbench.data.errors import DatasetError
    except KeyboardInterrupt:
        print(INTERRUPTED.format(command="segbench"), file=sys.stderr)
        return 130
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
        print(INTERRUPTED.format(command=f"segbench {args.command}"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
