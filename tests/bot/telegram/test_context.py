"""Replies keep context: the ordinal resolver (a pure function, Korean and English), and replies to a push,
a /top list and an answer answered about exactly the papers they name, end to end."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import build_application
from bot.telegram.context import resolve_references
from config.settings import load_settings
from rag.components import Components
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore
from tests.bot.telegram.harness import bot_settings, links, serve
from tests.bot.telegram.sample_world import DAA, FASTKV, MMIQ, OMNI, PRIME, PUSH_DAY, Clock, url
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_openai

FIVE = [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("question", "positions"), [
    ("두 번째 논문 자세히", [1]),
    ("두번째 거 설명해줘", [1]),
    ("둘째 논문은 어떤 데이터셋을 썼어?", [1]),
    ("2번 논문은?", [1]),
    ("2번째 논문 요약", [1]),
    ("1번과 3번 비교해줘", [0, 2]),
    ("1, 3번 비교", [0, 2]),
    ("첫번째랑 세번째 비교", [0, 2]),
    ("1~3번 정리해줘", [0, 1, 2]),
    ("마지막 논문은?", [4]),
    ("[3]은 뭐야?", [2]),
])
def test_korean_references(question: str, positions: list[int]) -> None:
    assert resolve_references(question, FIVE) == positions


@pytest.mark.parametrize(("question", "positions"), [
    ("tell me more about the second paper", [1]),
    ("the second one in detail", [1]),
    ("what dataset did #2 use?", [1]),
    ("compare 1 and 3", [0, 2]),
    ("compare the first and the third", [0, 2]),
    ("second and fourth please", [1, 3]),
    ("papers 2 to 4", [1, 2, 3]),
    ("what about the 3rd?", [2]),
    ("No. 5?", [4]),
    ("the last one", [4]),
])
def test_english_references(question: str, positions: list[int]) -> None:
    assert resolve_references(question, FIVE) == positions


@pytest.mark.parametrize("question", [
    "what dataset did it use?", "이 논문들 중 코드 공개된 건?", "3D 생성 논문", "100표 이상인 논문",
    "2024년 논문", "GPT-4 vs 3", "papers from last week", "the last week of January", "마지막 주 논문",
    "second", "what about 7?", "a 2 minute summary", "the 2 best", "v2 or v3?",
])
def test_no_reference_means_every_paper_of_the_message(question: str) -> None:
    assert resolve_references(question, FIVE) == []


def test_shown_numbers_and_places() -> None:
    # A push numbers papers by digest rank: top 1-5, then topic matches shown as 8 and 12.
    shown = [1, 2, 3, 4, 5, 8, 12]
    assert resolve_references("#8", shown) == [5]  # the paper showing 8
    assert resolve_references("12번", shown) == [6]
    assert resolve_references("the sixth", shown) == [5]  # the sixth listed
    assert resolve_references("compare 2 and 9", shown) == [1]  # nothing shows 9, and there is no 9th
    assert resolve_references("1번이랑 1번", shown) == [0]  # no repeats


def ask(srv: FakeBotAPI, chat_id: int, text: str, replying_to: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send ``text`` (a reply to ``replying_to``) and wait for the whole reply, however many parts it has:
    its parts' texts joined, with the first part's message id (what a user replies to)."""
    before = len(srv.messages_to(chat_id))
    if text.startswith("/"):
        srv.push_command(chat_id, text)
    else:
        srv.push_text(chat_id, text, reply_to_message_id=replying_to["message_id"] if replying_to else None)
    srv.wait_for_messages(chat_id, before + 1, timeout=30)
    count, stable_since = before + 1, time.monotonic()
    while time.monotonic() - stable_since < 0.7:  # no further part for 0.7 s: the reply is complete
        time.sleep(0.1)
        if len(srv.messages_to(chat_id)) != count:
            count, stable_since = len(srv.messages_to(chat_id)), time.monotonic()
    parts = srv.messages_to(chat_id)[before:]
    return {"message_id": parts[-1]["message_id"], "text": "".join(str(p["text"]) for p in parts),
            "plain": "\n".join(str(p["plain"]) for p in parts)}


def cited(message: dict[str, Any]) -> list[str]:
    """The distinct arXiv links of an answer, in order."""
    return list(dict.fromkeys(links(message)))


def test_replies_to_a_push_a_list_and_an_answer(srv: FakeBotAPI, world: tuple[Papers, Components],
                                                tmp_path: Path) -> None:
    papers, _ = world
    store = SubscriptionStore(tmp_path / "subscriptions.sqlite3")
    store.subscribe(61, "08:00", "Asia/Seoul", [], "ko", now=PUSH_DAY - timedelta(days=1))

    def scenario() -> None:
        (push,) = srv.wait_for_messages(61, 1, timeout=30)
        assert cited(push)[:5] == [url(OMNI), url(DAA), url(PRIME), url(MMIQ), url(FASTKV)]
        ko = ask(srv, 61, "두 번째 논문 자세히", push)
        assert cited(ko) == [url(DAA)] and "출처" in ko["plain"]  # about that paper only, in Korean
        en = ask(srv, 61, "Tell me more about the second paper", push)
        assert cited(en) == [url(DAA)] and "Sources" in en["plain"]
        # The same words without a reply are an ordinary question (the digests know no "second paper").
        assert cited(ask(srv, 61, "Tell me more about the second paper")) != [url(DAA)]

        top = ask(srv, 61, "/top 2025-02-05")
        assert cited(ask(srv, 61, "compare 1 and 3", top)) == [url(OMNI), url(PRIME)]
        fifth = ask(srv, 61, "5번 논문은 무엇을 압축해?", top)
        assert cited(fifth) == [url(FASTKV)] and "출처" in fifth["plain"]
        # A reply to an answer is about the papers it cited.
        follow = ask(srv, 61, "what does it compress?", fifth)
        assert cited(follow) == [url(FASTKV)] and "Sources" in follow["plain"]

    app = build_application(bot_settings(srv, tmp_path / "bot", telegram_questions_burst=20), papers, store=store,
                            clock=Clock(PUSH_DAY + timedelta(hours=1)))
    serve(app, scenario)
    store.close()


def test_the_model_sees_only_the_named_papers(srv: FakeBotAPI, world: tuple[Papers, Components],
                                              tmp_path: Path) -> None:
    _, components = world
    with running_openai(default_reply="It compares alignment objectives [1].") as oai:
        llm_settings = load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url, llm_api_key="k",
                                     llm_max_retries=0, llm_model="fake-model")
        papers = Papers(components, llm=ChatLLM.from_settings(llm_settings.llm), memory=ConversationMemory(6, 100))

        def scenario() -> None:
            srv.push_command(62, "/top 2025-02-05")
            (top,) = srv.wait_for_messages(62, 1, timeout=20)
            srv.push_text(62, "what does the second one compare?", reply_to_message_id=top["message_id"])
            answer = srv.wait_for_messages(62, 2, timeout=30)[-1]
            assert cited(answer) == [url(DAA)]

        serve(build_application(bot_settings(srv, tmp_path / "bot"), papers), scenario)
        prompt = oai.last_messages()[-1]["content"]
    assert "[1] The Differences Between Direct Alignment Algorithms are a Blur" in prompt
    assert "[2]" not in prompt and "OmniHuman" not in prompt and "FastKV" not in prompt
