"""The paper catalog: SQLite source of truth for paper metadata, digest dates, votes and section text.

The vector store holds embeddings and the lexical index holds term statistics; both are derived from
the catalog, and a paper counts as stored only once its catalog transaction commits. The ``revision``
counter tells readers (the bot) that an ingest has landed and derived indexes must be reloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loaders.digest import SECTIONS, Paper
from rag.storage.sqlite import connect, migrate, transaction

_V1 = """
        CREATE TABLE papers (
            arxiv_id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            authors TEXT NOT NULL,               -- JSON list, order kept
            whats_new TEXT NOT NULL,
            technical_details TEXT NOT NULL,
            performance_highlights TEXT NOT NULL,
            content_hash TEXT NOT NULL
        );
        CREATE TABLE appearances (
            arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            votes INTEGER NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (arxiv_id, date)
        );
        CREATE INDEX appearances_by_date ON appearances(date, votes DESC);
        CREATE TABLE sections (
            node_id TEXT PRIMARY KEY,
            arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id) ON DELETE CASCADE,
            section TEXT NOT NULL,
            text TEXT NOT NULL,                  -- title-prefixed, exactly what is embedded
            tokens TEXT NOT NULL                 -- lexical-index terms, space-separated
        );
        CREATE INDEX sections_by_paper ON sections(arxiv_id);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta(key, value) VALUES ('revision', '0');
"""

# Every format of the public archive: free-form summaries and Hugging Face's English abstract become
# sections of their own, votes may be unknown (NULL), and the sync's state lives beside the papers it
# brought so that both commit in one transaction.
_V2 = """
        ALTER TABLE papers ADD COLUMN summary TEXT NOT NULL DEFAULT '';
        ALTER TABLE papers ADD COLUMN abstract TEXT NOT NULL DEFAULT '';
        CREATE TABLE appearances_v2 (
            arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            votes INTEGER,                       -- NULL: the digest gave no count
            source TEXT NOT NULL,
            PRIMARY KEY (arxiv_id, date)
        );
        INSERT INTO appearances_v2(arxiv_id, date, votes, source) SELECT arxiv_id, date, votes, source FROM appearances;
        DROP TABLE appearances;
        ALTER TABLE appearances_v2 RENAME TO appearances;
        CREATE INDEX appearances_by_date ON appearances(date, votes DESC);
        CREATE TABLE vote_history (
            arxiv_id TEXT NOT NULL,
            seen_at TEXT NOT NULL,               -- UTC ISO timestamp of the observation
            upvotes INTEGER NOT NULL,
            PRIMARY KEY (arxiv_id, seen_at)
        );
        CREATE TABLE source_files (
            path TEXT PRIMARY KEY,               -- e.g. paper_logs/2025/02/05.md
            etag TEXT,
            last_modified TEXT,
            sha256 TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            body TEXT                            -- kept only for the list of days (papers_list.csv)
        )
"""

# Who wrote what, one row per (paper, author), so that "papers by Yann LeCun" is an index lookup rather than
# a scan of every paper's JSON author list. ``key`` is author_key(name); the rows are written with their
# paper (Catalog.commit) and filled once, in Python (NFKC), for papers stored before this table existed:
# the 'authors_backfill' flag set here is cleared by Catalog._backfill_authors.
_V3 = """
        CREATE TABLE paper_authors (
            arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id) ON DELETE CASCADE,
            position INTEGER NOT NULL,           -- order in the paper's author list
            name TEXT NOT NULL,                  -- as stored in papers.authors
            key TEXT NOT NULL,                   -- author_key(name)
            PRIMARY KEY (arxiv_id, position)
        );
        CREATE INDEX paper_authors_by_key ON paper_authors(key, arxiv_id);
        INSERT INTO meta(key, value) VALUES ('authors_backfill', 'pending')
"""

MIGRATIONS = (_V1, _V2, _V3)

log = logging.getLogger(__name__)

_PAPER_COLUMNS = ("arxiv_id", "title", "url", "authors", *(key for key, _ in SECTIONS), "content_hash")


@dataclass(frozen=True)
class StoredPaper(Paper):
    """A catalog paper: ``date``/``votes`` are from its latest digest; ``dates`` lists every digest."""

    dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionRow:
    node_id: str
    arxiv_id: str
    section: str
    text: str
    tokens: str


def author_key(name: str) -> str:
    """How author names are matched: NFKC-normalised, case-folded, single-spaced; accents stay as written
    ("Kaiming He" = "kaiming  he", "Łukasz" ≠ "Lukasz")."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(frozen=True)
class AuthorMatch:
    """A catalog author found by :meth:`Catalog.authors_named`: the name as stored, and their papers."""

    name: str
    arxiv_ids: tuple[str, ...]


def node_id(arxiv_id: str, section: str) -> str:
    """Stable id of one section node: re-ingesting the same paper addresses the same nodes."""
    return f"{arxiv_id}#{section}"


def node_text(paper: Paper, section: str) -> str:
    """What is embedded and indexed for a section: the title first, so every node names its paper."""
    return f"{paper.title}\n{getattr(paper, section)}"


def node_hash(text: str) -> str:
    """Tag stored with each vector: a node is re-embedded only when its own text changed."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SourceFile:
    """What the sync last fetched of one upstream file (for conditional requests)."""

    path: str
    etag: str | None
    last_modified: str | None
    sha256: str
    fetched_at: str
    body: str | None = None


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        migrate(self._conn, MIGRATIONS)
        if self.get_meta("authors_backfill") is not None:
            self._backfill_authors()
        self._dates: tuple[int, list[str]] | None = None  # (revision, dates): see dates()

    def close(self) -> None:
        self._conn.close()

    # --- reads ---------------------------------------------------------------------------------------
    def revision(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])

    def last_ingest(self) -> datetime | None:
        """When an ingest last changed the catalog (UTC), or None if none has since this was recorded."""
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_ingest_at'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def known(self, arxiv_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, int | None]]]:
        """arxiv_id → (content_hash, {date: votes}) for the ids already stored."""
        ids = list(arxiv_ids)
        out: dict[str, tuple[str, dict[str, int | None]]] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(f"SELECT arxiv_id, content_hash FROM papers WHERE arxiv_id IN ({marks})",
                                          chunk):
                out[row[0]] = (row[1], {})
            for row in self._conn.execute(
                f"SELECT arxiv_id, date, votes FROM appearances WHERE arxiv_id IN ({marks})", chunk
            ):
                out[row[0]][1][row[1]] = row[2]
        return out

    def get(self, arxiv_id: str) -> StoredPaper | None:
        found = self.get_many([arxiv_id])
        return found.get(arxiv_id)

    def get_many(self, arxiv_ids: Iterable[str]) -> dict[str, StoredPaper]:
        ids = list(dict.fromkeys(arxiv_ids))
        out: dict[str, StoredPaper] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT * FROM papers WHERE arxiv_id IN ({marks})", chunk).fetchall()
            appearances: dict[str, list[tuple[str, int | None, str]]] = {}
            for row in self._conn.execute(
                f"SELECT arxiv_id, date, votes, source FROM appearances WHERE arxiv_id IN ({marks}) ORDER BY date",
                chunk,
            ):
                appearances.setdefault(row[0], []).append((row[1], row[2], row[3]))
            for row in rows:
                seen = appearances.get(row["arxiv_id"], [])
                latest: tuple[str, int | None, str] = seen[-1] if seen else ("", None, "")
                out[row["arxiv_id"]] = StoredPaper(
                    arxiv_id=row["arxiv_id"],
                    title=row["title"],
                    url=row["url"],
                    date=latest[0],
                    votes=latest[1],
                    authors=tuple(json.loads(row["authors"])),
                    **{key: row[key] for key, _ in SECTIONS},
                    source=latest[2],
                    dates=tuple(date for date, _, _ in seen),
                )
        return {arxiv_id: out[arxiv_id] for arxiv_id in ids if arxiv_id in out}

    def dates(self) -> list[str]:
        """Digest dates, newest first. Every question reads them (routing), so they are kept per catalog
        revision, which every change of appearances bumps, in this process or another: the DISTINCT scan
        costs ~24 ms at 100,000 papers (benchmarks/results/scale.txt), the revision read microseconds."""
        revision = self.revision()
        cached = self._dates
        if cached is None or cached[0] != revision:
            rows = self._conn.execute("SELECT DISTINCT date FROM appearances ORDER BY date DESC")
            cached = self._dates = (revision, [row[0] for row in rows])
        return list(cached[1])

    def top_on(self, date: str, limit: int | None = None) -> list[StoredPaper]:
        """Papers of one digest date, most votes first (votes as of that digest)."""
        rows = self._conn.execute(
            # Unknown votes (NULL) rank as 0.
            "SELECT arxiv_id, votes FROM appearances WHERE date=? ORDER BY coalesce(votes, 0) DESC, arxiv_id "
            "LIMIT ?",
            (date, -1 if limit is None else limit),
        ).fetchall()
        papers = self.get_many(row[0] for row in rows)
        # Show the votes of the asked-for digest, not of the paper's latest appearance.
        return [replace(papers[row[0]], date=date, votes=row[1]) for row in rows if row[0] in papers]

    def ids_between(self, first: str, last: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT arxiv_id FROM appearances WHERE date BETWEEN ? AND ?", (first, last)
        )
        return [row[0] for row in rows]

    def appearances(self, dates: Iterable[str] | None = None) -> list[tuple[str, str, int | None]]:
        """(arxiv_id, date, votes) of every paper of the given digest dates (None: every date), votes
        as of that digest (None: unknown). Vote questions rank and filter these, then read only the
        papers they show."""
        return [(row[0], row[1], row[2]) for row in self._on_dates("SELECT arxiv_id, date, votes", [], [], dates)]

    def papers_with_votes(self, low: int | None, high: int | None, dates: Iterable[str] | None = None) -> list[str]:
        """Papers with at least ``low`` and at most ``high`` votes (inclusive; None: no bound) on one of the
        given digest dates (None: any), in SQL: reading every appearance into Python to filter it took
        ~130 ms at 100,000 papers. Unknown votes never qualify."""
        where = ["votes IS NOT NULL", *(["votes >= ?"] if low is not None else []),
                 *(["votes <= ?"] if high is not None else [])]
        rows = self._on_dates("SELECT DISTINCT arxiv_id", where, [b for b in (low, high) if b is not None], dates)
        return list(dict.fromkeys(row[0] for row in rows))  # distinct across date chunks too

    def _on_dates(self, select: str, where: list[str], params: list[int],
                  dates: Iterable[str] | None) -> Iterator[tuple[Any, ...]]:
        """Rows of ``select ... FROM appearances WHERE`` the ``where`` conditions and, unless ``dates`` is
        None, a date among ``dates``, sent 500 at a time (SQLite limits a statement's variables)."""
        if dates is None:
            yield from self._conn.execute(f"{select} FROM appearances WHERE {' AND '.join(where) or '1'}", params)
            return
        for chunk in _chunks(list(dict.fromkeys(dates)), 500):
            condition = " AND ".join([*where, f"date IN ({','.join('?' * len(chunk))})"])
            yield from self._conn.execute(f"{select} FROM appearances WHERE {condition}", [*params, *chunk])

    def title_frequency(self, word: str) -> int:
        """How many paper titles contain ``word`` (case-insensitive substring)."""
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        row = self._conn.execute(
            "SELECT COUNT(*) FROM papers WHERE lower(title) LIKE ? ESCAPE '\\'", (f"%{escaped}%",)
        ).fetchone()
        return int(row[0])

    def authors_named(self, names: Iterable[str]) -> dict[str, AuthorMatch]:
        """The catalog authors among ``names`` (a question's candidate names, rag.query): given name → that
        author as stored and their papers, for the names that are exactly a catalog author's full name
        (case-insensitive, NFKC: author_key). ONE query on the ``paper_authors`` key index, whatever the
        number of names."""
        given = {name: author_key(name) for name in names}
        keys = list(dict.fromkeys(given.values()))
        if not keys:
            return {}
        rows = self._conn.execute(
            f"SELECT key, name, arxiv_id FROM paper_authors WHERE key IN ({','.join('?' * len(keys))})", keys)
        spellings: dict[str, dict[str, int]] = {}
        papers: dict[str, dict[str, None]] = {}
        for key, name, arxiv_id in rows:
            spelling = spellings.setdefault(key, {})
            spelling[name] = spelling.get(name, 0) + 1
            papers.setdefault(key, {})[arxiv_id] = None
        # Several spellings of one key ("Kaiming He", "kaiming he"): the most frequent names the author.
        found = {key: AuthorMatch(max(spellings[key], key=lambda n: (spellings[key][n], n)), tuple(papers[key]))
                 for key in spellings}
        return {name: found[key] for name, key in given.items() if key in found}

    def section_tokens(self, node_ids: Iterable[str]) -> dict[str, set[str]]:
        """node_id → its lexical terms, for a few nodes (how much of a question a top hit matches)."""
        ids = list(node_ids)
        out: dict[str, set[str]] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(f"SELECT node_id, tokens FROM sections WHERE node_id IN ({marks})", chunk):
                out[row[0]] = set(row[1].split())
        return out

    def sections(self) -> Iterator[SectionRow]:
        for row in self._conn.execute(
            "SELECT node_id, arxiv_id, section, text, tokens FROM sections ORDER BY node_id"
        ):
            yield SectionRow(*row)

    def paper_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM papers").fetchone()[0])

    def counts(self) -> dict[str, int]:
        one = self._conn.execute
        return {
            "papers": self.paper_count(),
            "dates": int(one("SELECT COUNT(DISTINCT date) FROM appearances").fetchone()[0]),
            "appearances": int(one("SELECT COUNT(*) FROM appearances").fetchone()[0]),
            "sections": int(one("SELECT COUNT(*) FROM sections").fetchone()[0]),
        }

    # --- writes --------------------------------------------------------------------------------------
    def commit(
        self,
        papers: list[Paper],
        sections: list[SectionRow],
        appearances: list[Paper],
        *,
        day_contents: dict[str, set[str]] | None = None,
        source_files: list[SourceFile] | None = None,
    ) -> tuple[int, list[str]]:
        """Store papers (content), their section rows and appearances in ONE transaction; bump revision.

        ``papers`` are papers whose content is new or changed; ``appearances`` are (paper, date, votes)
        facts, new or with changed votes. ``day_contents`` (date → the ids that day now holds) makes a
        re-fetched day authoritative: papers no longer in it lose that date, and a paper left with no
        date at all is removed. ``source_files`` records what the sync fetched, in the same transaction
        as the papers it brought. Returns the new revision and the removed papers' ids.
        """
        removed: list[str] = []
        with self._transaction() as conn:
            columns = ", ".join(_PAPER_COLUMNS)
            updates = ", ".join(f"{c}=excluded.{c}" for c in _PAPER_COLUMNS[1:])
            for paper in papers:
                conn.execute(
                    f"INSERT INTO papers({columns}) VALUES ({','.join('?' * len(_PAPER_COLUMNS))}) "
                    f"ON CONFLICT(arxiv_id) DO UPDATE SET {updates}",
                    (paper.arxiv_id, paper.title, paper.url, json.dumps(list(paper.authors), ensure_ascii=False),
                     *(getattr(paper, key) for key, _ in SECTIONS), paper.content_hash),
                )
                conn.execute("DELETE FROM sections WHERE arxiv_id=?", (paper.arxiv_id,))
                _write_authors(conn, paper.arxiv_id, paper.authors)
            conn.executemany(
                "INSERT INTO sections(node_id, arxiv_id, section, text, tokens) VALUES (?,?,?,?,?)",
                [(s.node_id, s.arxiv_id, s.section, s.text, s.tokens) for s in sections],
            )
            conn.executemany(
                "INSERT INTO appearances(arxiv_id, date, votes, source) VALUES (?,?,?,?) "
                "ON CONFLICT(arxiv_id, date) DO UPDATE SET votes=excluded.votes, source=excluded.source",
                [(p.arxiv_id, p.date, p.votes, p.source) for p in appearances],
            )
            dropped = 0
            for day, ids in (day_contents or {}).items():
                stale = [row[0] for row in conn.execute("SELECT arxiv_id FROM appearances WHERE date=?", (day,))
                         if row[0] not in ids]
                for arxiv_id in stale:
                    conn.execute("DELETE FROM appearances WHERE arxiv_id=? AND date=?", (arxiv_id, day))
                    left = conn.execute("SELECT 1 FROM appearances WHERE arxiv_id=? LIMIT 1", (arxiv_id,)).fetchone()
                    if left is None:
                        conn.execute("DELETE FROM papers WHERE arxiv_id=?", (arxiv_id,))  # sections cascade
                        removed.append(arxiv_id)
                dropped += len(stale)
            conn.executemany(
                "INSERT INTO source_files(path, etag, last_modified, sha256, fetched_at, body) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(path) DO UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified, "
                "sha256=excluded.sha256, fetched_at=excluded.fetched_at, body=excluded.body",
                [(f.path, f.etag, f.last_modified, f.sha256, f.fetched_at, f.body) for f in source_files or []],
            )
            if papers or appearances or dropped:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='revision'")
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_ingest_at', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (datetime.now(UTC).isoformat(timespec="seconds"),),
                )
        return self.revision(), removed

    # --- enrichment, sync state ----------------------------------------------------------------------
    def abstracts(self, arxiv_ids: Iterable[str]) -> dict[str, str]:
        """arxiv_id → stored English abstract, for the stored papers that have one."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(arxiv_ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                f"SELECT arxiv_id, abstract FROM papers WHERE abstract != '' AND arxiv_id IN ({marks})", chunk
            ):
                out[row[0]] = row[1]
        return out

    def record_votes(self, observations: dict[str, int], seen_at: datetime) -> None:
        """Record upvote counts seen at one moment (the vote history behind "rising papers")."""
        stamp = seen_at.astimezone(UTC).isoformat(timespec="seconds")
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO vote_history(arxiv_id, seen_at, upvotes) VALUES (?,?,?) "
                "ON CONFLICT(arxiv_id, seen_at) DO UPDATE SET upvotes=excluded.upvotes",
                [(arxiv_id, stamp, votes) for arxiv_id, votes in observations.items()],
            )

    def vote_history(self, arxiv_id: str) -> list[tuple[str, int]]:
        """(seen_at, upvotes) observations of one paper, oldest first."""
        rows = self._conn.execute(
            "SELECT seen_at, upvotes FROM vote_history WHERE arxiv_id=? ORDER BY seen_at", (arxiv_id,)
        )
        return [(row[0], int(row[1])) for row in rows]

    def votes_since(self, since: datetime, until: datetime) -> dict[str, list[tuple[str, int]]]:
        """arxiv_id → (seen_at, upvotes) of the papers observed in (``since``, ``until``], oldest first, starting
        with the last observation at or before ``since`` when there is one (the baseline of "rising papers")."""
        start, end = (moment.astimezone(UTC).isoformat(timespec="seconds") for moment in (since, until))
        rows = self._conn.execute(
            "SELECT arxiv_id, seen_at, upvotes FROM vote_history v WHERE seen_at <= ? AND arxiv_id IN "
            "(SELECT arxiv_id FROM vote_history WHERE seen_at > ? AND seen_at <= ?) AND seen_at >= coalesce("
            "(SELECT max(seen_at) FROM vote_history w WHERE w.arxiv_id = v.arxiv_id AND w.seen_at <= ?), '') "
            "ORDER BY arxiv_id, seen_at", (end, start, end, start))
        out: dict[str, list[tuple[str, int]]] = {}
        for arxiv_id, seen_at, upvotes in rows:
            out.setdefault(arxiv_id, []).append((seen_at, int(upvotes)))
        return out

    def source_file(self, path: str) -> SourceFile | None:
        row = self._conn.execute(
            "SELECT path, etag, last_modified, sha256, fetched_at, body FROM source_files WHERE path=?", (path,)
        ).fetchone()
        return SourceFile(*row) if row else None

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._conn)

    def _backfill_authors(self) -> None:
        """Fill ``paper_authors`` from every stored paper's author list, once: for a catalog written before
        the table existed (schema v3). Idempotent: it rewrites the whole table, and the flag is checked again
        inside the write transaction, so a second process opening the catalog at the same time skips it."""
        started = datetime.now(UTC)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key='authors_backfill'").fetchone() is None:
                return
            conn.execute("DELETE FROM paper_authors")
            papers = conn.execute("SELECT arxiv_id, authors FROM papers").fetchall()
            for arxiv_id, authors in papers:
                _write_authors(conn, arxiv_id, json.loads(authors))
            conn.execute("DELETE FROM meta WHERE key='authors_backfill'")
        if papers:
            seconds = (datetime.now(UTC) - started).total_seconds()
            log.info("catalog %s: indexed the authors of %d stored papers (once, %.2f s)", self.path, len(papers),
                     seconds)


def _write_authors(conn: sqlite3.Connection, arxiv_id: str, authors: Iterable[str]) -> None:
    """Replace one paper's ``paper_authors`` rows (in the caller's transaction)."""
    conn.execute("DELETE FROM paper_authors WHERE arxiv_id=?", (arxiv_id,))
    conn.executemany("INSERT INTO paper_authors(arxiv_id, position, name, key) VALUES (?,?,?,?)",
                     [(arxiv_id, i, name, author_key(name)) for i, name in enumerate(authors) if author_key(name)])


def section_keys(paper: Paper) -> list[str]:
    """The keys of the sections this paper has (each is one node)."""
    return list(paper.sections())


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
