"""Streamed answers: time to first visible text and updates per second of the real ``papersbot bot``.

    .venv/bin/python benchmarks/bench_stream.py [--questions 8] [--tokens-per-second 30] [--chats 10] [--json]

The 15 bundled sample papers are ingested into a temporary data dir (as in ``bench_bot.py``), then
``papersbot bot`` runs as a separate process with every default setting except: its LLM is a fake
OpenAI-compatible endpoint in this process (``tests/fakes/openai_server.py``) that streams a fixed
Markdown answer of ~110 tokens one word at a time at ``--tokens-per-second`` (30 by default, a brisk
hosted model), and the per-user question limiter is out of the way.

1. Private chat, ``--questions`` questions one after another: t0 = just before the update is pushed into
   the fake Bot API; *first visible text* = arrival of the first ``sendMessageDraft``; *final* = arrival of
   the final ``sendMessage``; drafts per second over the stream (first draft → last draft). For contrast
   *first token* = the fake LLM's first chunk (what an unstreamed bot could not show before *final*).
2. Group, the same through ``sendMessage`` (plain) + ``editMessageText``: first visible text = the first
   message, edits per second, final = the last edit (HTML).
3. ``--chats`` private chats asking at once: first visible text and final, p50 / p95.
4. Pacing (issue 12, item 6), in this process: the real Application against the fake Bot API with an
   answerer that returns at once (the first answer, cached), so that only Telegram-side pacing is left;
   (after ``ENGINE_S``, a sleep standing for the engine's ~50 ms per question measured by bench_bot.py,
   so that the "typing" action goes out first, as it does for real: it is sent when the handler starts);
   ``--pacing-chats`` chats ask at once, ``--pacing-rounds`` times (after one warm-up round), through PTB's plain
   ``AIORateLimiter`` (typing actions share the 30/s budget) and once through ``BotRateLimiter``
   (typing actions go straight out). Update -> reply p50 / p95 against the floor: 50 messages at
   30/s take 1.67 s (PTB lets the first 30 through at once, so its own floor for the last is 0.67 s).

All times are ``time.time()`` in this process; the fakes note arrivals server-side.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_bot import QUESTIONS, clean_env, ingest, percentile, proc_memory
from tests.bot.processes import BotProcess
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.openai_server import FakeOpenAI, split_tokens

ENGINE_S = 0.05  # pacing: what one question costs the engine (bench_bot.py: 49-84 ms of CPU per question)
# Our own words, Markdown as models write it; ~110 tokens.
ANSWER = (
    "**OmniHuman-1**은 한 장의 인물 사진과 오디오, 포즈 같은 여러 조건을 함께 받아 사람이 말하고 움직이는 영상을 "
    "만드는 *DiT* 기반 모델입니다 [1]. 핵심은 조건의 세기에 따라 학습 데이터를 나누어 쓰는 혼합 조건 학습으로, "
    "약한 조건의 데이터까지 버리지 않고 활용해 규모를 키웁니다 [1].\n\n"
    "- 오디오만 주어져도 입 모양과 몸짓이 자연스럽게 맞춰집니다 [1]\n"
    "- 포즈를 함께 주면 동작을 더 정확히 따라갑니다\n"
    "- 얼굴 클로즈업부터 전신까지 다양한 구도와 비율을 지원합니다 [1]\n\n"
    "비슷한 주제로 가우시안 스플래팅을 이용해 한 장의 이미지에서 3D를 만드는 연구도 있습니다 [2]. "
    "두 연구 모두 적은 입력으로 풍부한 결과를 만든다는 점에서 공통점이 있지만, 목적과 출력 형식은 서로 다릅니다. "
    "더 자세한 비교가 필요하면 각 논문의 실험 절을 함께 보시는 것을 권합니다."
)


class TimedOpenAI(FakeOpenAI):
    """Notes when each streamed chat request started (the first chunk leaves right away)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.started: list[float] = []

    def _chat(self, record: Any) -> Any:
        self.started.append(time.time())
        return super()._chat(record)


def wait_for(check: Any, timeout: float) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError("timed out")


def private_sample(srv: FakeBotAPI, oai: TimedOpenAI, chat_id: int, question: str) -> dict[str, float]:
    drafts_before = len(srv.drafts_to(chat_id))
    messages_before = len(srv.messages_to(chat_id))
    llm_before = len(oai.started)
    t0 = time.time()
    srv.push_text(chat_id, question)
    wait_for(lambda: len(srv.messages_to(chat_id)) > messages_before, 120)
    final = srv.calls("sendMessage", ok=True)
    final_at = max(c.time for c in final if c.params.get("chat_id") == chat_id)
    drafts = [d["time"] for d in srv.drafts_to(chat_id)[drafts_before:]]
    llm_at = [t for t in oai.started[llm_before:] if t >= t0]
    return sample(t0, drafts, final_at, llm_at[0] if llm_at else None)


def group_sample(srv: FakeBotAPI, oai: TimedOpenAI, chat_id: int, question: str) -> dict[str, float]:
    llm_before = len(oai.started)
    calls_before = len(srv.sent)
    t0 = time.time()
    srv.push_command(chat_id, f"/ask {question}", chat_type="supergroup", user_id=77)

    def done() -> bool:
        return any(c.method == "editMessageText" and c.ok and c.params.get("parse_mode") == "HTML"
                   and c.params.get("chat_id") == chat_id for c in srv.sent[calls_before:])

    wait_for(done, 120)
    calls = [c for c in srv.sent[calls_before:] if c.ok and c.params.get("chat_id") == chat_id
             and c.method in ("sendMessage", "editMessageText")]
    shown = [c.time for c in calls if c.params.get("parse_mode") != "HTML"]
    final_at = max(c.time for c in calls if c.params.get("parse_mode") == "HTML")
    llm_at = [t for t in oai.started[llm_before:] if t >= t0]
    return sample(t0, shown, final_at, llm_at[0] if llm_at else None)


def sample(t0: float, shown: list[float], final_at: float, llm_at: float | None) -> dict[str, float]:
    span = shown[-1] - shown[0] if len(shown) > 1 else 0.0
    return {
        "first_visible_s": round((shown[0] if shown else final_at) - t0, 3),
        "llm_request_s": round(llm_at - t0, 3) if llm_at else -1.0,
        "final_s": round(final_at - t0, 3),
        "updates": len(shown),
        "updates_per_s": round((len(shown) - 1) / span, 2) if span > 0 else 0.0,
    }


def stats(samples: list[dict[str, float]], key: str) -> dict[str, float]:
    values = [s[key] for s in samples]
    return {"p50": round(percentile(values, 0.5), 3), "p95": round(percentile(values, 0.95), 3),
            "min": round(min(values), 3), "max": round(max(values), 3), "n": len(values)}


def burst(srv: FakeBotAPI, chats: int, rounds: int) -> list[float]:
    """``chats`` chats ask at once, ``rounds`` times after a warm-up round: each message's update -> reply
    seconds."""
    latencies: list[float] = []
    for r in range(rounds + 1):
        t0 = time.time()
        for c in range(chats):
            srv.push_text(1000 + c, QUESTIONS[0][0])
        for c in range(chats):
            srv.wait_for_messages(1000 + c, r + 1, timeout=60)
        for c in range(chats):
            sent = [x.time for x in srv.calls("sendMessage", ok=True) if x.params.get("chat_id") == 1000 + c]
            if r > 0:
                latencies.append(sent[r] - t0)
        time.sleep(1.0)  # the budget refills between rounds
    return latencies


def _rate(srv: FakeBotAPI, method: str) -> float:
    """Calls of ``method`` per second over the busiest second-long window (how fast the limiter let them go)."""
    times = sorted(c.time for c in srv.calls(method, ok=True))
    best = 0
    for i, start in enumerate(times):
        j = i
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        best = max(best, j - i)
    return float(best)


def pacing(chats: int, rounds: int) -> dict[str, Any]:
    """Update -> reply latency with an instant answerer, per rate limiter (see the module docstring)."""
    from telegram.ext import AIORateLimiter

    from bot.telegram.app import build_application
    from bot.telegram.replies import BotRateLimiter
    from config.settings import load_settings
    from rag.answer import Answer
    from rag.ingest import Indexer, ingest_paths
    from rag.memory import ConversationMemory
    from rag.service import Papers
    from tests.bot.telegram.harness import bot_settings, serve
    from tests.conftest import SAMPLES, open_components
    from tests.helpers import HashEmbedding

    class Instant(Papers):
        """The first answer, computed once, for every question after ENGINE_S of waiting (no CPU)."""

        cached: Answer | None = None

        def ask(self, question: str, conversation_id: str | None = None, **options: Any) -> Answer:
            if self.cached is None:
                self.cached = super().ask(question, conversation_id, **options)
            time.sleep(ENGINE_S)
            return self.cached

    out: dict[str, Any] = {"chats": chats, "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="papersbot-bench-pacing-") as tmp:
        components = open_components(load_settings(data_dir=Path(tmp) / "lib"), embedder=HashEmbedding())
        try:
            ingest_paths(Indexer.from_components(components), [str(SAMPLES)])
            for name, limiter in (("AIORateLimiter", AIORateLimiter(max_retries=3)),
                                  ("BotRateLimiter", BotRateLimiter(max_retries=3))):
                with FakeBotAPI() as srv:
                    papers = Instant(components, llm=None, memory=ConversationMemory(6, 100))
                    settings = bot_settings(srv, Path(tmp), telegram_questions_burst=1_000_000,
                                            telegram_questions_per_minute=1e6)
                    app = build_application(settings, papers, rate_limiter=limiter)
                    latencies = serve(app, functools.partial(burst, srv, chats, rounds))
                    out[name] = {"p50_s": round(percentile(latencies, 0.5), 3),
                                 "p95_s": round(percentile(latencies, 0.95), 3),
                                 "max_s": round(max(latencies), 3), "n": len(latencies),
                                 "sendChatAction": len(srv.calls("sendChatAction")),
                                 "sendMessage_per_s": _rate(srv, "sendMessage")}
        finally:
            components.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                              "tokens_per_second": args.tokens_per_second,
                              "answer_tokens": len(split_tokens(ANSWER))}
    result["stream_s"] = round(len(split_tokens(ANSWER)) / args.tokens_per_second, 2)
    with tempfile.TemporaryDirectory(prefix="papersbot-bench-stream-") as tmp:
        if args.only_pacing:
            result["pacing"] = pacing(args.pacing_chats, args.pacing_rounds)
            result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
            return result
        data_dir = Path(tmp) / "data"
        result["ingest"] = ingest(data_dir)
        with FakeBotAPI() as srv, TimedOpenAI(default_reply=ANSWER, tokens_per_second=args.tokens_per_second) as oai:
            env = clean_env(data_dir)
            env.update({
                "TELEGRAM_BOT_TOKEN": srv.token,
                "PAPERSBOT_TELEGRAM_BASE_URL": srv.base_url,
                "PAPERSBOT_TELEGRAM_QUESTIONS_PER_MINUTE": "1000000",
                "PAPERSBOT_TELEGRAM_QUESTIONS_BURST": "1000000",
                "PAPERSBOT_LLM_ENABLED": "true",
                "PAPERSBOT_LLM_BASE_URL": oai.base_url,
                "PAPERSBOT_LLM_API_KEY": "k",
                "PAPERSBOT_LLM_MODEL": "fake-model",
            })
            if args.workers:
                env["PAPERSBOT_TELEGRAM_WORKERS"] = str(args.workers)
            bot = BotProcess(env, Path(tmp) / "bot.log")
            try:
                wait_for(lambda: srv.calls("getUpdates"), 120)
                private_sample(srv, oai, 1, QUESTIONS[0][0])  # warm-up (model load, first LLM client)
                questions = [QUESTIONS[i % len(QUESTIONS)][0] for i in range(args.questions)]
                private = [private_sample(srv, oai, 7, q) for q in questions]
                group = [group_sample(srv, oai, -100500, q) for q in questions]
                result["private"] = {k: stats(private, k) for k in ("first_visible_s", "llm_request_s", "final_s",
                                                                    "updates", "updates_per_s")}
                result["group"] = {k: stats(group, k) for k in ("first_visible_s", "llm_request_s", "final_s",
                                                                "updates", "updates_per_s")}
                concurrent: list[dict[str, float]] = []
                lock = threading.Lock()

                def one(chat_id: int) -> None:
                    s = private_sample(srv, oai, chat_id, QUESTIONS[chat_id % len(QUESTIONS)][0])
                    with lock:
                        concurrent.append(s)

                threads = [threading.Thread(target=one, args=(2000 + i,)) for i in range(args.chats)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                result["concurrent"] = {"chats": args.chats, **{k: stats(concurrent, k) for k in (
                    "first_visible_s", "final_s", "updates", "updates_per_s")}}
                result["memory"] = proc_memory(bot.pid)
                result["calls"] = {m: len(srv.calls(m, ok=True)) for m in (
                    "sendMessageDraft", "editMessageText", "sendMessage", "sendChatAction")}
                result["calls_refused"] = len([c for c in srv.sent if not c.ok and c.method != "getUpdates"])
            finally:
                result["bot_exit_code"] = bot.stop(signal.SIGINT)[0]
                log = bot.log_path.read_text(encoding="utf-8", errors="replace")
                result["bot_log_problems"] = [line for line in log.splitlines()
                                              if " ERROR " in line or " WARNING " in line or "Traceback" in line][:10]
            result["fake_errors"] = [repr(e) for e in [*srv.errors, *oai.errors]]
    if args.pacing_chats:
        result["pacing"] = pacing(args.pacing_chats, args.pacing_rounds)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    def row(name: str, s: dict[str, float], unit: str = "s") -> str:
        return f"  {name:<34} p50 {s['p50']}{unit}, p95 {s['p95']}{unit}, min {s['min']}, max {s['max']} (n={s['n']})"

    if args.only_pacing:
        return _pacing_report(result)
    lines = [
        "# Produced by: .venv/bin/python benchmarks/bench_stream.py " + " ".join(sys.argv[1:]),
        "papersbot bot streaming benchmark: time to first visible text and updates/s of the real `papersbot bot`",
        f"machine: {result['cpus']} CPUs, load average at start {result['loadavg_start']}, "
        f"at end {result['loadavg_end']}",
        f"LLM: fake OpenAI endpoint streaming {result['answer_tokens']} word tokens at {result['tokens_per_second']} "
        f"tokens/s (~{result['stream_s']} s per answer); bot settings default (stream_draft_interval_s 0.5, "
        f"stream_edit_interval_s 1.0, telegram.workers {args.workers or 4}), question limiter off",
    ]
    for name, title in (("private", "private chat (sendMessageDraft, then one sendMessage)"),
                        ("group", "group (sendMessage plain, editMessageText >= 1 s apart, last edit HTML)")):
        r = result[name]
        lines += ["", f"{title}, {args.questions} questions one after another:",
                  row("update -> first visible text", r["first_visible_s"]),
                  row("update -> LLM request", r["llm_request_s"]),
                  row("update -> final answer", r["final_s"]),
                  row("updates per answer", r["updates"], ""),
                  row("updates per second", r["updates_per_s"], "/s")]
    c = result["concurrent"]
    lines += ["", f"{c['chats']} private chats at once:",
              row("update -> first visible text", c["first_visible_s"]),
              row("update -> final answer", c["final_s"]),
              row("drafts per second (per chat)", c["updates_per_s"], "/s"),
              "", f"calls accepted: {result['calls']}; refused: {result['calls_refused']}",
              f"bot memory at end: {result['memory']}",
              f"bot exit code after SIGINT: {result['bot_exit_code']}; fake server errors: "
              f"{result['fake_errors'] or 'none'}",
              f"bot log warnings/errors: {result['bot_log_problems'] or 'none'}"]
    return "\n".join(lines) + _pacing_report(result, machine=False)


def _pacing_report(result: dict[str, Any], *, machine: bool = True) -> str:
    lines = [f"machine: {result['cpus']} CPUs, load average at start {result['loadavg_start']}, "
             f"at end {result['loadavg_end']}"] if machine else [""]
    if "pacing" in result:
        p = result["pacing"]
        floor = p["chats"] / 30
        lines += ["", f"pacing: {p['chats']} chats at once, {p['rounds']} rounds, instant answerer (in process): "
                  f"update -> reply; Telegram's floor for {p['chats']} messages at 30/s = {floor:.2f} s, "
                  f"target p95 <= {floor + 0.3:.2f} s"]
        for name in ("AIORateLimiter", "BotRateLimiter"):
            r = p[name]
            lines.append(f"  {name:<16} p50 {r['p50_s']} s, p95 {r['p95_s']} s, max {r['max_s']} s (n={r['n']}, "
                         f"{r['sendChatAction']} typing actions, busiest second "
                         f"{r['sendMessage_per_s']:.0f} sendMessage)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--tokens-per-second", type=float, default=30.0)
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="telegram.workers of the bot (0: its default, 4)")
    parser.add_argument("--pacing-chats", type=int, default=50, help="0 skips the pacing comparison")
    parser.add_argument("--pacing-rounds", type=int, default=5)
    parser.add_argument("--only-pacing", action="store_true", help="just the pacing comparison (section 4)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else report(result, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
