"""MonitoredRequest: how each Bot API answer counts for reachability, reported to the ops-level monitor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from telegram.request import BaseRequest, RequestData

from bot.ops.health import TelegramMonitor
from bot.telegram.request import DEFAULT_NONE, DelegatingRequest, MonitoredRequest, describe_answer

URL = "https://api.telegram.org/bot123:abc/"


class Scripted(BaseRequest):
    """Answers each call with the next scripted (code, payload), or raises it when it is an exception."""

    def __init__(self, *answers: tuple[int, bytes] | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    @property
    def read_timeout(self) -> float | None:
        return 7.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = DEFAULT_NONE, write_timeout: Any = DEFAULT_NONE,
                         connect_timeout: Any = DEFAULT_NONE, pool_timeout: Any = DEFAULT_NONE) -> tuple[int, bytes]:
        self.calls.append({"url": url, "read_timeout": read_timeout, "connect_timeout": connect_timeout})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def error(code: int, description: str) -> tuple[int, bytes]:
    return code, json.dumps({"ok": False, "error_code": code, "description": description}).encode()


def call(request: BaseRequest, method: str, **timeouts: Any) -> tuple[int, bytes]:
    return asyncio.run(request.do_request(URL + method, "POST", **timeouts))


def test_answers_below_500_are_reachable_except_refusals() -> None:
    monitor = TelegramMonitor()
    inner = Scripted((200, b'{"ok":true}'), error(400, "Bad Request: chat not found"),
                     error(429, "Too Many Requests: retry after 3"), error(401, "Unauthorized"),
                     error(404, "Not Found"), error(502, "Bad Gateway"), (200, b'{"ok":true}'))
    request = MonitoredRequest(inner, monitor)
    seen = []
    for _ in range(7):
        call(request, "sendMessage")
        seen.append((monitor.up, monitor.requests, monitor.failures))
    assert seen == [(True, 1, 0), (True, 2, 0), (True, 3, 0), (False, 4, 1), (False, 5, 2), (False, 6, 3),
                    (True, 7, 3)]
    assert monitor.last_error == "HTTP 502 (Bad Gateway)" and monitor.failing_since is None


def test_exceptions_are_failures_and_propagate() -> None:
    monitor = TelegramMonitor()
    request = MonitoredRequest(Scripted(ConnectionRefusedError("refused")), monitor)
    with pytest.raises(ConnectionRefusedError):
        call(request, "getMe")
    assert (monitor.up, monitor.requests, monitor.failures) == (False, 1, 1)
    assert monitor.last_error == "ConnectionRefusedError: refused"


def test_get_updates_counts_only_200_as_received() -> None:
    monitor = TelegramMonitor()
    inner = Scripted((200, b'{"ok":true,"result":[]}'), error(409, "Conflict: terminated by other getUpdates"),
                     TimeoutError("read timed out"), asyncio.CancelledError())
    request = MonitoredRequest(inner, monitor)
    call(request, "getUpdates")
    assert (monitor.updates_requests, monitor.updates_failures, monitor.updates_in_flight) == (1, 0, 0)
    assert monitor.updates_ok is not None and monitor.updates_failing_since is None
    call(request, "getUpdates")  # Telegram answered (reachable), but nothing was received
    assert monitor.up and monitor.updates_failures == 1
    assert monitor.updates_error == "HTTP 409 (Conflict: terminated by other getUpdates)"
    with pytest.raises(TimeoutError):
        call(request, "getUpdates")
    assert monitor.updates_failures == 2 and not monitor.up
    with pytest.raises(asyncio.CancelledError):  # stopping cuts a long poll short: neither success nor failure
        call(request, "getUpdates")
    assert (monitor.updates_requests, monitor.updates_failures, monitor.updates_in_flight) == (3, 2, 0)


def test_delegation_passes_timeouts_through_untouched() -> None:
    inner = Scripted((200, b"{}"), (200, b"{}"))
    request = DelegatingRequest(inner)
    assert request.read_timeout == 7.0
    call(request, "getMe")
    call(request, "getMe", read_timeout=None, connect_timeout=3.5)
    assert inner.calls[0]["read_timeout"] is BaseRequest.DEFAULT_NONE  # "not passed" stays "not passed"
    assert (inner.calls[1]["read_timeout"], inner.calls[1]["connect_timeout"]) == (None, 3.5)


def test_describe_answer() -> None:
    assert describe_answer(*error(404, "Not Found")) == "HTTP 404 (Not Found)"
    assert describe_answer(502, b"<html>bad gateway</html>") == "HTTP 502"
    assert describe_answer(400, json.dumps({"description": "x" * 500}).encode()) == f"HTTP 400 ({'x' * 200})"
