"""The vector index over an embedded Chroma with our own small vectors: query (cosine scores, the arXiv-id
filter, k above the size), upserts that replace, hashes, deletes, paging out and restoring, staging collections."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import TextNode

from rag.vectors import VectorHit, VectorIndex, chroma_client


def _node(node_id: str, vector: list[float]) -> TextNode:
    arxiv_id, section = node_id.split("#")
    return TextNode(id_=node_id, text=f"text of {node_id}", embedding=vector,
                    metadata={"arxiv_id": arxiv_id, "section": section})


def _unit(*values: float) -> list[float]:
    vector = np.asarray(values, dtype=np.float64)
    return (vector / np.linalg.norm(vector)).tolist()


def test_query_scores_filters_and_asks_for_more_than_stored(tmp_path: Path) -> None:
    index = VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers-test")
    assert index.query(_unit(1, 0, 0), 5) == []  # empty collection: no error, no hits

    index.upsert([_node("2501.00001#summary", _unit(1, 0, 0)), _node("2501.00002#summary", _unit(1, 1, 0)),
                  _node("2501.00003#abstract", _unit(0, 0, 1))])
    hits = index.query(_unit(1, 0, 0), 40)  # k far above the 3 stored nodes
    assert [hit.node_id for hit in hits] == ["2501.00001#summary", "2501.00002#summary", "2501.00003#abstract"]
    assert [round(hit.score, 4) for hit in hits] == [1.0, round(1 / math.sqrt(2), 4), 0.0]  # cosines
    assert hits[0].arxiv_id == "2501.00001" and hits[0].section == "summary"
    assert hits[0].text == "text of 2501.00001#summary"

    only = index.query(_unit(1, 0, 0), 40, arxiv_ids=["2501.00003", "2501.09999"])
    assert [hit.node_id for hit in only] == ["2501.00003#abstract"]
    assert index.query(_unit(1, 0, 0), 40, arxiv_ids=[]) == []
    assert [hit.node_id for hit in index.query(_unit(1, 0, 0), 2)] == ["2501.00001#summary", "2501.00002#summary"]


SECTION_KEYS = ("whats_new", "technical_details", "performance_highlights")


@pytest.fixture(scope="module")
def papers_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[VectorIndex, dict[str, list[float]]]:
    """300 papers with three sections each, random unit vectors; node id -> vector, for exact answers."""
    index = VectorIndex(chroma_client(None, tmp_path_factory.mktemp("papers") / "chroma"), "papers-test")
    rng = np.random.default_rng(7)
    vectors = {f"2501.{n:05d}#{key}": _unit(*rng.normal(size=16)) for n in range(300) for key in SECTION_KEYS}
    index.upsert([_node(node_id, vector) for node_id, vector in vectors.items()])
    return index, vectors


def _exact_top(vectors: dict[str, list[float]], query: list[float], k: int, arxiv_ids: list[str]) -> list[str]:
    allowed = set(arxiv_ids)
    scored = [(float(np.dot(v, query)), node_id) for node_id, v in vectors.items() if node_id.split("#")[0] in allowed]
    return [node_id for _, node_id in sorted(scored, reverse=True)[:k]]


@pytest.mark.parametrize(("papers", "path"), [(30, "exact"), (250, "wide"), (20, "filters")])
def test_a_restricted_query_is_the_restricted_top_k_whichever_way_it_is_searched(
        papers_index: tuple[VectorIndex, dict[str, list[float]]], monkeypatch: pytest.MonkeyPatch, papers: int,
        path: str) -> None:
    """Few papers: scored from their stored vectors; a large share of a large collection: a wider unrestricted
    search, filtered; otherwise $in filters in chunks (limits made small here to take each path on 300 papers)."""
    import rag.vectors as vectors_module

    index, vectors = papers_index
    if path == "wide":  # a collection this small takes the filters; the wider search pays off at ~100,000 papers
        monkeypatch.setattr(vectors_module, "SECTIONS_PER_WIDE_HIT", 1)
    if path == "filters":
        monkeypatch.setattr(vectors_module, "EXACT_PAPERS", 5)
        monkeypatch.setattr(vectors_module, "IN_FILTER_IDS", 7)
        monkeypatch.setattr(vectors_module, "WIDE_SEARCH_MAX", 50)  # a wide search would need ~430
    used: list[str] = []
    real_exact, real_query = index._exact, index._query

    def exact(embedding: list[float], k: int, ids: list[str]) -> list[VectorHit]:
        used.append("exact")
        return real_exact(embedding, k, ids)

    def query_(embedding: list[float], k: int, ids: list[str] | None) -> list[VectorHit]:
        used.append("filters" if ids else "wide")
        return real_query(embedding, k, ids)

    monkeypatch.setattr(index, "_exact", exact)
    monkeypatch.setattr(index, "_query", query_)
    rng = np.random.default_rng(papers)
    arxiv_ids = [f"2501.{n:05d}" for n in rng.choice(300, size=papers, replace=False)] + ["2501.99999"]
    query = _unit(*rng.normal(size=16))
    hits = index.query(query, 10, arxiv_ids)
    assert [hit.node_id for hit in hits] == _exact_top(vectors, query, 10, arxiv_ids)
    assert all(hit.arxiv_id in arxiv_ids and hit.text == f"text of {hit.node_id}" for hit in hits)
    assert [round(hit.score, 5) for hit in hits] == [round(float(np.dot(vectors[h.node_id], query)), 5) for h in hits]
    assert used[0] == path and (path != "filters" or used.count("filters") == 3)  # 21 ids in chunks of 7


def _hashed(node_id: str, vector: list[float], content_hash: str) -> TextNode:
    node = _node(node_id, vector)
    node.metadata["content_hash"] = content_hash
    return node


@pytest.fixture
def index(tmp_path: Path) -> VectorIndex:
    return VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers-test")


def test_upsert_replaces_vector_text_and_hash(index: VectorIndex) -> None:
    index.upsert([_hashed("2501.00001#summary", _unit(1, 0, 0), "old"),
                  _hashed("2501.00002#summary", _unit(0, 1, 0), "b")])
    replaced = _hashed("2501.00001#summary", _unit(0, 0, 1), "new")
    replaced.text = "rewritten"
    index.upsert([replaced])
    index.upsert([])
    assert index.count() == 2
    assert index.stored_hashes(["2501.00001#summary", "2501.00002#summary", "2501.09999#summary"]) == {
        "2501.00001#summary": "new", "2501.00002#summary": "b"}  # absent ids simply missing
    (hit,) = index.query(_unit(0, 0, 1), 1)
    assert (hit.node_id, round(hit.score, 4), hit.text) == ("2501.00001#summary", 1.0, "rewritten")
    (stored,) = [vector for node_id, vector, *_ in index.iter_all() if node_id == "2501.00001#summary"]
    assert stored == pytest.approx(_unit(0, 0, 1))


def test_stored_hashes_of_more_ids_than_one_read_takes(index: VectorIndex) -> None:
    nodes = [_hashed(f"2501.{n:05d}#summary", _unit(1, n % 7 + 1, 0), f"h{n}") for n in range(2101)]
    index.add_raw([n.node_id for n in nodes], [n.embedding or [] for n in nodes], [n.metadata for n in nodes],
                  [None] * len(nodes))
    hashes = index.stored_hashes([n.node_id for n in nodes])
    assert len(hashes) == 2101 and hashes["2501.02100#summary"] == "h2100" and hashes["2501.00000#summary"] == "h0"


def test_delete_removes_only_the_given_nodes(index: VectorIndex) -> None:
    index.upsert([_node("2501.00001#summary", _unit(1, 0, 0)), _node("2501.00001#abstract", _unit(1, 1, 0)),
                  _node("2501.00002#summary", _unit(0, 1, 0))])
    index.delete(["2501.00001#abstract", "2501.09999#summary"])
    index.delete([])
    assert index.count() == 2
    assert {hit.node_id for hit in index.query(_unit(1, 1, 0), 10)} == {"2501.00001#summary", "2501.00002#summary"}


def test_iter_all_pages_through_everything_and_add_raw_restores_it(index: VectorIndex) -> None:
    nodes = [_hashed(f"2501.{n:05d}#summary", _unit(1, n, 0), f"h{n}") for n in range(7)]
    index.upsert(nodes)
    dumped = list(index.iter_all(page=3))  # 3 + 3 + 1
    assert sorted(node_id for node_id, *_ in dumped) == sorted(n.node_id for n in nodes)
    by_id = {node_id: (vector, metadata, document) for node_id, vector, metadata, document in dumped}
    vector, metadata, document = by_id["2501.00004#summary"]
    assert vector == pytest.approx(_unit(1, 4, 0))
    assert metadata["content_hash"] == "h4" and metadata["arxiv_id"] == "2501.00004"
    assert document == "text of 2501.00004#summary"

    copy = index.sibling("papers-restore")
    assert copy.count() == 0  # another collection on the same client
    copy.add_raw([d[0] for d in dumped], [d[1] for d in dumped], [d[2] for d in dumped], [d[3] for d in dumped])
    assert copy.count() == 7 and copy.stored_hashes(["2501.00004#summary"]) == {"2501.00004#summary": "h4"}
    assert [hit.node_id for hit in copy.query(_unit(1, 4, 0), 1)] == ["2501.00004#summary"]
    assert copy.query(_unit(1, 4, 0), 1)[0].text == "text of 2501.00004#summary"


def test_rename_swaps_a_staging_collection_in_and_drop_discards_one(index: VectorIndex, tmp_path: Path) -> None:
    index.upsert([_node("2501.00001#summary", _unit(1, 0, 0))])
    staging = index.sibling("papers-test-staging")
    staging.upsert([_node("2501.00002#summary", _unit(0, 1, 0)), _node("2501.00003#summary", _unit(0, 0, 1))])
    staging.rename("papers-test")  # replaces what was stored under that name
    assert staging.collection_name == "papers-test" and staging.count() == 2
    assert [hit.node_id for hit in staging.query(_unit(0, 1, 0), 1)] == ["2501.00002#summary"]
    fresh = VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers-test")  # as the next process sees it
    assert fresh.count() == 2 and fresh.stored_hashes(["2501.00001#summary"]) == {}

    abandoned = fresh.sibling("papers-abandoned")
    abandoned.upsert([_node("2501.00009#summary", _unit(1, 1, 1))])
    abandoned.drop()
    client = chroma_client(None, tmp_path / "chroma")
    assert {collection.name for collection in client.list_collections()} == {"papers-test"}


def _ef_search_read_back(path: Path, name: str) -> int:
    """ef_search as Chroma stores it, read through another client (the collection's public configuration)."""
    collection = chroma_client(None, path).get_collection(name, embedding_function=None)
    return int(collection.configuration_json["hnsw"]["ef_search"])


def test_a_new_collection_is_created_cosine_with_the_given_ef_search(tmp_path: Path) -> None:
    index = VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers-test", ef_search=321)
    assert index.hnsw_configuration()["space"] == "cosine" and index.hnsw_configuration()["ef_search"] == 321
    assert _ef_search_read_back(tmp_path / "chroma", "papers-test") == 321
    staging = index.sibling("papers-test-staging")  # a restore's staging collection: swapped in as it is
    assert _ef_search_read_back(tmp_path / "chroma", "papers-test-staging") == 321
    assert staging.hnsw_configuration()["space"] == "cosine"

    plain = VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers-plain")
    assert plain.hnsw_configuration()["space"] == "cosine"
    assert plain.hnsw_configuration()["ef_search"] == 100  # Chroma's default
    plain.upsert([_node("2501.00001#summary", _unit(1, 0, 0)), _node("2501.00002#summary", _unit(1, 1, 0))])
    assert [round(hit.score, 4) for hit in plain.query(_unit(1, 0, 0), 2)] == [1.0, round(1 / math.sqrt(2), 4)]


def test_apply_ef_search_updates_an_existing_collection_that_opening_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    # As papersbot created collections before the setting: cosine through the legacy metadata key.
    chroma_client(None, path).get_or_create_collection("papers-test", metadata={"hnsw:space": "cosine"},
                                                       embedding_function=None)
    index = VectorIndex(chroma_client(None, path), "papers-test", ef_search=300)
    assert index.hnsw_configuration()["ef_search"] == 100  # opening never writes
    index.upsert([_node("2501.00001#summary", _unit(1, 0, 0)), _node("2501.00002#summary", _unit(0, 1, 0))])
    assert index.apply_ef_search() is True
    assert index.hnsw_configuration()["ef_search"] == 300 and _ef_search_read_back(path, "papers-test") == 300
    assert index.apply_ef_search() is False  # already stored
    assert index.hnsw_configuration()["space"] == "cosine"
    assert [(hit.node_id, round(hit.score, 4)) for hit in index.query(_unit(1, 0, 0), 1)] == [
        ("2501.00001#summary", 1.0)]
    assert VectorIndex(chroma_client(None, path), "papers-test").apply_ef_search() is False  # None: keep what is stored
    assert _ef_search_read_back(path, "papers-test") == 300
