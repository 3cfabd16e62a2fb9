"""Hybrid retrieval: dense e5 over section nodes fused with Kiwi-BM25 by reciprocal rank, per paper."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rag.library import Library


@dataclass
class Candidate:
    """One paper found by retrieval, with the evidence for it."""

    arxiv_id: str
    score: float = 0.0  # fused (RRF) score
    dense: float | None = None  # best section cosine similarity
    lexical: float | None = None  # best section BM25 score
    dense_rank: int | None = None
    lexical_rank: int | None = None
    sections: list[str] = field(default_factory=list)  # sections that matched, best first

    @property
    def found_by(self) -> list[str]:
        return [name for name, rank in (("dense", self.dense_rank), ("lexical", self.lexical_rank)) if rank]


@dataclass
class Retrieval:
    candidates: list[Candidate]
    covered: bool
    timings_ms: dict[str, float]


class HybridRetriever:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.settings = library.settings

    def retrieve(self, query: str, k: int, arxiv_ids: list[str] | None = None,
                 boost: list[str] | None = None) -> Retrieval:
        """Top-k papers for ``query``; ``arxiv_ids`` restricts the search, ``boost`` favours papers
        (the previous turn's citations in a follow-up)."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        vector = self.library.embedder.get_query_embedding(query)
        timings["embed_query"] = _ms(started)
        started = time.perf_counter()
        dense_hits = self.library.vectors.query(vector, self.settings.dense_k, arxiv_ids)
        timings["dense"] = _ms(started)
        started = time.perf_counter()
        lexical_hits = self.library.lexical.search(query, self.settings.lexical_k, arxiv_ids)
        timings["lexical"] = _ms(started)

        started = time.perf_counter()
        papers: dict[str, Candidate] = {}
        rank = 0
        for hit in dense_hits:
            candidate = papers.setdefault(hit.arxiv_id, Candidate(hit.arxiv_id))
            if candidate.dense_rank is None:
                rank += 1
                candidate.dense_rank, candidate.dense = rank, hit.score
            candidate.sections.append(hit.section)
        rank = 0
        for lex in lexical_hits:
            candidate = papers.setdefault(lex.arxiv_id, Candidate(lex.arxiv_id))
            if candidate.lexical_rank is None:
                rank += 1
                candidate.lexical_rank, candidate.lexical = rank, lex.score
            section = lex.node_id.split("#", 1)[1]
            if section not in candidate.sections:
                candidate.sections.append(section)
        rrf_k = self.settings.rrf_k
        for candidate in papers.values():
            candidate.score = sum(1.0 / (rrf_k + r) for r in (candidate.dense_rank, candidate.lexical_rank) if r)
            if boost and candidate.arxiv_id in boost:
                candidate.score += 1.0 / rrf_k
        ranked = sorted(papers.values(), key=lambda c: c.score, reverse=True)[:k]
        timings["fuse"] = _ms(started)
        return Retrieval(ranked, self._covered(ranked), timings)

    def _covered(self, ranked: list[Candidate]) -> bool:
        """Does anything in the digests answer? e5 similarities are compressed (unrelated questions
        still score ~0.80-0.86 on this corpus), so closeness in meaning alone is trusted only when high;
        otherwise the question's words must also match one of the top papers (names, terms, numbers)."""
        if not ranked:
            return False
        best_dense = max((c.dense for c in ranked if c.dense is not None), default=-1.0)
        best_lexical = max((c.lexical or 0.0 for c in ranked[:3]), default=0.0)
        return best_dense >= self.settings.min_relevance or best_lexical >= self.settings.min_lexical_score


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
