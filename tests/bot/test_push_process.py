"""``papersbot push`` as a real process, killed in the middle of a push to 200 chats and started again:
no chat gets two messages and none gets zero."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import load_settings
from rag.ingest import Indexer, ingest_paths
from rag.storage.subscriptions import SubscriptionStore
from tests.conftest import SAMPLES, open_components
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api
from tests.helpers import HashEmbedding

CHATS = list(range(5000, 5200))


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    with running_bot_api(rate_limit=True) as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A digest in the catalog and 200 chats whose push time passed five minutes ago."""
    data = tmp_path / "data"
    settings = load_settings(data_dir=data)
    library = open_components(settings, embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(library), [str(SAMPLES / "2024-11-19.md")]).added == 5
    library.close()
    now = datetime.now(UTC)
    due = (now - timedelta(minutes=5)).strftime("%H:%M")
    store = SubscriptionStore(settings.storage.subscriptions_path)
    for chat in CHATS:
        store.subscribe(chat, due, "UTC", [], "ko", now=now - timedelta(days=1))
    store.close()
    return data


def start_push(srv: FakeBotAPI, data: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": srv.token, "PAPERSBOT_TELEGRAM_BASE_URL": srv.base_url,
           "PAPERSBOT_DATA_DIR": str(data), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "push", "--json", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def delivered(srv: FakeBotAPI) -> int:
    return sum(1 for chat in CHATS if srv.messages_to(chat))


def recorded(data: Path, status: str) -> int:
    with sqlite3.connect(data / "subscriptions.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE status=?", (status,)).fetchone()[0])


def wait_until(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def finish_push(srv: FakeBotAPI, data: Path) -> dict[str, object]:
    process = start_push(srv, data)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return dict(json.loads(out))


def exactly_one_each(srv: FakeBotAPI) -> None:
    got = {chat: len(srv.messages_to(chat)) for chat in CHATS}
    assert {chat: n for chat, n in got.items() if n != 1} == {}


def test_killed_mid_push_then_restarted(srv: FakeBotAPI, data_dir: Path) -> None:
    process = start_push(srv, data_dir)
    try:
        wait_until(lambda: delivered(srv) >= 60)
        # The network stops delivering: requests now in flight never reach Telegram. Once every message
        # Telegram accepted is recorded, kill the process with requests still hanging.
        srv.hold("sendMessage")
        wait_until(lambda: srv.held >= 1 and recorded(data_dir, "sent") == delivered(srv))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        srv.release()
    first = delivered(srv)
    assert 60 <= first < len(CHATS)
    assert recorded(data_dir, "sending") >= 1, "the kill left claimed, unsent deliveries"

    report = finish_push(srv, data_dir)
    assert report["sent"] == len(CHATS) - first
    assert int(report["resumed"]) >= 1  # type: ignore[call-overload]
    exactly_one_each(srv)
    assert recorded(data_dir, "sent") == len(CHATS) and recorded(data_dir, "sending") == 0

    again = finish_push(srv, data_dir)  # nothing is due any more
    assert again["sent"] == 0 and again["due"] == 0
    exactly_one_each(srv)


def test_sigterm_mid_push_finishes_in_flight_messages_then_restart_completes(
        srv: FakeBotAPI, data_dir: Path) -> None:
    process = start_push(srv, data_dir)
    try:
        wait_until(lambda: delivered(srv) >= 40)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    stopped = json.loads(out)
    first = delivered(srv)
    assert stopped["sent"] == first < len(CHATS)  # every message that went out was recorded
    assert recorded(data_dir, "sending") == 0

    report = finish_push(srv, data_dir)
    assert report["sent"] == len(CHATS) - first and report["resumed"] == 0
    exactly_one_each(srv)
