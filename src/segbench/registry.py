"""The one generic registry behind every catalogue of names: losses, metrics, datasets and models.

A :class:`Registry` maps names (and aliases) to entries, keeps them in registration order, refuses a name twice,
and answers an unknown name with the list of valid ones. Each catalogue is one instance in its own module; an
entry registers itself from the file that defines it, so adding one touches that file (and its tests) only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name, with aliases and a one-line description each.

    Args:
        kind: what the entries are (``"loss"``, ``"metric"``, ...), used in error messages.

    >>> colours = Registry[int]("colour")
    >>> colours.register("red", 1, aliases=("rouge",), description="the colour of blood")
    1
    >>> colours.get("rouge"), colours.names(), colours.describe()
    (1, ['red'], [('red', 'the colour of blood')])
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; valid names: red (aliases: rouge)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, entry: T, *, aliases: tuple[str, ...] = (), description: str = "") -> T:
        """Add ``entry`` under ``name`` and ``aliases``; ValueError if any of them is taken. Returns ``entry``.

        Args:
            name: the canonical name (listed by :meth:`names`).
            entry: the object registered.
            aliases: other names that resolve to ``name`` (accepted, not listed).
            description: a one-line text for listings.
        """
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"a {self.kind} named {key!r} is already registered")
        self._entries[name] = entry
        self._descriptions[name] = description
        for alias in aliases:
            self._aliases[alias] = name
        return entry

    def decorator(self, name: str, *, aliases: tuple[str, ...] = (), description: str = "") -> Callable[[T], T]:
        """:meth:`register` as a decorator: ``@registry.decorator("name")`` above a function or class."""

        def deco(entry: T) -> T:
            return self.register(name, entry, aliases=aliases, description=description)

        return deco

    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` or of the alias ``name``; ValueError listing the valid names."""
        key = self._aliases.get(name, name)
        if key not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {self.listing()}")
        return key

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (or an alias)."""
        return self._entries[self.canonical(name)]

    def names(self) -> list[str]:
        """The canonical names, in registration order (aliases are accepted but not listed)."""
        return list(self._entries)

    def aliases(self) -> dict[str, str]:
        """``{alias: canonical name}``."""
        return dict(self._aliases)

    def describe(self) -> list[tuple[str, str]]:
        """``(name, one-line description)`` of every entry, in registration order."""
        return [(name, self._descriptions[name]) for name in self._entries]

    def listing(self) -> str:
        """The names and, in brackets, the aliases: the text of an unknown-name error."""
        text = ", ".join(self._entries)
        if self._aliases:
            text += f" (aliases: {', '.join(self._aliases)})"
        return text

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
