"""The engine's steps seen through LlamaIndex instrumentation (``llama_index.core.instrumentation``).

Every step of a question is a LlamaIndex span: ``AnswerEngine.ask`` (and the query engine's ``query``) at the
root, then routing, the query embedding (LlamaIndex's own ``BaseEmbedding.get_query_embedding`` span), the
dense and the lexical retriever (``BaseRetriever.retrieve``), per-paper fusion and synthesis. Routing and
answers also dispatch events of ours (:class:`RouteEvent`, :class:`AnswerEvent`) next to LlamaIndex's
``QueryStartEvent`` / ``RetrievalStartEvent`` / ``EmbeddingStartEvent`` and their ends. So any LlamaIndex
observability integration added to the root dispatcher (Arize Phoenix, Langfuse, OpenTelemetry, ...) sees
the same steps, and what papersbot shows (the REPL's and ``ask --json``'s ``timings_ms``, the bot's
``/metrics``) is read from those spans and events by :class:`EngineInstrumentation`, not from stopwatches.

The dispatcher is LlamaIndex's process-wide one; :class:`EngineInstrumentation` only records span trees
whose root belongs to an engine it :meth:`~EngineInstrumentation.watch` es, so several engines in one
process (tests, a benchmark) keep separate figures, and it detaches itself when its last engine is gone.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llama_index.core.instrumentation import Dispatcher, get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.instrumentation.span import BaseSpan, active_span_id
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from pydantic import PrivateAttr

# Span name ("Class.method", as the dispatcher names spans, or "*.method" for any class) -> step name.
# The names are those `papersbot ask --json` has always shown in ``timings_ms``.
STEPS: dict[str, str] = {
    "AnswerEngine.ask": "total",
    "AnswerEngine._route": "route",
    "*.get_query_embedding": "embed_query",
    "DenseRetriever.retrieve": "dense",
    "LexicalRetriever.retrieve": "lexical",
    "HybridRetriever._fuse_papers": "fuse",
    "AnswerEngine._synthesize": "synthesize",
    "PapersQueryEngine.query": "query",
    "PapersQueryEngine.aquery": "query",
}
STEP_ORDER = ("route", "embed_query", "dense", "lexical", "fuse", "synthesize", "total", "query")


class RouteEvent(BaseEvent):
    """A question was routed (``rag.query.plan_query``): before any retrieval."""

    mode: str  # "search", "top" (votes, dates), "lookup" (arXiv ids) or "author" (a catalog author named)
    dates: int | None = None  # how many digest dates the question is limited to; None: all
    arxiv_ids: int = 0  # ids asked for by a lookup
    votes_condition: bool = False

    @classmethod
    def class_name(cls) -> str:
        return "RouteEvent"


class AnswerEvent(BaseEvent):
    """An answer was made (``AnswerEngine.ask``), whoever asked: the CLI, the REPL, Telegram, a query engine."""

    mode: str
    language: str
    covered: bool
    citations: int
    llm_used: bool  # the LLM wrote it (validated citations)
    llm_failed: bool  # an LLM was asked and failed: the answer fell back to extractive
    llm_reason: str | None = None

    @classmethod
    def class_name(cls) -> str:
        return "AnswerEvent"


@dataclass
class StepStats:
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0


class EngineMetrics:
    """Process totals of the watched engines' steps and answers: what ``/metrics`` exports.

    ``steps()``: per step, how many times it ran and for how long (seconds). ``counts()``: ``questions``,
    ``questions_<mode>``, ``not_covered``, ``llm_answers``, ``llm_failures``, ``routes_<mode>``.
    ``subscribe`` adds callbacks called on every observation (e.g. a prometheus_client Histogram's
    ``observe`` and a Counter's ``inc``); they run on the answering thread and must be quick.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[str, StepStats] = {}
        self._counts: dict[str, int] = {}
        self._on_step: list[Callable[[str, float], None]] = []
        self._on_answer: list[Callable[[AnswerEvent], None]] = []

    def subscribe(self, *, on_step: Callable[[str, float], None] | None = None,
                  on_answer: Callable[[AnswerEvent], None] | None = None) -> None:
        if on_step is not None:
            self._on_step.append(on_step)
        if on_answer is not None:
            self._on_answer.append(on_answer)

    def observe(self, step: str, seconds: float) -> None:
        with self._lock:
            stats = self._steps.setdefault(step, StepStats())
            stats.count += 1
            stats.total_s += seconds
            stats.max_s = max(stats.max_s, seconds)
        for callback in self._on_step:
            callback(step, seconds)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def answered(self, event: AnswerEvent) -> None:
        self.count("questions")
        self.count(f"questions_{event.mode}")
        if not event.covered:
            self.count("not_covered")
        if event.llm_used:
            self.count("llm_answers")
        if event.llm_failed:
            self.count("llm_failures")
        for callback in self._on_answer:
            callback(event)

    def steps(self) -> dict[str, StepStats]:
        with self._lock:
            return {step: StepStats(s.count, s.total_s, s.max_s) for step, s in self._steps.items()}

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def step_of(span_id: str) -> str | None:
    """The step a span stands for, from its id (``Class.method-<uuid4>``, as the dispatcher names them)."""
    name = span_id[:-37] if len(span_id) > 37 and span_id[-37] == "-" else span_id
    step = STEPS.get(name)
    if step is None and "." in name:
        step = STEPS.get("*." + name.rsplit(".", 1)[1])
    return step


class StepSpan(BaseSpan):
    root_id: str
    step: str | None = None
    started: float = 0.0  # time.perf_counter()


class _StepSpanHandler(BaseSpanHandler[StepSpan]):
    """Times the spans of watched engines' span trees (everything under a span whose instance is watched)."""

    _owner: EngineInstrumentation = PrivateAttr()

    @classmethod
    def class_name(cls) -> str:
        return "PapersbotStepSpanHandler"

    def new_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                 parent_span_id: str | None = None, tags: dict[str, Any] | None = None,
                 **kwargs: Any) -> StepSpan | None:
        parent = self.open_spans.get(parent_span_id) if parent_span_id else None
        if parent is not None:
            root = parent.root_id
        elif instance is not None and self._owner.watches(instance):
            root = id_
        else:
            return None
        return StepSpan(id_=id_, parent_id=parent_span_id, root_id=root, step=step_of(id_),
                        started=time.perf_counter())

    def prepare_to_exit_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                             result: Any | None = None, **kwargs: Any) -> StepSpan | None:
        span = self.open_spans.get(id_)
        if span is not None:
            self._owner._finished(span, time.perf_counter() - span.started)
        return span

    def prepare_to_drop_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                             err: BaseException | None = None, **kwargs: Any) -> StepSpan | None:
        span = self.open_spans.get(id_)
        if span is not None:
            self._owner._finished(span, time.perf_counter() - span.started, failed=True)
        return span


class _AnswerEventHandler(BaseEventHandler):
    _owner: EngineInstrumentation = PrivateAttr()

    @classmethod
    def class_name(cls) -> str:
        return "PapersbotAnswerEventHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RouteEvent | AnswerEvent) and self._owner.in_watched_span(event.span_id):
            if isinstance(event, AnswerEvent):
                self._owner.metrics.answered(event)
            else:
                self._owner.metrics.count(f"routes_{event.mode}")


class EngineInstrumentation:
    """Records the steps of the engines it watches: per question (:meth:`timings_ms`) and in total
    (:attr:`metrics`). Attaches a span handler and an event handler to LlamaIndex's root dispatcher."""

    def __init__(self, metrics: EngineMetrics | None = None, *, dispatcher: Dispatcher | None = None) -> None:
        self.metrics = metrics or EngineMetrics()
        self._dispatcher = dispatcher or get_dispatcher()  # the root: every LlamaIndex span reaches it
        # Fresh containers: BaseSpanHandler's __init__ defaults are shared mutable ones.
        self._spans = _StepSpanHandler(open_spans={}, completed_spans=[], dropped_spans=[], current_span_ids={})
        self._spans._owner = self
        self._events = _AnswerEventHandler()
        self._events._owner = self
        self._watched: dict[int, weakref.ref[Any]] = {}
        self._lock = threading.Lock()
        self._trees: dict[str, dict[str, float]] = {}  # root span id -> step -> ms, while the root is open

    # --- wiring ----------------------------------------------------------------------------------------
    def watch(self, owner: Any) -> None:
        """Time every span tree rooted at a method of ``owner``; attach to the dispatcher if not yet.

        Only a weak reference is kept: when the last watched owner is collected, the handlers detach."""
        key = id(owner)
        with self._lock:
            self._watched[key] = weakref.ref(owner, functools.partial(self._unwatch, key))
        self.attach()

    def _unwatch(self, key: int, _ref: object = None) -> None:
        with self._lock:
            self._watched.pop(key, None)
            empty = not self._watched
        if empty:
            self.detach()

    def watches(self, instance: Any) -> bool:
        ref = self._watched.get(id(instance))
        return ref is not None and ref() is instance

    def in_watched_span(self, span_id: str | None) -> bool:
        return span_id is not None and span_id in self._spans.open_spans

    def attach(self) -> None:
        with self._lock:
            if self._spans not in self._dispatcher.span_handlers:
                self._dispatcher.add_span_handler(self._spans)
            if self._events not in self._dispatcher.event_handlers:
                self._dispatcher.add_event_handler(self._events)

    def detach(self) -> None:
        # Rebuilt lists, not list.remove: the dispatcher iterates its lists on other threads meanwhile.
        with self._lock:
            self._dispatcher.span_handlers = [h for h in self._dispatcher.span_handlers if h is not self._spans]
            self._dispatcher.event_handlers = [h for h in self._dispatcher.event_handlers if h is not self._events]

    # --- recording -------------------------------------------------------------------------------------
    def _finished(self, span: StepSpan, seconds: float, *, failed: bool = False) -> None:
        with self._lock:
            if span.id_ == span.root_id:
                self._trees.pop(span.id_, None)
            elif span.step is not None:
                tree = self._trees.setdefault(span.root_id, {})
                tree[span.step] = tree.get(span.step, 0.0) + seconds * 1000
        if span.step is not None and not failed:
            self.metrics.observe(span.step, seconds)

    def timings_ms(self, span_id: str | None = None) -> dict[str, float]:
        """The steps finished so far in the current question (the span tree of ``span_id``, by default the
        active span), in milliseconds, plus ``total``: the time since that span began. Call it from
        inside the span (the engine does, just before it returns its answer)."""
        span_id = span_id or active_span_id.get()
        span = self._spans.open_spans.get(span_id) if span_id else None
        if span is None:
            return {}
        with self._lock:
            tree = dict(self._trees.get(span.root_id, {}))
        tree["total"] = (time.perf_counter() - span.started) * 1000
        ordered = {step: tree.pop(step) for step in STEP_ORDER if step in tree and step not in ("total", "query")}
        ordered.update(tree)
        ordered["total"] = ordered.pop("total")
        return {step: round(ms, 2) for step, ms in ordered.items()}
