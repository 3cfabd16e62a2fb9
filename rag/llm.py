"""The answer LLM: any OpenAI-compatible chat endpoint through LlamaIndex's ``OpenAILike``.

Retries are ours (bounded, with backoff, honouring Retry-After) so that the caller always gets either
text or an ``LLMUnavailable`` with a short reason: never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # imported where used: with no LLM configured, a question never pays for them (~1 s)
    import openai

from config.settings import LLMSettings
from loaders.source import retry_after_seconds

log = logging.getLogger(__name__)
OnToken = Callable[[str], None]


class LLMUnavailable(Exception):
    """The LLM could not answer; ``reason`` is short and safe to show users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatLLM:
    def __init__(self, llm: Any, *, model: str, max_retries: int, backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.llm = llm
        self.model = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> ChatLLM:
        from llama_index.llms.openai_like import OpenAILike

        key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        llm = OpenAILike(
            model=settings.model,
            api_base=settings.base_url or "https://api.openai.com/v1",
            api_key=key,
            is_chat_model=True,
            context_window=32_000,
            timeout=settings.timeout_s,
            max_retries=0,  # retries are ours, see complete()
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )
        return cls(llm, model=settings.model, max_retries=settings.max_retries)

    def complete(self, messages: list[dict[str, str]], on_token: OnToken | None = None) -> str:
        """The whole answer; ``on_token`` (optional) sees each piece as it streams in (see :meth:`stream`)."""
        if on_token is None:
            chat = _chat_messages(messages)
            return next(self._retrying(lambda: iter([str(self.llm.chat(chat).message.content or "")])))
        parts: list[str] = []
        for delta in self.stream(messages):
            parts.append(delta)
            on_token(delta)
        return "".join(parts)

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Text deltas as the model writes them (``chat.completions`` with ``stream=True``, through
        LlamaIndex's ``stream_chat``). Timeouts, 429 and 5xx are retried only before the first delta;
        a failure after it raises :class:`LLMUnavailable`, since part of the answer has been shown."""
        chat = _chat_messages(messages)
        return self._retrying(lambda: (chunk.delta for chunk in self.llm.stream_chat(chat) if chunk.delta))

    def _retrying(self, start: Callable[[], Iterator[str]]) -> Iterator[str]:
        attempt = 0
        while True:
            streamed = False
            try:
                for piece in start():
                    streamed = True
                    yield piece
                return
            except Exception as exc:  # classified below; anything unknown is also a fallback, not a crash
                reason, retryable, wait = _classify(exc)
                if streamed or not retryable or attempt >= self.max_retries:
                    log.warning("LLM unavailable after %d attempt(s): %s", attempt + 1, reason)
                    raise LLMUnavailable(reason) from exc
                attempt += 1
                delay = wait if wait is not None else self.backoff_s * 2 ** (attempt - 1)
                log.info("LLM %s; retry %d/%d in %.1fs", reason, attempt, self.max_retries, delay)
                self._sleep(min(delay, 30.0))


def _chat_messages(messages: list[dict[str, str]]) -> list[Any]:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in messages]


def _classify(exc: Exception) -> tuple[str, bool, float | None]:
    """(reason for users, retryable?, server-requested wait)."""
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return "the LLM timed out", True, None
    if isinstance(exc, openai.RateLimitError):
        return "the LLM is rate-limited (429)", True, _retry_after(exc)
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return f"the LLM server failed ({exc.status_code})", True, _retry_after(exc)  # a 503 may say when
        if exc.status_code in (401, 403):
            return f"the LLM refused the API key ({exc.status_code})", False, None
        return f"the LLM rejected the request ({exc.status_code})", False, None
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return "the LLM endpoint is unreachable", True, None
    return f"the LLM failed ({type(exc).__name__})", False, None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    return retry_after_seconds(exc.response.headers.get("retry-after") if exc.response is not None else None)
