"""The vector index: one Chroma node per paper section, embedded by papersbot itself.

Chroma runs embedded (``PersistentClient`` under the data dir) unless ``chroma_url`` names a server.
We always hand Chroma our own vectors: its default embedding function would download a model (with no
network it fails on the first ``add`` without embeddings; seen with chromadb 1.5), so nothing here ever
passes raw documents for Chroma to embed.

HNSW search breadth (``ef_search``, ``retrieval.hnsw_ef_search``) lives in the collection's configuration
(chromadb 1.x ``configuration=``; https://docs.trychroma.com/docs/collections/configure). A new collection
gets it at creation; an existing one only from its writer (:meth:`VectorIndex.apply_ef_search`, called where
``rag.components`` opens the collection for writing). Measured with chromadb 1.5.9: a process loads a
collection's HNSW index once, at its first query, with the ``ef_search`` stored then, and keeps it: a change
written before that first query applies in the writing process itself, one written later only in processes
(or embedded clients) opened afterwards. A Chroma server keeps the index it loaded, old ``ef_search``
included, until it restarts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.collection_configuration import CreateHNSWConfiguration
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.vector_stores.chroma import ChromaVectorStore

from loaders.digest import SECTIONS
from rag.storage import catalog

# Up to max(EXACT_PAPERS, sections / 1000) papers, a restricted search scores their stored vectors (~0.2 ms a
# paper; a $in filter costs 15-20 ms at 13,607 sections, 130-170 ms at 250,000): see VectorIndex.query.
EXACT_PAPERS = 100
IN_FILTER_IDS = 30_000  # papers per Chroma $in filter: under SQLite's 32,766 variables
WIDE_SEARCH_MAX = 1000  # sections an unrestricted search may return instead (65 ms at 100,000 papers)
SECTIONS_PER_WIDE_HIT = 250  # ... and at most one per this many stored: in a small collection filters are cheap
SECTIONS_PER_PAPER = 2.0  # a low estimate (3 in the three-section digests, 1 in the old ones): wider, not narrower


@dataclass(frozen=True)
class VectorHit:
    node_id: str
    arxiv_id: str
    section: str
    score: float  # cosine similarity
    text: str = ""  # the section's text as stored with the vector


def chroma_client(url: str | None, path: Path) -> Any:
    # Telemetry off: it would try to reach the internet from every process.
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        return chromadb.HttpClient(
            host=parsed.hostname or "localhost",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=chroma_settings,
        )
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class VectorIndex:
    """Section nodes in a Chroma collection, read and written through LlamaIndex's ChromaVectorStore.

    ``ef_search``: the HNSW search breadth a collection created here gets (None: Chroma's default, 100);
    an existing collection keeps its own until :meth:`apply_ef_search`."""

    def __init__(self, client: Any, collection_name: str, *, ef_search: int | None = None) -> None:
        self.collection_name = collection_name
        self.ef_search = ef_search
        self._size: int | None = None  # sections stored, for VectorIndex.query's choice; None: not read yet
        self.reconnect(client)

    def reconnect(self, client: Any) -> None:
        """Read and write through ``client`` from now on: an embedded reader opens a new client after
        another process wrote (see ``rag.components``). Not safe while other threads use the index."""
        self._client = client
        # The space must be in the configuration: given a configuration, Chroma ignores the legacy
        # ``hnsw:space`` metadata and a collection without "space" is created l2 (checked with 1.5.9).
        hnsw = CreateHNSWConfiguration(space="cosine")
        if self.ef_search is not None:
            hnsw["ef_search"] = self.ef_search
        collection = client.get_or_create_collection(
            self.collection_name, configuration={"hnsw": hnsw}, embedding_function=None
        )
        self.store = ChromaVectorStore(chroma_collection=collection)
        self._collection = collection
        self._size = None

    def hnsw_configuration(self) -> dict[str, Any]:
        """The collection's HNSW configuration as Chroma stores it (space, ef_search, ...), as of opening it
        or of this process's last change."""
        # configuration_json, not configuration: the parsed form warns "legacy embedding function config" on
        # every read for a collection without a Chroma embedding function, which ours never has.
        configuration = self._collection.configuration_json or {}
        return dict(configuration.get("hnsw") or {})

    def apply_ef_search(self) -> bool:
        """Store this index's ``ef_search`` in the collection's configuration if it differs; True if it did.

        Writers only (the embedded data dir's owner; with a server, under the write lock), and before this
        process's first query to apply in it too (see the module docstring)."""
        if self.ef_search is None or self.hnsw_configuration().get("ef_search") == self.ef_search:
            return False
        self._collection.modify(configuration={"hnsw": {"ef_search": self.ef_search}})
        return True

    def count(self) -> int:
        return int(self._collection.count())

    def stored_hashes(self, node_ids: list[str]) -> dict[str, str]:
        """node_id → content_hash of the nodes present (absent ids are simply missing)."""
        out: dict[str, str] = {}
        for start in range(0, len(node_ids), 2000):
            got = self._collection.get(ids=node_ids[start : start + 2000], include=["metadatas"])
            for node_id, metadata in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[node_id] = str((metadata or {}).get("content_hash", ""))
        return out

    def upsert(self, nodes: list[TextNode]) -> None:
        """Replace these nodes (ChromaVectorStore.add would keep an old vector under an existing id)."""
        if not nodes:
            return
        self._collection.delete(ids=[node.node_id for node in nodes])
        self.store.add(list[BaseNode](nodes))
        self._size = None

    def iter_all(self, page: int = 500) -> Iterator[tuple[str, list[float], dict[str, Any], str | None]]:
        """Every stored node as (id, embedding, metadata, document), read in pages (for backups).

        Pages are read by offset, so the collection must not change meanwhile (hold the write lock)."""
        offset = 0
        while True:
            got = self._collection.get(limit=page, offset=offset, include=["embeddings", "metadatas", "documents"])
            ids = list(got["ids"])
            if not ids:
                return
            embeddings = got["embeddings"] if got["embeddings"] is not None else [None] * len(ids)
            metadatas = got["metadatas"] or [None] * len(ids)
            documents = got["documents"] or [None] * len(ids)
            for node_id, embedding, metadata, document in zip(ids, embeddings, metadatas, documents, strict=True):
                vector = [float(x) for x in embedding] if embedding is not None else []
                yield node_id, vector, dict(metadata or {}), document
            offset += len(ids)

    def add_raw(self, ids: list[str], embeddings: list[list[float]], metadatas: list[dict[str, Any]],
                documents: list[str | None]) -> None:
        """Store nodes exactly as ``iter_all`` returned them (restoring a backup; no embedding here)."""
        if not ids:
            return
        self._collection.upsert(ids=ids, embeddings=embeddings, metadatas=metadatas,
                                documents=None if all(d is None for d in documents) else documents)

    def sibling(self, collection_name: str) -> VectorIndex:
        """Another collection on the same Chroma client (a restore's staging collection)."""
        return VectorIndex(self._client, collection_name, ef_search=self.ef_search)

    def drop(self) -> None:
        """Delete the whole collection (an abandoned restore's staging collection)."""
        self._client.delete_collection(self.collection_name)

    def rename(self, name: str) -> None:
        """Become collection ``name``, deleting whatever was stored under that name (a restore's last step:
        vectors are written to a staging collection, then swapped in)."""
        if name in {collection.name for collection in self._client.list_collections()}:
            self._client.delete_collection(name)
        self._collection.modify(name=name)
        self.collection_name = name

    def embeddings(self, node_ids: list[str]) -> dict[str, list[float]]:
        """node_id → stored vector, for the ids present (a paper's own vectors, to find its neighbours)."""
        if not node_ids:
            return {}
        got = self._collection.get(ids=node_ids, include=["embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        return {node_id: [float(x) for x in vector] for node_id, vector in zip(got["ids"], vectors, strict=False)}

    def delete(self, node_ids: list[str]) -> None:
        if node_ids:
            self._collection.delete(ids=node_ids)
            self._size = None

    def query(self, embedding: list[float], k: int, arxiv_ids: list[str] | None = None) -> list[VectorHit]:
        """Top-k section nodes by cosine similarity, optionally only among ``arxiv_ids``.

        A restriction is not always one Chroma ``$in`` filter: at 100,000 papers (chromadb 1.5.9) a filtered
        search took 130-340 ms whatever the number of ids (100 to 10,000), and more than SQLite's 32,766
        variables fail ("too many SQL variables"). So: a few papers (a day's digest, an author) are scored
        exactly from their stored vectors; in a large collection, when the allowed papers are a fair share
        of it, a wider unrestricted search keeps the first ``k`` allowed sections (the restricted search's
        top k); otherwise ids go as ``$in`` filters, at most :data:`IN_FILTER_IDS` each, merged by score.
        """
        if arxiv_ids is None:
            return self._query(embedding, k, None)
        allowed = list(dict.fromkeys(arxiv_ids))
        if not allowed:
            return []
        size = self._collection_size()
        if len(allowed) <= max(EXACT_PAPERS, size // 1000):
            return self._exact(embedding, k, allowed)
        width = self._wide_search_width(k, len(allowed), size)
        if width:
            wanted = set(allowed)
            wide = self._query(embedding, width, None)
            kept = [hit for hit in wide if hit.arxiv_id in wanted]
            if len(kept) >= k or len(wide) < width:  # enough, or the whole collection was searched
                return kept[:k]
        hits = [hit for start in range(0, len(allowed), IN_FILTER_IDS)
                for hit in self._query(embedding, k, allowed[start:start + IN_FILTER_IDS])]
        return sorted(hits, key=lambda hit: hit.score, reverse=True)[:k]

    def _exact(self, embedding: list[float], k: int, arxiv_ids: list[str]) -> list[VectorHit]:
        """The papers' sections read by id and ranked by exact cosine (20 ms for 100 papers at 100,000)."""
        got = self._collection.get(ids=[catalog.node_id(a, key) for a in arxiv_ids for key, _ in SECTIONS],
                                   include=["embeddings", "metadatas", "documents"])
        if not got["ids"]:
            return []
        matrix = np.asarray(got["embeddings"], dtype=np.float32)
        query = np.asarray(embedding, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * (float(np.linalg.norm(query)) or 1.0)
        cosines = matrix @ query / np.where(norms > 0, norms, 1.0)
        metadatas, documents = got["metadatas"] or [], got["documents"] or []
        hits = []
        for i in np.argsort(-cosines, kind="stable")[:k]:
            metadata = metadatas[i] or {}
            hits.append(VectorHit(got["ids"][i], str(metadata["arxiv_id"]), str(metadata["section"]),
                                  float(cosines[i]), documents[i] or ""))
        return hits

    def _collection_size(self) -> int:
        """Sections stored, read once per process and after this process's writes (another writer's
        additions make it stale, which only changes which of the equivalent searches is taken)."""
        if self._size is None:
            self._size = self.count()
        return self._size

    @staticmethod
    def _wide_search_width(k: int, papers: int, size: int) -> int:
        """How many sections an unrestricted search must return to hold ~``k`` sections of ``papers`` papers,
        or 0 when the filters are cheaper: a filter's cost grows with the collection (15-40 ms at 13,607
        sections, 130-340 ms at 250,000), an unrestricted search's with its width (74 ms for 990 at 13,607)."""
        share = min(1.0, papers * SECTIONS_PER_PAPER / max(size, 1))
        width = math.ceil(2 * k / share)
        return width if width <= min(WIDE_SEARCH_MAX, size // SECTIONS_PER_WIDE_HIT) else 0

    def _query(self, embedding: list[float], k: int, arxiv_ids: list[str] | None) -> list[VectorHit]:
        # No count() first to clamp k: Chroma (1.5) returns what it has for an n_results above the size, also
        # when empty, and the count cost a SQLite round trip per question (30 ms of 47 under load).
        filters = None
        if arxiv_ids is not None:
            filters = MetadataFilters(
                filters=[MetadataFilter(key="arxiv_id", operator=FilterOperator.IN, value=list(arxiv_ids))]
            )
        result = self.store.query(
            VectorStoreQuery(query_embedding=embedding, similarity_top_k=k, filters=filters)
        )
        hits = []
        for node, similarity in zip(result.nodes or [], result.similarities or [], strict=False):
            metadata = node.metadata
            # ChromaVectorStore reports exp(-distance); with the cosine space, distance = 1 - cos.
            cosine = 1.0 + math.log(similarity) if similarity > 0 else -1.0
            hits.append(VectorHit(node.node_id, str(metadata["arxiv_id"]), str(metadata["section"]), cosine,
                                  node.get_content()))
        return hits
