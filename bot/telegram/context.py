"""Replies keep context: a reply to a push, a ``/top`` list, an answer or a summary is about that message's
papers.

:func:`resolve_references` turns "두 번째 논문", "2번", "the second", "#2", "1 and 3", "1~3번", "마지막" into
the papers of the replied-to message, deterministically and before anything else; the engine then sees
only those papers. A reply naming none of them ("what dataset did it use?") is searched among all the
message's papers. The message → papers records live in :class:`rag.storage.contexts.ContextStore`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Message

from rag.storage.contexts import ContextItem, ContextStore, MessageContext

RECENT = 256  # records also kept in memory (see ReplyContexts)
FRESH_MESSAGE_S = 10.0  # a reply to a bot message this young may arrive before the message's record …
FRESH_GRACE_S = 1.0  # … and waits at most this long for it
MAX_NUMBER = 99  # numbers above this are years, votes or model sizes, never a list position

_KO_ORDINALS = {"첫": 1, "한": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "네": 4, "넷": 4, "다섯": 5, "여섯": 6,
                "일곱": 7, "여덟": 8, "아홉": 9, "열": 10}
_EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                "eighth": 8, "ninth": 9, "tenth": 10}
_EN_NOUNS = r"(?:one|ones|paper|papers|article|articles|item|items|entry|entries|result|results|link|study|work)"

# One reference each; ``strong`` ones count alone, ``weak`` ones (a bare "3", a lone "second") only next to
# another reference ("compare 1 and 3", "the first and second").
_ATOMS = re.compile(
    "|".join((
        r"(?P<hash>#\s?(?P<hash_n>\d{1,2}))(?!\d)",
        r"(?P<bracket>\[(?P<bracket_n>\d{1,2})\])",
        r"(?P<beon>(?<![\d.])(?P<beon_n>\d{1,2})\s?번(?:째)?)",
        r"(?P<nth>(?<![\d.])(?P<nth_n>\d{1,2})(?:st|nd|rd|th)\b)",
        r"(?P<noun>\b(?:number|no\.|paper|papers|item|items|article|articles|entry|result)\s?(?P<noun_n>\d{1,2})\b"
        r"(?![.\d]))",
        r"(?P<ko>(?P<ko_w>첫|한|두|둘|세|셋|네|넷|다섯|여섯|일곱|여덟|아홉|열)\s?(?:번째|째))",
        rf"(?P<last>\bthe\s+last\b(?!\s+(?:week|month|year|day|time|digest)s?\b)|\blast\s+{_EN_NOUNS}\b"
        r"|마지막(?!\s?(?:주|달|날|해|다이제스트)))",
        r"(?P<en>\b(?P<en_the>the\s+)?(?P<en_w>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
        rf"\b(?P<en_noun>\s+{_EN_NOUNS}\b)?)",
        # A bare number: not part of a decimal, a version, "3D", "100표", "50%", "2024년", "GPT-4".
        r"(?P<bare>(?<![\w.\-/:])(?P<bare_n>\d{1,2})(?![\w.%:/]|\s?(?:표|개|명|년|월|일|위|%|votes?\b|days?\b)))",
    )),
    re.IGNORECASE,
)
# What may stand between two references of one list: "1 and 3", "1, 3", "1과 3", "1번이랑 3번", "1~3".
_JOIN = re.compile(r"\s*(?:,|and|&|or|vs\.?|versus|/|와|과|랑|이랑|하고|및|또는|그리고|~|–|-|to|부터)?\s*",
                   re.IGNORECASE)
_RANGE = re.compile(r"\s*(?:~|–|-|to|부터)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    value: int  # a shown number, or a position when ``position``; -1: the last
    strong: bool
    position: bool  # "the second" is the second paper listed, whatever number it shows


def _atoms(question: str) -> list[_Atom]:
    out: list[_Atom] = []
    for m in _ATOMS.finditer(question):
        kind = next(k for k in ("hash", "bracket", "beon", "nth", "noun", "ko", "last", "en", "bare") if m.group(k))
        if kind in ("hash", "bracket", "beon", "nth", "noun"):
            value = int(m.group(f"{kind}_n"))
            out.append(_Atom(m.start(), m.end(), value, True, kind == "nth"))
        elif kind == "ko":
            out.append(_Atom(m.start(), m.end(), _KO_ORDINALS[m.group("ko_w")], True, True))
        elif kind == "last":
            out.append(_Atom(m.start(), m.end(), -1, True, True))
        elif kind == "en":
            strong = bool(m.group("en_the") or m.group("en_noun"))
            out.append(_Atom(m.start(), m.end(), _EN_ORDINALS[m.group("en_w").lower()], strong, True))
        else:
            out.append(_Atom(m.start(), m.end(), int(m.group("bare_n")), False, False))
    return [a for a in out if a.value <= MAX_NUMBER]


def resolve_references(question: str, numbers: Sequence[int]) -> list[int]:
    """The positions (0-based, in order of mention, no repeats) of the listed papers ``question`` refers to.

    ``numbers`` are the numbers shown next to the papers, in display order (1, 2, 3 … for a ``/top`` list
    and citations; digest ranks in a push, where topic matches may show 8 or 12). An explicit number ("#8",
    "8번", "8") means the paper showing it, or the 8th listed when none shows it; an ordinal word ("the
    second", "두 번째") means the paper listed at that place. References that fit no paper are ignored.
    """
    atoms = _atoms(question)
    # Group atoms into lists: neighbours joined only by "and", ",", "과", "~" …
    groups: list[list[tuple[_Atom, str]]] = []
    for index, atom in enumerate(atoms):
        gap = question[atoms[index - 1].end:atom.start] if index else None
        if gap is not None and groups and _JOIN.fullmatch(gap):
            groups[-1].append((atom, gap))
        else:
            groups.append([(atom, "")])
    positions: list[int] = []
    for group in groups:
        if len(group) == 1 and not group[0][0].strong:
            continue  # a lone bare number or a lone "second" is not a reference
        previous: int | None = None
        for atom, gap in group:
            found = _position(atom, numbers)
            if found is None:
                previous = None
                continue
            if previous is not None and _RANGE.fullmatch(gap) and found > previous:
                span = range(previous + 1, found + 1)  # "1~3번", "papers 2 to 4"
            else:
                span = range(found, found + 1)
            for position in span:
                if position not in positions:
                    positions.append(position)
            previous = found
    return positions


def _position(atom: _Atom, numbers: Sequence[int]) -> int | None:
    if atom.value == -1:
        return len(numbers) - 1 if numbers else None
    if not atom.position and atom.value in numbers:
        return list(numbers).index(atom.value)
    if 1 <= atom.value <= len(numbers):
        return atom.value - 1
    return None


@dataclass(frozen=True)
class Scope:
    """The papers a reply is about: named ones (``exact``), or every paper of the replied-to message."""

    arxiv_ids: list[str]
    exact: bool
    kind: str

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``Papers.ask``: answer about these papers only."""
        return {"arxiv_ids": self.arxiv_ids, "named": self.exact}


def scope_for(context: MessageContext, question: str) -> Scope:
    positions = resolve_references(question, [item.number for item in context.items])
    if positions:
        return Scope([context.items[p].arxiv_id for p in positions], True, context.kind)
    return Scope(context.arxiv_ids, False, context.kind)


class ReplyContexts:
    """The bot's side of the context store: remember what it sent, find what a reply is about. Store calls
    run in a thread (SQLite may wait for another process's write, e.g. ``papersbot push`` from cron).

    The newest records are also kept in memory, written before the first await: a reply (or a button press)
    that arrives while the SQLite write is still queued finds its message's papers all the same."""

    def __init__(self, store: ContextStore, recent: int = RECENT) -> None:
        self.store = store
        self._recent: OrderedDict[tuple[int, int], MessageContext] = OrderedDict()
        self._recent_size = recent

    async def remember(self, messages: Sequence[Message], kind: str, items: Sequence[ContextItem]) -> None:
        if messages:
            await self.remember_ids(messages[0].chat.id, [m.message_id for m in messages], kind, items)

    async def remember_ids(self, chat_id: int, ids: Sequence[int], kind: str, items: Sequence[ContextItem]) -> None:
        if not ids or not items:
            return
        now = datetime.now(UTC)
        for message_id in ids:
            self._recent[(chat_id, message_id)] = MessageContext(chat_id, message_id, kind, tuple(items), now)
            self._recent.move_to_end((chat_id, message_id))
        while len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)
        await asyncio.to_thread(self.store.remember, chat_id, ids, kind, list(items), now)

    async def lookup(self, chat_id: int, message_id: int) -> MessageContext | None:
        recent = self._recent.get((chat_id, message_id))
        if recent is not None and datetime.now(UTC) - recent.created_at < self.store.keep:
            return recent
        return await asyncio.to_thread(self.store.get, chat_id, message_id)

    async def scope(self, message: Message, question: str, bot_id: int) -> Scope | None:
        """What ``message`` (a question) is about when it replies to one of the bot's messages with papers."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
            return None
        context = await self.lookup(message.chat.id, replied.message_id)
        # A reply can overtake the record of a message sent a moment ago (its sender is still between
        # Telegram's answer and remember()); give a fresh message a short grace.
        deadline = time.monotonic() + FRESH_GRACE_S
        while context is None and time.monotonic() < deadline and _age_s(replied) < FRESH_MESSAGE_S:
            await asyncio.sleep(0.05)
            context = self._recent.get((message.chat.id, replied.message_id))
        return scope_for(context, question) if context is not None else None


def _age_s(message: Message) -> float:
    return (datetime.now(UTC) - message.date).total_seconds()


def numbered(arxiv_ids: Sequence[str]) -> list[ContextItem]:
    """Items numbered 1, 2, 3 … (a ``/top`` list, an answer's citations)."""
    return [ContextItem(n, arxiv_id) for n, arxiv_id in enumerate(arxiv_ids, start=1)]
