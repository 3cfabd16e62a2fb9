"""Lists you can act on: "요약 / Summary", "비슷한 논문 / Similar" and "Mute topic" buttons under the morning
push, ``/top``, ``/rising`` and "similar" lists.

``callback_data`` stays far below Telegram's 64 bytes and carries no state beyond a paper id: ``s:<id>``
(summary), ``m:<id>`` (more like this), ``t:<n>:<k>`` (mute the k-th topic the paper numbered n matched).
What a mute button means is read back from the message's record in the context store, keyed by the
message the button is on, so it works after a restart and cannot touch another chat's subscription.
Every callback query is answered; a stale one (the record expired, the paper left the index, the topic
was already muted) gets a short note, never an error.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import views
from bot.telegram.blocking import BlockingRunner
from bot.telegram.context import ReplyContexts, numbered
from bot.telegram.render import Span, bold, join, render_parts
from bot.telegram.replies import send_parts
from bot.telegram.texts import lang_of, t
from loaders.digest import arxiv_id_from
from rag.service import Papers
from rag.storage.catalog import StoredPaper
from rag.storage.contexts import ContextItem
from rag.storage.subscriptions import SubscriptionStore

log = logging.getLogger("papersbot.telegram")
Context = ContextTypes.DEFAULT_TYPE
MAX_CALLBACK_BYTES = 64
MAX_BUTTONS = 100  # Telegram's limit per inline keyboard (https://github.com/tginfo/Telegram-Limits/issues/228)
SIMILAR_COUNT = 5
_DATA = re.compile(r"(?P<action>[sm]):(?P<id>[0-9.]{9,12})|t:(?P<n>\d{1,3}):(?P<k>\d{1,2})")


def summary_data(arxiv_id: str) -> str:
    return f"s:{arxiv_id}"


def similar_data(arxiv_id: str) -> str:
    return f"m:{arxiv_id}"


def mute_data(number: int, topic_index: int) -> str:
    return f"t:{number}:{topic_index}"


def paper_keyboard(items: Sequence[ContextItem], lang: str, *, mute: bool = False) -> InlineKeyboardMarkup | None:
    """One row per paper: "n · Summary", "n · Similar"; with ``mute``, a "Mute topic" button per topic the
    paper matched (a push's topic matches). None for an empty list. Telegram refuses an inline keyboard of
    more than MAX_BUTTONS buttons ("reply markup is too long"): the papers listed last lose theirs first."""
    rows: list[list[InlineKeyboardButton]] = []
    used = 0
    for item in items:
        needed = 2 + (len(item.topics) if mute else 0)
        if used + needed > MAX_BUTTONS:
            break
        used += needed
        n, arxiv_id = item.number, item.arxiv_id
        rows.append([InlineKeyboardButton(f"{n} · {t('btn_summary', lang)}", callback_data=summary_data(arxiv_id)),
                     InlineKeyboardButton(f"{n} · {t('btn_similar', lang)}", callback_data=similar_data(arxiv_id))])
        if mute:
            rows += [[InlineKeyboardButton(t("btn_mute", lang, topic=topic), callback_data=mute_data(item.number, k))]
                     for k, topic in enumerate(item.topics)]
    return InlineKeyboardMarkup(rows) if rows else None


def paper_items(papers: Sequence[StoredPaper]) -> list[ContextItem]:
    return numbered([p.arxiv_id for p in papers])


def similar_view(paper: StoredPaper, found: Sequence[tuple[StoredPaper, float]], lang: str) -> list[Span]:
    if not found:
        return views.plain(t("similar_none", lang))
    return join([bold(t("similar_head", lang, title=paper.title))], views.paper_rows([p for p, _ in found], lang))


class Buttons:
    """The callback-query handler. Blocking work (SQLite, Chroma) runs in the bot's runner or a thread."""

    def __init__(self, papers: Papers, runner: BlockingRunner, contexts: ReplyContexts,
                 subscriptions: SubscriptionStore) -> None:
        self.papers = papers
        self.runner = runner
        self.contexts = contexts
        self.subscriptions = subscriptions

    async def on_callback(self, update: Update, context: Context) -> None:
        """Answer every query exactly once, whatever happens while acting on it."""
        query = update.callback_query
        if query is None:  # pragma: no cover - registered for callback queries only
            return
        lang = lang_of(query.from_user)
        note: str | None = t("button_stale", lang)
        try:
            note = await self._act(query, lang)
        finally:
            with contextlib.suppress(TelegramError):  # a query older than ~15 min can no longer be answered
                await query.answer(note)

    async def _act(self, query: CallbackQuery, lang: str) -> str | None:
        match = _DATA.fullmatch(query.data or "")
        message = query.message
        if match is None or message is None:
            return t("button_stale", lang)
        chat_id, message_id = message.chat.id, message.message_id
        if match.group("n") is not None:
            return await self._mute(chat_id, message_id, int(match.group("n")), int(match.group("k")), lang)
        arxiv_id = match.group("id")
        paper = await self.runner.read(self.papers.paper, arxiv_id) if arxiv_id_from(arxiv_id) else None
        if paper is None:
            return t("button_paper_gone", lang)
        bot = query.get_bot()
        if match.group("action") == "s":
            sent = await send_parts(bot, chat_id, render_parts(views.paper_view(paper, lang)), reply_to=message_id)
            await self.contexts.remember(sent, "paper", [ContextItem(1, paper.arxiv_id)])
            return None
        found = await self.runner.read(self.papers.similar, arxiv_id, SIMILAR_COUNT)
        items = paper_items([p for p, _ in found])
        sent = await send_parts(bot, chat_id, render_parts(similar_view(paper, found, lang)), reply_to=message_id,
                                reply_markup=paper_keyboard(items, lang))
        await self.contexts.remember(sent, "similar", items)
        return None

    async def _mute(self, chat_id: int, message_id: int, number: int, topic_index: int, lang: str) -> str:
        record = await self.contexts.lookup(chat_id, message_id)
        item = record.item(number) if record is not None else None
        if item is None or topic_index >= len(item.topics):
            return t("button_stale", lang)
        topic = item.topics[topic_index]
        # On the loop thread like every other use of the subscription store: it shares one SQLite connection,
        # which must not run a transaction from two threads at once (a millisecond write).
        removed = self.subscriptions.remove_topic(chat_id, topic)
        return t("mute_done" if removed else "mute_already", lang, topic=topic)

