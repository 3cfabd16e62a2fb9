"""The bot's handlers: small async functions that parse, call the engine off the loop, and reply.

All papers-service work goes through :class:`BlockingRunner` (a bounded thread pool), so one slow
question never stalls other chats; an LLM answer takes a pool slot only for its CPU steps, not while the
model writes. Rendering is in :mod:`views`; sending in :mod:`replies`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from telegram import Message, Update, User
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.telegram import views
from bot.telegram.access import AccessPolicy, QuestionLimiter, Throttle
from bot.telegram.addressing import addressed_text, command_argument, for_another_bot
from bot.telegram.blocking import BlockingRunner
from bot.telegram.buttons import paper_items, paper_keyboard
from bot.telegram.context import ReplyContexts, numbered
from bot.telegram.replies import chat_action, reply
from bot.telegram.streaming import AnswerStream, ChatPacer
from bot.telegram.texts import lang_of, t
from config.settings import TelegramSettings
from loaders.digest import DIGEST_SUFFIXES, arxiv_id_from
from rag.ingest import IngestReport
from rag.service import Papers
from rag.storage.contexts import ContextItem

log = logging.getLogger("papersbot.telegram")
Context = ContextTypes.DEFAULT_TYPE

MAX_LIST = 30
TELEGRAM_DOWNLOAD_MB = 20  # bots cannot download larger files (Bot API getFile: "file is too big")
REFUSAL_EVERY_S = 300.0  # a chat outside the allowlist is told so at most once per this many seconds
HINT_EVERY_S = 60.0  # "send text" after photos, stickers, voice: at most once a minute per chat
STOPPING_NOTE_S = 3.0  # how long a cancelled answer may spend telling its chat to ask again
_TODAY = {"today", "latest", "newest", "오늘", "최신"}
_YESTERDAY = {"yesterday", "어제"}
_DATE = re.compile(r"(\d{4})[-./]?(\d{1,2})[-./]?(\d{1,2})")


def clip_question(question: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters, cut at a space when one is near the end; (text, was it cut)."""
    question = question.strip()
    if len(question) <= limit:
        return question, False
    cut = question[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.8 else cut).rstrip(), True


def parse_top_args(args: list[str], default_count: int) -> tuple[str | None, int] | None:
    """``[date|today|yesterday] [n]`` in any order → (date word or ISO date or None, n); None if unreadable."""
    when: str | None = None
    count = default_count
    for arg in args:
        word = arg.strip().lower()
        # isdecimal, not isdigit: "²" is a digit that int() refuses; every decimal digit ("３") it reads.
        if word.isdecimal() and len(word) <= 3:
            count = max(1, min(MAX_LIST, int(word)))
        elif word in _TODAY:
            when = "today"
        elif word in _YESTERDAY:
            when = "yesterday"
        elif (match := _DATE.fullmatch(word)) is not None:
            try:
                when = date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
            except ValueError:
                return None
        else:
            return None
    return when, count


def resolve_digest_date(when: str | None, dates: list[str]) -> str | None:
    """"today" (or nothing) is the newest digest, "yesterday" the digest before it (digests skip weekends
    and holidays, so the calendar day before the newest rarely has one); None if there is no such digest.
    ``dates`` are newest first."""
    if not dates:
        return None
    if when in (None, "today"):
        return dates[0]
    if when == "yesterday":
        return dates[1] if len(dates) > 1 else None
    return when


def safe_file_name(name: str) -> str:
    """A file name that is safe to write in a temporary folder (no folders, no odd characters)."""
    base = Path(name.replace("\\", "/")).name
    path = Path(re.sub(r"[^\w.\-]+", "_", base).strip("._") or "digest")
    return path.stem[:90] + path.suffix[:10]


class Handlers:
    """Every handler of the bot, sharing the papers service, the runner and the access rules."""

    def __init__(self, settings: TelegramSettings, papers: Papers, runner: BlockingRunner, access: AccessPolicy,
                 limiter: QuestionLimiter, contexts: ReplyContexts | None = None, *, max_digest_mb: float) -> None:
        """``settings``: the ``telegram`` section; ``max_digest_mb``: ``loading.max_digest_mb`` (admin uploads)."""
        self.settings = settings
        self.max_digest_mb = max_digest_mb
        self.contexts = contexts  # which papers each sent message showed: replies and buttons (context.py)
        self.papers = papers
        self.runner = runner
        self.access = access
        self.limiter = limiter
        self.refusals = Throttle(REFUSAL_EVERY_S)
        self.hints = Throttle(HINT_EVERY_S)
        self.counters: Counter[str] = Counter()
        self.stream_pacer = ChatPacer()  # streamed answers in one chat share its update interval
        self.started = time.monotonic()

    # --- gate (runs before every other handler) -------------------------------------------------------
    async def gate(self, update: Update, context: Context) -> None:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        if message is not None and for_another_bot(message, context.bot.username):
            raise ApplicationHandlerStop  # "/top@other_bot": silence, allowed chat or not
        if self.access.allows(chat.id if chat else None, user.id if user else None):
            return
        self.counters["refused"] += 1
        if update.callback_query is not None:  # every button press is answered, refused ones too
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(t("button_refused", lang_of(user)))
        elif update.inline_query is not None:
            with contextlib.suppress(TelegramError):
                await update.inline_query.answer([], cache_time=60, is_personal=True)
        elif message is not None and self._addressed(message, context) and self.refusals.due(message.chat.id):
            await reply(message, views.plain(t("refused", lang_of(user))))  # once per REFUSAL_EVERY_S
        raise ApplicationHandlerStop

    def _addressed(self, message: Message, context: Context) -> bool:
        """Would the bot answer this message if it were allowed? (Refuse only those, never chatter.)"""
        if message.chat.type == message.chat.PRIVATE or (message.text or "").startswith("/"):
            return True
        return addressed_text(message, context.bot.id, context.bot.username) is not None

    # --- help ---------------------------------------------------------------------------------------------
    async def start(self, update: Update, context: Context) -> None:
        await self.help(update, context)

    async def help(self, update: Update, context: Context) -> None:
        message, user = _message(update), update.effective_user
        private = message.chat.type == message.chat.PRIVATE
        await reply(message, views.help_view(lang_of(user), context.bot.username, private=private,
                                             admin=self.access.is_admin(user.id if user else None)))

    # --- questions ------------------------------------------------------------------------------------
    async def ask(self, update: Update, context: Context) -> None:
        message = _message(update)
        question = command_argument(message)
        replied = message.reply_to_message
        if not question and replied is not None and replied.from_user is not None \
                and replied.from_user.id != context.bot.id:
            question = (replied.text or replied.caption or "").strip()  # "/ask" in reply to someone's question
        if not question:
            await reply(message, views.plain(t("ask_usage", lang_of(update.effective_user))))
            return
        await self.answer(update, question)

    async def text(self, update: Update, context: Context) -> None:
        """Private chats: every text is a question. Groups: only mentions of the bot and replies to it."""
        message = _message(update)
        if message.chat.type == message.chat.PRIVATE:
            question: str | None = message.text or ""
        else:
            question = addressed_text(message, context.bot.id, context.bot.username)
            if question is None:
                return  # people talking to each other
        if not question:
            await reply(message, views.plain(t("ask_usage", lang_of(update.effective_user))))
            return
        await self.answer(update, question)

    async def answer(self, update: Update, question: str) -> None:
        message, user = _message(update), update.effective_user
        lang = lang_of(user)
        limit = self.settings.max_question_chars
        question, clipped = clip_question(question, limit)
        if not await self._admit(message, user, lang):
            return
        # With an LLM the answer grows in a draft (private chats) or an edited message (groups): streaming.py.
        stream = AnswerStream.for_message(message, self.settings.stream_draft_interval_s,
                                          self.settings.stream_edit_interval_s, self.stream_pacer) \
            if self.papers.llm_configured else None
        # A reply to a push, a list or an answer is about that message's papers ("두 번째 논문", "1 and 3").
        scope = await self.contexts.scope(message, question, message.get_bot().id) if self.contexts else None
        scoped = scope.options() if scope is not None else {}
        try:
            async with chat_action(message.get_bot(), message.chat.id):
                if stream is not None:  # the model's writing holds no engine thread (BlockingRunner.read_llm)
                    answer = await self.runner.read_llm(self.papers.ask, question, str(message.chat.id),
                                                        on_token=stream.on_token, **scoped)
                else:
                    answer = await self.runner.read(self.papers.ask, question, str(message.chat.id), **scoped)
        except asyncio.CancelledError:  # the bot is stopping and the grace period is over (stopping.py)
            if stream is not None:
                await stream.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reply(message, views.plain(t("stopping", lang))), STOPPING_NOTE_S)
            raise
        except BaseException:
            if stream is not None:
                await stream.stop()
            raise
        self.counters["questions"] += 1
        notice = t("question_clipped", lang, limit=limit) if clipped else None
        spans = views.answer_view(answer, notice)
        sent = await (stream.finish(spans) if stream is not None else reply(message, spans))
        await self._remember(sent, "answer", numbered([c.arxiv_id for c in answer.citations]))

    async def _admit(self, message: Message, user: User | None, lang: str) -> bool:
        """The per-user rate limit (admins are exempt); a friendly note when the user must wait."""
        if user is None or self.access.is_admin(user.id):
            return True
        wait = self.limiter.acquire(user.id)
        if wait <= 0:
            return True
        self.counters["rate_limited"] += 1
        if self.limiter.note_due(user.id, wait):  # one note per cool-down, then silence until it is over
            await reply(message, views.plain(t("rate_limited", lang, seconds=max(1, math.ceil(wait)))))
        return False

    # --- catalog commands -----------------------------------------------------------------------------
    async def top(self, update: Update, context: Context) -> None:
        message = _message(update)
        lang = lang_of(update.effective_user)
        parsed = parse_top_args(list(context.args or []), self.settings.list_size)
        if parsed is None:
            await reply(message, views.plain(t("top_usage", lang)))
            return
        when, count = parsed
        dates = await self.runner.read(self.papers.dates)
        day = resolve_digest_date(when, dates)
        if day is None or day not in dates:
            asked = day or next((a for a in context.args or [] if a.strip().lower() in _YESTERDAY), "")
            await reply(message, views.unknown_date_view(asked, dates, lang))
            return
        papers = await self.runner.read(self.papers.top_on, day, count)
        items = paper_items(papers)
        sent = await reply(message, views.top_view(day, papers, lang), reply_markup=paper_keyboard(items, lang))
        await self._remember(sent, "top", items)

    async def _remember(self, sent: Sequence[Message], kind: str, items: Sequence[ContextItem]) -> None:
        """Record which papers ``sent`` showed (replies to it and its buttons use that); never fails a reply."""
        if self.contexts is None:
            return
        try:
            await self.contexts.remember(sent, kind, items)
        except Exception:
            log.exception("could not record the papers of a %s message", kind)

    async def paper(self, update: Update, context: Context) -> None:
        message = _message(update)
        lang = lang_of(update.effective_user)
        argument = command_argument(message)
        if not argument:
            await reply(message, views.plain(t("paper_usage", lang)))
            return
        first = argument.split()[0].strip("<>()[]{},.;:!?\"'“”‘’「」")  # "2502.01061." at a sentence's end
        candidate = re.sub(r"(?i)^arxiv:", "", first)  # "arXiv:2502.01061"
        if re.match(r"(?i)(?:www\.)?arxiv\.org/", candidate):  # a link without its scheme
            candidate = "https://" + candidate
        arxiv_id = arxiv_id_from(candidate)
        if arxiv_id is None:
            await reply(message, views.plain(t("paper_bad_id", lang, value=first[:80])))
            return
        paper = await self.runner.read(self.papers.paper, arxiv_id)
        if paper is None:
            await reply(message, views.plain(t("paper_unknown", lang, arxiv_id=arxiv_id)))
            return
        await self._remember(await reply(message, views.paper_view(paper, lang)), "paper", numbered([paper.arxiv_id]))

    async def search(self, update: Update, context: Context) -> None:
        """Matching papers straight from retrieval: no LLM, no conversation context."""
        message, user = _message(update), update.effective_user
        lang = lang_of(user)
        words, _ = clip_question(command_argument(message), self.settings.max_question_chars)
        if not words:
            await reply(message, views.plain(t("search_usage", lang)))
            return
        if not await self._admit(message, user, lang):
            return
        async with chat_action(message.get_bot(), message.chat.id):
            found = await self.runner.read(self.papers.search, words, self.settings.list_size)
        self.counters["searches"] += 1
        shown = words if len(words) <= 60 else words[:60] + "…"
        items = paper_items([source.paper for source in found.sources])
        sent = await reply(message, views.search_view(shown, found, lang), reply_markup=paper_keyboard(items, lang))
        await self._remember(sent, "search", items)

    async def reset(self, update: Update, context: Context) -> None:
        message = _message(update)
        self.papers.reset(str(message.chat.id))
        await reply(message, views.plain(t("reset_done", lang_of(update.effective_user))))

    async def unknown_command(self, update: Update, context: Context) -> None:
        await self.help(update, context)

    async def media(self, update: Update, context: Context) -> None:
        """A photo, sticker, voice message, … in a private chat: one line saying what the bot reads (at most
        once per HINT_EVERY_S per chat)."""
        message = _message(update)
        if self.hints.due(message.chat.id):
            await reply(message, views.plain(t("media_hint", lang_of(update.effective_user))))

    # --- admin ----------------------------------------------------------------------------------------
    async def stats(self, update: Update, context: Context) -> None:
        message, user = _message(update), update.effective_user
        if not self.access.is_admin(user.id if user else None):
            await reply(message, views.plain(t("admin_only", lang_of(user))))
            return
        stats = await self.runner.read(self.papers.stats)
        counters: dict[str, int | float] = dict(self.counters)
        counters["uptime_s"] = round(time.monotonic() - self.started, 1)
        await reply(message, views.stats_view(stats, counters))

    async def document(self, update: Update, context: Context) -> None:
        """An admin's digest file is ingested; anyone else is told that only admins may do that."""
        message, user = _message(update), update.effective_user
        lang = lang_of(user)
        document = message.document
        if document is None:
            return
        if not self.access.is_admin(user.id if user else None):
            await reply(message, views.plain(t("admin_only", lang)))
            return
        name = document.file_name or "digest.md"
        if not name.lower().endswith(DIGEST_SUFFIXES):
            await reply(message, views.plain(t("upload_type", lang)))
            return
        max_mb = min(self.max_digest_mb, TELEGRAM_DOWNLOAD_MB)
        if document.file_size is not None and document.file_size > max_mb * 1_000_000:
            await reply(message, views.plain(t("upload_too_big", lang, size_mb=document.file_size / 1e6,
                                                max_mb=max_mb)))
            return
        async with chat_action(message.get_bot(), message.chat.id):
            try:
                file = await document.get_file()
            except BadRequest as exc:  # "file is too big": the size was not given, Telegram knows it
                if "too big" not in exc.message.lower():
                    raise
                await reply(message, views.plain(t("upload_too_big_unknown", lang, max_mb=max_mb)))
                return
            content = bytes(await file.download_as_bytearray())
            if len(content) > max_mb * 1_000_000:
                await reply(message, views.plain(t("upload_too_big", lang, size_mb=len(content) / 1e6,
                                                    max_mb=max_mb)))
                return
            report = await self.runner.write(self._ingest, safe_file_name(name), content)
        self.counters["ingests"] += 1
        log.info("admin %s ingested %s: %s", user.id if user else None, name, report.summary())
        await reply(message, views.ingest_view(name, report, lang))

    def _ingest(self, name: str, content: bytes) -> IngestReport:
        """Runs in a worker thread with the runner's exclusive lock held."""
        with tempfile.TemporaryDirectory(prefix="papersbot-upload-") as folder:
            path = Path(folder) / name
            path.write_bytes(content)
            return self.papers.ingest([str(path)])


def _message(update: Update) -> Message:
    """The update's message; handlers are registered for message updates only."""
    message = update.effective_message
    if message is None:  # pragma: no cover - excluded by the handlers' filters
        raise ApplicationHandlerStop
    return message


__all__ = ["Handlers", "clip_question", "parse_top_args", "resolve_digest_date", "safe_file_name"]
