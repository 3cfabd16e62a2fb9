"""``ChatLLM`` alone, against the fake OpenAI endpoint: what is sent, which failures are retried and how
long it waits (the sleep is recorded, not slept), and the short reason every failure ends in."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from config.settings import LLMSettings
from rag.llm import ChatLLM, LLMUnavailable
from tests.fakes.fixtures import running_openai
from tests.fakes.openai_server import FakeOpenAI

HI = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with running_openai(api_key="sk-test") as srv:
        yield srv


def chat_llm(base_url: str, *, retries: int = 2, timeout: float = 5.0, key: str = "sk-test",
             sleeps: list[float] | None = None) -> ChatLLM:
    """The LLM as configured from settings, with its sleep recorded instead of slept."""
    settings = LLMSettings(base_url=base_url, api_key=SecretStr(key), model="fake-model", timeout_s=timeout,
                           max_retries=retries, temperature=0.3, max_tokens=123)
    built = ChatLLM.from_settings(settings)
    assert built.max_retries == retries and built.model == "fake-model"
    record = sleeps if sleeps is not None else []
    return ChatLLM(built.llm, model=built.model, max_retries=built.max_retries, backoff_s=0.5, sleep=record.append)


def failure(llm: ChatLLM, messages: list[dict[str, str]] = HI) -> str:
    with pytest.raises(LLMUnavailable) as caught:
        llm.complete(messages)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def test_complete_sends_the_messages_and_settings_and_returns_the_text(server: FakeOpenAI) -> None:
    server.script_reply("hello there")
    assert chat_llm(server.base_url).complete(HI) == "hello there"
    (request,) = server.chat_requests()
    assert request.authorization == "Bearer sk-test"
    assert request.messages == HI
    body: dict[str, Any] = request.json
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("fake-model", 0.3, 123)
    assert not body.get("stream")


def test_on_token_streams_the_pieces_and_returns_them_joined(server: FakeOpenAI) -> None:
    server.script_reply("one two three", chunks=["one ", "two ", "three"])
    pieces: list[str] = []
    assert chat_llm(server.base_url).complete(HI, on_token=pieces.append) == "one two three"
    assert pieces == ["one ", "two ", "three"]
    assert server.chat_requests()[-1].json["stream"] is True


def test_429_waits_as_long_as_retry_after_asks_capped_at_30s(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_error(429, retry_after=7)
    server.script_error(429, retry_after=600)
    server.script_reply("finally")
    assert chat_llm(server.base_url, retries=2, sleeps=sleeps).complete(HI) == "finally"
    assert sleeps == [7.0, 30.0] and len(server.chat_requests()) == 3


def test_a_503_with_retry_after_waits_as_asked(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_error(503, retry_after=4)
    server.script_reply("back")
    assert chat_llm(server.base_url, retries=1, sleeps=sleeps).complete(HI) == "back"
    assert sleeps == [4.0]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_back_off_exponentially_then_give_up(server: FakeOpenAI, status: int) -> None:
    sleeps: list[float] = []
    for _ in range(4):
        server.script_error(status)
    assert failure(chat_llm(server.base_url, retries=3, sleeps=sleeps)) == f"the LLM server failed ({status})"
    assert sleeps == [0.5, 1.0, 2.0] and len(server.chat_requests()) == 4  # 1 try + 3 retries, no more


def test_a_429_without_retry_after_backs_off_and_is_reported(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_error(429)
    server.script_error(429)
    assert failure(chat_llm(server.base_url, retries=1, sleeps=sleeps)) == "the LLM is rate-limited (429)"
    assert sleeps == [0.5] and len(server.chat_requests()) == 2


@pytest.mark.parametrize(("status", "reason"), [
    (400, "the LLM rejected the request (400)"),
    (403, "the LLM refused the API key (403)"),
    (404, "the LLM rejected the request (404)"),
])
def test_client_errors_are_not_retried(server: FakeOpenAI, status: int, reason: str) -> None:
    sleeps: list[float] = []
    server.script_error(status)
    assert failure(chat_llm(server.base_url, sleeps=sleeps)) == reason
    assert sleeps == [] and len(server.chat_requests()) == 1


def test_a_wrong_key_is_refused_at_once(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    assert failure(chat_llm(server.base_url, key="sk-wrong", sleeps=sleeps)) == "the LLM refused the API key (401)"
    assert sleeps == [] and len(server.chat_requests()) == 1


def test_a_timeout_is_retried_then_reported(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_delay(3.0, "too late")
    server.script_delay(3.0, "too late")
    assert failure(chat_llm(server.base_url, retries=1, timeout=0.3, sleeps=sleeps)) == "the LLM timed out"
    assert sleeps == [0.5] and len(server.chat_requests()) == 2


def test_a_dropped_connection_is_retried(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_drop()
    server.script_reply("second time lucky")
    assert chat_llm(server.base_url, retries=1, sleeps=sleeps).complete(HI) == "second time lucky"
    assert sleeps == [0.5]


def test_nobody_listening_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    assert failure(chat_llm(f"http://127.0.0.1:{port}/v1", retries=1, sleeps=sleeps)) == (
        "the LLM endpoint is unreachable")
    assert sleeps == [0.5]


def test_a_stream_cut_after_text_was_shown_is_not_retried(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_reply("a b c d e f", chunks=["a ", "b ", "c ", "d ", "e ", "f"], drop_after=2)
    server.script_reply("never asked for")
    llm = chat_llm(server.base_url, retries=2, sleeps=sleeps)
    pieces: list[str] = []
    with pytest.raises(LLMUnavailable):
        llm.complete(HI, on_token=pieces.append)
    assert pieces == ["a ", "b "] and sleeps == [] and len(server.chat_requests()) == 1


def test_a_stream_failing_before_its_first_piece_is_retried(server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    server.script_error(503)
    server.script_reply("a b", chunks=["a ", "b"])
    assert list(chat_llm(server.base_url, retries=1, sleeps=sleeps).stream(HI)) == ["a ", "b"]
    assert sleeps == [0.5] and len(server.chat_requests()) == 2


class _Broken:
    """An LLM that fails in a way no rule knows."""

    def __init__(self) -> None:
        self.calls = 0

    def chat(self, messages: list[Any]) -> Any:
        self.calls += 1
        raise ValueError("unexpected")


def test_an_unknown_failure_is_reported_not_raised_and_not_retried() -> None:
    broken, sleeps = _Broken(), list[float]()
    llm = ChatLLM(broken, model="m", max_retries=3, sleep=sleeps.append)
    assert failure(llm) == "the LLM failed (ValueError)"
    assert broken.calls == 1 and sleeps == []
