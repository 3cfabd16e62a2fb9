"""The one ExtBot configuration, shared by the bot's Application and ``papersbot push``."""

from __future__ import annotations

from pathlib import Path

from telegram.ext import AIORateLimiter
from telegram.request import HTTPXRequest

from bot.telegram.botapi import build_bot, file_url
from bot.telegram.replies import BotRateLimiter
from config.settings import load_settings

TOKEN = "123456789:AAFakeTokenForPapersbotTests_0123456"


def test_file_url_is_configured_or_derived(tmp_path: Path) -> None:
    def url(**overrides: str) -> str:
        return file_url(load_settings(data_dir=tmp_path, **overrides).telegram)

    assert url() == "https://api.telegram.org/file/bot"
    assert url(telegram_base_url="http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert url(telegram_base_url="http://botapi:8081/custom/") == "http://botapi:8081/custom/file/bot"
    assert url(telegram_base_file_url="http://files/bot") == "http://files/bot"


def test_build_bot_uses_the_settings_and_the_bot_rate_limiter(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, telegram_base_url="http://127.0.0.1:8081/bot",
                             telegram_max_retries=5).telegram
    bot = build_bot(settings, TOKEN)
    assert bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert bot.base_file_url == f"http://127.0.0.1:8081/file/bot{TOKEN}"
    assert isinstance(bot.rate_limiter, BotRateLimiter) and isinstance(bot.request, HTTPXRequest)
    own_limiter, own_request = AIORateLimiter(), HTTPXRequest()
    bot = build_bot(settings, TOKEN, request=own_request, rate_limiter=own_limiter)
    assert bot.rate_limiter is own_limiter and bot.request is own_request


def test_the_application_uses_that_bot(tmp_path: Path) -> None:
    from bot.telegram.app import build_application
    from rag.service import Papers
    from tests.conftest import open_components
    from tests.helpers import HashEmbedding

    settings = load_settings(data_dir=tmp_path, telegram_token=TOKEN, telegram_base_url="http://127.0.0.1:9/bot")
    with Papers(open_components(settings, embedder=HashEmbedding()), llm=None) as papers:
        app = build_application(settings, papers)
        assert app.bot.base_url == f"http://127.0.0.1:9/bot{TOKEN}"
        assert isinstance(app.bot.rate_limiter, BotRateLimiter)
