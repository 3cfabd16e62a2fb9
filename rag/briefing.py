"""The daily briefing: one digest's most-voted papers with a one-line gist each, plus papers matching a
reader's topics. It is what the morning push sends and what ``papersbot top`` prints; both render it in
the bot (``bot.telegram.views``, ``bot.briefing_text``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from loaders.digest import arxiv_url
from rag.storage.catalog import Catalog, StoredPaper
from rag.text import KoreanTokenizer, language, sentences
from rag.vectors import VectorIndex

GIST_CHARS = 160


@dataclass(frozen=True)
class BriefItem:
    rank: int  # by votes within the digest, 1 = most votes
    arxiv_id: str
    title: str
    votes: int | None  # None: unknown
    gist: str
    topics: tuple[str, ...] = ()  # the reader's topics this paper matches

    @property
    def url(self) -> str:
        return arxiv_url(self.arxiv_id)


@dataclass(frozen=True)
class Briefing:
    date: str
    total: int  # papers in the digest
    top: list[BriefItem]
    topical: list[BriefItem] = field(default_factory=list)  # topic matches beyond ``top``
    topics: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def item(entry: BriefItem) -> dict[str, Any]:
            return {"rank": entry.rank, "arxiv_id": entry.arxiv_id, "title": entry.title, "url": entry.url,
                    "votes": entry.votes, "gist": entry.gist, "topics": list(entry.topics)}

        return {"date": self.date, "total": self.total, "topics": list(self.topics),
                "top": [item(e) for e in self.top], "topical": [item(e) for e in self.topical]}


def gist(text: str, limit: int = GIST_CHARS) -> str:
    """The first sentence of a summary, cut at a word boundary near ``limit`` characters."""
    text = " ".join(text.split())
    first = next(iter(sentences(text)), text)
    if len(first) <= limit:
        return first
    cut = first[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.6 else cut).rstrip(" ,;:") + "…"


def parse_topics(text: str, limit: int) -> list[str]:
    """``"diffusion, RL; 3D"`` → ``["diffusion", "RL", "3D"]``: comma/semicolon separated, de-duplicated
    case-insensitively, at most ``limit``, each at most 40 characters."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in text.replace(";", ",").replace("，", ",").split(","):
        topic = " ".join(raw.split())[:40].strip()
        if topic and topic.lower() not in seen:
            seen.add(topic.lower())
            out.append(topic)
    return out[:limit]


@dataclass(frozen=True)
class TopicMatcher:
    """What matching papers to a reader's topics needs: words (the tokenizer) and meaning (the embedder
    and the vector index)."""

    tokenizer: KoreanTokenizer
    embedder: BaseEmbedding
    vectors: VectorIndex


def compose(catalog: Catalog, matcher: TopicMatcher, date: str | None = None, *, limit: int,
            topics: Sequence[str] = (), topic_limit: int = 5, min_relevance: float = 0.88) -> Briefing | None:
    """The briefing of ``date`` (default: the newest digest); None when that date has no papers."""
    if date is None:
        dates = catalog.dates()
        if not dates:
            return None
        date = dates[0]
    papers = catalog.top_on(date)
    if not papers:
        return None
    matches = match_topics(matcher, papers, topics, min_relevance) if topics else {}

    def item(rank: int, paper: StoredPaper) -> BriefItem:
        return BriefItem(rank, paper.arxiv_id, paper.title, paper.votes, gist(paper.whats_new or paper.digest_text),
                         tuple(matches.get(paper.arxiv_id, ())))

    ranked = [item(rank, paper) for rank, paper in enumerate(papers, start=1)]
    top = ranked[:limit]
    topical = [entry for entry in ranked[limit:] if entry.topics][:topic_limit]
    return Briefing(date=date, total=len(papers), top=top, topical=topical, topics=tuple(topics))


def match_topics(matcher: TopicMatcher, papers: Sequence[StoredPaper], topics: Sequence[str],
                 min_relevance: float) -> dict[str, list[str]]:
    """arxiv_id → the topics it matches, in the reader's order.

    A paper matches a topic when every word of the topic occurs in its title or summaries (Kiwi morphemes,
    so "확산 모델" finds "확산모델을"), or when one of its sections is close in meaning to the topic (e5
    cosine ≥ ``min_relevance``), which catches "RL" in a summary that only says "강화 학습".
    """
    tokenizer = matcher.tokenizer
    texts = {p.arxiv_id: _paper_text(p) for p in papers}
    words = {arxiv_id: set(tokenizer.tokens(text)) for arxiv_id, text in texts.items()}
    ids = [p.arxiv_id for p in papers]
    out: dict[str, list[str]] = {}
    for topic in topics:
        # English words whole ("RL", "3D", "diffusion" in "Diffusion-based", "agents" finds "agent"), Korean
        # words by their morphemes ("확산 모델" finds "확산모델을"); every word of the topic must occur.
        latin = [_word_pattern(w) for w in topic.split() if language(w) == "en"]
        korean = set(tokenizer.tokens(" ".join(w for w in topic.split() if language(w) == "ko")))
        # A topic of stop words only ("논문") has no word left to require: it matches by meaning alone,
        # not every paper of the day.
        hits = ({i for i in ids if all(p.search(texts[i]) for p in latin) and korean <= words[i]}
                if latin or korean else set())
        embedding = matcher.embedder.get_query_embedding(topic)
        for hit in matcher.vectors.query(embedding, k=3 * len(ids), arxiv_ids=ids):
            if hit.score >= min_relevance:
                hits.add(hit.arxiv_id)
        for arxiv_id in ids:
            if arxiv_id in hits:
                out.setdefault(arxiv_id, []).append(topic)
    return out


def _word_pattern(word: str) -> re.Pattern[str]:
    stem = word[:-1] if len(word) > 3 and word.lower().endswith("s") else word
    return re.compile(rf"(?<![^\W_]){re.escape(stem)}(?:s|es)?(?![^\W_])", re.IGNORECASE)


def _paper_text(paper: StoredPaper) -> str:
    return "\n".join((paper.title, *paper.sections().values()))

