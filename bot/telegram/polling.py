"""Long polling that never goes deaf.

python-telegram-bot maps a 401 or 404 answer from the Bot API to ``InvalidToken``
(``telegram/request/_baserequest.py``), and its polling loop stops for good on ``InvalidToken``
("Invalid token. Aborting retry loop", ``telegram/ext/_utils/networkloop.py``, v22.8:
https://github.com/python-telegram-bot/python-telegram-bot/blob/v22.8/telegram/ext/_utils/networkloop.py).
The process stays alive but never receives another update. At start the token has already been checked
(``getMe`` in ``Application.initialize``: a wrong token still exits with code 2), so a 401 or 404 to
``getUpdates`` later on is a fault of the path to Telegram (a self-hosted Bot API server restarting, a
proxy or load balancer hiccup) and is retried like any other network error.

:class:`ResilientUpdatesRequest` does that with PTB's public extension point for HTTP
(``telegram.request.BaseRequest`` passed as ``ApplicationBuilder.get_updates_request``): it turns those
answers into ``NetworkError``, which PTB's polling loop retries with its backoff (1 s, growing by half
each time up to 30 s). ``run_polling`` hands each failure to the Application's error handler
(``update=None``), which logs one line per failure with :func:`log_polling_error`. ``/healthz`` turns
``unhealthy`` once no ``getUpdates`` has succeeded for ``health_updates_max_age_s`` (see ``bot.ops.health``),
so a bot that stays deaf is restarted by the container's HEALTHCHECK.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from telegram.error import NetworkError, TelegramError
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.ops.logs import redact_text
from bot.telegram.request import DEFAULT_NONE, DelegatingRequest, Timeout

log = logging.getLogger("papersbot.telegram")

# Answers PTB would turn into InvalidToken, which ends polling for good.
REFUSALS = (HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND)
# PTB's retry loop waits 1 s after the first failure, then 1.5 times longer each time, at most this long.
MAX_BACKOFF_S = 30


class UpdatesRefused(NetworkError):
    """The Bot API answered ``getUpdates`` with 401 or 404; retried like a network error."""


class ResilientUpdatesRequest(DelegatingRequest):
    """The request object for ``getUpdates`` only (``ApplicationBuilder.get_updates_request``): delegates
    to ``inner`` and turns a 401/404 answer into :class:`UpdatesRefused`."""

    def __init__(self, inner: BaseRequest | None = None) -> None:
        # PTB's own default for getUpdates: one pooled connection (ApplicationBuilder._build_request).
        super().__init__(inner or HTTPXRequest(connection_pool_size=1))

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
        code, payload = await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                                 connect_timeout, pool_timeout)
        if code in REFUSALS:
            raise UpdatesRefused(f"getUpdates answered HTTP {code} ({_description(payload, code)})")
        return code, payload


def _description(payload: bytes, code: int) -> str:
    try:
        return str(json.loads(payload)["description"])
    except (ValueError, KeyError, TypeError):
        return HTTPStatus(code).phrase


def log_polling_error(error: TelegramError, token: str | None = None) -> None:
    """One warning per failed ``getUpdates``, saying that polling goes on."""
    log.warning("receiving updates failed: %s; polling retries with backoff (up to %d s)",
                redact_text(str(error), [token] if token else ()), MAX_BACKOFF_S)


__all__ = ["REFUSALS", "ResilientUpdatesRequest", "UpdatesRefused", "log_polling_error"]
