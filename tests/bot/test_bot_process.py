"""``papersbot bot`` as a real process (issue 14, findings 1 and 7): a Bot API that refuses getUpdates
with 404 and 401 does not leave a deaf bot that looks healthy, and SIGTERM during a slow LLM call stops
within the grace period instead of waiting for the LLM."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bot.processes import BotProcess, clean_env, run_papersbot
from tests.chroma_server import free_port
from tests.conftest import SAMPLES
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api, running_openai


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the samples, ingested by `papersbot ingest` (the real offline model)."""
    data = tmp_path_factory.mktemp("bot-process") / "data"
    done = run_papersbot("ingest", str(SAMPLES), env=clean_env(PAPERSBOT_DATA_DIR=str(data)))
    assert done.returncode == 0, done.stderr
    return data


def healthz(port: int) -> tuple[int, dict[str, Any]] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None  # not listening yet


def wait_for(bot: BotProcess, condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        bot.check_alive()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{bot.log_tail()}")
        time.sleep(0.2)


def polling(bot: BotProcess, srv: FakeBotAPI, chat: int) -> None:
    """Wait until the bot answers (it is initialized and polling)."""
    srv.push_command(chat, "/help")
    wait_for(bot, lambda: srv.messages_to(chat), 120, "the bot to answer /help")


def test_getupdates_404_and_401_the_process_retries_reports_unhealthy_then_answers(
        indexed: Path, tmp_path: Path) -> None:
    port = free_port()
    with running_bot_api() as srv:
        env = clean_env(PAPERSBOT_DATA_DIR=str(indexed), TELEGRAM_BOT_TOKEN=srv.token,
                        PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_HEALTH_PORT=str(port),
                        PAPERSBOT_HEALTH_UPDATES_MAX_AGE_S="3")
        with BotProcess(env, tmp_path / "bot.log") as bot:
            polling(bot, srv, 70)
            assert (healthz(port) or (0, {}))[0] == 200
            srv.fail_next("getUpdates", 404, times=2)
            srv.fail_next("getUpdates", 401, times=None)  # until cleared
            srv.push_command(70, "/help")  # ends the long poll in flight: the next getUpdates is refused
            wait_for(bot, lambda: (healthz(port) or (0, {}))[0] == 503, 30, "/healthz to report unhealthy")
            _, sick = healthz(port) or (0, {})
            srv.clear_faults()
            back = time.monotonic()
            srv.push_command(71, "/top")
            wait_for(bot, lambda: srv.messages_to(71), 40, "/top to be answered")  # backoff: at most 30 s
            answered_in = time.monotonic() - back
            wait_for(bot, lambda: (healthz(port) or (0, {}))[0] == 200, 20, "/healthz to recover")
            exit_code, _ = bot.stop()
        log = bot.log_text()
    refused = [c.status for c in srv.calls("getUpdates") if c.status in (401, 404)]
    assert refused[:2] == [404, 404] and 401 in refused
    assert sick["status"] == "unhealthy" and any("no updates received" in p for p in sick["problems"])
    assert "Most-voted papers of the 2025-02-05 digest" in srv.messages_to(71)[0]["plain"]
    assert answered_in < 35 and exit_code == 0
    assert "getUpdates answered HTTP 404 (Not Found); polling retries with backoff" in log
    assert "getUpdates answered HTTP 401 (Unauthorized); polling retries with backoff" in log
    assert "Aborting retry loop" not in log and srv.token not in log


def test_sigterm_during_a_slow_llm_answer_stops_within_the_grace_period(indexed: Path, tmp_path: Path) -> None:
    """The LLM would take 40 s; with shutdown_grace_s=2 the bot stops within seconds (Docker allows 30),
    exits 0, and the asker is told to ask again."""
    with running_bot_api() as srv, running_openai() as llm:
        llm.script_delay(40, "late [1]")
        env = clean_env(PAPERSBOT_DATA_DIR=str(indexed), TELEGRAM_BOT_TOKEN=srv.token,
                        PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_LLM_BASE_URL=llm.base_url,
                        PAPERSBOT_LLM_API_KEY="test-key", PAPERSBOT_LLM_TIMEOUT_S="60",
                        PAPERSBOT_SHUTDOWN_GRACE_S="2")
        with BotProcess(env, tmp_path / "bot.log") as bot:
            polling(bot, srv, 80)
            srv.push_text(81, "What is OmniHuman-1?")
            llm.wait_for_requests(1, timeout=60, path_suffix="/chat/completions")
            exit_code, took = bot.stop()
        log = bot.log_text()
    assert exit_code == 0, log
    assert took < 12, f"stopping took {took:.1f} s:\n{log}"
    (note,) = srv.messages_to(81)
    assert note["plain"] == "I'm restarting and couldn't finish this answer. Please ask again in a minute."
    assert "SIGTERM: stopping; 1 update(s) in progress get 2 s to finish" in log
