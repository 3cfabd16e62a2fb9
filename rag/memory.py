"""Bounded conversation memory for follow-ups, one per conversation id (a Telegram chat, a REPL session)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    cited: list[str] = field(default_factory=list)  # arXiv ids cited, in citation order


class ConversationMemory:
    """The last ``turns`` turns of the ``conversations`` most recently active conversations."""

    def __init__(self, turns: int, conversations: int) -> None:
        self.max_turns = turns
        self.max_conversations = conversations
        self._data: OrderedDict[str, deque[Turn]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, conversation_id: str | None, turn: Turn) -> None:
        if conversation_id is None or self.max_turns == 0:
            return
        with self._lock:
            history = self._data.pop(conversation_id, None) or deque(maxlen=self.max_turns)
            history.append(turn)
            self._data[conversation_id] = history
            while len(self._data) > self.max_conversations:
                self._data.popitem(last=False)

    def turns(self, conversation_id: str | None) -> list[Turn]:
        if conversation_id is None:
            return []
        with self._lock:
            return list(self._data.get(conversation_id, ()))

    def last(self, conversation_id: str | None) -> Turn | None:
        history = self.turns(conversation_id)
        return history[-1] if history else None

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            self._data.pop(conversation_id, None)
