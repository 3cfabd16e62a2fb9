"""Several processes on one embedded data dir, for real (no chromadb internals involved).

The design under test (``rag.owner``, ``rag.components``): one process owns the data dir and is its only
writer (a running bot for its life, ``papersbot ingest``/``sync`` for one command); ``papersbot ingest`` and
``papersbot sync`` beside a running bot hand it their work; short-lived readers open a fresh Chroma client;
a long-lived reader (the REPL) reopens one when the catalog moved. The guarantees: nothing lost, nothing
duplicated, no stale answers. The collection is created up front with a tiny ``hnsw:sync_threshold`` so
HNSW files are persisted on almost every write: that is where a write through a stale client used to lose
another writer's vectors for good.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from config.settings import Settings, load_settings
from loaders.digest import read_digests
from rag.components import Components, build_components, collection_name
from rag.embeddings import build_embed_model
from rag.ingest import Indexer, ingest_paths
from rag.owner import DataDirOwner, NotOwner, socket_path
from tests.bot.processes import REPO, BotProcess, clean_env, papersbot_executable, run_papersbot
from tests.conftest import SAMPLES
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api, running_digest_repo
from tests.helpers import HashEmbedding

DIGESTS = [SAMPLES / "2024-11-19.md", SAMPLES / "2024-11-22.md", SAMPLES / "2025-02-05.md"]


def small_sync_collection(settings: Settings) -> None:
    """Create the real model's collection with HNSW persisted every 10 items (default: 1000)."""
    embedder = build_embed_model(settings.embedding)
    client = chromadb.PersistentClient(path=str(settings.storage.chroma_path),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    client.get_or_create_collection(
        collection_name(settings, embedder),
        metadata={"hnsw:space": "cosine", "hnsw:sync_threshold": 10, "hnsw:batch_size": 10},
        embedding_function=None,
    )


def titles(digest: Path) -> dict[str, str]:
    return {p.arxiv_id: p.title for p in read_digests([str(digest)], max_bytes=10**8).papers}


def assert_consistent(components: Components, papers: int) -> None:
    """Catalog, vectors and lexical index hold the same section nodes once each, and every one is queryable."""
    components.freshness.refresh()
    sections = [row.node_id for row in components.catalog.sections()]
    vectors = [node_id for node_id, *_ in components.vectors.iter_all()]
    assert len(sections) == len(set(sections)) == 3 * papers
    assert len(vectors) == len(set(vectors)), "a vector is stored twice"
    assert set(sections) == set(vectors) == set(components.lexical._node_ids)
    ids = sorted({row.arxiv_id for row in components.catalog.sections()})
    for paper in components.catalog.get_many(ids).values():
        query = components.embedder.get_query_embedding(paper.title)
        # A node missing from the HNSW index is still in get() but never comes back from a query.
        found = components.vectors.query(query, k=3, arxiv_ids=[paper.arxiv_id])
        assert len(found) == 3, f"{paper.arxiv_id}: only {len(found)} of 3 sections queryable"
        ranked = list(dict.fromkeys(hit.arxiv_id for hit in components.vectors.query(query, k=9)))
        assert paper.arxiv_id in ranked[:3], (paper.arxiv_id, ranked)
        words = list(dict.fromkeys(hit.arxiv_id for hit in components.lexical.search(paper.title, k=9)))
        assert paper.arxiv_id in words[:3], (paper.arxiv_id, words)


def fresh_reader(data: Path) -> Components:
    """What the next short-lived process sees."""
    return build_components(load_settings(data_dir=data, embed_threads=1), llm=None)


def papersbot(*args: str, data: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([papersbot_executable(), *args], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=clean_env(PAPERSBOT_DATA_DIR=str(data), PAPERSBOT_EMBED_THREADS="1", **env))


def finished(process: subprocess.Popen[str], timeout: float = 300) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out, err


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    with running_bot_api() as server:
        yield server


def wait_for(bot: BotProcess, condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        bot.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{bot.log_tail()}")
        time.sleep(0.2)


# --- a running bot owns the data dir; ingests and syncs are handed to it --------------------------------------


def test_ingest_and_sync_beside_a_running_bot_are_handed_to_it_and_answered_at_once(
        srv: FakeBotAPI, tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = load_settings(data_dir=data, embed_threads=1)
    small_sync_collection(settings)
    first = run_papersbot("ingest", str(DIGESTS[0]), env=clean_env(PAPERSBOT_DATA_DIR=str(data)))
    assert first.returncode == 0 and "5 added" in first.stdout, first.stderr  # a short-lived owner
    with running_digest_repo() as repo:
        repo.add_day("2025-02-05", DIGESTS[2].read_text(encoding="utf-8"))
        env = clean_env(PAPERSBOT_DATA_DIR=str(data), TELEGRAM_BOT_TOKEN=srv.token,
                        PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_SOURCE_URL=repo.url,
                        PAPERSBOT_HF_ENRICH="false", PAPERSBOT_EMBED_THREADS="1")
        with BotProcess(env, tmp_path / "bot.log") as bot:
            srv.push_command(60, "/help")
            wait_for(bot, lambda: srv.messages_to(60) and socket_path(data).exists(), 120, "the bot to serve")
            assert (DataDirOwner(data).holder() or "").split()[0] == str(bot.pid)
            srv.push_text(61, "Generative World Explorer")  # the bot's index is loaded and in use
            srv.wait_for_messages(61, 1, timeout=60)

            # An ingest and a sync at once, both handed to the bot, which serialises them.
            ingest = papersbot("ingest", str(DIGESTS[1]), data=data)
            sync = papersbot("sync", "--since", "2025-02-01", "--json", data=data, PAPERSBOT_SOURCE_URL=repo.url,
                             PAPERSBOT_HF_ENRICH="false")
            out, err = finished(ingest)
            assert "5 added" in out and "handed to the running bot" in err
            report = json.loads(finished(sync)[0])
            assert report["ok"] and report["papers"]["added"] == 5 and report["days"]["fetched"] == 1

            # No stale answers: the bot answers from what it was handed, at once.
            for chat, digest, arxiv_id in ((62, DIGESTS[1], "2411.14347"), (63, DIGESTS[2], "2502.01061")):
                title = titles(digest)[arxiv_id]
                srv.push_text(chat, title)
                (answer,) = srv.wait_for_messages(chat, 1, timeout=60)
                assert title[:30] in answer["plain"], (title, answer["plain"])
            # ... and so does a short-lived reader beside the running bot.
            asked = run_papersbot("ask", "--json", "--no-llm", "FastKV KV cache compression",
                                  env=clean_env(PAPERSBOT_DATA_DIR=str(data)))
            assert asked.returncode == 0, asked.stderr
            assert json.loads(asked.stdout)["citations"][0]["arxiv_id"] == "2502.01068"

            # Nothing duplicated: the same digest again is recognised from the catalog.
            again = run_papersbot("ingest", str(DIGESTS[1]), env=clean_env(PAPERSBOT_DATA_DIR=str(data)))
            assert "0 added" in again.stdout and "5 unchanged" in again.stdout
            assert "0 passage(s) embedded" in again.stdout
            exit_code, _ = bot.stop()
        assert exit_code == 0, bot.log_tail()
    assert not socket_path(data).exists()
    reader = fresh_reader(data)
    try:
        assert_consistent(reader, 15)
    finally:
        reader.close()


# --- a short-lived writer is waited for; only the owner writes ------------------------------------------------


def test_an_ingest_waits_for_another_short_lived_owner_then_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    small_sync_collection(load_settings(data_dir=data, embed_threads=1))
    other = DataDirOwner(data)
    assert other.try_acquire("another ingest")  # e.g. a `papersbot ingest` still running (no socket)
    stderr = tmp_path / "ingest.err"
    with open(stderr, "w", encoding="utf-8") as err:
        process = subprocess.Popen([papersbot_executable(), "ingest", str(DIGESTS[0])], cwd=REPO, text=True,
                                   stdout=subprocess.PIPE, stderr=err,
                                   env=clean_env(PAPERSBOT_DATA_DIR=str(data), PAPERSBOT_EMBED_THREADS="1"))
        deadline = time.monotonic() + 120
        while "waiting for it to finish" not in stderr.read_text(encoding="utf-8"):
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text(encoding="utf-8")
            time.sleep(0.1)
        time.sleep(1.0)
        assert process.poll() is None  # still waiting, nothing written
        assert not (data / "catalog.sqlite3").exists()  # it opens nothing before it owns the data dir
        other.release()
        out, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and "5 added" in out
    reader = fresh_reader(data)
    try:
        assert_consistent(reader, 5)
    finally:
        reader.close()


def test_only_the_owner_of_an_embedded_data_dir_writes(settings: Settings) -> None:
    owner = build_components(settings, owner=True, embedder=HashEmbedding(), llm=None)
    reader = build_components(settings, embedder=HashEmbedding(), llm=None)
    try:
        with pytest.raises(NotOwner):
            ingest_paths(Indexer.from_components(reader), [str(DIGESTS[0])])
        with pytest.raises(TimeoutError):  # a second owner (here or in another process) must wait
            build_components(settings, owner=True, embedder=HashEmbedding(), llm=None, owner_timeout_s=0)
        assert ingest_paths(Indexer.from_components(owner), [str(DIGESTS[0])]).added == 5
        assert reader.catalog.counts()["papers"] == 5  # the catalog is shared at once; vectors: see below
    finally:
        reader.close()
        owner.close()
    successor = build_components(settings, owner=True, embedder=HashEmbedding(), llm=None, owner_timeout_s=0)
    try:
        assert ingest_paths(Indexer.from_components(successor), [str(DIGESTS[1])]).added == 5
        assert_consistent(successor, 10)
    finally:
        successor.close()


# --- readers ---------------------------------------------------------------------------------------------------


def test_a_long_lived_reader_reopens_when_another_process_wrote(tmp_path: Path) -> None:
    """The REPL's mode: a reader whose Chroma client outlives another process's ingest."""
    data = tmp_path / "data"
    settings = load_settings(data_dir=data, embed_threads=1)
    small_sync_collection(settings)
    assert "5 added" in finished(papersbot("ingest", str(DIGESTS[0]), data=data))[0]
    reader = build_components(settings, reopen_readers=True, llm=None)
    try:
        assert reader.freshness.refresh()  # loads the published lexical index
        query = reader.embedder.get_query_embedding("video Gaussian splatting")
        assert reader.vectors.query(query, k=3)  # the client's index is loaded and in use
        assert not reader.freshness.refresh()  # nothing moved: nothing reloaded
        assert "5 added" in finished(papersbot("ingest", str(DIGESTS[1]), data=data))[0]
        assert reader.freshness.refresh()  # the catalog moved: a new client, the new lexical index
        assert_consistent(reader, 10)
    finally:
        reader.close()


def test_a_writer_killed_mid_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    small_sync_collection(load_settings(data_dir=data, embed_threads=1))
    process = papersbot("ingest", str(SAMPLES), data=data)
    lock = data / "write.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().split()[:1] == [str(process.pid)]):  # until it writes
        assert process.poll() is None and time.monotonic() < deadline, "the ingest never took the write lock"
        time.sleep(0.01)
    time.sleep(1.5)  # mid-embedding: some vectors stored, nothing committed
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -9
    out, _ = finished(papersbot("ingest", "--json", str(SAMPLES), data=data))
    report = json.loads(out)
    assert report["added"] == 15 and report["embedded"] <= 45
    reader = fresh_reader(data)
    try:
        assert_consistent(reader, 15)
    finally:
        reader.close()
