"""Assembling and running the Telegram bot (python-telegram-bot v22, asyncio end to end).

``build_application`` wires settings, the papers service and the behaviour objects (HTTP request,
rate limiter, question limiter, blocking runner; each injectable for tests) into a PTB ``Application``.
``run`` is what ``papersbot bot`` calls: long polling, or a webhook server when
``telegram_webhook_url`` is set.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.ops.health import HealthServer, TelegramMonitor
from bot.telegram.access import AccessPolicy, QuestionLimiter
from bot.telegram.blocking import BlockingRunner
from bot.telegram.botapi import build_bot
from bot.telegram.buttons import Buttons
from bot.telegram.context import ReplyContexts
from bot.telegram.errors import install_log_redaction, make_error_handler, redact_loggers
from bot.telegram.handlers import Handlers
from bot.telegram.handoff import HandoffServer
from bot.telegram.inline import InlineHandlers
from bot.telegram.polling import ResilientUpdatesRequest
from bot.telegram.push import Pusher
from bot.telegram.request import monitored_requests
from bot.telegram.rising import RisingHandlers
from bot.telegram.stopping import DrainingUpdateProcessor, install_stop_signals
from bot.telegram.subscribing import SubscriptionHandlers
from bot.telegram.syncing import SyncHandlers
from config.settings import Settings
from rag.service import Papers
from rag.storage.contexts import ContextStore
from rag.storage.subscriptions import SubscriptionStore, utc_now
from rag.sync import Syncer

log = logging.getLogger("papersbot.telegram")
App = Application[Any, Any, Any, Any, Any, Any]

# (command, English description, Korean description), in menu order.
COMMANDS: list[tuple[str, str, str]] = [
    ("ask", "Ask about the daily papers", "논문에 대해 질문하기"),
    ("top", "Most-voted papers of a digest: /top [date] [n]", "그날 추천 순위: /top [날짜] [개수]"),
    ("paper", "A paper's summary: /paper <arXiv id or link>", "논문 요약: /paper <arXiv ID/링크>"),
    ("search", "Find papers by words (no LLM)", "단어로 논문 찾기 (LLM 없이)"),
    ("rising", "Papers gaining votes fastest: /rising [days]", "추천이 빠르게 느는 논문: /rising [일수]"),
    ("subscribe", "Daily top papers: /subscribe [HH:MM] [zone] [topics]", "매일 추천 논문: /subscribe [HH:MM] [주제]"),
    ("subscription", "Your daily push settings", "구독 설정 보기"),
    ("unsubscribe", "Stop the daily push", "구독 해지"),
    ("reset", "Forget this conversation", "대화 맥락 지우기"),
    ("help", "How to use this bot", "사용법"),
    ("start", "Start", "시작"),
]
ADMIN_COMMANDS: list[tuple[str, str, str]] = [
    ("stats", "Index statistics (admin)", "색인 현황 (관리자)"),
    ("sync", "Fetch new digests now (admin)", "새 다이제스트 가져오기 (관리자)"),
]
# Updates the bot asks Telegram for: messages, button presses and inline queries (@bot words in any chat).
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]


def build_application(
    settings: Settings,
    papers: Papers,
    *,
    token: str | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    limiter: QuestionLimiter | None = None,
    access: AccessPolicy | None = None,
    runner: BlockingRunner | None = None,
    store: SubscriptionStore | None = None,
    clock: Callable[[], datetime] = utc_now,
    health: HealthServer | None = None,
    stop_signals: bool = False,
    syncer: Syncer | None = None,
) -> App:
    """A ready-to-start Application. Nothing touches the network until it is initialized.

    ``stop_signals``: handle SIGINT/SIGTERM ourselves once started (run it with ``stop_signals=None``): the
    stop waits at most ``shutdown_grace_s`` for updates in progress (``bot.telegram.stopping``)."""
    token = token or (settings.telegram.token.get_secret_value() if settings.telegram.token else None)
    if not token:
        raise ValueError("no Telegram bot token: set TELEGRAM_BOT_TOKEN")
    redact_loggers(token)  # httpx logs every request URL, and the token is part of it
    runner = runner or BlockingRunner(settings.telegram.workers)  # papers refreshes once per question itself
    access = access or AccessPolicy.from_settings(settings.telegram)
    contexts = ContextStore(settings.storage.contexts_path, settings.telegram.reply_context_days)
    replies = ReplyContexts(contexts)
    handlers = Handlers(settings.telegram, papers, runner, access,
                        limiter or QuestionLimiter.from_settings(settings.telegram), contexts=replies,
                        max_digest_mb=settings.loading.max_digest_mb)
    owns_store = store is None  # an injected store belongs to the caller, who closes it
    store = store or SubscriptionStore(settings.storage.subscriptions_path)
    syncer = syncer if syncer is not None else (
        papers.syncer(exclusive=runner.exclusive) if settings.sync.interval_minutes else None)
    pusher = Pusher(settings.push, papers, store, runner, data_dir=settings.storage.data_dir,
                    inbox_dir=settings.loading.inbox_dir, clock=clock, syncer=syncer, contexts=replies)
    handoff = HandoffServer(papers, runner)  # other processes' ingests and syncs, when we own the data dir
    if health is not None:  # /healthz and /metrics report the last push from the subscription store
        health.last_push = store.last_push
        health.pushes_sent = lambda: store.counts()["sent"]
        health.llm = papers.llm_health  # why answers fell back to extractive: operators' business
        health.engine = papers.engine.instrumentation.metrics  # steps and answers, from LlamaIndex spans

    processor = DrainingUpdateProcessor(settings.telegram.concurrent_updates)

    async def on_start(app: App) -> None:
        if stop_signals:
            install_stop_signals(app, processor, settings.telegram.shutdown_grace_s)
        await register_commands(app, access)
        schedule_push(app, pusher, settings.push.check_interval_s)
        if syncer is not None and settings.sync.interval_minutes > 0:
            schedule_sync(app, pusher, settings.sync.interval_minutes * 60)
        if health is not None:
            await health.start(probe=app.bot.get_me)
        await handoff.start()

    async def on_shutdown(app: App) -> None:
        await handoff.stop()
        if health is not None:
            await health.stop()
        runner.shutdown()
        if syncer is not None:
            syncer.close()
        if owns_store:
            store.close()
        contexts.close()

    # getUpdates always goes through ResilientUpdatesRequest: a 401/404 must not end polling for good.
    bot = build_bot(settings.telegram, token, request=request, rate_limiter=rate_limiter,
                    get_updates_request=ResilientUpdatesRequest(get_updates_request))
    app: App = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(processor)
        .post_init(on_start)
        .post_shutdown(on_shutdown)
        .build()
    )
    register_handlers(app, handlers, SubscriptionHandlers(settings.push, store), SyncHandlers(pusher, access),
                      RisingHandlers(papers, runner, replies, settings.telegram.list_size, clock))
    app.add_handler(CallbackQueryHandler(Buttons(papers, runner, replies, store).on_callback))
    app.add_handler(InlineQueryHandler(InlineHandlers(papers, runner).on_inline_query))
    app.add_error_handler(make_error_handler(token))
    return app


def register_handlers(app: App, h: Handlers, subs: SubscriptionHandlers, syncs: SyncHandlers,
                      rising: RisingHandlers) -> None:
    """Every handler, in order. The access gate runs first (group -1) and stops refused updates."""
    message = filters.UpdateType.MESSAGE  # edited messages are not questions asked again
    private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, h.gate), group=-1)
    for name, callback in (("start", h.start), ("help", h.help), ("ask", h.ask), ("top", h.top),
                           ("paper", h.paper), ("search", h.search), ("reset", h.reset), ("stats", h.stats)):
        app.add_handler(CommandHandler(name, callback, filters=message))
    for name, callback in (("subscribe", subs.subscribe), ("unsubscribe", subs.unsubscribe),
                           ("subscription", subs.subscription), ("subscriptions", subs.subscription),
                           ("sync", syncs.sync), ("rising", rising.rising)):
        app.add_handler(CommandHandler(name, callback, filters=message))
    # A GIF is also a document: it gets the media hint, not "only admins may upload".
    app.add_handler(MessageHandler(message & private & filters.Document.ALL & ~filters.ANIMATION, h.document))
    app.add_handler(MessageHandler(message & filters.TEXT & ~filters.COMMAND, h.text))
    app.add_handler(MessageHandler(message & private & filters.COMMAND, h.unknown_command))
    media = ~filters.TEXT & ~filters.Document.ALL & ~filters.StatusUpdate.ALL  # photos, stickers, voice, …
    app.add_handler(MessageHandler(message & private & (media | filters.ANIMATION), h.media))


def schedule_push(app: App, pusher: Pusher, interval_s: float) -> None:
    """Check for due pushes every ``interval_s`` (first check right after start: that is the catch-up
    after downtime). Each chat's own time and zone decide whether it is due (see ``bot.telegram.push``)."""
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is a dependency"

    async def tick(context: CallbackContext[Any, Any, Any, Any]) -> None:
        try:
            await pusher.run_due(context.bot, keep_going=lambda: context.application.running)
        except Exception:  # a failing pass must never stop the schedule; the next tick tries again
            log.exception("push pass failed")

    app.job_queue.run_repeating(tick, interval=interval_s, first=1.0, name="push",
                                job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})


def schedule_sync(app: App, pusher: Pusher, interval_s: float) -> None:
    """Sync from the source every ``interval_s`` (the first a few seconds after start). A push pass with
    chats due also syncs first (``Pusher._pass``); both share one sync at a time."""
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is a dependency"

    async def tick(context: CallbackContext[Any, Any, Any, Any]) -> None:
        await pusher.sync()  # logs its own failures; the next tick tries again

    app.job_queue.run_repeating(tick, interval=interval_s, first=5.0, name="sync",
                                job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})


async def register_commands(app: App, access: AccessPolicy) -> None:
    """The command menu (English default, Korean for Korean clients); admins also see admin commands.
    A failure here is logged, never fatal."""
    menus = [(None, "en", COMMANDS), ("ko", "ko", COMMANDS)]
    for language_code, lang, commands in menus:
        await _set_commands(app, commands, lang, language_code=language_code)
    for admin in sorted(access.admins):
        await _set_commands(app, COMMANDS + ADMIN_COMMANDS, "en", scope=BotCommandScopeChat(admin))


async def _set_commands(app: App, commands: list[tuple[str, str, str]], lang: str, **kwargs: Any) -> None:
    menu = [BotCommand(name, ko if lang == "ko" else en) for name, en, ko in commands]
    try:
        await app.bot.set_my_commands(menu, **kwargs)
    except TelegramError as exc:
        log.warning("could not register the command menu (%s): %s", kwargs or "default", exc)


def run(settings: Settings) -> int:
    """``papersbot bot``: serve until interrupted. Returns the process exit code."""
    if settings.telegram.token is None:
        print("papersbot: no bot token; set TELEGRAM_BOT_TOKEN (from @BotFather)", file=sys.stderr)
        return 2
    webhook = settings.telegram.webhook_url
    if webhook and importlib.util.find_spec("tornado") is None:
        print("papersbot: webhook mode needs python-telegram-bot[webhooks] (tornado); install it or unset "
              "PAPERSBOT_TELEGRAM_WEBHOOK_URL to use long polling", file=sys.stderr)
        return 2
    token = settings.telegram.token.get_secret_value()
    install_log_redaction(token)

    # The bot owns an embedded data dir for its whole life: it is the only process writing it (rag.owner).
    papers = Papers.open(settings, owner=True)
    try:
        if papers.is_empty():
            log.warning("the index is empty: run `papersbot ingest PATH` or send the bot a digest as an admin")
        health = request = get_updates_request = None
        if settings.health.port is not None:  # Bot API round trips feed the health server's Telegram status
            monitor = TelegramMonitor()
            request, get_updates_request = monitored_requests(monitor)
            health = HealthServer.from_settings(
                settings.health, papers, telegram=monitor,
                updates_max_age_s=None if webhook else settings.health.updates_max_age_s)
        app = build_application(settings, papers, token=token, request=request,
                                get_updates_request=get_updates_request, health=health, stop_signals=True)
        if webhook:
            secret = settings.telegram.webhook_secret
            log.info("serving a webhook at %s (listening on %s:%d)", webhook, settings.telegram.webhook_listen,
                     settings.telegram.webhook_port)
            app.run_webhook(listen=settings.telegram.webhook_listen, port=settings.telegram.webhook_port,
                            url_path=urlsplit(webhook).path.strip("/"), webhook_url=webhook,
                            secret_token=secret.get_secret_value() if secret else None,
                            allowed_updates=ALLOWED_UPDATES, stop_signals=None)
        else:
            log.info("long polling for updates")
            app.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=None)  # ours: see stop_signals
    except InvalidToken:
        print("papersbot: Telegram rejected the bot token", file=sys.stderr)
        return 2
    finally:
        papers.close()
    return 0
