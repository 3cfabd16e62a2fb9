"""Inline mode end to end: ``@bot words`` answered with up to 10 paper cards (answerInlineQuery), in the
user's language; an empty query lists the newest digest's top papers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.telegram.app import ALLOWED_UPDATES, build_application
from rag.components import Components
from rag.service import Papers
from tests.bot.telegram.harness import bot_settings, serve
from tests.bot.telegram.sample_world import GAUSSIAN, NEWEST, OMNI, url
from tests.fakes.bot_api import FakeBotAPI


def card_links(srv: FakeBotAPI, result: dict[str, Any]) -> list[str]:
    plain, entities = srv.inline_card(result)
    return [plain[e["offset"]:e["offset"] + e["length"]] for e in entities if e["type"] in ("url", "text_link")] + \
        [e["url"] for e in entities if e["type"] == "text_link"]


def test_inline_queries_in_english_and_korean(srv: FakeBotAPI, world: tuple[Papers, Components],
                                              tmp_path: Path) -> None:
    papers, _ = world
    srv.set_language(302, "ko")

    def scenario() -> dict[str, dict[str, Any]]:
        asked = {"en": srv.push_inline_query(301, "OmniHuman human animation"),
                 "ko": srv.push_inline_query(302, "가우시안 스플래팅으로 이미지에서 3D 생성"),
                 "empty": srv.push_inline_query(301, ""),
                 "nothing": srv.push_inline_query(301, "   ")}
        return {name: srv.wait_for_inline_answer(query_id) for name, query_id in asked.items()}

    answers = serve(build_application(bot_settings(srv, tmp_path / "bot"), papers), scenario)
    assert "inline_query" in ALLOWED_UPDATES

    en = answers["en"]["results"]
    assert 1 <= len(en) <= 10 and en[0]["id"] == OMNI and en[0]["type"] == "article"
    assert en[0]["title"].startswith("OmniHuman-1: Rethinking the Scaling-Up")
    assert en[0]["description"].startswith("2025-02-05 · 134 votes · ")
    plain, _ = srv.inline_card(en[0])
    lines = [line for line in plain.splitlines() if line]
    assert lines[0] == en[0]["title"] and lines[1] == "2025-02-05 · 134 votes · arXiv 2502.01061"
    assert len(lines) == 4 and lines[-1] == url(OMNI) and url(OMNI) in card_links(srv, en[0])
    assert answers["en"]["is_personal"] is True

    ko = answers["ko"]["results"]
    assert ko[0]["id"] == GAUSSIAN and "추천 2" in ko[0]["description"]
    ko_plain, _ = srv.inline_card(ko[0])
    assert "추천 2" in ko_plain and ko_plain.splitlines()[-1] == url(GAUSSIAN)
    assert len({r["id"] for r in ko}) == len(ko) <= 10

    for name in ("empty", "nothing"):  # the newest digest's top papers, most voted first
        assert [r["id"] for r in answers[name]["results"]] == NEWEST
