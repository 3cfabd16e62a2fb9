"""What each reply looks like, as :mod:`render` spans. Links are built only from our own metadata.

Paper titles, summaries, authors, answers and user input are always plain-text spans, so they are escaped
on rendering whatever characters they hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.telegram.render import (
    Span,
    Tag,
    bold,
    code,
    from_markdown,
    italic,
    join,
    link,
    link_markers,
    text,
    to_plain,
    within,
)
from bot.telegram.texts import t, votes_text
from loaders.digest import SECTIONS, arxiv_id_from, arxiv_url
from rag.answer import Answer, Found
from rag.briefing import Briefing, BriefItem
from rag.ingest import IngestReport
from rag.rising import Riser
from rag.storage.catalog import StoredPaper

# An answer longer than this (visible characters) shows its sources folded (an expandable blockquote).
LONG_ANSWER_CHARS = 1200
MAX_AUTHORS = 12
MAX_PROBLEMS = 10


def paper_link(arxiv_id: str) -> str | None:
    """The arXiv page of a well-formed id; None for anything else (never a URL taken from text)."""
    return arxiv_url(arxiv_id) if arxiv_id_from(arxiv_id) == arxiv_id else None


def titled(label: str, arxiv_id: str) -> Span:
    """``label`` linked to the paper's arXiv page when the id is well formed, else plain."""
    url = paper_link(arxiv_id)
    return link(label, url) if url else text(label)


def plain(message: str) -> list[Span]:
    return [text(message)]


def help_view(lang: str, username: str, *, private: bool, admin: bool) -> list[Span]:
    how = t("help_private", lang) if private else t("help_group", lang, username=username)
    return join([bold(t("greeting", lang))], [text(how)], [text(t("help_commands", lang))],
                [italic(t("help_admin", lang))] if admin else [])


def answer_view(answer: Answer, notice: str | None = None) -> list[Span]:
    """The answer (the model's Markdown as Telegram formatting; extractive text as written) with its [n]
    markers linked, then the cited papers as ``[n] title`` links, folded into an expandable quote when
    the answer is long."""
    links = {c.n: c.arxiv_id for c in answer.citations}
    prose = from_markdown(answer.text) if answer.llm.get("used") else [text(answer.text)]
    body = link_markers(prose, lambda n: paper_link(links[n]) if n in links else None)
    sources: list[Span] = []
    if answer.citations:
        rows: list[Span] = []
        for c in answer.citations:
            rows += [text("\n" if rows else ""), titled(f"[{c.n}] {c.title}", c.arxiv_id),
                     text(f" — {c.date} · {votes_text(c.votes, answer.language)}")]
        long = len(to_plain(body)) + len(to_plain(rows)) > LONG_ANSWER_CHARS
        sources = [bold(t("sources", answer.language)), text("\n"),
                   *(within(Tag("blockquote", expandable=True), rows) if long else rows)]
    return join([italic(notice)] if notice else [], body, sources)


def paper_rows(papers: Sequence[StoredPaper], lang: str) -> list[Span]:
    """A numbered list: linked title, then date, votes and the id for /paper."""
    rows: list[Span] = []
    for n, paper in enumerate(papers, start=1):
        if rows:
            rows.append(text("\n"))
        rows += [text(f"{n}. "), titled(paper.title, paper.arxiv_id),
                 text(f"\n    {paper.date} · {votes_text(paper.votes, lang)} · "), code(paper.arxiv_id)]
    return rows


def top_view(date: str, papers: Sequence[StoredPaper], lang: str) -> list[Span]:
    return join([bold(t("top_head", lang, date=date))], paper_rows(papers, lang))


def unknown_date_view(asked: str, dates: Sequence[str], lang: str, shown: int = 15) -> list[Span]:
    if not dates:
        return plain(t("empty_library", lang))
    listed = ", ".join(dates[:shown]) + (f", … ({len(dates)})" if len(dates) > shown else "")
    return plain(t("no_digest", lang, date=asked, dates=listed))


def paper_view(paper: StoredPaper, lang: str) -> list[Span]:
    head = [bold(paper.title)]
    facts = f"{paper.date} · {votes_text(paper.votes, lang)} · arXiv "
    meta: list[Span] = [text(facts), code(paper.arxiv_id)]
    others = [d for d in paper.dates if d != paper.date]
    if others:
        meta.append(text(f" ({t('also_in', lang)}: {', '.join(others)})"))
    authors = list(paper.authors[:MAX_AUTHORS]) + (["et al."] if len(paper.authors) > MAX_AUTHORS else [])
    if authors:
        meta += [text("\n"), italic(t("authors", lang)), text(": " + ", ".join(authors))]
    sections = [[bold(label), text("\n" + getattr(paper, key))] for key, label in SECTIONS if getattr(paper, key)]
    url = paper_link(paper.arxiv_id)
    return join(head, meta, *sections, [link(url, url)] if url else [])


def search_view(query: str, found: Found, lang: str) -> list[Span]:
    papers = [source.paper for source in found.sources]
    if not papers:
        return plain(t("search_none", lang, query=query))
    return join([bold(t("search_head", lang, query=query))],
                [] if found.covered else [italic(t("search_weak", lang))],
                paper_rows(papers, lang))


def stats_view(stats: Mapping[str, Any], counters: Mapping[str, int | float]) -> list[Span]:
    dates = list(stats.get("date_list") or [])
    rows = [
        f"papers: {stats.get('papers', 0)}",
        f"digest dates: {stats.get('dates', 0)} ({', '.join(dates[:10])}{' …' if len(dates) > 10 else ''})",
        f"sections: {stats.get('sections', 0)}",
        f"vectors: {stats.get('vector_nodes', 0)} ({stats.get('collection', '')})",
        f"lexical: {stats.get('lexical_nodes', 0)}",
        f"revision: {stats.get('revision', 0)}",
    ]
    bot_rows = [f"{name}: {value:g}" if isinstance(value, float) else f"{name}: {value}"
                for name, value in counters.items()]
    return join([bold("Index")], [code("\n".join(rows))], [bold("Bot")], [code("\n".join(bot_rows))])


def ingest_view(name: str, report: IngestReport, lang: str) -> list[Span]:
    ok = not report.unreadable and not any(p.severity == "error" for p in report.problems)
    head = [bold(("✅ " if ok else "⚠️ ") + name), text("\n" + report.summary())]
    problems: list[Span] = []
    if report.problems:
        lines = [f"{name}:{p.line}: {p.severity}: {p.message}" for p in report.problems[:MAX_PROBLEMS]]
        if len(report.problems) > MAX_PROBLEMS:
            lines.append(t("upload_more_problems", lang, count=len(report.problems) - MAX_PROBLEMS))
        problems = [bold(t("upload_problems", lang)), text("\n" + "\n".join(lines))]
    return join(head, problems)


def briefing_view(briefing: Briefing, lang: str, *, footer: bool = True, rising: Sequence[Riser] = ()) -> list[Span]:
    """The morning push: the digest's top papers (linked title, votes, one-line gist, id), then the
    reader's topic matches beyond the top list, then a short line of papers gaining votes fastest."""
    head = [bold(t("push_head", lang, date=briefing.date, shown=len(briefing.top), total=briefing.total))]
    top = _brief_rows(briefing.top, lang)
    topical: list[Span] = []
    if briefing.topical:
        topical = [bold(t("push_topics", lang, topics=", ".join(briefing.topics))), text("\n"),
                   *_brief_rows(briefing.topical, lang)]
    return join(head, top, topical, rising_line(rising, lang), [italic(t("push_footer", lang))] if footer else [])


def rising_line(risers: Sequence[Riser], lang: str) -> list[Span]:
    """"📈 Rising: title (+42) · title (+30)", titles linked; nothing when no paper is rising."""
    line: list[Span] = [bold(t("push_rising", lang)), text(": ")] if risers else []
    for index, riser in enumerate(risers):
        line += [text(" · ") if index else text(""), titled(riser.paper.title, riser.paper.arxiv_id),
                 text(f" (+{riser.gained})")]
    return line


def _brief_rows(items: Sequence[BriefItem], lang: str) -> list[Span]:
    rows: list[Span] = []
    for entry in items:
        if rows:
            rows.append(text("\n\n"))
        tags = f" · 🔎 {', '.join(entry.topics)}" if entry.topics else ""
        rows += [text(f"{entry.rank}. "), titled(entry.title, entry.arxiv_id),
                 text(f"\n👍 {'?' if entry.votes is None else entry.votes} · "), code(entry.arxiv_id),
                 text(f"{tags}\n{entry.gist}")]
    return rows
