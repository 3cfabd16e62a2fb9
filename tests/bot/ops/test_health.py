"""The health server (/healthz, /metrics), Telegram reachability through the request wrapper, and
``papersbot health``."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from telegram.error import NetworkError
from telegram.request import HTTPXRequest

from bot.cli import main
from bot.ops.health import HealthServer, TelegramMonitor, check, probe_url
from bot.telegram.request import MonitoredRequest, monitored_requests
from config.settings import Settings, load_settings
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.chroma_server import free_port
from tests.conftest import SAMPLES, open_components
from tests.fakes.fixtures import running_bot_api
from tests.helpers import HashEmbedding

T = TypeVar("T")
# The /metrics names the README documents (and dashboards may use); sync ones need a sync, tested below.
DOCUMENTED_METRICS = {
    "papersbot_up", "papersbot_info", "papersbot_health_status", "papersbot_library_up", "papersbot_papers",
    "papersbot_digest_dates", "papersbot_sections", "papersbot_vector_nodes", "papersbot_lexical_nodes",
    "papersbot_catalog_revision", "papersbot_last_ingest_timestamp_seconds", "papersbot_last_push_timestamp_seconds",
    "papersbot_pushes_sent_total", "papersbot_telegram_up", "papersbot_telegram_last_ok_timestamp_seconds",
    "papersbot_telegram_requests_total", "papersbot_telegram_failures_total",
    "papersbot_telegram_updates_failures_total", "process_resident_memory_bytes", "process_start_time_seconds",
}
TOKEN = "123456789:AAFakeTokenForPapersbotTests_0123456"
PUSHED = datetime(2025, 2, 5, 8, 0, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """The 15 sample papers with the hash embedder, shared by the module's (read-only) tests."""
    library = open_components(load_settings(data_dir=tmp_path_factory.mktemp("health") / "data"),
                           embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(library), [str(SAMPLES)]).added == 15
    yield library
    library.close()


def serving(server: HealthServer, scenario: Callable[[], T]) -> T:
    """Run blocking ``scenario`` while ``server`` listens in an event loop."""

    async def run() -> T:
        await server.start()
        try:
            return await asyncio.to_thread(scenario)
        finally:
            await server.stop()

    return asyncio.run(run())


def get(url: str, method: str = "GET") -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metrics(text: str) -> dict[str, float]:
    """Sample name (labels dropped) → value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def test_healthz_and_metrics_report_the_index_pushes_and_telegram(library: Components) -> None:
    monitor = TelegramMonitor()
    monitor.succeeded()
    server = HealthServer(Papers(library), telegram=monitor, last_push=lambda: PUSHED, pushes_sent=lambda: 3)
    base = lambda: f"http://127.0.0.1:{server.port}"  # noqa: E731 - the port is known once started

    def scenario() -> tuple[Any, ...]:
        return (get(base() + "/healthz"), get(base() + "/metrics"), get(base() + "/nope"),
                get(base() + "/healthz", "POST"), get(base() + "/healthz", "HEAD"))

    health, prom, missing, post, head = serving(server, scenario)
    assert health[0] == 200
    body = json.loads(health[1])
    stats = Papers(library).stats()
    last_ingest = library.catalog.last_ingest()
    assert last_ingest is not None and abs((datetime.now(UTC) - last_ingest).total_seconds()) < 120
    assert body["status"] == "ok" and body["problems"] == []
    index = body["index"]
    assert (index["papers"], index["sections"], index["vector_nodes"]) == (15, 45, 45) == (
        stats["papers"], stats["sections"], stats["vector_nodes"])
    assert index["dates"] == stats["dates"] and index["latest_date"] == stats["latest_date"]
    assert index["last_ingest"] == last_ingest.isoformat()
    assert body["push"] == {"last_push": PUSHED.isoformat(), "pushes_sent": 3, "error": None}
    assert body["telegram"]["up"] is True and body["telegram"]["last_error"] is None

    assert prom[0] == 200
    values = metrics(prom[1])
    assert values["papersbot_papers"] == 15 and values["papersbot_vector_nodes"] == 45
    assert values["papersbot_sections"] == 45 and values["papersbot_library_up"] == 1
    assert values["papersbot_last_ingest_timestamp_seconds"] == int(last_ingest.timestamp())
    assert values["papersbot_last_push_timestamp_seconds"] == PUSHED.timestamp()
    assert values["papersbot_pushes_sent_total"] == 3
    assert values["papersbot_telegram_up"] == 1 and values["papersbot_health_status"] == 0
    assert values["papersbot_telegram_last_ok_timestamp_seconds"] == pytest.approx(monitor.last_ok)
    assert values["process_resident_memory_bytes"] > 10_000_000
    assert "# TYPE papersbot_pushes_sent_total counter" in prom[1]
    assert set(values) >= DOCUMENTED_METRICS, DOCUMENTED_METRICS - set(values)  # every name the README lists
    assert missing[0] == 404 and post[0] == 405 and head == (200, "")


def test_metrics_content_negotiation(library: Components) -> None:
    """Prometheus' text format 0.0.4 by default, OpenMetrics when the scraper asks for it (prometheus_client)."""
    server = HealthServer(Papers(library), cache_s=0)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch(accept: str | None) -> tuple[str, str, str]:
        headers = {"Accept": accept} if accept else {}
        url = f"http://127.0.0.1:{server.port}/metrics"
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.headers["Content-Type"], response.headers["Cache-Control"], response.read().decode()

    plain, open_metrics = serving(server, lambda: (fetch(None), fetch("application/openmetrics-text; version=1.0.0")))
    assert plain[0] == "text/plain; version=0.0.4; charset=utf-8" and plain[1] == "no-store"
    assert metrics(plain[2])["papersbot_papers"] == 15 and "# EOF" not in plain[2]
    assert open_metrics[0].startswith("application/openmetrics-text; version=1.0.0")
    assert open_metrics[2].endswith("# EOF\n") and "papersbot_papers 15.0" in open_metrics[2]


def test_metrics_report_the_engines_steps_and_answers(library: Components) -> None:
    """The answer engine's record (rag.instrumentation.EngineMetrics, fed by LlamaIndex spans and events)
    becomes a summary per step and counters of questions, routes and LLM outcomes."""
    from rag.instrumentation import AnswerEvent, EngineMetrics

    record = EngineMetrics()
    for seconds in (0.25, 0.75):
        record.observe("dense", seconds)
    record.observe("total", 1.5)
    record.count("routes_search", 2)
    record.answered(AnswerEvent(mode="search", language="en", covered=True, citations=2, llm_used=True,
                                llm_failed=False))
    record.answered(AnswerEvent(mode="search", language="ko", covered=False, citations=0, llm_used=False,
                                llm_failed=True, llm_reason="HTTP 401"))
    server = HealthServer(Papers(library), cache_s=0)
    assert "papersbot_engine_step_seconds" not in asyncio.run(server.metrics())  # nothing attached
    server.engine = record
    text = asyncio.run(server.metrics())
    assert "# TYPE papersbot_engine_step_seconds summary" in text
    assert 'papersbot_engine_step_seconds_count{step="dense"} 2.0' in text
    assert 'papersbot_engine_step_seconds_sum{step="dense"} 1.0' in text
    assert 'papersbot_engine_step_max_seconds{step="dense"} 0.75' in text
    assert 'papersbot_engine_step_seconds_sum{step="total"} 1.5' in text
    assert 'papersbot_questions_total{mode="search"} 2.0' in text
    assert 'papersbot_routes_total{mode="search"} 2.0' in text
    values = metrics(text)
    assert values["papersbot_questions_not_covered_total"] == 1
    assert (values["papersbot_llm_answers_total"], values["papersbot_llm_failures_total"]) == (1, 1)


def test_telegram_down_is_degraded_then_unhealthy(library: Components) -> None:
    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    monitor = TelegramMonitor(clock=clock)
    server = HealthServer(Papers(library), telegram=monitor, telegram_grace_s=300, cache_s=0, clock=clock)
    closed = free_port()

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        seen = [await server.health()]  # no round trip yet
        request = MonitoredRequest(HTTPXRequest(connect_timeout=2), monitor)
        await request.initialize()
        try:
            with pytest.raises(NetworkError):
                await request.post(f"http://127.0.0.1:{closed}/bot{TOKEN}/getMe")
            seen.append(await server.health())
            now[0] += 301
            seen.append(await server.health())
            with running_bot_api() as srv:
                await request.post(f"{srv.base_url}{srv.token}/getMe")
            seen.append(await server.health())
        finally:
            await request.shutdown()
        return seen

    (code0, fresh), (code1, down), (code2, long_down), (code3, back) = asyncio.run(scenario())
    assert (code0, fresh["status"], fresh["problems"]) == (200, "degraded", ["no Telegram Bot API round trip yet"])
    assert code1 == 200 and down["status"] == "degraded" and down["telegram"]["up"] is False
    assert "Telegram Bot API failing for 0 s" in down["problems"][0]
    assert code2 == 503 and long_down["status"] == "unhealthy" and long_down["telegram"]["failing_for_s"] == 301
    assert "unreachable for 301 s" in long_down["problems"][0]
    assert TOKEN not in json.dumps(long_down) and long_down["telegram"]["last_error"]
    assert code3 == 200 and back["status"] == "ok" and back["telegram"]["up"] is True
    assert (monitor.requests, monitor.failures) == (2, 1)


def test_a_failing_library_is_unhealthy(library: Components, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError(f"chroma at https://u:{TOKEN}@chroma:8000 refused")

    papers = Papers(library)
    monkeypatch.setattr(papers, "stats", broken)
    server = HealthServer(papers)
    code, body = asyncio.run(server.health())
    assert code == 503 and body["status"] == "unhealthy" and body["telegram"] is None
    assert "RuntimeError" in body["index"]["error"] and TOKEN not in json.dumps(body)
    values = metrics(asyncio.run(server.metrics()))
    assert values["papersbot_library_up"] == 0 and values["papersbot_health_status"] == 2
    assert "papersbot_papers" not in values


def test_an_empty_index_is_degraded_and_quiet_bots_are_probed(fast_library: Components) -> None:
    monitor = TelegramMonitor()
    server = HealthServer(Papers(fast_library), telegram=monitor, probe_interval_s=0.05)
    probes: list[float] = []

    async def probe() -> None:
        probes.append(1.0)
        monitor.succeeded()

    async def scenario() -> tuple[int, dict[str, Any]]:
        await server.start(probe=probe)
        try:
            await asyncio.sleep(0.3)
            return await server.health()
        finally:
            await server.stop()

    code, body = asyncio.run(scenario())
    assert code == 200 and body["status"] == "degraded" and body["problems"] == ["the index is empty"]
    assert 1 <= len(probes) <= 7 and body["telegram"]["up"] is True


def test_probe_url_and_the_health_command(library: Components, tmp_path: Path) -> None:
    def at(listen: str, port: int | None = 8080) -> str | None:
        return probe_url(load_settings(data_dir=tmp_path, health_port=port, health_listen=listen).health)

    assert at("0.0.0.0") == "http://127.0.0.1:8080/healthz"
    assert at("::") == "http://[::1]:8080/healthz" and at("10.0.0.5") == "http://10.0.0.5:8080/healthz"
    assert at("127.0.0.1", None) is None

    import io

    def run_check(settings: Settings) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return check(settings.health, timeout=5, out=out, err=err), out.getvalue(), err.getvalue()

    assert run_check(load_settings(data_dir=tmp_path))[0] == 2
    closed = load_settings(data_dir=tmp_path, health_port=free_port())
    code, _, err = run_check(closed)
    assert code == 1 and "did not answer" in err

    server = HealthServer(Papers(library), telegram=TelegramMonitor())  # no round trip yet: degraded, still 200
    sick = HealthServer(Papers(library), telegram=TelegramMonitor(), telegram_grace_s=0)
    sick.telegram.failed("ConnectError: refused")  # type: ignore[union-attr]

    def scenario() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        ok = run_check(load_settings(data_dir=tmp_path, health_port=server.port, health_listen="0.0.0.0"))
        bad = asyncio.run(_with(sick, lambda: run_check(load_settings(data_dir=tmp_path, health_port=sick.port))))
        return ok, bad

    ok, bad = serving(server, scenario)
    assert ok[0] == 0 and json.loads(ok[1])["status"] == "degraded"
    assert bad[0] == 1 and json.loads(bad[1])["status"] == "unhealthy"


async def _with(server: HealthServer, scenario: Callable[[], T]) -> T:
    await server.start()
    try:
        return await asyncio.to_thread(scenario)
    finally:
        await server.stop()


@pytest.mark.usefixtures("restore_root")
def test_cli_health_exit_codes(library: Components, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "cli")
    assert main(["--data-dir", data, "health"]) == 2
    assert "PAPERSBOT_HEALTH_PORT" in capsys.readouterr().err
    server = HealthServer(Papers(library))

    def scenario() -> int:
        monkeypatch.setenv("PAPERSBOT_HEALTH_PORT", str(server.port))
        return main(["--data-dir", data, "health"])

    assert serving(server, scenario) == 0
    assert json.loads(capsys.readouterr().out)["index"]["papers"] == 15


def test_the_running_bot_serves_health(library: Components, tmp_path: Path) -> None:
    """build_application(health=...) starts the server in post_init; the bot's own Bot API traffic (through
    the monitored requests) makes Telegram 'up'; the subscription store provides the last push; /metrics
    counts the questions the bot answered and times their steps (the engine's instrumentation)."""
    from tests.bot.telegram.harness import bot_settings, serve

    with running_bot_api() as srv:
        settings = bot_settings(srv, tmp_path / "bot")
        monitor = TelegramMonitor()
        request, get_updates = monitored_requests(monitor)
        health = HealthServer(Papers(library), telegram=monitor)
        engine = Papers(library, llm=None, memory=ConversationMemory(6, 100))
        from bot.telegram.app import build_application

        app = build_application(settings, engine, request=request, get_updates_request=get_updates, health=health)

        def scenario() -> tuple[tuple[int, str], tuple[int, str]]:
            srv.push_command(5, "/help")
            srv.wait_for_messages(5, 1, timeout=20)
            srv.push_text(5, "What is OmniHuman-1?")
            srv.wait_for_messages(5, 2, timeout=30)
            return get(f"http://127.0.0.1:{health.port}/healthz"), get(f"http://127.0.0.1:{health.port}/metrics")

        (code, text), (_, prom) = serve(app, scenario)
    assert 'papersbot_questions_total{mode="search"} 1.0' in prom, prom
    assert 'papersbot_engine_step_seconds_count{step="total"} 1.0' in prom
    body = json.loads(text)
    assert code == 200 and body["status"] == "ok", body
    assert body["telegram"]["up"] is True and body["telegram"]["requests"] >= 3
    assert body["push"] == {"last_push": None, "pushes_sent": 0, "error": None}
    assert health._runner is None  # closed in post_shutdown


def test_papersbot_bot_process_serves_health_and_logs_json(tmp_path: Path) -> None:
    """The container's view: `papersbot bot` with PAPERSBOT_HEALTH_PORT and PAPERSBOT_LOG_JSON, probed by
    `papersbot health` (the HEALTHCHECK command); the log is JSON lines without the token."""
    import time

    from tests.bot.processes import BotProcess, clean_env, run_papersbot

    port = free_port()
    with running_bot_api() as srv:
        env = clean_env(PAPERSBOT_DATA_DIR=str(tmp_path / "data"), TELEGRAM_BOT_TOKEN=srv.token,
                        PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_HEALTH_PORT=str(port),
                        PAPERSBOT_HEALTH_LISTEN="0.0.0.0", PAPERSBOT_LOG_JSON="true")
        with BotProcess(env, tmp_path / "bot.log") as bot:
            deadline = time.monotonic() + 60
            while True:
                bot.check_alive()
                try:
                    code, text = get(f"http://127.0.0.1:{port}/healthz")
                    if json.loads(text)["telegram"]["up"]:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"no healthy /healthz:\n{bot.log_tail()}")
                time.sleep(0.2)
            checked = run_papersbot("health", env=env, timeout=60)
            exit_code, _ = bot.stop()
        log = bot.log_text()
    assert code == 200 and json.loads(text)["status"] == "degraded"  # the index is empty
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["problems"] == ["the index is empty"]
    assert exit_code == 0 and srv.token not in log
    events = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(e["logger"] == "papersbot.health" and "listening" in e["message"] for e in events), log


def test_the_last_sync_is_reported_and_a_failed_one_degrades(fast_library: Components) -> None:
    from rag.sync import LAST_SYNC_KEY, SyncReport

    library = fast_library
    ingest_paths(Indexer.from_components(library), [str(SAMPLES)])
    health = HealthServer(Papers(library), cache_s=0)
    code, body = asyncio.run(health.health())
    assert body["sync"] is None  # never synced
    report = SyncReport(days_fetched=["2025-02-05"], finished_at="2025-02-06T00:05:00+00:00")
    library.catalog.set_meta(LAST_SYNC_KEY, json.dumps(report.health()))
    code, body = asyncio.run(health.health())
    assert body["sync"]["ok"] and body["sync"]["days_fetched"] == 1 and body["status"] == "ok"
    values = metrics(asyncio.run(health.metrics()))
    assert values["papersbot_last_sync_ok"] == 1
    assert values["papersbot_last_sync_timestamp_seconds"] == datetime(2025, 2, 6, 0, 5, tzinfo=UTC).timestamp()
    report.days_failed.append({"date": "2025-02-06", "error": "GET …/06.md: HTTP 503 (after 4 attempts)"})
    library.catalog.set_meta(LAST_SYNC_KEY, json.dumps(report.health()))
    code, body = asyncio.run(health.health())
    assert code == 200 and body["status"] == "degraded"
    assert any("last sync" in p and "HTTP 503" in p for p in body["problems"])
