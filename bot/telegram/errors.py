"""The last line of defence: every exception a handler lets out is logged (token redacted) and the user
gets a short, useful message. Nothing here is ever fatal to the bot.

The bot token is part of every Bot API URL, so it leaks into httpx log lines and exception texts;
the :class:`RedactToken` filter (``bot.ops.logs.RedactFilter`` for one token) scrubs it from every log record,
including formatted tracebacks. ``bot.ops.logs.configure_logging`` installs the same filter for every secret.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.ops.logs import BOT_TOKEN_REDACTED, RedactFilter, Redactor
from bot.telegram.polling import log_polling_error
from bot.telegram.texts import lang_of, t

log = logging.getLogger("papersbot.telegram")
REDACTED = BOT_TOKEN_REDACTED

ErrorCallback = Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def redact(value: str, token: str | None = None) -> str:
    """``value`` without the bot token (ours, or anything shaped like one)."""
    return Redactor({token: REDACTED} if token else None)(value)


class RedactToken(RedactFilter):
    """Scrubs the token from a record's message and traceback before any handler formats it."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(Redactor({token: REDACTED} if token else None))
        self.token = token


def install_log_redaction(token: str) -> RedactToken:
    """Add the filter to every root handler (handler filters see records from all loggers)."""
    redactor = RedactToken(token)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        handler.addFilter(redactor)
    redact_loggers(token)
    return redactor


def redact_loggers(token: str, names: tuple[str, ...] = ("httpx", "httpcore")) -> None:
    """Filter the loggers that write Bot API URLs, whatever handlers end up printing them. Logger filters
    apply to that logger's own records only, which is exactly where httpx logs every request URL."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(RedactToken(token))


def describe(error: BaseException | None, token: str | None) -> str:
    if error is None:
        return "unknown error"
    return redact("".join(traceback.format_exception(error)).rstrip(), token)


def make_error_handler(token: str | None) -> ErrorCallback:
    """The Application's error handler (``Application.add_error_handler``)."""

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if update is None and context.job is None and isinstance(error, TelegramError):
            log_polling_error(error, token)  # run_polling reports failed getUpdates calls here; it retries
            return
        chat_id = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        if isinstance(error, Forbidden):  # blocked by the user, kicked from the group: nobody to tell
            log.info("chat %s is unreachable: %s", chat_id, redact(str(error), token))
            return
        if isinstance(error, RetryAfter):
            log.warning("rate limited by Telegram in chat %s even after retries: %s", chat_id, error)
            key = "error_network"
        elif isinstance(error, BadRequest):  # before NetworkError: BadRequest is a subclass of it
            log.warning("Telegram refused a request for chat %s: %s", chat_id, redact(str(error), token))
            key = "error_generic"
        elif isinstance(error, NetworkError):  # includes TimedOut
            kind = "timed out" if isinstance(error, TimedOut) else "network error"
            log.warning("Telegram %s in chat %s: %s", kind, chat_id, redact(str(error), token))
            if not surely_undelivered(error):
                return  # the message may have arrived: a "please try again" would be a second, wrong reply
            key = "error_network"
        else:
            log.error("error while handling an update in chat %s:\n%s", chat_id, describe(error, token))
            key = "error_generic"
        await _tell_user(update, key)

    return on_error


def surely_undelivered(error: BaseException) -> bool:
    """Did the failed Bot API request certainly not reach Telegram? True only when the connection was never
    made (refused, connect timeout, no free pooled connection). A read timeout or an answer lost on the way
    back can hide a message Telegram did deliver (PTB raises TimedOut/NetworkError ``from`` the httpx error)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        cause = cause.__cause__
    return False


async def _tell_user(update: object, key: str) -> None:
    if not isinstance(update, Update) or update.effective_chat is None or update.effective_message is None:
        return
    text = t(key, lang_of(update.effective_user))
    try:
        await update.effective_message.get_bot().send_message(update.effective_chat.id, text)
    except TelegramError as exc:
        log.info("could not tell chat %s about the error: %s", update.effective_chat.id, exc)

