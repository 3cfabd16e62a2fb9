"""Fake upstream sources for "sync from the source" tests, on ``127.0.0.1``.

* :class:`FakeDigestRepo` imitates ``raw.githubusercontent.com`` for the GitHub repository
  ``l-yohai/daily_papers_ko``: ``GET {url}/paper_logs/papers_list.csv`` and
  ``GET {url}/paper_logs/YYYY/MM/DD.md`` with strong ETags, ``Last-Modified`` and conditional
  requests (``If-None-Match`` / ``If-Modified-Since`` → 304).
* :class:`FakeHuggingFace` imitates ``https://huggingface.co/api``: ``GET {api_url}/daily_papers?date=``
  and ``GET {api_url}/papers/{arxiv_id}`` (the ``/api`` prefix is optional).

Both misbehave on demand: ``fail(path_or_prefix, kind, times=1, **params)`` queues faults for the
next matching requests, in order (see :data:`FAULT_PARAMS`), and every request is logged in
``requests`` (:class:`SourceRequest`: what was asked and exactly what was sent back).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from ._http import FakeServerBase, HTTPRequest, HTTPResponse

__all__ = [
    "DAY_PATH_RE",
    "FAULT_PARAMS",
    "INDEX_PATH",
    "FakeDigestRepo",
    "FakeHuggingFace",
    "FaultKind",
    "SourceRequest",
    "day_path",
]

FaultKind = Literal["status", "rate_limit", "timeout", "truncate", "html", "garbage_json", "drop"]

#: Keyword parameters each fault kind accepts (anything else is a ``TypeError`` in ``fail``).
#: status: code=500, retry_after=None (seconds, sent as ``Retry-After``), body=None, content_type=None
#: rate_limit: retry_after=1, body=None (always HTTP 429)
#: timeout: seconds=30.0 (then the normal answer; cut short by ``stop``)
#: truncate: keep=None (bytes of body sent) or fraction=0.5; full ``Content-Length``, then close
#: html: code=200, body=None (a typical HTML error page, ``text/html``)
#: garbage_json: body=None (``application/json`` that does not parse; FakeHuggingFace only)
#: drop: no params (close the connection without any response)
FAULT_PARAMS: dict[str, frozenset[str]] = {
    "status": frozenset({"code", "retry_after", "body", "content_type"}),
    "rate_limit": frozenset({"retry_after", "body"}),
    "timeout": frozenset({"seconds"}),
    "truncate": frozenset({"keep", "fraction"}),
    "html": frozenset({"code", "body"}),
    "garbage_json": frozenset({"body"}),
    "drop": frozenset(),
}

INDEX_PATH = "paper_logs/papers_list.csv"
INDEX_HEADER = "date,title,url\n"
DAY_PATH_RE = re.compile(r"^paper_logs/(\d{4})/(\d{2})/(\d{2})\.md$")
_HEADING_RE = re.compile(r"^###\s+\[(?P<title>.+)\]\((?P<url>https?://arxiv\.org/abs/[^)\s]+)\)\s*$", re.M)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"


def day_path(date_iso: str) -> str:
    """``"2025-02-05"`` → ``"paper_logs/2025/02/05.md"`` (the repository's layout)."""
    day = date.fromisoformat(date_iso)
    return f"paper_logs/{day:%Y/%m/%d}.md"


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


@dataclass
class SourceRequest:
    """One request as received, and what the fake answered.

    ``status`` is ``None`` while the answer is pending (a ``timeout`` fault) and stays ``None`` when
    the connection was dropped. ``body`` holds exactly the response body bytes sent (the short part
    for ``truncate``; empty for 304; after a ``timeout`` the client may have left before reading
    them). ``fault`` is the fault kind applied, if any.
    """

    method: str
    path: str  # as requested, e.g. "/paper_logs/2025/02/05.md" or "/api/daily_papers"
    route: str  # relative to the base URL, e.g. "paper_logs/2025/02/05.md" or "daily_papers"
    query: dict[str, list[str]]
    headers: dict[str, str]  # request headers, lower-case names
    status: int | None = None
    body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    time: float = field(default_factory=time.time)

    @property
    def bytes_sent(self) -> int:
        """Length of the response body sent."""
        return len(self.body)

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer."""
        return self.status == 304


@dataclass
class _Fault:
    pattern: str
    kind: str
    remaining: int
    params: dict[str, Any]


class _SourceServer(FakeServerBase):
    """Shared machinery: fault queue, request log, dispatch."""

    #: Body of the ``html`` fault when none is given.
    html_page: bytes = b""
    #: Fault kinds this fake refuses.
    unsupported_faults: frozenset[str] = frozenset()

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._lock = threading.Condition(threading.RLock())
        self._faults: list[_Fault] = []
        self._requests: list[SourceRequest] = []

    # -- faults ------------------------------------------------------------------------------

    def fail(self, path_or_prefix: str, kind: FaultKind, times: int = 1, **params: Any) -> None:
        """Queue ``kind`` for the next ``times`` requests whose route starts with ``path_or_prefix``.

        The route is the path relative to the base URL (a leading ``/`` is ignored; ``""`` or ``"*"``
        matches every request). A prefix containing ``?`` is matched against
        ``route?query`` with the query parameters in sorted order, e.g. ``"daily_papers?date=2025-02-05"``.
        Faults are consumed in the order queued; see :data:`FAULT_PARAMS` for ``params``.
        """
        if kind not in FAULT_PARAMS or kind in self.unsupported_faults:
            raise ValueError(f"{type(self).__name__} does not support fault kind {kind!r}")
        unknown = set(params) - FAULT_PARAMS[kind]
        if unknown:
            raise TypeError(f"fault {kind!r} takes {sorted(FAULT_PARAMS[kind])}, not {sorted(unknown)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        fraction = params.get("fraction")
        if fraction is not None and not 0 <= fraction < 1:
            raise ValueError("fraction must be in [0, 1)")
        pattern = self._normalize_pattern(path_or_prefix)
        with self._lock:
            self._faults.append(_Fault(pattern, kind, times, dict(params)))

    def pending_faults(self) -> int:
        """How many faulty answers are still queued (``times`` counted)."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    # -- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[SourceRequest]:
        """Snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, prefix: str = "") -> list[SourceRequest]:
        """Requests whose route starts with ``prefix`` (same normalisation as ``fail``)."""
        pattern = self._normalize_pattern(prefix)
        return [r for r in self.requests if r.route.startswith(pattern)]

    def bytes_sent(self, prefix: str = "") -> int:
        """Total response body bytes sent for routes starting with ``prefix``."""
        return sum(r.bytes_sent for r in self.requests_to(prefix))

    def reset_log(self) -> None:
        """Forget the recorded requests (data and queued faults are kept)."""
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0, *, prefix: str = "") -> list[SourceRequest]:
        """Block until ``count`` requests to routes starting with ``prefix`` arrived."""
        pattern = self._normalize_pattern(prefix)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._requests if r.route.startswith(pattern)]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} requests, got {len(got)}")
                self._lock.wait(remaining)

    # -- HTTP side ---------------------------------------------------------------------------

    def _wake_waiters(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def handle_request(self, request: HTTPRequest) -> HTTPResponse:
        """Log, apply the next matching fault (if any), answer."""
        route = self._route(request.path)
        record = SourceRequest(
            method=request.method,
            path=request.path,
            route=route,
            query={k: list(v) for k, v in request.query.items()},
            headers=dict(request.headers),
        )
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()
            fault = self._take_fault(route, request.query)
            record.fault = fault.kind if fault else None
        response = self._apply(fault, request, route)
        with self._lock:
            if not response.drop:
                record.status = response.status
                record.body = b"" if response.status == 304 else response.body
                record.response_headers = dict(response.headers)
            self._lock.notify_all()
        return response

    def _take_fault(self, route: str, query: Mapping[str, list[str]]) -> _Fault | None:
        with_query = route + "?" + urlencode(sorted((k, v) for k, vs in query.items() for v in vs))
        for fault in self._faults:
            target = with_query if "?" in fault.pattern else route
            if target.startswith(fault.pattern):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _apply(self, fault: _Fault | None, request: HTTPRequest, route: str) -> HTTPResponse:
        if fault is None:
            return self._serve(request, route)
        params = fault.params
        if fault.kind == "drop":
            return HTTPResponse.dropped()
        if fault.kind == "timeout":
            if self.sleep(float(params.get("seconds", 30.0))):
                return HTTPResponse.dropped()
            return self._serve(request, route)
        if fault.kind == "status":
            return self._error(
                int(params.get("code", 500)), params.get("body"), params.get("retry_after"), params.get("content_type")
            )
        if fault.kind == "rate_limit":
            return self._error(429, params.get("body"), params.get("retry_after", 1), None)
        if fault.kind == "html":
            body = params.get("body")
            page = self.html_page if body is None else _as_bytes(body)
            return HTTPResponse(status=int(params.get("code", 200)), body=page, headers={"Content-Type": _HTML})
        if fault.kind == "garbage_json":
            body = params.get("body")
            garbage = b'[{"paper": {"id": "2502.0' if body is None else _as_bytes(body)
            return HTTPResponse(status=200, body=garbage, headers={"Content-Type": _JSON})
        if fault.kind == "truncate":
            full = self._serve(request, route)
            if full.stream is not None or not full.body or full.status == 304:
                return HTTPResponse.dropped()  # nothing to cut: behave like a dropped connection
            keep = params.get("keep")
            sent = int(len(full.body) * params.get("fraction", 0.5)) if keep is None else int(keep)
            sent = max(0, min(sent, len(full.body) - 1))
            return HTTPResponse(
                status=full.status, body=full.body[:sent], headers=full.headers, content_length=len(full.body)
            )
        raise AssertionError(f"unhandled fault kind {fault.kind!r}")

    @staticmethod
    def _retry_after_header(retry_after: float | None) -> dict[str, str]:
        if retry_after is None:
            return {}
        value = int(retry_after) if float(retry_after).is_integer() else retry_after
        return {"Retry-After": str(value)}

    # -- subclass hooks ----------------------------------------------------------------------

    def _route(self, path: str) -> str:
        """The request path relative to the base URL, without a leading slash."""
        return path.lstrip("/")

    def _normalize_pattern(self, pattern: str) -> str:
        pattern = pattern.strip()
        return "" if pattern == "*" else pattern.lstrip("/")

    def _serve(self, request: HTTPRequest, route: str) -> HTTPResponse:
        raise NotImplementedError

    def _error(
        self, code: int, body: str | bytes | None, retry_after: float | None, content_type: str | None
    ) -> HTTPResponse:
        raise NotImplementedError


# =============================================================================== digest repo


class FakeDigestRepo(_SourceServer):
    """``raw.githubusercontent.com/l-yohai/daily_papers_ko/<branch>`` on 127.0.0.1.

    ``url`` (also ``source_url``) is the base the client is configured with; it serves
    ``{url}/paper_logs/papers_list.csv`` and ``{url}/paper_logs/YYYY/MM/DD.md`` from ``files``
    (path → bytes). Change content with ``put``/``remove``/``add_day`` (thread-safe; they also keep
    ``Last-Modified`` right). A missing path is ``404: Not Found`` like GitHub raw. The index starts
    with just its header line.

    Args:
        files: initial content, path (``paper_logs/...``) → text or bytes.
    """

    unsupported_faults = frozenset({"garbage_json"})
    html_page = (
        b"<!DOCTYPE html>\n<html>\n  <head>\n"
        b'    <meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        b"    <title>Unicorn! &middot; GitHub</title>\n  </head>\n  <body>\n"
        b"    <h1>No server is currently available to service your request.</h1>\n"
        b"    <p>Sorry about that. Please try refreshing and contact us if the problem persists.</p>\n"
        b"  </body>\n</html>\n"
    )

    def __init__(
        self, files: Mapping[str, str | bytes] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.files: dict[str, bytes] = {INDEX_PATH: INDEX_HEADER.encode()}
        self.modified: dict[str, float] = {}  # path → Last-Modified (epoch seconds)
        self._created = float(int(time.time()))
        for path, data in (files or {}).items():
            self.put(path, data)

    @property
    def source_url(self) -> str:
        """What the client gets as ``source_url`` (same as ``url``)."""
        return self.url

    # -- content -----------------------------------------------------------------------------

    def put(self, path: str, text: str | bytes, *, modified: float | datetime | None = None) -> None:
        """Store ``text`` at ``path`` (e.g. ``paper_logs/2025/02/05.md``).

        ``Last-Modified`` becomes ``modified`` (epoch seconds or datetime) or now; when the content
        changes within the same second as the previous version it moves one second on, so
        ``If-Modified-Since`` always sees a change. Storing identical bytes changes nothing.
        """
        path = path.lstrip("/")
        data = _as_bytes(text)
        with self._lock:
            previous = self.files.get(path)
            if previous == data and modified is None:
                return
            if modified is None:
                stamp = float(int(time.time()))
                before = self.modified.get(path)
                if previous is not None and before is not None and stamp <= before:
                    stamp = before + 1
            else:
                stamp = modified.timestamp() if isinstance(modified, datetime) else float(modified)
            self.files[path] = data
            self.modified[path] = stamp

    def remove(self, path: str) -> bool:
        """Delete ``path``; later requests get 404. Returns whether it existed."""
        path = path.lstrip("/")
        with self._lock:
            self.modified.pop(path, None)
            return self.files.pop(path, None) is not None

    def text(self, path: str) -> str | None:
        """The current content of ``path`` as text (``None`` when missing)."""
        with self._lock:
            data = self.files.get(path.lstrip("/"))
        return None if data is None else data.decode("utf-8")

    def add_day(self, date_iso: str, markdown_text: str, *, append: bool = False) -> list[tuple[str, str, str]]:
        """Publish a day: store its ``paper_logs/YYYY/MM/DD.md`` and list its papers in the index.

        Index rows (``date,title,url``) come from the ``### [Title](https://arxiv.org/abs/ID)``
        headings. By default the day file is replaced and the day's old index rows are dropped
        first; ``append=True`` appends the text to the day file and its rows to the index (like the
        source's re-runs, which leave two ``## Daily Papers`` headers in one file). Returns the rows added.
        """
        path = day_path(date_iso)
        rows = [(date_iso, m["title"].strip(), m["url"]) for m in _HEADING_RE.finditer(markdown_text)]
        with self._lock:
            existing = self.text(path) if append else None
            if existing:
                joined = existing if existing.endswith("\n") else existing + "\n"
                self.put(path, joined + "\n" + markdown_text)
            else:
                self.put(path, markdown_text)
            kept = self.index_rows()
            if not append:
                kept = [r for r in kept if r[0] != date_iso]
            self._write_index([*kept, *rows])
        return rows

    def index_rows(self) -> list[tuple[str, str, str]]:
        """The index (``papers_list.csv``) as ``(date, title, url)`` rows, header excluded."""
        raw = self.text(INDEX_PATH) or ""
        reader = csv.reader(io.StringIO(raw))
        rows = [tuple(row) for row in reader if row]
        if rows and list(rows[0]) == ["date", "title", "url"]:
            rows = rows[1:]
        return [(r[0], r[1], r[2]) for r in rows if len(r) >= 3]

    def load_paper_logs(self, root: Path) -> int:
        """Serve a local copy of ``paper_logs/`` (``YYYY/MM/DD.md`` files and ``papers_list.csv``).

        Returns how many day files were loaded, e.g. ``repo.load_paper_logs(Path("../shared/archive"))``.
        """
        count = 0
        for file in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9].md")):
            rel = file.relative_to(root).as_posix()
            self.put(f"paper_logs/{rel}", file.read_bytes())
            count += 1
        index = root / "papers_list.csv"
        if index.is_file():
            self.put(INDEX_PATH, index.read_bytes())
        return count

    def _write_index(self, rows: Iterable[tuple[str, str, str]]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "title", "url"])
        writer.writerows(rows)
        self.put(INDEX_PATH, out.getvalue())

    # -- HTTP side ---------------------------------------------------------------------------

    def _error(
        self, code: int, body: str | bytes | None, retry_after: float | None, content_type: str | None
    ) -> HTTPResponse:
        data = f"{code}: {_phrase(code)}".encode() if body is None else _as_bytes(body)
        headers = {"Content-Type": content_type or _TEXT, **self._retry_after_header(retry_after)}
        return HTTPResponse(status=code, body=data, headers=headers)

    def _serve(self, request: HTTPRequest, route: str) -> HTTPResponse:
        if request.method != "GET":
            return self._error(405, None, None, None)
        with self._lock:
            data = self.files.get(route)
            stamp = self.modified.get(route, self._created)
        if data is None:
            return self._error(404, None, None, None)
        etag = '"' + hashlib.sha1(data).hexdigest() + '"'
        headers = {
            "Content-Type": _TEXT,
            "ETag": etag,
            "Last-Modified": formatdate(stamp, usegmt=True),
            "Cache-Control": "max-age=300",
            "Accept-Ranges": "bytes",
        }
        if _not_modified(request.headers, etag, stamp):
            return HTTPResponse(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        return HTTPResponse(status=200, body=data, headers=headers)


def _not_modified(headers: Mapping[str, str], etag: str, stamp: float) -> bool:
    """RFC 9110: ``If-None-Match`` (weak comparison) wins; else ``If-Modified-Since``."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return any(t == "*" or t.removeprefix("W/") == etag for t in tags)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False  # an unparsable date is ignored
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return int(stamp) <= since.timestamp()
    return False


# ============================================================================== Hugging Face


class FakeHuggingFace(_SourceServer):
    """``https://huggingface.co/api`` on 127.0.0.1 (Daily Papers endpoints only).

    ``api_url`` (``url + "/api"``) is the base the client is configured with; ``/api`` may be omitted.
    ``papers`` maps an ISO date to that day's list items (``{"paper": {...}, "title", ...}``);
    ``unlisted`` holds papers only reachable through ``/papers/{id}``. Use ``add_paper`` and
    ``set_upvotes`` rather than editing them directly while the server runs.
    """

    html_page = (
        b'<!doctype html>\n<html class="">\n<head>\n<meta charset="utf-8" />\n'
        b"<title>Hugging Face - 503</title>\n</head>\n<body>\n"
        b"<h1>503</h1>\n<p>Hugging Face is temporarily unavailable. We are working on it.</p>\n"
        b"</body>\n</html>\n"
    )

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.papers: dict[str, list[dict[str, Any]]] = {}
        self.unlisted: dict[str, dict[str, Any]] = {}

    @property
    def api_url(self) -> str:
        """``url + "/api"``: the stand-in for ``https://huggingface.co/api``."""
        return self.url + "/api"

    # -- content -----------------------------------------------------------------------------

    def add_paper(
        self,
        date_iso: str,
        arxiv_id: str,
        title: str,
        abstract: str,
        upvotes: int,
        authors: Sequence[str] = (),
        github_repo: str | None = None,
        keywords: Sequence[str] | None = None,
        listed: bool = True,
    ) -> dict[str, Any]:
        """Add (or replace) a paper on ``date_iso``'s list; ``listed=False``: only ``/papers/{id}``.

        Returns the paper object (the same dict the server serves).
        """
        if not _DATE_RE.match(date_iso):
            raise ValueError(f"not an ISO date: {date_iso!r}")
        stamp = f"{date_iso}T00:00:00.000Z"
        paper: dict[str, Any] = {
            "id": arxiv_id,
            "authors": [
                {"_id": hashlib.sha1(f"{arxiv_id}/{name}".encode()).hexdigest()[:24], "name": name, "hidden": False}
                for name in authors
            ],
            "publishedAt": stamp,
            "submittedOnDailyAt": stamp,
            "title": title,
            "summary": abstract,
            "upvotes": upvotes,
            "discussionId": hashlib.sha1(arxiv_id.encode()).hexdigest()[:24],
        }
        if github_repo is not None:
            paper["githubRepo"] = github_repo
        if keywords is not None:
            paper["ai_keywords"] = list(keywords)
        with self._lock:
            if not listed:
                self.unlisted[arxiv_id] = paper
                return paper
            item = {
                "paper": paper,
                "publishedAt": stamp,
                "title": title,
                "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png",
                "numComments": 0,
                "isAuthorParticipating": False,
            }
            day = self.papers.setdefault(date_iso, [])
            for index, old in enumerate(day):
                if old["paper"]["id"] == arxiv_id:
                    day[index] = item
                    break
            else:
                day.append(item)
        return paper

    def set_upvotes(self, arxiv_id: str, upvotes: int) -> int:
        """Change a paper's upvotes everywhere it is served; returns how many copies changed."""
        with self._lock:
            copies = [p for p in self._all_papers() if p.get("id") == arxiv_id]
            if not copies:
                raise KeyError(arxiv_id)
            for paper in copies:
                paper["upvotes"] = upvotes
            return len(copies)

    def paper(self, arxiv_id: str) -> dict[str, Any] | None:
        """The paper object ``/papers/{arxiv_id}`` serves (a copy), or ``None``."""
        with self._lock:
            found = self._find(arxiv_id)
            return None if found is None else copy.deepcopy(found)

    def _all_papers(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = [item["paper"] for items in self.papers.values() for item in items]
        return [*listed, *self.unlisted.values()]

    def _find(self, arxiv_id: str) -> dict[str, Any] | None:
        for paper in self._all_papers()[::-1]:  # unlisted and later days win
            if paper.get("id") == arxiv_id:
                return paper
        return None

    # -- HTTP side ---------------------------------------------------------------------------

    def _route(self, path: str) -> str:
        route = path.lstrip("/")
        return route[len("api/") :] if route.startswith("api/") else route

    def _normalize_pattern(self, pattern: str) -> str:
        pattern = super()._normalize_pattern(pattern)
        return pattern[len("api/") :] if pattern.startswith("api/") else pattern

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
        with self._lock:  # serialise under the lock: tests may change upvotes meanwhile
            data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return HTTPResponse(status=status, body=data, headers={"Content-Type": _JSON, **(headers or {})})

    def _error(
        self, code: int, body: str | bytes | None, retry_after: float | None, content_type: str | None
    ) -> HTTPResponse:
        headers = self._retry_after_header(retry_after)
        if body is None:
            message = "Rate limit reached, please retry later" if code == 429 else _phrase(code)
            return self._json({"error": message}, code, headers)
        return HTTPResponse(
            status=code, body=_as_bytes(body), headers={"Content-Type": content_type or _JSON, **headers}
        )

    def _serve(self, request: HTTPRequest, route: str) -> HTTPResponse:
        if request.method != "GET":
            return self._json({"error": "Method Not Allowed"}, 405)
        route = route.rstrip("/")
        if route == "daily_papers":
            dates = request.query.get("date")
            wanted = dates[0] if dates else None
            with self._lock:
                if wanted is None:
                    wanted = max(self.papers, default=None)
                elif not _DATE_RE.match(wanted):
                    return self._json({"error": f"Invalid date: {wanted}"}, 400)
                return self._json(self.papers.get(wanted or "", []))
        if route.startswith("papers/") and route.count("/") == 1:
            with self._lock:
                found = self._find(route[len("papers/") :])
                if found is None:
                    return self._json({"error": "Paper not found"}, 404)
                return self._json(found)
        return self._json({"error": "Not Found"}, 404)
