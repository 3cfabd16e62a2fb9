"""The bot's side of ``papersbot ask`` hand-offs (``HandoffServer.ask``), over a real Unix socket in this
process: the answer an in-process ask gives, the LLM when configured unless told not to, conversation memory
only when the caller names one, bad requests refused. The CLI side, with real processes:
tests/bot/test_ask_handoff.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.telegram.blocking import BlockingRunner
from bot.telegram.handoff import HandoffServer
from config.settings import load_settings
from rag.components import Components
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from rag.owner import hand_off
from rag.service import Papers
from tests.conftest import open_components
from tests.fakes.fixtures import running_openai
from tests.helpers import HashEmbedding

QUESTION = "OmniHuman 오디오 조건 휴먼 비디오 생성"


def handed(papers: Papers, *requests: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Serve hand-offs for ``papers`` and send it ``requests`` one after another, as the CLI does."""

    async def scenario() -> list[dict[str, Any] | None]:
        server = HandoffServer(papers, BlockingRunner(2))
        await server.start()
        try:
            return [await asyncio.to_thread(hand_off, papers.settings.storage.data_dir, request, timeout_s=60)
                    for request in requests]
        finally:
            await server.stop()

    return asyncio.run(scenario())


def without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "timings_ms"}


def test_a_handed_question_gets_the_in_process_answer_and_no_memory_unless_named(components: Components) -> None:
    papers = Papers(components, llm=None, memory=ConversationMemory(6, 100))
    local = papers.ask(QUESTION)
    plain, named = handed(papers, {"op": "ask", "question": QUESTION},
                          {"op": "ask", "question": QUESTION, "conversation_id": "t1", "top_k": 2})
    assert plain is not None and plain["ok"] and not plain["empty"]
    assert without_timings(plain["answer"]) == without_timings(local.to_json())
    assert plain["text"] == local.render_text() and local.citations
    assert named is not None and named["ok"]
    # Memory only under the CLI's own name, never mixed with a Telegram chat's id.
    assert papers.engine.memory.turns(None) == [] and papers.engine.memory.turns("t1") == []
    assert len(papers.engine.memory.turns("cli:t1")) == 1


def test_a_handed_question_uses_the_bots_llm_unless_the_cli_says_no_llm(
        components: Components, tmp_path: Path) -> None:
    with running_openai(default_reply="OmniHuman은 오디오로 사람 영상을 만듭니다 [1].") as oai:
        llm = ChatLLM.from_settings(load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url,
                                                  llm_api_key="k", llm_max_retries=0, llm_model="fake-model").llm)
        papers = Papers(components, llm=llm, memory=ConversationMemory(6, 100))
        with_llm, = handed(papers, {"op": "ask", "question": QUESTION})
        asked = len(oai.chat_requests())
        without, = handed(papers, {"op": "ask", "question": QUESTION, "use_llm": False})
        assert len(oai.chat_requests()) == asked >= 1
    assert with_llm is not None and with_llm["answer"]["llm"]["used"] is True
    assert "OmniHuman은 오디오로" in with_llm["text"]
    assert without is not None and without["answer"]["llm"]["used"] is False


def test_an_empty_index_and_bad_requests_are_answered_as_such(settings: Any) -> None:
    empty = open_components(settings, embedder=HashEmbedding())
    try:
        papers = Papers(empty, llm=None, memory=ConversationMemory(6, 100))
        replies = handed(papers, {"op": "ask", "question": QUESTION}, {"op": "ask", "question": " "},
                         {"op": "ask", "question": QUESTION, "use_llm": True},
                         {"op": "ask", "question": QUESTION, "top_k": 0}, {"op": "ask"})
    finally:
        empty.close()
    assert replies[0] == {"ok": True, "empty": True}
    for reply in replies[1:]:
        assert reply is not None and reply["ok"] is False and reply["error"], reply
