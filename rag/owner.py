"""Who may write an embedded data dir, and how other processes hand that process their work.

Embedded Chroma (``PersistentClient``) is safe for one writing process at a time only. Measured with
chromadb 1.5.9, two processes on one path: ``count()`` and ``get()`` see the other process's adds at once
(they read Chroma's SQLite), but ``query()`` of a long-lived client usually does not (0 of 20 found): its
HNSW index is not reloaded, and a new client in the same process gets the same cached System
(https://github.com/chroma-core/chroma/issues/3792, https://github.com/chroma-core/chroma/issues/2399).
Worse, a stale client that writes after the other process persisted its HNSW files (past
``hnsw:sync_threshold``) loses that process's vectors for good: still in ``get()``, never again in
``query()``. A client over a newly built System sees everything. So in embedded mode one process *owns*
the data dir and is its only writer, and nobody needs to reach into chromadb's client cache:

- The owner holds an exclusive ``flock`` on ``<data_dir>/owner.lock`` for as long as it may write (the bot
  for its whole life; ``papersbot ingest``/``sync``/``import`` for one command) and opens its Chroma client
  only after taking it, so the client starts from everything earlier owners persisted. The OS drops the
  lock when the owner dies.
- A running bot also listens on a local socket (:func:`socket_path`); ``papersbot ingest`` and ``papersbot
  sync`` that find the data dir owned hand the bot the request (:func:`hand_off`) and print its report, so
  a bot never has to reload anything it did not write itself. A short-lived owner (another ``ingest``) is
  waited for instead.
- Everyone else only reads, with a client opened after the last write they need to see.

A Chroma server (``chroma_url``) is one process and always consistent: there any process may write, one
at a time under the data dir's write lock, and nothing here is used.

The protocol is one JSON object per line each way over an ``AF_UNIX`` stream socket (asyncio streams on
the bot's side): ``{"op": "ingest", "paths": [...]}`` → ``{"ok": true, "report": {...}}``. ``papersbot ask``
uses it too, though it writes nothing: ``{"op": "ask", "question": ...}`` → ``{"ok": true, "answer": {...},
"text": ...}``, so a cold CLI question beside a running bot costs no model, index or LlamaIndex import. Unix sockets
only exist on POSIX systems, like ``flock``, which the data dir needs anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

LOCK_NAME = "owner.lock"
SOCKET_NAME = "papersbot.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class NotOwner(RuntimeError):
    """A write was attempted on an embedded data dir by a process that does not own it."""


class DataDirOwner:
    """The owner lock of one data dir (see the module docstring). Not reentrant: one holder per process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def try_acquire(self, role: str) -> bool:
        """Take the lock if it is free right now; note our pid and role in it for whoever looks."""
        if self._handle is not None:
            return True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release())
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {role}\n")
        handle.flush()
        self._handle = handle
        return True

    def acquire(self, role: str, *, poll_s: float = 0.5, timeout_s: float | None = None) -> None:
        """Wait for the lock (another short-lived owner finishing). Raises TimeoutError after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        told = False
        while not self.try_acquire(role):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"the data dir {self.data_dir} is owned by {self.holder() or 'another process'}")
            if not told:
                log.info("waiting for the data dir %s: owned by %s", self.data_dir, self.holder() or "another process")
                told = True
            time.sleep(poll_s)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> str | None:
        """``"<pid> <role>"`` as the current holder wrote it (for messages only: it may be stale)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None


def socket_path(data_dir: Path) -> Path:
    """Where the owning bot listens: in the data dir, or in the temp dir when that path would be too long
    for a Unix socket (named after the data dir, so every process computes the same one)."""
    inside = data_dir.resolve() / SOCKET_NAME
    if len(str(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"papersbot-{digest}.sock"


async def serve(data_dir: Path, handlers: dict[str, Handler]) -> asyncio.AbstractServer:
    """Listen for hand-offs on :func:`socket_path` (call only while owning the data dir). Each connection
    sends one request and gets one reply; a failing handler answers ``{"ok": false, "error": ...}``."""
    path = socket_path(data_dir)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by an owner that died: we own the data dir now, so it is ours to replace

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                handler = handlers[str(request["op"])]
            except (ValueError, KeyError, TypeError):
                reply: dict[str, Any] = {"ok": False, "error": "bad request"}
            else:
                try:
                    reply = {"ok": True, **(await handler(request))}
                except Exception as exc:  # reported to the caller, logged here
                    log.exception("hand-off %s failed", request.get("op"))
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the caller went away; the work (if any) was done and recorded all the same
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_unix_server(connection, path=str(path), limit=1 << 20)
    os.chmod(path, 0o600)  # only this user may hand us work
    return server


def hand_off(data_dir: Path, request: dict[str, Any], *, timeout_s: float | None = None) -> dict[str, Any] | None:
    """Send ``request`` to the bot owning ``data_dir`` and wait for its reply; None when no bot listens.
    Raises ``TimeoutError`` when no reply came within ``timeout_s`` (None: wait for as long as it takes)."""
    path = socket_path(data_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)  # the connect too: a bot that stopped accepting must not hang the caller
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        sock.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline()
    finally:
        sock.close()
    if not line:
        raise ConnectionError("the bot closed the connection without answering (did it stop?)")
    reply: dict[str, Any] = json.loads(line)
    return reply
