"""Inline mode: ``@yourbot words`` in any chat lists up to 10 matching papers; picking one posts a card
(title, date, votes, first sentence, arXiv link). An empty query lists the newest digest's top papers.

Telegram sends inline queries only once inline mode is switched on with @BotFather (``/setinline``; see the
README). Results depend on the user's language (the first sentence is the English abstract's for English
clients when the paper has one), so they are cached per user.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.telegram.blocking import BlockingRunner
from bot.telegram.render import Span, bold, join, link, render_parts, text
from bot.telegram.texts import lang_of, votes_text
from bot.telegram.views import paper_link
from rag.briefing import gist
from rag.service import Papers
from rag.storage.catalog import StoredPaper

Context = ContextTypes.DEFAULT_TYPE
MAX_RESULTS = 10  # what the issue asks; Telegram allows 50
CACHE_S = 60
DESCRIPTION_CHARS = 120


def first_sentence(paper: StoredPaper, lang: str, limit: int = 200) -> str:
    """The paper's first sentence: the English abstract's for English readers when there is one, else the
    digest's (Korean) What's New or summary."""
    source = paper.abstract if lang == "en" and paper.abstract else (paper.whats_new or paper.digest_text)
    return gist(source, limit) if source else ""


def card(paper: StoredPaper, lang: str) -> list[Span]:
    """What an inline result posts: the title, date and votes, the first sentence, the arXiv link."""
    url = paper_link(paper.arxiv_id)
    sentence = first_sentence(paper, lang)
    return join([bold(paper.title)], [text(f"{paper.date} · {votes_text(paper.votes, lang)} · arXiv {paper.arxiv_id}")],
                [text(sentence)] if sentence else [], [link(url, url)] if url else [])


def result(paper: StoredPaper, lang: str) -> InlineQueryResultArticle:
    part = render_parts(card(paper, lang))[0]  # a card is far below one message
    description = f"{paper.date} · {votes_text(paper.votes, lang)} · {first_sentence(paper, lang, DESCRIPTION_CHARS)}"
    return InlineQueryResultArticle(
        id=paper.arxiv_id, title=paper.title, description=description, url=paper_link(paper.arxiv_id),
        input_message_content=InputTextMessageContent(part.html, parse_mode=ParseMode.HTML))


class InlineHandlers:
    def __init__(self, papers: Papers, runner: BlockingRunner) -> None:
        self.papers = papers
        self.runner = runner

    async def on_inline_query(self, update: Update, context: Context) -> None:
        query = update.inline_query
        if query is None:  # pragma: no cover - registered for inline queries only
            return
        lang = lang_of(query.from_user)
        papers = await self.runner.read(self._papers, " ".join(query.query.split()))
        await query.answer([result(p, lang) for p in papers], cache_time=CACHE_S, is_personal=True)

    def _papers(self, words: str) -> Sequence[StoredPaper]:
        if not words:
            dates = self.papers.dates()
            return self.papers.top_on(dates[0], MAX_RESULTS) if dates else []
        return [source.paper for source in self.papers.search(words, MAX_RESULTS).sources][:MAX_RESULTS]

