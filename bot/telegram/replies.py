"""Sending replies: split HTML parts, a plain-text fallback when Telegram refuses the HTML, and a "typing"
indicator kept alive while an answer is being prepared."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.telegram.render import MAX_MESSAGE, Part, Span, render_parts, split, to_plain

log = logging.getLogger("papersbot.telegram")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
TYPING_EVERY_S = 4.5  # Telegram shows a chat action for about 5 seconds


async def reply(message: Message, spans: Sequence[Span], *, quote: bool | None = None,
                reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    """Send ``spans`` to the message's chat, split as needed. In groups the first part replies to
    ``message`` so people can tell which question it answers. ``reply_markup`` goes on the last part."""
    chat = message.chat
    if quote is None:
        quote = chat.type != chat.PRIVATE
    return await send_parts(message.get_bot(), chat.id, render_parts(spans),
                            reply_to=message.message_id if quote else None,
                            thread_id=message.message_thread_id if message.is_topic_message else None,
                            reply_markup=reply_markup)


async def send_parts(bot: Bot, chat_id: int, parts: Sequence[Part], *, reply_to: int | None = None,
                     thread_id: int | None = None, reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    sent: list[Message] = []
    for index, part in enumerate(parts):
        reply_parameters = (ReplyParameters(reply_to, allow_sending_without_reply=True)
                            if reply_to is not None and index == 0 else None)
        sent += await send_part(bot, chat_id, part, reply_parameters=reply_parameters, thread_id=thread_id,
                                reply_markup=reply_markup if index == len(parts) - 1 else None)
    return sent


async def send_part(bot: Bot, chat_id: int, part: Part, *, reply_parameters: ReplyParameters | None = None,
                    thread_id: int | None = None, reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    """One part as HTML; if Telegram rejects the markup (a bad entity), the same content as plain text."""
    try:
        return [await bot.send_message(chat_id, part.html, parse_mode=ParseMode.HTML,
                                       link_preview_options=NO_PREVIEW, reply_parameters=reply_parameters,
                                       message_thread_id=thread_id, reply_markup=reply_markup)]
    except BadRequest as exc:
        reason = str(exc).lower()
        if "entit" not in reason and "too long" not in reason:
            raise
        log.warning("Telegram refused an HTML reply to chat %s (%s); sending plain text", chat_id, exc)
    # Plain text has no markup to refuse; it is split again, finer if the refusal was about length.
    limit = MAX_MESSAGE // 2 if "too long" in reason else MAX_MESSAGE
    sent = []
    chunks = split([Span(part.fallback or part.text)], limit)
    for index, chunk in enumerate(chunks):
        sent.append(await bot.send_message(chat_id, to_plain(chunk), link_preview_options=NO_PREVIEW,
                                           reply_parameters=reply_parameters if index == 0 else None,
                                           reply_markup=reply_markup if index == len(chunks) - 1 else None,
                                           message_thread_id=thread_id))
    return sent


@contextlib.asynccontextmanager
async def chat_action(bot: Bot, chat_id: int, action: str = ChatAction.TYPING,
                      every: float = TYPING_EVERY_S) -> AsyncIterator[None]:
    """Show ``action`` in the chat until the block ends. Failures only cost the indicator."""

    async def keep_alive() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, action)
            except Forbidden:
                return
            except TelegramError as exc:
                log.debug("chat action for %s failed: %s", chat_id, exc)
            await asyncio.sleep(every)

    task = asyncio.create_task(keep_alive())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BotRateLimiter(AIORateLimiter):
    """PTB's ``AIORateLimiter`` (about 30 calls/s overall and 20 a minute per group, 429 ``retry_after``
    honoured with up to ``max_retries`` retries), except that chat actions ("typing") go straight out.

    A chat action is not a message, and queued behind the flood budget it delayed the answers: with 50
    chats asking at once, sendChatAction + sendMessage made 100 calls through a 30/s budget, replies at
    p95 2.37 s (benchmarks/results/bot.txt). Unlimited, a typing action never delays an answer; if
    Telegram refuses one (429), the indicator is skipped (``chat_action`` ignores errors)."""

    UNLIMITED = frozenset({"sendChatAction"})

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint in self.UNLIMITED:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def retry_after_seconds(exc: RetryAfter) -> float:
    """A 429's ``retry_after`` in seconds. PTB 22 returns an int and warns that it will become a timedelta
    (https://docs.python-telegram-bot.org/en/stable/telegram.error.html#telegram.error.RetryAfter): both read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return float(value.total_seconds() if isinstance(value, timedelta) else value)
