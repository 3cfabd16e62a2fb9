"""The components, built once per process from settings and handed to the services that need them.

``build_components`` makes the catalog (SQLite), the vector index (Chroma, embedded or a server), the
lexical index (Kiwi-BM25), the embedder, the tokenizer and the LLM, the way python-telegram-bot's
``ApplicationBuilder`` makes a request object or a rate limiter: tests and callers may pass their own
(``embedder=``, ``chroma=``, ``tokenizer=``, ``llm=``). No module globals, no ``llama_index.core.Settings``.
The services (``rag.service.Papers`` and what it wires: the answer engine, the indexer, the syncer) take
the parts they use; nothing reaches through a ``Components`` to find one.

Storage and consistency across processes (see ``rag.owner`` for the measured Chroma behaviour):

- **Embedded Chroma: one writer.** A process that writes must *own* the data dir (``owner=True``: the
  bot for its life, ``papersbot ingest``/``sync``/``import`` for one command). It takes the owner lock
  first and opens its Chroma client after, so the client holds everything earlier owners wrote; its own
  writes are visible to its own queries at once, so the owner never reopens anything. A process that does
  not own the data dir cannot write (:class:`rag.owner.NotOwner`).
- **Readers open a fresh client.** Every embedded client is made after ``clear_system_cache()`` (chromadb's
  public ``ClientAPI`` method), so it reads the data dir as it is now, not as an earlier client of this
  process cached it. A short-lived reader (``papersbot ask``, ``stats``, ``top``) needs nothing more. A
  long-lived single-threaded reader (the REPL: ``reopen_readers=True``) makes a new client between
  questions when the catalog revision moved. The bot never does that: its threads share one client.
- **A Chroma server** is one process and always consistent: any process may write (one at a time under
  the data dir's write lock) and nobody reopens anything.
- **Catalog and lexical index.** The catalog is SQLite (WAL) and always current. The lexical index is
  derived from it and published atomically; :meth:`Freshness.refresh` (once per question) loads the
  published one when the catalog revision moved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from config.settings import Settings
from rag.embeddings import build_embed_model, embedding_key
from rag.lexical import LexicalIndex
from rag.owner import DataDirOwner, NotOwner
from rag.storage.catalog import Catalog
from rag.storage.locks import file_lock
from rag.text import KoreanTokenizer
from rag.vectors import VectorIndex, chroma_client

if TYPE_CHECKING:
    from rag.llm import ChatLLM

log = logging.getLogger(__name__)

WRITE_LOCK = "write.lock"
FROM_SETTINGS: Any = object()  # build_components(llm=...): make the LLM the settings describe (or none)


def fresh_embedded_client(path: Path) -> Any:
    """An embedded Chroma client over a newly built System: it sees the data dir as it is now.

    chromadb caches one System per path and hands it to every new client, stale HNSW index included
    (https://github.com/chroma-core/chroma/issues/3792); ``clear_system_cache()`` is its public way to
    forget them. It does not stop them: clients made earlier keep working until they are dropped.
    """
    from chromadb.api.client import Client

    Client.clear_system_cache()
    return chroma_client(None, path)


class WriteLock:
    """One write at a time per data dir, across processes and threads (``<data_dir>/write.lock``, our pid
    inside). In embedded mode only the owner of the data dir may take it."""

    def __init__(self, data_dir: Path, owner: DataDirOwner | None) -> None:
        self.path = data_dir / WRITE_LOCK
        self.owner = owner  # None: a Chroma server, where any process may write

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self.owner is not None and not self.owner.held:
            raise NotOwner(f"{self.owner.data_dir} is owned by {self.owner.holder() or 'another process'}; "
                           "hand the write to it (papersbot ingest/sync do) or stop it first")
        with file_lock(self.path, note_pid=True):
            yield

    def quiet(self) -> AbstractContextManager[bool]:
        """The lock for a consistent read (a backup): no writer meanwhile; any process may take it."""
        return file_lock(self.path, note_pid=True)

    def try_hold(self) -> AbstractContextManager[bool]:
        """The lock if free right now (True), else False at once (readers that would rebuild the lexical
        index skip instead of waiting for a writer that is about to publish it)."""
        return file_lock(self.path, wait=False)


@dataclass
class Freshness:
    """Brings this process's derived indexes up to the catalog revision; call it once per question.

    The lexical index is loaded when published for the current revision, else rebuilt, but only while
    nobody writes: ``LexicalIndex.sync`` publishes by removing every other ``rev-*`` folder, so a reader
    rebuilding between a writer's commit and its publish would delete the writer's folder under it. When
    a writer holds the lock, it publishes in a moment and the next question loads that. A process with no
    index at all yet loads one regardless.
    """

    catalog: Catalog
    lexical: LexicalIndex
    vectors: VectorIndex
    write_lock: WriteLock
    reopen_vectors: Any = None  # () -> a fresh client, for a long-lived embedded reader (the REPL)
    seen_revision: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refresh(self) -> bool:
        """True when something was reloaded."""
        with self._lock:
            revision = self.catalog.revision()
            reopened = False
            if self.reopen_vectors is not None and revision != self.seen_revision:
                self.vectors.reconnect(self.reopen_vectors())
                log.info("reopened the vector index (catalog revision %d, was %d)", revision, self.seen_revision)
                reopened = True
            self.seen_revision = revision
            if self.lexical.revision == revision:
                return reopened
            if self.lexical.revision < 0:
                return self.lexical.sync(self.catalog) or reopened
            with self.write_lock.try_hold() as free:
                return (self.lexical.sync(self.catalog) if free else False) or reopened


@dataclass
class Components:
    """What ``build_components`` made. Services receive the parts; ``close()`` releases them."""

    settings: Settings
    catalog: Catalog
    vectors: VectorIndex
    lexical: LexicalIndex
    embedder: BaseEmbedding
    tokenizer: KoreanTokenizer
    llm: ChatLLM | None
    write_lock: WriteLock
    freshness: Freshness
    owner: DataDirOwner | None = None  # held: this process owns the embedded data dir

    def close(self) -> None:
        # The Chroma client is left open on purpose: ``client.close()`` fails under a question still running
        # in another thread ("'RustBindingsAPI' object has no attribute 'bindings'"); it goes with its last
        # reference. Releasing ownership last: a waiting writer then opens a client after our last write.
        self.catalog.close()
        if self.owner is not None:
            self.owner.release()


def apply_ef_search(vectors: VectorIndex, write_lock: WriteLock) -> None:
    """Store the configured HNSW ef_search in an existing collection, before this process's first query
    (its HNSW index loads then, with what is stored: see ``rag.vectors``); under the write lock, which only
    the owner may take in embedded mode and which orders writers of a Chroma server."""
    if vectors.hnsw_configuration().get("ef_search") == vectors.ef_search:
        return
    with write_lock():
        was = vectors.hnsw_configuration().get("ef_search")
        if vectors.apply_ef_search():
            log.info("HNSW ef_search of %s: %s -> %s", vectors.collection_name, was, vectors.ef_search)


def collection_name(settings: Settings, embedder: BaseEmbedding) -> str:
    return f"{settings.storage.chroma_collection_prefix}-{embedding_key(embedder)}"


def build_components(settings: Settings, *, owner: bool = False, reopen_readers: bool = False,
                     embedder: BaseEmbedding | None = None, chroma: Any = None,
                     tokenizer: KoreanTokenizer | None = None, llm: Any = FROM_SETTINGS,
                     owner_timeout_s: float | None = None) -> Components:
    """Build every component once. ``owner``: this process will write an embedded data dir (waits for the
    owner lock first); ``reopen_readers``: a long-lived embedded reader that reopens Chroma when the
    catalog moved (the REPL); ``chroma``: a client handed in (a server's), used as it is."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = chroma is None and not settings.storage.chroma_url
    held: DataDirOwner | None = None
    if embedded:
        held = DataDirOwner(settings.storage.data_dir)
        if owner:
            held.acquire("owner", timeout_s=owner_timeout_s)
    try:
        embedder = embedder or build_embed_model(settings.embedding)
        catalog = Catalog(settings.storage.catalog_path)
        # Read where the data stands *before* opening Chroma: a write landing in between only makes a
        # reopening reader reopen once more than needed, never miss a change.
        revision = catalog.revision()
        name = collection_name(settings, embedder)
        if chroma is not None:
            client = chroma
        elif embedded:
            client = fresh_embedded_client(settings.storage.chroma_path)
        else:
            client = chroma_client(settings.storage.chroma_url, settings.storage.chroma_path)
        vectors = VectorIndex(client, name, ef_search=settings.retrieval.hnsw_ef_search)
        tokenizer = tokenizer or KoreanTokenizer()
        lexical = LexicalIndex(settings.storage.lexical_path, tokenizer)
        write_lock = WriteLock(settings.storage.data_dir, held)
        if owner:  # the writer brings an existing collection to the configured ef_search (readers never write)
            apply_ef_search(vectors, write_lock)
        reopen = None
        if embedded and reopen_readers and not owner:
            path = settings.storage.chroma_path
            reopen = lambda: fresh_embedded_client(path)  # noqa: E731
        freshness = Freshness(catalog, lexical, vectors, write_lock, reopen, seen_revision=revision)
        if llm is FROM_SETTINGS:
            from rag.llm import ChatLLM

            llm = ChatLLM.from_settings(settings.llm) if settings.llm.configured else None
    except BaseException:
        if held is not None:
            held.release()
        raise
    return Components(settings, catalog, vectors, lexical, embedder, tokenizer, llm, write_lock, freshness, held)
