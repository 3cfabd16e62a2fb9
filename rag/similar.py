"""More like this: a paper's nearest neighbours in the dense index.

The paper's own section vectors are averaged into one vector (its sections together say what it is
about better than any single one) and the index is searched with it; each other paper scores by its
closest section. No embedding model runs: the vectors are the stored ones.
"""

from __future__ import annotations

import math

from rag.storage.catalog import Catalog, StoredPaper, node_id
from rag.vectors import VectorIndex

SECTIONS_PER_PAPER = 6  # search depth per wanted neighbour: every paper has up to this many section nodes


def similar_papers(catalog: Catalog, vectors: VectorIndex, arxiv_id: str,
                   limit: int = 5) -> list[tuple[StoredPaper, float]]:
    """(paper, cosine) of the ``limit`` papers closest to ``arxiv_id``, closest first; [] when the paper or
    its vectors are not stored."""
    paper = catalog.get(arxiv_id)
    if paper is None:
        return []
    stored = vectors.embeddings([node_id(arxiv_id, key) for key in paper.sections()])
    if not stored:
        return []
    size = len(next(iter(stored.values())))
    mean = [sum(vector[i] for vector in stored.values()) / len(stored) for i in range(size)]
    norm = math.sqrt(sum(x * x for x in mean)) or 1.0
    query = [x / norm for x in mean]
    best: dict[str, float] = {}
    for hit in vectors.query(query, (limit + 1) * SECTIONS_PER_PAPER):
        if hit.arxiv_id != arxiv_id and hit.score > best.get(hit.arxiv_id, -2.0):
            best[hit.arxiv_id] = hit.score
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    papers = catalog.get_many(i for i, _ in ranked)
    return [(papers[i], score) for i, score in ranked if i in papers]
