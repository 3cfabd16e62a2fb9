"""Regression tests for issue 14 (hardening), one per finding, each through the real Application polling
the fake Bot API (and the fake LLM where the finding was about LLM text). The real-process halves of
findings 1 and 7 (getUpdates refused, SIGTERM during an LLM call) are in ``tests/bot/test_bot_process.py``.

A hash-embedding library keeps these fast; retrieval quality does not matter here.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ops.health import HealthServer, TelegramMonitor
from bot.telegram.app import build_application
from bot.telegram.request import monitored_requests
from config.settings import load_settings
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.bot.telegram.harness import ADMIN, bot_settings, html_plain, links, sample_library, serve, start_bot
from tests.conftest import open_components
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_openai
from tests.helpers import HashEmbedding


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    library, report = sample_library(tmp_path_factory.mktemp("library"))
    assert report.added == 15
    yield library
    library.close()


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- 1. deaf but "healthy" -------------------------------------------------------------------------------
def test_1_getupdates_404_and_401_keep_polling_and_healthz_says_unhealthy(
        srv: FakeBotAPI, library: Components, engine: Papers, tmp_path: Path) -> None:
    """PTB stops polling for good on a 401/404 to getUpdates; ours retries with backoff, /healthz reports
    the silence as unhealthy after updates_max_age_s, and the bot answers once the Bot API is back."""
    monitor = TelegramMonitor()
    request, get_updates = monitored_requests(monitor)
    health = HealthServer(Papers(library), telegram=monitor, updates_max_age_s=3, cache_s=0)
    app = build_application(bot_settings(srv, tmp_path / "bot"), engine, request=request,
                            get_updates_request=get_updates, health=health)

    def scenario() -> tuple[dict[str, Any], dict[str, Any], float]:
        srv.push_command(11, "/top")
        (first,) = srv.wait_for_messages(11, 1, timeout=10)
        srv.fail_next("getUpdates", 404, times=2)
        srv.fail_next("getUpdates", 401, times=None)  # 401 until cleared
        wait_for(lambda: healthz(health.port)[0] == 503 and srv.calls("getUpdates", ok=False)[-1].status == 401,
                 20, "/healthz to turn unhealthy during the 401s")
        _, sick = healthz(health.port)
        srv.clear_faults()
        back = time.monotonic()
        srv.push_command(11, "/top")
        srv.wait_for_messages(11, 2, timeout=40)  # PTB's backoff is at most 30 s
        took = time.monotonic() - back
        wait_for(lambda: healthz(health.port)[0] == 200, 10, "/healthz to recover")
        return first, sick, took

    first, sick, took = serve(app, scenario)
    assert "Most-voted" in first["plain"]
    refused = [c.status for c in srv.calls("getUpdates") if c.status in (401, 404)]
    assert refused[:2] == [404, 404] and refused.count(401) >= 1  # polling went on after each refusal
    assert sick["status"] == "unhealthy" and sick["telegram"]["updates"]["failures"] >= 3
    assert any("no updates received" in p and "401" in p for p in sick["problems"]), sick["problems"]
    assert took < 35


# --- 4. malformed arguments get the usage line ----------------------------------------------------------
def test_4_malformed_top_arguments_get_the_usage_line(srv: FakeBotAPI, engine: Papers, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """"²" is a digit to str.isdigit() but not to int(): it used to crash the handler."""
    commands = ["/top ²", "/top ⁵ today", "/top 2025-02-05 ¹²", "/top 2025-13-45", "/top 9999", "/top ٣"]

    def scenario() -> None:
        for n, command in enumerate(commands, start=1):
            srv.push_command(12, command)
            srv.wait_for_messages(12, n, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    replies = [str(m["plain"]) for m in srv.messages_to(12)]
    assert all(r.startswith("Usage: /top") for r in replies[:5]), replies
    assert replies[5].startswith("Most-voted papers of the 2025-02-05 digest")  # "٣" is a decimal 3
    assert "Traceback" not in caplog.text and "something went wrong" not in " ".join(replies)


# --- 7a. /top yesterday is the digest before the newest -----------------------------------------------------
def test_7a_top_yesterday_is_the_previous_digest(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        for n, command in enumerate(["/top yesterday", "/top 어제 2"], start=1):
            srv.push_command(13, command)
            srv.wait_for_messages(13, n, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    english, korean = (str(m["plain"]) for m in srv.messages_to(13))
    # The samples' digests are 2025-02-05, 2024-11-22 and 2024-11-19: "yesterday" is 2024-11-22.
    assert english.startswith("Most-voted papers of the 2024-11-22 digest")
    assert korean.startswith("Most-voted papers of the 2024-11-22 digest") and korean.count("votes") == 2


# --- 7c. /paper with trailing punctuation ---------------------------------------------------------------
def test_7c_paper_id_with_trailing_punctuation(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    commands = ["/paper 2502.01061.", "/paper (2502.01061),", "/paper “2502.01061”", "/paper arxiv.org/abs/2502.01061!",
                "/paper arXiv:2502.01061;"]

    def scenario() -> None:
        for n, command in enumerate(commands, start=1):
            srv.push_command(14, command)
            srv.wait_for_messages(14, n, timeout=10)

    start_bot(srv, engine, tmp_path, scenario)
    for sent in srv.messages_to(14):
        assert str(sent["plain"]).startswith("OmniHuman-1: Rethinking"), sent["plain"]


# --- 3. commands for other bots are not ours --------------------------------------------------------------
def test_3_commands_addressed_to_another_bot_get_silence(srv: FakeBotAPI, engine: Papers,
                                                          tmp_path: Path) -> None:
    refused_group, allowed_group = -703, -704

    def scenario() -> None:
        srv.push_command(refused_group, "/top@other_bot", chat_type="group")
        srv.push_command(refused_group, "/help@Other_Bot", chat_type="group")
        srv.push_command(allowed_group, "/top@other_bot", chat_type="group")
        srv.push_command(15, "/start@other_bot")  # private, allowed user
        srv.push_command(refused_group, "/top", chat_type="group", mention_bot=True)  # ours: refused
        srv.push_command(allowed_group, "/top", chat_type="group", mention_bot=True)  # ours: answered
        srv.wait_for_messages(refused_group, 1, timeout=10)
        srv.wait_for_messages(allowed_group, 1, timeout=10)
        srv.wait_until_delivered()
        time.sleep(0.3)

    start_bot(srv, engine, tmp_path, scenario, telegram_allowed_chat_ids=[allowed_group, 15])
    assert [m["plain"] for m in srv.messages_to(refused_group)] == [
        "Sorry, this bot is only available in approved chats."]
    (top,) = srv.messages_to(allowed_group)
    assert str(top["plain"]).startswith("Most-voted papers")
    assert srv.messages_to(15) == []


# --- 5. one note per cool-down, one refusal per period ---------------------------------------------------
def test_5_a_burst_gets_its_answers_and_one_note_and_a_refused_user_one_refusal(
        srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    def scenario() -> None:
        for n in range(30):
            srv.push_text(16, f"OmniHuman-1 question {n}?")
            srv.push_text(17, f"let me in {n}")
        srv.wait_for_messages(16, 6, timeout=20)
        srv.wait_for_messages(17, 1, timeout=10)
        srv.wait_until_delivered(timeout=10)
        time.sleep(0.5)

    start_bot(srv, engine, tmp_path, scenario, telegram_allowed_chat_ids=[16], telegram_questions_burst=5,
              telegram_questions_per_minute=6)
    user = [str(m["plain"]) for m in srv.messages_to(16)]
    notes = [m for m in user if "asking a little fast" in m]
    assert len(user) == 6 and len(notes) == 1, user  # 5 answers, 1 note for 25 refused questions
    assert re.fullmatch(r"You're asking a little fast\. Please try again in (9|10) s\.", notes[0])
    assert [m["plain"] for m in srv.messages_to(17)] == ["Sorry, this bot is only available in approved chats."]


# --- 2. links only from our metadata, no debris --------------------------------------------------------
# Anything Telegram would make clickable in plain text: URLs, www., bare domains (with a TLD-like ending),
# e-mail addresses. A superset of Telegram's own rules, so a pass here means nothing was linkable.
LINKABLE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|\bwww\.|[\w.+-]+@[\w-]+\.\w|(?<![\w.])(?:[\w-]+\.)+[a-z]{2,}\b(?!\.\d)")


def test_2_model_links_without_a_scheme_are_removed_without_debris(srv: FakeBotAPI, library: Components,
                                                                     tmp_path: Path) -> None:
    reply = ("OmniHuman-1은 인물 애니메이션 모델입니다 [1]. 추가로 evil.example.com/login 도 참고하세요 ([9]). "
             "원문은 arxiv.org/abs/2999.00001 에 있고, 커뮤니티는 t.me/joinchat/abc 와 www.x.org 입니다 [1]. "
             "문의: bob@evil.example.com. See [the paper](https://evil.example/p) or <a href=\"http://e.vil\">here</a>.")
    with running_openai(default_reply=reply) as oai:
        llm_settings = load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url, llm_api_key="k",
                                     llm_max_retries=0, llm_model="fake-model")
        engine = Papers(library, llm=ChatLLM.from_settings(llm_settings.llm), memory=ConversationMemory(6, 100))

        def scenario() -> None:
            srv.push_text(18, "OmniHuman-1 omni-conditions training 인물 애니메이션은 어떻게 하나요?")
            srv.wait_for_messages(18, 1, timeout=20)

        start_bot(srv, engine, tmp_path, scenario)
        assert oai.chat_requests()
    (answer,) = srv.messages_to(18)
    plain = str(answer["plain"])
    body = plain.split("\n\n")[0]
    assert body == ("OmniHuman-1은 인물 애니메이션 모델입니다 [1]. 추가로 참고하세요. "
                    "원문은 있고, 커뮤니티는 입니다 [1]. 문의. See the paper or here.")
    assert html_plain(str(answer["text"])) == plain
    assert set(links(answer)) == {"https://arxiv.org/abs/2502.01061"}  # every link is ours
    for token in ("evil", "2999", "t.me", "x.org", "joinchat", "e.vil", "href"):
        assert token not in plain, token
    assert LINKABLE.findall(plain) == [], LINKABLE.findall(plain)
    assert not re.search(r"\(\s*\)|\[\s*\]|  | [.,;:!?]", plain), plain


# --- 6. users read their language; operators get the details ---------------------------------------------
def test_6_korean_replies_carry_no_internal_english_and_healthz_has_the_details(
        srv: FakeBotAPI, library: Components, tmp_path: Path) -> None:
    with running_openai() as oai:
        for _ in range(3):
            oai.script_error(401)
        llm_settings = load_settings(data_dir=tmp_path / "llm", llm_base_url=oai.base_url, llm_api_key="k",
                                     llm_max_retries=0, llm_model="fake-model")
        engine = Papers(library, llm=ChatLLM.from_settings(llm_settings.llm), memory=ConversationMemory(6, 100))
        monitor = TelegramMonitor()
        request, get_updates = monitored_requests(monitor)
        health = HealthServer(Papers(library), telegram=monitor, cache_s=0)
        app = build_application(bot_settings(srv, tmp_path / "bot"), engine, request=request,
                                get_updates_request=get_updates, health=health)
        questions = ["OmniHuman-1 omni-conditions training 인물 애니메이션은 어떻게 하나요?",
                     "2999.00001 논문은 뭐야?", "2026년 1월 1일 논문 알려줘"]

        def scenario() -> tuple[int, dict[str, Any]]:
            for n, question in enumerate(questions, start=1):
                srv.push_text(19, question, user_id=19)
                srv.wait_for_messages(19, n, timeout=20)
            return healthz(health.port)

        code, body = serve(app, scenario)
    replies = [str(m["plain"]).split("\n\n") for m in srv.messages_to(19)]
    llm_down, missing_paper, missing_date = replies
    assert llm_down[1] == "ⓘ 지금은 LLM을 쓸 수 없어 요약문에서 발췌한 답변입니다." and llm_down[-1].startswith("출처")
    assert missing_paper == ["2999.00001 논문은 다이제스트에 없습니다."]
    assert missing_date == ["2026-01-01 다이제스트는 없습니다. 가장 최근 다이제스트는 2025-02-05입니다."]
    everything = "\n".join("\n\n".join(r) for r in replies)
    for internal in ("LLM refused", "API key", "401", "not in the digests", "no digest for", "newest is"):
        assert internal not in everything, internal
    # The operator's view: degraded (answers still come), with the reason.
    assert code == 200 and body["status"] == "degraded"
    assert body["llm"]["failing"] is True and body["llm"]["last_error"] == "the LLM refused the API key (401)"
    assert "LLM failing: the LLM refused the API key (401) (answers fall back to extractive)" in body["problems"]


# --- 7b. time zones: any case, UTC±N understood, the rest refused clearly --------------------------------
def test_7b_subscribe_time_zones_case_insensitive_and_utc_offsets(srv: FakeBotAPI, engine: Papers,
                                                                   tmp_path: Path) -> None:
    from rag.storage.subscriptions import SubscriptionStore

    store = SubscriptionStore(tmp_path / "subs.sqlite3")
    commands = ["/subscribe 08:30 europe/berlin diffusion", "/subscribe 07:00 UTC+9", "/subscribe gmt-5",
                "/subscribe UTC+5:30", "/subscribe 08:00 asia/atlantis RL"]

    def scenario() -> list[Any]:
        seen = []
        for n, command in enumerate(commands, start=1):
            srv.push_command(21, command)
            srv.wait_for_messages(21, n, timeout=10)
            current = store.get(21)
            seen.append(None if current is None else (current.push_time, current.timezone, list(current.topics)))
        return seen

    try:
        app = build_application(bot_settings(srv, tmp_path / "bot"), engine, store=store)
        seen = serve(app, scenario)
    finally:
        store.close()
    berlin, plus9, minus5, half, atlantis = (str(m["plain"]) for m in srv.messages_to(21))
    assert seen[0] == ("08:30", "Europe/Berlin", ["diffusion"])  # a zone, not a topic
    assert seen[1] == ("07:00", "Etc/GMT-9", ["diffusion"]) and "07:00 (UTC+9)" in plus9
    assert seen[2] == ("07:00", "Etc/GMT+5", ["diffusion"]) and "(UTC-5)" in minus5
    assert "Europe/Berlin" in berlin and "Topics: diffusion" in berlin
    assert half.startswith("“UTC+5:30”: for an offset that is not a whole hour, name the zone by its city")
    assert atlantis.startswith("“asia/atlantis” is not a time zone I know")
    assert seen[3] == seen[4] == seen[2]  # refused: nothing changed


# --- 7d. an oversize upload is told "too large" -----------------------------------------------------------
def test_7d_oversize_uploads_are_told_too_large(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    """Bots can download at most 20 MB (getFile answers "file is too big"), whatever max_digest_mb says."""
    big = b"# digest\n" + b"x" * (21 * 1024 * 1024)

    def scenario() -> None:
        srv.push_document(ADMIN, "big-1", "2025-03-01.md", big)
        srv.wait_for_messages(ADMIN, 1, timeout=20)
        srv.add_file("big-2", big, "documents/2025-03-02.md")  # Telegram did not say how big it is
        chat = srv.chat(ADMIN)
        srv.push_update({"message": {"message_id": 99, "date": int(time.time()), "chat": chat,
                                     "from": {"id": ADMIN, "is_bot": False, "first_name": "A", "language_code": "ko"},
                                     "document": {"file_id": "big-2", "file_unique_id": "u-big-2",
                                                  "file_name": "2025-03-02.md"}}})
        srv.wait_for_messages(ADMIN, 2, timeout=20)

    start_bot(srv, engine, tmp_path, scenario, max_digest_mb=50)
    sized, unsized = (str(m["plain"]) for m in srv.messages_to(ADMIN))
    assert sized == "That file is too large (22.0 MB; the limit is 20 MB)."
    assert unsized == "파일이 너무 큽니다 (최대 20 MB)."
    assert not srv.calls("getFile", ok=True)


# --- 7g. photos, stickers, voice in a private chat get a hint ---------------------------------------------
def test_7g_media_in_a_private_chat_gets_one_hint(srv: FakeBotAPI, engine: Papers, tmp_path: Path) -> None:
    media: list[dict[str, Any]] = [
        {"photo": [{"file_id": "p1", "file_unique_id": "up1", "width": 90, "height": 90}], "caption": "this?"},
        {"sticker": {"file_id": "s1", "file_unique_id": "us1", "type": "regular", "width": 512, "height": 512,
                     "is_animated": False, "is_video": False}},
        {"voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 2}},
        {"animation": {"file_id": "a1", "file_unique_id": "ua1", "width": 1, "height": 1, "duration": 1},
         "document": {"file_id": "a1", "file_unique_id": "ua1", "file_name": "cat.gif.mp4"}},
    ]

    def raw(chat_id: int, message_id: int, body: dict[str, Any], chat_type: str = "private") -> dict[str, Any]:
        chat = srv.chat(chat_id, chat_type)
        user = {"id": 22, "is_bot": False, "first_name": "U", "language_code": "ko"}
        return {"message": {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": user, **body}}

    def scenario() -> None:
        srv.push_update(raw(22, 1, media[0]))
        srv.wait_for_messages(22, 1, timeout=10)
        for n, body in enumerate(media[1:], start=2):  # within the minute: no second hint
            srv.push_update(raw(22, n, body))
        srv.push_update(raw(23, 1, media[3]))  # a GIF in another chat: the hint, not "admins only"
        srv.push_update(raw(-705, 1, media[1], "group"))  # groups: people talking to each other
        srv.wait_for_messages(23, 1, timeout=10)
        srv.wait_until_delivered()
        time.sleep(0.3)

    start_bot(srv, engine, tmp_path, scenario)
    hint = "글로 된 질문만 읽을 수 있어요. 궁금한 논문이나 주제를 메시지로 보내 주세요."
    assert [m["plain"] for m in srv.messages_to(22)] == [hint]
    assert [m["plain"] for m in srv.messages_to(23)] == [hint]
    assert srv.messages_to(-705) == []


# --- 7f. an answer whose confirmation was lost is not followed by "connection unstable" ------------------
def test_7f_a_lost_send_confirmation_does_not_add_a_network_note(srv: FakeBotAPI, engine: Papers,
                                                                  tmp_path: Path) -> None:
    """Telegram delivers the answer but the response never comes back (a timeout or a dropped connection
    after processing): the user has the answer, so no "connection hiccupped" note follows it. A send that
    surely never reached Telegram (connection refused) still gets the note."""
    import httpx
    from telegram.error import NetworkError, TimedOut

    from bot.telegram.errors import surely_undelivered

    def scenario() -> None:
        srv.drop_next("sendMessage", chat_id=24, after_processing=True)
        srv.push_command(24, "/top")
        srv.wait_for_messages(24, 1, timeout=10)
        srv.wait_until_delivered()
        time.sleep(1.0)  # the error handler has run by now

    start_bot(srv, engine, tmp_path, scenario)
    (answer,) = srv.messages_to(24)
    assert str(answer["plain"]).startswith("Most-voted papers")

    def raised(error: Exception, cause: Exception) -> Exception:
        try:
            raise error from cause
        except Exception as exc:
            return exc

    assert surely_undelivered(raised(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")))
    assert surely_undelivered(raised(TimedOut("pool"), httpx.PoolTimeout("no connection")))
    assert not surely_undelivered(raised(TimedOut(), httpx.ReadTimeout("slow")))
    assert not surely_undelivered(raised(NetworkError("x"), httpx.RemoteProtocolError("dropped")))


# --- 7e. a push header says what the message holds ----------------------------------------------------------
def test_7e_a_trimmed_push_header_counts_the_papers_it_holds(srv: FakeBotAPI, tmp_path: Path) -> None:
    """push_top_n=20 papers with long summaries do not fit in one message (a push is never split): the
    lowest-ranked are dropped, and the header counts the ones shown, not the ones asked for."""
    from datetime import UTC, datetime, timedelta

    from rag.storage.subscriptions import SubscriptionStore

    blocks = []
    for n in range(25):
        title = f"Paper Number {n:02d}: A Rather Long Title About Scaling Laws For Multimodal Agents"
        blocks.append(f"### [{title}](https://arxiv.org/abs/2503.{n + 10000:05d})\n\nVote: {100 - n}\n\n"
                      # One long sentence: the push's gist (its first 160 characters) is long, so 20 papers
                      # overflow a message by what Telegram counts (the visible text), and the push is trimmed.
                      f"- ***What's New***: Lengthy words describing the contribution{' and its consequences' * 12}.\n"
                      "- ***Technical Details***: Details.\n- ***Performance Highlights***: Numbers.\n")
    folder = tmp_path / "digests"
    folder.mkdir()
    (folder / "2025-03-03.md").write_text("## Daily Papers (2025-03-03)\n\n" + "\n".join(blocks), encoding="utf-8")
    settings = bot_settings(srv, tmp_path / "bot", push_check_interval_s=0.5, push_top_n=20)
    library = open_components(settings, embedder=HashEmbedding())
    store = SubscriptionStore(settings.storage.subscriptions_path)
    try:
        assert ingest_paths(Indexer.from_components(library), [str(folder)]).added == 25
        now = datetime.now(UTC)
        store.subscribe(25, "08:00", "UTC", [], "en", now=now - timedelta(days=3))
        engine = Papers(library, llm=None, memory=ConversationMemory(6, 100))
        app = build_application(settings, engine, store=store, clock=lambda: now + timedelta(days=1))
        (push,) = serve(app, lambda: srv.wait_for_messages(25, 1, timeout=30))
    finally:
        store.close()
        library.close()
    plain = str(push["plain"])
    held = re.findall(r"(?m)^(\d+)\. Paper Number", plain)
    header = re.match(r"📚 Daily Papers 2025-03-03 — top (\d+) of 25 by votes", plain)
    assert header is not None, plain.splitlines()[0]
    assert 1 < len(held) < 20 and int(header.group(1)) == len(held), (plain.splitlines()[0], len(held))
    assert held == [str(n) for n in range(1, len(held) + 1)]
