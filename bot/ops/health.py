"""The bot's health signal for containers and monitoring: ``GET /healthz`` (JSON) and ``GET /metrics``
(Prometheus text format) on ``health_listen:health_port``, plus ``papersbot health`` (the Docker
HEALTHCHECK command), which asks ``/healthz`` and turns the answer into an exit code.

Reported: index size (catalog, vectors, lexical), the last ingest that changed the catalog, the last push,
Telegram reachability, and the LLM's recent record (the reasons answers fell back to extractive: users
only read a neutral note in their language). Reachability comes from the bot's own Bot API traffic:
:class:`MonitoredRequest` wraps PTB's HTTP request objects and tells a :class:`TelegramMonitor` about every
round trip. Long polling makes one every few seconds; when the bot has been quiet (webhook mode) the server
probes with ``getMe``.

Status: ``ok``; ``degraded`` (still HTTP 200: an empty or inconsistent index, a Bot API failure younger than
``telegram_grace_s``, no round trip yet, failing ``getUpdates`` calls); ``unhealthy`` (HTTP 503: the library
fails, the Bot API has been unreachable for longer than ``telegram_grace_s``, or, when long polling, no
``getUpdates`` call has succeeded for ``updates_max_age_s``: a bot that receives nothing is not healthy even
when its other calls work).

The server is a few lines of ``asyncio.start_server`` (no web framework), started in the Application's
``post_init`` and closed in ``post_shutdown``. Blocking library reads run in a thread, cached briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TextIO
from urllib.parse import urlsplit

# BaseRequest.do_request's own defaults and types (PTB exports them from these modules only).
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.ops.logs import redact_text
from bot.telegram.request import DelegatingRequest
from config.settings import Settings
from rag.library import Library
from rag.sync import last_sync

log = logging.getLogger("papersbot.health")

Probe = Callable[[], Awaitable[object]]


def _never() -> None:
    return None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def papersbot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("papersbot")
    except PackageNotFoundError:
        return "unknown"


# --- Telegram reachability ---------------------------------------------------------------------------------
class TelegramMonitor:
    """Bot API reachability as seen by the bot's own requests (fed by :class:`MonitoredRequest`)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.last_ok: float | None = None
        self.last_failure: float | None = None
        self.last_error: str | None = None
        self.failing_since: float | None = None  # first failure since the last success
        self.requests = 0
        self.failures = 0
        # getUpdates on its own: the bot is deaf when these fail, whatever its other calls do.
        self.polling_since: float | None = None  # the first getUpdates call
        self.updates_ok: float | None = None  # the end of the last successful one
        self.updates_failing_since: float | None = None
        self.updates_error: str | None = None
        self.updates_in_flight = 0
        self.updates_requests = 0
        self.updates_failures = 0

    def succeeded(self) -> None:
        self.requests += 1
        self.last_ok = self.clock()
        self.failing_since = None

    def updates_started(self) -> None:
        self.updates_in_flight += 1
        if self.polling_since is None:
            self.polling_since = self.clock()

    def updates_finished(self, error: str | None) -> None:
        """A getUpdates call ended: ``error`` is None when it succeeded (HTTP 200)."""
        now = self.clock()
        self.updates_in_flight = max(0, self.updates_in_flight - 1)
        self.updates_requests += 1
        if error is None:
            self.updates_ok, self.updates_failing_since = now, None
            return
        self.updates_failures += 1
        self.updates_error = redact_text(error)
        if self.updates_failing_since is None:
            self.updates_failing_since = now

    def updates_cancelled(self) -> None:
        self.updates_in_flight = max(0, self.updates_in_flight - 1)

    def updates_silence(self, now: float) -> float | None:
        """Seconds without a successful getUpdates; None before polling started. A long poll in flight
        that follows a success counts as listening (it may legitimately wait for its whole timeout)."""
        if self.polling_since is None:
            return None
        if self.updates_in_flight and self.updates_failing_since is None:
            return 0.0
        return max(0.0, now - (self.updates_ok if self.updates_ok is not None else self.polling_since))

    def failed(self, error: str) -> None:
        now = self.clock()
        self.requests += 1
        self.failures += 1
        self.last_failure, self.last_error = now, redact_text(error)
        if self.failing_since is None:
            self.failing_since = now

    @property
    def up(self) -> bool:
        """The last round trip succeeded."""
        return self.last_ok is not None and self.failing_since is None

    def wrap(self, request: BaseRequest) -> MonitoredRequest:
        return MonitoredRequest(request, self)


class MonitoredRequest(DelegatingRequest):
    """A PTB request object that delegates to another one and reports each round trip to the monitor.

    Any HTTP answer below 500 counts as reachable (a 400 or 429 is Telegram answering) except 401 and 404
    (the token or the URL is refused: nothing works); exceptions (refused connections, timeouts) and 5xx
    count as failures. ``getUpdates`` calls are also reported on their own: only HTTP 200 is a success."""

    def __init__(self, inner: BaseRequest, monitor: TelegramMonitor) -> None:
        super().__init__(inner)
        self.monitor = monitor

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        updates = url.rstrip("/").rsplit("/", 1)[-1] == "getUpdates"
        if updates:
            self.monitor.updates_started()
        try:
            code, payload = await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                                     connect_timeout, pool_timeout)
        except asyncio.CancelledError:  # a long poll cut short by stopping: neither success nor failure
            if updates:
                self.monitor.updates_cancelled()
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if updates:
                self.monitor.updates_finished(error)
            self.monitor.failed(error)
            raise
        if updates:
            self.monitor.updates_finished(None if code == HTTPStatus.OK else _answer(code, payload))
        if code >= 500 or code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND):
            self.monitor.failed(_answer(code, payload))
        else:
            self.monitor.succeeded()
        return code, payload


def _answer(code: int, payload: bytes) -> str:
    """``HTTP 404 (Not Found)``: the status and the Bot API's description of an error answer."""
    try:
        description = str(json.loads(payload)["description"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {code}"
    return f"HTTP {code} ({description[:200]})"


def monitored_requests(monitor: TelegramMonitor) -> tuple[MonitoredRequest, MonitoredRequest]:
    """``(request, get_updates_request)`` for ``build_application``: PTB's own defaults (HTTPXRequest with 256
    pooled connections, and 1 for getUpdates), each reporting to ``monitor``."""
    return monitor.wrap(HTTPXRequest(connection_pool_size=256)), monitor.wrap(HTTPXRequest(connection_pool_size=1))


# --- the checks --------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """What the blocking reads found (library and push store), at ``taken``."""

    taken: float
    index: dict[str, Any] | None = None
    index_error: str | None = None
    last_push: datetime | None = None
    pushes_sent: int | None = None
    push_error: str | None = None
    sync: dict[str, Any] | None = None  # the last sync's short report (rag.sync.SyncReport.health)
    problems: list[str] = field(default_factory=list)


class HealthServer:
    """``/healthz`` and ``/metrics`` over plain asyncio. Construct, then ``await start()`` inside the bot's
    event loop (PTB ``post_init``) and ``await stop()`` at shutdown.

    ``updates_max_age_s`` (long polling only): ``unhealthy`` once no ``getUpdates`` has succeeded for that
    long (counted from the health server's start until polling begins).

    ``last_push`` and ``pushes_sent`` are called in a worker thread (they may read SQLite); return None
    when unknown."""

    def __init__(
        self,
        library: Library,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        telegram: TelegramMonitor | None = None,
        last_push: Callable[[], datetime | None] = _never,
        pushes_sent: Callable[[], int | None] = _never,
        llm: Callable[[], dict[str, Any] | None] = _never,
        telegram_grace_s: float = 300.0,
        updates_max_age_s: float | None = None,
        probe_interval_s: float = 60.0,
        cache_s: float = 5.0,
        read_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.library = library
        self.host, self.port = host, port
        self.telegram = telegram
        self.last_push, self.pushes_sent = last_push, pushes_sent
        self.llm = llm  # the answer engine's LLM record (AnswerEngine.llm_health); None: no LLM
        self.telegram_grace_s, self.probe_interval_s = telegram_grace_s, probe_interval_s
        self.updates_max_age_s = updates_max_age_s  # None: updates are not polled (webhook mode, tests)
        self.cache_s, self.read_timeout_s = cache_s, read_timeout_s
        self.clock = clock
        self.started_at = clock()
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._probe_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, library: Library, **kwargs: Any) -> HealthServer:
        if settings.health.port is None:
            raise ValueError("health_port is not set")
        return cls(library, host=settings.health.listen, port=settings.health.port, **kwargs)

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self, probe: Probe | None = None) -> None:
        """Listen; with ``probe`` (e.g. ``app.bot.get_me``), call it whenever the Bot API has been quiet for
        ``probe_interval_s``, so reachability stays current without polling traffic."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        if probe is not None and self.telegram is not None:
            self._probe_task = asyncio.create_task(self._probe_loop(probe))
        log.info("health server listening on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _probe_loop(self, probe: Probe) -> None:
        assert self.telegram is not None
        while True:
            await asyncio.sleep(self.probe_interval_s)
            last_ok = self.telegram.last_ok
            if last_ok is None or self.clock() - last_ok >= self.probe_interval_s:
                try:
                    await probe()
                except Exception as exc:  # recorded by the monitored request; nothing else to do
                    log.debug("Bot API probe failed: %s", redact_text(str(exc)))

    # --- data ------------------------------------------------------------------------------------------
    async def snapshot(self) -> Snapshot:
        """The blocking reads, at most once per ``cache_s``; a read slower than ``read_timeout_s`` counts as
        a failing library."""
        async with self._snapshot_lock:
            now = self.clock()
            if self._snapshot is not None and now - self._snapshot.taken < self.cache_s:
                return self._snapshot
            try:
                snap = await asyncio.wait_for(asyncio.to_thread(self._read), self.read_timeout_s)
            except TimeoutError:
                snap = Snapshot(taken=now, index_error=f"library did not answer within {self.read_timeout_s:g} s")
            self._snapshot = snap
            return snap

    def _read(self) -> Snapshot:
        snap = Snapshot(taken=self.clock())
        try:
            stats = self.library.stats()
            stats.pop("date_list", None)
            last = self.library.catalog.last_ingest()
            stats["last_ingest"] = last.isoformat() if last else None
            snap.index = stats
            snap.sync = last_sync(self.library)
        except Exception as exc:
            snap.index_error = redact_text(f"{type(exc).__name__}: {exc}")
        try:
            snap.last_push = self.last_push()
            snap.pushes_sent = self.pushes_sent()
        except Exception as exc:
            snap.push_error = redact_text(f"{type(exc).__name__}: {exc}")
        return snap

    async def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of ``/healthz``."""
        snap = await self.snapshot()
        now = self.clock()
        unhealthy: list[str] = []
        degraded: list[str] = []
        index = snap.index
        if index is None:
            unhealthy.append(f"library: {snap.index_error}")
        else:
            if index["papers"] == 0:
                degraded.append("the index is empty")
            if index["vector_nodes"] != index["sections"]:
                degraded.append(f"{index['vector_nodes']} vectors for {index['sections']} catalog sections")
        if snap.push_error:
            degraded.append(f"push store: {snap.push_error}")
        if snap.sync is not None and not snap.sync.get("ok", True):  # a failing source never makes us unhealthy
            errors = snap.sync.get("errors") or ["see the logs"]
            degraded.append(f"the last sync ({snap.sync.get('at')}) failed: {errors[0]}")
        telegram: dict[str, Any] | None = None
        if self.telegram is not None:
            monitor = self.telegram
            failing_for = None if monitor.failing_since is None else round(now - monitor.failing_since, 1)
            telegram = {
                "up": monitor.up,
                "last_ok": _iso(monitor.last_ok),
                "last_ok_age_s": None if monitor.last_ok is None else round(now - monitor.last_ok, 1),
                "last_error": monitor.last_error,
                "last_error_at": _iso(monitor.last_failure),
                "failing_for_s": failing_for,
                "requests": monitor.requests,
                "failures": monitor.failures,
            }
            if failing_for is not None and failing_for >= self.telegram_grace_s:
                unhealthy.append(f"Telegram Bot API unreachable for {failing_for:g} s: {monitor.last_error}")
            elif failing_for is not None:
                degraded.append(f"Telegram Bot API failing for {failing_for:g} s: {monitor.last_error}")
            elif monitor.last_ok is None:
                degraded.append("no Telegram Bot API round trip yet")
            if self.updates_max_age_s is not None:
                telegram["updates"] = self._updates(monitor, now, unhealthy, degraded)
        llm = self._llm()
        if llm is not None and llm["failing"]:  # answers still come (extractive), so degraded at worst
            degraded.append(f"LLM failing: {llm['last_error']} (answers fall back to extractive)")
        status = "unhealthy" if unhealthy else "degraded" if degraded else "ok"
        body = {
            "status": status,
            "problems": unhealthy + degraded,
            "version": papersbot_version(),
            "checked_at": _iso(now),
            "uptime_s": round(now - self.started_at, 1),
            "index": index if index is not None else {"error": snap.index_error},
            "push": {"last_push": snap.last_push.isoformat() if snap.last_push else None,
                     "pushes_sent": snap.pushes_sent, "error": snap.push_error},
            "sync": snap.sync,
            "telegram": telegram,
            "llm": llm,
        }
        return (HTTPStatus.SERVICE_UNAVAILABLE if unhealthy else HTTPStatus.OK), body

    def _llm(self) -> dict[str, Any] | None:
        try:
            record = self.llm()
        except Exception as exc:  # a broken report must not break /healthz
            return {"failing": True, "last_error": redact_text(f"{type(exc).__name__}: {exc}")}
        if record is None:
            return None
        record = dict(record)
        for key in ("last_ok", "last_error_at"):
            record[key] = _iso(record.get(key))
        if record.get("last_error"):
            record["last_error"] = redact_text(str(record["last_error"]))
        return record

    def _updates(self, monitor: TelegramMonitor, now: float, unhealthy: list[str],
                 degraded: list[str]) -> dict[str, Any]:
        """Long polling: how long the bot has gone without receiving (a successful ``getUpdates``)."""
        assert self.updates_max_age_s is not None
        silence = monitor.updates_silence(now)
        if silence is None:  # polling has not started yet
            silence = max(0.0, now - self.started_at)
        failing = monitor.updates_failing_since
        error = monitor.updates_error if failing is not None else None
        if silence >= self.updates_max_age_s:
            unhealthy.append(f"no updates received: no successful getUpdates for {silence:.0f} s"
                             + (f" ({error})" if error else ""))
        elif failing is not None:
            degraded.append(f"getUpdates failing for {now - failing:.0f} s: {error}")
        return {
            "last_ok": _iso(monitor.updates_ok),
            "silent_for_s": round(silence, 1),
            "max_silence_s": self.updates_max_age_s,
            "last_error": monitor.updates_error,
            "failing_for_s": None if failing is None else round(now - failing, 1),
            "requests": monitor.updates_requests,
            "failures": monitor.updates_failures,
        }

    async def metrics(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of ``/metrics``."""
        _, body = await self.health()
        index, telegram = body["index"], self.telegram
        out = Metrics()
        out.gauge("papersbot_up", "1 while the health server answers.", 1)
        out.gauge("papersbot_info", "Version and vector collection, as labels.", 1,
                  version=body["version"], collection=str(index.get("collection", "")))
        out.gauge("papersbot_health_status", "0 ok, 1 degraded, 2 unhealthy (see /healthz).",
                  {"ok": 0, "degraded": 1, "unhealthy": 2}[body["status"]])
        out.gauge("papersbot_library_up", "1 when the catalog and vector index answer.", 0 if "error" in index else 1)
        if "error" not in index:
            out.gauge("papersbot_papers", "Papers in the catalog.", index["papers"])
            out.gauge("papersbot_digest_dates", "Digest dates in the catalog.", index["dates"])
            out.gauge("papersbot_sections", "Section texts in the catalog.", index["sections"])
            out.gauge("papersbot_vector_nodes", "Nodes in the vector index.", index["vector_nodes"])
            out.gauge("papersbot_lexical_nodes", "Nodes in this process's lexical index.", index["lexical_nodes"])
            out.gauge("papersbot_catalog_revision", "Catalog revision (bumped by every ingest that changes it).",
                      index["revision"])
            if index.get("last_ingest"):
                out.gauge("papersbot_last_ingest_timestamp_seconds", "When an ingest last changed the catalog.",
                          datetime.fromisoformat(index["last_ingest"]).timestamp())
        push = body["push"]
        if body["sync"]:
            out.gauge("papersbot_last_sync_timestamp_seconds", "When the last sync from the source finished.",
                      datetime.fromisoformat(body["sync"]["at"]).timestamp())
            out.gauge("papersbot_last_sync_ok", "1 when every day the last sync asked for could be fetched.",
                      1 if body["sync"]["ok"] else 0)
        if push["last_push"]:
            out.gauge("papersbot_last_push_timestamp_seconds", "When the last daily push was sent.",
                      datetime.fromisoformat(push["last_push"]).timestamp())
        if push["pushes_sent"] is not None:
            out.counter("papersbot_pushes_sent_total", "Push messages sent.", push["pushes_sent"])
        if telegram is not None:
            out.gauge("papersbot_telegram_up", "1 when the last Bot API round trip succeeded.", int(telegram.up))
            if telegram.last_ok is not None:
                out.gauge("papersbot_telegram_last_ok_timestamp_seconds", "Last successful Bot API round trip.",
                          telegram.last_ok)
            out.counter("papersbot_telegram_requests_total", "Bot API round trips.", telegram.requests)
            out.counter("papersbot_telegram_failures_total", "Bot API round trips that failed.", telegram.failures)
            if telegram.updates_ok is not None:
                out.gauge("papersbot_telegram_updates_last_ok_timestamp_seconds", "Last successful getUpdates.",
                          telegram.updates_ok)
            out.counter("papersbot_telegram_updates_failures_total", "getUpdates calls that failed.",
                        telegram.updates_failures)
        rss = resident_memory()
        if rss is not None:
            out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss)
        out.gauge("process_start_time_seconds", "Start time of the health server, seconds since the epoch.",
                  self.started_at)
        return out.text()

    # --- HTTP ------------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(_read_request(reader), 5.0)
            code, content_type, body = await self._respond(*request) if request else (400, "text/plain", b"")
            head = request is not None and request[0] == "HEAD"
            reason = HTTPStatus(code).phrase
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode("latin-1") + (b"" if head else body)
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away or sent garbage
        except Exception:
            log.exception("health request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, method: str, target: str) -> tuple[int, str, bytes]:
        path = urlsplit(target).path
        if path not in ("/healthz", "/metrics"):
            return 404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        if path == "/healthz":
            code, body = await self.health()
            return code, "application/json", json.dumps(body, ensure_ascii=False).encode() + b"\n"
        return 200, "text/plain; version=0.0.4; charset=utf-8", (await self.metrics()).encode()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """(method, target) of an HTTP/1.x request; the headers are read and ignored."""
    parts = (await reader.readline()).decode("latin-1").split()
    for _ in range(100):
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            break
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    return parts[0], parts[1]


class Metrics:
    """A tiny Prometheus text-format writer."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def _metric(self, kind: str, name: str, help_text: str, value: float, labels: dict[str, str]) -> None:
        self._lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        self._lines.append(f"{name}{{{rendered}}} {_number(value)}" if rendered else f"{name} {_number(value)}")

    def gauge(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self._metric("gauge", name, help_text, value, labels)

    def counter(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self._metric("counter", name, help_text, value, labels)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def resident_memory() -> int | None:
    """This process's resident set size in bytes (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# --- papersbot health ----------------------------------------------------------------------------------------
def probe_url(settings: Settings) -> str | None:
    """Where ``papersbot health`` asks: the listen address, or loopback when it listens on every address."""
    if settings.health.port is None:
        return None
    host = settings.health.listen.strip()
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.health.port}/healthz"


def check(settings: Settings, timeout: float = 5.0, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``papersbot health``: print the running bot's /healthz JSON. Exit 0 when it answers 200 (ok or
    degraded), 1 when it answers otherwise or not at all, 2 when no health port is configured."""
    out, err = out or sys.stdout, err or sys.stderr
    url = probe_url(settings)
    if url is None:
        print("papersbot: no health server configured (set PAPERSBOT_HEALTH_PORT)", file=err)
        return 2
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via HTTP_PROXY
    try:
        with opener.open(url, timeout=timeout) as response:
            print(response.read().decode("utf-8", "replace").rstrip(), file=out)
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace").rstrip(), file=out)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"papersbot: the health server at {url} did not answer: {reason}", file=err)
        return 1
