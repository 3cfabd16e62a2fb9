#!/usr/bin/env python
"""Our per-paper fusion (``HybridRetriever.search``) vs LlamaIndex's ``QueryFusionRetriever`` over the same two
retrievers, on held-out questions over already ingested data dirs.

Usage::

    python benchmarks/compare_fusion.py DATA_DIR QUESTIONS.jsonl [DATA_DIR QUESTIONS.jsonl ...]

Only answerable similarity questions count (the engine routes dates, votes and ids before any retrieval).
``QueryFusionRetriever`` gets papersbot's ``DenseRetriever`` and ``LexicalRetriever`` (query expansion as
configured), one query (no LLM rewriting), the configured dense weight for its score modes, and returns
section nodes, deduplicated here to papers in order. It needs an LLM object even for one query: without one
it reads ``llama_index.core.Settings.llm``, LlamaIndex's implicit OpenAI, so a ``MockLLM`` (never called)
is handed in. R@5 and MRR@10 as ``papersbot eval``; the latency is per question, in this process.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    os.environ.pop(_name)

from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.retrievers import QueryFusionRetriever  # noqa: E402
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle  # noqa: E402

from config.settings import load_settings  # noqa: E402
from rag.answer import AnswerEngine  # noqa: E402
from rag.components import build_components  # noqa: E402
from rag.evaluate import read_questions  # noqa: E402
from rag.expansion import expanded  # noqa: E402
from rag.query import plan_query  # noqa: E402
from rag.retrieval import DenseRetriever, LexicalRetriever  # noqa: E402


def papers(nodes: list[NodeWithScore]) -> list[str]:
    return list(dict.fromkeys(str(n.node.metadata["arxiv_id"]) for n in nodes))


def compare(data_dir: Path, questions: Path) -> dict[str, dict[str, float]]:
    components = build_components(load_settings(data_dir=data_dir), llm=None)
    components.freshness.refresh()
    engine = AnswerEngine.from_components(components, llm=None)
    retrieval = components.settings.retrieval
    dates = components.catalog.dates()
    today = date.fromisoformat(dates[0]) if dates else date.today()
    rows = [r for r in read_questions(questions)
            if r["expected"] and plan_query(r["question"], dates, today).mode == "search"]

    class Lexical(LexicalRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            words = expanded(query_bundle.query_str) if retrieval.query_expansion else query_bundle.query_str
            return super()._retrieve(QueryBundle(words))

    def fusion(mode: FUSION_MODES) -> Callable[[str], list[str]]:
        fused = QueryFusionRetriever(
            [DenseRetriever(components.vectors, components.embedder, similarity_top_k=retrieval.dense_k),
             Lexical(components.lexical, similarity_top_k=retrieval.lexical_k)],
            llm=MockLLM(), mode=mode, num_queries=1, use_async=False,
            similarity_top_k=retrieval.dense_k + retrieval.lexical_k,
            retriever_weights=[retrieval.dense_weight, 1 - retrieval.dense_weight])
        return lambda question: papers(fused.retrieve(question))[:10]

    variants: dict[str, Callable[[str], list[str]]] = {
        f"HybridRetriever ({retrieval.fusion}, per paper)":
            lambda question: [c.arxiv_id for c in engine.retriever.search(question, 10).candidates]}
    for mode in (FUSION_MODES.DIST_BASED_SCORE, FUSION_MODES.RELATIVE_SCORE, FUSION_MODES.RECIPROCAL_RANK):
        variants[f"QueryFusionRetriever ({mode.value})"] = fusion(mode)
    for run in variants.values():  # warm: models, indexes, caches
        run(rows[0]["question"])
    results = {}
    for name, run in variants.items():
        recall = rank = 0.0
        took = []
        for row in rows:
            started = time.perf_counter()
            got = run(row["question"])
            took.append((time.perf_counter() - started) * 1000)
            expected = set(row["expected"])
            recall += len(expected & set(got[:5])) / len(expected)
            rank += next((1 / i for i, arxiv_id in enumerate(got[:10], start=1) if arxiv_id in expected), 0.0)
        results[name] = {"questions": len(rows), "R@5": round(recall / len(rows), 4),
                         "MRR@10": round(rank / len(rows), 4), "ms_p50": round(statistics.median(took), 1)}
    components.close()
    return results


def main() -> int:
    args = sys.argv[1:]
    if not args or len(args) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    for data_dir, questions in zip(args[::2], args[1::2], strict=True):
        print(f"{questions} over {data_dir}")
        for name, figures in compare(Path(data_dir), Path(questions)).items():
            print(f"  {name:<44} R@5 {figures['R@5']:.4f}  MRR@10 {figures['MRR@10']:.4f}  "
                  f"p50 {figures['ms_p50']:6.1f} ms  ({figures['questions']} questions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
