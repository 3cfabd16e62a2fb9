"""Tiny threaded HTTP/1.1 server base shared by the fake OpenAI, Telegram and source servers.

Only the standard library is used. The server binds to ``127.0.0.1`` on an ephemeral
port, serves each connection in a daemon thread, supports keep-alive, chunked
(streamed) responses, abrupt connection drops and cut (short) bodies, and shuts down quickly even
while handlers are blocked (long polls, scripted delays).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DropConnection",
    "FakeServerBase",
    "HTTPRequest",
    "HTTPResponse",
]


class DropConnection(Exception):
    """Raise from a handler or a streaming body to close the connection without a response."""


@dataclass(frozen=True)
class HTTPRequest:
    """A fully read incoming HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Parse the body as JSON; ``None`` when the body is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class HTTPResponse:
    """A response to send; ``stream`` switches to chunked transfer encoding.

    ``content_length`` declares a larger ``Content-Length`` than ``body`` has: the short body is
    sent and the connection closed (a cut transfer). ``None`` declares ``len(body)``.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    drop: bool = False
    content_length: int | None = None

    @classmethod
    def json_body(
        cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> HTTPResponse:
        """Build a JSON response."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return cls(status=status, body=data, headers=hdrs)

    @classmethod
    def dropped(cls) -> HTTPResponse:
        """A response that closes the connection without sending anything."""
        return cls(drop=True)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so ``stop`` can cut them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: FakeServerBase) -> None:
        self.owner = owner
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then hand it to a worker thread."""
        with contextlib.suppress(OSError):  # avoid Nagle/delayed-ACK 40 ms stalls
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.active_lock:
            self.active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self.active_lock:
            self.active.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about client disconnects; remember anything else."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError | DropConnection):
            self.owner._record_error(exc)

    def cut_all(self) -> None:
        """Abort every open connection (unblocks handlers waiting for the next request)."""
        with self.active_lock:
            conns = list(self.active)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the owning fake for a response and writes it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Consume optional trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        server = cast(_Server, self.server)
        owner = server.owner
        body = self._read_body()
        split = urlsplit(self.path)
        request = HTTPRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = owner.handle_request(request)
        except DropConnection:
            response = HTTPResponse.dropped()
        except Exception as exc:  # a bug in the fake: report it loudly but keep serving
            owner._record_error(exc)
            response = HTTPResponse.json_body(
                {"ok": False, "error_code": 500, "description": f"fake server bug: {exc!r}"},
                status=500,
            )
        if response.drop or owner.stopping.is_set():
            self._drop()
            return
        try:
            self._write(response)
        except DropConnection:
            self._drop()
        except OSError:
            self.close_connection = True

    def _write(self, response: HTTPResponse) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.stream is None:
            declared = len(response.body) if response.content_length is None else response.content_length
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
                if declared > len(response.body):  # a cut transfer: close before the rest
                    self.wfile.flush()
                    raise DropConnection
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for chunk in response.stream:
            if not chunk:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeServerBase:
    """Base class: lifecycle (``start``/``stop``/context manager) and error bookkeeping."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving in a background thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self.stopping.clear()
        httpd = _Server((self._host, self._requested_port), self)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}-serve",
            daemon=True,
        )
        self._httpd = httpd
        self._thread = thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes blocked handlers and cuts open connections. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self.stopping.set()
        self._wake_waiters()
        httpd.shutdown()
        httpd.cut_all()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=2)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- info --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (only valid while running)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self._host}:{self.port}"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake itself (should stay empty; assert on it)."""
        with self._errors_lock:
            return list(self._errors)

    def _record_error(self, exc: BaseException) -> None:
        with self._errors_lock:
            self._errors.append(exc)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; returns ``True`` if interrupted by ``stop``."""
        if seconds <= 0:
            return self.stopping.is_set()
        return self.stopping.wait(seconds)

    # -- hooks -------------------------------------------------------------------------------

    def _wake_waiters(self) -> None:
        """Subclasses notify their condition variables here so blocked handlers return."""

    def handle_request(self, request: HTTPRequest) -> HTTPResponse:
        """Produce the response for ``request`` (runs in a worker thread)."""
        raise NotImplementedError
