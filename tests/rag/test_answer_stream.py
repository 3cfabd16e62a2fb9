"""Streaming: ``ChatLLM.stream`` against the fake endpoint's SSE stream, and ``AnswerEngine.ask_stream``
(deltas, then the final answer with validated citations)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rag.answer import Answer
from rag.components import Components
from rag.llm import LLMUnavailable
from tests.fakes.fixtures import running_openai
from tests.fakes.openai_server import FakeOpenAI, split_tokens
from tests.rag.test_answer import OMNIHUMAN, engine_for

REPLY = "OmniHuman-1 animates a person from one image and audio [1]. See www.fake.example for more [9]."


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with running_openai(api_key="sk-test") as server:
        yield server


def test_stream_yields_tokens_as_the_model_writes_them(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply(REPLY, tokens_per_second=40)
    llm = engine_for(sample_library, fake_llm).llm
    assert llm is not None
    started = time.perf_counter()
    arrivals: list[tuple[float, str]] = []
    for delta in llm.stream([{"role": "user", "content": "hi"}]):
        arrivals.append((time.perf_counter() - started, delta))
    assert [d for _, d in arrivals] == list(split_tokens(REPLY))  # 15 tokens, in order
    assert arrivals[-1][0] - arrivals[0][0] >= (len(arrivals) - 1) / 40 * 0.8  # paced, not all at the end
    assert fake_llm.chat_requests()[-1].json["stream"] is True


def test_stream_retries_only_before_the_first_token(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_error(429, retry_after=0.1)
    fake_llm.script_reply(REPLY, chunks=4)
    llm = engine_for(sample_library, fake_llm, retries=1).llm
    assert llm is not None
    assert "".join(llm.stream([{"role": "user", "content": "hi"}])) == REPLY
    assert len(fake_llm.chat_requests()) == 2

    fake_llm.script_reply(REPLY, chunks=6, drop_after=3)  # cut after three pieces: shown, so no retry
    fake_llm.script_reply("never asked for", chunks=1)
    pieces: list[str] = []
    with pytest.raises(LLMUnavailable):
        for delta in llm.stream([{"role": "user", "content": "hi"}]):
            pieces.append(delta)
    assert len(pieces) == 3 and len(fake_llm.chat_requests()) == 3


def test_ask_stream_yields_deltas_then_the_validated_answer(sample_library: Components,
                                                            fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply(REPLY, tokens_per_second=200)
    events = list(engine_for(sample_library, fake_llm).ask_stream("What is OmniHuman-1?"))
    deltas, final = events[:-1], events[-1]
    assert all(isinstance(d, str) for d in deltas) and "".join(str(d) for d in deltas) == REPLY
    assert isinstance(final, Answer) and final.llm["used"]
    assert "www.fake.example" not in final.text and "[9]" not in final.text  # validated on the final text
    assert [c.arxiv_id for c in final.citations] == [OMNIHUMAN]


def test_ask_stream_of_an_extractive_answer_is_the_answer_alone(sample_library: Components) -> None:
    events = list(engine_for(sample_library, None).ask_stream("OmniHuman-1은 어떤 모델이야?"))
    assert len(events) == 1 and isinstance(events[0], Answer) and events[0].citations


def test_ask_runs_every_step_but_the_llm_call_in_its_slot(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    """``slot`` (the bot's engine threads) is held for routing, retrieval and the prompt, and free while the
    model writes; the answer, its citations and its timings are the same as without one."""
    fake_llm.script_reply(REPLY, tokens_per_second=200)
    engine = engine_for(sample_library, fake_llm)
    held: list[bool] = []
    entered: list[str] = []

    @contextmanager
    def slot() -> Iterator[None]:
        held.append(True)
        entered.append("slot")
        try:
            yield
        finally:
            held.pop()

    def on_token(delta: str) -> None:
        entered.append("token")
        assert not held, "the model wrote while the engine slot was held"

    answer = engine.ask("What is OmniHuman-1?", on_token=on_token, slot=slot)
    assert answer.llm["used"] and [c.arxiv_id for c in answer.citations] == [OMNIHUMAN]
    assert entered[:2] == ["slot", "slot"] and entered.count("token") == len(split_tokens(REPLY))
    assert "slot" not in entered[2:]  # nothing after the model's text needed the slot (no fallback)
    assert {"route", "synthesize", "total"} <= set(answer.timings_ms)

    fake_llm.script_error(500)  # the model fails (and its one retry): the extractive fallback is CPU work, in the slot
    fake_llm.script_error(500)
    entered.clear()
    fallback = engine.ask("What is OmniHuman-1?", slot=slot, use_llm=True)
    assert not fallback.llm["used"] and fallback.citations and entered == ["slot", "slot", "slot"]
