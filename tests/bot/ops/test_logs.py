"""Structured logging: one line per event, JSON when configured, every secret redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ops.logs import BOT_TOKEN_REDACTED, SECRET_REDACTED, Redactor, configure_logging, redact_text
from config.settings import Settings, load_settings

TOKEN = "123456789:AAFakeTokenForPapersbotTests_0123456"
LLM_KEY = "sk-test-llm-key-0123456789abcdefghij"
EMBED_KEY = "embed-key-that-has-no-known-shape-42"
WEBHOOK_SECRET = "webhook-secret-xyz"


@pytest.fixture
def secret_settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", telegram_token=TOKEN, llm_api_key=LLM_KEY,
                         embed_api_key=EMBED_KEY, telegram_webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def restore_root() -> Iterator[None]:
    """configure_logging changes the root logger; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def emit(settings: Settings, json_lines: bool) -> list[str]:
    """Log a few events through configure_logging's handler; return the lines it wrote."""
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"logging": settings.logging.model_copy(
        update={"json_lines": json_lines})}), stream=stream)
    log = logging.getLogger("papersbot.test.logs")
    log.info("HTTP Request: POST %s \"HTTP/1.1 200 OK\"", f"https://api.telegram.org/bot{TOKEN}/getUpdates")
    log.warning("llm said no for key %s and embedder key %s", LLM_KEY, EMBED_KEY, extra={"chat_id": 42,
                                                                                        "auth": f"Bearer {LLM_KEY}"})
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed "
                           f"(secret {WEBHOOK_SECRET})")
    except RuntimeError:
        log.exception("handler crashed")
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restore_root")
def test_json_lines_with_fields_extras_and_redacted_secrets(secret_settings: Settings) -> None:
    lines = emit(secret_settings, json_lines=True)
    assert len(lines) == 3  # one line per event, the traceback included
    events = [json.loads(line) for line in lines]
    first, second, third = events
    assert set(first) >= {"ts", "level", "logger", "message"} and first["ts"].endswith("Z")
    assert first["level"] == "INFO" and first["logger"] == "papersbot.test.logs"
    assert first["message"] == f'HTTP Request: POST https://api.telegram.org/bot{BOT_TOKEN_REDACTED}/getUpdates ' \
                               '"HTTP/1.1 200 OK"'
    assert second["chat_id"] == 42 and second["auth"] == f"Bearer {SECRET_REDACTED}"
    assert second["message"] == f"llm said no for key {SECRET_REDACTED} and embedder key {SECRET_REDACTED}"
    assert third["level"] == "ERROR" and third["message"] == "handler crashed"
    assert "Traceback" in third["exc"] and "RuntimeError" in third["exc"] and BOT_TOKEN_REDACTED in third["exc"]
    text = "\n".join(lines)
    for secret in (TOKEN, LLM_KEY, EMBED_KEY, WEBHOOK_SECRET):
        assert secret not in text


@pytest.mark.usefixtures("restore_root")
def test_text_lines_are_one_line_per_event_and_redacted(secret_settings: Settings) -> None:
    lines = emit(secret_settings, json_lines=False)
    assert len(lines) == 3
    assert " INFO papersbot.test.logs: HTTP Request: POST" in lines[0]
    assert "chat_id=42" in lines[1]
    assert " ERROR papersbot.test.logs: handler crashed Traceback" in lines[2] and "\\n" in lines[2]
    text = "\n".join(lines)
    for secret in (TOKEN, LLM_KEY, EMBED_KEY, WEBHOOK_SECRET):
        assert secret not in text


@pytest.mark.usefixtures("restore_root")
def test_reconfiguring_replaces_the_handler(settings: Settings) -> None:
    before = len(logging.getLogger().handlers)
    configure_logging(settings)
    configure_logging(settings)
    assert len(logging.getLogger().handlers) == before + 1


def test_token_shapes_and_url_encoded_secrets_are_redacted() -> None:
    other_token = "987654321:ZZabcdefghijklmnopqrstuvwxyz0123456"
    assert redact_text(f"GET https://x/bot{other_token}/getMe") == f"GET https://x/bot{BOT_TOKEN_REDACTED}/getMe"
    assert redact_text("key=sk-proj-abcdefghijklmnopqrstuvwxyz") == f"key={SECRET_REDACTED}"
    encoded = TOKEN.replace(":", "%3A")
    assert redact_text(f"url=https://x/?t={encoded}") == f"url=https://x/?t={BOT_TOKEN_REDACTED}"
    redactor = Redactor({"p@ss word!": SECRET_REDACTED})
    assert redactor("a p@ss word! b p%40ss%20word%21") == f"a {SECRET_REDACTED} b {SECRET_REDACTED}"
    assert redact_text("arXiv 2502.01061 at 12:30, 3 votes") == "arXiv 2502.01061 at 12:30, 3 votes"
    assert Redactor({"ab": SECRET_REDACTED})("abc") == "abc"  # too short to be a secret worth hiding

