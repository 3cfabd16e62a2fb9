"""Driving the real Application over HTTP against FakeBotAPI, from plain (non-async) pytest tests.

``serve`` starts the bot the way ``Application.run_polling`` does (initialize, post_init, start, poll;
then stop, shutdown, post_shutdown) inside ``asyncio.run``, and runs the test's blocking scenario in a
worker thread so the event loop stays free to serve the bot.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.telegram.app import App, build_application
from config.settings import Settings, load_settings
from rag.components import Components
from rag.ingest import Indexer, IngestReport, ingest_paths
from rag.service import Papers
from tests.conftest import SAMPLES, open_components
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tg_html import parse_telegram_html
from tests.helpers import HashEmbedding

T = TypeVar("T")
ADMIN = 900  # the admin of the bots that start_bot runs, unless a test says otherwise


def sample_library(data_dir: Path, *more: Path) -> tuple[Components, IngestReport]:
    """The sample digests (and ``more`` files or folders) in a library at ``data_dir``, embedded with the
    hash embedder: these tests check the bot, not retrieval quality. The caller closes it."""
    library = open_components(load_settings(data_dir=data_dir), embedder=HashEmbedding())
    return library, ingest_paths(Indexer.from_components(library), [str(SAMPLES), *map(str, more)])


def bot_settings(srv: FakeBotAPI, data_dir: Path, **overrides: Any) -> Settings:
    """Settings pointing the bot at the fake server (the file URL is derived from the base URL)."""
    return load_settings(data_dir=data_dir, telegram_token=srv.token, telegram_base_url=srv.base_url,
                         **overrides)


def serve(app: App, scenario: Callable[[], T]) -> T:
    """Run ``scenario`` (blocking test code) while ``app`` polls the fake; return its result."""

    async def main() -> T:
        await app.initialize()
        try:
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                return await asyncio.to_thread(scenario)
            finally:
                await app.updater.stop()
                await app.stop()
        finally:
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)

    return asyncio.run(main())


def start_bot(srv: FakeBotAPI, papers: Papers, tmp_path: Path, scenario: Callable[[], T], **settings: Any) -> T:
    """Run ``scenario`` while the bot (settings from :func:`bot_settings`, :data:`ADMIN` its admin unless
    given) serves ``srv``."""
    settings.setdefault("telegram_admin_ids", [ADMIN])
    return serve(build_application(bot_settings(srv, tmp_path / "bot", **settings), papers), scenario)


def run_bot(srv: FakeBotAPI, settings: Settings, engine: Papers, scenario: Callable[[], T],
            **kwargs: Any) -> T:
    return serve(build_application(settings, engine, **kwargs), scenario)


def html_plain(text: str) -> str:
    """What Telegram shows for an HTML message; raises if the HTML is invalid (the fake's strict parser)."""
    return parse_telegram_html(text)[0]


def links(message: dict[str, Any]) -> list[str]:
    """The hrefs of the <a> tags in a sent message."""
    return re.findall(r'<a href="([^"]*)">', str(message["text"]))
