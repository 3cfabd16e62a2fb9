"""papersbot as a LlamaIndex query engine (rag/engine.py): query, aquery, streaming, source nodes in
citation order, routing ahead of retrieval, nothing implicit (no Settings, no OpenAI, no network), and the
README's "Use from LlamaIndex" example run as written (an agent with the engine as a QueryEngineTool).

Fast tests use the bundled samples embedded by a hash embedder; the end-to-end one uses the seeds and the
real model.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_index.core.settings
import openai
import pytest
import pytest_socket
from llama_index.core.base.response.schema import Response
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent
from llama_index.core.instrumentation.events.retrieval import RetrievalStartEvent
from pydantic import Field, SecretStr

from config.settings import Settings, load_settings
from rag import PapersQueryEngine, build_query_engine
from rag.components import Components
from rag.engine import SOURCE_METADATA, CitedAsyncStreamingResponse, CitedStreamingResponse
from rag.ingest import Indexer, ingest_paths
from rag.llm import ChatLLM
from tests.conftest import SAMPLES, open_components
from tests.fakes.fixtures import running_openai
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import HashEmbedding

README = Path(__file__).resolve().parents[2] / "README.md"
OMNIHUMAN = "2502.01061"


@pytest.fixture(scope="module")
def hashed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data dir holding the 15 samples embedded by the hash embedder (built once, then closed)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("engine") / "data")
    components = open_components(settings, embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(components), [str(SAMPLES)]).added == 15
    components.close()
    return settings


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with running_openai(api_key="sk-test") as server:
        yield server


def chat_llm(settings: Settings, server: FakeOpenAI) -> ChatLLM:
    return ChatLLM.from_settings(settings.llm.model_copy(update={
        "base_url": server.base_url, "api_key": SecretStr("sk-test"), "model": "fake-model", "max_retries": 0}))


@pytest.fixture
def engine(hashed_settings: Settings) -> Iterator[PapersQueryEngine]:
    with build_query_engine(hashed_settings, embedder=HashEmbedding(), llm=None) as query_engine:
        yield query_engine


class Events(BaseEventHandler):
    seen: list[BaseEvent] = Field(default_factory=list)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event)


@pytest.fixture
def events() -> Iterator[Events]:
    root, handler = get_dispatcher(), Events()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers = [h for h in root.event_handlers if h is not handler]


def test_a_query_cites_papers_as_source_nodes(engine: PapersQueryEngine, events: Events) -> None:
    response = engine.query("What is OmniHuman-1?")
    assert isinstance(response, Response)
    answer = response.metadata["answer"]
    assert answer.citations and [n.node.node_id for n in response.source_nodes] == [
        c.arxiv_id for c in answer.citations]
    for node, citation in zip(response.source_nodes, answer.citations, strict=True):
        assert tuple(node.node.metadata) == SOURCE_METADATA
        assert node.node.metadata == {k: v for k, v in citation.to_json().items() if k != "n"}
        assert node.node.get_content().startswith(citation.title)
    assert str(response).startswith(answer.text)
    assert f"[1] {answer.citations[0].title} ({answer.citations[0].date}) {answer.citations[0].url}" in str(response)
    kinds = [type(e) for e in events.seen]
    assert kinds.count(QueryStartEvent) == kinds.count(QueryEndEvent) == 1
    assert list(response.metadata["timings_ms"]) == ["route", "embed_query", "dense", "lexical", "fuse",
                                                    "synthesize", "total"]
    assert engine.metrics.counts()["questions"] == 1 and engine.metrics.steps()["query"].count == 1


def test_sources_follow_the_order_the_llm_cited_them(hashed_settings: Settings, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply("Second first [2], then the first [1]; see evil.example.com/x [9].")
    with build_query_engine(hashed_settings, embedder=HashEmbedding(), llm=chat_llm(hashed_settings, fake_llm),
                            top_k=3) as query_engine:
        response = query_engine.query("video generation models")
        found = query_engine.engine.find("video generation models", top_k=3)  # what the LLM was shown
    retrieved = [s.paper.arxiv_id for s in found.sources]
    assert [n.node.node_id for n in response.source_nodes] == [retrieved[1], retrieved[0]]
    answer = response.metadata["answer"]
    assert answer.text == "Second first [1], then the first [2]; see."
    assert response.metadata["llm"] == {"used": True, "model": "fake-model", "reason": None}


def test_aquery_answers_like_query(engine: PapersQueryEngine) -> None:
    expected = engine.query("What is OmniHuman-1?")
    response = asyncio.run(engine.aquery("What is OmniHuman-1?"))
    assert isinstance(response, Response) and response.response == expected.response
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in expected.source_nodes]


def test_streaming_gives_the_models_words_then_the_validated_answer(hashed_settings: Settings,
                                                                     fake_llm: FakeOpenAI) -> None:
    pieces = ["OmniHuman-1 ", "animates people ", "(www.example.org) ", "[1] [7]."]
    with build_query_engine(hashed_settings, streaming=True, embedder=HashEmbedding(),
                            llm=chat_llm(hashed_settings, fake_llm)) as query_engine:
        fake_llm.script_reply("".join(pieces), chunks=pieces)
        streamed = query_engine.query("What is OmniHuman-1?")
        assert isinstance(streamed, CitedStreamingResponse)
        assert list(streamed.response_gen) == pieces  # raw, as written
        final = streamed.get_response()
        fake_llm.script_reply("".join(pieces), chunks=pieces)
        astreamed = asyncio.run(query_engine.aquery("What is OmniHuman-1?"))
        assert isinstance(astreamed, CitedAsyncStreamingResponse)

        async def consume() -> list[str]:
            return [token async for token in astreamed.async_response_gen()]

        assert asyncio.run(consume()) == pieces
    assert final.response is not None and final.response.startswith("OmniHuman-1 animates people [1].")
    assert "example.org" not in final.response and "[7]" not in final.response
    assert len(final.source_nodes) == 1 == len(final.metadata["answer"].citations)  # type: ignore[index]
    assert astreamed.response_txt == final.response
    assert [n.node.node_id for n in astreamed.source_nodes] == [n.node.node_id for n in final.source_nodes]


def test_extractive_answers_stream_in_one_piece(engine: PapersQueryEngine) -> None:
    expected = engine.query("What is OmniHuman-1?")
    engine.streaming = True
    streamed = engine.query("What is OmniHuman-1?")
    assert isinstance(streamed, CitedStreamingResponse)
    assert list(streamed.response_gen) == [expected.metadata["answer"].text]  # type: ignore[index]
    assert str(streamed) == expected.response


def test_routing_stays_ahead_of_retrieval(engine: PapersQueryEngine, events: Events) -> None:
    top = engine.query("2025년 2월 5일 가장 추천 많은 논문")
    lookup = engine.query(f"arxiv.org/abs/{OMNIHUMAN} 요약해줘")
    assert not [e for e in events.seen if isinstance(e, RetrievalStartEvent)]
    assert top.metadata["mode"] == "top" and lookup.metadata["mode"] == "lookup"
    best = top.source_nodes[0].node.metadata
    assert best["date"] == "2025-02-05" and best["votes"] == max(
        n.node.metadata["votes"] for n in top.source_nodes)
    assert [n.node.node_id for n in lookup.source_nodes] == [OMNIHUMAN]


def test_nothing_implicit_reaches_out(hashed_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every socket closed (unix ones aside, for asyncio's self-pipe) and every attempt recorded,
    LlamaIndex's Settings model properties and the openai clients booby-trapped: build, query, aquery,
    stream, retrieve."""
    touched: list[str] = []

    def trap(name: str) -> property:
        def get(self: object) -> Any:
            touched.append(name)
            raise AssertionError(f"llama_index.core.Settings.{name} was consulted")
        return property(get, lambda self, value: touched.append(name))

    for name in ("llm", "embed_model", "transformations", "node_parser", "text_splitter", "tokenizer",
                 "prompt_helper", "context_window", "num_output", "chunk_size", "chunk_overlap"):
        monkeypatch.setattr(llama_index.core.settings._Settings, name, trap(name))

    def no_client(self: object, *args: Any, **kwargs: Any) -> None:
        touched.append(type(self).__name__)
        raise AssertionError("an OpenAI client was built")

    monkeypatch.setattr(openai.OpenAI, "__init__", no_client)
    monkeypatch.setattr(openai.AsyncOpenAI, "__init__", no_client)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-would-be-used-by-an-implicit-openai")
    # Put back exactly what the session had (its 127.0.0.1-only guard) afterwards: pytest_socket.enable_socket()
    # would restore the unguarded socket, and monkeypatch's undo the in-test guard, which blocked later tests.
    session_socket, session_lookup = socket.socket, socket.getaddrinfo
    pytest_socket.disable_socket(allow_unix_socket=True)
    guarded = socket.socket  # raises for anything but a unix socket; recorded too, in case a caller swallows it

    class Recording(guarded):  # type: ignore[misc, valid-type]
        def __new__(cls, family: int = -1, *args: Any, **kwargs: Any) -> Any:
            if family != socket.AF_UNIX:
                touched.append(f"socket({family})")
            return super().__new__(cls, family, *args, **kwargs)

    guarded_lookup = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        touched.append(f"getaddrinfo({host})")
        return guarded_lookup(host, *args, **kwargs)

    socket.socket, socket.getaddrinfo = Recording, lookup  # type: ignore[misc]
    try:
        with build_query_engine(hashed_settings, embedder=HashEmbedding()) as query_engine:
            assert query_engine.engine.llm is None  # no LLM configured: none is made up
            assert query_engine.query("What is OmniHuman-1?").source_nodes
            assert asyncio.run(query_engine.aquery("OmniHuman-1 human animation")).source_nodes
            query_engine.streaming = True
            assert str(query_engine.query("video generation"))
            assert query_engine.engine.retriever.retrieve("video generation")
    finally:
        socket.socket, socket.getaddrinfo = session_socket, session_lookup  # type: ignore[misc]
    assert touched == []


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Use from LlamaIndex", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's 'Use from LlamaIndex' section has a python block"
    return blocks[0]


def test_readme_example_runs_on_the_seeds(seed_library: Components, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """End to end on the real model: `build_query_engine()` with no arguments reads the data dir from the
    environment, and the README's agent uses it as a tool (its LLM is the fake OpenAI server)."""
    monkeypatch.setenv("PAPERSBOT_DATA_DIR", str(seed_library.settings.storage.data_dir))
    code = readme_example()
    assert "build_query_engine()" in code and "QueryEngineTool" in code and "BaseEventHandler" in code
    root = get_dispatcher()
    before = list(root.event_handlers)
    with running_openai() as server:  # any key
        server.script_reply('Thought: The digests should know.\nAction: daily_papers\n'
                            'Action Input: {"input": "What is OmniHuman-1?"}')
        server.script_reply("Thought: I can answer without using any more tools.\n"
                            "Answer: OmniHuman-1 animates a person from one image (arXiv 2502.01061).")
        try:
            exec(compile(code.replace("http://localhost:8000/v1", server.base_url), "README.md", "exec"),
                 {"__name__": "readme"})
        finally:
            root.event_handlers = before
        observation = server.chat_requests()[-1].messages[-1]["content"]
    out = capsys.readouterr().out
    assert "OmniHuman-1 animates a person from one image" in out
    assert re.search(r"retrieved \d+ nodes", out) and "answer: search, covered" in out
    assert f"https://arxiv.org/abs/{OMNIHUMAN}" in observation  # the tool's output carries the cited link
