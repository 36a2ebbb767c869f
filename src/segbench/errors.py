"""The error type for mistakes in what a user asked for (bad config, unknown name, missing file).

The command line prints these as one line and exits with status 2, with no traceback; any other exception is a
bug in segbench and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A user-facing problem, with a message that names what was wrong and what was expected.

    >>> issubclass(UsageError, ValueError)
    True
    """
