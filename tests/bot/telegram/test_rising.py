"""``/rising [days]`` over a recorded vote history, end to end (Korean and English), with its buttons and
replies to the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import build_application
from bot.telegram.rising import parse_days
from rag.components import Components
from rag.service import Papers
from tests.bot.telegram.harness import bot_settings, links, serve
from tests.bot.telegram.sample_world import DAA, FASTKV, OMNI, Clock, sample_papers, url
from tests.fakes.bot_api import FakeBotAPI

NOW = datetime(2025, 2, 12, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Papers, Components]]:
    for papers, components in sample_papers(tmp_path_factory.mktemp("library")):
        catalog = components.catalog
        catalog.record_votes({DAA: 90, OMNI: 100}, NOW - timedelta(days=10))
        catalog.record_votes({OMNI: 130}, NOW - timedelta(days=3))
        catalog.record_votes({FASTKV: 5}, NOW - timedelta(days=2))
        catalog.record_votes({DAA: 150}, NOW - timedelta(days=1))
        catalog.record_votes({FASTKV: 25}, NOW - timedelta(hours=1))
        yield papers, components


def test_parse_days() -> None:
    assert parse_days([]) == 7 and parse_days(["3"]) == 3 and parse_days(["3d"]) == 3 and parse_days(["30일"]) == 30
    assert parse_days(["0"]) is None and parse_days(["91"]) is None and parse_days(["abc"]) is None
    assert parse_days(["1", "2"]) is None


def test_rising_over_a_recorded_vote_history(srv: FakeBotAPI, world: tuple[Papers, Components],
                                             tmp_path: Path) -> None:
    papers, _ = world
    srv.set_language(42, "ko")

    def say(chat_id: int, text: str, count: int, **kwargs: Any) -> dict[str, Any]:
        if text.startswith("/"):
            srv.push_command(chat_id, text)
        else:
            srv.push_text(chat_id, text, **kwargs)
        return srv.wait_for_messages(chat_id, count, timeout=20)[-1]

    def scenario() -> None:
        week = say(41, "/rising", 1)
        lines = [line for line in str(week["plain"]).splitlines() if line]
        assert lines[0] == "📈 Papers whose votes grew most in the last 7 day(s)"
        assert lines[1].startswith("1. The Differences Between Direct Alignment") and "+60 (now 150)" in lines[2]
        assert lines[3].startswith("2. OmniHuman-1") and "+30 (now 130)" in lines[4]
        assert lines[5].startswith("3. FastKV") and "+20 (now 25)" in lines[6]
        assert links(week) == [url(DAA), url(OMNI), url(FASTKV)]
        assert [b["text"] for row in week["reply_markup"]["inline_keyboard"] for b in row][:2] == \
            ["1 · Summary", "1 · Similar"]
        two = say(41, "/rising 2", 2)
        assert links(two) == [url(DAA), url(FASTKV)] and "last 2 day(s)" in two["plain"]
        assert "Usage: /rising [days]" in say(41, "/rising 0", 3)["plain"]
        assert "Usage: /rising [days]" in say(41, "/rising soon", 4)["plain"]
        # Replying to the list: "the second" is OmniHuman, the second paper listed.
        answer = say(41, "what is the second one about?", 5, reply_to_message_id=week["message_id"])
        assert list(dict.fromkeys(links(answer))) == [url(OMNI)]

        ko = say(42, "/rising 7", 1)
        assert str(ko["plain"]).startswith("📈 최근 7일 동안 추천이 가장 많이 늘어난 논문")
        assert "+60 (현재 150)" in ko["plain"] and links(ko) == [url(DAA), url(OMNI), url(FASTKV)]

    serve(build_application(bot_settings(srv, tmp_path / "bot"), papers, clock=Clock(NOW)), scenario)

    def later() -> None:  # nothing recorded in the week before: a plain note, no buttons
        srv.push_command(43, "/rising")
        (none,) = srv.wait_for_messages(43, 1, timeout=20)
        assert none["plain"] == "No paper gained votes in the last 7 day(s) (votes are recorded when the bot syncs)."
        assert not none.get("reply_markup")

    serve(build_application(bot_settings(srv, tmp_path / "bot2"), papers, clock=Clock(NOW + timedelta(days=30))),
          later)
