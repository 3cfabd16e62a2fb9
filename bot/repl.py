"""``papersbot repl``: the prompt-tuning workbench.

Each turn prints the retrieved papers (scores, which retriever found them), the exact prompt sent, the
answer, the validated citations and timings. Slash commands change top-k, swap the system prompt file,
switch the LLM, show history and reset memory. Line editing and history come from ``readline``.

Timings are the LlamaIndex spans of each step (``rag.instrumentation``): per question under the answer,
and for the session with ``/timings``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import TextIO

from config.settings import Settings
from rag.answer import Answer
from rag.service import Papers

HELP = """commands:
  /k N            papers handed to the answerer (now {k})
  /prompt FILE    use FILE as the system prompt (/prompt default: back to config/prompts)
  /llm on|off     switch the LLM (configured: {configured})
  /showprompt on|off  print the messages sent to the LLM (now {show})
  /history        this session's questions
  /reset          forget the conversation (follow-ups start fresh)
  /json           print the last answer as JSON
  /timings        each step's count, mean and max over this session
  /help           this text
  /quit           leave (Ctrl-D works too)"""

CONVERSATION = "repl"


class Workbench:
    def __init__(self, papers: Papers, out: TextIO, *, use_llm: bool) -> None:
        self.papers = papers
        self.engine = papers.engine  # the workbench tunes the answer engine's prompt and LLM switch
        self.out = out
        self.use_llm = use_llm and self.engine.llm is not None
        self.top_k = papers.settings.retrieval.top_k
        self.show_prompt = True
        self.history: list[str] = []
        self.last: Answer | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def handle(self, line: str) -> bool:
        """Run one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self.command(line)
        self.history.append(line)
        streamed: list[str] = []

        def on_token(token: str) -> None:
            if not streamed:
                self.say("── streaming ──")
            streamed.append(token)
            print(token, end="", file=self.out, flush=True)

        answer = self.papers.ask(line, CONVERSATION, use_llm=self.use_llm, top_k=self.top_k,
                                 on_token=on_token if self.use_llm else None)
        if streamed:
            self.say()
        self.last = answer
        self.show(answer)
        return True

    def show(self, answer: Answer) -> None:
        self.say(f"── retrieved ({answer.mode}; covered={answer.covered}) ──")
        for n, source in enumerate(answer.sources, start=1):
            s = source.to_json()
            scores = (f"rrf={s['score']} dense={s['dense']} bm25={s['lexical']}" if s["score"] is not None
                      else "metadata")
            self.say(f" {n}. {s['arxiv_id']}  {scores}  via {'+'.join(s['found_by'])}  {s['title'][:70]}")
        if self.show_prompt:
            if answer.messages:
                self.say("── prompt sent ──")
                for message in answer.messages:
                    self.say(f"[{message['role']}]\n{message['content']}")
            else:
                self.say(f"── prompt: not sent ({answer.llm['reason']}) ──")
        self.say("── answer ──")
        self.say(answer.text)
        self.say("── citations ──")
        for c in answer.citations:
            self.say(f" [{c.n}] {c.arxiv_id} {c.url}  {c.title[:60]} ({c.date}, {c.votes} votes)")
        if not answer.citations:
            self.say(" (none)")
        llm = answer.llm
        self.say(f"── llm: used={llm['used']} model={llm['model']} reason={llm['reason']} ──")
        self.say("── timings ms: " + ", ".join(f"{k}={v}" for k, v in answer.timings_ms.items()) + " ──")

    def show_timings(self) -> None:
        steps = self.engine.instrumentation.metrics.steps()
        if not steps:
            self.say(" (no questions yet)")
        for step, stats in steps.items():
            mean = stats.total_s / stats.count * 1000
            self.say(f" {step:<12} {stats.count:>4}×  mean {mean:8.1f} ms  max {stats.max_s * 1000:8.1f} ms")

    def command(self, line: str) -> bool:
        try:
            parts = shlex.split(line)
        except ValueError as exc:
            self.say(f"! {exc}")
            return True
        name, args = parts[0].lower(), parts[1:]
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.say(HELP.format(k=self.top_k, configured=self.engine.llm is not None, show=self.show_prompt))
        elif name == "/k" and len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= 20:
            self.top_k = int(args[0])
            self.say(f"top-k = {self.top_k}")
        elif name == "/prompt" and len(args) == 1:
            if args[0] == "default":
                self.engine.system_prompt_path = None
                self.say("system prompt: config/prompts/answer_system.txt")
            elif Path(args[0]).expanduser().is_file():
                self.engine.system_prompt_path = Path(args[0]).expanduser()
                self.say(f"system prompt: {self.engine.system_prompt_path}")
            else:
                self.say(f"! no such file: {args[0]}")
        elif name == "/llm" and args in (["on"], ["off"]):
            if args == ["on"] and self.engine.llm is None:
                self.say("! no LLM configured (set OPENAI_BASE_URL / OPENAI_API_KEY or PAPERSBOT_LLM_*)")
            else:
                self.use_llm = args == ["on"]
                self.say(f"LLM {'on' if self.use_llm else 'off'}")
        elif name == "/showprompt" and args in (["on"], ["off"]):
            self.show_prompt = args == ["on"]
        elif name == "/history":
            for n, question in enumerate(self.history, start=1):
                self.say(f" {n}. {question}")
        elif name == "/reset":
            self.papers.reset(CONVERSATION)
            self.say("conversation memory cleared")
        elif name == "/timings":
            self.show_timings()
        elif name == "/json" and self.last is not None:
            self.say(json.dumps(self.last.to_json(), ensure_ascii=False, indent=2))
        else:
            self.say(f"! unknown command or bad arguments: {line}  (/help)")
        return True


def run(settings: Settings, *, use_llm: bool = True) -> int:
    # A long-lived reader: between questions it reopens embedded Chroma when another process (the bot, an
    # ingest) has committed since (rag.components); it never writes.
    service = Papers.open(settings, reopen_readers=True)
    papers = service.stats()["papers"]
    bench = Workbench(service, sys.stdout, use_llm=use_llm)
    history_file = settings.storage.data_dir / "repl_history"
    try:
        import readline

        readline.set_history_length(1000)
        if history_file.exists():
            readline.read_history_file(history_file)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    bench.say(f"papersbot repl — {papers} papers, LLM {'on' if bench.use_llm else 'off'}. /help for commands.")
    try:
        while True:
            try:
                line = input("papersbot> ")
            except EOFError:
                bench.say()
                break
            except KeyboardInterrupt:  # Ctrl-C: leave cleanly, like Ctrl-D
                bench.say()
                break
            try:
                if not bench.handle(line):
                    break
            except KeyboardInterrupt:
                bench.say("\n(interrupted)")
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file)
    return 0
