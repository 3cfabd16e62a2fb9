"""Benchmark: the daily push to N subscribers (default 1,000) against the fake Bot API on 127.0.0.1.

Prints medians over ``--runs`` runs of:
* delivery with Telegram-like limits (the fake answers 429 past 30 messages/s overall or 1/s per chat; the
  bot sends through PTB's AIORateLimiter, as in production): total time, messages/s, 429s seen;
* the per-message overhead with no limits anywhere (render + claim/record in SQLite + one HTTP round trip);
* the store's share of it (claim + mark_sent per message, no network).

    .venv/bin/python benchmarks/bench_push.py [--subscribers 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram.ext import AIORateLimiter, ExtBot

from bot.telegram.blocking import BlockingRunner
from bot.telegram.push import Pusher, PushReport
from config.settings import load_settings
from rag.components import build_components
from rag.ingest import Indexer, ingest_paths
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore
from tests.fakes.bot_api import FakeBotAPI
from tests.helpers import HashEmbedding

REPO = Path(__file__).resolve().parent.parent
START = datetime(2025, 2, 5, tzinfo=UTC)


def one_run(subscribers: int, limited: bool, work: Path) -> tuple[PushReport, float, int]:
    settings = load_settings(data_dir=work / "data")
    if not limited:  # overhead only: no pacing either (model_copy skips the setting's 30/s bound)
        settings = settings.model_copy(update={"push": settings.push.model_copy(update={"messages_per_second": 1e6})})
    library = build_components(settings, owner=True, llm=None, embedder=HashEmbedding())
    ingest_paths(Indexer.from_components(library), [str(REPO / "data" / "samples" / "2025-02-05.md")])
    store = SubscriptionStore(settings.storage.subscriptions_path)
    for i in range(subscribers):
        topics = ["diffusion"] if i % 10 == 0 else []
        store.subscribe(10_000 + i, "08:00", "Asia/Seoul", topics, "ko", now=START)
    clock = START + timedelta(days=1)

    async def main(srv: FakeBotAPI) -> tuple[PushReport, float]:
        runner = BlockingRunner(1)
        pusher = Pusher(settings.push, Papers(library), store, runner, data_dir=settings.storage.data_dir,
                        clock=lambda: clock)
        limiter = AIORateLimiter(max_retries=settings.telegram.max_retries) if limited else None  # as in the bot
        bot: ExtBot[Any] = ExtBot(srv.token, base_url=srv.base_url, base_file_url=srv.base_file_url,
                                  rate_limiter=limiter)
        async with bot:
            started = time.perf_counter()
            report = await pusher.run_due(bot)
            elapsed = time.perf_counter() - started
        runner.shutdown()
        return report, elapsed

    with FakeBotAPI(rate_limit=limited) as srv:
        report, elapsed = asyncio.run(main(srv))
        hits = srv.rate_limit_hits
    assert report.sent == subscribers, report.summary()
    store.close()
    library.close()
    return report, elapsed, hits


def store_overhead(messages: int, work: Path) -> float:
    """Seconds per message spent in the store: claim + mark_sent, each its own committed transaction."""
    store = SubscriptionStore(work / "store-only.sqlite3")
    for i in range(messages):
        store.subscribe(i, "08:00", "UTC", [], "ko", now=START)
    started = time.perf_counter()
    for i in range(messages):
        store.claim(i, "2025-02-05")
        store.mark_sent(i, "2025-02-05", [i], START)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.subscribers
    limited_s, limited_hits, free_s, store_s = [], [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
            _, elapsed, hits = one_run(n, True, Path(tmp) / "limited")
            limited_s.append(elapsed)
            limited_hits.append(hits)
            _, elapsed, _ = one_run(n, False, Path(tmp) / "free")
            free_s.append(elapsed)
            store_s.append(store_overhead(n, Path(tmp)))
        print(f"run {run + 1}: limited {limited_s[-1]:.2f} s ({limited_hits[-1]} x 429), "
              f"unlimited {free_s[-1]:.2f} s, store {store_s[-1] * 1000:.2f} ms/msg", flush=True)
    limited, free, store = (statistics.median(x) for x in (limited_s, free_s, store_s))
    print(f"\npush to {n} subscribers (1 message each; 10% with a topic), medians of {args.runs} runs")
    print(f"  with Telegram-like limits (fake: 30 msg/s overall, 1/s per chat), paced at "
          f"{load_settings().push.messages_per_second:g} msg/s + AIORateLimiter: {limited:.1f} s "
          f"= {n / limited:.1f} msg/s; 429 answers: {statistics.median(limited_hits):.0f}")
    print(f"  no limits: {free:.2f} s = {free / n * 1000:.2f} ms per message overhead "
          f"({n / free:.0f} msg/s; no pacing, push_concurrency={load_settings().push.concurrency})")
    print(f"  of which the delivery records (claim + mark_sent): {store * 1000:.2f} ms per message")
    print(f"  floor set by Telegram's 30 msg/s: {n / 30:.1f} s")


if __name__ == "__main__":
    main()
