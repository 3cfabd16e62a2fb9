"""The morning push: every due chat gets one message with the newest digest it has not had, exactly once.

A *pass* (run by the bot's JobQueue every ``push_check_interval_s``, or once by ``papersbot push``):

1. takes ``push.lock`` (one pass at a time per data dir, across processes); ingests the inbox, and when
   chats are due and a sync is configured, syncs from the source first (a digest published just before
   push time goes out in this very pass);
2. finds due chats: their latest slot (``push_time`` in their zone) is newer than the last one handled;
3. for each due chat whose newest digest is newer than what it last received: claim → send → mark sent
   (see :mod:`rag.storage.subscriptions` for why that order gives exactly once); a chat with nothing new has its
   slot marked handled and gets no message; after downtime only the newest digest is sent (one message);
4. error policy per chat — one failing chat never stops the others: 403 / "chat not found" deactivates
   the subscription; 429 waits ``retry_after`` (PTB's ``AIORateLimiter`` retries first); network errors
   retry with backoff, then again on later passes up to ``push_max_attempts``.

The global send rate is the bot's rate limiter (``AIORateLimiter``: 30 messages/s overall); a push is a
single message per chat, so the 1 message/s per-chat limit cannot be exceeded.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.telegram import views
from bot.telegram.buttons import paper_keyboard
from bot.telegram.context import ReplyContexts
from bot.telegram.render import MAX_MESSAGE, Part, render_parts
from bot.telegram.replies import NO_PREVIEW, retry_after_seconds
from config.settings import PushSettings, Settings
from rag.briefing import Briefing
from rag.inbox import InboxReport, scan
from rag.rising import Riser
from rag.service import Papers
from rag.storage.contexts import ContextItem, ContextStore
from rag.storage.subscriptions import AlreadySent, Subscription, SubscriptionStore, latest_slot, push_lock, utc_now
from rag.sync import Syncer, SyncReport

log = logging.getLogger("papersbot.push")
T = TypeVar("T")
NETWORK_RETRIES = 3  # within one pass; later passes try again up to push_max_attempts
BACKOFF_S = 1.0
RATE_LIMIT_WAITS = 5  # 429s waited out per chat and pass, on top of AIORateLimiter's retries
RISING_DAYS = 1  # the push's "📈 Rising" line: papers that gained most votes in the past day …
RISING_SHOWN = 3  # … at most this many


class Blocking(Protocol):
    """Where blocking papers-service calls run (the bot's :class:`BlockingRunner`)."""

    async def read(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    async def write(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


@dataclass(frozen=True)
class Due:
    subscription: Subscription
    digest_date: str
    slot: datetime


@dataclass
class PushReport:
    dry_run: bool = False
    locked: bool = False  # another pass was running; this one did nothing
    due: int = 0
    sent: int = 0
    nothing_new: int = 0
    failed: int = 0
    deactivated: int = 0
    resumed: int = 0  # deliveries left in flight by a pass that died, sent again
    retries: int = 0
    digest_date: str | None = None
    planned: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        if self.locked:
            return "another push is running; nothing done"
        if self.dry_run:
            return (f"dry run: {len(self.planned)} chats would get digest {self.digest_date}; "
                    f"{self.nothing_new} due with nothing new")
        return (f"push: {self.sent} sent, {self.nothing_new} with nothing new, {self.failed} failed, "
                f"{self.deactivated} deactivated ({self.due} due; digest {self.digest_date or 'none'}; "
                f"{self.elapsed_s:.1f} s)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Pacer:
    """Evenly spaced sends, at most ``rate`` per second. A token bucket would allow a burst at the start,
    which Telegram answers with 429s (measured with the fake's sliding window: 341 429s for 1,000
    messages through AIORateLimiter alone, none when paced)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def plan(store: SubscriptionStore, newest: str | None, now: datetime) -> tuple[list[Due], list[Due]]:
    """(chats to send ``newest`` to, chats due with nothing new). Pure reads."""
    send: list[Due] = []
    idle: list[Due] = []
    for sub in store.active():
        slot = latest_slot(sub.push_time, sub.timezone, now)
        if sub.last_slot is not None and slot <= sub.last_slot:
            continue
        if newest is None or (sub.last_digest is not None and sub.last_digest >= newest):
            idle.append(Due(sub, newest or "", slot))
        else:
            send.append(Due(sub, newest, slot))
    return send, idle


class Pusher:
    """Runs push passes. Built once per process from settings, the papers service and store; ``bot`` is passed per
    pass (the Application's bot, or a standalone one for ``papersbot push``)."""

    def __init__(self, settings: PushSettings, papers: Papers, store: SubscriptionStore, blocking: Blocking, *,
                 data_dir: Path, inbox_dir: Path | None = None, clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 syncer: Syncer | None = None, contexts: ReplyContexts | None = None) -> None:
        """``settings``: the ``push`` section; ``data_dir`` (``storage.data_dir``) holds the lock that keeps one
        pass at a time; ``inbox_dir`` (``loading.inbox_dir``): where :meth:`check_inbox` looks, if anywhere."""
        self.settings = settings
        self.data_dir = data_dir
        self.inbox_dir = inbox_dir
        self.contexts = contexts  # which papers each push showed: its buttons and replies to it (context.py)
        self.papers = papers
        self.store = store
        self.blocking = blocking
        self.clock = clock
        self.sleep = sleep
        self.syncer = syncer
        self._syncing: asyncio.Lock | None = None  # made on first use, inside the running loop

    async def sync(self) -> SyncReport | None:
        """One sync from the source (None when no syncer is configured). Runs in a thread of its own, so
        downloads never hold a question back (only storing a batch does). Concurrent callers wait for
        the running sync instead of starting another; failures are logged, never raised."""
        if self.syncer is None:
            return None
        self._syncing = self._syncing or asyncio.Lock()
        if self._syncing.locked():
            async with self._syncing:  # one just finished: its result is what the caller wanted
                return None
        async with self._syncing:
            try:
                return await asyncio.to_thread(self.syncer.run)
            except Exception:  # a failing source must never stop the bot or the push
                log.exception("sync failed")
                return None

    async def run_due(self, bot: Bot | None, *, dry_run: bool = False,
                      keep_going: Callable[[], bool] = lambda: True) -> PushReport:
        """One pass. ``keep_going`` is checked before each chat: when it turns False (shutdown), chats
        not yet started are left for the next pass and the ones in flight finish and are recorded."""
        report = PushReport(dry_run=dry_run)
        # flock conflicts between two opens of the file even in one process, so this also keeps a second
        # pass of this process (a slow pass overlapping the next check) out.
        with push_lock(self.data_dir) as acquired:
            if not acquired:
                report.locked = True
                return report
            started = time.monotonic()
            await self._pass(bot, report, dry_run, keep_going)
            report.elapsed_s = time.monotonic() - started
        if report.due and not dry_run:
            log.info(report.summary())
        return report

    async def check_inbox(self) -> InboxReport | None:
        """Ingest new digests from ``inbox_dir`` (if set), exclusively: no question reads a half-written
        index. Failures are logged; the files stay for the next check."""
        inbox = self.inbox_dir
        if inbox is None or not scan(inbox)[0]:  # an empty check never pauses questions
            return None
        if not self.papers.can_write:  # ``papersbot push`` beside a running bot: the bot owns the inbox
            return None
        try:
            return await self.blocking.write(self.papers.ingest_inbox, inbox)
        except Exception:
            log.exception("inbox: ingest failed; the files stay in %s for the next check", inbox)
            return None

    async def _newest(self) -> str | None:
        dates = await self.blocking.read(self.papers.dates)
        return dates[0] if dates else None

    async def _pass(self, bot: Bot | None, report: PushReport, dry_run: bool, keep_going: Callable[[], bool]) -> None:
        if not dry_run:
            await self.check_inbox()  # digests dropped in before push time go out in this very pass
        now = self.clock()
        newest = await self._newest()
        send, idle = plan(self.store, newest, now)
        if (send or idle) and not dry_run and self.syncer is not None:
            await self.sync()  # the day's digest, if it was published since the last scheduled sync
            newest = await self._newest()
            send, idle = plan(self.store, newest, now)
        report.digest_date = newest
        left = self.store.in_flight()
        report.due = len(send) + len(idle)
        report.nothing_new = len(idle)
        if dry_run:
            report.planned = [{"chat_id": d.subscription.chat_id, "digest_date": d.digest_date,
                               "slot": d.slot.isoformat(), "topics": list(d.subscription.topics)} for d in send]
            return
        for due in idle:
            self.store.mark_slot(due.subscription.chat_id, due.slot)
        sending = {(d.subscription.chat_id, d.digest_date) for d in send}
        for delivery in left:
            if (delivery.chat_id, delivery.digest_date) in sending:
                report.resumed += 1
                log.warning("chat %s: a previous push pass died while sending digest %s; sending it again",
                            delivery.chat_id, delivery.digest_date)
            else:  # superseded by a newer digest, or the chat unsubscribed meanwhile
                self.store.mark_failed(delivery.chat_id, delivery.digest_date, "interrupted; superseded",
                                       final=False)
        if not send:
            return
        if bot is None:
            raise ValueError("a bot is needed to send pushes")
        briefings: dict[tuple[str, ...], Briefing | None] = {}
        for due in send:
            topics = due.subscription.topics
            if topics not in briefings:
                briefings[topics] = await self.blocking.read(
                    self.papers.top, due.digest_date, limit=self.settings.top_n, topics=topics,
                    topic_limit=self.settings.topic_matches, min_relevance=self.settings.topic_min_relevance)
        risers = await self._rising(now)
        parts: dict[tuple[tuple[str, ...], str], PushMessage] = {}  # rendered once per briefing and language
        gate = asyncio.Semaphore(self.settings.concurrency)
        pace = Pacer(self.settings.messages_per_second)

        async def one(due: Due, bot: Bot) -> None:
            async with gate:
                if not keep_going():
                    return
                briefing = briefings[due.subscription.topics]
                if briefing is None:  # the digest vanished (a re-ingest changed its date); try next slot
                    self.store.mark_slot(due.subscription.chat_id, due.slot)
                    return
                key = (due.subscription.topics, due.subscription.language)
                if key not in parts:
                    parts[key] = briefing_message(briefing, due.subscription.language, risers)
                await pace.wait()
                await self._deliver(bot, due, parts[key], report)

        await asyncio.gather(*(one(due, bot) for due in send))

    async def _rising(self, now: datetime) -> list[Riser]:
        """The push's "📈 Rising" papers; none when the vote history cannot be read (never fails a push)."""
        try:
            return await self.blocking.read(self.papers.rising, RISING_DAYS, now, RISING_SHOWN)
        except Exception:
            log.exception("could not read the vote history; the push goes out without its rising line")
            return []

    async def _remember(self, chat_id: int, message_id: int, push: PushMessage) -> None:
        if self.contexts is None:
            return
        try:
            await self.contexts.remember_ids(chat_id, [message_id], "push", push.items)
        except Exception:  # the push is out and recorded; only its buttons and replies lose their papers
            log.exception("chat %s: could not record the papers of the push", chat_id)

    async def _deliver(self, bot: Bot, due: Due, push: PushMessage, report: PushReport) -> None:
        chat_id = due.subscription.chat_id
        try:
            attempt = self.store.claim(chat_id, due.digest_date)
        except AlreadySent:
            self.store.mark_slot(chat_id, due.slot)
            return
        if attempt > self.settings.max_attempts:
            self.store.mark_failed(chat_id, due.digest_date, "gave up after repeated failures", final=True)
            self.store.mark_slot(chat_id, due.slot)
            report.failed += 1
            return
        network_tries = rate_tries = 0
        while True:
            try:
                message = await send_briefing(bot, chat_id, push.part, reply_markup=push.keyboard)
            except RetryAfter as exc:  # the rate limiter's own retries were not enough
                report.retries += 1
                rate_tries += 1
                if rate_tries <= RATE_LIMIT_WAITS:
                    await self.sleep(retry_after_seconds(exc))
                    continue
                self.store.mark_failed(chat_id, due.digest_date, f"rate limited: {exc}", final=False)
                report.failed += 1
                return
            except Forbidden as exc:  # blocked by the user, kicked from the group
                self._deactivate(chat_id, due, f"forbidden: {exc.message}", report)
                return
            except BadRequest as exc:
                if "chat not found" in exc.message.lower() or "deactivated" in exc.message.lower():
                    self._deactivate(chat_id, due, f"chat gone: {exc.message}", report)
                else:
                    log.error("chat %s: Telegram refused the push: %s", chat_id, exc)
                    self.store.mark_failed(chat_id, due.digest_date, f"bad request: {exc.message}", final=True)
                    self.store.mark_slot(chat_id, due.slot)
                    report.failed += 1
                return
            except NetworkError as exc:  # includes TimedOut; the message may or may not have gone out
                network_tries += 1
                report.retries += 1
                if network_tries < NETWORK_RETRIES:
                    await self.sleep(BACKOFF_S * 2 ** (network_tries - 1))
                    continue
                log.warning("chat %s: network errors (%s); the next pass retries", chat_id, exc)
                self.store.mark_failed(chat_id, due.digest_date, f"network: {exc}", final=False)
                report.failed += 1
                return
            except TelegramError as exc:
                log.error("chat %s: push failed: %s", chat_id, exc)
                self.store.mark_failed(chat_id, due.digest_date, f"telegram: {exc}", final=False)
                report.failed += 1
                return
            self.store.mark_sent(chat_id, due.digest_date, [message.message_id], due.slot)
            report.sent += 1
            await self._remember(chat_id, message.message_id, push)
            return

    def _deactivate(self, chat_id: int, due: Due, reason: str, report: PushReport) -> None:
        log.info("chat %s: deactivating its subscription (%s)", chat_id, reason)
        self.store.unsubscribe(chat_id, reason=reason)
        self.store.mark_failed(chat_id, due.digest_date, reason, final=True)
        self.store.mark_slot(chat_id, due.slot)
        report.deactivated += 1


@dataclass(frozen=True)
class PushMessage:
    """One push as sent: the text, its buttons, and the papers it shows (numbered by digest rank)."""

    part: Part
    keyboard: InlineKeyboardMarkup | None
    items: list[ContextItem]


def briefing_part(briefing: Briefing, lang: str) -> Part:
    """The briefing as ONE message: a push is never split, so a crash can never leave half of it sent.
    Topic matches, then the lowest-ranked top papers, are dropped until it fits."""
    return briefing_message(briefing, lang).part


def briefing_message(briefing: Briefing, lang: str, rising: Sequence[Riser] = ()) -> PushMessage:
    """:func:`briefing_part` with the rising line (dropped first when the message is too long) and a Summary /
    Similar row per paper shown, plus a Mute button per topic a paper matched."""
    shown = briefing
    while True:
        parts = render_parts(views.briefing_view(shown, lang, rising=rising), limit=MAX_MESSAGE)
        if len(parts) == 1 or (not rising and not shown.topical and len(shown.top) <= 1):
            items = [ContextItem(e.rank, e.arxiv_id, e.topics) for e in (*shown.top, *shown.topical)]
            return PushMessage(parts[0], paper_keyboard(items, lang, mute=True), items)
        if rising:
            rising = ()
        elif shown.topical:
            shown = Briefing(shown.date, shown.total, shown.top, shown.topical[:-1], shown.topics)
        else:
            shown = Briefing(shown.date, shown.total, shown.top[:-1], [], shown.topics)


async def send_briefing(bot: Bot, chat_id: int, part: Part, *, reply_markup: InlineKeyboardMarkup | None = None) -> Any:
    """Send as HTML; if Telegram refuses the markup, the same content as plain text (links in brackets)."""
    try:
        return await bot.send_message(chat_id, part.html, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
                                      reply_markup=reply_markup)
    except BadRequest as exc:
        if "entit" not in exc.message.lower():
            raise
        log.warning("chat %s: Telegram refused the push's HTML (%s); sending plain text", chat_id, exc)
        return await bot.send_message(chat_id, part.fallback or part.text, link_preview_options=NO_PREVIEW,
                                      reply_markup=reply_markup)


def push_once(settings: Settings, *, dry_run: bool = False) -> PushReport:
    """``papersbot push``: one pass with a standalone bot (for cron). SIGTERM/SIGINT stop it between
    chats; messages already in flight finish and are recorded."""
    from bot.telegram.blocking import BlockingRunner
    from bot.telegram.botapi import build_bot

    async def main() -> PushReport:
        papers = _open_papers(settings, write=not dry_run)
        store = SubscriptionStore(settings.storage.subscriptions_path)
        contexts = ContextStore(settings.storage.contexts_path, settings.telegram.reply_context_days)
        runner = BlockingRunner(1)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        try:
            pusher = Pusher(settings.push, papers, store, runner, data_dir=settings.storage.data_dir,
                            inbox_dir=settings.loading.inbox_dir, contexts=ReplyContexts(contexts))
            if dry_run:
                return await pusher.run_due(None, dry_run=True)
            if settings.telegram.token is None:
                raise ValueError("no Telegram bot token: set TELEGRAM_BOT_TOKEN")
            bot = build_bot(settings.telegram, settings.telegram.token.get_secret_value())
            async with bot:
                return await pusher.run_due(bot, keep_going=lambda: not stopping.is_set())
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            runner.shutdown()
            store.close()
            contexts.close()
            papers.close()

    return asyncio.run(main())


def _open_papers(settings: Settings, *, write: bool) -> Papers:
    """The service for one push pass: the data dir's owner when it is free (the pass ingests the inbox),
    else a reader beside the running bot that owns it (the bot ingests its inbox itself)."""
    if write:
        try:
            return Papers.open(settings, owner=True, owner_timeout_s=0)
        except TimeoutError:
            pass
    return Papers.open(settings)
