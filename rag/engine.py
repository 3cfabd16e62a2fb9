"""papersbot as a LlamaIndex query engine: ``from rag import build_query_engine``.

:class:`PapersQueryEngine` is a ``BaseQueryEngine``: ``query``, ``aquery`` and streaming (``streaming=True``)
answer with the same routing (arXiv ids, dates, votes: ``rag.query``) ahead of the same hybrid retrieval
and the same synthesis (an LLM with validated citations, or extractive) as ``papersbot ask`` and the bot,
because it calls the same ``AnswerEngine``. ``Response.source_nodes`` are the cited papers in citation
order (node ``[n]`` is citation ``[n]``), each with metadata ``arxiv_id``, ``title``, ``url``, ``date`` and
``votes``; ``str(response)`` is the answer followed by those papers' links, and ``Response.metadata["answer"]``
the full :class:`rag.answer.Answer`. It plugs into anything
that takes a query engine (``QueryEngineTool`` for agents, evaluators), and its steps are LlamaIndex
spans and events (``rag.instrumentation``). Nothing here reads ``llama_index.core.Settings``: the LLM and
the embedder are papersbot's own, built from papersbot's settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import RESPONSE_TYPE, AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from loaders.digest import SECTIONS
from rag.answer import Answer, AnswerEngine, Source
from rag.instrumentation import EngineMetrics

if TYPE_CHECKING:
    from config.settings import Settings
    from rag.service import Papers

SOURCE_METADATA = ("arxiv_id", "title", "url", "date", "votes")


class PapersQueryEngine(BaseQueryEngine):
    """Cited answers over the digests as a LlamaIndex query engine (see the module docstring).

    ``conversation_id``: follow-up questions of one conversation ("그 논문의 성능은?") see the previous
    turns, as in a chat; None (default) answers every question on its own. ``use_llm``: False forces
    extractive answers; None uses the LLM when one is configured. ``refresh`` is called before each
    question (the papers service's: pick up what another process ingested)."""

    def __init__(self, engine: AnswerEngine, *, streaming: bool = False, conversation_id: str | None = None,
                 use_llm: bool | None = None, top_k: int | None = None,
                 refresh: Callable[[], object] | None = None, close: Callable[[], object] | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        super().__init__(callback_manager=callback_manager)
        self.engine = engine
        self.streaming = streaming
        self.conversation_id = conversation_id
        self.use_llm = use_llm
        self.top_k = top_k
        self._refresh = refresh
        self._close = close
        engine.instrumentation.watch(self)  # a query's steps are timed under its own span

    @property
    def metrics(self) -> EngineMetrics:
        """The engine's step durations and answer counts (from its LlamaIndex spans and events)."""
        return self.engine.instrumentation.metrics

    def close(self) -> None:
        """Release what :func:`build_query_engine` opened (the catalog; the data dir when owned)."""
        if self._close is not None:
            self._close()

    def __enter__(self) -> PapersQueryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _options(self) -> dict[str, Any]:
        return {"use_llm": self.use_llm, "top_k": self.top_k}

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        if self._refresh is not None:
            self._refresh()
        if self.streaming:
            return self._stream(query_bundle.query_str)
        return to_response(self.engine.ask(query_bundle.query_str, self.conversation_id, **self._options()))

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        # The engine is synchronous (SQLite, Chroma, bm25s, the openai client); a worker thread keeps the
        # event loop free, and asyncio.to_thread copies the context, so the spans stay under this query's.
        if self.streaming:
            return await asyncio.to_thread(self._astream, query_bundle.query_str)
        return await asyncio.to_thread(self._query, query_bundle)

    def _stream(self, question: str) -> CitedStreamingResponse:
        response = CitedStreamingResponse(response_gen=_empty())
        response.response_gen = self._tokens(question, response)
        return response

    def _tokens(self, question: str, response: StreamingResponse) -> Generator[str, None, None]:
        for item in self.engine.ask_stream(question, self.conversation_id, **self._options()):
            if isinstance(item, Answer):
                if not item.llm["used"]:  # extractive or a fallback: the whole text at once
                    yield item.text
                final = to_response(item)
                response.source_nodes[:] = final.source_nodes
                response.metadata = final.metadata
                response.response_txt = final.response
            else:
                yield item

    def _astream(self, question: str) -> CitedAsyncStreamingResponse:
        if self._refresh is not None:
            self._refresh()
        sync = self._stream(question)

        async def tokens() -> AsyncGenerator[str, None]:
            iterator = iter(sync.response_gen)
            while True:
                token = await asyncio.to_thread(next, iterator, None)
                if token is None:
                    break
                yield token
            answer.source_nodes[:] = sync.source_nodes
            answer.metadata, answer.response_txt = sync.metadata, sync.response_txt

        answer = CitedAsyncStreamingResponse(response_gen=tokens())
        return answer


@dataclass
class CitedStreamingResponse(StreamingResponse):
    """``response_gen`` yields the model's words as they are written (raw: links not yet removed, markers
    not yet checked); an extractive answer comes as one piece. Once the stream is consumed,
    ``response_txt`` / ``get_response()`` / ``str()`` give the validated answer and ``source_nodes`` the
    cited papers in citation order."""

    def _drain(self, echo: bool = False) -> None:
        for token in self.response_gen:
            if echo:
                print(token, end="", flush=True)

    def __str__(self) -> str:
        self._drain()
        return self.response_txt or ""

    def get_response(self) -> Response:
        self._drain()
        return Response(self.response_txt, self.source_nodes, self.metadata)

    def print_response_stream(self) -> None:
        self._drain(echo=True)
        print()


@dataclass
class CitedAsyncStreamingResponse(AsyncStreamingResponse):
    """:class:`CitedStreamingResponse` for ``aquery``: ``async for token in r.async_response_gen()``. The
    base class's ``get_response`` works as is: the stream sets the validated text as it ends."""


def _empty() -> Generator[str, None, None]:
    yield from ()


def source_node(source: Source) -> NodeWithScore:
    """A paper as a LlamaIndex node: id = arXiv id, text = title and digest sections, our metadata."""
    p = source.paper
    text = "\n".join([p.title, *(f"{label}: {getattr(p, key)}" for key, label in SECTIONS if getattr(p, key))])
    metadata = {"arxiv_id": p.arxiv_id, "title": p.title, "url": p.url, "date": p.date, "votes": p.votes}
    node = TextNode(id_=p.arxiv_id, text=text, metadata=metadata,
                    excluded_embed_metadata_keys=["url", "votes"], excluded_llm_metadata_keys=[])
    return NodeWithScore(node=node, score=source.candidate.score if source.candidate else None)


def to_response(answer: Answer) -> Response:
    """The answer as a LlamaIndex ``Response``: the cited papers, in citation order, are the source nodes."""
    cited = [source_node(source) for source in answer.sources[: len(answer.citations)]]
    metadata = {"answer": answer, "covered": answer.covered, "mode": answer.mode, "language": answer.language,
                "llm": answer.llm, "timings_ms": answer.timings_ms,
                "citations": [c.to_json() for c in answer.citations]}
    return Response(response=response_text(answer), source_nodes=cited, metadata=metadata)


def response_text(answer: Answer) -> str:
    """The answer, then one line per cited paper with its link (what an agent reads from a tool)."""
    return "\n".join([answer.text, *([""] if answer.citations else []),
                      *(f"[{c.n}] {c.title} ({c.date}) {c.url}" for c in answer.citations)])


def build_query_engine(settings: Settings | None = None, *, streaming: bool = False,
                       **options: Any) -> PapersQueryEngine:
    """The query engine over the configured data dir, built from the same configuration as the CLI (the
    config file, ``PAPERSBOT_*`` / ``OPENAI_*`` environment variables), unless ``settings`` are given.

    ``options``: ``conversation_id``, ``use_llm``, ``top_k`` (see :class:`PapersQueryEngine`), and what
    ``rag.components.build_components`` takes (``embedder=``, ``llm=``, ``chroma=``, ...). Close it when done
    (it is a context manager)."""
    from config.settings import load_settings
    from rag.service import Papers

    engine_options = {key: options.pop(key) for key in ("conversation_id", "use_llm", "top_k") if key in options}
    papers: Papers = Papers.open(settings or load_settings(), **options)
    return PapersQueryEngine(papers.engine, streaming=streaming, refresh=papers.refresh, close=papers.close,
                             **engine_options)
