"""Warm latency of restricted questions: a topic within dates, a vote condition or an author's papers.

    python benchmarks/bench_restricted.py --data-dir DATA_DIR [--repeats 9]

Each question is asked once to warm up, then ``--repeats`` times through the engine the CLI and the bot use
(``Papers.find``, offline); prints the median and the size of the restriction. A restriction is searched by
exact cosine over the allowed papers' stored vectors, a wider unrestricted search, or Chroma ``$in`` filters
(``rag.vectors.VectorIndex.query``): these questions take each path at 100,000 papers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from tune_retrieval import open_papers  # the offline service over a data dir, as every eval uses it

QUESTIONS = [
    "이번 달 RAG 논문",  # one digest (the archive ends earlier: the nearest)
    "best agent papers in March 2025",  # a month
    "2025년 4월에 가장 인기 있었던 비디오 생성 논문",
    "2024년 Mamba 관련 논문들",  # a year
    "KV cache papers with at least 20 votes",  # a vote condition
    "papers on video generation with at most 50 votes",  # most papers qualify
    "Kaiming He의 diffusion 논문",  # an author's papers
    "KV 캐시를 압축해서 긴 문맥을 빠르게 처리하는 방법은?",  # unrestricted, for comparison
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    papers = open_papers(str(args.data_dir))
    print(f"{args.data_dir}: {papers.stats()['papers']} papers")
    for question in QUESTIONS:
        found = papers.engine.find(question, top_k=5)
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            found = papers.engine.find(question, top_k=5)
            times.append((time.perf_counter() - started) * 1000)
        dates = len(found.plan.dates) if found.plan.dates is not None else "all"
        print(f"{statistics.median(times):8.1f} ms  mode={found.plan.mode:6s} dates={dates!s:5s} "
              f"votes={'yes' if found.plan.votes_condition else 'no ':3s} {question}")
    papers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
