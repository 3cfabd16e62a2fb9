"""A python-telegram-bot request object that hands every call to another one.

The base for request objects that watch or adjust Bot API calls (health monitoring, resilient
``getUpdates``): subclasses override :meth:`do_request`, call ``super().do_request(...)`` and act on the
answer. PTB types ``do_request``'s timeouts with ``telegram._utils`` names (``ODVInput``,
``DEFAULT_NONE``), which have no public alias in v22, so overriding it means naming them.
"""

from __future__ import annotations

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData


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
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return await self.inner.do_request(
            url=url, method=method, request_data=request_data, read_timeout=read_timeout,
            write_timeout=write_timeout, connect_timeout=connect_timeout, pool_timeout=pool_timeout,
        )
