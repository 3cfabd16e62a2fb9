"""Buttons under the morning push and /top, end to end: the real Application against FakeBotAPI, a real
push pass (the bot's own job, with an injected clock) and the sample papers.

Every button of a push is pressed; every callback query must be answered; a button from a push sent before a
restart still works; stale buttons get a short note."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.telegram.app import build_application
from rag.components import Components
from rag.service import Papers
from rag.storage.subscriptions import SubscriptionStore
from tests.bot.telegram.harness import bot_settings, html_plain, links, serve
from tests.bot.telegram.sample_world import DAA, FASTKV, MMIQ, OMNI, PUSH_DAY, Clock, url
from tests.fakes.bot_api import FakeBotAPI

KO_CHAT, EN_CHAT = 71, 72


def start(srv: FakeBotAPI, papers: Papers, folder: Path, scenario: Any, *, store: SubscriptionStore | None = None,
          clock: Clock | None = None, **settings: Any) -> Any:
    options: dict[str, Any] = {"store": store} if store is not None else {}
    if clock is not None:
        options["clock"] = clock
    app = build_application(bot_settings(srv, folder, **settings), papers, **options)
    return serve(app, scenario)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in message["reply_markup"]["inline_keyboard"] for button in row]


def press(srv: FakeBotAPI, chat_id: int, data: str, message_id: int, *, user_id: int | None = None) -> dict[str, Any]:
    """Press a button and return the answerCallbackQuery it got."""
    before = len(srv.callback_answers())
    srv.push_callback(chat_id, data, message_id, user_id=user_id)
    srv.wait_for_calls("answerCallbackQuery", before + 1, timeout=15)
    return srv.callback_answers()[before]


def test_every_button_of_a_push_works_and_survives_a_restart(srv: FakeBotAPI, world: tuple[Papers, Components],
                                                             tmp_path: Path) -> None:
    papers, components = world
    # Vote history: MM-IQ gained 30 votes in the past day (the push's rising line); OmniHuman was seen once.
    components.catalog.record_votes({MMIQ: 10}, PUSH_DAY - timedelta(hours=20))
    components.catalog.record_votes({MMIQ: 40, OMNI: 140}, PUSH_DAY - timedelta(hours=2))
    store = SubscriptionStore(tmp_path / "subscriptions.sqlite3")
    for chat, lang in ((KO_CHAT, "ko"), (EN_CHAT, "en")):
        store.subscribe(chat, "08:00", "Asia/Seoul", ["KV cache"], lang, now=PUSH_DAY - timedelta(days=1))
    srv.set_language(KO_CHAT, "ko")
    clock = Clock(PUSH_DAY + timedelta(hours=1))  # 10:00 in Seoul: both chats are due
    folder = tmp_path / "bot"

    def first_run() -> dict[int, dict[str, Any]]:
        pushes = {chat: srv.wait_for_messages(chat, 1, timeout=30)[0] for chat in (KO_CHAT, EN_CHAT)}
        ko, en = pushes[KO_CHAT], pushes[EN_CHAT]
        # Top 2 by votes, then the topic match (FastKV, rank 5), then the rising line.
        assert links(ko)[:3] == [url(OMNI), url(DAA), url(FASTKV)]
        assert "📈 급상승: MM-IQ" in ko["plain"] and "(+30)" in ko["plain"] and "📈 Rising: MM-IQ" in en["plain"]
        assert [b["text"] for b in buttons(ko)] == ["1 · 요약", "1 · 비슷한 논문", "2 · 요약", "2 · 비슷한 논문",
                                                    "5 · 요약", "5 · 비슷한 논문", "🔕 “KV cache” 그만 받기"]
        assert [b["text"] for b in buttons(en)][-3:] == ["5 · Summary", "5 · Similar", "🔕 Mute “KV cache”"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(ko) + buttons(en))

        sent = 1
        for button in buttons(ko):  # every button of the Korean push
            answer = press(srv, KO_CHAT, button["callback_data"], ko["message_id"])
            if button["callback_data"].startswith("t:"):
                assert answer.get("text") == "“KV cache” 주제를 이 대화의 구독에서 뺐습니다."
                continue
            sent += 1
            reply = srv.wait_for_messages(KO_CHAT, sent, timeout=15)[-1]
            assert reply["message"]["reply_to_message"]["message_id"] == ko["message_id"]
            assert html_plain(str(reply["text"])) == reply["plain"]
            assert not answer.get("text")  # a button that did its job needs no note
            number = int(button["text"].split(" · ")[0])
            arxiv_id = {1: OMNI, 2: DAA, 5: FASTKV}[number]
            title = papers.paper(arxiv_id).title  # type: ignore[union-attr]
            if "요약" in button["text"]:  # the paper's sections, title first, arXiv link last
                assert reply["plain"].startswith(title) and links(reply)[-1] == url(arxiv_id)
                assert "What's New" in reply["plain"]
            else:  # more like this: other papers, each with its own buttons
                assert title in reply["plain"].splitlines()[0] and url(arxiv_id) not in links(reply)
                assert len(links(reply)) == 5 and len(buttons(reply)) == 10
        assert store.get(KO_CHAT).topics == ()  # type: ignore[union-attr]
        assert store.get(EN_CHAT).topics == ("KV cache",)  # type: ignore[union-attr]
        return pushes

    pushes = start(srv, papers, folder, first_run, store=store, clock=clock, push_top_n=2)
    assert srv.unanswered_callbacks() == []

    def after_restart() -> None:  # the same data dir: the pushes' records are read back from SQLite
        en = pushes[EN_CHAT]
        mute = next(b["callback_data"] for b in buttons(en) if b["callback_data"].startswith("t:"))
        assert press(srv, EN_CHAT, mute, en["message_id"])["text"] == "Muted “KV cache”: it is no longer one of " \
                                                                       "this chat's topics."
        assert press(srv, EN_CHAT, mute, en["message_id"])["text"] == "“KV cache” is not one of this chat's " \
                                                                       "topics any more."
        before = len(srv.messages_to(EN_CHAT))
        assert not press(srv, EN_CHAT, f"s:{DAA}", en["message_id"]).get("text")
        summary = srv.wait_for_messages(EN_CHAT, before + 1, timeout=15)[-1]
        assert summary["plain"].startswith("The Differences Between Direct Alignment Algorithms")

    start(srv, papers, folder, after_restart, store=store, clock=clock, push_top_n=2)
    assert store.get(EN_CHAT).topics == ()  # type: ignore[union-attr]
    assert srv.unanswered_callbacks() == []
    store.close()


def test_stale_and_odd_buttons_get_a_short_note(srv: FakeBotAPI, world: tuple[Papers, Components],
                                                tmp_path: Path) -> None:
    papers, _ = world

    def scenario() -> None:
        srv.push_command(81, "/top 2025-02-05 3")
        (top,) = srv.wait_for_messages(81, 1, timeout=15)
        assert [b["text"] for b in buttons(top)][:2] == ["1 · Summary", "1 · Similar"] and len(buttons(top)) == 6
        stale = "This button has expired. /top gives you a fresh list."
        assert press(srv, 81, "t:1:0", top["message_id"])["text"] == stale  # no topics on a /top list
        assert press(srv, 81, "t:1:0", 999)["text"] == stale  # a message we have no record of
        assert press(srv, 81, "nonsense", top["message_id"])["text"] == stale
        assert press(srv, 81, "s:2401.00001", top["message_id"])["text"] == "This paper is no longer in the index."
        assert press(srv, 81, "m:2401.00001", top["message_id"])["text"] == "This paper is no longer in the index."
        assert len(srv.messages_to(81)) == 1  # none of those sent anything
        press(srv, 81, buttons(top)[2]["callback_data"], top["message_id"])  # "2 · Summary"
        summary = srv.wait_for_messages(81, 2, timeout=15)[-1]
        assert summary["plain"].startswith("The Differences Between Direct Alignment Algorithms")

    start(srv, papers, tmp_path / "bot", scenario)
    assert srv.unanswered_callbacks() == []


def test_refused_users_buttons_are_answered_too(srv: FakeBotAPI, world: tuple[Papers, Components],
                                                tmp_path: Path) -> None:
    papers, _ = world

    def scenario() -> None:
        answer = press(srv, 91, f"s:{OMNI}", 5)
        assert answer["text"] == "This bot is only available in approved chats."

    start(srv, papers, tmp_path / "bot", scenario, telegram_allowed_chat_ids=[1])
    assert srv.unanswered_callbacks() == [] and srv.messages_to(91) == []


def test_keyboards_stay_within_telegrams_limits() -> None:
    from bot.telegram.buttons import MAX_BUTTONS, paper_keyboard
    from rag.storage.contexts import ContextItem

    # 20 top papers and 20 topic matches of 5 topics each: far more buttons than Telegram allows.
    items = [ContextItem(n, f"2502.{n:05d}", ("a", "b", "c", "d", "e") if n > 20 else ()) for n in range(1, 41)]
    keyboard = paper_keyboard(items, "en", mute=True)
    assert keyboard is not None
    buttons = [b for row in keyboard.inline_keyboard for b in row]
    assert len(buttons) <= MAX_BUTTONS and max(len(row) for row in keyboard.inline_keyboard) <= 8
    assert [b.text for b in buttons[:2]] == ["1 · Summary", "1 · Similar"]  # the first papers keep theirs
    assert all(len(str(b.callback_data).encode()) <= 64 for b in buttons)
    assert paper_keyboard([], "en") is None
