"""The one place the Bot API client (PTB's ``ExtBot``) is configured: the bot's Application and
``papersbot push`` (a standalone pass for cron) both build it here, so they talk to the same server with
the same rate limiter and connection pools.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.replies import BotRateLimiter
from config.settings import TelegramSettings


def file_url(settings: TelegramSettings) -> str:
    """The Bot API file URL: configured, or derived from the base URL (``.../bot`` → ``.../file/bot``)."""
    if settings.base_file_url:
        return settings.base_file_url
    base = settings.base_url.rstrip("/")
    return (base[: -len("/bot")] if base.endswith("/bot") else base) + "/file/bot"


def build_bot(
    settings: TelegramSettings,
    token: str,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> ExtBot[Any]:
    """An ``ExtBot`` for ``settings``' Bot API server, rate-limited (:class:`BotRateLimiter` unless given).

    The request objects default to what ``ApplicationBuilder`` would build: HTTPXRequest with 256 pooled
    connections for Bot API calls and one for ``getUpdates`` (``ApplicationBuilder._build_request``,
    https://github.com/python-telegram-bot/python-telegram-bot/blob/v22.8/telegram/ext/_applicationbuilder.py).
    """
    return ExtBot(
        token,
        base_url=settings.base_url,
        base_file_url=file_url(settings),
        request=request or HTTPXRequest(connection_pool_size=256),
        get_updates_request=get_updates_request or HTTPXRequest(connection_pool_size=1),
        rate_limiter=rate_limiter or BotRateLimiter(max_retries=settings.max_retries),
    )
