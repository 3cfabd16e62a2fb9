"""The stored paper library: catalog + vector index + lexical index + embedder, built from settings.

This is the one place components are assembled (no module globals, no ``llama_index.core.Settings``);
everything else receives a ``Library`` or its parts.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from config.settings import Settings
from rag.catalog import Catalog
from rag.embeddings import build_embed_model, embedding_key
from rag.lexical import LexicalIndex
from rag.text import KoreanTokenizer
from rag.vectors import VectorIndex, chroma_client


@dataclass
class Library:
    settings: Settings
    catalog: Catalog
    vectors: VectorIndex
    lexical: LexicalIndex
    embedder: BaseEmbedding
    tokenizer: KoreanTokenizer

    @classmethod
    def open(cls, settings: Settings, *, embedder: BaseEmbedding | None = None, chroma: Any = None) -> Library:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        embedder = embedder or build_embed_model(settings)
        client = chroma or chroma_client(settings.chroma_url, settings.chroma_path)
        tokenizer = KoreanTokenizer()
        return cls(
            settings=settings,
            catalog=Catalog(settings.catalog_path),
            vectors=VectorIndex(client, f"{settings.chroma_collection_prefix}-{embedding_key(embedder)}"),
            lexical=LexicalIndex(settings.lexical_path, tokenizer),
            embedder=embedder,
            tokenizer=tokenizer,
        )

    def refresh(self) -> bool:
        """Pick up an ingest that landed since the last call (cheap when nothing changed)."""
        return self.lexical.sync(self.catalog)

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per data dir, across processes (the CLI and a running bot)."""
        path = self.settings.data_dir / "write.lock"
        with open(path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

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
            "chroma": self.settings.chroma_url or str(self.settings.chroma_path),
            "revision": self.catalog.revision(),
        }

    def close(self) -> None:
        self.catalog.close()
