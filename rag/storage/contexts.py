"""Which papers a sent message was about: the memory behind replies and buttons (``contexts.sqlite3``).

The bot records, for every push, ``/top`` list, answer or summary it sends, the papers that message
shows, each with the number the reader sees next to it (a push numbers papers by their rank in the digest,
an answer by its citations). A reply to that message ("두 번째 논문 자세히", "compare 1 and 3") and a
button under it are resolved against this record, so they keep working after a restart. Records older
than ``keep_days`` are ignored and pruned.

Nothing here knows Telegram: a message is a (chat id, message id) pair.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.storage.sqlite import connect, migrate, transaction

_V1 = """
        CREATE TABLE contexts (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            kind TEXT NOT NULL,                  -- push, top, answer, paper, search, similar, rising
            items TEXT NOT NULL,                 -- JSON [[number, arxiv_id, [topics…]], …] in display order
            created_at TEXT NOT NULL,            -- UTC ISO time
            PRIMARY KEY (chat_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX contexts_by_age ON contexts(created_at)
"""

MIGRATIONS = (_V1,)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class ContextItem:
    """One paper of a message: the number shown next to it, its id, and the reader's topics it matched."""

    number: int
    arxiv_id: str
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageContext:
    chat_id: int
    message_id: int
    kind: str
    items: tuple[ContextItem, ...]
    created_at: datetime

    @property
    def arxiv_ids(self) -> list[str]:
        return [item.arxiv_id for item in self.items]

    def item(self, number: int) -> ContextItem | None:
        """The paper shown with ``number`` (None when the message shows no such number)."""
        return next((item for item in self.items if item.number == number), None)


class ContextStore:
    """Message → papers records. Safe to share between threads; writes are short transactions.

    The bot calls it from many worker threads at once (``asyncio.to_thread``), and one sqlite3 connection
    has one transaction state: a second thread's ``BEGIN`` inside the first's transaction fails ("cannot
    start a transaction within a transaction") and a read could see, or a ``COMMIT`` end, another thread's
    transaction. So every use of the connection holds ``_lock`` (the sqlite3 docs leave serializing a
    connection shared with ``check_same_thread=False`` to the user:
    https://docs.python.org/3/library/sqlite3.html#sqlite3.connect). Each use is microseconds long.
    """

    def __init__(self, path: Path, keep_days: int) -> None:
        self.path = path
        self.keep = timedelta(days=keep_days)
        self._conn = connect(path)
        migrate(self._conn, MIGRATIONS)
        self._pruned_at: datetime | None = None
        self._prune_lock = threading.Lock()
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def remember(self, chat_id: int, message_ids: Iterable[int], kind: str, items: Sequence[ContextItem],
                 now: datetime | None = None) -> None:
        """Record that each of ``message_ids`` (the parts of one reply) shows ``items``. Nothing is stored for
        a message without papers. Prunes expired records at most once per ``PRUNE_EVERY``."""
        if not items:
            return
        now = now or datetime.now(UTC)
        payload = json.dumps([[i.number, i.arxiv_id, list(i.topics)] for i in items], ensure_ascii=False)
        stamp = _stamp(now)
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO contexts(chat_id, message_id, kind, items, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(chat_id, message_id) DO UPDATE SET kind=excluded.kind, items=excluded.items, "
                "created_at=excluded.created_at",
                [(chat_id, message_id, kind, payload, stamp) for message_id in message_ids],
            )
        with self._prune_lock:
            due = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY
            if due:
                self._pruned_at = now
        if due:
            self.prune(now)

    def get(self, chat_id: int, message_id: int, now: datetime | None = None) -> MessageContext | None:
        """The record of one message; None when there is none or it is older than ``keep_days``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT kind, items, created_at FROM contexts WHERE chat_id=? AND message_id=? AND created_at>=?",
                (chat_id, message_id, _stamp((now or datetime.now(UTC)) - self.keep)),
            ).fetchone()
        if row is None:
            return None
        items = tuple(ContextItem(int(n), str(arxiv_id), tuple(topics)) for n, arxiv_id, topics in json.loads(row[1]))
        return MessageContext(chat_id, message_id, row[0], items, datetime.fromisoformat(row[2]))

    def prune(self, now: datetime | None = None) -> int:
        """Delete records older than ``keep_days``; returns how many went."""
        cutoff = _stamp((now or datetime.now(UTC)) - self.keep)
        with self._transaction() as conn:
            return int(conn.execute("DELETE FROM contexts WHERE created_at<?", (cutoff,)).rowcount)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM contexts").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, transaction(self._conn) as conn:
            yield conn


def _stamp(moment: datetime) -> str:
    """UTC ISO text with a fixed width, so that text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
