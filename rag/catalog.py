"""The paper catalog: SQLite source of truth for paper metadata, digest dates, votes and section text.

The vector store holds embeddings and the lexical index holds term statistics; both are derived from
the catalog, and a paper counts as stored only once its catalog transaction commits. The ``revision``
counter tells readers (the bot) that an ingest has landed and derived indexes must be reloaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from loaders.digest import SECTIONS, Paper
from rag.sqlite import connect, migrate

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

MIGRATIONS = (_V1,)


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


def node_id(arxiv_id: str, section: str) -> str:
    """Stable id of one section node: re-ingesting the same paper addresses the same nodes."""
    return f"{arxiv_id}#{section}"


def node_text(paper: Paper, section: str) -> str:
    """What is embedded and indexed for a section: the title first, so every node names its paper."""
    return f"{paper.title}\n{getattr(paper, section)}"


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        migrate(self._conn, MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    # --- reads ---------------------------------------------------------------------------------------
    def revision(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])

    def last_ingest(self) -> datetime | None:
        """When an ingest last changed the catalog (UTC), or None if none has since this was recorded."""
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_ingest_at'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def known(self, arxiv_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, int]]]:
        """arxiv_id → (content_hash, {date: votes}) for the ids already stored."""
        ids = list(arxiv_ids)
        out: dict[str, tuple[str, dict[str, int]]] = {}
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
            appearances: dict[str, list[tuple[str, int, str]]] = {}
            for row in self._conn.execute(
                f"SELECT arxiv_id, date, votes, source FROM appearances WHERE arxiv_id IN ({marks}) ORDER BY date",
                chunk,
            ):
                appearances.setdefault(row[0], []).append((row[1], row[2], row[3]))
            for row in rows:
                seen = appearances.get(row["arxiv_id"], [])
                latest = seen[-1] if seen else ("", 0, "")
                out[row["arxiv_id"]] = StoredPaper(
                    arxiv_id=row["arxiv_id"],
                    title=row["title"],
                    url=row["url"],
                    date=latest[0],
                    votes=latest[1],
                    authors=tuple(json.loads(row["authors"])),
                    whats_new=row["whats_new"],
                    technical_details=row["technical_details"],
                    performance_highlights=row["performance_highlights"],
                    source=latest[2],
                    dates=tuple(date for date, _, _ in seen),
                )
        return {arxiv_id: out[arxiv_id] for arxiv_id in ids if arxiv_id in out}

    def dates(self) -> list[str]:
        """Digest dates, newest first."""
        return [row[0] for row in self._conn.execute("SELECT DISTINCT date FROM appearances ORDER BY date DESC")]

    def top_on(self, date: str, limit: int | None = None) -> list[StoredPaper]:
        """Papers of one digest date, most votes first (votes as of that digest)."""
        rows = self._conn.execute(
            "SELECT arxiv_id, votes FROM appearances WHERE date=? ORDER BY votes DESC, arxiv_id LIMIT ?",
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

    def title_frequency(self, word: str) -> int:
        """How many paper titles contain ``word`` (case-insensitive substring)."""
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        row = self._conn.execute(
            "SELECT COUNT(*) FROM papers WHERE lower(title) LIKE ? ESCAPE '\\'", (f"%{escaped}%",)
        ).fetchone()
        return int(row[0])

    def sections(self) -> Iterator[SectionRow]:
        for row in self._conn.execute(
            "SELECT node_id, arxiv_id, section, text, tokens FROM sections ORDER BY node_id"
        ):
            yield SectionRow(*row)

    def counts(self) -> dict[str, int]:
        one = self._conn.execute
        return {
            "papers": int(one("SELECT COUNT(*) FROM papers").fetchone()[0]),
            "dates": int(one("SELECT COUNT(DISTINCT date) FROM appearances").fetchone()[0]),
            "appearances": int(one("SELECT COUNT(*) FROM appearances").fetchone()[0]),
            "sections": int(one("SELECT COUNT(*) FROM sections").fetchone()[0]),
        }

    # --- writes --------------------------------------------------------------------------------------
    def commit(self, papers: list[Paper], sections: list[SectionRow], appearances: list[Paper]) -> int:
        """Store papers (content), their section rows and appearances in ONE transaction; bump revision.

        ``papers`` are papers whose content is new or changed; ``appearances`` are (paper, date, votes)
        facts, new or with changed votes.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for paper in papers:
                conn.execute(
                    "INSERT INTO papers(arxiv_id, title, url, authors, whats_new, technical_details, "
                    "performance_highlights, content_hash) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(arxiv_id) DO UPDATE SET title=excluded.title, url=excluded.url, "
                    "authors=excluded.authors, whats_new=excluded.whats_new, "
                    "technical_details=excluded.technical_details, "
                    "performance_highlights=excluded.performance_highlights, content_hash=excluded.content_hash",
                    (paper.arxiv_id, paper.title, paper.url, json.dumps(list(paper.authors), ensure_ascii=False),
                     paper.whats_new, paper.technical_details, paper.performance_highlights, paper.content_hash),
                )
                conn.execute("DELETE FROM sections WHERE arxiv_id=?", (paper.arxiv_id,))
            conn.executemany(
                "INSERT INTO sections(node_id, arxiv_id, section, text, tokens) VALUES (?,?,?,?,?)",
                [(s.node_id, s.arxiv_id, s.section, s.text, s.tokens) for s in sections],
            )
            conn.executemany(
                "INSERT INTO appearances(arxiv_id, date, votes, source) VALUES (?,?,?,?) "
                "ON CONFLICT(arxiv_id, date) DO UPDATE SET votes=excluded.votes, source=excluded.source",
                [(p.arxiv_id, p.date, p.votes, p.source) for p in appearances],
            )
            changed = bool(papers or appearances)
            if changed:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='revision'")
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_ingest_at', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (datetime.now(UTC).isoformat(timespec="seconds"),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return self.revision()


def section_keys() -> list[str]:
    return [key for key, _ in SECTIONS]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
