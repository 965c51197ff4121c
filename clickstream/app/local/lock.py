"""An exclusive lock on a file in the state folder, so commands that change the local stack
(``up``, ``down``) take turns instead of racing.

``flock`` locks belong to the open file: the kernel drops them when the holder exits, even
by SIGKILL, so a crashed ``up`` never leaves the stack locked. Services are started with
``close_fds`` (``subprocess``'s default), so they never inherit the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Wait for, then hold, the exclusive lock on ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
