"""The LlamaIndex retrievers of rag/retrieval.py: dense (Chroma), lexical (Kiwi-BM25) and per-paper fusion.

Fast: the bundled samples embedded by the deterministic hash embedder. Retrieval *quality* on the real model
is tests/rag/test_eval.py's business; here the shape, the filters, the events, and that fusion gives exactly
what the pre-LlamaIndex orchestration gave (same candidates, scores, ranks, sections, coverage).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.instrumentation.events.embedding import EmbeddingStartEvent
from llama_index.core.instrumentation.events.retrieval import RetrievalEndEvent, RetrievalStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import Field

from config.settings import Settings
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.retrieval import DenseRetriever, HybridRetriever, LexicalRetriever, Retrieval
from tests.conftest import SAMPLES, open_components
from tests.helpers import HashEmbedding

QUESTION = "OmniHuman-1 human animation video"
OMNIHUMAN = "2502.01061"


@pytest.fixture(scope="module")
def hashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """The 15 sample papers, embedded by the hash embedder (seconds, no model)."""
    from config.settings import load_settings

    components = open_components(load_settings(data_dir=tmp_path_factory.mktemp("hashed") / "data"),
                                 embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(components), [str(SAMPLES)]).added == 15
    components.freshness.refresh()
    yield components
    components.close()


def hybrid(c: Components, settings: Settings | None = None, **kwargs: Any) -> HybridRetriever:
    return HybridRetriever(c.embedder, c.vectors, c.lexical, (settings or c.settings).retrieval, **kwargs)


def without_expansion(settings: Settings) -> Settings:
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"query_expansion": False})})


class Recorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    root = get_dispatcher()
    handler = Recorder()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers = [h for h in root.event_handlers if h is not handler]


def test_dense_nodes_are_sections_scored_by_cosine(hashed: Components) -> None:
    nodes = DenseRetriever(hashed.vectors, hashed.embedder, similarity_top_k=6).retrieve(QUESTION)
    assert len(nodes) == 6
    query = hashed.embedder.get_query_embedding(QUESTION)
    stored = {node_id: vector for node_id, vector, _, _ in hashed.vectors.iter_all()}
    for n in nodes:
        arxiv_id, section = n.node.node_id.split("#", 1)
        assert n.node.metadata == {"arxiv_id": arxiv_id, "section": section}
        assert n.node.get_content()  # the section's text, as stored with its vector
        vector = stored[n.node.node_id]
        cosine = sum(a * b for a, b in zip(query, vector, strict=True)) / math.sqrt(sum(x * x for x in vector))
        assert n.score == pytest.approx(cosine, abs=1e-4)
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_dense_uses_the_bundle_embedding_and_filters(hashed: Components, recorder: Recorder) -> None:
    vector = hashed.embedder.get_query_embedding(QUESTION)
    recorder.events.clear()
    retriever = DenseRetriever(hashed.vectors, hashed.embedder, similarity_top_k=40, arxiv_ids=[OMNIHUMAN])
    nodes = retriever.retrieve(QueryBundle(QUESTION, embedding=vector))
    assert nodes and {n.node.metadata["arxiv_id"] for n in nodes} == {OMNIHUMAN}
    assert not [e for e in recorder.events if isinstance(e, EmbeddingStartEvent)]  # embedded once, by the caller
    assert DenseRetriever(hashed.vectors, hashed.embedder, similarity_top_k=5, arxiv_ids=[]).retrieve(QUESTION) == []


def test_lexical_nodes_are_bm25_over_kiwi_morphemes(hashed: Components) -> None:
    nodes = LexicalRetriever(hashed.lexical, similarity_top_k=5).retrieve("OmniHuman-1은 어떤 모델이야?")
    assert nodes[0].node.metadata["arxiv_id"] == OMNIHUMAN  # the particle 은 does not hide the name
    hits = hashed.lexical.search("OmniHuman-1은 어떤 모델이야?", 5)
    assert [(n.node.node_id, n.score) for n in nodes] == [(h.node_id, pytest.approx(h.score)) for h in hits]
    assert all(n.node.metadata["section"] == n.node.node_id.split("#", 1)[1] for n in nodes)
    others = LexicalRetriever(hashed.lexical, similarity_top_k=5, arxiv_ids=["2502.00000"]).retrieve("OmniHuman")
    assert others == []


def reference(c: Components, query: str, k: int, arxiv_ids: list[str] | None = None,
              boost: list[str] | None = None) -> Retrieval:
    """Hits read straight from the indexes (no LlamaIndex retriever), handed to the same per-paper scoring."""
    scorer = hybrid(c, without_expansion(c.settings))
    dense = [NodeWithScore(node=TextNode(id_=h.node_id, text=h.text, metadata={"arxiv_id": h.arxiv_id,
                                                                                "section": h.section}), score=h.score)
             for h in c.vectors.query(c.embedder.get_query_embedding(query), c.settings.retrieval.dense_k, arxiv_ids)]
    lexical = [NodeWithScore(node=TextNode(id_=h.node_id, metadata={"arxiv_id": h.arxiv_id,
                                                                    "section": h.node_id.split("#", 1)[1]}),
                             score=h.score) for h in c.lexical.search(query, c.settings.retrieval.lexical_k, arxiv_ids)]
    return scorer._fuse_papers(dense, lexical, k, boost, question=query)


@pytest.mark.parametrize(("query", "arxiv_ids", "boost"), [
    (QUESTION, None, None),
    ("OmniHuman-1은 어떤 모델이야?", None, None),
    ("diffusion language model reasoning", None, [OMNIHUMAN]),
    ("video generation", [OMNIHUMAN, "2502.01068"], None),
    ("quantum error correction", None, None),
])
def test_fusion_is_fed_the_indexes_hits(hashed: Components, query: str, arxiv_ids: list[str] | None,
                                        boost: list[str] | None) -> None:
    """The retrievers pass every hit through unchanged (ids, sections, scores, order, filters, k), so the
    LlamaIndex layer changes no result: the eval figures before and after it were identical (report of
    issue 11), and here the fused candidates equal those made from the indexes' own hits. Query expansion
    (rag.expansion) changes the lexical query on purpose, so it is off here."""
    expected = reference(hashed, query, 10, arxiv_ids, boost)
    got = hybrid(hashed, without_expansion(hashed.settings)).search(query, 10, arxiv_ids, boost)
    assert expected.candidates and got.covered == expected.covered
    assert [(c.arxiv_id, c.score, c.dense, c.lexical, c.dense_rank, c.lexical_rank, c.sections)
            for c in got.candidates] == [(c.arxiv_id, c.score, c.dense, c.lexical, c.dense_rank, c.lexical_rank,
                                          c.sections) for c in expected.candidates]
    assert got.texts == expected.texts


def test_boost_adds_one_first_place(hashed: Components) -> None:
    plain = {c.arxiv_id: c.score for c in hybrid(hashed).search("video generation", 15).candidates}
    boosted = {c.arxiv_id: c.score for c in hybrid(hashed).search("video generation", 15, boost=[OMNIHUMAN]).candidates}
    first_place = hybrid(hashed)._first_place
    assert first_place > 0
    assert boosted[OMNIHUMAN] == pytest.approx(plain[OMNIHUMAN] + first_place)
    assert all(boosted[a] == plain[a] for a in plain if a != OMNIHUMAN)


def test_hybrid_as_a_llamaindex_retriever_gives_one_node_per_paper(hashed: Components) -> None:
    nodes = hybrid(hashed, similarity_top_k=4).retrieve(QUESTION)
    candidates = hybrid(hashed).search(QUESTION, 4).candidates
    ids = [n.node.node_id for n in nodes]
    assert len(ids) == 4 == len(set(ids)) and ids == [c.arxiv_id for c in candidates]
    assert [n.score for n in nodes] == [c.score for c in candidates]
    for node, c in zip((n.node for n in nodes), candidates, strict=True):
        assert node.metadata == {"arxiv_id": c.arxiv_id, "dense": c.dense, "lexical": c.lexical,
                                 "dense_rank": c.dense_rank, "lexical_rank": c.lexical_rank,
                                 "sections": c.sections, "found_by": c.found_by}
        assert node.get_content() or c.dense is None  # its best dense section's text
        assert "dense_rank" not in node.get_content(metadata_mode="llm")  # evidence is not shown to an LLM
    restricted = hybrid(hashed, arxiv_ids=["2502.01068"]).retrieve(QUESTION)
    assert [n.node.node_id for n in restricted] == ["2502.01068"]


def test_search_embeds_once_and_dispatches_one_retrieval(hashed: Components, recorder: Recorder) -> None:
    hybrid(hashed).search(QUESTION, 5)
    kinds = [type(e) for e in recorder.events]
    assert kinds.count(EmbeddingStartEvent) == 1
    # One pair for the fusion, one per leaf retriever call (BM25 twice with query expansion words).
    assert kinds.count(RetrievalStartEvent) == kinds.count(RetrievalEndEvent) >= 3
    outer = [e for e in recorder.events if isinstance(e, RetrievalEndEvent)][-1]
    assert outer.str_or_query_bundle == QUESTION
    assert [n.node.node_id for n in outer.nodes] == [c.arxiv_id for c in hybrid(hashed).search(QUESTION, 5).candidates]


def test_a_short_topic_a_shown_paper_has_every_word_of_is_covered(hashed: Components) -> None:
    """"강화학습 논문" is too short for the similarity and BM25 thresholds; PRIME (RL with implicit rewards)
    has both of its words, so the digests cover it. A question with a word no shown paper has is not
    covered by this rule (it may still be by the others)."""
    retriever = hybrid(hashed)
    found = retriever.search("강화학습 논문", 5)
    assert found.covered and "2502.01456" in [c.arxiv_id for c in found.candidates[:3]]
    assert retriever._has_every_word("강화학습 논문", found.candidates[:3])
    stocks = retriever.search("강화학습으로 주식 투자하는 논문", 5)
    assert not retriever._has_every_word("강화학습으로 주식 투자하는 논문", stocks.candidates[:3])
