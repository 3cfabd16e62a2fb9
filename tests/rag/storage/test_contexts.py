"""The message → papers store behind replies and buttons: survives reopening, expires, prunes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.storage.contexts import ContextItem, ContextStore

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
ITEMS = [ContextItem(1, "2502.01061"), ContextItem(2, "2502.01237"), ContextItem(8, "2502.01068", ("KV cache",))]


def test_remembered_messages_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "contexts.sqlite3"
    store = ContextStore(path, keep_days=30)
    store.remember(-100, [41, 42], "answer", ITEMS, now=NOW)  # an answer split in two parts
    store.remember(-100, [43], "top", [], now=NOW)  # a message without papers is not stored
    store.close()

    store = ContextStore(path, keep_days=30)
    for message_id in (41, 42):
        found = store.get(-100, message_id, now=NOW + timedelta(days=1))
        assert found is not None and found.kind == "answer" and found.items == tuple(ITEMS)
        assert found.arxiv_ids == ["2502.01061", "2502.01237", "2502.01068"]
        assert found.item(8) == ContextItem(8, "2502.01068", ("KV cache",)) and found.item(3) is None
    assert store.get(-100, 43, now=NOW) is None and store.get(-101, 41, now=NOW) is None
    assert store.count() == 2
    store.close()


def test_records_expire_after_keep_days_and_are_pruned(tmp_path: Path) -> None:
    store = ContextStore(tmp_path / "c.sqlite3", keep_days=30)
    store.remember(1, [1], "push", ITEMS, now=NOW)
    store.remember(1, [2], "push", ITEMS, now=NOW + timedelta(days=20))
    later = NOW + timedelta(days=31)
    assert store.get(1, 1, now=later) is None  # expired: ignored even before pruning
    assert store.get(1, 2, now=later) is not None
    assert store.prune(now=later) == 1 and store.count() == 1
    # remember() prunes on its own (at most once an hour).
    store.remember(1, [3], "push", ITEMS, now=NOW + timedelta(days=60))
    assert store.count() == 1 and store.get(1, 3, now=NOW + timedelta(days=60)) is not None
    store.close()


def test_remembering_a_message_again_replaces_its_papers(tmp_path: Path) -> None:
    store = ContextStore(tmp_path / "c.sqlite3", keep_days=30)
    store.remember(5, [9], "top", ITEMS, now=NOW)
    store.remember(5, [9], "paper", [ContextItem(1, "2411.13676")], now=NOW)
    found = store.get(5, 9, now=NOW)
    assert found is not None and found.kind == "paper" and found.arxiv_ids == ["2411.13676"]
    store.close()


def test_many_threads_record_and_read_at_once(tmp_path: Path) -> None:
    """The bot records and looks up contexts from many worker threads at once (``asyncio.to_thread``): a
    connection shared without a lock failed with "cannot start a transaction within a transaction" and a
    read could land inside another thread's open transaction."""
    store = ContextStore(tmp_path / "c.sqlite3", keep_days=30)
    chats, rounds = 16, 40
    start = threading.Barrier(chats)

    def chat(chat_id: int) -> list[int]:
        start.wait()
        seen = []
        for message_id in range(rounds):
            store.remember(chat_id, [message_id], "answer", ITEMS, now=NOW + timedelta(seconds=message_id))
            found = store.get(chat_id, message_id, now=NOW + timedelta(seconds=message_id))
            assert found is not None and found.items == tuple(ITEMS)
            seen.append(message_id)
            store.prune(now=NOW)  # a write that deletes nothing, interleaved with the others' transactions
        return seen

    with ThreadPoolExecutor(max_workers=chats) as pool:
        results = list(pool.map(chat, range(chats)))  # re-raises the first thread's error
    assert results == [list(range(rounds))] * chats
    assert store.count() == chats * rounds
    store.close()
