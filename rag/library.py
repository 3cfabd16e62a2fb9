"""The stored paper library: catalog + vector index + lexical index + embedder, built from settings.

This is the one place components are assembled (no module globals, no ``llama_index.core.Settings``);
everything else receives a ``Library`` or its parts.

Sharing a data dir between processes (a running bot and ``papersbot ingest``). Measured with chromadb
1.5.9, two processes on one ``PersistentClient`` path, random 384-d vectors:

- ``count()`` and ``get()`` see the other process's adds at once (they read Chroma's SQLite), but
  ``query()`` of a long-lived client usually does not (0 of 20 found): its HNSW index is not reloaded.
  Asking for the collection again or making a new ``PersistentClient`` does not help either, because
  chromadb caches one ``System`` per path (``SharedSystemClient``) and hands it to every new client
  (https://github.com/chroma-core/chroma/issues/3792, https://github.com/chroma-core/chroma/issues/2399).
- Worse, a stale client that writes after the other process has persisted its HNSW files (past
  ``hnsw:sync_threshold``, 1000 items by default) loses the other process's vectors for good: they stay
  in ``get()`` and ``count()`` but never come back from ``query()``, in this process or any later one,
  and our ingest never repairs them (``stored_hashes`` reads metadata). With a small threshold a stale
  client's filtered queries even fail (``InternalError: Error finding id``).
- A client over a newly built System (the cached one evicted) sees everything, writes through it keep
  every earlier vector, and a client over the old System keeps answering (stale) meanwhile.

So the embedded vector index is reopened whenever another process may have changed it: ``refresh()``
(before each question) reopens when the catalog revision moved and the move was not this process's own
ingest, and ``write_lock()`` reopens, while holding the lock, whenever another writer held the lock
since our last sync (a generation counter in the lock file also catches a writer that died between
writing vectors and committing). Reopening builds a new ``VectorIndex`` and swaps the reference, instead
of closing the client under a lock: a question already running in another thread keeps the old index
and its Chroma System until it returns (``client.close()`` under it fails with "'RustBindingsAPI' object
has no attribute 'bindings'"), and the old System is freed with its last reference. A Chroma server
(``chroma_url``) is one process and always consistent: nothing to reopen.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from config.settings import Settings
from rag.embeddings import build_embed_model, embedding_key
from rag.lexical import LexicalIndex
from rag.storage.catalog import Catalog
from rag.storage.locks import file_lock
from rag.text import KoreanTokenizer
from rag.vectors import VectorIndex, chroma_client

log = logging.getLogger(__name__)


@dataclass
class Library:
    settings: Settings
    catalog: Catalog
    vectors: VectorIndex
    lexical: LexicalIndex
    embedder: BaseEmbedding
    tokenizer: KoreanTokenizer
    # Opens the vector index anew (embedded Chroma only; None for a server or a client handed in).
    reopen_vectors: Callable[[], VectorIndex] | None = None
    # The catalog revision and write generation this process's vector index is known to reflect.
    seen_revision: int = -1
    seen_generation: int = -1
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _writing: int = field(default=0, repr=False)  # this process holds write_lock()

    @classmethod
    def open(cls, settings: Settings, *, embedder: BaseEmbedding | None = None, chroma: Any = None,
             tokenizer: KoreanTokenizer | None = None) -> Library:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        embedder = embedder or build_embed_model(settings.embedding)
        catalog = Catalog(settings.storage.catalog_path)
        # Read where the data stands *before* opening Chroma: a write landing in between only makes us
        # reopen once more than needed, never miss a change.
        revision = catalog.revision()
        generation = _read_generation(settings.storage.data_dir / "write.lock")
        collection = f"{settings.storage.chroma_collection_prefix}-{embedding_key(embedder)}"
        reopen: Callable[[], VectorIndex] | None = None
        if chroma is None and not settings.storage.chroma_url:
            reopen = functools.partial(_embedded_index, settings.storage.chroma_path, collection)
            vectors = reopen()
        else:
            vectors = VectorIndex(chroma or chroma_client(settings.storage.chroma_url, settings.storage.chroma_path),
                                  collection)
        tokenizer = tokenizer or KoreanTokenizer()
        return cls(
            settings=settings,
            catalog=catalog,
            vectors=vectors,
            lexical=LexicalIndex(settings.storage.lexical_path, tokenizer),
            embedder=embedder,
            tokenizer=tokenizer,
            reopen_vectors=reopen,
            seen_revision=revision,
            seen_generation=generation,
        )

    def refresh(self) -> bool:
        """Pick up an ingest that landed since the last call (cheap when nothing changed).

        Safe from several threads at once; a question running meanwhile finishes on the old indexes.
        """
        reopened = self._sync_vectors(writing=False)
        return self._sync_lexical() or reopened

    def _sync_lexical(self) -> bool:
        """Load or rebuild the lexical index, never racing another process's rebuild.

        ``LexicalIndex.sync`` rebuilds and publishes when the published index is behind the catalog, and
        publishing removes every other ``rev-*`` folder: a reader rebuilding in the seconds between an
        ingest's commit and its own publish deletes the writer's folder under it (FileNotFoundError from
        bm25s, seen in test_library_sharing). So it runs only under the data-dir lock: ours (our own
        ingest), or taken without waiting; when a writer holds it, that writer publishes in a moment and
        the next refresh loads it. A process that has no index at all yet loads one regardless.
        """
        if self.lexical.revision == self.catalog.revision():
            return False
        if self._writing or self.lexical.revision < 0:
            return self.lexical.sync(self.catalog)
        with self._try_lock() as locked:
            return self.lexical.sync(self.catalog) if locked else False

    def _sync_vectors(self, *, writing: bool, generation: int | None = None) -> bool:
        """Reopen the embedded vector index when another process may have written to it."""
        with self._sync_lock:
            revision = self.catalog.revision()
            if writing:  # under the write lock: anything another writer did counts
                stale = revision != self.seen_revision or generation != self.seen_generation
            else:  # a revision moved by our own ingest (in progress) is already in our index
                stale = revision != self.seen_revision and not self._writing
            if stale and self.reopen_vectors is not None:
                self.vectors = self.reopen_vectors()  # one reference swap: running calls keep the old one
                log.info("reopened the vector index (catalog revision %d, seen %d)", revision, self.seen_revision)
            self.seen_revision = revision
            return stale and self.reopen_vectors is not None

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per data dir, across processes (the CLI and a running bot).

        Holding it, the vector index reflects every earlier writer, so nothing is written through a
        stale Chroma client. The lock file holds ``<pid> <generation>``; every holder bumps the
        generation, so a later writer knows someone else has been here.
        """
        path = self.settings.storage.data_dir / "write.lock"
        with open(path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                generation = _parse_generation(handle)
                self._sync_vectors(writing=True, generation=generation)
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()} {generation + 1}\n")
                handle.flush()
                with self._sync_lock:
                    self.seen_generation = generation + 1
                    self._writing += 1
                try:
                    yield
                finally:
                    with self._sync_lock:  # still locked: every revision up to now is ours or synced
                        self._writing -= 1
                        self.seen_revision = self.catalog.revision()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _try_lock(self) -> AbstractContextManager[bool]:
        """The data-dir lock if free right now (True), else False at once; leaves the lock file alone."""
        return file_lock(self.settings.storage.data_dir / "write.lock", wait=False)

    def stats(self) -> dict[str, Any]:
        counts = self.catalog.counts()
        dates = self.catalog.dates()
        return {
            **counts,
            "latest_date": dates[0] if dates else None,
            "date_list": dates,
            "vector_nodes": self.vectors.count(),
            "lexical_nodes": len(self.lexical),
            "collection": self.vectors.collection_name,
            "chroma": self.settings.storage.chroma_url or str(self.settings.storage.chroma_path),
            "revision": self.catalog.revision(),
        }

    def close(self) -> None:
        # The Chroma client is left open on purpose: ``close()`` stops a System that another Library
        # (or a question still running) may be using; it is freed with its last reference.
        self.catalog.close()


def _embedded_index(path: Path, collection: str) -> VectorIndex:
    return VectorIndex(_fresh_persistent_client(path), collection)


def _fresh_persistent_client(path: Path) -> Any:
    """An embedded Chroma client that reads the data dir as it is now, not as this process cached it.

    chromadb keeps one System per path and hands it to every new client, stale HNSW index included
    (https://github.com/chroma-core/chroma/issues/3792). We drop our path from that cache first, without
    stopping the old System: clients over it keep working until they are dropped. The cache is private
    API (checked against chromadb 1.5, pinned <1.6); if it moves, we fall back to the shared System.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    refcounts = getattr(SharedSystemClient, "_identifier_to_refcount", None)
    lock = getattr(SharedSystemClient, "_refcount_lock", None)
    if isinstance(systems, dict) and isinstance(refcounts, dict) and lock is not None:
        with lock:
            systems.pop(str(path), None)
            refcounts.pop(str(path), None)
    else:
        log.warning("chromadb's client cache has moved; writes by other processes may stay invisible")
    return chroma_client(None, path)


def _parse_generation(handle: IO[str]) -> int:
    """The write generation in an open lock file: 0 when empty, unreadable or in the old pid-only form."""
    handle.seek(0)
    fields = handle.read().split()
    try:
        return int(fields[1]) if len(fields) == 2 else 0
    except ValueError:
        return 0


def _read_generation(path: Path) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            return _parse_generation(handle)
    except OSError:
        return 0
