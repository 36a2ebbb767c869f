"""The error type for mistakes in what a user asked for (bad config, unknown name, missing file).

The command line prints these as one line and exits with status 2, with no traceback; any other exception is a
bug in segbench and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["OutputError", "UsageError"]


class UsageError(ValueError):
    """A user-facing problem, with a message that names what was wrong and what was expected.

    >>> issubclass(UsageError, ValueError)
    True
    """


class OutputError(OSError):
    """Writing a result failed (no space left, permission denied); the message names the file and the failure.

    Writers are atomic (:func:`segbench.files.atomic.atomic_write`), so the file's previous content is intact. The
    command line prints the message as one line and exits with status 1.

    >>> issubclass(OutputError, OSError)
    True
    """
