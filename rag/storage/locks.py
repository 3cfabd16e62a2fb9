"""Advisory file locks (``flock``) shared by processes on one data dir; the OS drops them when the
holding process dies, so a crash never leaves a lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, *, wait: bool = True, note_pid: bool = False) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the block; yields True, or False at once when ``wait`` is off
    and another holder has it. ``note_pid`` writes our pid into the file (for people looking at it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            if note_pid:
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
