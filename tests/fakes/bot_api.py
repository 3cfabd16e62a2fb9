"""A fake Telegram Bot API server for python-telegram-bot v22 end-to-end tests.

Point PTB at it with ``Bot(srv.token, base_url=srv.base_url, base_file_url=srv.base_file_url)``
(or the same three calls on ``ApplicationBuilder``). Requests arrive as
``POST /bot<TOKEN>/<method>`` with form-urlencoded, multipart or JSON bodies; files are
served from ``GET /file/bot<TOKEN>/<file_path>``.

Test side: push incoming traffic (``push_text``, ``push_command``, ``push_document``,
``push_callback``, ``push_update``), inspect outgoing traffic (``sent``, ``calls``,
``messages_to``, ``wait_for_messages``) and inject faults (``fail_next``, ``drop_next``,
``rate_limit=True``).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import mimetypes
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

from ._http import DropConnection, FakeServerBase, HTTPRequest, HTTPResponse
from .tg_html import EntityParseError, auto_entities, parse_telegram_html, utf16_len

__all__ = ["DEFAULT_TOKEN", "ApiCall", "ApiError", "FakeBotAPI", "UploadedFile"]

_T = TypeVar("_T")

DEFAULT_TOKEN = "123456789:AAFakeTokenForPapersbotTests_0123456"

# Parameters that are plain strings on the wire and must never be JSON-decoded.
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "action", "callback_query_id", "url", "file_id",
        "inline_message_id", "business_connection_id", "message_effect_id", "secret_token",
        "ip_address", "language_code", "title", "description", "short_description", "name",
        "query", "emoji", "document", "photo", "certificate", "sticker", "filename",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_MAX_DOWNLOAD = 20 * 1024 * 1024


def _default_description(status: int, retry_after: int | None) -> str:
    defaults = {
        400: "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running",
        429: f"Too Many Requests: retry after {retry_after or 1}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }
    if status in defaults:
        return defaults[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class ApiCall:
    """One Bot API call as received. ``status`` is the HTTP status answered (0 = dropped)."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 0
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == 200


@dataclass
class _Fault:
    method: str  # lower-case, or "*"
    kind: str  # "fail" or "drop"
    status: int = 0
    description: str | None = None
    retry_after: int | None = None
    chat_id: int | str | None = None
    remaining: int | None = 1
    after_processing: bool = False

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method not in ("*", method.lower()):
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes

    def as_file(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class _Outgoing:
    """Bookkeeping for a message the bot sent."""

    chat_id: int
    message_id: int
    method: str
    raw_text: str | None
    parse_mode: str | None
    message: dict[str, Any]
    history: list[str] = field(default_factory=list)
    deleted: bool = False
    upload: UploadedFile | None = None

    def as_record(self) -> dict[str, Any]:
        msg = self.message
        plain = msg.get("text", msg.get("caption"))
        entities = msg.get("entities", msg.get("caption_entities", []))
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "method": self.method,
            "text": self.raw_text,
            "parse_mode": self.parse_mode,
            "plain": plain,
            "entities": entities,
            "reply_markup": msg.get("reply_markup"),
            "history": list(self.history),
            "edited": bool(self.history),
            "deleted": self.deleted,
            "document": msg.get("document"),
            "content": self.upload.content if self.upload else None,
            "message": copy.deepcopy(msg),
        }


# ------------------------------------------------------------------------------------------
# request-body decoding


def _parse_disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for match in re.finditer(r';\s*([\w\-*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', value):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1].replace("%22", '"').replace("\\\\", "\\").replace('\\"', '"')
        params[key] = raw
    return params


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | UploadedFile]:
    """Minimal multipart/form-data parser (fields → str, file parts → UploadedFile)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ApiError(400, "Bad Request: multipart boundary missing")
    delimiter = b"--" + match.group(1).encode("latin-1")
    result: dict[str, str | UploadedFile] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        part = part[:-2] if part.endswith(b"\r\n") else part
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = _parse_disposition(headers.get("content-disposition", ""))
        field_name = disposition.get("name")
        if field_name is None:
            continue
        if "filename" in disposition or "filename*" in disposition:
            result[field_name] = UploadedFile(
                filename=disposition.get("filename"),
                content_type=headers.get("content-type"),
                content=content,
            )
        else:
            result[field_name] = content.decode("utf-8")
    return result


def decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Decode wire values: JSON-encoded strings → objects/ints/bools, text fields kept."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in _STRING_PARAMS:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _request_params(request: HTTPRequest) -> dict[str, Any]:
    raw: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    ctype = request.headers.get("content-type", "")
    if request.body:
        if ctype.startswith("multipart/form-data"):
            raw.update(parse_multipart(request.body, ctype))
        elif ctype.startswith("application/json"):
            try:
                data = json.loads(request.body)
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON object") from exc
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: JSON object expected")
            raw.update(data)
        else:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
            raw.update({k: v[-1] for k, v in form.items()})
    return decode_params(raw)


# ------------------------------------------------------------------------------------------


class FakeBotAPI(FakeServerBase):
    """Fake Telegram Bot API.

    Args:
        token: the only accepted token (others → 401 Unauthorized).
        bot_id / username / first_name: the bot identity returned by ``getMe``
            (``bot_id`` defaults to the numeric prefix of the token).
        rate_limit: enforce ``rate_limit_per_chat`` messages per ``rate_limit_window``
            seconds per chat and ``rate_limit_global`` overall for ``rate_limited_methods``;
            excess calls get 429 with ``retry_after=rate_limit_retry_after``.
        strict_html_amp / strict_html_gt: HTML strictness for bare ``&`` / ``>``.
        max_message_length / max_caption_length: Telegram limits (4096 / 1024).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int | None = None,
        username: str = "papersbot_test_bot",
        first_name: str = "PapersBot Test",
        rate_limit: bool = False,
        rate_limit_per_chat: int = 1,
        rate_limit_global: int = 30,
        rate_limit_window: float = 1.0,
        rate_limit_retry_after: int = 1,
        rate_limited_methods: Iterable[str] = ("sendMessage", "sendDocument"),
        strict_html_amp: bool = True,
        strict_html_gt: bool = False,
        max_message_length: int = 4096,
        max_caption_length: int = 1024,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        prefix = token.split(":", 1)[0]
        self.token = token
        self.bot_id = bot_id if bot_id is not None else (int(prefix) if prefix.isdigit() else 1)
        self.username = username
        self.first_name = first_name
        self.rate_limit = rate_limit
        self.rate_limit_per_chat = rate_limit_per_chat
        self.rate_limit_global = rate_limit_global
        self.rate_limit_window = rate_limit_window
        self.rate_limit_retry_after = rate_limit_retry_after
        self.rate_limited_methods = {m.lower() for m in rate_limited_methods}
        self.strict_html_amp = strict_html_amp
        self.strict_html_gt = strict_html_gt
        self.max_message_length = max_message_length
        self.max_caption_length = max_caption_length

        self._cond = threading.Condition()
        self._calls: list[ApiCall] = []
        self._faults: list[_Fault] = []
        self._updates: list[dict[str, Any]] = []  # unconfirmed
        self._pushed: list[dict[str, Any]] = []  # everything ever pushed
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._webhook_url = ""
        self._chats: dict[int, dict[str, Any]] = {}
        self._msg_counters: dict[int, int] = defaultdict(int)
        self._chat_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._outgoing: list[_Outgoing] = []
        self._outgoing_index: dict[tuple[int, int], _Outgoing] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._open_callbacks: set[str] = set()
        # callback queries, inline queries, user languages (issue 12; see the block after answerCallbackQuery)
        self._languages: dict[int, str] = {}
        self._inline_ids = itertools.count(1)
        self._open_inline: set[str] = set()
        self._inline_answers: dict[str, dict[str, Any]] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._rl_chat: dict[str, deque[float]] = defaultdict(deque)
        self._rl_global: deque[float] = deque()
        self.rate_limit_hits = 0
        self._hold_methods: set[str] = set()
        self._released = threading.Event()
        self.held = 0
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": self._m_get_me,
            "getupdates": self._m_get_updates,
            "deletewebhook": self._m_delete_webhook,
            "setwebhook": self._m_set_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "setmycommands": self._m_set_my_commands,
            "getmycommands": self._m_get_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "sendmessage": self._m_send_message,
            "editmessagetext": self._m_edit_message_text,
            "editmessagereplymarkup": self._m_edit_reply_markup,
            "deletemessage": self._m_delete_message,
            "sendchataction": self._m_send_chat_action,
            "answercallbackquery": self._m_answer_callback_query,
            "answerinlinequery": self._m_answer_inline_query,
            "senddocument": self._m_send_document,
            "getfile": self._m_get_file,
            "close": lambda _p: True,
            "logout": lambda _p: True,
        }
        self._init_streaming()

    # ======================================================================================
    # URLs and identity

    @property
    def base_url(self) -> str:
        """Pass as ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        """Pass as ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        return self.url + "/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a Telegram ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    # ======================================================================================
    # inspection API

    @property
    def sent(self) -> list[ApiCall]:
        """Every API call received (including failed/dropped ones and getUpdates), in order."""
        with self._cond:
            return list(self._calls)

    def calls(self, method: str, *, ok: bool | None = None) -> list[ApiCall]:
        """Calls of ``method`` (case-insensitive); ``ok=True`` keeps only successful ones."""
        low = method.lower()
        return [
            c for c in self.sent if c.method.lower() == low and (ok is None or c.ok == ok)
        ]

    def messages_to(
        self, chat_id: int, *, include_deleted: bool = False, documents: bool = False
    ) -> list[dict[str, Any]]:
        """Messages the bot successfully sent to ``chat_id`` (sendMessage; + documents if asked).

        Each record: ``text`` (raw as sent / last edit, markup included), ``plain``
        (rendered text Telegram shows), ``parse_mode``, ``entities``, ``reply_markup``,
        ``message_id``, ``history`` (earlier texts), ``edited``, ``deleted``, ``method``,
        ``document``/``content`` (sendDocument), ``message`` (the Telegram Message object).
        """
        with self._cond:
            return [
                o.as_record()
                for o in self._outgoing
                if o.chat_id == chat_id
                and (include_deleted or not o.deleted)
                and (documents or o.method == "sendMessage")
            ]

    def texts_to(self, chat_id: int) -> list[str]:
        """Just the (raw) texts of ``messages_to(chat_id)``."""
        return [str(m["text"]) for m in self.messages_to(chat_id)]

    def documents_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Documents the bot sent to ``chat_id`` (records as in ``messages_to``)."""
        return [
            m for m in self.messages_to(chat_id, documents=True) if m["method"] == "sendDocument"
        ]

    def wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, *, documents: bool = False
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages went to ``chat_id``; TimeoutError otherwise.

        Blocking: call it from a thread that is not running the bot's event loop
        (in async tests use :meth:`async_wait_for_messages`).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.messages_to(chat_id, documents=documents)
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {count} message(s) to chat {chat_id}, got {len(got)}: "
                        f"{[m['text'] for m in got]!r}; calls: "
                        f"{[(c.method, c.status, c.description) for c in self._calls[-10:]]!r}"
                    )
                self._cond.wait(remaining)

    async def async_wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, *, documents: bool = False
    ) -> list[dict[str, Any]]:
        """Async variant of :meth:`wait_for_messages` (polls without blocking the loop)."""
        return await self._async_poll(
            lambda: self.wait_for_messages(chat_id, count, 0, documents=documents), timeout
        )

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[ApiCall]:
        """Block until ``count`` calls of ``method`` were received; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.calls(method)
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} {method} call(s), got {len(got)}")
                self._cond.wait(remaining)

    async def async_wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 5.0
    ) -> list[ApiCall]:
        """Async variant of :meth:`wait_for_calls`."""
        return await self._async_poll(lambda: self.wait_for_calls(method, count, 0), timeout)

    def wait_until_delivered(self, timeout: float = 5.0) -> None:
        """Block until every pushed update was fetched *and confirmed* via getUpdates offset."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._updates:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._updates)} update(s) still unconfirmed")
                self._cond.wait(remaining)

    @staticmethod
    async def _async_poll(check: Callable[[], _T], timeout: float) -> _T:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return check()
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.01)

    @property
    def pending_updates(self) -> int:
        """Pushed updates not yet confirmed by the bot."""
        with self._cond:
            return len(self._updates)

    @property
    def pushed(self) -> list[dict[str, Any]]:
        """Every update ever pushed (copies)."""
        with self._cond:
            return copy.deepcopy(self._pushed)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        """Commands registered via setMyCommands for ``scope``/``language_code`` (or None)."""
        with self._cond:
            found = self._commands.get(self._commands_key(scope, language_code))
            return list(found) if found is not None else None

    @property
    def webhook_url(self) -> str:
        """Currently set webhook URL ('' when none)."""
        with self._cond:
            return self._webhook_url

    def file_content(self, file_id: str) -> bytes:
        """Content of a stored file (registered or uploaded by the bot)."""
        with self._cond:
            return self._files[file_id].content

    def reset(self) -> None:
        """Forget recorded calls, outgoing messages, faults and pending updates."""
        with self._cond:
            self._calls.clear()
            self._faults.clear()
            self._updates.clear()
            self._outgoing.clear()
            self._outgoing_index.clear()
            self._rl_chat.clear()
            self._rl_global.clear()
            self.rate_limit_hits = 0
            self._cond.notify_all()

    # ======================================================================================
    # fault injection

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        times: int | None = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` matching calls (``None`` = forever) fail with ``status``.

        ``method`` is case-insensitive, ``"*"`` matches any method. 429 answers carry
        ``parameters.retry_after`` (default 1 — must be non-zero for PTB's RetryAfter).
        """
        if status == 429 and not retry_after:
            retry_after = 1
        with self._cond:
            self._faults.append(
                _Fault(
                    method=method.lower(),
                    kind="fail",
                    status=status,
                    description=description or _default_description(status, retry_after),
                    retry_after=retry_after,
                    chat_id=chat_id,
                    remaining=times,
                )
            )

    def drop_next(
        self,
        method: str,
        times: int | None = 1,
        *,
        chat_id: int | str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Close the connection without answering the next matching call(s).

        With ``after_processing=True`` the call takes effect (message is sent) but
        the response is lost — the classic "did it go through?" case.
        """
        with self._cond:
            self._faults.append(
                _Fault(
                    method=method.lower(),
                    kind="drop",
                    chat_id=chat_id,
                    remaining=times,
                    after_processing=after_processing,
                )
            )

    def hold(self, method: str) -> None:
        """From now on, matching calls hang without being processed (a network that stops delivering)
        until :meth:`release`; then their connections are closed unanswered. Nothing held takes effect."""
        with self._cond:
            self._released.clear()
            self._hold_methods.add(method.lower())

    def release(self) -> None:
        """Stop holding; held calls are dropped (never processed)."""
        with self._cond:
            self._hold_methods.clear()
            self._released.set()
            self._cond.notify_all()

    def stop(self) -> None:
        self.release()
        super().stop()

    def clear_faults(self) -> None:
        """Remove all pending fault rules."""
        with self._cond:
            self._faults.clear()

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, params):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # ======================================================================================
    # incoming traffic (test side)

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` assigned if missing); returns the update_id."""
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            else:
                self._update_ids = itertools.count(
                    max(int(update["update_id"]) + 1, next(self._update_ids))
                )
            self._updates.append(update)
            self._pushed.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Register (or look up) a chat; type defaults from the id sign (>0 private)."""
        with self._cond:
            existing = self._chats.get(chat_id)
            if existing is not None and (chat_type is None or existing["type"] == chat_type):
                return dict(existing)
            if chat_type is None:
                chat_type = (
                    "private" if chat_id > 0
                    else "supergroup" if str(chat_id).startswith("-100") else "group"
                )
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = f"User{chat_id}"
                if username:
                    chat["username"] = username
            else:
                chat["title"] = title or "Test Group"
            self._chats[chat_id] = chat
            return dict(chat)

    def _user(
        self, chat_id: int, chat_type: str, user_id: int | None, username: str | None
    ) -> dict[str, Any]:
        uid = user_id if user_id is not None else (chat_id if chat_type == "private" else 4242)
        user: dict[str, Any] = {
            "id": uid,
            "is_bot": False,
            "first_name": f"User{uid}",
            "language_code": self._languages.get(uid, "en"),
        }
        if username:
            user["username"] = username
        return user

    def _next_message_id(self, chat_id: int) -> int:
        self._msg_counters[chat_id] += 1
        return self._msg_counters[chat_id]

    def _incoming_message(
        self,
        chat_id: int,
        *,
        user_id: int | None,
        chat_type: str,
        username: str | None,
        chat_title: str | None,
        reply_to_bot: bool,
        reply_to_message_id: int | None,
    ) -> dict[str, Any]:
        chat = self.chat(chat_id, chat_type, title=chat_title, username=username)
        with self._cond:
            msg: dict[str, Any] = {
                "message_id": self._next_message_id(chat_id),
                "date": int(time.time()),
                "chat": chat,
                "from": self._user(chat_id, chat_type, user_id, username),
            }
            target: dict[str, Any] | None = None
            if reply_to_message_id is not None:
                target = self._chat_messages.get((chat_id, reply_to_message_id))
                if target is None:
                    raise KeyError(f"no message {reply_to_message_id} in chat {chat_id}")
            elif reply_to_bot:
                bot_msgs = [o for o in self._outgoing if o.chat_id == chat_id and not o.deleted]
                if bot_msgs:
                    target = bot_msgs[-1].message
                else:
                    target = self._store_message(
                        {
                            "message_id": self._next_message_id(chat_id),
                            "date": int(time.time()),
                            "chat": chat,
                            "from": self.bot_user,
                            "text": "(earlier bot message)",
                        }
                    )
            if target is not None:
                msg["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
            return msg

    def _store_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._chat_messages[(msg["chat"]["id"], msg["message_id"])] = msg
        return msg

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_bot: bool = False,
        entities: list[dict[str, Any]] | None = None,
        username: str | None = None,
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Push a user text message; entities (url/bot_command/mention/hashtag) are computed
        in UTF-16 units unless given. In private chats the user id defaults to ``chat_id``,
        in groups to 4242. Returns the update_id.
        """
        msg = self._incoming_message(
            chat_id,
            user_id=user_id,
            chat_type=chat_type,
            username=username,
            chat_title=chat_title,
            reply_to_bot=reply_to_bot,
            reply_to_message_id=reply_to_message_id,
        )
        msg["text"] = text
        ents = auto_entities(text) if entities is None else entities
        if ents:
            msg["entities"] = ents
        with self._cond:
            self._store_message(msg)
        return self.push_update({"message": msg})

    def push_command(
        self,
        chat_id: int,
        command_text: str,
        *,
        mention_bot: bool = False,
        **kwargs: Any,
    ) -> int:
        """Push ``"/cmd args"`` with a bot_command entity; ``mention_bot`` → ``/cmd@botname``."""
        if not command_text.startswith("/"):
            raise ValueError("command_text must start with '/'")
        if mention_bot:
            head, sep, rest = command_text.partition(" ")
            command_text = f"{head}@{self.username}{sep}{rest}"
        head = command_text.split(maxsplit=1)[0]
        entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(head)}]
        entities += [e for e in auto_entities(command_text) if e["offset"] > 0]
        kwargs.setdefault("entities", entities)
        return self.push_text(chat_id, command_text, **kwargs)

    def add_file(
        self, file_id: str, content: bytes, file_path: str | None = None
    ) -> dict[str, Any]:
        """Register a downloadable file; returns the Telegram ``File`` object."""
        with self._cond:
            stored = _StoredFile(
                file_id=file_id,
                file_unique_id=f"uniq-{file_id}"[:32],
                file_path=file_path or f"documents/{file_id}",
                content=bytes(content),
            )
            self._files[file_id] = stored
            return stored.as_file()

    def push_document(
        self,
        chat_id: int,
        file_id: str,
        file_name: str,
        content: bytes,
        mime_type: str = "text/markdown",
        caption: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
        chat_title: str | None = None,
        reply_to_bot: bool = False,
    ) -> int:
        """Push a user document (file registered for getFile/download); returns update_id."""
        self.add_file(file_id, content, f"documents/{file_name}")
        msg = self._incoming_message(
            chat_id,
            user_id=user_id,
            chat_type=chat_type,
            username=username,
            chat_title=chat_title,
            reply_to_bot=reply_to_bot,
            reply_to_message_id=None,
        )
        msg["document"] = {
            "file_id": file_id,
            "file_unique_id": f"uniq-{file_id}"[:32],
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        if caption is not None:
            msg["caption"] = caption
            ents = auto_entities(caption)
            if ents:
                msg["caption_entities"] = ents
        with self._cond:
            self._store_message(msg)
        return self.push_update({"message": msg})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
    ) -> int:
        """Push a callback_query pressing a button on message ``message_id``; returns update_id."""
        chat = self.chat(chat_id, chat_type)
        with self._cond:
            message = self._chat_messages.get((chat_id, message_id))
            if message is None:
                message = {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": chat,
                    "from": self.bot_user,
                    "text": "(unknown message)",
                }
            query_id = f"cbq-{next(self._callback_ids)}"
            self._open_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(chat_id, chat["type"], user_id, username),
            "message": message,
            "chat_instance": f"ci-{chat_id}",
            "data": data,
        }
        return self.push_update({"callback_query": query})

    # ======================================================================================
    # HTTP side

    def _wake_waiters(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def handle_request(self, request: HTTPRequest) -> HTTPResponse:
        """Route one HTTP request."""
        path = unquote(request.path)
        if path.startswith("/file/bot"):
            return self._download(path[len("/file/bot") :])
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)/?", path)
        if match is None:
            return self._error_response(ApiError(404, "Not Found"))
        token, method = match.groups()
        call = ApiCall(method=method, params={}, time=time.time())
        try:
            call.params = _request_params(request)
        except ApiError as exc:
            return self._finish(call, exc)
        if token != self.token:
            return self._finish(call, ApiError(401, "Unauthorized"))

        with self._cond:
            holding = method.lower() in self._hold_methods
            if holding:
                self.held += 1
                self._cond.notify_all()
        if holding:
            self._released.wait()
            raise DropConnection
        with self._cond:
            fault = self._take_fault(method, call.params)
        if fault is not None and fault.kind == "fail":
            params = {"retry_after": fault.retry_after} if fault.retry_after else None
            return self._finish(
                call, ApiError(fault.status, fault.description or "", params)
            )
        if fault is not None and fault.kind == "drop" and not fault.after_processing:
            self._record(call)
            raise DropConnection
        limited = self.rate_limit and method.lower() in self.rate_limited_methods
        if limited and not self._rate_ok(call.params):
            retry = self.rate_limit_retry_after
            return self._finish(
                call,
                ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}),
            )
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._finish(call, ApiError(404, "Not Found"))
        try:
            result = handler(call.params)
        except ApiError as exc:
            return self._finish(call, exc)
        response = self._finish(call, result)
        if fault is not None and fault.kind == "drop":
            raise DropConnection
        return response

    def _record(self, call: ApiCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _finish(self, call: ApiCall, outcome: Any) -> HTTPResponse:
        if isinstance(outcome, ApiError):
            call.status = outcome.code
            call.description = outcome.description
            self._record(call)
            return self._error_response(outcome)
        call.status = 200
        call.result = outcome
        self._record(call)
        return HTTPResponse.json_body({"ok": True, "result": outcome})

    @staticmethod
    def _error_response(err: ApiError) -> HTTPResponse:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": err.code,
            "description": err.description,
        }
        if err.parameters:
            body["parameters"] = err.parameters
        return HTTPResponse.json_body(body, status=err.code)

    def _download(self, rest: str) -> HTTPResponse:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        with self._cond:
            for stored in self._files.values():
                if stored.file_path == file_path:
                    ctype = mimetypes.guess_type(file_path)[0] or "application/octet-stream"
                    return HTTPResponse(
                        status=200, body=stored.content, headers={"Content-Type": ctype}
                    )
        return self._error_response(ApiError(404, "Not Found"))

    def _rate_ok(self, params: dict[str, Any]) -> bool:
        now = time.monotonic()
        horizon = now - self.rate_limit_window
        with self._cond:
            per_chat = self._rl_chat[str(params.get("chat_id"))]
            for queue in (per_chat, self._rl_global):
                while queue and queue[0] <= horizon:
                    queue.popleft()
            if len(per_chat) >= self.rate_limit_per_chat or (
                len(self._rl_global) >= self.rate_limit_global
            ):
                self.rate_limit_hits += 1
                return False
            per_chat.append(now)
            self._rl_global.append(now)
            return True

    # ======================================================================================
    # method implementations (run in server threads)

    def _m_get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = [str(x) for x in params["allowed_updates"]]
            self._poll_generation += 1
            generation = self._poll_generation
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            self._cond.notify_all()
            while True:
                ready = [u for u in self._updates if self._allowed(u)][:limit]
                if ready:
                    return copy.deepcopy(ready)
                if self.stopping.is_set():
                    raise DropConnection
                if generation != self._poll_generation:
                    raise ApiError(409, _default_description(409, None))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _DEFAULT_EXCLUDED_UPDATES

    def _m_delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
                self._cond.notify_all()
        return True

    def _m_set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            self._webhook_url = url
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _m_get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _m_set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: parameter \"commands\" is required")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.fullmatch(str(cmd.get("command"))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            desc = str(cmd.get("description") or "")
            if not 1 <= len(desc) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        with self._cond:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    def _m_get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        with self._cond:
            return list(self._commands.get(key, []))

    def _m_delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        with self._cond:
            self._commands.pop(key, None)
        return True

    def _resolve_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return self.chat(chat_id)

    def _render(
        self, text: str, parse_mode: Any, entities: Any, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                return parse_telegram_html(
                    text, strict_amp=self.strict_html_amp, strict_gt=self.strict_html_gt
                )
            except EntityParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        if mode and mode not in ("markdown", "markdownv2"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode \"{parse_mode}\"")
        if entities is not None and not isinstance(entities, list):
            kind = "caption_entities" if caption else "entities"
            raise ApiError(400, f"Bad Request: can't parse {kind} JSON object")
        return text, list(entities or [])

    def _bot_message(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        if reply_id is not None:
            target = self._chat_messages.get((chat["id"], int(reply_id)))
            if target is None and not (isinstance(reply, dict)
                                       and reply.get("allow_sending_without_reply")):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if target is not None:
                msg["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
            msg["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        if isinstance(params.get("message_thread_id"), int):
            msg["message_thread_id"] = params["message_thread_id"]
        return msg

    def _m_send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._render(
            text, params.get("parse_mode"), params.get("entities"), caption=False
        )
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > self.max_message_length:
            raise ApiError(400, "Bad Request: message is too long")
        with self._cond:
            msg = self._bot_message(chat, params)
            msg["text"] = plain
            if entities:
                msg["entities"] = entities
            if isinstance(params.get("link_preview_options"), dict):
                msg["link_preview_options"] = params["link_preview_options"]
            self._add_outgoing(
                _Outgoing(
                    chat_id=chat["id"],
                    message_id=msg["message_id"],
                    method="sendMessage",
                    raw_text=text,
                    parse_mode=params.get("parse_mode"),
                    message=msg,
                )
            )
            return copy.deepcopy(msg)

    def _add_outgoing(self, out: _Outgoing) -> None:
        self._store_message(out.message)
        self._outgoing.append(out)
        self._outgoing_index[(out.chat_id, out.message_id)] = out
        self._cond.notify_all()

    def _find_outgoing(self, params: dict[str, Any]) -> _Outgoing:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._resolve_chat(params)
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Bad Request: message to edit not found") from exc
        out = self._outgoing_index.get((chat["id"], message_id))
        if out is None or out.deleted:
            if (chat["id"], message_id) in self._chat_messages and out is None:
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        return out

    def _m_edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._render(
            text, params.get("parse_mode"), params.get("entities"), caption=False
        )
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > self.max_message_length:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = params.get("reply_markup")
        new_markup = (
            {"inline_keyboard": markup["inline_keyboard"]}
            if isinstance(markup, dict) and "inline_keyboard" in markup
            else None
        )
        with self._cond:
            out = self._find_outgoing(params)
            msg = out.message
            if "text" not in msg:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            if (
                msg.get("text") == plain
                and msg.get("entities", []) == entities
                and msg.get("reply_markup") == new_markup
            ):
                raise ApiError(400, _NOT_MODIFIED)
            out.history.append(out.raw_text or "")
            out.raw_text = text
            out.parse_mode = params.get("parse_mode")
            msg["text"] = plain
            msg["edit_date"] = int(time.time())
            self._set_or_pop(msg, "entities", entities or None)
            self._set_or_pop(msg, "reply_markup", new_markup)
            self._cond.notify_all()
            return copy.deepcopy(msg)

    @staticmethod
    def _set_or_pop(msg: dict[str, Any], key: str, value: Any) -> None:
        if value is None:
            msg.pop(key, None)
        else:
            msg[key] = value

    def _m_edit_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = params.get("reply_markup")
        new_markup = (
            {"inline_keyboard": markup["inline_keyboard"]}
            if isinstance(markup, dict) and "inline_keyboard" in markup
            else None
        )
        with self._cond:
            out = self._find_outgoing(params)
            if out.message.get("reply_markup") == new_markup:
                raise ApiError(400, _NOT_MODIFIED)
            self._set_or_pop(out.message, "reply_markup", new_markup)
            out.message["edit_date"] = int(time.time())
            self._cond.notify_all()
            return copy.deepcopy(out.message)

    def _m_delete_message(self, params: dict[str, Any]) -> bool:
        with self._cond:
            try:
                out = self._find_outgoing(params)
            except ApiError as exc:
                raise ApiError(400, "Bad Request: message to delete not found") from exc
            out.deleted = True
            self._cond.notify_all()
        return True

    def _m_send_chat_action(self, params: dict[str, Any]) -> bool:
        self._resolve_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _m_answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        with self._cond:
            if query_id not in self._open_callbacks:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            self._open_callbacks.discard(query_id)
        return True

    # ======================================================================================
    # callback queries, inline queries and user languages (issue 12 items 2-5)

    def set_language(self, user_id: int, language_code: str) -> None:
        """The ``language_code`` of ``user_id`` in every later update (default ``en``)."""
        with self._cond:
            self._languages[user_id] = language_code

    def unanswered_callbacks(self) -> list[str]:
        """Ids of callback queries pushed but never answered with answerCallbackQuery."""
        with self._cond:
            return sorted(self._open_callbacks)

    def callback_answers(self) -> list[dict[str, Any]]:
        """The params of every successful answerCallbackQuery, in order."""
        return [dict(c.params) for c in self.calls("answerCallbackQuery", ok=True)]

    def push_inline_query(self, user_id: int, query: str, *, offset: str = "",
                          chat_type: str | None = "sender") -> str:
        """Push an inline query (``@bot query`` typed in a chat); returns the query id."""
        with self._cond:
            query_id = f"iq-{next(self._inline_ids)}"
            self._open_inline.add(query_id)
        inline: dict[str, Any] = {
            "id": query_id,
            "from": self._user(user_id, "private", user_id, None),
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            inline["chat_type"] = chat_type
        self.push_update({"inline_query": inline})
        return query_id

    def wait_for_inline_answer(self, query_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The params of the answerInlineQuery that answered ``query_id`` (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while query_id not in self._inline_answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"inline query {query_id} was not answered within {timeout} s")
                self._cond.wait(left)
            return copy.deepcopy(self._inline_answers[query_id])

    def inline_card(self, result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """(plain text, entities) of the message an inline result posts when the user picks it."""
        content = result["input_message_content"]
        return self._render(content["message_text"], content.get("parse_mode"), content.get("entities"),
                            caption=False)

    def _m_answer_inline_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("id"), str):
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            result_id = result["id"]
            if not 1 <= len(result_id.encode()) <= 64 or result_id in seen:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID" if result_id not in seen
                               else "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if result.get("type") != "article" or not result.get("title"):
                raise ApiError(400, "Bad Request: RESULT_TYPE_INVALID")
            content = result.get("input_message_content")
            if not isinstance(content, dict) or not str(content.get("message_text") or "").strip():
                raise ApiError(400, "Bad Request: MESSAGE_EMPTY")
            plain, _ = self.inline_card(result)  # a card Telegram could not parse is refused here
            if len(plain) > self.max_message_length:
                raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._cond:
            if query_id not in self._open_inline:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or "
                                    "query ID is invalid")
            self._open_inline.discard(query_id)
            self._inline_answers[query_id] = copy.deepcopy(params)
            self._cond.notify_all()
        return True

    def _m_send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        document = params.get("document")
        caption = params.get("caption")
        plain_caption: str | None = None
        caption_entities: list[dict[str, Any]] = []
        if isinstance(caption, str) and caption:
            plain_caption, caption_entities = self._render(
                caption, params.get("parse_mode"), params.get("caption_entities"), caption=True
            )
            if len(plain_caption) > self.max_caption_length:
                raise ApiError(400, "Bad Request: message caption is too long")
        upload: UploadedFile | None = None
        with self._cond:
            if isinstance(document, UploadedFile):
                if not document.content:
                    raise ApiError(400, "Bad Request: file must be non-empty")
                upload = document
                number = next(self._file_counter)
                file_name = document.filename or f"file_{number}"
                stored = _StoredFile(
                    file_id=f"BQACAgFake{number:06d}",
                    file_unique_id=f"AgADFake{number:06d}",
                    file_path=f"documents/file_{number}_{file_name}",
                    content=document.content,
                )
                self._files[stored.file_id] = stored
                mime = document.content_type or "application/octet-stream"
            elif isinstance(document, str) and document in self._files:
                stored = self._files[document]
                file_name = stored.file_path.rsplit("/", 1)[-1]
                mime = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            else:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            msg = self._bot_message(chat, params)
            msg["document"] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime,
                "file_size": len(stored.content),
            }
            if plain_caption:
                msg["caption"] = plain_caption
                if caption_entities:
                    msg["caption_entities"] = caption_entities
            self._add_outgoing(
                _Outgoing(
                    chat_id=chat["id"],
                    message_id=msg["message_id"],
                    method="sendDocument",
                    raw_text=caption if isinstance(caption, str) else None,
                    parse_mode=params.get("parse_mode"),
                    message=msg,
                    upload=upload or UploadedFile(file_name, mime, stored.content),
                )
            )
            return copy.deepcopy(msg)

    def _m_get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        with self._cond:
            stored = self._files.get(file_id)
            if stored is None:
                raise ApiError(400, "Bad Request: invalid file_id")
            if len(stored.content) > _MAX_DOWNLOAD:
                raise ApiError(400, "Bad Request: file is too big")
            return stored.as_file()

    # ======================================================================================
    # streaming answers: sendMessageDraft (Bot API 9.5+). Edits of a streamed message are
    # editMessageText above; script a 429 on them with fail_next("editMessageText", 429, ...).

    def _init_streaming(self) -> None:
        self._drafts: list[dict[str, Any]] = []
        self._methods["sendmessagedraft"] = self._m_send_message_draft

    def drafts_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Drafts the bot showed in ``chat_id``, in order: ``draft_id``, ``text`` (raw), ``parse_mode``,
        ``plain`` (what Telegram shows), ``entities`` and ``time`` (``time.time()`` on arrival)."""
        with self._cond:
            return [copy.deepcopy(d) for d in self._drafts if d["chat_id"] == chat_id]

    def _m_send_message_draft(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params)
        if chat.get("type") != "private":
            raise ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")  # drafts are for private chats only
        draft_id = params.get("draft_id")
        if isinstance(draft_id, bool) or not isinstance(draft_id, int) or draft_id == 0:
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        text = params.get("text")
        if text is not None and not isinstance(text, str):
            raise ApiError(400, "Bad Request: text must be a string")
        plain, entities = self._render(text or "", params.get("parse_mode"), params.get("entities"),
                                       caption=False)
        if utf16_len(plain) > self.max_message_length:
            raise ApiError(400, "Bad Request: TEXT_TOO_LONG")
        with self._cond:
            self._drafts.append({"chat_id": chat["id"], "draft_id": draft_id, "text": text,
                                 "parse_mode": params.get("parse_mode"), "plain": plain,
                                 "entities": entities, "time": time.time()})
            self._cond.notify_all()
        return True


def _check_inline_keyboard(rows: Any) -> None:
    """Telegram's checks of an inline keyboard: button texts, one action each, callback_data 1-64 bytes."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Array")
    if sum(len(row) for row in rows) > 100 or any(len(row) > 8 for row in rows):
        raise ApiError(400, "Bad Request: reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            actions = [k for k in ("callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat",
                                   "web_app", "login_url", "pay", "copy_text") if k in button]
            if len(actions) != 1:
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: exactly one of the optional "
                                    "fields must be used")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
