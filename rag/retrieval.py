"""Hybrid retrieval: dense e5 over section nodes fused with Kiwi-BM25 per paper.

Fusion is score-aware by default (``fusion = "robust"``): each retriever's per-paper scores are normalised
by their own distribution, centre ± 3 spreads, then mixed ``dense_weight`` : ``1 - dense_weight``. "robust"
takes the median and MAD as centre and spread, "dbsf" (distribution-based score fusion, as in Qdrant) the
mean and standard deviation; "rrf" is plain reciprocal rank. BM25 searches the question plus the other
language's words for its ML terms (``rag.expansion``). Measured end to end on held-out questions
(``benchmarks/tune_retrieval.py``, results in ``benchmarks/results/eval*.txt``; R@5 / MRR@10 over answerable
questions): DBSF without expansion -> robust with expansion, 127 seed papers 0.984 / 0.980 -> 0.989 / 0.987,
595 real papers 0.947 / 0.921 -> 0.947 / 0.932, all 5,487 archive papers 0.923 / 0.897 -> 0.939 / 0.920, and
0.949 / 0.933 with the old-format summary sections' BM25 weighted (:func:`weight_sections`).
Rank fusion throws away how far ahead a clear winner is; DBSF keeps it but a single BM25 outlier (an exact
name or number) inflates the standard deviation it is divided by, so it flattens itself; the MAD does not.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.retrieval import RetrievalEndEvent, RetrievalStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from config.settings import RetrievalSettings
from rag.expansion import expanded
from rag.lexical import LexicalIndex
from rag.vectors import VectorIndex

dispatcher = get_dispatcher(__name__)


@dataclass
class Candidate:
    """One paper found by retrieval, with the evidence for it."""

    arxiv_id: str
    score: float = 0.0  # fused score (see the module docstring)
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
    candidates: list[Candidate]  # best first
    covered: bool  # does anything in the digests answer the question (see HybridRetriever._covered)
    texts: dict[str, str] = field(default_factory=dict)  # arxiv_id -> its best dense section's text

    def nodes(self) -> list[NodeWithScore]:
        """The candidates as LlamaIndex nodes: id = arXiv id, score = fused score, the evidence in metadata."""
        return [NodeWithScore(node=TextNode(
            id_=c.arxiv_id, text=self.texts.get(c.arxiv_id, ""),
            metadata={"arxiv_id": c.arxiv_id, "dense": c.dense, "lexical": c.lexical, "dense_rank": c.dense_rank,
                      "lexical_rank": c.lexical_rank, "sections": list(c.sections), "found_by": c.found_by},
            excluded_llm_metadata_keys=list(_EVIDENCE), excluded_embed_metadata_keys=list(_EVIDENCE),
        ), score=c.score) for c in self.candidates]


_EVIDENCE = ("dense", "lexical", "dense_rank", "lexical_rank", "sections", "found_by")


class DenseRetriever(BaseRetriever):
    """Section nodes by e5 cosine similarity, from Chroma through LlamaIndex's ``ChromaVectorStore``
    (``rag.vectors.VectorIndex.query``); scores are cosine similarities.

    Not ``VectorStoreIndex.from_vector_store(...).as_retriever()``: building a ``VectorStoreIndex`` reads
    ``llama_index.core.Settings`` (its transformations default to ``Settings.transformations``, a
    tokenizer-backed splitter) and its retriever reports Chroma's ``exp(-distance)``; the per-query
    ``arxiv_ids`` filter is the same ``MetadataFilters`` either way. A query embedding already in the
    ``QueryBundle`` is used as is (the fusion retriever embeds once for both retrievers).
    """

    def __init__(self, vectors: VectorIndex, embed_model: BaseEmbedding, *, similarity_top_k: int,
                 arxiv_ids: Sequence[str] | None = None) -> None:
        super().__init__()
        self.vectors = vectors
        self.embed_model = embed_model
        self.similarity_top_k = similarity_top_k
        self.arxiv_ids = None if arxiv_ids is None else list(arxiv_ids)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        embedding = query_bundle.embedding
        if embedding is None:
            embedding = self.embed_model.get_query_embedding(query_bundle.query_str)
        hits = self.vectors.query(embedding, self.similarity_top_k, self.arxiv_ids)
        return [NodeWithScore(node=TextNode(id_=hit.node_id, text=hit.text,
                                            metadata={"arxiv_id": hit.arxiv_id, "section": hit.section}),
                              score=hit.score) for hit in hits]


class LexicalRetriever(BaseRetriever):
    """Section nodes by BM25 over Kiwi morphemes (``rag.lexical.LexicalIndex``); scores are BM25 scores.

    Ours rather than ``llama_index.retrievers.bm25.BM25Retriever``, whose English tokenizer misses most
    Korean matches (see ``rag.lexical``). The index keeps no text: nodes carry ids and metadata only (the
    texts are in the catalog)."""

    def __init__(self, lexical: LexicalIndex, *, similarity_top_k: int, arxiv_ids: Sequence[str] | None = None) -> None:
        super().__init__()
        self.lexical = lexical
        self.similarity_top_k = similarity_top_k
        self.arxiv_ids = None if arxiv_ids is None else list(arxiv_ids)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.lexical.search(query_bundle.query_str, self.similarity_top_k, self.arxiv_ids)
        return [NodeWithScore(node=TextNode(id_=hit.node_id, metadata={
            "arxiv_id": hit.arxiv_id, "section": hit.node_id.split("#", 1)[1]}), score=hit.score) for hit in hits]


class HybridRetriever(BaseRetriever):
    """Papers for a question: dense and lexical section nodes, deduplicated to papers and fused per paper.

    As a LlamaIndex retriever, ``retrieve(query)`` returns one node per paper (id = arXiv id, score = the
    fused score, the evidence in metadata) among ``arxiv_ids`` when given, best ``similarity_top_k``
    first. The engine calls :meth:`search`, which also says whether the digests cover the question and
    takes the per-question restriction and the follow-up boost as arguments. Both dispatch LlamaIndex's
    retrieval events; the query embedding, each retriever and the fusion are spans of their own.

    Ours rather than LlamaIndex's ``QueryFusionRetriever`` over the same two retrievers, which fuses section
    nodes (a paper's sections compete with each other) and has no coverage decision: on the similarity
    questions of our held-out sets (``benchmarks/compare_fusion.py``) MRR@10 0.992 vs 0.947 at best (127
    seed papers) and 0.936 vs 0.856 (595 papers), R@5 within 0.01 either way. It also needs an LLM object
    even for one query, or it reads ``Settings.llm``.
    """

    def __init__(self, embed_model: BaseEmbedding, vectors: VectorIndex, lexical: LexicalIndex,
                 settings: RetrievalSettings, *, similarity_top_k: int | None = None,
                 arxiv_ids: Sequence[str] | None = None) -> None:
        """``settings``: the ``retrieval`` section of the configuration (all this reads)."""
        super().__init__()
        self.embed_model = embed_model
        self.vectors = vectors
        self.lexical = lexical
        self.settings = settings
        self.similarity_top_k = similarity_top_k or settings.top_k
        self.arxiv_ids = None if arxiv_ids is None else list(arxiv_ids)

    @dispatcher.span
    def search(self, query: str | QueryBundle, k: int | None = None, arxiv_ids: Sequence[str] | None = None,
               boost: Sequence[str] | None = None) -> Retrieval:
        """Top-k papers for ``query`` and whether anything covers it; ``arxiv_ids`` restricts the search,
        ``boost`` favours papers (the previous turn's citations in a follow-up)."""
        dispatcher.event(RetrievalStartEvent(str_or_query_bundle=query))
        bundle = QueryBundle(query) if isinstance(query, str) else query
        retrieval = self._search(bundle, k or self.similarity_top_k, arxiv_ids, boost)
        dispatcher.event(RetrievalEndEvent(str_or_query_bundle=query, nodes=retrieval.nodes()))
        return retrieval

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._search(query_bundle, self.similarity_top_k, self.arxiv_ids, None).nodes()

    def _search(self, bundle: QueryBundle, k: int, arxiv_ids: Sequence[str] | None,
                boost: Sequence[str] | None) -> Retrieval:
        if bundle.embedding is None:
            bundle = QueryBundle(bundle.query_str, embedding=self.embed_model.get_query_embedding(bundle.query_str))
        dense = DenseRetriever(self.vectors, self.embed_model, similarity_top_k=self.settings.dense_k,
                               arxiv_ids=arxiv_ids).retrieve(bundle)
        # BM25 also gets the other language's words for the question's ML terms (rag.expansion) ...
        words = QueryBundle(expanded(bundle.query_str)) if self.settings.query_expansion else bundle
        bm25 = LexicalRetriever(self.lexical, similarity_top_k=self.settings.lexical_k, arxiv_ids=arxiv_ids)
        lexical = bm25.retrieve(words)
        # ... but "not covered" judges the question's own words: its BM25 threshold was calibrated on them, and
        # the added words lift scores (measured on the seeds: 10 of 11 unanswerable questions refused -> 6).
        plain = lexical if words is bundle or words.query_str == bundle.query_str else bm25.retrieve(bundle)
        return self._fuse_papers(dense, lexical, k, boost, plain, question=bundle.query_str)

    @dispatcher.span
    def _fuse_papers(self, dense: list[NodeWithScore], lexical: list[NodeWithScore], k: int,
                     boost: Sequence[str] | None, plain: list[NodeWithScore] | None = None,
                     question: str | None = None) -> Retrieval:
        """``plain``: the lexical hits of the question without expansion words, for the coverage decision
        (``lexical`` itself when there were none); ``question``: its words, for the same decision."""
        texts: dict[str, str] = {}
        for hit in dense:
            texts.setdefault(str(hit.node.metadata["arxiv_id"]), hit.node.get_content())
        dense_hits, lexical_hits = _hits(dense), _hits(lexical)
        weighted = weight_sections(lexical_hits, {"summary": self.settings.summary_section_weight})
        candidates = candidates_from_hits(dense_hits, weighted)
        self._fuse(candidates)
        for candidate in candidates:
            if boost and candidate.arxiv_id in boost:  # as much as a first place in one of the two lists
                candidate.score += self._first_place
        ranked = sorted(candidates, key=lambda c: c.score, reverse=True)[:k]
        # "not covered" sees raw BM25 scores (its threshold was calibrated on them), not the section weighting
        judged_hits = lexical_hits if plain is None or plain is lexical else _hits(plain)
        judged = candidates if judged_hits == weighted else candidates_from_hits(dense_hits, judged_hits)
        covered = self._covered(judged) or (question is not None and self._has_every_word(question, ranked[:3]))
        return Retrieval(ranked, covered, {c.arxiv_id: texts.get(c.arxiv_id, "") for c in ranked})

    def _has_every_word(self, question: str, top: list[Candidate]) -> bool:
        """A shown paper has every word of the question (see :func:`has_every_term`)."""
        terms = self.lexical.tokenizer.tokens(question)
        if not terms or not top:
            return False
        return has_every_term(terms, self.lexical.terms_by_paper(terms, [c.arxiv_id for c in top]))

    @property
    def _first_place(self) -> float:
        if self.settings.fusion == "rrf":
            return 1.0 / self.settings.rrf_k
        return min(self.settings.dense_weight, 1.0 - self.settings.dense_weight)

    def _fuse(self, candidates: list[Candidate]) -> None:
        retrieval = self.settings
        fuse(candidates, fusion=retrieval.fusion, dense_weight=retrieval.dense_weight, rrf_k=retrieval.rrf_k)

    def _covered(self, candidates: list[Candidate]) -> bool:
        """Does anything in the digests answer? e5 similarities are compressed (unrelated questions
        still score ~0.80-0.86 on this corpus), so closeness in meaning alone is trusted only when high;
        otherwise the question's words must also match one of the top papers (names, terms, numbers).

        "The top three" are taken by reciprocal rank whatever the fusion: the thresholds were calibrated
        on that order, and score fusion lifts dense-led papers whose words need not match. (Known limit:
        BM25 scores grow with the corpus, so at real scale this passes most questions; see issue 13.)"""
        if not candidates:
            return False
        best_dense = max((c.dense for c in candidates if c.dense is not None), default=-1.0)
        top3 = sorted(candidates, key=lambda c: sum(1.0 / (60 + r) for r in (c.dense_rank, c.lexical_rank) if r),
                      reverse=True)[:3]
        best_lexical = max((c.lexical or 0.0 for c in top3), default=0.0)
        retrieval = self.settings
        return best_dense >= retrieval.min_relevance or best_lexical >= retrieval.min_lexical_score


Hit = tuple[str, str, float]  # (arxiv_id, section, score), best first


def candidates_from_hits(dense: Iterable[Hit], lexical: Iterable[Hit], second_section: float = 0.0) -> list[Candidate]:
    """One candidate per paper from section hits (best first): its best section's score and rank in each
    retriever. ``second_section`` > 0 adds that share of the paper's second-best section score (a paper
    matching in two sections is more likely about the question than one with a single lucky section)."""
    papers: dict[str, Candidate] = {}
    seconds: dict[tuple[str, str], float] = {}
    for name, hits in (("dense", dense), ("lexical", lexical)):
        rank = 0
        for arxiv_id, section, score in hits:
            candidate = papers.setdefault(arxiv_id, Candidate(arxiv_id))
            if getattr(candidate, f"{name}_rank") is None:
                rank += 1
                setattr(candidate, f"{name}_rank", rank)
                setattr(candidate, name, score)
            elif second_section and (arxiv_id, name) not in seconds:
                seconds[(arxiv_id, name)] = score
            if section not in candidate.sections:
                candidate.sections.append(section)
    for (arxiv_id, name), score in seconds.items():
        candidate = papers[arxiv_id]
        setattr(candidate, name, getattr(candidate, name) + second_section * score)
    return list(papers.values())


def weight_sections(hits: Iterable[Hit], weights: Mapping[str, float]) -> list[Hit]:
    """Section hits with each score multiplied by its section's weight (1 when not in ``weights``), best
    first again (ties keep their order).

    Used on BM25 hits: the digests of 2023-11 .. 2024-06-11 have one free-bullet ``summary`` section per
    paper, about twice as long as a What's New / Technical Details / Performance Highlights section of the
    later digests (636 vs 270-320 characters on average), and BM25's length normalisation scores the same
    matches lower in a longer node. Factor 1.3 measured on the similarity questions about those papers
    (``benchmarks/tune_retrieval.py variants``): tests/data/eval_old_format.jsonl, written after the factor was
    chosen and held out from it, R@5 / MRR@10 0.800 / 0.736 -> 0.822 / 0.751; all 5,487 papers
    (eval_archive.jsonl, where it was found) 0.939 / 0.920 -> 0.949 / 0.931; the seed and 595-paper sets
    (no summary sections) unchanged."""
    weighted = [(arxiv_id, section, score * weights.get(section, 1.0)) for arxiv_id, section, score in hits]
    return sorted(weighted, key=lambda hit: hit[2], reverse=True)


def fuse(candidates: list[Candidate], *, fusion: str, dense_weight: float, rrf_k: int) -> None:
    """Set each candidate's fused score: reciprocal rank (``rrf``) or score fusion, each retriever's
    per-paper scores normalised by their own distribution (``dbsf``: mean and standard deviation;
    ``robust``: median and MAD) and mixed ``dense_weight`` : ``1 - dense_weight``."""
    if fusion == "rrf":
        for c in candidates:
            c.score = sum(1.0 / (rrf_k + r) for r in (c.dense_rank, c.lexical_rank) if r)
        return
    robust = fusion == "robust"
    dense = _normalized({c.arxiv_id: c.dense for c in candidates if c.dense is not None}, robust=robust)
    lexical = _normalized({c.arxiv_id: c.lexical for c in candidates if c.lexical is not None}, robust=robust)
    for c in candidates:
        c.score = dense_weight * dense.get(c.arxiv_id, 0.0) + (1.0 - dense_weight) * lexical.get(c.arxiv_id, 0.0)


@dataclass(frozen=True)
class CoverageSignals:
    """Scale-free evidence that the best papers answer a question (see :func:`coverage_signals`)."""

    dense_best: float  # the best section cosine of all candidates
    dense_z: float  # the shown top paper's cosine against the other candidates' (z-score)
    coverage: float  # the largest idf share of the question's terms one of the top papers contains


def coverage_signals(ranked: Sequence[Candidate], term_idf: dict[str, float], paper_terms: dict[str, set[str]],
                     top: int = 3) -> CoverageSignals:
    """The "not covered" decision's inputs (``ranked``: all candidates, best fused score first).

    * ``dense_z``: how far the fused top paper's cosine stands above the other candidates' (their mean, in
      their standard deviations). e5 cosines are compressed (unrelated questions score 0.80+) and the pack
      rises as the corpus grows; a z-score against the question's own scores moves with neither.
    * ``coverage``: the share of the question's information (its terms' BM25 idf, ``term_idf``) that one
      of the ``top`` papers contains in any section (``paper_terms``: paper -> the question terms it has).
      A share, not a BM25 score: BM25 scores grow with the corpus, shares do not.
    """
    dense = [c.dense for c in ranked if c.dense is not None]
    best = max(dense, default=0.0)
    z = 0.0
    if ranked and len(dense) >= 3:
        head = ranked[0].dense if ranked[0].dense is not None else min(dense)
        others = [c.dense for c in ranked[1:] if c.dense is not None]
        z = (head - statistics.fmean(others)) / (statistics.pstdev(others) or 1.0)
    total = sum(term_idf.values())
    coverage = 0.0
    if total > 0:
        coverage = max((sum(w for t, w in term_idf.items() if t in paper_terms.get(c.arxiv_id, ()))
                        for c in ranked[:top]), default=0.0) / total
    return CoverageSignals(best, z, coverage)


def has_every_term(terms: Sequence[str], paper_terms: Mapping[str, set[str]]) -> bool:
    """Covered because one of the top papers has every word of the question (``paper_terms``: paper -> the
    question's words it has). Short topics ("강화학습 논문", "knowledge distillation") are answered by
    hundreds of papers but are too short for the similarity and BM25 thresholds (at 595 papers 11 of 40
    broad topics, tests/data/eval_broad.jsonl, were refused). The test has no threshold to drift with the
    corpus, and no unanswerable question of the held-out sets (127, 595, 5,487 papers) passes it: their
    distinctive words (지진, crop yield, AIS) are what no top paper has."""
    wanted = set(terms)
    return bool(wanted) and any(wanted <= found for found in paper_terms.values())


def is_covered(signals: CoverageSignals, *, min_score: float, coverage_weight: float) -> bool:
    """Covered when the top paper stands out in meaning, shares the question's rarer words, or a mix of
    both: ``dense_z + coverage_weight * coverage >= min_score`` (a line in the plane of the two signals,
    calibrated on held-out questions at 127, 595 and 5,487 papers; see benchmarks/results/eval.txt)."""
    return signals.dense_z + coverage_weight * signals.coverage >= min_score


def _normalized(scores: dict[str, float], *, robust: bool = False) -> dict[str, float]:
    """Distribution-based normalisation: (score - (centre - 3 spread)) / (6 spread) of this list's scores.

    ``robust``: centre = median, spread = 1.4826 MAD (the standard deviation of a normal sample) instead of
    mean and standard deviation. One outlier (a BM25 hit on a rare name or number, the very evidence worth
    keeping) inflates the standard deviation and so flattens itself; the MAD ignores it."""
    if len(scores) < 2:
        return dict.fromkeys(scores, 1.0)
    values = list(scores.values())
    if robust:
        centre = statistics.median(values)
        spread = 1.4826 * statistics.median(abs(v - centre) for v in values) or statistics.pstdev(values) or 1.0
    else:
        centre, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return {key: (value - centre + 3 * spread) / (6 * spread) for key, value in scores.items()}


def _hits(nodes: list[NodeWithScore]) -> list[Hit]:
    return [(str(n.node.metadata["arxiv_id"]), str(n.node.metadata["section"]), float(n.score or 0.0)) for n in nodes]
