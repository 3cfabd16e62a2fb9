"""``/metrics``: the health report as Prometheus metrics, through ``prometheus_client``.

The values are the ones ``/healthz`` reports (:meth:`bot.ops.health.HealthServer.health`), collected at
scrape time by a custom collector (prometheus_client's pattern for values that live elsewhere:
https://prometheus.github.io/client_python/collector/custom/), plus the process metrics of
``prometheus_client``'s own ``ProcessCollector`` and ``PlatformCollector``. Callers may register more
collectors in the :class:`~prometheus_client.CollectorRegistry` the health server serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

STATUS_VALUES = {"ok": 0, "degraded": 1, "unhealthy": 2}


class RoundTrips(Protocol):
    """The Bot API monitor's record (``bot.ops.health.TelegramMonitor``) that ``/metrics`` reports."""

    @property
    def up(self) -> bool: ...
    last_ok: float | None
    requests: int
    failures: int
    updates_ok: float | None
    updates_failures: int


def process_registry() -> CollectorRegistry:
    """A registry with prometheus_client's process (``process_resident_memory_bytes``,
    ``process_start_time_seconds``, CPU, file descriptors) and platform (``python_info``) collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def health_metrics(body: dict[str, Any], telegram: RoundTrips | None) -> Iterator[Metric]:
    """The metric families of one ``/healthz`` body (and the Bot API monitor's counters)."""
    index = body["index"]
    yield _gauge("papersbot_up", "1 while the health server answers.", 1)
    info = GaugeMetricFamily("papersbot_info", "Version and vector collection, as labels.",
                             labels=["version", "collection"])
    info.add_metric([body["version"], str(index.get("collection", ""))], 1)
    yield info
    yield _gauge("papersbot_health_status", "0 ok, 1 degraded, 2 unhealthy (see /healthz).",
                 STATUS_VALUES[body["status"]])
    yield _gauge("papersbot_library_up", "1 when the catalog and vector index answer.", 0 if "error" in index else 1)
    if "error" not in index:
        yield _gauge("papersbot_papers", "Papers in the catalog.", index["papers"])
        yield _gauge("papersbot_digest_dates", "Digest dates in the catalog.", index["dates"])
        yield _gauge("papersbot_sections", "Section texts in the catalog.", index["sections"])
        yield _gauge("papersbot_vector_nodes", "Nodes in the vector index.", index["vector_nodes"])
        yield _gauge("papersbot_lexical_nodes", "Nodes in this process's lexical index.", index["lexical_nodes"])
        yield _gauge("papersbot_catalog_revision", "Catalog revision (bumped by every ingest that changes it).",
                     index["revision"])
        if index.get("last_ingest"):
            yield _gauge("papersbot_last_ingest_timestamp_seconds", "When an ingest last changed the catalog.",
                         _timestamp(index["last_ingest"]))
    sync = body.get("sync")
    if sync:
        yield _gauge("papersbot_last_sync_timestamp_seconds", "When the last sync from the source finished.",
                     _timestamp(sync["at"]))
        yield _gauge("papersbot_last_sync_ok", "1 when every day the last sync asked for could be fetched.",
                     1 if sync["ok"] else 0)
    push = body["push"]
    if push["last_push"]:
        yield _gauge("papersbot_last_push_timestamp_seconds", "When the last daily push was sent.",
                     _timestamp(push["last_push"]))
    if push["pushes_sent"] is not None:
        yield _counter("papersbot_pushes_sent_total", "Push messages sent.", push["pushes_sent"])
    if telegram is not None:
        yield _gauge("papersbot_telegram_up", "1 when the last Bot API round trip succeeded.", int(telegram.up))
        if telegram.last_ok is not None:
            yield _gauge("papersbot_telegram_last_ok_timestamp_seconds", "Last successful Bot API round trip.",
                         telegram.last_ok)
        yield _counter("papersbot_telegram_requests_total", "Bot API round trips.", telegram.requests)
        yield _counter("papersbot_telegram_failures_total", "Bot API round trips that failed.", telegram.failures)
        if telegram.updates_ok is not None:
            yield _gauge("papersbot_telegram_updates_last_ok_timestamp_seconds", "Last successful getUpdates.",
                         telegram.updates_ok)
        yield _counter("papersbot_telegram_updates_failures_total", "getUpdates calls that failed.",
                       telegram.updates_failures)


class StepTotals(Protocol):
    count: int
    total_s: float
    max_s: float


class EngineRecord(Protocol):
    """The answer engine's process totals (``rag.instrumentation.EngineMetrics``, read from LlamaIndex spans
    and events): per step, runs and seconds; and counters (``questions``, ``questions_<mode>``,
    ``not_covered``, ``llm_answers``, ``llm_failures``, ``routes_<mode>``)."""

    def steps(self) -> Mapping[str, StepTotals]: ...
    def counts(self) -> Mapping[str, int]: ...


def engine_metrics(record: EngineRecord) -> Iterator[Metric]:
    """The engine's steps (a summary per step: runs and seconds in total, and the slowest) and answers."""
    steps = record.steps()
    seconds = SummaryMetricFamily("papersbot_engine_step_seconds",
                                  "Time in each step of answering (route, embed_query, dense, lexical, fuse, "
                                  "synthesize, total), from LlamaIndex instrumentation spans.", labels=["step"])
    slowest = GaugeMetricFamily("papersbot_engine_step_max_seconds", "The slowest run of each step since start.",
                                labels=["step"])
    for step, totals in sorted(steps.items()):
        seconds.add_metric([step], count_value=totals.count, sum_value=totals.total_s)
        slowest.add_metric([step], totals.max_s)
    yield seconds
    yield slowest
    counts = record.counts()
    questions = CounterMetricFamily("papersbot_questions", "Questions answered, by how they were routed.",
                                    labels=["mode"])
    routes = CounterMetricFamily("papersbot_routes", "Questions routed, by route.", labels=["mode"])
    for name, value in sorted(counts.items()):
        if name.startswith("questions_"):
            questions.add_metric([name.removeprefix("questions_")], value)
        elif name.startswith("routes_"):
            routes.add_metric([name.removeprefix("routes_")], value)
    yield questions
    yield routes
    yield _counter("papersbot_questions_not_covered_total", "Answers that said the papers do not cover the question.",
                   counts.get("not_covered", 0))
    yield _counter("papersbot_llm_answers_total", "Answers the LLM wrote (with validated citations).",
                   counts.get("llm_answers", 0))
    yield _counter("papersbot_llm_failures_total", "Answers that fell back to extractive because the LLM failed.",
                   counts.get("llm_failures", 0))


class HealthCollector(Collector):
    """One scrape: the families of a ``/healthz`` body and of the engine's record, then every collector of
    ``registry``."""

    def __init__(self, body: dict[str, Any], telegram: RoundTrips | None,
                 registry: CollectorRegistry | None = None, engine: EngineRecord | None = None) -> None:
        self.body, self.telegram, self.registry, self.engine = body, telegram, registry, engine

    def collect(self) -> Iterable[Metric]:
        yield from health_metrics(self.body, self.telegram)
        if self.engine is not None:
            yield from engine_metrics(self.engine)
        if self.registry is not None:
            yield from self.registry.collect()
