"""The daily push against the fake Bot API (with Telegram-like rate limits): PTB's ExtBot and AIORateLimiter
send over HTTP to 127.0.0.1; the clock is injected so a whole day of schedules runs in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter, ExtBot

from bot.telegram.blocking import BlockingRunner
from bot.telegram.push import Pusher, PushReport, briefing_part
from config.settings import Settings, load_settings
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore, latest_slot
from tests.conftest import SAMPLES, open_components
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api
from tests.helpers import HashEmbedding

ZONES = ["Asia/Seoul", "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"]
START = datetime(2025, 2, 5, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    with running_bot_api(rate_limit=True) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Settings, Components, SubscriptionStore]]:
    settings = load_settings(data_dir=tmp_path / "data", push_top_n=3)
    library = open_components(settings, embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(library), [str(SAMPLES / "2024-11-19.md")]).added == 5
    store = SubscriptionStore(settings.storage.subscriptions_path)
    yield settings, library, store
    store.close()
    library.close()


def push(srv: FakeBotAPI, settings: Settings, library: Components, store: SubscriptionStore, clock: Clock,
         **kwargs: Any) -> PushReport:
    """One pass with a real ExtBot + AIORateLimiter talking HTTP to the fake."""

    async def main() -> PushReport:
        runner = BlockingRunner(1)
        pusher = Pusher(settings.push, Papers(library), store, runner, data_dir=settings.storage.data_dir, clock=clock)
        bot: ExtBot[Any] = ExtBot(srv.token, base_url=srv.base_url, base_file_url=srv.base_file_url,
                                  rate_limiter=AIORateLimiter(max_retries=3))
        try:
            async with bot:
                return await pusher.run_due(bot, **kwargs)
        finally:
            runner.shutdown()

    return asyncio.run(main())


def counts(srv: FakeBotAPI, chats: list[int]) -> dict[int, int]:
    return {chat: len(srv.messages_to(chat)) for chat in chats}


def subscribe_many(store: SubscriptionStore, n: int, now: datetime) -> dict[int, tuple[str, str]]:
    """``n`` chats at times spread over the day, in five zones (one with a half-hour offset)."""
    chats = {}
    for i in range(n):
        chat_id = 1000 + i
        push_time = f"{(i * 7) % 24:02d}:{(i * 13) % 60:02d}"
        zone = ZONES[i % len(ZONES)]
        store.subscribe(chat_id, push_time, zone, [], "ko" if i % 2 else "en", now=now)
        chats[chat_id] = (push_time, zone)
    return chats


def run_day(srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore], clock: Clock, chats: list[int],
            *, step: timedelta = timedelta(hours=1), hours: int = 24,
            check: Callable[[datetime, datetime, set[int]], None] | None = None) -> list[PushReport]:
    settings, library, store = world
    reports = []
    for _ in range(int(hours * 3600 / step.total_seconds())):
        before = counts(srv, chats)
        previous = clock.now
        clock.now = previous + step
        reports.append(push(srv, settings, library, store, clock))
        after = counts(srv, chats)
        if check is not None:
            check(previous, clock.now, {chat for chat in chats if after[chat] != before[chat]})
    return reports


def test_200_subscribers_in_many_zones_get_exactly_one_message_at_their_time(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore]) -> None:
    _, library, store = world
    clock = Clock(START)
    schedule = subscribe_many(store, 200, START)
    chats = sorted(schedule)
    blocked, limited = chats[17], chats[42]
    srv.fail_next("sendMessage", 403, times=None, chat_id=blocked, description="Forbidden: bot was blocked by the user")
    srv.fail_next("sendMessage", 429, retry_after=1, chat_id=limited)

    def delivered_at_their_time(previous: datetime, now: datetime, got: set[int]) -> None:
        for chat in got:
            slot = latest_slot(*schedule[chat], now)
            assert previous < slot <= now, (chat, schedule[chat], previous, now)

    reports = run_day(srv, world, clock, chats, check=delivered_at_their_time)

    got = counts(srv, chats)
    assert got[blocked] == 0
    assert {chat for chat, n in got.items() if n != 1} == {blocked}, "every other chat: exactly one message"
    assert store.get(blocked).active is False  # type: ignore[union-attr]
    assert "forbidden" in (store.get(blocked).deactivated_reason or "")  # type: ignore[union-attr]
    assert len([c for c in srv.calls("sendMessage") if str(c.params["chat_id"]) == str(limited)]) == 2
    assert sum(r.sent for r in reports) == 199 and sum(r.deactivated for r in reports) == 1

    text = srv.messages_to(chats[0])[0]
    assert "2024-11-19" in text["plain"] and "https://arxiv.org/abs/2411.11844" in text["text"]
    assert text["parse_mode"] == "HTML"

    # No new digest: another whole day brings nothing.
    run_day(srv, world, clock, chats)
    assert counts(srv, chats) == got

    # A new digest arrives: everyone still subscribed gets exactly one more, at their own time again.
    assert ingest_paths(Indexer.from_components(library), [str(SAMPLES / "2024-11-22.md")]).added == 5
    run_day(srv, world, clock, chats, check=delivered_at_their_time)
    final = counts(srv, chats)
    assert {chat: n for chat, n in final.items() if chat != blocked} == {c: 2 for c in chats if c != blocked}
    assert final[blocked] == 0
    assert "2024-11-22" in srv.messages_to(chats[0])[1]["plain"]


def test_catch_up_after_downtime_is_one_message_with_the_newest_digest(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore]) -> None:
    settings, library, store = world
    clock = Clock(START)
    store.subscribe(1, "08:00", "Asia/Seoul", [], "ko", now=START)
    # Down for three days while two more digests arrive.
    for name in ("2024-11-22.md", "2025-02-05.md"):
        ingest_paths(Indexer.from_components(library), [str(SAMPLES / name)])
    clock.now = START + timedelta(days=3)
    report = push(srv, settings, library, store, clock)
    assert report.sent == 1
    (message,) = srv.messages_to(1)
    assert "2025-02-05" in message["plain"]
    clock.now += timedelta(hours=1)
    assert push(srv, settings, library, store, clock).sent == 0


def test_a_day_with_zero_papers_sends_nothing_and_breaks_nothing(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore], tmp_path: Path) -> None:
    settings, library, store = world
    clock = Clock(START)
    store.subscribe(1, "08:00", "UTC", [], "en", now=START)
    clock.now = START + timedelta(hours=9)
    assert push(srv, settings, library, store, clock).sent == 1
    empty = tmp_path / "2024-11-20.md"
    empty.write_text("## Daily Papers (2024-11-20)\n\nNo papers today.\n", encoding="utf-8")
    report = ingest_paths(Indexer.from_components(library), [str(empty)])
    assert report.added == 0 and not report.unreadable
    clock.now += timedelta(days=1)
    again = push(srv, settings, library, store, clock)
    assert again.sent == 0 and again.nothing_new == 1
    assert len(srv.messages_to(1)) == 1


def test_topics_add_matching_papers_beyond_the_top(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore]) -> None:
    settings, library, store = world
    clock = Clock(START)
    briefing = Papers(library).top(limit=settings.push.top_n)
    assert briefing is not None
    below_top = {e.arxiv_id for e in Papers(library).top(limit=99).top[3:]}  # type: ignore[union-attr]
    store.subscribe(1, "08:00", "UTC", ["Gaussian Splatting"], "en", now=START)
    store.subscribe(2, "08:00", "UTC", [], "en", now=START)
    clock.now = START + timedelta(hours=9)
    assert push(srv, settings, library, store, clock).sent == 2
    with_topics = srv.messages_to(1)[0]
    without = srv.messages_to(2)[0]
    assert "Your topics: Gaussian Splatting" in with_topics["plain"]
    assert "VeGaS: Video Gaussian Splatting" in with_topics["plain"]  # 5 votes: not in the top 3
    assert "2411.11024" in below_top
    assert "VeGaS" not in without["plain"] and "Your topics" not in without["plain"]


def test_network_errors_retry_with_backoff_then_on_later_passes(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore]) -> None:
    settings, library, store = world
    clock = Clock(START)
    store.subscribe(1, "08:00", "UTC", [], "en", now=START)
    store.subscribe(2, "08:00", "UTC", [], "en", now=START)
    srv.drop_next("sendMessage", times=3, chat_id=1)  # connection cut before Telegram processed it
    clock.now = START + timedelta(hours=9)
    first = push(srv, settings, library, store, clock)
    assert first.sent == 1 and first.failed == 1 and len(srv.messages_to(2)) == 1
    assert srv.messages_to(1) == []
    clock.now += timedelta(minutes=1)
    second = push(srv, settings, library, store, clock)  # same slot, still due: retried
    assert second.sent == 1 and len(srv.messages_to(1)) == 1 and len(srv.messages_to(2)) == 1
    assert store.delivery(1, "2024-11-19").attempts == 2  # type: ignore[union-attr]


def test_dry_run_sends_and_records_nothing(
        srv: FakeBotAPI, world: tuple[Settings, Components, SubscriptionStore]) -> None:
    settings, library, store = world
    clock = Clock(START + timedelta(hours=9))
    store.subscribe(1, "08:00", "UTC", ["RL"], "en", now=START)
    report = push(srv, settings, library, store, clock, dry_run=True)
    assert report.planned == [{"chat_id": 1, "digest_date": "2024-11-19", "slot": "2025-02-05T08:00:00+00:00",
                               "topics": ["RL"]}]
    assert srv.calls("sendMessage") == [] and store.delivery(1, "2024-11-19") is None
    assert push(srv, settings, library, store, clock).sent == 1


def test_the_push_is_always_one_message(world: tuple[Settings, Components, SubscriptionStore]) -> None:
    _, library, _ = world
    briefing = Papers(library).top(limit=5, topics=["Gaussian"])
    assert briefing is not None
    huge = type(briefing)(briefing.date, briefing.total, briefing.top * 40, briefing.top * 10, ("Gaussian",))
    part = briefing_part(huge, "ko")
    assert len(part.text) <= 4096 and "1. " in part.text


def test_a_pass_beside_the_owning_bot_leaves_the_inbox_to_the_bot(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """``papersbot push`` from cron while the bot owns the embedded data dir: only the owner ingests the inbox."""
    import os
    import time

    from rag.components import build_components

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dropped = inbox / "2024-11-22.md"
    dropped.write_bytes((SAMPLES / "2024-11-22.md").read_bytes())
    os.utime(dropped, (time.time() - 60, time.time() - 60))
    settings = load_settings(data_dir=tmp_path / "data", inbox_dir=inbox)
    bot = Papers(open_components(settings, embedder=HashEmbedding()))  # the running bot: the owner
    cron = Papers(build_components(settings, embedder=HashEmbedding(), llm=None))  # a reader beside it
    store = SubscriptionStore(settings.storage.subscriptions_path)

    async def check(papers: Papers) -> Any:
        runner = BlockingRunner(1)
        try:
            return await Pusher(settings.push, papers, store, runner, data_dir=settings.storage.data_dir,
                                inbox_dir=settings.loading.inbox_dir).check_inbox()
        finally:
            runner.shutdown()

    try:
        assert asyncio.run(check(cron)) is None and dropped.exists()
        assert "inbox" not in caplog.text  # left alone on purpose, not a failed ingest
        report = asyncio.run(check(bot))
        assert report is not None and report.done and not dropped.exists()
        assert cron.dates() == ["2024-11-22"]
    finally:
        store.close()
        cron.close()
        bot.close()
