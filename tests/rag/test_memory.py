"""Conversation memory: the last N turns per conversation, the M most recently active conversations."""

from __future__ import annotations

from rag.memory import ConversationMemory, Turn


def turn(n: int) -> Turn:
    return Turn(question=f"q{n}", answer=f"a{n}", cited=[f"2502.0000{n}"])


def test_keeps_the_last_turns_in_order() -> None:
    memory = ConversationMemory(turns=3, conversations=10)
    for n in range(1, 6):
        memory.add("chat", turn(n))
    assert [t.question for t in memory.turns("chat")] == ["q3", "q4", "q5"]
    assert memory.last("chat") == turn(5)
    assert memory.turns("other") == [] and memory.last("other") is None


def test_turns_returns_a_copy() -> None:
    memory = ConversationMemory(turns=3, conversations=10)
    memory.add("chat", turn(1))
    memory.turns("chat").append(turn(2))
    assert memory.turns("chat") == [turn(1)]


def test_the_least_recently_active_conversation_is_dropped() -> None:
    memory = ConversationMemory(turns=2, conversations=2)
    memory.add("a", turn(1))
    memory.add("b", turn(2))
    memory.add("a", turn(3))  # a is now the more recent
    memory.add("c", turn(4))
    assert memory.turns("b") == []
    assert memory.turns("a") == [turn(1), turn(3)] and memory.turns("c") == [turn(4)]
    memory.add("b", turn(5))  # b starts afresh; a (older than c) goes
    assert memory.turns("a") == [] and memory.turns("b") == [turn(5)] and memory.turns("c") == [turn(4)]


def test_reading_does_not_count_as_activity() -> None:
    memory = ConversationMemory(turns=2, conversations=2)
    memory.add("a", turn(1))
    memory.add("b", turn(2))
    assert memory.turns("a") == [turn(1)]
    memory.add("c", turn(3))
    assert memory.turns("a") == [] and memory.turns("b") == [turn(2)]


def test_no_id_or_no_turns_remembers_nothing() -> None:
    memory = ConversationMemory(turns=3, conversations=10)
    memory.add(None, turn(1))
    assert memory.turns(None) == [] and memory.last(None) is None
    off = ConversationMemory(turns=0, conversations=10)
    off.add("chat", turn(1))
    assert off.turns("chat") == []


def test_reset_forgets_one_conversation() -> None:
    memory = ConversationMemory(turns=3, conversations=10)
    memory.add("a", turn(1))
    memory.add("b", turn(2))
    memory.reset("a")
    memory.reset("never-seen")
    assert memory.turns("a") == [] and memory.turns("b") == [turn(2)]
    memory.add("a", turn(3))
    assert memory.turns("a") == [turn(3)]
