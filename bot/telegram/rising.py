"""``/rising [days]``: the papers whose upvotes grew most in the last days (from the vote history the sync
records), with the same Summary / Similar buttons as ``/top``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import views
from bot.telegram.blocking import BlockingRunner
from bot.telegram.buttons import paper_items, paper_keyboard
from bot.telegram.context import ReplyContexts
from bot.telegram.render import Span, bold, code, join, text
from bot.telegram.replies import reply
from bot.telegram.texts import lang_of, t
from rag.rising import DEFAULT_DAYS, MAX_DAYS, Riser
from rag.service import Papers

Context = ContextTypes.DEFAULT_TYPE


def parse_days(args: Sequence[str]) -> int | None:
    """``[]`` → the default; ``["3"]`` / ``["3d"]`` / ``["3일"]`` → 3 (1 … MAX_DAYS); None when unreadable."""
    if not args:
        return DEFAULT_DAYS
    if len(args) > 1:
        return None
    word = args[0].strip().lower().removesuffix("days").removesuffix("day").removesuffix("d").removesuffix("일")
    if not word.isdecimal() or len(word) > 3:
        return None
    days = int(word)
    return days if 1 <= days <= MAX_DAYS else None


def rising_view(risers: Sequence[Riser], days: int, lang: str) -> list[Span]:
    if not risers:
        return views.plain(t("rising_none", lang, days=days))
    rows: list[Span] = []
    for n, riser in enumerate(risers, start=1):
        paper = riser.paper
        if rows:
            rows.append(text("\n"))
        rows += [text(f"{n}. "), views.titled(paper.title, paper.arxiv_id),
                 text(f"\n    {t('rising_gain', lang, gained=riser.gained, votes=riser.votes)} · {paper.date} · "),
                 code(paper.arxiv_id)]
    return join([bold(t("rising_head", lang, days=days))], rows)


class RisingHandlers:
    def __init__(self, papers: Papers, runner: BlockingRunner, contexts: ReplyContexts, list_size: int,
                 clock: Callable[[], datetime]) -> None:
        self.papers = papers
        self.runner = runner
        self.contexts = contexts
        self.list_size = list_size
        self.clock = clock

    async def rising(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:  # pragma: no cover - registered for messages only
            return
        lang = lang_of(update.effective_user)
        days = parse_days(list(context.args or []))
        if days is None:
            await reply(message, views.plain(t("rising_usage", lang, max=MAX_DAYS, default=DEFAULT_DAYS)))
            return
        risers = await self.runner.read(self.papers.rising, days, self.clock(), self.list_size)
        items = paper_items([r.paper for r in risers])
        sent = await reply(message, rising_view(risers, days, lang), reply_markup=paper_keyboard(items, lang))
        await self.contexts.remember(sent, "rising", items)
