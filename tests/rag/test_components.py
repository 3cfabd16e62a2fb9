"""Building the components: the HNSW ef_search setting reaches the vector collection through its writer only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from config.settings import Settings, load_settings
from rag.components import Components, build_components
from rag.vectors import chroma_client
from tests.chroma_server import chroma_server
from tests.helpers import HashEmbedding


def opened(data_dir: Path, ef_search: int, *, owner: bool, chroma_url: str | None = None) -> Components:
    settings = load_settings(data_dir=data_dir, chroma_url=chroma_url, retrieval={"hnsw_ef_search": ef_search})
    return build_components(settings, owner=owner, embedder=HashEmbedding(), llm=None)


def stored_ef_search(components: Components) -> int:
    """What Chroma holds for the collection, read through a client of its own (the next process's view)."""
    settings: Settings = components.settings
    client = (components.vectors._client if settings.storage.chroma_url
              else chroma_client(None, settings.storage.chroma_path))
    collection = client.get_collection(components.vectors.collection_name, embedding_function=None)
    return int(collection.configuration_json["hnsw"]["ef_search"])


def test_ef_search_is_set_at_creation_and_changed_by_the_writer_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = opened(data_dir, 150, owner=True)
    assert stored_ef_search(first) == 150  # a new collection: created with it
    first.close()

    reader = opened(data_dir, 250, owner=False)
    assert stored_ef_search(reader) == 150  # readers never write
    assert reader.vectors.hnsw_configuration()["ef_search"] == 150
    reader.close()

    writer = opened(data_dir, 250, owner=True)
    assert stored_ef_search(writer) == 250 and writer.vectors.hnsw_configuration()["ef_search"] == 250
    assert writer.vectors.hnsw_configuration()["space"] == "cosine"
    writer.close()

    again = opened(data_dir, 120, owner=True)  # the setting changed once more
    assert stored_ef_search(again) == 120
    again.close()


def test_the_writers_own_queries_use_the_ef_search_it_applied(tmp_path: Path) -> None:
    """Chroma loads a collection's HNSW index once per process, at the first query, with the ef_search stored
    then: the writer must apply the setting before it queries. 3,000 random 64-d vectors, top 10: with
    ef_search 10 HNSW misses about half of the exact neighbours, with 500 none (measured: 0.54-0.55 vs 1.0)."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, HashEmbedding().dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((30, vectors.shape[1]))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    ids = [f"2501.{n:05d}#summary" for n in range(len(vectors))]

    def recall(components: Components) -> float:
        found = [{ids.index(hit.node_id) for hit in components.vectors.query(query.tolist(), 10)} for query in queries]
        return float(np.mean([len(got & set(best.tolist())) / 10 for got, best in zip(found, exact, strict=True)]))

    data_dir = tmp_path / "data"
    narrow = opened(data_dir, 10, owner=True)
    narrow.vectors.add_raw(ids, vectors.tolist(), [{"arxiv_id": i[:10], "section": "summary"} for i in ids],
                           [None] * len(ids))
    narrow.close()
    reader = opened(data_dir, 500, owner=False)  # the setting says 500, the collection 10: a reader keeps 10
    assert recall(reader) <= 0.8
    reader.close()
    writer = opened(data_dir, 500, owner=True)
    assert recall(writer) >= 0.95  # applied before its first query, so its own index loaded with 500
    writer.close()


def test_with_a_chroma_server_the_writer_stores_ef_search_too(tmp_path: Path) -> None:
    """The server keeps an HNSW index it already loaded with its old ef_search until it restarts (measured with
    chromadb 1.5.9; documented with the setting): what papersbot controls is what is stored."""
    with chroma_server(tmp_path / "chroma-server") as url:
        first = opened(tmp_path / "data", 150, owner=True, chroma_url=url)
        assert stored_ef_search(first) == 150
        first.close()
        reader = opened(tmp_path / "data", 250, owner=False, chroma_url=url)
        assert stored_ef_search(reader) == 150
        reader.close()
        writer = opened(tmp_path / "data", 250, owner=True, chroma_url=url)
        assert stored_ef_search(writer) == 250
        writer.close()
