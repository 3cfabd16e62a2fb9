"""Rising papers from the vote history, and a paper's dense neighbours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.rising import rising
from rag.similar import similar_papers
from tests.conftest import SAMPLES

NOW = datetime(2025, 2, 10, 12, 0, tzinfo=UTC)
OMNI, DAA, PRIME, MMIQ, FASTKV = "2502.01061", "2502.01237", "2502.01456", "2502.00698", "2502.01068"


def test_rising_ranks_by_gain_within_the_window(fast_library: Components) -> None:
    ingest_paths(Indexer.from_components(fast_library), [str(SAMPLES)])
    catalog = fast_library.catalog
    catalog.record_votes({OMNI: 100, DAA: 90, PRIME: 40, MMIQ: 10}, NOW - timedelta(days=10))
    catalog.record_votes({OMNI: 120, DAA: 95, PRIME: 45}, NOW - timedelta(days=3))
    catalog.record_votes({OMNI: 130, DAA: 150, PRIME: 45, FASTKV: 5}, NOW - timedelta(days=1))
    catalog.record_votes({FASTKV: 25, "9999.99999": 500}, NOW - timedelta(hours=1))  # 9999.99999: not stored

    week = rising(catalog, 7, NOW)
    # Baselines: the last count at or before the window's start (day -10), else the first inside it.
    assert [(r.paper.arxiv_id, r.gained, r.votes) for r in week] == [(DAA, 60, 150), (OMNI, 30, 130),
                                                                      (FASTKV, 20, 25), (PRIME, 5, 45)]
    two_days = rising(catalog, 2, NOW)
    assert [(r.paper.arxiv_id, r.gained) for r in two_days] == [(DAA, 55), (FASTKV, 20), (OMNI, 10)]
    assert [r.paper.arxiv_id for r in rising(catalog, 7, NOW, limit=2)] == [DAA, OMNI]
    assert rising(catalog, 1, NOW - timedelta(days=20)) == []  # nothing recorded then


def test_similar_papers_are_the_dense_neighbours(sample_library: Components) -> None:
    # Both Gaussian splatting papers of the samples: video (2411.11024) and image-to-3D (2411.14384).
    found = similar_papers(sample_library.catalog, sample_library.vectors, "2411.11024", limit=3)
    assert len(found) == 3 and "2411.11024" not in [p.arxiv_id for p, _ in found]
    assert found[0][0].arxiv_id == "2411.14384"
    assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)
    assert similar_papers(sample_library.catalog, sample_library.vectors, "2401.00001") == []
