"""End to end on a hash-embedding library (fast; retrieval quality does not matter here): escaping,
long answers, admin uploads, the allowlist, rate limits, errors, concurrency and ``run``."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import run
from bot.telegram.errors import RedactToken
from config.settings import load_settings
from rag.answer import Answer
from rag.components import Components
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.bot.telegram.harness import ADMIN, bot_settings, html_plain, links, sample_library, start_bot
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_openai

NASTY_ID = "2503.00001"
NASTY_TITLE = "Tokens <b>Bold</b> & Friends: Escaping Matters"


def digest(date: str, arxiv_id: str, title: str, votes: int = 9) -> str:
    return f"""## Daily Papers ({date})

### [{title}](https://arxiv.org/abs/{arxiv_id})

Vote: {votes}

Authors: Alice <Admin>, Bob & Co

- ***What's New***: 이 논문은 <b>태그</b>와 & 기호가 들어간 제목을 다룹니다.
- ***Technical Details***: HTML escaping of titles & summaries, entity handling.
- ***Performance Highlights***: Zero broken messages < 1 per million.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    folder = tmp_path_factory.mktemp("digests")
    (folder / "2025-03-01.md").write_text(digest("2025-03-01", NASTY_ID, NASTY_TITLE), encoding="utf-8")
    library, report = sample_library(tmp_path_factory.mktemp("library"), folder)
    assert report.added == 16 and not report.problems
    yield library
    library.close()


def squash(value: str) -> str:
    return re.sub(r"\s+", "", value)


def test_title_with_tags_and_ampersand_is_escaped(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_command(10, f"/paper {NASTY_ID}")
        srv.push_command(11, "/top 2025-03-01")
        srv.push_text(12, "Tokens Bold Friends Escaping Matters 제목 태그 기호")
        for chat in (10, 11, 12):
            srv.wait_for_messages(chat, 1, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    for chat in (10, 11, 12):
        (msg,) = srv.messages_to(chat)
        raw = str(msg["text"])
        assert msg["parse_mode"] == "HTML" and "Tokens &lt;b&gt;Bold&lt;/b&gt; &amp; Friends" in raw
        assert NASTY_TITLE in msg["plain"] and html_plain(raw) == msg["plain"]
        assert f"https://arxiv.org/abs/{NASTY_ID}" in links(msg)
    paper = srv.messages_to(10)[0]
    assert "Alice <Admin>, Bob & Co" in paper["plain"] and "<b>태그</b>와 &" in paper["plain"]
    assert [e["type"] for e in paper["entities"]].count("bold") == 4  # the title and three section labels


def test_long_llm_answer_is_split_into_valid_parts(srv: FakeBotAPI, library: Components, tmp_path: Path) -> None:
    sentence = "OmniHuman-1은 <DiT> & 오디오·포즈 조건을 함께 씁니다 [1]. "
    long_text = (sentence * 260).strip()
    with running_openai(default_reply=long_text) as oai:
        llm_settings = load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url, llm_api_key="k",
                                     llm_max_retries=0, llm_model="fake-model")
        engine = Papers(library, llm=ChatLLM.from_settings(llm_settings.llm), memory=ConversationMemory(6, 100))

        def scenario() -> None:
            srv.push_text(20, "OmniHuman-1 omni-conditions training 인물 애니메이션은 어떻게 하나요?")
            srv.wait_for_messages(20, 1, timeout=20)
            time.sleep(1.0)  # the remaining parts follow at once

        start_bot(srv, engine, tmp_path, scenario)
        assert oai.chat_requests()
    parts = srv.messages_to(20)
    # Every inline [1] is a link (~50 characters of markup), but Telegram counts what it shows: ~11,700
    # characters of text are three parts, not one per 4096 characters of markup.
    assert 2 * 4096 < len(long_text) < 3 * 4096 - 300 and len(parts) == 3
    for part in parts:
        assert part["parse_mode"] == "HTML"
        assert len(part["plain"]) <= 4096
        assert html_plain(str(part["text"])) == part["plain"]
        assert str(part["text"]).count("\">[1]") == str(part["plain"]).count("[1]")  # every marker linked
    joined = "".join(str(p["plain"]) for p in parts)
    assert squash(joined).startswith(squash(long_text))
    assert squash(joined) == squash(long_text + "출처[1] OmniHuman-1: Rethinking the Scaling-Up of One-Stage "
                                    "Conditioned Human Animation Models — 2025-02-05 · 추천 134")
    assert parts[0]["message"].get("reply_to_message") is None  # private chats get no quote


def test_admin_uploads_a_digest_and_others_are_refused(srv: FakeBotAPI, engine: Papers, tmp_path: Path,
                                                       library: Components) -> None:
    new = digest("2025-03-02", "2503.00002", "Uploaded & Indexed", votes=3).encode()

    def scenario() -> None:
        srv.push_document(901, "f1", "2025-03-02.md", new)  # not an admin
        srv.wait_for_messages(901, 1, timeout=10)
        srv.push_command(901, "/stats")
        srv.wait_for_messages(901, 2, timeout=10)
        srv.push_document(ADMIN, "f2", "notes.pdf", b"%PDF", mime_type="application/pdf")
        srv.wait_for_messages(ADMIN, 1, timeout=10)
        srv.push_document(ADMIN, "f3", "big.md", b"x" * 2_000, mime_type="text/markdown")
        srv.wait_for_messages(ADMIN, 2, timeout=10)
        srv.push_document(ADMIN, "f4", "2025-03-02 digest (v2).md", new)
        srv.wait_for_messages(ADMIN, 3, timeout=30)
        srv.push_command(ADMIN, "/paper 2503.00002")
        srv.wait_for_messages(ADMIN, 4, timeout=10)
        srv.push_command(ADMIN, "/stats")
        srv.wait_for_messages(ADMIN, 5, timeout=10)

    assert library.catalog.get("2503.00002") is None
    start_bot(srv, engine, tmp_path, scenario, max_digest_mb=0.001)  # uploads over 1,000 bytes are refused
    refused, stats_refused = srv.messages_to(901)
    assert refused["plain"] == "Sorry, only admins can do that." == stats_refused["plain"]
    wrong_type, too_big, ingested, paper, stats = srv.messages_to(ADMIN)
    assert wrong_type["plain"] == "Please send digests as .md or .txt files."
    assert too_big["plain"] == "That file is too large (0.0 MB; the limit is 0.001 MB)."
    assert str(ingested["plain"]).startswith("✅ 2025-03-02 digest (v2).md\n1 file(s): 1 added")
    assert str(paper["plain"]).startswith("Uploaded & Indexed")
    assert "papers: 17" in stats["plain"] and "ingests: 1" in stats["plain"]
    assert library.catalog.get("2503.00002") is not None


def test_upload_with_problems_reports_them(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    broken = b"## Daily Papers (2025-03-03)\n\n### [No votes <here>](https://arxiv.org/abs/2503.00003)\n\nAuthors: A\n"

    def scenario() -> None:
        srv.push_document(ADMIN, "g1", "broken.md", broken)
        srv.wait_for_messages(ADMIN, 1, timeout=20)

    start_bot(srv, engine, tmp_path, scenario)
    (msg,) = srv.messages_to(ADMIN)
    assert str(msg["plain"]).startswith("⚠️ broken.md") and "Problems" in msg["plain"]
    assert re.search(r"broken\.md:\d+: error: ", str(msg["plain"])) and "/tmp" not in str(msg["plain"])


def test_allowlist(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_text(701, "OmniHuman-1?")
        srv.push_text(700, "OmniHuman-1?")
        srv.push_text(ADMIN, "OmniHuman-1?")
        srv.push_text(-702, "chatter in a group that is not allowed", chat_type="group")
        srv.push_text(-702, f"@{srv.username} OmniHuman-1?", chat_type="group")
        for chat in (701, 700, ADMIN, -702):
            srv.wait_for_messages(chat, 1, timeout=10)
        srv.wait_until_delivered()
        time.sleep(0.3)

    start_bot(srv, engine, tmp_path, scenario, telegram_allowed_chat_ids=[700])
    refusal = "Sorry, this bot is only available in approved chats."
    assert [m["plain"] for m in srv.messages_to(701)] == [refusal]
    assert [m["plain"] for m in srv.messages_to(-702)] == [refusal]  # the chatter got nothing
    assert "OmniHuman" in srv.messages_to(700)[0]["plain"] and "OmniHuman" in srv.messages_to(ADMIN)[0]["plain"]


def test_question_rate_limit(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        for n in range(3):
            srv.push_text(800, f"OmniHuman-1 question {n}?")
            srv.wait_for_messages(800, n + 1, timeout=10)
        for n in range(3):
            srv.push_text(ADMIN, f"OmniHuman-1 question {n}?")
            srv.wait_for_messages(ADMIN, n + 1, timeout=10)

    start_bot(srv, engine, tmp_path, scenario, telegram_questions_burst=2, telegram_questions_per_minute=1)
    user = [m["plain"] for m in srv.messages_to(800)]
    assert "asking a little fast" not in user[0] + user[1]
    assert re.fullmatch(r"You're asking a little fast\. Please try again in (59|60) s\.", user[2])
    assert not any("asking a little fast" in m["plain"] for m in srv.messages_to(ADMIN))  # admins are exempt


def test_handler_crash_is_logged_redacted_and_the_user_told(srv: FakeBotAPI, engine: Papers, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(question: str, conversation_id: str | None = None, **kwargs: Any) -> Answer:
        raise RuntimeError(f"engine exploded calling https://api.telegram.org/bot{srv.token}/getFile")

    monkeypatch.setattr(engine, "ask", explode)

    def scenario() -> None:
        srv.push_text(30, "OmniHuman-1?")
        srv.wait_for_messages(30, 1, timeout=10)
        srv.push_command(30, "/top 2025-02-05")  # still serving
        srv.wait_for_messages(30, 2, timeout=10)

    with caplog.at_level(logging.INFO):
        start_bot(srv, engine, tmp_path, scenario)
    apology, top = srv.messages_to(30)
    assert apology["plain"] == "Sorry, something went wrong on my side. Please try again in a moment."
    assert "Most-voted" in top["plain"]
    assert "engine exploded" in caplog.text and "RuntimeError" in caplog.text
    assert srv.token not in caplog.text


def test_a_slow_question_does_not_stall_other_chats(srv: FakeBotAPI, engine: Papers, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    original = engine.ask

    def maybe_slow(question: str, conversation_id: str | None = None, **kwargs: Any) -> Answer:
        if "slow" in question:
            assert release.wait(10)
        return original(question, conversation_id, **kwargs)

    monkeypatch.setattr(engine, "ask", maybe_slow)

    def scenario() -> None:
        srv.push_text(40, "slow OmniHuman-1 question")
        time.sleep(0.2)
        srv.push_text(41, "fast OmniHuman-1 question")
        srv.wait_for_messages(41, 1, timeout=10)
        assert srv.messages_to(40) == []  # still thinking, and chat 41 was not held up
        typing = [c.params["chat_id"] for c in srv.calls("sendChatAction")]
        assert 40 in typing
        release.set()
        srv.wait_for_messages(40, 1, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)


def test_edited_messages_are_not_answered_again(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_text(50, "OmniHuman-1?")
        (msg,) = srv.wait_for_messages(50, 1, timeout=10)
        srv.push_update({"edited_message": {**msg["message"], "from": {"id": 50, "is_bot": False,
                                                                        "first_name": "U"},
                                            "text": "edited", "edit_date": 1}})
        srv.wait_until_delivered()
        time.sleep(0.3)

    start_bot(srv, engine, tmp_path, scenario)
    assert len(srv.messages_to(50)) == 1


def test_run_needs_a_token_and_webhooks_need_tornado(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(load_settings(data_dir=tmp_path)) == 2
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
    try:
        import tornado  # noqa: F401
    except ImportError:
        settings = load_settings(data_dir=tmp_path, telegram_token="1:x", telegram_webhook_url="https://h/hook")
        assert run(settings) == 2
        assert "python-telegram-bot[webhooks]" in capsys.readouterr().err


def test_run_polls_until_interrupted(srv: FakeBotAPI, tmp_path: Path, samples_dir: Path) -> None:
    """``papersbot bot`` as the CLI runs it: real run_polling in the main thread, stopped by SIGINT."""
    settings = bot_settings(srv, tmp_path / "data", telegram_admin_ids=[ADMIN])
    failures: list[BaseException] = []

    def user() -> None:
        try:
            srv.push_command(60, "/help")
            (msg,) = srv.wait_for_messages(60, 1, timeout=20)
            assert "/top" in msg["plain"]
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=user)
    thread.start()
    try:
        assert run(settings) == 0
    finally:
        thread.join(5)
        for handler in logging.getLogger().handlers:  # run() adds its token filter to the root handlers
            for redactor in [f for f in handler.filters if isinstance(f, RedactToken)]:
                handler.removeFilter(redactor)
    assert not failures, failures
    assert [c["command"] for c in srv.commands({"type": "chat", "chat_id": ADMIN}) or []][-2:] == ["stats", "sync"]
