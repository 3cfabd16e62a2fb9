"""Citation validation: the model's [n] markers are checked against what was retrieved, never trusted.

After generation: markers naming no retrieved source are dropped, the rest are renumbered in order of
first use (duplicates merged: "[2][2]" → "[1]"), and any link the model wrote is removed, because links
are always rendered from our own metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER_GROUP = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((?:https?://|www\.)[^)\s]*\)")
_URL = re.compile(r"<?(?:https?://|www\.)[^\s<>()\[\]]+>?")
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class Citation:
    n: int
    arxiv_id: str
    title: str
    url: str
    date: str
    votes: int | None  # None: unknown

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "arxiv_id": self.arxiv_id, "title": self.title, "url": self.url, "date": self.date,
                "votes": self.votes}


def strip_links(text: str) -> str:
    """Remove model-written links: markdown links keep their text, bare URLs go."""
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _URL.sub("", text)
    return _SPACES.sub(" ", text)


def validate(text: str, source_count: int) -> tuple[str, list[int]]:
    """Return the text with valid, renumbered markers and the source indexes (0-based) cited, in order.

    ``source_count`` is how many sources the model was shown as [1]..[source_count].
    """
    text = strip_links(text)
    order: list[int] = []

    def renumber(match: re.Match[str]) -> str:
        numbers = [int(part) for part in re.split(r"[,;]", match.group(1)) if part.strip()]
        kept: list[int] = []
        for number in numbers:
            if 1 <= number <= source_count:
                if number - 1 not in order:
                    order.append(number - 1)
                new = order.index(number - 1) + 1
                if new not in kept:
                    kept.append(new)
        return "".join(f"[{n}]" for n in kept)

    text = _MARKER_GROUP.sub(renumber, text)
    text = re.sub(r"(\[\d+\])(?:\1)+", r"\1", text)  # "[1][1]" → "[1]"
    text = re.sub(r"[ \t]+([.,;:!?。])", r"\1", text)  # the space a dropped marker leaves before punctuation
    return text.strip(), order
