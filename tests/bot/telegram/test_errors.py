"""Token redaction in logs."""

from __future__ import annotations

import logging

import pytest

from bot.telegram.errors import REDACTED, RedactToken, redact

TOKEN = "123456789:AAFakeTokenForPapersbotTests_0123456"


def test_redact_our_token_and_token_shapes() -> None:
    assert redact(f"POST https://api.telegram.org/bot{TOKEN}/getMe", TOKEN) == \
        f"POST https://api.telegram.org/bot{REDACTED}/getMe"
    other = "987654321:ZZabcdefghijklmnopqrstuvwxyz0123456"
    assert redact(f"url bot{other}/x") == f"url bot{REDACTED}/x"
    assert redact("2502.01061 and 12:30") == "2502.01061 and 12:30"


def test_filter_scrubs_messages_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("papersbot.test.redaction")
    redactor = RedactToken(TOKEN)
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.INFO, logger="papersbot.test.redaction"):
            logger.info("HTTP Request: POST %s", f"https://x/bot{TOKEN}/sendMessage")
            try:
                raise RuntimeError(f"failed for https://x/bot{TOKEN}/getFile")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.removeFilter(redactor)
    assert TOKEN not in caplog.text
    assert caplog.text.count(REDACTED) == 2 and "RuntimeError" in caplog.text
