"""Streamed answers end to end (issue 12, item 1): the real Application against the fake Bot API and a fake
OpenAI endpoint that streams tokens at a set rate. Private chats: drafts, then one final HTML message;
groups: one message edited at least a second apart (a 429 in the middle honoured), the last edit the final
HTML. Drafts and intermediate edits are plain text without a single link."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

from bot.telegram.app import build_application
from bot.telegram.streaming import preview
from config.settings import load_settings
from rag.components import Components
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.bot.telegram.harness import bot_settings, html_plain, links, serve
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_openai

QUESTION = "OmniHuman-1 omni-conditions training 인물 애니메이션은 어떻게 하나요?"
# What the model writes: Markdown, a link of its own (never shown), markers valid and not ([7]).
REPLY = ("**OmniHuman-1**은 오디오·포즈·텍스트를 함께 조건으로 쓰는 *DiT* 기반 모델입니다 [1]. "
         "자세한 내용은 https://evil.example/login 과 [데모](https://evil.example/demo)를 보세요 [7].\n\n"
         "- 혼합 조건 학습으로 데이터를 넓게 씁니다 [1]\n- 약한 조건부터 학습합니다\n\n"
         "결과적으로 한 장의 사진으로 자연스러운 영상을 만듭니다 [1].")
ARXIV = re.compile(r"^https://arxiv\.org/abs/\d{4}\.\d{4,5}$")


def run_streaming(srv: FakeBotAPI, components: Components, tmp_path: Path, scenario: Any,
                  tokens_per_second: float, **settings: Any) -> Any:
    with running_openai(default_reply=REPLY, tokens_per_second=tokens_per_second) as oai:
        llm = ChatLLM.from_settings(load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url,
                                                  llm_api_key="k", llm_max_retries=0, llm_model="fake-model").llm)
        papers = Papers(components, llm=llm, memory=ConversationMemory(6, 100))
        app = build_application(bot_settings(srv, tmp_path, **settings), papers)
        result = serve(app, scenario)
        assert oai.chat_requests() and oai.chat_requests()[-1].json.get("stream") is True
        return result


def assert_final(message: dict[str, Any]) -> None:
    """Valid HTML, the Markdown formatted, every link one of our arXiv links, the model's link gone."""
    assert message["parse_mode"] == "HTML"
    assert html_plain(str(message["text"])) == message["plain"]
    assert "evil" not in str(message["text"]) and "**" not in message["plain"]
    hrefs = links(message)
    assert hrefs and all(ARXIV.match(h) for h in hrefs)
    assert "bold" in [e["type"] for e in message["entities"]]  # **OmniHuman-1**
    assert "[7]" not in message["plain"]  # a marker naming no source is dropped on the final text


def assert_plain_without_links(text: str) -> None:
    assert "http" not in text and "evil" not in text and "<a" not in text and "**" not in text


def test_a_private_answer_grows_in_drafts_then_arrives_as_one_message(
        srv: FakeBotAPI, components: Components, tmp_path: Path) -> None:
    def scenario() -> None:
        srv.push_text(41, QUESTION)
        srv.wait_for_messages(41, 1, timeout=30)
        time.sleep(0.3)  # nothing else may follow

    run_streaming(srv, components, tmp_path, scenario, tokens_per_second=40,
                  telegram_stream_draft_interval_s=0.2)
    drafts = srv.drafts_to(41)
    messages = srv.messages_to(41)
    assert len(drafts) >= 2, drafts
    assert len(messages) == 1 and not messages[0]["edited"]
    assert len({d["draft_id"] for d in drafts}) == 1
    for draft in drafts:
        assert draft["parse_mode"] is None and not draft["entities"]
        assert_plain_without_links(str(draft["text"]))
    sizes = [len(str(d["text"])) for d in drafts]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # the answer grows
    times = [d["time"] for d in drafts]
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(times))  # stream_draft_interval_s
    sent = srv.calls("sendMessage", ok=True)[-1].time
    assert sent >= times[-1]
    assert_final(messages[0])
    assert not srv.calls("editMessageText")


def test_a_group_answer_grows_by_edits_through_a_429(srv: FakeBotAPI, components: Components,
                                                      tmp_path: Path) -> None:
    group = -100777

    def scenario() -> int:
        srv.fail_next("editMessageText", 429, retry_after=1, chat_id=group)  # the first edit is refused
        question_id = srv.push_command(group, f"/ask {QUESTION}", chat_type="supergroup", user_id=42)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = [m for m in srv.messages_to(group) if m["parse_mode"] == "HTML"]
            if done:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        return question_id

    question_id = run_streaming(srv, components, tmp_path, scenario, tokens_per_second=25)
    messages = srv.messages_to(group)
    assert len(messages) == 1, [m["plain"] for m in messages]
    final = messages[0]
    assert final["message"]["reply_to_message"]["message_id"] == question_id
    assert_final(final)
    assert final["history"], "the answer grew through edits"
    for earlier in final["history"]:  # what the group saw before the final edit: plain text, no link
        assert_plain_without_links(earlier)
    edits = [c for c in srv.calls("editMessageText") if c.params.get("chat_id") == group]
    refused = [c for c in edits if c.status == 429]
    assert len(refused) == 1
    after = [c for c in edits if c.time > refused[0].time]
    assert after and after[0].time - refused[0].time >= 1.0  # retry_after honoured
    accepted = [c.time for c in srv.calls("sendMessage", ok=True) if c.params.get("chat_id") == group]
    accepted += [c.time for c in edits if c.ok]
    accepted.sort()
    assert len(accepted) >= 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(accepted))  # >= 1 s apart per chat
    assert edits[-1].ok and edits[-1].params.get("parse_mode") == "HTML"  # the last edit is the final HTML
    assert not srv.drafts_to(group)


def test_extractive_answers_do_not_stream(srv: FakeBotAPI, components: Components, tmp_path: Path) -> None:
    papers = Papers(components, llm=None, memory=ConversationMemory(6, 100))

    def scenario() -> None:
        srv.push_text(43, QUESTION)
        srv.wait_for_messages(43, 1, timeout=30)
        time.sleep(0.3)

    serve(build_application(bot_settings(srv, tmp_path), papers), scenario)
    assert not srv.drafts_to(43) and not srv.calls("editMessageText") and len(srv.messages_to(43)) == 1


def test_preview_is_plain_text_without_links_and_fits_a_message() -> None:
    assert preview("**굵게** 그리고 [링크](https://evil.example) www.evil.example [1]") == "굵게 그리고 링크 [1]"
    long = preview("가 " * 5000)
    assert len(long) == 4096 and long.endswith("…")


def test_a_group_answer_whose_streamed_message_is_gone_is_sent_anew(srv: FakeBotAPI, components: Components,
                                                                     tmp_path: Path) -> None:
    group = -100778

    def scenario() -> int:
        srv.fail_next("editMessageText", 400, description="Bad Request: message to edit not found", times=None,
                      chat_id=group)  # someone deleted the growing message
        question_id = srv.push_command(group, f"/ask {QUESTION}", chat_type="supergroup", user_id=42)
        wait = time.monotonic() + 30
        while time.monotonic() < wait and not any(m["parse_mode"] == "HTML" for m in srv.messages_to(group)):
            time.sleep(0.05)
        time.sleep(0.3)
        return question_id

    question_id = run_streaming(srv, components, tmp_path, scenario, tokens_per_second=40)
    streamed, final = srv.messages_to(group)
    assert streamed["parse_mode"] is None and final["parse_mode"] == "HTML"
    assert final["message"]["reply_to_message"]["message_id"] == question_id
    assert_final(final)


def test_two_answers_growing_in_one_group_share_its_pace(srv: FakeBotAPI, components: Components,
                                                          tmp_path: Path) -> None:
    group = -100779

    def scenario() -> None:
        srv.push_command(group, f"/ask {QUESTION}", chat_type="supergroup", user_id=51)
        srv.push_command(group, "/ask OmniHuman-1 오디오 조건은 어떻게 쓰나요?", chat_type="supergroup", user_id=52)
        wait = time.monotonic() + 60
        while time.monotonic() < wait and sum(m["parse_mode"] == "HTML" for m in srv.messages_to(group)) < 2:
            time.sleep(0.05)
        time.sleep(0.3)

    run_streaming(srv, components, tmp_path, scenario, tokens_per_second=12)  # ~3.5 s per answer
    finals = srv.messages_to(group)
    assert len(finals) == 2 and all(m["parse_mode"] == "HTML" for m in finals)
    assert any(m["history"] for m in finals)  # (the second may find the chat's pace taken until it is done)
    shown = sorted(c.time for c in srv.sent if c.ok and c.params.get("chat_id") == group
                   and c.method in ("sendMessage", "editMessageText"))
    assert len(shown) >= 5
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(shown))  # one pace per chat, not per answer
