"""python-telegram-bot request objects that hand every call to another one.

:class:`DelegatingRequest` is the base for request objects that watch or adjust Bot API calls: subclasses
override :meth:`do_request`, call ``super().do_request(...)`` and act on the answer.
:class:`MonitoredRequest` reports every round trip to an ops-level monitor (``bot.ops.health.TelegramMonitor``,
which knows nothing of python-telegram-bot); ``bot.telegram.polling.ResilientUpdatesRequest`` keeps long
polling alive.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Protocol, TypeAlias

from telegram.request import BaseRequest, HTTPXRequest, RequestData

# BaseRequest.do_request types its timeouts ODVInput[float] (a float, None, or the "not passed" marker
# BaseRequest.DEFAULT_NONE). Only the marker is public API (a BaseRequest class attribute); its type and
# ODVInput live in telegram._utils, which PTB does not promise to keep, so the timeouts are typed Any here.
# https://github.com/python-telegram-bot/python-telegram-bot/blob/v22.8/telegram/request/_baserequest.py
Timeout: TypeAlias = Any
DEFAULT_NONE = BaseRequest.DEFAULT_NONE


class DelegatingRequest(BaseRequest):
    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = DEFAULT_NONE,
        write_timeout: Timeout = DEFAULT_NONE,
        connect_timeout: Timeout = DEFAULT_NONE,
        pool_timeout: Timeout = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return await self.inner.do_request(
            url=url, method=method, request_data=request_data, read_timeout=read_timeout,
            write_timeout=write_timeout, connect_timeout=connect_timeout, pool_timeout=pool_timeout,
        )


class RoundTripMonitor(Protocol):
    """What :class:`MonitoredRequest` reports to (``bot.ops.health.TelegramMonitor`` is one)."""

    def succeeded(self) -> None: ...
    def failed(self, error: str) -> None: ...
    def updates_started(self) -> None: ...
    def updates_finished(self, error: str | None) -> None: ...
    def updates_cancelled(self) -> None: ...


class MonitoredRequest(DelegatingRequest):
    """A request object that delegates to another one and reports each round trip to ``monitor``.

    Any HTTP answer below 500 counts as reachable (a 400 or 429 is Telegram answering) except 401 and 404
    (the token or the URL is refused: nothing works); exceptions (refused connections, timeouts) and 5xx
    count as failures. ``getUpdates`` calls are also reported on their own: only HTTP 200 is a success."""

    def __init__(self, inner: BaseRequest, monitor: RoundTripMonitor) -> None:
        super().__init__(inner)
        self.monitor = monitor

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = DEFAULT_NONE,
        write_timeout: Timeout = DEFAULT_NONE,
        connect_timeout: Timeout = DEFAULT_NONE,
        pool_timeout: Timeout = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        updates = url.rstrip("/").rsplit("/", 1)[-1] == "getUpdates"
        if updates:
            self.monitor.updates_started()
        try:
            code, payload = await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                                     connect_timeout, pool_timeout)
        except asyncio.CancelledError:  # a long poll cut short by stopping: neither success nor failure
            if updates:
                self.monitor.updates_cancelled()
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if updates:
                self.monitor.updates_finished(error)
            self.monitor.failed(error)
            raise
        if updates:
            self.monitor.updates_finished(None if code == HTTPStatus.OK else describe_answer(code, payload))
        if code >= 500 or code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND):
            self.monitor.failed(describe_answer(code, payload))
        else:
            self.monitor.succeeded()
        return code, payload


def describe_answer(code: int, payload: bytes) -> str:
    """``HTTP 404 (Not Found)``: the status and the Bot API's description of an error answer."""
    try:
        description = str(json.loads(payload)["description"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {code}"
    return f"HTTP {code} ({description[:200]})"


def monitored_requests(monitor: RoundTripMonitor) -> tuple[MonitoredRequest, MonitoredRequest]:
    """``(request, get_updates_request)`` for ``build_application``: PTB's own defaults (HTTPXRequest with 256
    pooled connections, and 1 for getUpdates), each reporting to ``monitor``."""
    return (MonitoredRequest(HTTPXRequest(connection_pool_size=256), monitor),
            MonitoredRequest(HTTPXRequest(connection_pool_size=1), monitor))
