"""Rising papers: whose upvotes grew most in a window, from the catalog's vote history.

The sync records every upvote count it sees (``Catalog.record_votes``; the newest days are read again every
few hours). A paper's gain over a window is its last count minus its count at the window's start (the last
observation at or before it, or the first one inside the window for a paper first seen then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rag.storage.catalog import Catalog, StoredPaper

DEFAULT_DAYS = 7
MAX_DAYS = 90


@dataclass(frozen=True)
class Riser:
    paper: StoredPaper
    gained: int
    votes: int  # the newest count seen
    since: str  # when the baseline count was seen (UTC ISO)


def rising(catalog: Catalog, days: float, now: datetime, limit: int = 10) -> list[Riser]:
    """The ``limit`` papers that gained most upvotes in the ``days`` before ``now`` (ties: more votes first),
    only papers that gained at all and are still in the catalog."""
    history = catalog.votes_since(now - timedelta(days=days), now)
    gains: list[tuple[str, int, int, str]] = []
    for arxiv_id, seen in history.items():
        (first_at, first), (_, last) = seen[0], seen[-1]
        if last > first:
            gains.append((arxiv_id, last - first, last, first_at))
    gains.sort(key=lambda g: (-g[1], -g[2], g[0]))
    papers = catalog.get_many(g[0] for g in gains[: limit * 2])  # a few spare for papers no longer stored
    return [Riser(papers[arxiv_id], gained, votes, since)
            for arxiv_id, gained, votes, since in gains if arxiv_id in papers][:limit]
