"""/subscribe, /subscription, /unsubscribe through the running Application, and the JobQueue-scheduled push."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.telegram.app import build_application
from bot.telegram.subscribing import SubscribeError, SubscribeRequest, parse_subscribe
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore
from tests.bot.telegram.harness import bot_settings, serve
from tests.conftest import SAMPLES
from tests.fakes.bot_api import FakeBotAPI


@pytest.mark.parametrize(("argument", "expected"), [
    ("", SubscribeRequest(None, None, None)),
    ("8:30", SubscribeRequest("08:30", None, None)),
    ("08:30 Europe/Berlin diffusion, RL", SubscribeRequest("08:30", "Europe/Berlin", ["diffusion", "RL"])),
    ("UTC 07:00", SubscribeRequest("07:00", "UTC", None)),
    ("diffusion;  확산 모델 , DIFFUSION", SubscribeRequest(None, None, ["diffusion", "확산 모델"])),
    ("-", SubscribeRequest(None, None, [])),
    ("a, b, c", SubscribeRequest(None, None, ["a", "b"], dropped_topics=1)),
    ("25:00", SubscribeError("subscribe_bad_time", "25:00")),
    ("08:00 Mars/Olympus", SubscribeError("subscribe_bad_zone", "Mars/Olympus")),
])
def test_parse_subscribe(argument: str, expected: object) -> None:
    assert parse_subscribe(argument, max_topics=2) == expected


@pytest.fixture
def engine(fast_library: Components) -> Papers:
    assert ingest_paths(Indexer.from_components(fast_library), [str(SAMPLES / "2024-11-19.md")]).added == 5
    return Papers(fast_library, llm=None, memory=ConversationMemory(6, 100))


def test_subscribe_show_change_unsubscribe(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    settings = bot_settings(srv, tmp_path / "bot")
    store = SubscriptionStore(settings.storage.subscriptions_path)

    def scenario() -> None:
        srv.push_command(11, "/subscription")
        assert "not subscribed" in srv.wait_for_messages(11, 1)[0]["plain"]
        srv.push_command(11, "/subscribe 08:30 Europe/Berlin diffusion, RL")
        done = srv.wait_for_messages(11, 2)[1]["plain"]
        assert "08:30 (Europe/Berlin)" in done and "Topics: diffusion, RL" in done and "Next push:" in done
        srv.push_command(11, "/subscribe 25:99")
        assert "HH:MM" in srv.wait_for_messages(11, 3)[2]["plain"]
        srv.push_command(11, "/subscribe 07:00")  # the zone and topics are kept
        srv.wait_for_messages(11, 4)
        srv.push_command(11, "/subscription")
        shown = srv.wait_for_messages(11, 5)[4]["plain"]
        assert "07:00 (Europe/Berlin)" in shown and "diffusion, RL" in shown
        srv.push_command(11, "/unsubscribe")
        assert "Unsubscribed" in srv.wait_for_messages(11, 6)[5]["plain"]

    serve(build_application(settings, engine, store=store), scenario)
    sub = store.get(11)
    assert sub is not None and not sub.active and sub.push_time == "07:00" and sub.topics == ("diffusion", "RL")


def test_the_job_queue_pushes_when_a_chat_is_due(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    """Subscribe through Telegram; with the clock a day ahead the scheduled check finds the chat due and
    sends one push; later checks send nothing more."""
    settings = bot_settings(srv, tmp_path / "bot", push_check_interval_s=0.5)
    tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)

    def scenario() -> None:
        srv.push_command(21, "/subscribe")
        messages = srv.wait_for_messages(21, 2, timeout=15)
        assert "Subscribed" in messages[0]["plain"] and "Asia/Seoul" in messages[0]["plain"]
        assert "Daily Papers 2024-11-19" in messages[1]["plain"]
        time.sleep(1.5)  # three more checks
        assert len(srv.messages_to(21)) == 2

    serve(build_application(settings, engine, clock=lambda: tomorrow), scenario)


def test_a_digest_dropped_in_the_inbox_is_ingested_and_pushed_without_a_restart(
        srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = bot_settings(srv, tmp_path / "bot", push_check_interval_s=0.5, inbox_dir=inbox)
    store = SubscriptionStore(settings.storage.subscriptions_path)
    now = datetime.now(UTC)
    store.subscribe(31, "08:00", "UTC", [], "en", now=now - timedelta(days=3))
    store.claim(31, "2024-11-19")
    store.mark_sent(31, "2024-11-19", [1], None)  # already had the digest the library holds

    # Dropped in before push time (fully written a minute ago): the first check ingests it, then pushes.
    dropped = inbox / "2024-11-22.md"
    dropped.write_bytes((SAMPLES / "2024-11-22.md").read_bytes())
    past = time.time() - 60
    os.utime(dropped, (past, past))

    def scenario() -> None:
        (message,) = srv.wait_for_messages(31, 1, timeout=30)
        assert "Daily Papers 2024-11-22" in message["plain"]
        assert (inbox / "done" / "2024-11-22.md").is_file() and not dropped.exists()
        srv.push_command(32, "/paper 2411.14384")
        assert "2411.14384" in srv.wait_for_messages(32, 1, timeout=15)[0]["plain"]
        time.sleep(1.5)  # later checks: nothing new, nothing sent
        assert len(srv.messages_to(31)) == 1

    # The chat was last handled three days ago, so today's slot is due from the first check on.
    serve(build_application(settings, engine, store=store, clock=lambda: now + timedelta(days=1)), scenario)
    store.close()
