"""Logging for every papersbot process: one line per event (JSON when ``log_json``), secrets redacted.

The bot token is part of every Bot API URL, so it turns up in httpx request lines and in exception texts;
API keys can turn up in client errors. :class:`RedactFilter` scrubs every configured secret, plus anything
shaped like a bot token or an OpenAI-style key, from a record's message, arguments, ``extra=`` fields,
stack and formatted traceback, before any handler formats it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote

from config.settings import Settings

BOT_TOKEN_REDACTED = "<bot-token>"
SECRET_REDACTED = "<redacted>"
# Shapes of secrets we may not know: Telegram bot tokens and OpenAI-style API keys.
TOKEN_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}"), BOT_TOKEN_REDACTED),
    (re.compile(r"\d{5,}%3A[A-Za-z0-9_-]{30,}"), BOT_TOKEN_REDACTED),  # the same, URL-encoded
    (re.compile(r"sk-[A-Za-z0-9_-]{20,}"), SECRET_REDACTED),
)
MIN_SECRET_CHARS = 4  # a shorter "secret" would shred every log line and protects nothing
QUIET_LOGGERS = ("httpx", "httpcore", "chromadb", "apscheduler")  # chatty at INFO: every request / job run
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Redactor:
    """Replaces known secrets (and secret-shaped strings) in text. ``secrets`` maps value → placeholder."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets: dict[str, str] = {}
        for value, label in (secrets or {}).items():
            if len(value) >= MIN_SECRET_CHARS:
                self.secrets[value] = label
                self.secrets.setdefault(quote(value, safe=""), label)
        # Longest first, so a secret containing another one is replaced whole.
        self._order = sorted(self.secrets, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings, extra: Iterable[str] = ()) -> Redactor:
        """Every secret in the settings (each ``SecretStr`` field) plus ``extra`` values."""
        found: dict[str, str] = {}
        for name, value in settings.secrets():
            found[value] = BOT_TOKEN_REDACTED if name == "telegram.token" else SECRET_REDACTED
        for value in extra:
            found.setdefault(value, SECRET_REDACTED)
        return cls(found)

    def __call__(self, text: str) -> str:
        for secret in self._order:
            if secret in text:
                text = text.replace(secret, self.secrets[secret])
        for pattern, label in TOKEN_SHAPES:
            text = pattern.sub(label, text)
        return text


def redact_text(text: str, secrets: Iterable[str] = (), label: str = SECRET_REDACTED) -> str:
    """``text`` without ``secrets`` and without anything shaped like a bot token or API key."""
    return Redactor(dict.fromkeys(secrets, label))(text)


class RedactFilter(logging.Filter):
    """Scrubs a record before any handler formats it. On a handler it sees every record the handler emits;
    on a logger only that logger's own records.

    The formatted traceback is redacted into ``exc_text`` and ``exc_info`` dropped, so no formatter can
    render the raw exception again (``logging.Formatter`` appends ``exc_text`` as usual).
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have rather than lose the event
            message = f"{record.msg!r} % {record.args!r}"
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


class _Formatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The line, redacted once more as a whole (catches secrets inside non-string ``extra=`` values)."""
        line = self.line(record)
        return self.redactor(line) if self.redactor else line

    def line(self, record: logging.LogRecord) -> str:
        raise NotImplementedError


class JsonFormatter(_Formatter):
    """One JSON object per line: ts, level, logger, message, then exc / stack when present, then extras."""

    def line(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:  # unfiltered record (no RedactFilter on the way)
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exc"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        for key, value in extra_fields(record).items():
            event.setdefault(key, value)
        return json.dumps(event, ensure_ascii=False, default=str)


class LineFormatter(_Formatter):
    """``ts LEVEL logger: message key=value …`` on one line; newlines (tracebacks) are written as ``\\n``."""

    def line(self, record: logging.LogRecord) -> str:
        parts = [f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"]
        for key, value in extra_fields(record).items():
            parts.append(f"{key}={value}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        return " ".join(parts).replace("\r", "").replace("\n", "\\n")


class _PapersbotHandler(logging.StreamHandler):
    """The handler ``configure_logging`` installs (marked, so calling it again replaces it). Without an
    explicit stream it writes to whatever ``sys.stderr`` is at emit time (pytest swaps it per test)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


def configure_logging(settings: Settings, secrets: Iterable[str] = (), stream: TextIO | None = None) -> Redactor:
    """Root logging for a papersbot process, from the settings (``log_level``, ``log_json``).

    ``secrets`` are redacted in addition to every secret in the settings. Safe to call again (the handler
    is replaced). Returns the redactor, for callers that write secrets-bearing text elsewhere.
    """
    redactor = Redactor.from_settings(settings, secrets)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PapersbotHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _PapersbotHandler(stream)
    handler.setFormatter(JsonFormatter(redactor) if settings.logging.json_lines else LineFormatter(redactor))
    handler.addFilter(RedactFilter(redactor))
    root.addHandler(handler)
    try:
        root.setLevel(settings.logging.level.upper())
    except ValueError:
        root.setLevel(logging.INFO)
        logging.getLogger("papersbot").warning("unknown log_level %r; logging at INFO", settings.logging.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
