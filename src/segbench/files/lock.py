"""One writer per run folder: an OS-level lock on ``RUN/.segbench.lock``, held while a command writes the folder.

:class:`FolderLock` takes an exclusive, non-blocking ``fcntl.flock`` on the lock file and writes who holds it
(pid, host, start time, command) into the file. The operating system drops the lock when the holder's file
descriptor closes, which a kill (``SIGKILL`` included) and a crash close too: a stale lock file from a killed run
never blocks the next run, which takes the lock and overwrites the holder line. A second command on a folder that
is in use stops with :class:`FolderBusy` (one line naming the holder; exit 2). The lock file stays in the folder
(deleting it would race with a process that has just opened it); a clean release empties it.

On systems without ``fcntl`` (Windows) there is no lock: the folder is then one writer by convention only.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from segbench.errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "FolderBusy", "FolderLock", "holder"]

LOCK_NAME = ".segbench.lock"
"""The lock file's name inside a run folder (hidden: readers of the folder skip it)."""


class FolderBusy(UsageError):
    """Another process holds the run folder's lock; the message names it.

    >>> issubclass(FolderBusy, UsageError)
    True
    """


def holder(folder: Path) -> str:
    """Who the lock file of ``folder`` says holds it: ``"pid N on host H since T (command)"``, or a placeholder.

    Args:
        folder: the run folder.

    >>> import tempfile
    >>> holder(Path(tempfile.mkdtemp()))
    'a process that has not written its details yet'
    """
    try:
        text = (Path(folder) / LOCK_NAME).read_text(encoding="utf-8", errors="replace")
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']} since {info['started']} ({info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its details yet"


class FolderLock:
    """Hold ``folder``'s lock for a ``with`` block (the folder is created if needed).

    Args:
        folder: the run folder.
        command: what holds it (shown to a second process), e.g. ``"segbench compare"``.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with FolderLock(folder, "demo"):
    ...     try:
    ...         FolderLock(folder, "second").__enter__()
    ...     except FolderBusy as exc:
    ...         print(str(exc).split(" is in use")[0] == f"run folder {folder}")
    True
    >>> with FolderLock(folder, "again"):  # released on exit: taken again at once
    ...     pass
    """

    def __init__(self, folder: Path, command: str) -> None:
        self.folder = Path(folder)
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        if fcntl is None:  # pragma: no cover - Windows
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot lock run folder {self.folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusy(
                f"run folder {self.folder} is in use by another segbench process: {holder(self.folder)}; "
                "wait for it to finish, or use another run folder"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise UsageError(f"cannot lock run folder {self.folder}: {exc.strerror or exc}") from None
        self._fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": self.command,
                "argv": sys.argv}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        except OSError:
            pass  # the lock holds all the same; a second process then reads no details
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor releases the flock
