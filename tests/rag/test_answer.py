"""The answer engine end to end: real retrieval, the real ``openai`` client against a fake endpoint."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import SecretStr

from rag.answer import AnswerEngine
from rag.components import Components
from rag.ingest import Indexer
from rag.llm import ChatLLM
from rag.memory import ConversationMemory
from tests.conftest import SAMPLES
from tests.fakes.fixtures import running_openai
from tests.fakes.openai_server import FakeOpenAI

OMNIHUMAN = "2502.01061"


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with running_openai(api_key="sk-test") as server:
        yield server


def engine_for(library: Components, server: FakeOpenAI | None, *, timeout: float = 5.0, retries: int = 1,
               base_url: str | None = None, today: date | None = None) -> AnswerEngine:
    """An engine over ``library``; with an LLM at ``server`` (or ``base_url``) when given; ``today`` for
    relative dates ("this week"), the real date by default."""
    llm = None
    url = base_url or (server.base_url if server else None)
    if url:
        settings = library.settings.model_copy(update={"llm": library.settings.llm.model_copy(update={
            "base_url": url, "api_key": SecretStr("sk-test"), "timeout_s": timeout,
            "max_retries": retries, "model": "fake-model",
        })})
        llm = ChatLLM.from_settings(settings.llm)
        llm.backoff_s = 0.05
    return AnswerEngine.from_components(library, llm=llm, memory=ConversationMemory(turns=4, conversations=10),
                                        clock=None if today is None else lambda: today)


def test_no_llm_gives_an_extractive_cited_answer_with_a_note(sample_library: Components) -> None:
    answer = engine_for(sample_library, None).ask("OmniHuman-1은 어떤 모델이야?")
    assert answer.llm["used"] is False and answer.llm["reason"] == "no LLM configured"
    assert answer.citations[0].arxiv_id == OMNIHUMAN
    assert answer.citations[0].url == f"https://arxiv.org/abs/{OMNIHUMAN}"
    assert "[1]" in answer.text and "LLM 없이" in answer.text
    assert [s.paper.arxiv_id for s in answer.sources][: len(answer.citations)] == [
        c.arxiv_id for c in answer.citations]


def test_llm_answer_citations_are_validated(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply(
        "OmniHuman-1 scales human animation with mixed conditions [1]. It beats baselines [7]. "
        "Details: [the paper](https://arxiv.org/abs/0000.00000) and www.fake.example [1][1]."
    )
    answer = engine_for(sample_library, fake_llm).ask("What is OmniHuman-1?")
    assert answer.llm == {"used": True, "model": "fake-model", "reason": None}
    assert "[7]" not in answer.text and "0000.00000" not in answer.text and "fake.example" not in answer.text
    assert answer.text.count("[1]") == 2 and "[2]" not in answer.text
    assert [c.arxiv_id for c in answer.citations] == [OMNIHUMAN]
    assert answer.citations[0].url == f"https://arxiv.org/abs/{OMNIHUMAN}"

    request = fake_llm.chat_requests()[-1]
    assert request.authorization == "Bearer sk-test"
    system, user = request.messages[0]["content"], request.messages[-1]["content"]
    assert "English" in system
    assert "[1] OmniHuman-1" in user and "Question: What is OmniHuman-1?" in user


def test_korean_question_asks_for_a_korean_answer(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply("OmniHuman-1은 인간 애니메이션 모델입니다 [1].")
    answer = engine_for(sample_library, fake_llm).ask("OmniHuman-1은 무엇인가요?")
    assert "Korean" in fake_llm.chat_requests()[-1].messages[0]["content"]
    assert answer.language == "ko" and answer.citations[0].arxiv_id == OMNIHUMAN


def test_streaming_tokens_reach_the_caller(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_reply("OmniHuman-1 animates people from one image [1].", chunks=5)
    tokens: list[str] = []
    answer = engine_for(sample_library, fake_llm).ask("What is OmniHuman-1?", on_token=tokens.append)
    assert len(tokens) == 5 and "".join(tokens) == "OmniHuman-1 animates people from one image [1]."
    assert answer.llm["used"] and answer.citations[0].arxiv_id == OMNIHUMAN


def test_timeout_retries_then_falls_back_to_extractive(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_delay(3.0, "too late [1]")
    fake_llm.script_delay(3.0, "too late [1]")
    answer = engine_for(sample_library, fake_llm, timeout=0.5, retries=1).ask("What is OmniHuman-1?")
    assert answer.llm["used"] is False and answer.llm["reason"] == "the LLM timed out"
    assert len(fake_llm.chat_requests()) == 2  # one try + one retry, bounded
    assert "timed out" in answer.text and answer.citations[0].arxiv_id == OMNIHUMAN


def test_429_is_retried_and_then_answered(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    fake_llm.script_error(429, retry_after=0.1)
    fake_llm.script_reply("OmniHuman-1 [1].")
    answer = engine_for(sample_library, fake_llm, retries=2).ask("What is OmniHuman-1?")
    assert answer.llm["used"] is True and len(fake_llm.chat_requests()) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_fall_back_after_bounded_retries(sample_library: Components, fake_llm: FakeOpenAI,
                                                       status: int) -> None:
    for _ in range(3):
        fake_llm.script_error(status)
    answer = engine_for(sample_library, fake_llm, retries=2).ask("What is OmniHuman-1?")
    assert answer.llm["reason"] == f"the LLM server failed ({status})"
    assert len(fake_llm.chat_requests()) == 3
    assert answer.citations and "Extractive answer" in answer.text


def test_refused_connection_falls_back(sample_library: Components) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = engine_for(sample_library, None, base_url=f"http://127.0.0.1:{port}/v1", retries=0).ask(
        "What is OmniHuman-1?")
    assert answer.llm["reason"] == "the LLM endpoint is unreachable" and answer.citations


def test_follow_up_uses_the_previous_turn(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    engine = engine_for(sample_library, fake_llm)
    fake_llm.script_reply("OmniHuman-1 is a human animation model [1].")
    first = engine.ask("OmniHuman-1에 대해 알려줘", conversation_id="chat-1")
    assert first.citations[0].arxiv_id == OMNIHUMAN
    fake_llm.script_reply("그 논문은 기존 방법보다 좋은 성능을 보였습니다 [1].")
    second = engine.ask("그 논문의 성능은?", conversation_id="chat-1")
    assert second.citations[0].arxiv_id == OMNIHUMAN
    messages = fake_llm.chat_requests()[-1].messages
    assert messages[1] == {"role": "user", "content": "OmniHuman-1에 대해 알려줘"}
    assert messages[2]["role"] == "assistant" and "[1]" in messages[2]["content"]
    engine.memory.reset("chat-1")
    assert engine.memory.turns("chat-1") == []


# The samples' digests are 2024-11-19, 2024-11-22 and 2025-02-05; 2025-02-06 is a Thursday.
FEB_6 = date(2025, 2, 6)


@pytest.mark.parametrize(
    ("question", "today", "says"),
    [
        ("What's the best way to invest in bitcoin?", None, "None of the stored digests cover this question."),
        # A vote word and a period do not make it a listing of that period's top papers: its topic is
        # searched within the period, and nothing there covers it.
        ("What's the best way to invest in bitcoin this week?", FEB_6,
         "None of the papers in the 2025-02-03 – 2025-02-06 digests cover this question."),
        ("이번 주 비트코인 투자로 가장 인기 있는 방법은?", FEB_6,
         "2025-02-03 – 2025-02-06 다이제스트에는 이 질문에 답하는 논문이 없습니다."),
        ("What's the best way to invest in bitcoin this year?", FEB_6,
         "None of the papers in the 2025-01-01 – 2025-02-06 digests cover this question."),
        # This year has no digest yet: said so, and the nearest digest is searched instead.
        ("What's the best way to invest in bitcoin this year?", date(2026, 3, 10),
         "There is no digest for this year (2026-01-01 – 2026-03-10) yet: the stored digests end on 2025-02-05, "
         "so this answer uses that one, the nearest.\n\nNone of the papers in the 2025-02-05 digest cover this "
         "question."),
        ("올해 비트코인 투자로 가장 인기 있는 방법은?", date(2026, 3, 10),
         "올해(2026-01-01 – 2026-03-10) 다이제스트는 아직 없습니다. 저장된 다이제스트는 2025-02-05까지라서, 가장 "
         "가까운 그 다이제스트로 답합니다.\n\n2025-02-05 다이제스트에는 이 질문에 답하는 논문이 없습니다."),
    ],
)
def test_uncovered_question_says_so_and_cites_nothing(sample_library: Components, fake_llm: FakeOpenAI, question: str,
                                                      today: date | None, says: str) -> None:
    answer = engine_for(sample_library, fake_llm, today=today).ask(question)
    assert answer.mode == "search" and answer.covered is False and answer.citations == []
    assert answer.text == says
    assert fake_llm.chat_requests() == []  # no LLM call for what the digests don't cover


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # The most voted papers of these dates are others (OmniHuman-1, 134 votes; MPO, 42): the topic decides.
        ("best papers on KV cache compression this week", ["2502.01068"]),
        ("이번 주 가장 인기 있는 KV 캐시 압축 논문", ["2502.01068"]),
        ("most voted Gaussian splatting papers in November 2024", ["2411.11024", "2411.14384"]),
        ("2024년 11월 가장 인기 있는 가우시안 스플래팅 논문은?", ["2411.11024", "2411.14384"]),
        ("Feb 1-5 most voted paper about reinforcement learning rewards", ["2502.01456"]),
        ("2월 1일부터 5일까지 추천 많은 강화학습 보상 논문", ["2502.01456"]),
    ],
)
def test_a_topic_with_a_vote_word_and_dates_is_searched_within_the_dates(sample_library: Components,
                                                                        question: str, expected: list[str]) -> None:
    answer = engine_for(sample_library, None, today=FEB_6).ask(question)
    assert answer.mode == "search" and answer.covered
    assert [c.arxiv_id for c in answer.citations] == expected


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("most voted KV cache compression paper on Nov 22, 2024",
         "None of the papers in the 2024-11-22 digest cover this question."),
        ("2024년 11월 22일 가장 인기 있는 KV 캐시 압축 논문",
         "2024-11-22 다이제스트에는 이 질문에 답하는 논문이 없습니다."),
    ],
)
def test_a_topic_covered_only_on_other_dates_is_not_covered_within_the_asked_ones(sample_library: Components,
                                                                                  question: str, says: str) -> None:
    # FastKV (2025-02-05) is about KV cache compression; the 2024-11-22 digest has nothing on it.
    answer = engine_for(sample_library, None, today=FEB_6).ask(question)
    assert answer.mode == "search" and not answer.covered and answer.citations == [] and answer.text == says


@pytest.mark.parametrize(
    ("question", "head"),
    [
        ("이번 주 인기 논문", "2025-02-03 – 2025-02-06 다이제스트에서 추천을 가장 많이 받은 논문입니다:"),
        ("top papers this week", "Most-voted papers of the 2025-02-03 – 2025-02-06 digests:"),
        ("작년 인기 논문", "2024-01-01 – 2024-12-31 다이제스트에서 추천을 가장 많이 받은 논문입니다:"),
        ("last year's most voted paper", "Most-voted papers of the 2024-01-01 – 2024-12-31 digests:"),
        ("올해 가장 추천 많은 논문", "2025-01-01 – 2025-02-06 다이제스트에서 추천을 가장 많이 받은 논문입니다:"),
    ],
)
def test_questions_without_a_topic_stay_vote_listings(sample_library: Components, question: str, head: str) -> None:
    answer = engine_for(sample_library, None, today=FEB_6).ask(question)
    assert answer.mode == "top" and answer.text.startswith(head + "\n1. ")
    ranked = [c.votes or 0 for c in answer.citations]
    assert ranked and ranked == sorted(ranked, reverse=True)
    year = "2024" if "작년" in question or "last year" in question else "2025"
    assert all(c.date.startswith(year) for c in answer.citations)


def test_date_vote_and_lookup_questions_use_metadata(sample_library: Components) -> None:
    engine = engine_for(sample_library, None)
    top = engine.ask("2025년 2월 5일 가장 추천 많은 논문은?")
    assert top.mode == "top" and [c.arxiv_id for c in top.citations] == [OMNIHUMAN] and "134" in top.text
    lookup = engine.ask("https://arxiv.org/abs/2411.14384 요약해줘")
    assert lookup.mode == "lookup" and lookup.citations[0].arxiv_id == "2411.14384"
    unknown = engine.ask("2501.99999 요약해줘")
    assert unknown.citations == [] and "2501.99999" in unknown.text
    no_digest = engine.ask("2023년 1월 1일 인기 논문")
    assert no_digest.citations == [] and "2023-01-01" in no_digest.text


def test_answer_json_shape(sample_library: Components) -> None:
    data = engine_for(sample_library, None).ask("What is OmniHuman-1?").to_json()
    assert {"answer", "citations", "sources", "llm", "timings_ms"} <= set(data)
    assert set(data["citations"][0]) == {"n", "arxiv_id", "title", "url", "date", "votes"}
    assert "arxiv_id" in data["sources"][0] and "score" in data["sources"][0]
    assert data["llm"]["used"] is False and data["timings_ms"]["total"] > 0


def test_a_question_naming_a_distinctive_title_word_is_covered(sample_library: Components) -> None:
    answer = engine_for(sample_library, None).ask("What is Hymba?")
    assert answer.covered and answer.citations[0].arxiv_id == "2411.13676"


def test_a_standalone_question_with_a_pronoun_is_not_a_follow_up(sample_library: Components) -> None:
    engine = engine_for(sample_library, None)
    engine.ask("KV 캐시를 줄이는 방법을 다룬 논문은?", conversation_id="c")
    answer = engine.ask("What is DINO-X and what kinds of objects can it detect?", conversation_id="c")
    assert answer.citations[0].arxiv_id == "2411.14347"


def with_abstract(library: Components) -> Components:
    """``library`` after a sync gave OmniHuman-1 its English abstract (no network: stored directly)."""
    from dataclasses import replace

    from rag.ingest import IngestReport, ingest_papers

    paper = library.catalog.get(OMNIHUMAN)
    assert paper is not None
    abstract = ("OmniHuman-1 animates a person from one image and a motion signal. "
                "Mixing audio, pose and text conditions in training lets it use far more data.")
    report = ingest_papers(Indexer.from_components(library), [replace(paper, abstract=abstract)], IngestReport())
    assert report.embedded == 1  # the abstract node only
    return library


def test_extractive_answers_quote_the_english_abstract_to_english_questions(fast_library: Components) -> None:
    from rag.ingest import ingest_paths

    ingest_paths(Indexer.from_components(fast_library), [str(SAMPLES)])
    # A hash embedder carries no meaning: rank on the question's words alone.
    fast_library.settings = fast_library.settings.model_copy(
        update={"retrieval": fast_library.settings.retrieval.model_copy(update={"dense_weight": 0.0})})
    engine = engine_for(with_abstract(fast_library), None)
    english = engine.ask("What does OmniHuman-1 animate?")
    assert OMNIHUMAN in [c.arxiv_id for c in english.citations]
    assert "animates a person from one image" in english.text
    korean = engine.ask("OmniHuman-1 설명해줘")
    assert OMNIHUMAN in [c.arxiv_id for c in korean.citations] and "animates a person" not in korean.text
    looked_up = engine.ask(f"{OMNIHUMAN}")  # an id: every section, the abstract included
    assert "Abstract: OmniHuman-1 animates" in looked_up.text and "What's New: " in looked_up.text


# --- authors: Alan Yuille wrote two of the sample papers, Jan Kaczmarczyk one --------------------------------
YUILLE_NEWEST_FIRST = ["2411.14384", "2411.11844"]  # 2024-11-22 (2 votes), 2024-11-19 (34 votes)


@pytest.mark.parametrize(
    ("question", "head"),
    [
        ("Alan Yuille 논문", "아카이브에 있는 Alan Yuille의 논문은 2편입니다 (최신순):"),
        ("Alan Yuille이 쓴 논문", "아카이브에 있는 Alan Yuille의 논문은 2편입니다 (최신순):"),
        ("Alan Yuille 논문 알려줘", "아카이브에 있는 Alan Yuille의 논문은 2편입니다 (최신순):"),
        ("papers by Alan Yuille", "The archive has 2 papers by Alan Yuille (newest first):"),
        ("Alan Yuille's papers", "The archive has 2 papers by Alan Yuille (newest first):"),
    ],
)
def test_an_authors_papers_are_listed_newest_first(sample_library: Components, question: str, head: str) -> None:
    answer = engine_for(sample_library, None).ask(question)
    assert answer.mode == "author" and answer.covered
    assert [c.arxiv_id for c in answer.citations] == YUILLE_NEWEST_FIRST
    assert answer.citations[0].url == "https://arxiv.org/abs/2411.14384"
    lines = answer.text.splitlines()
    assert lines[0] == head
    votes = ("2표", "34표") if answer.language == "ko" else ("2 votes", "34 votes")
    assert lines[1] == ("1. Baking Gaussian Splatting into Diffusion Denoiser for Fast and Scalable Single-stage "
                        f"Image-to-3D Generation (2024-11-22) — {votes[0]} [1]")
    assert lines[2] == f"2. Generative World Explorer (2024-11-19) — {votes[1]} [2]"
    assert "ⓘ" not in answer.text  # no extractive note: a catalog answer


def test_an_author_question_never_asks_the_llm(sample_library: Components, fake_llm: FakeOpenAI) -> None:
    answer = engine_for(sample_library, fake_llm).ask("Jan Kaczmarczyk의 논문")
    assert answer.mode == "author" and [c.arxiv_id for c in answer.citations] == ["2411.11024"]
    assert answer.text.startswith("아카이브에 있는 Jan Kaczmarczyk의 논문은 1편입니다") and not fake_llm.chat_requests()
    assert answer.llm == {"used": False, "model": None, "reason": "metadata question: answered from the catalog"}


def test_an_authors_topic_is_searched_among_their_papers_only(sample_library: Components) -> None:
    engine = engine_for(sample_library, None)
    everyone = engine.ask("Gaussian Splatting 논문")
    assert "2411.11024" in [c.arxiv_id for c in everyone.citations]  # VeGaS: Gaussian splatting, not Yuille's
    theirs = engine.ask("Alan Yuille의 Gaussian Splatting 논문")
    assert theirs.mode == "search" and theirs.covered
    assert [c.arxiv_id for c in theirs.citations] == ["2411.14384"]
    assert {s.paper.arxiv_id for s in theirs.sources} <= set(YUILLE_NEWEST_FIRST)
    world = engine.ask("Alan Yuille's papers on world models")
    assert [c.arxiv_id for c in world.citations] == ["2411.11844"]


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("Alan Yuille's papers on human animation", "None of the 2 papers by Alan Yuille cover this question."),
        ("Alan Yuille의 인간 애니메이션 논문", "Alan Yuille의 논문 2편 중에는 이 질문에 답하는 논문이 없습니다."),
    ],
)
def test_an_authors_topic_none_of_their_papers_covers_is_not_covered(sample_library: Components, question: str,
                                                                     text: str) -> None:
    engine = engine_for(sample_library, None)
    assert engine.ask("papers on human animation").citations[0].arxiv_id == OMNIHUMAN  # covered by someone else
    answer = engine.ask(question)
    assert (answer.mode, answer.covered, answer.text, answer.citations) == ("search", False, text, [])


def test_an_author_with_dates_lists_only_those_dates(sample_library: Components) -> None:
    engine = engine_for(sample_library, None)
    answer = engine.ask("Alan Yuille 2024년 11월 19일 논문")
    assert answer.mode == "author" and [c.arxiv_id for c in answer.citations] == ["2411.11844"]
    assert answer.text.splitlines()[0] == ("아카이브에 있는 Alan Yuille의 논문 2편 중 2024-11-19 다이제스트의 논문은 "
                                           "1편입니다 (최신순):")
    none = engine.ask("papers by Alan Yuille in 2025")
    assert none.text == ("The archive has 2 papers by Alan Yuille; none in the 2025-01-01 – 2025-12-31 digests.")
    assert none.citations == [] and not none.covered


def test_an_authors_most_voted_paper(sample_library: Components) -> None:
    answer = engine_for(sample_library, None).ask("Alan Yuille의 가장 인기 있는 논문")
    assert answer.text.splitlines()[0] == "아카이브에 있는 Alan Yuille의 논문은 2편입니다 (추천 많은 순):"
    assert [c.arxiv_id for c in answer.citations] == ["2411.11844"]
    voted = engine_for(sample_library, None).ask("papers by Alan Yuille with at least 10 votes")
    assert voted.text.splitlines()[0] == (
        "The archive has 2 papers by Alan Yuille; 1 got at least 10 votes (newest first):")


@pytest.mark.parametrize("question", ["Gaussian Splatting 논문", "Kaiming He 논문", "VeGaS Video Gaussian Splatting"])
def test_names_that_are_no_sample_author_are_no_author_question(sample_library: Components, question: str) -> None:
    assert engine_for(sample_library, None).find(question).plan.author is None


def test_an_authors_name_does_not_decide_the_answers_language(sample_library: Components) -> None:
    # 21 Latin letters to 2 syllables would make any other question English.
    answer = engine_for(sample_library, None).ask("Weronika Smolak-Dyżewska 논문")
    assert answer.language == "ko" and answer.mode == "author"
    assert answer.text.splitlines()[0] == "아카이브에 있는 Weronika Smolak-Dyżewska의 논문은 1편입니다 (최신순):"
    assert engine_for(sample_library, None).ask("Weronika Smolak-Dyżewska's papers").language == "en"
