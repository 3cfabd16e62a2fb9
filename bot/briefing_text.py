"""A briefing as plain text, in Korean or English: what ``papersbot top`` prints (and what people paste
elsewhere). Telegram renders briefings its own way (``bot.telegram.views.briefing_view``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.briefing import Briefing, BriefItem


@dataclass(frozen=True)
class BriefingTexts:
    """A plain-text briefing's words in one language (``KO``, ``EN``)."""

    head: Callable[[str, int, int], str]  # (digest date, papers shown, papers in the digest)
    your_topics: str  # before the reader's topics, which head the papers matching them
    votes: Callable[[int], str]
    votes_unknown: str


KO = BriefingTexts(
    head=lambda date, shown, total: f"Hugging Face Daily Papers {date} — 추천 상위 {shown}편 (전체 {total}편)",
    your_topics="관심 주제: ",
    votes=lambda n: f"추천 {n}",
    votes_unknown="추천 수 미상",
)

EN = BriefingTexts(
    head=lambda date, shown, total: f"Hugging Face Daily Papers {date} — top {shown} of {total} by votes",
    your_topics="Your topics: ",
    votes=lambda n: f"{n} votes",
    votes_unknown="votes unknown",
)


def render_text(briefing: Briefing, lang: str = "en") -> str:
    """The briefing as plain text: Korean for ``ko``, English for anything else."""
    say = KO if lang == "ko" else EN
    lines = [say.head(briefing.date, len(briefing.top), briefing.total), ""]
    for entry in briefing.top:
        lines += _item_lines(entry, say)
    if briefing.topical:
        lines.append(say.your_topics + ", ".join(briefing.topics))
        lines.append("")
        for entry in briefing.topical:
            lines += _item_lines(entry, say)
    return "\n".join(lines).rstrip() + "\n"


def _item_lines(entry: BriefItem, say: BriefingTexts) -> list[str]:
    votes = say.votes_unknown if entry.votes is None else say.votes(entry.votes)
    tags = f" [{', '.join(entry.topics)}]" if entry.topics else ""
    return [f"{entry.rank}. {entry.title} ({votes}){tags}", f"   {entry.gist}", f"   {entry.url}", ""]
