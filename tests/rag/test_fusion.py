"""Scoring of hybrid retrieval as pure functions: per-paper candidates, section weighting, fusion, and the
"not covered" decision's scale-free signals (no model, no index)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import pytest
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import NodeWithScore, TextNode

from config.settings import load_settings
from rag.lexical import bm25_idf as idf
from rag.retrieval import (
    Candidate,
    CoverageSignals,
    HybridRetriever,
    Retrieval,
    candidates_from_hits,
    coverage_signals,
    fuse,
    has_every_term,
    is_covered,
    weight_sections,
)


def test_candidates_keep_each_papers_best_section_and_rank_per_retriever() -> None:
    dense = [("a", "method", 0.91), ("b", "summary", 0.90), ("a", "summary", 0.89)]
    lexical = [("c", "results", 7.0), ("a", "results", 5.0)]
    by_id = {c.arxiv_id: c for c in candidates_from_hits(dense, lexical)}
    assert (by_id["a"].dense, by_id["a"].dense_rank, by_id["a"].lexical, by_id["a"].lexical_rank) == (0.91, 1, 5.0, 2)
    assert by_id["a"].sections == ["method", "summary", "results"]
    assert by_id["b"].lexical_rank is None and by_id["b"].found_by == ["dense"]
    assert by_id["c"].dense is None and by_id["c"].found_by == ["lexical"]


def test_second_section_adds_a_share_of_the_second_best_score() -> None:
    dense = [("a", "method", 0.9), ("a", "summary", 0.8), ("b", "summary", 0.85)]
    by_id = {c.arxiv_id: c for c in candidates_from_hits(dense, [], second_section=0.5)}
    assert by_id["a"].dense == pytest.approx(0.9 + 0.5 * 0.8)
    assert by_id["b"].dense == pytest.approx(0.85)


def test_rrf_sums_reciprocal_ranks() -> None:
    candidates = candidates_from_hits([("a", "s", 0.9), ("b", "s", 0.8)], [("b", "s", 3.0)])
    fuse(candidates, fusion="rrf", dense_weight=0.6, rrf_k=60)
    scores = {c.arxiv_id: c.score for c in candidates}
    assert scores["a"] == pytest.approx(1 / 61) and scores["b"] == pytest.approx(1 / 62 + 1 / 61)


def test_dbsf_keeps_how_far_ahead_a_clear_winner_is() -> None:
    """A paper far ahead on dense beats one that is merely first on a flat lexical list (rank fusion would
    tie them)."""
    dense = [("winner", "s", 0.95)] + [(f"d{i}", "s", 0.80 + i * 0.001) for i in range(10)]
    lexical = [("lexfirst", "s", 5.1)] + [(f"l{i}", "s", 5.0 - i * 0.01) for i in range(10)]
    candidates = candidates_from_hits(dense, lexical)
    fuse(candidates, fusion="dbsf", dense_weight=0.5, rrf_k=60)
    best = max(candidates, key=lambda c: c.score)
    assert best.arxiv_id == "winner"


def test_dbsf_weight_moves_the_balance() -> None:
    dense = [("d", "s", 0.9), ("x", "s", 0.8), ("y", "s", 0.79)]
    lexical = [("l", "s", 9.0), ("x", "s", 2.0), ("y", "s", 1.9)]
    for weight, expected in ((0.9, "d"), (0.1, "l")):
        candidates = candidates_from_hits(dense, lexical)
        fuse(candidates, fusion="dbsf", dense_weight=weight, rrf_k=60)
        assert max(candidates, key=lambda c: c.score).arxiv_id == expected


def test_idf_is_bm25s_and_rare_terms_weigh_more() -> None:
    assert idf(0, 100) == pytest.approx(math.log(100.5 / 0.5 + 1))
    assert idf(1, 1000) > idf(50, 1000) > idf(900, 1000) > 0


def _ranked(dense: list[float]) -> list[Candidate]:
    return [Candidate(f"p{i}", dense=d, dense_rank=i + 1) for i, d in enumerate(dense)]


def test_dense_z_measures_the_top_paper_against_the_questions_own_scores() -> None:
    flat = coverage_signals(_ranked([0.86, 0.859, 0.858, 0.857, 0.856, 0.855]), {}, {})
    ahead = coverage_signals(_ranked([0.90, 0.859, 0.858, 0.857, 0.856, 0.855]), {}, {})
    assert ahead.dense_z > 10 > flat.dense_z
    # shifting every cosine (a bigger corpus lifts the whole pack) does not change z
    shifted = coverage_signals(_ranked([0.92, 0.879, 0.878, 0.877, 0.876, 0.875]), {}, {})
    assert shifted.dense_z == pytest.approx(ahead.dense_z)


def test_dense_z_is_that_of_the_fused_top_paper() -> None:
    """The paper shown first is judged, not a dense winner that fusion put second."""
    ranked = _ranked([0.86, 0.95, 0.85, 0.85, 0.84])
    assert coverage_signals(ranked, {}, {}).dense_z < coverage_signals(sorted(
        ranked, key=lambda c: -(c.dense or 0)), {}, {}).dense_z


def test_coverage_is_the_idf_share_of_the_question_a_top_paper_contains() -> None:
    ranked = _ranked([0.9, 0.85, 0.84, 0.83])
    term_idf = {"eeg": 8.0, "decoding": 2.0, "model": 0.5}
    signals = coverage_signals(ranked, term_idf, {"p0": {"model"}, "p1": {"decoding", "model"}})
    assert signals.coverage == pytest.approx(2.5 / 10.5)
    assert coverage_signals(ranked, term_idf, {"p3": {"eeg"}}).coverage == 0.0  # p3 is not in the top 3
    assert coverage_signals(ranked, {}, {"p0": {"x"}}).coverage == 0.0


def test_a_top_paper_with_every_word_of_the_question_covers_it() -> None:
    assert has_every_term(["강화", "학습"], {"p0": {"강화"}, "p1": {"강화", "학습", "로봇"}})
    assert not has_every_term(["지진", "예측", "딥", "러닝"], {"p0": {"예측", "딥", "러닝"}, "p1": {"지진"}})
    assert not has_every_term([], {"p0": {"x"}}) and not has_every_term(["x"], {})


def test_is_covered_trades_dense_standout_for_word_coverage() -> None:
    kwargs = {"min_score": 5.0, "coverage_weight": 4.0}
    assert is_covered(CoverageSignals(dense_best=0.9, dense_z=5.5, coverage=0.0), **kwargs)
    assert is_covered(CoverageSignals(dense_best=0.9, dense_z=3.0, coverage=0.6), **kwargs)
    assert not is_covered(CoverageSignals(dense_best=0.9, dense_z=3.0, coverage=0.2), **kwargs)


# Per-paper scores of a held-out question at 595 papers ("MATH500 36.0% -> 73.6%"): the asked paper is 20th on
# dense (0.847) but far ahead on BM25 (17.9, its numbers); another paper leads dense (0.867) with BM25 4.0.
_DENSE = [0.867, 0.865, 0.861, 0.86, 0.855, 0.855, 0.855, 0.854, 0.853, 0.852, 0.852, 0.851, 0.849, 0.849, 0.849,
          0.849, 0.848, 0.848, 0.848, 0.847, 0.847, 0.846, 0.846, 0.846, 0.845, 0.845, 0.844, 0.844, 0.844, 0.844]
_LEXICAL = [17.9, 10.9, 7.8, 4.9, 4.0, 3.6, 3.4, 3.3, 3.3, 3.3, 3.0, 3.0, 2.5, 2.4, 2.3, 2.2, 2.0, 1.9, 1.9, 1.9,
            1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.7, 1.7]


def test_robust_fusion_keeps_a_rare_name_hit_that_standard_deviation_would_flatten() -> None:
    """A BM25 outlier (an exact name or number) inflates the standard deviation it is divided by; median/MAD
    normalisation leaves it standing out."""
    dense_ids = ["lead"] + [f"d{i}" for i in range(1, 19)] + ["asked"] + [f"d{i}" for i in range(20, 30)]
    lexical_ids = ["asked"] + [f"l{i}" for i in range(1, 4)] + ["lead"] + [f"l{i}" for i in range(5, 30)]
    dense = [(a, "s", v) for a, v in zip(dense_ids, _DENSE, strict=True)]
    lexical = [(a, "s", v) for a, v in zip(lexical_ids, _LEXICAL, strict=True)]
    winners = {}
    for fusion in ("dbsf", "robust"):
        candidates = candidates_from_hits(dense, lexical)
        fuse(candidates, fusion=fusion, dense_weight=0.6, rrf_k=60)
        winners[fusion] = max(candidates, key=lambda c: c.score).arxiv_id
    assert winners == {"dbsf": "lead", "robust": "asked"}


def test_robust_fusion_survives_lists_with_no_spread() -> None:
    candidates = candidates_from_hits([("a", "s", 0.9), ("b", "s", 0.9), ("c", "s", 0.9)], [("a", "s", 2.0)])
    fuse(candidates, fusion="robust", dense_weight=0.6, rrf_k=60)
    assert all(math.isfinite(c.score) for c in candidates)
    assert max(candidates, key=lambda c: c.score).arxiv_id == "a"


def test_weight_sections_scales_only_the_named_section_and_reorders() -> None:
    lexical = [("new", "whats_new", 5.0), ("other", "technical_details", 4.5), ("old", "summary", 4.2)]
    weighted = weight_sections(lexical, {"summary": 1.3})
    assert [a for a, _, _ in weighted] == ["old", "new", "other"]
    assert weighted[0][2] == pytest.approx(4.2 * 1.3) and weighted[1][2] == 5.0
    assert weight_sections(lexical, {"summary": 1.0}) == lexical  # factor 1 changes nothing
    assert weight_sections(lexical, {}) == lexical


def test_summary_weight_lifts_an_old_format_paper_in_fusion() -> None:
    """Two papers equally close in meaning; the old-format one's single long section scores a little lower
    in BM25 (length normalisation). Weighted, its lexical hit leads and so does the paper."""
    dense = [("new", "whats_new", 0.86), ("old", "summary", 0.86)] + [(f"p{i}", "whats_new", 0.80 - i / 1000)
                                                                      for i in range(8)]
    lexical = [("new", "whats_new", 5.0), ("old", "summary", 4.2)] + [(f"p{i}", "whats_new", 2.0 - i / 10)
                                                                      for i in range(8)]

    def top(hits: list[tuple[str, str, float]]) -> str:
        candidates = candidates_from_hits(dense, hits)
        fuse(candidates, fusion="robust", dense_weight=0.6, rrf_k=60)
        return max(candidates, key=lambda c: c.score).arxiv_id

    assert top(lexical) == "new"
    assert top(weight_sections(lexical, {"summary": 1.3})) == "old"


def _nodes(hits: list[tuple[str, str, float]]) -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(id_=f"{a}#{s}", text=a, metadata={"arxiv_id": a, "section": s}), score=v)
            for a, s, v in hits]


def test_retriever_ranks_with_the_summary_weight_but_judges_coverage_on_raw_bm25(tmp_path: Path) -> None:
    """The setting reaches the ranking; "not covered" keeps judging raw BM25 scores, because its threshold
    (min_lexical_score) was calibrated on them: a summary hit of 3.0 is not lifted over 3.5 by the weighting."""
    dense = _nodes([("new", "whats_new", 0.86), ("old", "summary", 0.86)]
                   + [(f"p{i}", "whats_new", 0.80 - i / 1000) for i in range(8)])
    lexical = _nodes([("new", "whats_new", 3.4), ("old", "summary", 3.0)]
                     + [(f"p{i}", "whats_new", 1.5 - i / 10) for i in range(8)])

    def search(weight: float) -> Retrieval:
        settings = load_settings(data_dir=tmp_path, retrieval={"summary_section_weight": weight})
        retriever = HybridRetriever(MockEmbedding(embed_dim=2), cast(Any, None), cast(Any, None), settings.retrieval)
        return retriever._fuse_papers(dense, lexical, 5, None)

    plain, weighted = search(1.0), search(1.3)
    assert plain.candidates[0].arxiv_id == "new" and weighted.candidates[0].arxiv_id == "old"
    assert weighted.candidates[0].lexical == pytest.approx(3.0 * 1.3)  # ranked on the weighted score
    assert plain.covered is False and weighted.covered is False  # 3.9 weighted, but 3.0 < 3.5 raw
    assert load_settings(data_dir=tmp_path).retrieval.summary_section_weight == 1.3  # the shipped default
