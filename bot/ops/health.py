"""The bot's health signal for containers and monitoring: ``GET /healthz`` (JSON) and ``GET /metrics``
(Prometheus text format) on ``health_listen:health_port``, plus ``papersbot health`` (the Docker
HEALTHCHECK command), which asks ``/healthz`` and turns the answer into an exit code.

Reported: index size (catalog, vectors, lexical), the last ingest that changed the catalog, the last push,
Telegram reachability, and the LLM's recent record (the reasons answers fell back to extractive: users
only read a neutral note in their language). Reachability comes from the bot's own Bot API traffic:
``bot.telegram.request.MonitoredRequest`` wraps PTB's HTTP request objects and tells a
:class:`TelegramMonitor` (which knows nothing of python-telegram-bot) about every round trip. Long polling
makes one every few seconds; when the bot has been quiet (webhook mode) the server probes with ``getMe``.

Status: ``ok``; ``degraded`` (still HTTP 200: an empty or inconsistent index, a Bot API failure younger than
``telegram_grace_s``, no round trip yet, failing ``getUpdates`` calls); ``unhealthy`` (HTTP 503: the library
fails, the Bot API has been unreachable for longer than ``telegram_grace_s``, or, when long polling, no
``getUpdates`` call has succeeded for ``updates_max_age_s``: a bot that receives nothing is not healthy even
when its other calls work).

The server is an aiohttp application (aiohttp comes with llama-index-core) on the bot's event loop, started
in the Application's ``post_init`` and closed in ``post_shutdown``; ``/metrics`` is written by
``prometheus_client`` (``bot.ops.metrics``). Blocking library reads run in a thread, cached briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TextIO

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest

from bot.ops.logs import redact_text
from bot.ops.metrics import EngineRecord, HealthCollector, process_registry
from config.settings import HealthSettings
from rag.service import Papers

log = logging.getLogger("papersbot.health")

Probe = Callable[[], Awaitable[object]]
NO_STORE = {"Cache-Control": "no-store"}


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
    """Bot API reachability as seen by the bot's own requests (fed by ``bot.telegram.request.MonitoredRequest``)."""

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
    """``/healthz`` and ``/metrics`` served by aiohttp. Construct, then ``await start()`` inside the bot's
    event loop (PTB ``post_init``) and ``await stop()`` at shutdown.

    ``updates_max_age_s`` (long polling only): ``unhealthy`` once no ``getUpdates`` has succeeded for that
    long (counted from the health server's start until polling begins).

    ``last_push`` and ``pushes_sent`` are called in a worker thread (they may read SQLite); return None
    when unknown. ``/metrics`` also serves every collector of ``registry`` (default: prometheus_client's
    process and platform collectors)."""

    def __init__(
        self,
        papers: Papers,
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
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.papers = papers
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
        self.registry = registry if registry is not None else process_registry()
        self.engine: EngineRecord | None = None  # the answer engine's steps and answers, for /metrics
        self._runner: web.AppRunner | None = None
        self._probe_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: HealthSettings, papers: Papers, **kwargs: Any) -> HealthServer:
        if settings.port is None:
            raise ValueError("health_port is not set")
        return cls(papers, host=settings.listen, port=settings.port, **kwargs)

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self, probe: Probe | None = None) -> None:
        """Listen; with ``probe`` (e.g. ``app.bot.get_me``), call it whenever the Bot API has been quiet for
        ``probe_interval_s``, so reachability stays current without polling traffic."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)  # GET and HEAD; other methods get 405
        app.router.add_get("/metrics", self._metrics)
        # PTB owns the signals; a scrape in flight at shutdown gets at most 2 s (aiohttp waits 60 s by default).
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        if probe is not None and self.telegram is not None:
            self._probe_task = asyncio.create_task(self._probe_loop(probe))
        log.info("health server listening on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
            stats = self.papers.stats()
            stats.pop("date_list", None)
            last = self.papers.last_ingest()
            stats["last_ingest"] = last.isoformat() if last else None
            snap.index = stats
            snap.sync = self.papers.last_sync()
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

    async def collector(self) -> HealthCollector:
        """What one ``/metrics`` scrape reports: the health report's metrics and ``registry``'s."""
        _, body = await self.health()
        return HealthCollector(body, self.telegram, self.registry, self.engine)

    async def metrics(self) -> str:
        """``/metrics`` in the Prometheus text format 0.0.4."""
        return generate_latest(await self.collector()).decode()

    # --- HTTP ------------------------------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        code, body = await self.health()
        return web.Response(status=code, body=json.dumps(body, ensure_ascii=False).encode() + b"\n",
                            content_type="application/json", headers=NO_STORE)

    async def _metrics(self, request: web.Request) -> web.Response:
        # prometheus_client's content negotiation: text format 0.0.4 unless the scraper asks for another.
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        payload = encoder(await self.collector())
        return web.Response(status=200, body=payload, headers={**NO_STORE, "Content-Type": content_type})


# --- papersbot health ----------------------------------------------------------------------------------------
def probe_url(settings: HealthSettings) -> str | None:
    """Where ``papersbot health`` asks: the listen address, or loopback when it listens on every address."""
    if settings.port is None:
        return None
    host = settings.listen.strip()
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/healthz"


def check(settings: HealthSettings, timeout: float = 5.0, out: TextIO | None = None, err: TextIO | None = None) -> int:
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
