"""The REPL in a real pseudo-terminal (pexpect): line input, commands, clean exit on Ctrl-D and Ctrl-C."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

from rag.components import Components

PAPERSBOT = str(Path(sys.executable).parent / "papersbot")
PROMPT = "papersbot> "


def spawn(data_dir: Path) -> pexpect.spawn:
    env = {**os.environ, "PAPERSBOT_DATA_DIR": str(data_dir), "TERM": "dumb"}
    child = pexpect.spawn(PAPERSBOT, ["repl"], env=env, encoding="utf-8", timeout=120, dimensions=(50, 200))
    child.expect("15 papers, LLM off")
    child.expect_exact(PROMPT)
    return child


def test_a_turn_shows_retrieval_prompt_answer_citations_timings(sample_library: Components, tmp_path: Path) -> None:
    child = spawn(sample_library.settings.storage.data_dir)
    child.sendline("What is OmniHuman-1?")
    child.expect_exact("── retrieved (search; covered=True) ──")
    child.expect(r"1\. 2502\.01061  rrf=\S+ dense=\S+ bm25=\S+  via dense\+lexical")
    child.expect_exact("── prompt: not sent (no LLM configured) ──")
    child.expect_exact("── answer ──")
    child.expect_exact("── citations ──")
    child.expect_exact("[1] 2502.01061 https://arxiv.org/abs/2502.01061")
    child.expect(r"── timings ms: route=\S+")
    child.expect_exact(PROMPT)
    child.sendline("/timings")  # the session's steps, from the engine's instrumentation record
    child.expect(r"embed_query\s+1×  mean\s+\S+ ms  max")
    child.expect(r"total\s+1×")
    child.expect_exact(PROMPT)

    child.sendline("/k 2")
    child.expect_exact("top-k = 2")
    child.sendline("/llm on")
    child.expect_exact("! no LLM configured")
    prompt_file = tmp_path / "system.txt"
    prompt_file.write_text("Answer in {language}.", encoding="utf-8")
    child.sendline(f"/prompt {prompt_file}")
    child.expect_exact(f"system prompt: {prompt_file}")
    child.sendline("/history")
    child.expect_exact("1. What is OmniHuman-1?")
    child.sendline("/reset")
    child.expect_exact("conversation memory cleared")
    child.sendline("/bogus")
    child.expect_exact("! unknown command")
    child.sendeof()  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_at_the_prompt_exits_cleanly(sample_library: Components) -> None:
    child = spawn(sample_library.settings.storage.data_dir)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")
