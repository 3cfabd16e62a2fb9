"""The vector index's query: cosine scores, the arXiv-id filter, and k above the collection's size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode

from rag.vectors import VectorIndex, chroma_client


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
