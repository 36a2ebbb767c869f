"""Docstrings' ``Args:`` sections, written once per family of functions that share their parameters.

A family (the losses, the distance metrics) keeps one table of what its common parameters mean; each function
names only what is its own. :func:`document_args` builds the section from the function's signature, so a parameter
that neither the function nor its family describes raises at import time instead of going undocumented.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["args_section", "document_args", "documented", "section"]

F = TypeVar("F", bound=Callable[..., object])

_WIDTH = 116  # the text's width, indent included (the project's lines are at most 120)


def _indent(doc: str) -> str:
    """The indentation of a docstring's body (lines after the first), as written in the source."""
    widths = [len(line) - len(line.lstrip()) for line in doc.splitlines()[1:] if line.strip()]
    return " " * min(widths) if widths else ""


def args_section(names: list[str], shared: Mapping[str, str], own: Mapping[str, str], indent: str = "") -> str:
    """An ``Args:`` section: one entry per name, from ``own`` first, else ``shared``.

    Args:
        names: the parameters, in the order they are listed.
        shared: a family's descriptions of its common parameters.
        own: one function's descriptions (they win over ``shared``); each must be one of ``names``.
        indent: put before every line (the docstring's own indentation).

    >>> print(args_section(["x", "k"], {"x": "the input."}, {"k": "how many."}))
    Args:
        x: the input.
        k: how many.
    """
    stale = sorted(set(own) - set(names))
    if stale:
        raise TypeError(f"described parameters {stale} are not among the function's parameters {names}")
    missing = [n for n in names if n not in own and n not in shared]
    if missing:
        raise TypeError(f"parameters {missing} have no description (expected one for each of {names})")
    lines = [f"{indent}Args:"]
    for n in names:
        lines.append(
            textwrap.fill(
                f"{n}: {own.get(n) or shared[n]}", _WIDTH, initial_indent=indent + "    ",
                subsequent_indent=indent + "        ", break_on_hyphens=False, break_long_words=False,
            )
        )
    return "\n".join(lines)


def document_args(shared: Mapping[str, str], **own: str) -> Callable[[F], F]:
    """Decorator: give a function's docstring an ``Args:`` section for every parameter of its signature.

    The section goes before the docstring's first doctest (``>>>``), or at its end. ``own`` describes this
    function's parameters, ``shared`` (a family's table) the rest.

    Args:
        shared: a family's descriptions of its common parameters.
        own: this function's descriptions, by parameter name.

    >>> @document_args({"x": "the input."}, k="how many.")
    ... def f(x, *, k=1):
    ...     '''Repeat ``x``.
    ...
    ...     >>> f(1)
    ...     [1]
    ...     '''
    ...     return [x] * k
    >>> [line.strip() for line in section(f.__doc__, "Args:").splitlines()]
    ['Args:', 'x: the input.', 'k: how many.']
    """

    def decorate(fn: F) -> F:
        doc = fn.__doc__ or ""
        names = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
        indent = _indent(doc) or "    "
        block = args_section(names, shared, own, indent)
        at = re.search(r"^[ \t]*>>>", doc, flags=re.MULTILINE)
        if at is None:
            fn.__doc__ = doc.rstrip() + "\n\n" + block + "\n" + indent
        else:
            fn.__doc__ = doc[: at.start()] + block + "\n\n" + doc[at.start() :]
        return fn

    return decorate


def section(doc: str, heading: str) -> str:
    """The block of ``doc`` that begins with the line starting ``heading`` (``"Args:"``, ``".. math::"``), up to the
    next blank line that is followed by a line indented no deeper than the heading; ``""`` when there is none.

    Args:
        doc: a docstring.
        heading: how the block's first line begins (after its indentation).

    >>> section("Sum.\\n\\n    .. math:: s = a + b\\n\\n    >>> 1\\n    1\\n", ".. math::")
    '    .. math:: s = a + b'
    """
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(heading):
            depth = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines):
                nxt = lines[j]
                if not nxt.strip():
                    after = next((x for x in lines[j + 1 :] if x.strip()), "")
                    if not after or len(after) - len(after.lstrip()) <= depth:
                        break
                elif len(nxt) - len(nxt.lstrip()) <= depth:
                    break
                j += 1
            return "\n".join(lines[i:j]).rstrip()
    return ""


def documented(doc: str) -> list[str]:
    """The parameter names that ``doc``'s ``Args:`` section lists, in order (``[]`` without one).

    Args:
        doc: a docstring.

    >>> documented("F.\\n\\n    Args:\\n        x: the input,\\n            on two lines.\\n        k: how many.\\n")
    ['x', 'k']
    """
    lines = section(doc, "Args:").splitlines()
    if not lines:
        return []
    depth = len(lines[0]) - len(lines[0].lstrip()) + 4
    entries = (re.match(r"(\w+): ", line[depth:]) for line in lines[1:] if len(line) - len(line.lstrip()) == depth)
    return [m.group(1) for m in entries if m]
