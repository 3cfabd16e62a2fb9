"""SQLite plumbing: connection pragmas, transactions that roll back, and migrations past ``user_version``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rag.storage.sqlite import connect, migrate, transaction

SCHEMA = ("CREATE TABLE items (name TEXT PRIMARY KEY); CREATE TABLE log (line TEXT)",
          "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0; INSERT INTO log(line) VALUES ('v2')")


def names(conn: sqlite3.Connection) -> list[str]:
    return [row["name"] for row in conn.execute("SELECT name FROM items ORDER BY name")]


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "nested" / "db.sqlite3")
    migrate(conn, SCHEMA)
    return conn


def test_connect_creates_the_folder_and_sets_wal_foreign_keys_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.sqlite3"
    conn = connect(path)
    assert path.parent.is_dir()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1  # sqlite3.Row
    assert conn.isolation_level is None  # no implicit BEGIN: transactions are explicit


def test_transaction_commits_on_success(conn: sqlite3.Connection, tmp_path: Path) -> None:
    with transaction(conn) as inside:
        inside.execute("INSERT INTO items(name) VALUES ('a')")
    other = connect(tmp_path / "nested" / "db.sqlite3")  # another connection sees it: committed
    assert names(other) == ["a"]


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_transaction_rolls_back_on_any_exception_and_reraises(conn: sqlite3.Connection,
                                                              error: BaseException) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO items(name) VALUES ('kept')")
    with pytest.raises(type(error)), transaction(conn):
        conn.execute("INSERT INTO items(name) VALUES ('lost')")
        raise error
    assert names(conn) == ["kept"]
    assert not conn.in_transaction  # nothing left open: the next transaction can BEGIN
    with transaction(conn):
        conn.execute("INSERT INTO items(name) VALUES ('next')")
    assert names(conn) == ["kept", "next"]


def test_a_reader_sees_the_last_commit_while_a_writer_holds_its_transaction(conn: sqlite3.Connection,
                                                                            tmp_path: Path) -> None:
    reader = connect(tmp_path / "nested" / "db.sqlite3")
    with transaction(conn):
        conn.execute("INSERT INTO items(name) VALUES ('pending')")
        assert names(reader) == []  # WAL: not blocked, and no uncommitted row
    assert names(reader) == ["pending"]


def test_migrate_applies_each_migration_once_in_order(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite3")
    assert migrate(conn, SCHEMA[:1]) == 1 and user_version(conn) == 1
    conn.execute("INSERT INTO items(name) VALUES ('old')")
    assert migrate(conn, SCHEMA) == 2 and user_version(conn) == 2
    assert [tuple(row) for row in conn.execute("SELECT name, size FROM items")] == [("old", 0)]
    assert migrate(conn, SCHEMA) == 2  # nothing re-run: a second CREATE TABLE or INSERT would show
    assert [row[0] for row in conn.execute("SELECT line FROM log")] == ["v2"]


def test_a_failing_migration_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite3")
    broken = (SCHEMA[0], "CREATE TABLE extra (x INTEGER); INSERT INTO missing VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="missing"):
        migrate(conn, broken)
    assert user_version(conn) == 1  # the first migration stays applied
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"items", "log"}  # the half of the broken migration that ran was rolled back
    assert migrate(conn, SCHEMA) == 2  # and a fixed release migrates from there


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite3")
    migrate(conn, SCHEMA)
    with pytest.raises(RuntimeError, match="version 2 is newer than this papersbot knows \\(1\\)"):
        migrate(conn, SCHEMA[:1])
    assert user_version(conn) == 2
