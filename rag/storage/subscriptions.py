"""Push subscriptions and delivery records: SQLite in the data dir (``subscriptions.sqlite3``).

Exactly-once delivery rests on three rules (see ``bot/telegram/push.py`` for the sender):

* a chat's push for a digest is *claimed* (a ``sending`` row, committed) before the message goes out and
  marked ``sent`` — together with the chat's ``last_digest`` — in one transaction as soon as Telegram
  confirms it, so a finished send is never repeated;
* one push pass runs at a time per data dir (``push.lock``, released by the OS if the process dies), so a
  ``sending`` row found by a new pass was left by a pass that died: it is sent again, which is the only way
  not to lose it (Telegram has no idempotency key; see the README on the one remaining window);
* a chat is due once per scheduled slot (``last_slot``), so a restart, a second process or a late digest
  never makes a second message for the same slot.

Nothing here knows Telegram; the scheduling rule (:func:`latest_slot`) is plain time-zone arithmetic.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rag.storage.locks import file_lock
from rag.storage.sqlite import connect, migrate, transaction

_V1 = """
        CREATE TABLE subscriptions (
            chat_id INTEGER PRIMARY KEY,
            push_time TEXT NOT NULL,             -- HH:MM in the chat's zone
            timezone TEXT NOT NULL,              -- IANA name
            topics TEXT NOT NULL DEFAULT '[]',   -- JSON list of strings
            language TEXT NOT NULL DEFAULT 'ko',
            active INTEGER NOT NULL DEFAULT 1,
            last_digest TEXT,                    -- newest digest date delivered to this chat
            last_slot TEXT,                      -- UTC ISO time of the last slot handled
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deactivated_reason TEXT
        );
        CREATE TABLE deliveries (
            chat_id INTEGER NOT NULL,
            digest_date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            message_ids TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, digest_date)
        );
        CREATE INDEX deliveries_by_status ON deliveries(status);
"""

MIGRATIONS = (_V1,)


@dataclass(frozen=True)
class Subscription:
    chat_id: int
    push_time: str
    timezone: str
    topics: tuple[str, ...] = ()
    language: str = "ko"
    active: bool = True
    last_digest: str | None = None
    last_slot: datetime | None = None
    deactivated_reason: str | None = None


@dataclass(frozen=True)
class Delivery:
    chat_id: int
    digest_date: str
    status: str
    attempts: int
    message_ids: tuple[int, ...]
    error: str | None
    updated_at: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(text: str) -> time | None:
    """``"8:30"`` / ``"08:30"`` → time(8, 30); None when it is not a valid 24-hour time."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def latest_slot(push_time: str, zone: str, now: datetime) -> datetime:
    """The most recent moment at or before ``now`` when the wall clock in ``zone`` read ``push_time``, in UTC.

    Wall-clock arithmetic through ``zoneinfo``: on a DST gap day a nonexistent 02:30 resolves like the
    standard library's fold=0 rule, and a slot is still produced exactly once per local day.
    """
    when = parse_time(push_time)
    if when is None:
        raise ValueError(f"not a HH:MM time: {push_time!r}")
    tz = ZoneInfo(zone)
    local_now = now.astimezone(tz)
    day: date = local_now.date()
    for _ in range(3):
        candidate = datetime.combine(day, when, tzinfo=tz)
        if candidate.astimezone(UTC) <= now.astimezone(UTC):
            return candidate.astimezone(UTC)
        day -= timedelta(days=1)
    raise AssertionError("unreachable: a slot exists within two days")


def next_slot(push_time: str, zone: str, now: datetime) -> datetime:
    """The next moment after ``now`` when the wall clock in ``zone`` reads ``push_time`` (UTC)."""
    when = parse_time(push_time)
    if when is None:
        raise ValueError(f"not a HH:MM time: {push_time!r}")
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date()
    while True:
        candidate = datetime.combine(day, when, tzinfo=tz).astimezone(UTC)
        if candidate > now:
            return candidate
        day += timedelta(days=1)


class SubscriptionStore:
    """Subscriptions and deliveries. Safe to share between threads; writes are short transactions."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = connect(path)
        migrate(self._conn, MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    # --- subscriptions -------------------------------------------------------------------------------
    def subscribe(self, chat_id: int, push_time: str, zone: str, topics: list[str] | tuple[str, ...],
                  language: str, now: datetime | None = None) -> Subscription:
        """Create or change a chat's subscription (re-activating it). A slot that has already passed
        today is not delivered retroactively: the first push comes at the next ``push_time``."""
        now = now or utc_now()
        if parse_time(push_time) is None:
            raise ValueError(f"not a HH:MM time: {push_time!r}")
        ZoneInfo(zone)
        passed = latest_slot(push_time, zone, now).isoformat()
        stamp = now.isoformat()
        with self._transaction() as conn:
            row = conn.execute("SELECT last_slot FROM subscriptions WHERE chat_id=?", (chat_id,)).fetchone()
            last_slot = max(passed, row[0]) if row is not None and row[0] else passed
            conn.execute(
                "INSERT INTO subscriptions(chat_id, push_time, timezone, topics, language, active, last_slot, "
                "created_at, updated_at) VALUES (?,?,?,?,?,1,?,?,?) ON CONFLICT(chat_id) DO UPDATE SET "
                "push_time=excluded.push_time, timezone=excluded.timezone, topics=excluded.topics, "
                "language=excluded.language, active=1, deactivated_reason=NULL, last_slot=excluded.last_slot, "
                "updated_at=excluded.updated_at",
                (chat_id, push_time, zone, json.dumps(list(topics), ensure_ascii=False), language, last_slot,
                 stamp, stamp),
            )
        found = self.get(chat_id)
        assert found is not None
        return found

    def unsubscribe(self, chat_id: int, reason: str = "unsubscribed") -> bool:
        """Deactivate; True when there was an active subscription. History is kept."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE subscriptions SET active=0, deactivated_reason=?, updated_at=? WHERE chat_id=? AND active=1",
                (reason, utc_now().isoformat(), chat_id),
            )
            return cursor.rowcount > 0

    def remove_topic(self, chat_id: int, topic: str) -> bool:
        """Drop ``topic`` (case-insensitively) from the chat's topics ("Mute topic" under a push); True when
        it was there. Nothing else about the subscription changes."""
        with self._transaction() as conn:
            row = conn.execute("SELECT topics FROM subscriptions WHERE chat_id=?", (chat_id,)).fetchone()
            if row is None:
                return False
            topics = json.loads(row[0])
            kept = [kept for kept in topics if kept.lower() != topic.lower()]
            if len(kept) == len(topics):
                return False
            conn.execute("UPDATE subscriptions SET topics=?, updated_at=? WHERE chat_id=?",
                         (json.dumps(kept, ensure_ascii=False), utc_now().isoformat(), chat_id))
            return True

    def get(self, chat_id: int) -> Subscription | None:
        row = self._conn.execute("SELECT * FROM subscriptions WHERE chat_id=?", (chat_id,)).fetchone()
        return _subscription(row) if row is not None else None

    def active(self) -> list[Subscription]:
        rows = self._conn.execute("SELECT * FROM subscriptions WHERE active=1 ORDER BY chat_id").fetchall()
        return [_subscription(row) for row in rows]

    def counts(self) -> dict[str, int]:
        one = self._conn.execute
        return {
            "active": int(one("SELECT COUNT(*) FROM subscriptions WHERE active=1").fetchone()[0]),
            "inactive": int(one("SELECT COUNT(*) FROM subscriptions WHERE active=0").fetchone()[0]),
            "sent": int(one("SELECT COUNT(*) FROM deliveries WHERE status='sent'").fetchone()[0]),
            "failed": int(one("SELECT COUNT(*) FROM deliveries WHERE status='failed'").fetchone()[0]),
        }

    def mark_slot(self, chat_id: int, slot: datetime) -> None:
        """This slot is handled (delivered, nothing new, or given up): never due again."""
        with self._transaction() as conn:
            _advance(conn, chat_id, "last_slot", slot.isoformat())

    # --- deliveries ----------------------------------------------------------------------------------
    def delivery(self, chat_id: int, digest_date: str) -> Delivery | None:
        row = self._conn.execute("SELECT * FROM deliveries WHERE chat_id=? AND digest_date=?",
                                 (chat_id, digest_date)).fetchone()
        return _delivery(row) if row is not None else None

    def in_flight(self) -> list[Delivery]:
        """``sending`` rows: under the push lock these were left by a pass that died mid-send."""
        rows = self._conn.execute("SELECT * FROM deliveries WHERE status='sending' ORDER BY chat_id").fetchall()
        return [_delivery(row) for row in rows]

    def claim(self, chat_id: int, digest_date: str) -> int:
        """Record that the push of ``digest_date`` to ``chat_id`` is about to be sent; returns the attempt
        number (1 for the first). Raises ``AlreadySent`` when it was delivered before."""
        with self._transaction() as conn:
            row = conn.execute("SELECT status, attempts FROM deliveries WHERE chat_id=? AND digest_date=?",
                               (chat_id, digest_date)).fetchone()
            if row is not None and row[0] == "sent":
                raise AlreadySent(chat_id, digest_date)
            attempts = (row[1] if row is not None else 0) + 1
            conn.execute(
                "INSERT INTO deliveries(chat_id, digest_date, status, attempts, updated_at) VALUES (?,?,'sending',?,?) "
                "ON CONFLICT(chat_id, digest_date) DO UPDATE SET status='sending', attempts=excluded.attempts, "
                "error=NULL, updated_at=excluded.updated_at",
                (chat_id, digest_date, attempts, utc_now().isoformat()),
            )
            return attempts

    def mark_sent(self, chat_id: int, digest_date: str, message_ids: list[int], slot: datetime | None) -> None:
        """Delivered: the record, the chat's ``last_digest`` and its handled slot, in one transaction."""
        now = utc_now().isoformat()
        with self._transaction() as conn:
            conn.execute("UPDATE deliveries SET status='sent', message_ids=?, error=NULL, updated_at=? "
                         "WHERE chat_id=? AND digest_date=?", (json.dumps(message_ids), now, chat_id, digest_date))
            _advance(conn, chat_id, "last_digest", digest_date)
            if slot is not None:
                _advance(conn, chat_id, "last_slot", slot.isoformat())

    def mark_failed(self, chat_id: int, digest_date: str, error: str, *, final: bool) -> None:
        """A failed attempt. ``final``: give up on this digest for this chat (the row stays ``failed``);
        otherwise the row goes back to ``failed`` with its attempt count and a later pass retries it."""
        with self._transaction() as conn:
            conn.execute("UPDATE deliveries SET status='failed', error=?, updated_at=? WHERE chat_id=? "
                         "AND digest_date=?", (error[:500], utc_now().isoformat(), chat_id, digest_date))
            if final:
                _advance(conn, chat_id, "last_digest", digest_date)

    def last_push(self) -> datetime | None:
        """When the most recent push message was delivered (to any chat)."""
        row = self._conn.execute("SELECT MAX(updated_at) FROM deliveries WHERE status='sent'").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._conn)


class AlreadySent(Exception):
    def __init__(self, chat_id: int, digest_date: str) -> None:
        super().__init__(f"digest {digest_date} was already delivered to chat {chat_id}")


def push_lock(data_dir: Path, *, wait: bool = False) -> AbstractContextManager[bool]:
    """One push pass at a time per data dir, across processes; yields False when another holds it and
    ``wait`` is off. The OS releases the lock when its process dies, so a crash never wedges pushes."""
    return file_lock(data_dir / "push.lock", wait=wait, note_pid=True)


def _advance(conn: sqlite3.Connection, chat_id: int, column: str, value: str) -> None:
    """Move a chat's ``last_digest`` or ``last_slot`` forward to ``value``; never back (ISO text sorts)."""
    assert column in ("last_digest", "last_slot")
    conn.execute(f"UPDATE subscriptions SET {column}=? WHERE chat_id=? AND ({column} IS NULL OR {column}<?)",
                 (value, chat_id, value))


def _subscription(r: sqlite3.Row) -> Subscription:
    return Subscription(
        chat_id=r["chat_id"], push_time=r["push_time"], timezone=r["timezone"],
        topics=tuple(json.loads(r["topics"])), language=r["language"], active=bool(r["active"]),
        last_digest=r["last_digest"],
        last_slot=datetime.fromisoformat(r["last_slot"]) if r["last_slot"] else None,
        deactivated_reason=r["deactivated_reason"],
    )


def _delivery(r: sqlite3.Row) -> Delivery:
    return Delivery(
        chat_id=r["chat_id"], digest_date=r["digest_date"], status=r["status"],
        attempts=r["attempts"], message_ids=tuple(json.loads(r["message_ids"])),
        error=r["error"], updated_at=datetime.fromisoformat(r["updated_at"]),
    )
