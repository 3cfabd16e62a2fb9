"""SQLite connections and schema migrations shared by the catalog and the subscription store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Migration = str  # SQL statements separated by ";" (no ";" inside string literals)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode (readers never block the single writer; see sqlite.org/wal.html).

    ``isolation_level=None`` leaves transactions to explicit ``BEGIN IMMEDIATE`` blocks, so a writer
    takes the write lock up front instead of failing half-way with "database is locked".
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception (connections from :func:`connect`)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the migrations past ``PRAGMA user_version``, each in its own transaction; return the version.

    Statements run one by one because ``executescript`` would commit the open transaction first.

    Migration ``i`` brings the schema from version ``i`` to ``i + 1``; they are never edited once
    released, only appended to.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise RuntimeError(
            f"database schema version {version} is newer than this papersbot knows ({len(migrations)}); "
            "upgrade papersbot"
        )
    for index in range(version, len(migrations)):
        with transaction(conn):
            for statement in migrations[index].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={index + 1}")
    return len(migrations)
