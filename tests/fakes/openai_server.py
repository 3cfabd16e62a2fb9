"""A scriptable, OpenAI-compatible fake HTTP server for tests.

Implements ``POST /v1/chat/completions`` (JSON and SSE streaming), ``GET /v1/models``
(and ``/v1/models/{id}``) and ``POST /v1/embeddings`` (float or base64 encoding).
The ``/v1`` prefix is optional. Point the real client at it with
``openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)``.

Behaviour is scripted per endpoint with a FIFO queue of :class:`Script` entries;
when the queue is empty the chat endpoint answers with ``responder(messages)`` (if
set) or ``default_reply``, and the embeddings endpoint answers normally.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._http import DropConnection, FakeServerBase, HTTPRequest, HTTPResponse

__all__ = ["Endpoint", "FakeOpenAI", "RecordedRequest", "Responder", "Script", "fake_embedding"]

Endpoint = Literal["chat", "embeddings"]
Responder = Callable[[list[dict[str, Any]]], str]

_ERROR_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to do this.", "invalid_request_error", None),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass(frozen=True)
class Script:
    """One scripted behaviour, consumed by exactly one request.

    ``kind``: ``"reply"`` (answer ``pieces``; streamed as one delta per piece),
    ``"error"`` (HTTP ``status`` with an OpenAI-style error body, optional
    ``retry-after`` header) or ``"drop"`` (close the connection, no response).
    ``delay`` is slept before anything is sent. ``chunk_delay`` is slept between
    stream chunks; ``drop_after`` cuts a stream after that many content chunks.
    """

    kind: Literal["reply", "error", "drop"] = "reply"
    pieces: tuple[str, ...] = ("",)
    delay: float = 0.0
    status: int = 200
    retry_after: float | None = None
    message: str | None = None
    finish_reason: str = "stop"
    chunk_delay: float = 0.0
    drop_after: int | None = None

    @property
    def text(self) -> str:
        """The full reply text."""
        return "".join(self.pieces)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received by the fake."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    time: float = field(default_factory=time.time)

    @property
    def authorization(self) -> str | None:
        """The raw ``Authorization`` header, e.g. ``"Bearer k"``."""
        return self.headers.get("authorization")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """``messages`` of a chat-completions request (empty list otherwise)."""
        if isinstance(self.json, dict) and isinstance(self.json.get("messages"), list):
            return list(self.json["messages"])
        return []


def split_text(text: str, chunks: int) -> tuple[str, ...]:
    """Split ``text`` into ``chunks`` contiguous, nearly equal pieces (some may be empty)."""
    n = max(1, chunks)
    size = len(text)
    return tuple(text[i * size // n : (i + 1) * size // n] for i in range(n))


def split_tokens(text: str) -> tuple[str, ...]:
    """``text`` as stream tokens the way a model sends them: each word with the space after it."""
    return tuple(re.findall(r"\s*\S+\s*?(?=\s|$)|\s+$", text)) or ("",)


def fake_embedding(text: str, dim: int) -> list[float]:
    """Deterministic, L2-normalised pseudo-embedding derived from SHA-256/SHAKE of ``text``."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(4 * dim)
    ints = struct.unpack(f"<{dim}I", raw)
    vec = [(v / 0xFFFFFFFF) * 2.0 - 1.0 for v in ints]
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


def _count_tokens(text: str) -> int:
    return len(text.split())


class FakeOpenAI(FakeServerBase):
    """Scriptable OpenAI-compatible server.

    Args:
        api_key: if set, requests whose ``Authorization`` is not ``Bearer <api_key>``
            get 401 (``openai.AuthenticationError``). ``None`` accepts anything.
        default_reply: chat reply used when no script is queued and no responder set.
        responder: ``responder(messages) -> str`` used when no script is queued.
        default_chunks: how many stream chunks the default reply is split into.
        tokens_per_second: when set, the default reply streams one token (a word, see ``split_tokens``)
            at a time at this rate, like a model writing (``default_chunks`` is then ignored).
        embedding_dim: vector size for embeddings (request ``dimensions`` overrides).
        models: ids listed by ``GET /v1/models``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default_reply: str = "OK",
        responder: Responder | None = None,
        default_chunks: int = 1,
        tokens_per_second: float | None = None,
        embedding_dim: int = 64,
        models: Sequence[str] = ("fake-model", "fake-embedding"),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.api_key = api_key
        self.default_reply = default_reply
        self.responder: Responder | None = responder
        self.default_chunks = default_chunks
        self.tokens_per_second = tokens_per_second
        self.embedding_dim = embedding_dim
        self.models = list(models)
        self._lock = threading.Condition()
        self._scripts: dict[str, deque[Script]] = {"chat": deque(), "embeddings": deque()}
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)

    # -- test-side API -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``url + "/v1"``: what to pass as ``openai.OpenAI(base_url=...)``."""
        return self.url + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far (all endpoints, in order)."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """Requests to the chat-completions endpoint."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def embedding_requests(self) -> list[RecordedRequest]:
        """Requests to the embeddings endpoint."""
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def last_messages(self) -> list[dict[str, Any]]:
        """``messages`` of the most recent chat request (AssertionError if none)."""
        chats = self.chat_requests()
        assert chats, "no chat completion request received"
        return chats[-1].messages

    def script(self, *entries: Script, endpoint: Endpoint = "chat") -> None:
        """Append raw :class:`Script` entries to an endpoint's queue."""
        with self._lock:
            self._scripts[endpoint].extend(entries)

    def script_reply(
        self,
        text: str,
        chunks: int | Sequence[str] = 1,
        *,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        finish_reason: str = "stop",
        drop_after: int | None = None,
        tokens_per_second: float | None = None,
    ) -> None:
        """Queue a chat reply; ``chunks`` is a count or explicit pieces (joined → text).
        ``tokens_per_second``: stream it word by word at that rate instead (``chunks`` is ignored)."""
        pieces = split_text(text, chunks) if isinstance(chunks, int) else tuple(chunks)
        if tokens_per_second:
            pieces, chunk_delay = split_tokens(text), 1.0 / tokens_per_second
        self.script(
            Script(
                kind="reply",
                pieces=pieces,
                delay=delay,
                chunk_delay=chunk_delay,
                finish_reason=finish_reason,
                drop_after=drop_after,
            )
        )

    def script_error(
        self,
        status: int,
        retry_after: float | None = None,
        *,
        message: str | None = None,
        delay: float = 0.0,
        endpoint: Endpoint = "chat",
    ) -> None:
        """Queue an HTTP error (e.g. 429 with ``retry-after``, 500, 503)."""
        self.script(
            Script(kind="error", status=status, retry_after=retry_after, message=message,
                   delay=delay),
            endpoint=endpoint,
        )

    def script_delay(self, seconds: float, text: str = "OK", *, chunks: int = 1) -> None:
        """Queue a chat reply that is only sent after ``seconds`` (to force client timeouts)."""
        self.script_reply(text, chunks, delay=seconds)

    def script_drop(self, *, delay: float = 0.0, endpoint: Endpoint = "chat") -> None:
        """Queue a connection drop (client sees a connection error)."""
        self.script(Script(kind="drop", delay=delay), endpoint=endpoint)

    def pending_scripts(self, endpoint: Endpoint = "chat") -> int:
        """How many scripted entries are still queued for ``endpoint``."""
        with self._lock:
            return len(self._scripts[endpoint])

    def reset(self) -> None:
        """Clear scripts and recorded requests (configuration is kept)."""
        with self._lock:
            for queue in self._scripts.values():
                queue.clear()
            self._requests.clear()

    def embed(self, text: str, dim: int | None = None) -> list[float]:
        """The vector this server returns for ``text`` (for expected values in tests)."""
        return fake_embedding(text, dim or self.embedding_dim)

    def wait_for_requests(
        self, count: int, timeout: float = 5.0, *, path_suffix: str = ""
    ) -> list[RecordedRequest]:
        """Block until ``count`` requests (whose path ends with ``path_suffix``) arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._requests if r.path.endswith(path_suffix)]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} requests, got {len(got)}")
                self._lock.wait(remaining)

    # -- HTTP side -----------------------------------------------------------------------------

    def _wake_waiters(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def handle_request(self, request: HTTPRequest) -> HTTPResponse:
        """Route one request."""
        path = request.path.rstrip("/")
        route = path[3:] if path.startswith("/v1/") else path
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            json=request.json(),
            body=request.body,
        )
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()

        if self.api_key is not None and record.authorization != f"Bearer {self.api_key}":
            return self._error(401)

        if route == "/chat/completions" and request.method == "POST":
            return self._chat(record)
        if route == "/embeddings" and request.method == "POST":
            return self._embeddings(record)
        if route == "/models" and request.method == "GET":
            return HTTPResponse.json_body(
                {"object": "list", "data": [self._model(m) for m in self.models]}
            )
        if route.startswith("/models/") and request.method == "GET":
            model_id = route[len("/models/") :]
            if model_id in self.models:
                return HTTPResponse.json_body(self._model(model_id))
            return self._error(404, f"The model '{model_id}' does not exist")
        return self._error(404, f"Unknown path {request.method} {request.path}")

    @staticmethod
    def _model(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "fake"}

    def _error(
        self, status: int, message: str | None = None, retry_after: float | None = None
    ) -> HTTPResponse:
        default_msg, err_type, code = _ERROR_DEFAULTS.get(
            status, ("Fake error.", "server_error" if status >= 500 else "invalid_request_error",
                     None)
        )
        headers: dict[str, str] = {}
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            headers["retry-after"] = str(value)
        body = {
            "error": {
                "message": message or default_msg,
                "type": err_type,
                "param": None,
                "code": code,
            }
        }
        return HTTPResponse.json_body(body, status=status, headers=headers)

    def _next_script(self, endpoint: Endpoint) -> Script | None:
        with self._lock:
            queue = self._scripts[endpoint]
            return queue.popleft() if queue else None

    def _apply_prelude(self, script: Script | None) -> HTTPResponse | None:
        """Handle delay / error / drop; ``None`` means 'go on and answer normally'."""
        if script is None:
            return None
        if self.sleep(script.delay):
            raise DropConnection
        if script.kind == "drop":
            raise DropConnection
        if script.kind == "error":
            return self._error(script.status, script.message, script.retry_after)
        return None

    def _chat(self, record: RecordedRequest) -> HTTPResponse:
        body = record.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(400, "'messages' is a required property")
        if not body.get("model"):
            return self._error(400, "'model' is a required property")
        script = self._next_script("chat")
        early = self._apply_prelude(script)
        if early is not None:
            return early
        if script is not None:
            pieces, finish = script.pieces, script.finish_reason
        else:
            text = (
                self.responder(list(body["messages"]))
                if self.responder is not None
                else self.default_reply
            )
            pieces, finish = split_text(text, self.default_chunks), "stop"
            if self.tokens_per_second:
                pieces = split_tokens(text)
        model = str(body["model"])
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        created = int(time.time())
        prompt_tokens = sum(
            _count_tokens(m["content"])
            for m in body["messages"]
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        )
        text = "".join(pieces)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _count_tokens(text),
            "total_tokens": prompt_tokens + _count_tokens(text),
        }
        if not body.get("stream"):
            return HTTPResponse.json_body(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": finish,
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
            )
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )
        events = self._stream_events(
            completion_id=completion_id,
            created=created,
            model=model,
            pieces=pieces,
            finish_reason=finish,
            usage=usage if include_usage else None,
            chunk_delay=script.chunk_delay if script else (
                1.0 / self.tokens_per_second if self.tokens_per_second else 0.0),
            drop_after=script.drop_after if script else None,
        )
        return HTTPResponse(
            status=200,
            headers={"Content-Type": "text/event-stream; charset=utf-8",
                     "Cache-Control": "no-cache"},
            stream=events,
        )

    def _stream_events(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        pieces: tuple[str, ...],
        finish_reason: str,
        usage: dict[str, int] | None,
        chunk_delay: float,
        drop_after: int | None,
    ) -> Iterator[bytes]:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"

        for index, piece in enumerate(pieces):
            if drop_after is not None and index >= drop_after:
                raise DropConnection
            if index and self.sleep(chunk_delay):
                raise DropConnection
            delta: dict[str, Any] = {"content": piece}
            if index == 0:
                delta["role"] = "assistant"
            yield chunk([{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}])
        if drop_after is not None:  # all pieces sent; cut before the finish chunk
            raise DropConnection
        yield chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}])
        if usage is not None:
            yield chunk([], usage=usage)
        yield b"data: [DONE]\n\n"

    def _embeddings(self, record: RecordedRequest) -> HTTPResponse:
        body = record.json
        if not isinstance(body, dict) or "input" not in body:
            return self._error(400, "'input' is a required property")
        early = self._apply_prelude(self._next_script("embeddings"))
        if early is not None:
            return early
        raw_input = body["input"]
        inputs: list[str]
        if isinstance(raw_input, str):
            inputs = [raw_input]
        elif isinstance(raw_input, list) and all(isinstance(x, int) for x in raw_input):
            inputs = [json.dumps(raw_input)]
        elif isinstance(raw_input, list):
            inputs = [x if isinstance(x, str) else json.dumps(x) for x in raw_input]
        else:
            return self._error(400, "'input' must be a string or an array")
        if not inputs:
            return self._error(400, "'input' must not be empty")
        dim = body.get("dimensions") or self.embedding_dim
        if not isinstance(dim, int) or dim <= 0:
            return self._error(400, "'dimensions' must be a positive integer")
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, text in enumerate(inputs):
            vec = fake_embedding(text, dim)
            embedding: Any = (
                base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode("ascii")
                if as_base64
                else vec
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(_count_tokens(t) for t in inputs)
        return HTTPResponse.json_body(
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
