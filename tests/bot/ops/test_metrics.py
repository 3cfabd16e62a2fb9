"""bot.ops.metrics on its own: a /healthz body (and the monitors) in, Prometheus families out."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest

from bot.ops.health import TelegramMonitor
from bot.ops.metrics import HealthCollector, process_registry

BODY: dict[str, Any] = {
    "status": "degraded", "version": "1.2.3",
    "index": {"collection": "papers-e5", "papers": 15, "dates": 3, "sections": 45, "vector_nodes": 44,
              "lexical_nodes": 45, "revision": 7, "last_ingest": "2025-02-06T00:05:00+00:00"},
    "sync": {"at": "2025-02-06T00:10:00+00:00", "ok": False},
    "push": {"last_push": None, "pushes_sent": None},
}


def samples(collector: HealthCollector) -> dict[str, float]:
    """``name{labels}`` → value, as the text exposition writes them."""
    out = {}
    for line in generate_latest(collector).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_a_body_becomes_gauges_and_counters() -> None:
    values = samples(HealthCollector(BODY, None))
    assert values["papersbot_health_status"] == 1 and values["papersbot_library_up"] == 1
    assert values['papersbot_info{collection="papers-e5",version="1.2.3"}'] == 1
    assert (values["papersbot_papers"], values["papersbot_vector_nodes"], values["papersbot_catalog_revision"]) == (
        15, 44, 7)
    assert values["papersbot_last_ingest_timestamp_seconds"] == 1738800300
    assert values["papersbot_last_sync_timestamp_seconds"] == 1738800600 and values["papersbot_last_sync_ok"] == 0
    # unknown stays absent rather than 0: no push yet, no push store, no Telegram monitor
    absent = ("papersbot_last_push", "papersbot_pushes", "papersbot_telegram")
    assert not any(name.startswith(absent) for name in values)


def test_a_failing_library_reports_only_that() -> None:
    body = {**BODY, "status": "unhealthy", "index": {"error": "RuntimeError: gone"}, "sync": None}
    values = samples(HealthCollector(body, None))
    assert values["papersbot_health_status"] == 2 and values["papersbot_library_up"] == 0
    assert "papersbot_papers" not in values and "papersbot_last_sync_ok" not in values


def test_the_telegram_monitor_counts() -> None:
    clock = [1000.0]
    monitor = TelegramMonitor(clock=lambda: clock[0])
    monitor.succeeded()
    clock[0] = 1010.0
    monitor.failed("ConnectError")
    monitor.updates_started()
    monitor.updates_finished("HTTP 409")
    values = samples(HealthCollector(BODY, monitor))
    assert values["papersbot_telegram_up"] == 0 and values["papersbot_telegram_last_ok_timestamp_seconds"] == 1000
    assert (values["papersbot_telegram_requests_total"], values["papersbot_telegram_failures_total"]) == (2, 1)
    assert values["papersbot_telegram_updates_failures_total"] == 1
    assert "papersbot_telegram_updates_last_ok_timestamp_seconds" not in values  # no getUpdates succeeded yet


def test_registered_collectors_are_served_too() -> None:
    registry = process_registry()
    extra = CollectorRegistry()
    Counter("papersbot_test_events", "Events of a test.", registry=extra).inc(3)
    assert samples(HealthCollector(BODY, None, extra))["papersbot_test_events_total"] == 3
    values = samples(HealthCollector(BODY, None, registry))
    assert values["process_resident_memory_bytes"] > 10_000_000 and values["process_start_time_seconds"] > 1.6e9
    assert any(name.startswith("python_info{") for name in values)
