"""The running bot keeps itself current: the scheduled sync, the sync before a push pass, and /sync."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.telegram.app import build_application
from loaders.source import DigestRepository, Http, HuggingFace
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore
from rag.sync import Syncer
from tests.bot.telegram.harness import bot_settings, serve
from tests.conftest import SAMPLES
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace

ADMIN = 7001


@pytest.fixture
def sources() -> Iterator[tuple[FakeDigestRepo, FakeHuggingFace]]:
    with FakeDigestRepo() as repo, FakeHuggingFace() as hf:
        for day in ("2024-11-19", "2024-11-22"):
            repo.add_day(day, (SAMPLES / f"{day}.md").read_text(encoding="utf-8"))
        yield repo, hf


@pytest.fixture
def engine(fast_library: Components) -> Papers:
    assert ingest_paths(Indexer.from_components(fast_library), [str(SAMPLES / "2024-11-19.md")]).added == 5
    return Papers(fast_library, llm=None, memory=ConversationMemory(6, 100))


def syncer_for(papers: Papers, repo: FakeDigestRepo, hf: FakeHuggingFace) -> Syncer:
    http = Http(httpx.Client(timeout=5.0), max_retries=1, sleep=lambda _: None)
    return Syncer(papers.indexer, DigestRepository(repo.url, http), HuggingFace(hf.api_url, http))


def had_the_first_day(store: SubscriptionStore, chat_id: int, now: datetime) -> None:
    store.subscribe(chat_id, "08:00", "UTC", [], "en", now=now - timedelta(days=3))
    store.claim(chat_id, "2024-11-19")
    store.mark_sent(chat_id, "2024-11-19", [1], None)


def test_the_scheduled_sync_brings_a_new_day_into_the_next_push(
        srv: FakeBotAPI, engine: Papers, sources: tuple[FakeDigestRepo, FakeHuggingFace],
        tmp_path: Path) -> None:
    repo, hf = sources
    settings = bot_settings(srv, tmp_path / "bot", push_check_interval_s=0.3, sync_interval_minutes=0.01)
    store = SubscriptionStore(settings.storage.subscriptions_path)
    start = datetime(2024, 11, 23, 7, 0, tzinfo=UTC)  # an hour before the chat's 08:00 push
    had_the_first_day(store, 41, start)
    store.mark_slot(41, start.replace(hour=8) - timedelta(days=1))
    clock = {"now": start}

    def scenario() -> None:
        deadline = time.monotonic() + 30
        while engine.dates()[0] != "2024-11-22":  # the scheduled sync (first tick ~5 s after start)
            assert time.monotonic() < deadline, "the scheduled sync did not bring the new day"
            time.sleep(0.2)
        assert srv.messages_to(41) == []  # not push time yet
        clock["now"] = start + timedelta(hours=1, minutes=1)
        (message,) = srv.wait_for_messages(41, 1, timeout=15)
        assert "Daily Papers 2024-11-22" in message["plain"]

    serve(build_application(settings, engine, store=store, clock=lambda: clock["now"],
                            syncer=syncer_for(engine, repo, hf)), scenario)
    store.close()


def test_a_due_push_syncs_first_so_a_fresh_digest_goes_out_at_once(
        srv: FakeBotAPI, engine: Papers, sources: tuple[FakeDigestRepo, FakeHuggingFace],
        tmp_path: Path) -> None:
    repo, hf = sources
    # No scheduled sync at all: only the push pass's own sync can bring the new day.
    settings = bot_settings(srv, tmp_path / "bot", push_check_interval_s=0.3, sync_interval_minutes=0)
    store = SubscriptionStore(settings.storage.subscriptions_path)
    now = datetime.now(UTC)
    had_the_first_day(store, 42, now)

    def scenario() -> None:
        (message,) = srv.wait_for_messages(42, 1, timeout=20)
        assert "Daily Papers 2024-11-22" in message["plain"]

    serve(build_application(settings, engine, store=store, clock=lambda: now + timedelta(days=1),
                            syncer=syncer_for(engine, repo, hf)), scenario)
    store.close()


def test_admins_can_sync_now_and_others_cannot(srv: FakeBotAPI, engine: Papers,
                                               sources: tuple[FakeDigestRepo, FakeHuggingFace],
                                               tmp_path: Path) -> None:
    repo, hf = sources
    settings = bot_settings(srv, tmp_path / "bot", sync_interval_minutes=0, telegram_admin_ids=[ADMIN])

    def scenario() -> None:
        srv.push_command(901, "/sync")
        assert srv.wait_for_messages(901, 1)[0]["plain"] == "Sorry, only admins can do that."
        srv.push_command(ADMIN, "/sync")
        started, done = srv.wait_for_messages(ADMIN, 2, timeout=20)
        assert "Fetching new digests" in started["plain"]
        assert done["plain"].startswith("Sync done: 2 day(s) fetched, 5 paper(s) added")
        repo.fail("paper_logs/2024/11/22.md", "status", code=503, times=5)
        repo.add_day("2024-11-22", (SAMPLES / "2025-02-05.md").read_text(encoding="utf-8")
                     .replace("2025-02-05", "2024-11-22"))
        srv.push_command(ADMIN, "/sync")
        _, _, _, partly = srv.wait_for_messages(ADMIN, 4, timeout=20)
        assert partly["plain"].startswith("Sync partly failed: 0 day(s) fetched, 1 failed")

    serve(build_application(settings, engine, syncer=syncer_for(engine, repo, hf)), scenario)


def test_without_a_syncer_sync_says_it_is_off(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    settings = bot_settings(srv, tmp_path / "bot", sync_interval_minutes=0, telegram_admin_ids=[ADMIN])

    def scenario() -> None:
        srv.push_command(ADMIN, "/sync")
        assert "turned off" in srv.wait_for_messages(ADMIN, 1)[0]["plain"]

    serve(build_application(settings, engine), scenario)
