"""The subscription store: schema, slots across time zones, and the delivery records behind exactly once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag.storage.subscriptions import (
    AlreadySent,
    SubscriptionStore,
    latest_slot,
    next_slot,
    parse_time,
    push_lock,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def store(tmp_path: Path) -> SubscriptionStore:
    return SubscriptionStore(tmp_path / "subscriptions.sqlite3")


def test_parse_time() -> None:
    assert parse_time("8:30") is not None and parse_time("08:30").hour == 8  # type: ignore[union-attr]
    for bad in ("24:00", "08:60", "0830", "8", "ab:cd", "08:5", ""):
        assert parse_time(bad) is None, bad


def test_latest_and_next_slot_are_zone_aware() -> None:
    now = at("2025-02-05T00:30:00+00:00")  # 09:30 in Seoul, 01:30 in Berlin
    assert latest_slot("08:00", "Asia/Seoul", now) == at("2025-02-05T08:00:00+09:00")
    assert latest_slot("08:00", "Europe/Berlin", now) == at("2025-02-04T08:00:00+01:00")
    assert next_slot("08:00", "Europe/Berlin", now) == at("2025-02-05T08:00:00+01:00")
    assert next_slot("08:00", "Asia/Seoul", now) == at("2025-02-06T08:00:00+09:00")


def test_slots_across_a_dst_change() -> None:
    # Berlin springs forward on 2025-03-30: 08:00 is UTC+1 the day before and UTC+2 that day.
    before = latest_slot("08:00", "Europe/Berlin", at("2025-03-29T12:00:00+00:00"))
    after = latest_slot("08:00", "Europe/Berlin", at("2025-03-30T12:00:00+00:00"))
    assert before == at("2025-03-29T07:00:00+00:00") and after == at("2025-03-30T06:00:00+00:00")


def test_subscribe_after_todays_slot_waits_for_tomorrow(store: SubscriptionStore) -> None:
    sub = store.subscribe(1, "08:00", "Asia/Seoul", ["diffusion"], "ko", now=at("2025-02-05T10:00:00+09:00"))
    assert sub.last_slot == at("2025-02-05T08:00:00+09:00")  # today's slot counts as handled
    early = store.subscribe(2, "08:00", "Asia/Seoul", [], "en", now=at("2025-02-05T07:00:00+09:00"))
    assert early.last_slot == at("2025-02-04T08:00:00+09:00")  # today's 08:00 is still to come
    assert sub.topics == ("diffusion",) and sub.active and early.language == "en"


def test_unsubscribe_and_resubscribe_keep_history(store: SubscriptionStore) -> None:
    store.subscribe(1, "08:00", "UTC", [], "ko", now=at("2025-02-05T00:00:00+00:00"))
    store.claim(1, "2025-02-05")
    store.mark_sent(1, "2025-02-05", [10], None)
    assert store.unsubscribe(1) and not store.unsubscribe(1)
    assert store.get(1).active is False  # type: ignore[union-attr]
    assert [s.chat_id for s in store.active()] == []
    again = store.subscribe(1, "09:00", "UTC", [], "ko", now=at("2025-02-06T00:00:00+00:00"))
    assert again.active and again.last_digest == "2025-02-05" and again.push_time == "09:00"


def test_subscribe_rejects_bad_time_and_zone(store: SubscriptionStore) -> None:
    with pytest.raises(ValueError):
        store.subscribe(1, "25:00", "UTC", [], "ko")
    with pytest.raises(Exception, match="Nowhere"):
        store.subscribe(1, "08:00", "Mars/Nowhere", [], "ko")
    assert store.get(1) is None


def test_claim_send_record_cycle(store: SubscriptionStore) -> None:
    store.subscribe(7, "08:00", "UTC", [], "ko", now=at("2025-02-05T00:00:00+00:00"))
    assert store.claim(7, "2025-02-05") == 1
    assert [d.chat_id for d in store.in_flight()] == [7]
    store.mark_failed(7, "2025-02-05", "network: boom", final=False)
    assert store.in_flight() == [] and store.get(7).last_digest is None  # type: ignore[union-attr]
    assert store.claim(7, "2025-02-05") == 2  # a retry counts attempts
    slot = at("2025-02-05T08:00:00+00:00")
    store.mark_sent(7, "2025-02-05", [99], slot)
    sub = store.get(7)
    assert sub is not None and sub.last_digest == "2025-02-05" and sub.last_slot == slot
    delivery = store.delivery(7, "2025-02-05")
    assert delivery is not None and delivery.status == "sent" and delivery.message_ids == (99,)
    with pytest.raises(AlreadySent):
        store.claim(7, "2025-02-05")
    assert store.last_push() is not None
    assert store.counts() == {"active": 1, "inactive": 0, "sent": 1, "failed": 0}


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.sqlite3"
    first = SubscriptionStore(path)
    first.subscribe(5, "07:15", "Europe/Berlin", ["RL", "3D"], "en")
    first.claim(5, "2025-02-05")
    first.close()  # as if the process died after claiming
    second = SubscriptionStore(path)
    assert [d.chat_id for d in second.in_flight()] == [5]
    assert second.get(5).topics == ("RL", "3D")  # type: ignore[union-attr]
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == 1


def test_push_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with push_lock(tmp_path) as first:
        assert first
        with push_lock(tmp_path) as second:
            assert not second
    with push_lock(tmp_path) as again:
        assert again
