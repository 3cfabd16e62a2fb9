"""Answers that grow while the LLM writes them (issue 12, item 1).

Private chats show the text in a *draft* (``sendMessageDraft``, Bot API 9.5: an ephemeral preview that
Telegram animates), then one final message. Groups get one message, edited as the text grows (at least
``stream_edit_interval_s`` apart), whose last edit is the final answer; further parts, if any, follow as
messages of their own.

What a draft or an intermediate edit shows is plain text: the answer so far with every link the model
wrote removed and its markers checked (``rag.citations.validate``), Markdown shown as the reader will
see it (``render.from_markdown``) but without formatting. Only the final message is HTML, with links built
from our metadata. Updates are best effort: the newest text is sent when the previous call is done and
the interval has passed (never a queue of stale ones); a 429 is honoured by waiting its ``retry_after``
before the next update of that chat; "message is not modified" is fine. The final message is never
skipped: it waits out a 429 and falls back to sending anew when the streamed message is gone.

Extractive answers never call the token callback, so nothing streams and :meth:`AnswerStream.finish`
sends the answer like any other reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, EndPointNotFound, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.telegram.render import MAX_MESSAGE, Part, Span, from_markdown, render_parts, to_plain, utf16_len
from bot.telegram.replies import NO_PREVIEW, retry_after_seconds, send_parts
from rag.citations import validate

log = logging.getLogger("papersbot.telegram")
FINAL_ATTEMPTS = 4  # the final edit waits out at most this many 429s before sending the answer anew
PREVIEW_SOURCES = 99  # drafts check markers against this many; the final text against the real sources


def preview(raw: str) -> str:
    """What a draft shows of the answer so far: plain text, no links, at most one message long."""
    shown = to_plain(from_markdown(validate(raw, PREVIEW_SOURCES)[0])).strip()
    if utf16_len(shown) <= MAX_MESSAGE:
        return shown
    units = 0
    for end, ch in enumerate(shown):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > MAX_MESSAGE - 1:
            return shown[:end] + "…"
    return shown


class ChatPacer:
    """When each chat may next get a streamed update. Shared by every answer streaming into a chat, so two
    answers growing in one group at the same time still edit it at most once per interval, and a 429's
    ``retry_after`` holds all of them. Event-loop only (no locking)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._next: dict[int, float] = {}

    def wait_s(self, chat_id: int) -> float:
        """Seconds until ``chat_id`` may get the next update (0: now)."""
        return max(0.0, self._next.get(chat_id, 0.0) - self.clock())

    def hold(self, chat_id: int, seconds: float) -> None:
        """No update to ``chat_id`` for ``seconds`` from now (a longer hold already in place stays)."""
        now = self.clock()
        if len(self._next) > 10_000:  # forget chats whose holds are over
            self._next = {chat: until for chat, until in self._next.items() if until > now}
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), now + seconds)


class AnswerStream:
    """Shows one answer growing in ``message``'s chat; :meth:`finish` sends the final answer.

    ``on_token`` is what the answer engine calls, from its worker thread, with each piece the LLM writes.
    """

    def __init__(self, bot: Bot, message: Message, *, draft_interval_s: float, edit_interval_s: float,
                 pacer: ChatPacer | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.chat_id = message.chat.id
        self.question_id = message.message_id
        self.private = message.chat.type == message.chat.PRIVATE
        self.thread_id = message.message_thread_id if message.is_topic_message else None
        self.interval = draft_interval_s if self.private else max(1.0, edit_interval_s)
        self.clock = clock
        # Groups share one pace per chat (their edits must stay apart); a private chat's answers are separate
        # drafts, so a new question's first draft never waits for the previous answer's interval.
        self.pacer = pacer if pacer is not None and not self.private else ChatPacer(clock)
        self.updates = 0  # drafts or edits Telegram accepted
        self.first_shown_at: float | None = None  # clock() when text first became visible
        self.streamed: Message | None = None  # groups: the message being edited
        self._raw: list[str] = []
        self._shown = ""
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._disabled = False  # Telegram refused streaming in this chat: only the final answer is sent

    @classmethod
    def for_message(cls, message: Message, draft_interval_s: float, edit_interval_s: float,
                    pacer: ChatPacer | None = None) -> AnswerStream:
        return cls(message.get_bot(), message, draft_interval_s=draft_interval_s, edit_interval_s=edit_interval_s,
                   pacer=pacer)

    # --- fed from the engine's thread ---------------------------------------------------------------------
    def on_token(self, delta: str) -> None:
        """Thread-safe: hand a piece of the answer to the event loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the bot is gone, nobody to show it to
            self._loop.call_soon_threadsafe(self._feed, delta)

    def _feed(self, delta: str) -> None:
        self._raw.append(delta)
        self._changed.set()
        if self._task is None and not self._stopping.is_set():
            self._task = asyncio.create_task(self._pump(), name=f"answer-stream-{self.chat_id}")

    # --- the update loop ----------------------------------------------------------------------------------
    async def _pump(self) -> None:
        while not self._stopping.is_set() and not self._disabled:
            await self._changed.wait()
            while (delay := self.pacer.wait_s(self.chat_id)) > 0:  # another answer's update may come first
                with contextlib.suppress(TimeoutError):  # finish() ends the wait early
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    return
            self._changed.clear()
            text = preview("".join(self._raw))
            if not text or text == self._shown:
                continue
            self.pacer.hold(self.chat_id, self.interval)
            await self._update(text)

    async def _update(self, text: str) -> None:
        try:
            if self.private:
                await self.bot.send_message_draft(self.chat_id, self.question_id, text,
                                                  message_thread_id=self.thread_id)
            elif self.streamed is None:
                self.streamed = await self.bot.send_message(
                    self.chat_id, text, link_preview_options=NO_PREVIEW, message_thread_id=self.thread_id,
                    reply_parameters=ReplyParameters(self.question_id, allow_sending_without_reply=True))
            else:
                await self.bot.edit_message_text(text, self.chat_id, self.streamed.message_id,
                                                 link_preview_options=NO_PREVIEW)
        except RetryAfter as exc:
            self.pacer.hold(self.chat_id, retry_after_seconds(exc))
            log.info("chat %s: streaming paused for %.1f s (429)", self.chat_id, retry_after_seconds(exc))
            return
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.warning("chat %s: streaming off for this answer: %s", self.chat_id, exc)
                self._disabled = self.streamed is None  # an edit that failed: the final edit tries again
            return
        except (Forbidden, EndPointNotFound):  # blocked, or a Bot API server without sendMessageDraft
            self._disabled = True
            return
        except (NetworkError, TelegramError) as exc:  # best effort: the next update carries the newer text
            log.debug("chat %s: streaming update failed: %s", self.chat_id, exc)
            return
        self._shown = text
        self.updates += 1
        # Spaced from when Telegram took it: a call the rate limiter held back (a 429 retried) counts late.
        self.pacer.hold(self.chat_id, self.interval)
        if self.first_shown_at is None:
            self.first_shown_at = self.clock()

    async def stop(self) -> None:
        """End the updates (an in-flight call completes)."""
        self._stopping.set()
        self._changed.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    # --- the final answer ---------------------------------------------------------------------------------
    async def finish(self, spans: Sequence[Span]) -> list[Message]:
        """Send the final answer: a message of its own (private chats, or nothing streamed), or the last
        edit of the streamed message followed by any further parts."""
        await self.stop()
        parts = render_parts(spans)
        if self.private:
            return await send_parts(self.bot, self.chat_id, parts, thread_id=self.thread_id)
        # Groups: the final edit (or message) is spaced like the updates, from this answer's and any other's.
        while (wait := self.pacer.wait_s(self.chat_id)) > 0:
            await asyncio.sleep(wait)
        self.pacer.hold(self.chat_id, self.interval)
        try:
            first = await self._final_edit(parts[0]) if self.streamed is not None and parts else None
            if first is None:  # nothing streamed, or the streamed message is gone: the whole answer anew
                return await send_parts(self.bot, self.chat_id, parts, reply_to=self.question_id,
                                        thread_id=self.thread_id)
            return [first, *await send_parts(self.bot, self.chat_id, parts[1:], thread_id=self.thread_id)]
        finally:
            self.pacer.hold(self.chat_id, self.interval)  # the next answer's updates come after this one's end

    async def _final_edit(self, part: Part) -> Message | None:
        assert self.streamed is not None
        html_mode = True
        for _ in range(FINAL_ATTEMPTS):
            try:
                if html_mode:
                    edited = await self.bot.edit_message_text(part.html, self.chat_id, self.streamed.message_id,
                                                              parse_mode=ParseMode.HTML,
                                                              link_preview_options=NO_PREVIEW)
                else:
                    edited = await self.bot.edit_message_text(part.fallback or part.text, self.chat_id,
                                                              self.streamed.message_id,
                                                              link_preview_options=NO_PREVIEW)
                return edited if isinstance(edited, Message) else self.streamed
            except RetryAfter as exc:
                self.pacer.hold(self.chat_id, retry_after_seconds(exc))
                await asyncio.sleep(retry_after_seconds(exc))
            except BadRequest as exc:
                reason = str(exc).lower()
                if "not modified" in reason:
                    return self.streamed
                if html_mode and "entit" in reason:
                    log.warning("Telegram refused the HTML of an answer in chat %s (%s); plain text", self.chat_id,
                                exc)
                    html_mode = False
                    continue
                log.warning("chat %s: final edit failed (%s); sending the answer anew", self.chat_id, exc)
                return None
        log.warning("chat %s: the final edit kept being rate-limited; sending the answer anew", self.chat_id)
        return None
