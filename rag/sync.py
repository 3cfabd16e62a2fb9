"""Keep the library current from the digest repository, with English abstracts and votes from Hugging Face.

One run (``papersbot sync``, the bot's scheduled sync, ``/sync``):

1. The list of days (``papers_list.csv``), fetched conditionally; its body is kept so a 304 still tells
   which days exist.
2. The days to look at: ``--since``/``--until``; otherwise the days after the newest stored digest plus
   the newest ``sync_recheck_days`` stored ones (re-runs happen); on an empty store the newest
   ``sync_initial_days``. Days already fetched are asked for conditionally (a 304 costs no body).
3. A changed day is parsed and checked: an HTML page, a body with no digest in it, or a file cut short
   fails that day (reported, nothing of it ingested); the rest go on.
4. Hugging Face, best effort: the day's English abstracts and upvotes (every count is recorded with
   when it was seen). A failure never blocks the digest: the day is remembered (``enrich_pending``) and
   a later sync fills the gap.
5. Days are ingested in batches: vectors first, then the papers AND the fetched files' ETags in one
   catalog transaction. So a run killed at any moment loses nothing (the next run fetches again what
   was not committed, and embeds nothing whose vector is already stored) and duplicates nothing (ids
   are stable). A day that changed upstream is authoritative: papers it no longer lists lose that date,
   and only nodes whose text changed are re-embedded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from config.settings import SyncSettings
from loaders.digest import Paper, Problem, parse_digest
from loaders.source import (
    LIST_PATH,
    DayEntry,
    DigestRepository,
    Fetched,
    HFPaper,
    Http,
    HuggingFace,
    SourceError,
    parse_day_list,
)
from rag.ingest import Indexer, IngestReport, ingest_papers
from rag.storage.catalog import Catalog, SourceFile

log = logging.getLogger(__name__)

PENDING_KEY = "enrich_pending"  # catalog meta: days whose Hugging Face enrichment failed
LAST_SYNC_KEY = "last_sync"  # catalog meta: the last run's summary (for /healthz and papersbot health)
VOTES_KEY = "votes_refreshed_at"  # catalog meta: when unchanged recent days last had their upvotes read
VOTES_REFRESH_S = 6 * 3600  # how often an unchanged recent day's live upvotes are read again
DayProgress = Callable[[int, int], None]  # (days done, days to do)


@dataclass
class SyncReport:
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    finished_at: str = ""
    days_fetched: list[str] = field(default_factory=list)
    days_unchanged: list[str] = field(default_factory=list)
    days_failed: list[dict[str, str]] = field(default_factory=list)  # {"date", "error"}
    ingest: IngestReport = field(default_factory=IngestReport)
    abstracts_added: int = 0
    votes_recorded: int = 0
    enrich_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # list-level failures (no day could be looked at)
    bytes: int = 0
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every day that was asked for could be fetched (enrichment problems don't count)."""
        return not self.days_failed and not self.errors

    @property
    def problems(self) -> list[Problem]:
        return self.ingest.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 2),
            "days": {"fetched": len(self.days_fetched), "unchanged": len(self.days_unchanged),
                     "failed": len(self.days_failed)},
            "days_fetched": self.days_fetched,
            "days_failed": self.days_failed,
            "papers": {"added": self.ingest.added, "updated": self.ingest.updated, "removed": self.ingest.removed},
            "embedded": self.ingest.embedded,
            "abstracts_added": self.abstracts_added,
            "votes_recorded": self.votes_recorded,
            "bytes": self.bytes,
            "requests": self.requests,
            "errors": self.errors + [f"{d['date']}: {d['error']}" for d in self.days_failed],
            "enrich_errors": self.enrich_errors,
            "problems": [problem.to_json() for problem in self.problems],
        }

    def health(self) -> dict[str, Any]:
        """The short form kept for /healthz."""
        return {
            "at": self.finished_at or self.started_at,
            "ok": self.ok,
            "days_fetched": len(self.days_fetched),
            "days_unchanged": len(self.days_unchanged),
            "days_failed": len(self.days_failed),
            "papers_added": self.ingest.added,
            "papers_updated": self.ingest.updated,
            "errors": (self.errors + [f"{d['date']}: {d['error']}" for d in self.days_failed])[:5],
            "enrich_errors": len(self.enrich_errors),
        }

    def summary(self) -> str:
        line = (f"sync: {len(self.days_fetched)} day(s) fetched, {len(self.days_unchanged)} unchanged, "
                f"{len(self.days_failed)} failed; papers {self.ingest.added} added, {self.ingest.updated} updated"
                f"{f', {self.ingest.removed} removed' if self.ingest.removed else ''}; "
                f"{self.ingest.embedded} passage(s) embedded, {self.abstracts_added} English abstract(s); "
                f"{self.bytes / 1000:.1f} kB in {self.requests} request(s), {self.seconds:.1f} s")
        if self.enrich_errors:
            line += f"; Hugging Face: {len(self.enrich_errors)} error(s), retried next sync"
        return line


@dataclass
class _Day:
    """One day being synced: what was fetched, what it parsed to, what Hugging Face added."""

    entry: DayEntry
    fetched: Fetched | None = None  # None: the fetch failed
    papers: list[Paper] = field(default_factory=list)
    source_file: SourceFile | None = None  # what to record of the fetch (None: nothing new to record)

    @property
    def iso(self) -> str:
        return self.entry.date.isoformat()


class Syncer:
    """Runs syncs into one indexer (its catalog and indexes) from one repository (and optionally Hugging Face)."""

    def __init__(self, indexer: Indexer, repository: DigestRepository, huggingface: HuggingFace | None, *,
                 recheck_days: int = 2, initial_days: int = 7, batch_days: int = 10,
                 exclusive: Callable[[], AbstractContextManager[object]] = nullcontext) -> None:
        self.indexer = indexer
        self.catalog = indexer.catalog
        self.repository = repository
        self.huggingface = huggingface
        self.recheck_days = recheck_days
        self.initial_days = initial_days
        self.batch_days = batch_days  # days per ingest: a killed run keeps its batches; lexical rebuilds stay rare
        # Held around each ingest only (not the downloads): the bot passes its engine's write lock, so
        # questions pause while a batch is stored, never while the network is slow.
        self.exclusive = exclusive

    @classmethod
    def from_settings(cls, settings: SyncSettings, indexer: Indexer, *,
                      exclusive: Callable[[], AbstractContextManager[object]] = nullcontext) -> Syncer:
        """A syncer over ``source_url`` (and ``hf_api_url`` when ``hf_enrich``); ``close()`` it after use."""
        http = Http.create(timeout_s=settings.timeout_s, max_retries=settings.max_retries,
                           max_wait_s=settings.max_wait_s)
        return cls(indexer, DigestRepository(settings.source_url, http),
                   HuggingFace(settings.hf_api_url, http) if settings.hf_enrich else None,
                   recheck_days=settings.recheck_days, initial_days=settings.initial_days,
                   batch_days=settings.batch_days, exclusive=exclusive)

    def close(self) -> None:
        self.repository.http.close()

    def run(self, since: date | None = None, until: date | None = None,
            progress: DayProgress | None = None) -> SyncReport:
        """One sync. Never raises for network or content trouble: see the report."""
        report = SyncReport()
        started = time.perf_counter()
        http = self.repository.http
        bytes_before, requests_before = http.bytes, http.requests
        try:
            days = self._list_days(report)
            if days is not None:
                self._sync_days(self._choose(days, since, until), report, progress)
        except Exception as exc:  # storage trouble (disk full, Chroma down): recorded as a failed sync, raised
            report.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            report.bytes = http.bytes - bytes_before
            report.requests = http.requests - requests_before
            report.seconds = time.perf_counter() - started
            report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            self.catalog.set_meta(LAST_SYNC_KEY, json.dumps(report.health()))
            log.info("%s", report.summary())
        return report

    # --- which days ---------------------------------------------------------------------------------
    def _list_days(self, report: SyncReport) -> list[DayEntry] | None:
        catalog = self.catalog
        cached = catalog.source_file(LIST_PATH)
        try:
            fetched = self.repository.fetch(
                LIST_PATH,
                etag=cached.etag if cached and cached.body else None,
                last_modified=cached.last_modified if cached and cached.body else None,
            )
            body = fetched.body if fetched.body is not None else (cached.body if cached else None)
            days = parse_day_list(body or "")
        except SourceError as exc:
            report.errors.append(f"list of days: {exc}")
            log.warning("sync: cannot read the list of days: %s", exc)
            return None
        if fetched.body is not None:  # nothing depends on it but the next conditional request: store now
            catalog.commit([], [], [], source_files=[_source_file(fetched)])
        return days

    def _choose(self, days: list[DayEntry], since: date | None, until: date | None) -> list[DayEntry]:
        if until is not None:
            days = [day for day in days if day.date <= until]
        if since is not None:
            return [day for day in days if day.date >= since]
        stored = sorted(self.catalog.dates())
        if not stored:
            return days[-self.initial_days:]
        recheck = set(stored[-self.recheck_days:]) if self.recheck_days else set()
        newest = date.fromisoformat(stored[-1])
        return [day for day in days if day.date > newest or day.date.isoformat() in recheck]

    # --- fetching, checking, enriching, ingesting ---------------------------------------------------
    def _sync_days(self, days: list[DayEntry], report: SyncReport, progress: DayProgress | None) -> None:
        catalog = self.catalog
        pending = self._pending()
        # Hugging Face is asked about: every changed day; the days it failed for before (with the first
        # batch); and, every VOTES_REFRESH_S, the newest stored days even when unchanged (live upvotes).
        asked = {entry.date.isoformat() for entry in days}
        retry = [DayEntry(date.fromisoformat(iso), frozenset()) for iso in sorted(pending - asked)]
        recent = set(sorted(catalog.dates())[-max(self.recheck_days, 1):])
        last_refresh = float(catalog.get_meta(VOTES_KEY) or 0)
        refresh_votes = self.huggingface is not None and time.time() - last_refresh >= VOTES_REFRESH_S
        total = len(days)
        if progress:
            progress(0, total)
        for start in range(0, total or 1, self.batch_days):
            batch = [self._fetch_day(entry, report) for entry in days[start:start + self.batch_days]]
            fetched = [day for day in batch if day.papers]
            unchanged = [day for day in batch if day.fetched is not None and not day.papers]
            others = [day.entry for day in unchanged if day.iso in pending or (refresh_votes and day.iso in recent)]
            others += retry if start == 0 else []
            enriched, failed = self._enrich(fetched, others, report)
            self._update_pending(pending, add=failed)  # before the commit: a kill keeps them pending
            papers = [paper for day in fetched for paper in day.papers] + enriched
            files = [day.source_file for day in fetched + unchanged if day.source_file is not None]
            if papers or files:
                with self.exclusive():
                        ingest_papers(self.indexer, papers, report.ingest, source_files=files, day_contents={
                        day.papers[0].date: {p.arxiv_id for p in day.papers} for day in fetched})
            done = {day.iso for day in fetched} | {entry.date.isoformat() for entry in others}
            self._update_pending(pending, remove=done - failed)
            if progress:
                progress(min(start + self.batch_days, total), total)
        if refresh_votes:
            catalog.set_meta(VOTES_KEY, str(time.time()))

    def _fetch_day(self, entry: DayEntry, report: SyncReport) -> _Day:
        day = _Day(entry)
        iso = entry.date.isoformat()
        cached = self.catalog.source_file(entry.path)
        try:
            fetched = self.repository.fetch(entry.path, etag=cached.etag if cached else None,
                                            last_modified=cached.last_modified if cached else None)
        except SourceError as exc:
            return self._failed(day, report, str(exc))
        day.fetched = fetched
        if fetched.body is None or (cached is not None and cached.sha256 == fetched.sha256):
            report.days_unchanged.append(iso)
            if fetched.body is not None:  # same bytes under a new ETag: remember the new one
                day.source_file = _source_file(fetched)
            return day
        result = parse_digest(fetched.body, f"{self.repository.base_url}/{entry.path}")
        if result.date is None or (not result.papers and not result.skipped):
            return self._failed(day, report, "the body is not a digest (no '## Daily Papers' header or no papers)")
        if result.truncated:
            return self._failed(day, report, "the body ends mid-paper (cut short); nothing of this day ingested")
        report.ingest.problems.extend(result.problems)
        report.ingest.skipped += result.skipped
        if result.date != iso:
            report.ingest.problems.append(Problem(result.file, 1, f"the header says {result.date}, the list {iso}",
                                                  "warning"))
        missing = entry.arxiv_ids - {paper.arxiv_id for paper in result.papers}
        if missing:
            report.ingest.problems.append(Problem(
                result.file, 0, f"{len(missing)} paper(s) of the list are not in this day's file: "
                f"{', '.join(sorted(missing)[:5])}", "warning"))
        day.papers = result.papers
        day.source_file = _source_file(fetched)
        report.days_fetched.append(iso)
        return day

    @staticmethod
    def _failed(day: _Day, report: SyncReport, error: str) -> _Day:
        log.warning("sync: %s failed: %s", day.entry.date, error)
        report.days_failed.append({"date": day.entry.date.isoformat(), "error": error})
        day.fetched, day.papers = None, []
        return day

    def _enrich(self, fetched: list[_Day], others: list[DayEntry],
                report: SyncReport) -> tuple[list[Paper], set[str]]:
        """Attach English abstracts to the fetched days' papers (in place) and record upvotes; for the
        ``others`` (stored days), return their stored papers whose abstract is new. Returns the set of
        days Hugging Face failed for."""
        if self.huggingface is None:
            return [], set()
        catalog = self.catalog
        failed: set[str] = set()
        updated: list[Paper] = []
        seen_at = datetime.now(UTC)
        for entry, papers in [(d.entry, d.papers) for d in fetched] + [(e, None) for e in others]:
            iso = entry.date.isoformat()
            stored: list[Paper] = papers if papers is not None else list(catalog.top_on(iso))
            if not stored:
                continue
            try:
                found = self._hf_papers(entry.date, stored, catalog.abstracts(p.arxiv_id for p in stored))
            except SourceError as exc:
                report.enrich_errors.append(f"{iso}: {exc}")
                log.warning("sync: Hugging Face enrichment of %s failed (retried next sync): %s", iso, exc)
                failed.add(iso)
                continue
            votes = {arxiv_id: hf.upvotes for arxiv_id, hf in found.items() if hf.upvotes is not None}
            catalog.record_votes(votes, seen_at)
            report.votes_recorded += len(votes)
            with_abstract = [replace(p, abstract=found[p.arxiv_id].abstract)
                             if p.arxiv_id in found and found[p.arxiv_id].abstract else p for p in stored]
            report.abstracts_added += sum(1 for old, new in zip(stored, with_abstract, strict=True)
                                          if new.abstract and new.abstract != old.abstract)
            if papers is not None:
                papers[:] = with_abstract
            else:
                updated += [new for old, new in zip(stored, with_abstract, strict=True) if new.abstract != old.abstract]
        return updated, failed

    def _hf_papers(self, day: date, papers: list[Paper], known_abstracts: dict[str, str]) -> dict[str, HFPaper]:
        """Hugging Face's view of ``papers``: the day's list, then one lookup per paper missing from it
        that has no abstract yet."""
        assert self.huggingface is not None
        wanted = {paper.arxiv_id for paper in papers}
        found = {hf.arxiv_id: hf for hf in self.huggingface.daily_papers(day) if hf.arxiv_id in wanted}
        for arxiv_id in sorted(wanted - set(found) - set(known_abstracts)):
            hf = self.huggingface.paper(arxiv_id)
            if hf is not None:
                found[arxiv_id] = hf
        return found

    def _pending(self) -> set[str]:
        raw = self.catalog.get_meta(PENDING_KEY)
        try:
            return set(json.loads(raw)) if raw else set()
        except ValueError:
            return set()

    def _update_pending(self, pending: set[str], *, add: set[str] = frozenset(),  # type: ignore[assignment]
                        remove: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Add and remove days in ``pending`` (in place) and store it when it changed."""
        before = set(pending)
        pending |= add
        pending -= remove
        if pending != before:
            self.catalog.set_meta(PENDING_KEY, json.dumps(sorted(pending)))


def last_sync(catalog: Catalog) -> dict[str, Any] | None:
    """The last sync's short report (for health), or None if this data dir was never synced."""
    raw = catalog.get_meta(LAST_SYNC_KEY)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _source_file(fetched: Fetched) -> SourceFile:
    return SourceFile(
        path=fetched.path,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        sha256=fetched.sha256,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        body=fetched.body if fetched.path == LIST_PATH else None,
    )
