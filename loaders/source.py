"""HTTP clients for where digests come from: the digest repository and Hugging Face's paper API.

Both are plain ``httpx`` clients with the same manners: a timeout on every request, bounded retries with
exponential backoff on timeouts, dropped connections, truncated bodies, 429 and 5xx (honouring
``Retry-After``, capped), and a clear :class:`SourceError` when a request finally fails. They know
nothing of storage: the sync (``rag/sync.py``) decides what to fetch and what to keep.

- :class:`DigestRepository`: ``{source_url}/paper_logs/papers_list.csv`` (the list of days) and
  ``{source_url}/paper_logs/YYYY/MM/DD.md`` (one day), fetched conditionally (``If-None-Match`` /
  ``If-Modified-Since``) so an unchanged file costs a 304 and no body.
- :class:`HuggingFace`: ``{hf_api_url}/daily_papers?date=YYYY-MM-DD`` and ``{hf_api_url}/papers/{id}``
  for English abstracts and live upvotes. ``huggingface_hub`` has no wrapper for these endpoints, and
  papersbot keeps ``HF_HUB_OFFLINE=1`` so that no model is ever fetched from the hub.
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

LIST_PATH = "paper_logs/papers_list.csv"
USER_AGENT = "papersbot/0.1 (+https://github.com/l-yohai/daily_papers_ko digests reader)"
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5})")


class SourceError(Exception):
    """A request that failed for good (after retries), or a body that is not what was asked for."""


@dataclass(frozen=True)
class Fetched:
    """One conditional GET: ``body`` is None when the server said 304 Not Modified."""

    path: str
    body: str | None
    etag: str | None
    last_modified: str | None
    bytes: int  # body bytes transferred (as sent on the wire)

    @property
    def sha256(self) -> str:
        return hashlib.sha256((self.body or "").encode()).hexdigest()


@dataclass
class Http:
    """Timeouts, retries and backoff shared by both sources; counts bytes and requests."""

    client: httpx.Client
    max_retries: int = 3
    backoff_s: float = 1.0
    max_wait_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    bytes: int = 0
    requests: int = 0
    retries: int = 0

    @classmethod
    def create(cls, *, timeout_s: float, max_retries: int, max_wait_s: float) -> Http:
        client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True,
                              headers={"User-Agent": USER_AGENT})
        return cls(client, max_retries=max_retries, max_wait_s=max_wait_s)

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, *, headers: dict[str, str] | None = None,
            params: dict[str, str] | None = None) -> httpx.Response:
        """GET with retries. Returns a 2xx/304/4xx response (body read); raises SourceError otherwise."""
        attempt = 0
        while True:
            self.requests += 1
            wait: float | None = None
            try:
                response = self.client.get(url, headers=headers, params=params)
                self.bytes += response.num_bytes_downloaded
                if response.status_code not in _RETRY_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            except httpx.TimeoutException:
                problem = "timed out"
            except (httpx.TransportError, httpx.DecodingError) as exc:
                # RemoteProtocolError covers a body cut short of its Content-Length (a truncated download).
                problem = f"{type(exc).__name__}: {exc}"
            if attempt >= self.max_retries:
                raise SourceError(f"GET {url}: {problem} (after {attempt + 1} attempts)")
            delay = min(self.max_wait_s, wait if wait is not None else self.backoff_s * 2**attempt)
            log.warning("GET %s: %s; retrying in %.1f s", url, problem, delay)
            self.retries += 1
            attempt += 1
            self.sleep(delay)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class DayEntry:
    """One day of the repository's list: its date and the arXiv ids it lists."""

    date: date
    arxiv_ids: frozenset[str]

    @property
    def path(self) -> str:
        return day_path(self.date)


def day_path(day: date) -> str:
    return f"paper_logs/{day:%Y/%m/%d}.md"


def parse_day_list(text: str) -> list[DayEntry]:
    """``papers_list.csv`` (``date,title,url``) → days, oldest first. Rows it cannot read are skipped."""
    days: dict[date, set[str]] = {}
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "date" not in reader.fieldnames:
        raise SourceError("papers_list.csv has no 'date' column: not the list of days")
    for row in reader:
        try:
            day = date.fromisoformat((row.get("date") or "").strip())
        except ValueError:
            continue
        ids = days.setdefault(day, set())
        match = _ARXIV_ID.search(row.get("url") or "")
        if match:
            ids.add(match.group(1))
    return [DayEntry(day, frozenset(ids)) for day, ids in sorted(days.items())]


class DigestRepository:
    """The digest repository's files, fetched conditionally."""

    def __init__(self, base_url: str, http: Http) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    def fetch(self, path: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """The file at ``path``; ``body`` None when unchanged since ``etag``/``last_modified``."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        url = f"{self.base_url}/{path}"
        response = self.http.get(url, headers=headers)
        if response.status_code == 304:
            return Fetched(path, None, response.headers.get("ETag") or etag,
                           response.headers.get("Last-Modified") or last_modified, response.num_bytes_downloaded)
        if response.status_code == 404:
            raise SourceError(f"GET {url}: not found (404)")
        if response.status_code != 200:
            raise SourceError(f"GET {url}: HTTP {response.status_code}")
        try:
            body = response.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"GET {url}: body is not UTF-8 text ({exc.reason})") from None
        kind = response.headers.get("Content-Type", "")
        if "html" in kind.lower() or _looks_like_html(body):
            raise SourceError(f"GET {url}: got an HTML page ({kind or 'no content type'}), not a digest file")
        return Fetched(path, body, response.headers.get("ETag"), response.headers.get("Last-Modified"),
                       response.num_bytes_downloaded)


def _looks_like_html(body: str) -> bool:
    head = body.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body"))


@dataclass(frozen=True)
class HFPaper:
    """What Hugging Face says of one paper."""

    arxiv_id: str
    title: str
    abstract: str
    upvotes: int | None
    authors: tuple[str, ...] = ()
    github_repo: str | None = None
    keywords: tuple[str, ...] = ()


class HuggingFace:
    """Hugging Face's paper API (English abstracts, live upvotes)."""

    def __init__(self, api_url: str, http: Http) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = http

    def daily_papers(self, day: date) -> list[HFPaper]:
        """The papers Hugging Face lists for ``day`` (items it cannot read are skipped)."""
        data = self._json(f"{self.api_url}/daily_papers", params={"date": day.isoformat()})
        if not isinstance(data, list):
            raise SourceError(f"daily_papers?date={day}: expected a JSON list, got {type(data).__name__}")
        papers = [_hf_paper(item.get("paper")) for item in data if isinstance(item, dict)]
        return [paper for paper in papers if paper is not None]

    def paper(self, arxiv_id: str) -> HFPaper | None:
        """One paper, or None when Hugging Face does not know it (404)."""
        data = self._json(f"{self.api_url}/papers/{arxiv_id}", missing_ok=True)
        return _hf_paper(data) if data is not None else None

    def _json(self, url: str, *, params: dict[str, str] | None = None, missing_ok: bool = False) -> Any:
        response = self.http.get(url, params=params, headers={"Accept": "application/json"})
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise SourceError(f"GET {url}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"GET {url}: malformed JSON ({exc})") from None


def _hf_paper(data: Any) -> HFPaper | None:
    """An :class:`HFPaper` from one ``paper`` object, or None when it lacks a usable id."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not _ARXIV_ID.fullmatch(data["id"]):
        return None
    upvotes = data.get("upvotes")
    authors: list[Any] = data["authors"] if isinstance(data.get("authors"), list) else []
    keywords: list[Any] = data["ai_keywords"] if isinstance(data.get("ai_keywords"), list) else []
    return HFPaper(
        arxiv_id=data["id"],
        title=_text(data.get("title")),
        abstract=" ".join(_text(data.get("summary")).split()),
        upvotes=upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) and upvotes >= 0 else None,
        authors=tuple(_text(a.get("name")) for a in authors if isinstance(a, dict) and _text(a.get("name"))),
        github_repo=data["githubRepo"] if isinstance(data.get("githubRepo"), str) else None,
        keywords=tuple(k for k in keywords if isinstance(k, str)),
    )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
