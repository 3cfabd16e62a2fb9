"""Smoke tests: the fake servers work with the real ``openai`` and python-telegram-bot clients."""

from __future__ import annotations

import asyncio
import csv
import datetime as dtm
import hashlib
import io
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import telegram
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import (
    openai_client_kwargs,
    ptb_bot_kwargs,
    running_bot_api,
    running_digest_repo,
    running_huggingface,
    running_openai,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace
from tests.fakes.tg_html import EntityParseError, auto_entities, parse_telegram_html, utf16_len


@pytest.fixture
def oai() -> Iterator[FakeOpenAI]:
    with running_openai() as srv:
        yield srv


@pytest.fixture
def tg() -> Iterator[FakeBotAPI]:
    with running_bot_api() as srv:
        yield srv


def _client(srv: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(**{**openai_client_kwargs(srv, api_key="k"), **kwargs})


def _bot(srv: FakeBotAPI) -> telegram.Bot:
    return telegram.Bot(**ptb_bot_kwargs(srv))


def _seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ------------------------------------------------------------------------------------ OpenAI


def test_openai_scripted_reply_and_recording(oai: FakeOpenAI) -> None:
    oai.script_reply("scripted answer")
    resp = _client(oai).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "What is new?"}]
    )
    assert resp.choices[0].message.content == "scripted answer"
    assert resp.choices[0].finish_reason == "stop"
    (req,) = oai.chat_requests()
    assert req.authorization == "Bearer k"
    assert req.messages == [{"role": "user", "content": "What is new?"}]
    # queue empty -> responder / default reply
    oai.responder = lambda msgs: "echo: " + str(msgs[-1]["content"])
    resp = _client(oai).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert resp.choices[0].message.content == "echo: hi"


def test_openai_streaming_chunks(oai: FakeOpenAI) -> None:
    oai.script_reply("Hello streaming world", chunks=3)
    stream = _client(oai).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    pieces: list[str] = []
    finish: list[str | None] = []
    for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            finish.append(chunk.choices[0].finish_reason)
    assert "".join(pieces) == "Hello streaming world"
    assert len(pieces) == 3
    assert finish[-1] == "stop"


def test_openai_stream_cut_midway(oai: FakeOpenAI) -> None:
    oai.script_reply("abcdef", chunks=3, drop_after=1)
    stream = _client(oai).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    got: list[str] = []
    # NB: the openai client does not wrap mid-stream transport errors: raw httpx error escapes
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["ab"]


def test_openai_errors_timeout_and_drop(oai: FakeOpenAI) -> None:
    client = _client(oai)
    msgs: list[Any] = [{"role": "user", "content": "x"}]
    oai.script_error(429, retry_after=7)
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="fake-model", messages=msgs)
    assert rate.value.response.headers["retry-after"] == "7"
    oai.script_error(503)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-model", messages=msgs)
    oai.script_delay(3, "too late")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _client(oai, timeout=0.5).chat.completions.create(model="fake-model", messages=msgs)
    assert time.monotonic() - started < 2
    oai.script_drop()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="fake-model", messages=msgs)
    # after the script queue is drained the default reply comes back
    assert client.chat.completions.create(model="m", messages=msgs).choices[0].message.content == "OK"


def test_openai_auth_models_embeddings() -> None:
    with running_openai(api_key="secret", embedding_dim=16) as srv:
        with pytest.raises(openai.AuthenticationError):
            _client(srv, api_key="wrong").models.list()
        client = _client(srv, api_key="secret")
        assert [m.id for m in client.models.list()] == ["fake-model", "fake-embedding"]
        default = client.embeddings.create(model="fake-embedding", input=["a", "b"])  # base64
        floats = client.embeddings.create(
            model="fake-embedding", input="a", encoding_format="float"
        )
        vec_a = [float(x) for x in default.data[0].embedding]
        assert len(vec_a) == 16
        assert math.isclose(sum(x * x for x in vec_a), 1.0, rel_tol=1e-5)
        assert vec_a == pytest.approx(srv.embed("a"), abs=1e-6)
        assert floats.data[0].embedding == pytest.approx(srv.embed("a"), abs=1e-9)
        assert default.data[1].embedding != default.data[0].embedding


# ------------------------------------------------------------------------------ Telegram HTML


def test_html_parser_rules() -> None:
    plain, ents = parse_telegram_html('<b>bold</b> &lt;x&gt; &amp; <a href="https://e.x/?a=1&amp;b=2">l</a>')
    assert plain == "bold <x> & l"
    assert {"type": "bold", "offset": 0, "length": 4} in ents
    assert {"type": "text_link", "offset": 11, "length": 1, "url": "https://e.x/?a=1&b=2"} in ents
    plain, ents = parse_telegram_html("😀 <i>é</i>")
    assert ents == [{"type": "italic", "offset": 3, "length": 1}]  # emoji = 2 UTF-16 units
    plain, ents = parse_telegram_html('<pre><code class="language-python">x</code></pre>')
    assert ents == [{"type": "pre", "offset": 0, "length": 1, "language": "python"}]
    for bad in ("a < b", "<b>x", "x</b>", "<b><i>x</b></i>", "AT&T", "<div>x</div>",
                '<span class="x">s</span>', "<b"):
        with pytest.raises(EntityParseError):
            parse_telegram_html(bad)
    assert parse_telegram_html("a > b")[0] == "a > b"  # Telegram accepts a bare '>'
    assert utf16_len("😀") == 2
    text = "👋 @papersbot_test_bot /top@papersbot_test_bot see https://arxiv.org/abs/1."
    kinds = [(e["type"], e["offset"], e["length"]) for e in auto_entities(text)]
    assert kinds == [("mention", 3, 19), ("bot_command", 23, 23), ("url", 51, 23)]


# ---------------------------------------------------------------------------------- Telegram


def test_bot_get_me_send_message_and_html_validation(tg: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(tg) as bot:
            assert bot.username == "papersbot_test_bot"
            msg = await bot.send_message(
                42, "<b>Top</b> papers &amp; more", parse_mode="HTML",
                reply_markup=telegram.InlineKeyboardMarkup(
                    [[telegram.InlineKeyboardButton("more", callback_data="more:1")]]
                ),
            )
            assert msg.text == "Top papers & more"
            assert msg.text_html == "<b>Top</b> papers &amp; more"
            assert msg.reply_markup is not None
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(42, "1 < 2", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(42, "x" * 4097)
            await bot.send_message(42, "1 < 2 & no parse mode")
            edited = await bot.edit_message_text("<i>edited</i>", 42, msg.message_id,
                                                 parse_mode="HTML")
            assert isinstance(edited, telegram.Message) and edited.text == "edited"
            with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
                await bot.edit_message_text("<i>edited</i>", 42, msg.message_id,
                                            parse_mode="HTML")
            await bot.send_chat_action(42, "typing")

    asyncio.run(scenario())
    records = tg.messages_to(42)
    assert [r["text"] for r in records] == ["<i>edited</i>", "1 < 2 & no parse mode"]
    assert records[0]["plain"] == "edited" and records[0]["history"] == [
        "<b>Top</b> papers &amp; more"
    ]
    assert records[0]["reply_markup"] is None  # edit without markup drops the keyboard
    sent = tg.calls("sendMessage")
    assert [c.status for c in sent] == [200, 400, 400, 200]
    assert sent[0].params["chat_id"] == 42
    assert sent[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more:1"


def test_bot_get_updates_long_poll(tg: FakeBotAPI) -> None:
    first = tg.push_text(7, "hello")
    grp = tg.push_text(-1001, "hey 👋 @papersbot_test_bot what's new?", chat_type="supergroup")

    async def scenario() -> float:
        async with _bot(tg) as bot:
            updates = await bot.get_updates(timeout=5)
            assert [u.update_id for u in updates] == [first, grp]
            assert updates[0].effective_message is not None
            assert updates[0].effective_message.text == "hello"
            group_msg = updates[1].effective_message
            assert group_msg is not None and group_msg.chat.type == "supergroup"
            mentions = group_msg.parse_entities(["mention"])
            assert list(mentions.values()) == ["@papersbot_test_bot"]
            # long poll must wake as soon as an update arrives
            timer = threading.Timer(0.2, lambda: tg.push_command(7, "/top 2025-02-05"))
            timer.start()
            started = time.monotonic()
            updates = await bot.get_updates(offset=grp + 1, timeout=5)
            elapsed = time.monotonic() - started
            assert updates[0].effective_message is not None
            assert updates[0].effective_message.text == "/top 2025-02-05"
            assert updates[0].effective_message.entities[0].type == "bot_command"
            await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            return elapsed

    assert asyncio.run(scenario()) < 2
    assert tg.pending_updates == 0


_IGNORE_PTB_DEPRECATION = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"  # RetryAfter.retry_after int → timedelta
)


@_IGNORE_PTB_DEPRECATION
def test_bot_faults(tg: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(tg) as bot:
            tg.fail_next("sendMessage", 429, retry_after=3)
            with pytest.raises(RetryAfter) as exc:
                await bot.send_message(1, "x")
            assert _seconds(exc.value.retry_after) == 3
            tg.fail_next("sendMessage", 403, chat_id=2)
            await bot.send_message(1, "other chat unaffected")
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(2, "x")
            tg.drop_next("sendMessage")
            with pytest.raises(NetworkError):
                await bot.send_message(1, "dropped")
            await bot.send_message(1, "after drop")
        async with telegram.Bot("999:wrong", base_url=tg.base_url):
            pass

    with pytest.raises(InvalidToken):
        asyncio.run(scenario())
    assert tg.texts_to(1) == ["other chat unaffected", "after drop"]


@_IGNORE_PTB_DEPRECATION
def test_bot_rate_limit() -> None:
    with running_bot_api(rate_limit=True) as srv:

        async def scenario() -> None:
            async with _bot(srv) as bot:
                await bot.send_message(5, "one")
                await bot.send_message(6, "other chat is fine")
                with pytest.raises(RetryAfter):
                    await bot.send_message(5, "two")

        asyncio.run(scenario())
        assert srv.rate_limit_hits == 1


def test_bot_files_upload_and_download(tg: FakeBotAPI) -> None:
    tg.push_document(9, "doc-1", "digest 2025-02-05.md", b"# Papers\n\xed\x95\x9c", caption="hi")

    async def scenario() -> None:
        async with _bot(tg) as bot:
            (update,) = await bot.get_updates()
            message = update.effective_message
            assert message is not None and message.document is not None
            assert message.document.file_name == "digest 2025-02-05.md"
            file = await bot.get_file(message.document.file_id)
            assert bytes(await file.download_as_bytearray()) == b"# Papers\n\xed\x95\x9c"
            sent = await bot.send_document(
                9, b"report body", filename="리포트 \\ report.md", caption="<b>report</b>",
                parse_mode="HTML",
            )
            assert sent.document is not None and sent.caption == "report"
            again = await bot.get_file(sent.document.file_id)
            assert bytes(await again.download_as_bytearray()) == b"report body"

    asyncio.run(scenario())
    (doc,) = tg.documents_to(9)
    assert doc["content"] == b"report body" and doc["document"]["file_name"] == "리포트 \\ report.md"


def test_application_polling_end_to_end(tg: FakeBotAPI) -> None:
    async def top(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"top for {' '.join(context.args or [])}")

    async def scenario() -> None:
        app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(tg.token)
            .base_url(tg.base_url)
            .base_file_url(tg.base_file_url)
            .build()
        )
        app.add_handler(CommandHandler("top", top))
        async with app:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            await app.start()
            await app.bot.set_my_commands([("top", "Top papers of a day")])
            tg.push_command(-500, "/top 2025-02-05", chat_type="group", mention_bot=True)
            (msg,) = await tg.async_wait_for_messages(-500, 1, timeout=3)
            assert msg["text"] == "top for 2025-02-05"
            assert msg["message"]["reply_to_message"]["text"].startswith("/top@")
            await app.updater.stop()
            await app.stop()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 3
    assert tg.commands() == [{"command": "top", "description": "Top papers of a day"}]
    assert tg.calls("deleteWebhook", ok=True)


def test_stop_is_quick_with_pending_long_poll() -> None:
    srv = FakeBotAPI().start()
    outcome: dict[str, BaseException] = {}

    def poll() -> None:
        try:
            httpx.post(f"{srv.base_url}{srv.token}/getUpdates", data={"timeout": "30"}, timeout=10)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1
    thread.join(2)
    assert not thread.is_alive() and "error" in outcome
    assert not srv.errors


# --------------------------------------------------------------------------- source servers

_DAY_0205 = """## Daily Papers (2025-02-05)

### [SmolLM2: When Smol Goes Big](https://arxiv.org/abs/2502.02737)

Vote: 12

- ***What's New***: 작은 모델도 데이터를 잘 고르면 충분히 강해질 수 있다는 보고서.

### [A, B and "C": a title with commas](https://arxiv.org/abs/2502.00001)

- 쉼표와 따옴표가 든 제목.
"""


@pytest.fixture
def repo() -> Iterator[FakeDigestRepo]:
    with running_digest_repo() as srv:
        yield srv


@pytest.fixture
def hf() -> Iterator[FakeHuggingFace]:
    with running_huggingface() as srv:
        yield srv


def test_digest_repo_etag_304_round_trip(repo: FakeDigestRepo) -> None:
    repo.add_day("2025-02-05", _DAY_0205)
    url = f"{repo.source_url}/paper_logs/2025/02/05.md"
    first = httpx.get(url)
    assert first.status_code == 200 and first.text == _DAY_0205
    etag = first.headers["etag"]
    assert etag == '"' + hashlib.sha1(_DAY_0205.encode()).hexdigest() + '"'
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert int(first.headers["content-length"]) == len(_DAY_0205.encode())
    assert first.headers["last-modified"].endswith("GMT")

    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304

    repo.put("paper_logs/2025/02/05.md", _DAY_0205 + "\n- 한 줄 더.\n")
    changed = httpx.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag

    log = repo.requests
    assert [r.status for r in log] == [200, 304, 304, 200]
    assert sum(r.not_modified for r in log) == 2
    assert repo.bytes_sent() == len(first.content) + len(changed.content)
    assert log[1].headers["if-none-match"] == etag and log[1].method == "GET"
    assert log[0].route == "paper_logs/2025/02/05.md" and log[0].body == first.content
    repo.reset_log()
    assert repo.requests == []


def test_digest_repo_if_modified_since_and_404(repo: FakeDigestRepo) -> None:
    when = dtm.datetime(2025, 2, 5, 9, 30, tzinfo=dtm.UTC)
    repo.put("paper_logs/2025/02/05.md", "v1\n", modified=when)
    url = f"{repo.url}/paper_logs/2025/02/05.md"
    first = httpx.get(url)
    assert first.headers["last-modified"] == "Wed, 05 Feb 2025 09:30:00 GMT"
    assert httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": "Wed, 05 Feb 2025 09:29:59 GMT"}).status_code == 200
    assert httpx.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200
    # If-None-Match wins over If-Modified-Since
    both = {"If-None-Match": '"stale"', "If-Modified-Since": "Thu, 06 Feb 2025 00:00:00 GMT"}
    assert httpx.get(url, headers=both).status_code == 200
    # a change within the same second still moves Last-Modified on
    repo.put("paper_logs/x.md", "a")
    before = httpx.get(f"{repo.url}/paper_logs/x.md").headers["last-modified"]
    repo.put("paper_logs/x.md", "b")
    assert httpx.get(f"{repo.url}/paper_logs/x.md", headers={"If-Modified-Since": before}).status_code == 200

    assert repo.remove("paper_logs/2025/02/05.md") and not repo.remove("paper_logs/2025/02/05.md")
    missing = httpx.get(url)
    assert missing.status_code == 404 and missing.text == "404: Not Found"
    assert missing.headers["content-type"] == "text/plain; charset=utf-8"


def test_digest_repo_add_day_updates_index(repo: FakeDigestRepo) -> None:
    index_url = f"{repo.url}/paper_logs/papers_list.csv"
    assert httpx.get(index_url).text == "date,title,url\n"
    rows = repo.add_day("2025-02-05", _DAY_0205)
    assert rows == [
        ("2025-02-05", "SmolLM2: When Smol Goes Big", "https://arxiv.org/abs/2502.02737"),
        ("2025-02-05", 'A, B and "C": a title with commas', "https://arxiv.org/abs/2502.00001"),
    ]
    repo.add_day("2025-02-06", "## Daily Papers (2025-02-06)\n\n### [Next](https://arxiv.org/abs/2502.03000)\n\n- x\n")
    text = httpx.get(index_url).text
    assert text.splitlines()[2] == '2025-02-05,"A, B and ""C"": a title with commas",https://arxiv.org/abs/2502.00001'
    assert list(csv.reader(io.StringIO(text)))[1:] == [list(r) for r in repo.index_rows()]
    assert len(repo.index_rows()) == 3

    # a re-run appended to the same day: second header in the file, its rows appended to the index
    rerun = "## Daily Papers (2025-02-06)\n\n### [Later](https://arxiv.org/abs/2502.03001)\n\n- y\n"
    repo.add_day("2025-02-06", rerun, append=True)
    day = httpx.get(f"{repo.url}/paper_logs/2025/02/06.md").text
    assert day.count("## Daily Papers (2025-02-06)") == 2
    assert [r[2][-10:] for r in repo.index_rows()] == ["2502.02737", "2502.00001", "2502.03000", "2502.03001"]
    # replacing a day drops its old index rows
    repo.add_day("2025-02-05", "## Daily Papers (2025-02-05)\n\n### [Only](https://arxiv.org/abs/2502.09999)\n")
    assert [r[2][-10:] for r in repo.index_rows()] == ["2502.03000", "2502.03001", "2502.09999"]


def test_huggingface_daily_list_and_unlisted_paper(hf: FakeHuggingFace) -> None:
    hf.add_paper("2025-02-05", "2502.02737", "SmolLM2", "We train a small model.", 12, ["Loubna Ben Allal"],
                 github_repo="https://github.com/huggingface/smollm", keywords=["small language model"])
    hf.add_paper("2025-02-05", "2502.00002", "Hidden", "Not on the list.", 3, listed=False)
    day = httpx.get(f"{hf.api_url}/daily_papers", params={"date": "2025-02-05"})
    assert day.status_code == 200 and day.headers["content-type"].startswith("application/json")
    items = day.json()
    assert [item["paper"]["id"] for item in items] == ["2502.02737"]
    paper = items[0]["paper"]
    assert items[0]["title"] == "SmolLM2" and "publishedAt" in items[0] and items[0]["numComments"] == 0
    assert paper["summary"] == "We train a small model." and paper["upvotes"] == 12
    assert paper["authors"][0]["name"] == "Loubna Ben Allal"
    assert paper["githubRepo"] == "https://github.com/huggingface/smollm"
    assert paper["ai_keywords"] == ["small language model"]

    hidden = httpx.get(f"{hf.api_url}/papers/2502.00002").json()
    assert hidden["id"] == "2502.00002" and "githubRepo" not in hidden and "ai_keywords" not in hidden
    assert httpx.get(f"{hf.url}/papers/2502.02737").json()["title"] == "SmolLM2"  # /api is optional
    gone = httpx.get(f"{hf.api_url}/papers/2502.99999")
    assert gone.status_code == 404 and gone.json() == {"error": "Paper not found"}
    assert httpx.get(f"{hf.api_url}/daily_papers", params={"date": "2020-01-01"}).json() == []

    assert hf.set_upvotes("2502.02737", 40) == 1
    assert httpx.get(f"{hf.api_url}/papers/2502.02737").json()["upvotes"] == 40
    assert httpx.get(f"{hf.api_url}/daily_papers?date=2025-02-05").json()[0]["paper"]["upvotes"] == 40
    with pytest.raises(KeyError):
        hf.set_upvotes("2502.99999", 1)
    assert [r.route for r in hf.requests_to("papers/")] == ["papers/2502.00002", "papers/2502.02737",
                                                             "papers/2502.99999", "papers/2502.02737"]
    assert hf.requests[0].query == {"date": ["2025-02-05"]}


def test_source_faults_status_rate_limit_html_garbage(repo: FakeDigestRepo, hf: FakeHuggingFace) -> None:
    repo.add_day("2025-02-05", _DAY_0205)
    day_url = f"{repo.url}/paper_logs/2025/02/05.md"
    repo.fail("/paper_logs/2025/", "status", times=2, code=503, retry_after=2)
    repo.fail("paper_logs/2025/02/05.md", "rate_limit", retry_after=30)
    repo.fail("paper_logs/", "html")
    assert repo.pending_faults() == 4
    index = httpx.get(f"{repo.url}/paper_logs/papers_list.csv")  # matches only the html fault
    assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>" in index.text
    for _ in range(2):
        busy = httpx.get(day_url)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert busy.text == "503: Service Unavailable"
    limited = httpx.get(day_url)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "30"
    assert httpx.get(day_url).text == _DAY_0205 and repo.pending_faults() == 0
    assert [r.fault for r in repo.requests] == ["html", "status", "status", "rate_limit", None]

    hf.add_paper("2025-02-05", "2502.02737", "SmolLM2", "abstract", 12)
    hf.fail("daily_papers?date=2025-02-05", "garbage_json")
    hf.fail("api/papers/", "status", code=500, body="oops", content_type="text/plain")
    assert httpx.get(f"{hf.api_url}/daily_papers?date=2025-02-06").json() == []  # other date: no fault
    garbage = httpx.get(f"{hf.api_url}/daily_papers?date=2025-02-05")
    assert garbage.status_code == 200 and garbage.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        garbage.json()
    broken = httpx.get(f"{hf.api_url}/papers/2502.02737")
    assert broken.status_code == 500 and broken.text == "oops"
    hf.fail("", "rate_limit")
    limited = httpx.get(f"{hf.api_url}/papers/2502.02737")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1" and "error" in limited.json()
    hf.fail("*", "html", code=502)
    assert httpx.get(f"{hf.api_url}/daily_papers").status_code == 502

    with pytest.raises(ValueError):
        repo.fail("", "garbage_json")
    with pytest.raises(ValueError):
        hf.fail("", "explode")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hf.fail("", "timeout", secs=1)
    hf.fail("", "drop")
    hf.clear_faults()
    assert hf.pending_faults() == 0


def test_source_faults_timeout_truncate_drop(repo: FakeDigestRepo) -> None:
    repo.add_day("2025-02-05", _DAY_0205)
    url = f"{repo.url}/paper_logs/2025/02/05.md"
    size = len(_DAY_0205.encode())

    repo.fail("paper_logs/", "timeout", seconds=0.6)
    started = time.monotonic()
    slow = httpx.get(url, timeout=2)
    assert slow.status_code == 200 and 0.5 < time.monotonic() - started < 1.5
    repo.fail("paper_logs/", "timeout", seconds=30)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, timeout=0.2)
    assert time.monotonic() - started < 1
    assert repo.requests[-1].fault == "timeout" and repo.requests[-1].status is None  # still "answering"

    repo.fail("paper_logs/", "truncate")
    with pytest.raises(httpx.RemoteProtocolError, match=f"expected {size}"):
        httpx.get(url)
    cut = repo.requests[-1]
    assert cut.status == 200 and cut.bytes_sent == size // 2 and cut.response_headers["ETag"]
    repo.fail("paper_logs/", "truncate", keep=10)
    with httpx.Client() as client, client.stream("GET", url) as response:
        assert response.headers["content-length"] == str(size)
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert repo.requests[-1].body == _DAY_0205.encode()[:10]

    repo.fail("paper_logs/", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert repo.requests[-1].status is None and repo.requests[-1].fault == "drop"
    assert httpx.get(url).status_code == 200
    started = time.monotonic()
    repo.stop()  # the 30 s timeout handler is still sleeping: stop must not wait for it
    assert time.monotonic() - started < 1
