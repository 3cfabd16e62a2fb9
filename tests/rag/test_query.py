from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import pytest

from config.settings import load_settings
from rag.answer import Answer, AnswerEngine
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.query import author_candidates, plan_query
from rag.storage.catalog import AuthorMatch
from tests.conftest import SAMPLES, open_components
from tests.helpers import HashEmbedding

KNOWN = ["2025-02-05", "2025-01-28", "2024-11-22", "2024-11-19", "2024-10-25"]
TODAY = date(2025, 2, 6)


@pytest.mark.parametrize(
    ("question", "mode", "dates", "limit"),
    [
        ("2025년 2월 5일 가장 추천 많은 논문", "top", ["2025-02-05"], None),
        ("top papers on Feb 5", "top", ["2025-02-05"], None),
        ("Top 3 papers by votes on Nov 22, 2024", "top", ["2024-11-22"], 3),
        ("2월 5일 상위 5개 논문 알려줘", "top", ["2025-02-05"], 5),
        ("오늘의 인기 논문", "top", ["2025-02-05"], None),
        ("yesterday's top papers", "top", ["2025-02-05"], None),
        ("지난주 논문 목록", "top", ["2025-02-05", "2025-01-28"][:1], None),
        ("2025-02-05 digest에서 KV 캐시 압축 논문", "search", ["2025-02-05"], None),
        ("Which papers use Monte Carlo Tree Search?", "search", None, None),
    ],
)
def test_dates_and_votes_route_to_metadata(question: str, mode: str, dates: list[str] | None,
                                           limit: int | None) -> None:
    plan = plan_query(question, KNOWN, TODAY)
    assert plan.mode == mode
    assert plan.dates == dates
    assert plan.limit == limit


@pytest.mark.parametrize(
    ("question", "ids"),
    [
        ("2411.14384 논문 요약해줘", ["2411.14384"]),
        ("https://arxiv.org/abs/2411.13807v2 what is new?", ["2411.13807"]),
        ("compare 2502.01061 and https://arxiv.org/pdf/2411.14384", ["2502.01061", "2411.14384"]),
    ],
)
def test_arxiv_ids_and_urls_are_direct_lookups(question: str, ids: list[str]) -> None:
    plan = plan_query(question, KNOWN, TODAY)
    assert plan.mode == "lookup" and plan.arxiv_ids == ids


def test_least_and_exact_votes() -> None:
    least = plan_query("What was the least-voted paper on Nov 22, 2024?", KNOWN, TODAY)
    assert least.mode == "top" and least.ascending
    zero = plan_query("2024-10-25에 0표 받은 논문들은?", KNOWN, TODAY)
    assert zero.votes_equal == 0 and zero.dates == ["2024-10-25"]


def test_date_without_year_prefers_a_stored_digest() -> None:
    assert plan_query("11월 22일 논문", KNOWN, date(2026, 11, 21)).dates == ["2024-11-22"]
    assert plan_query("11월 23일 논문", KNOWN, date(2026, 11, 21)).dates == ["2026-11-23"]


# --- vote conditions, periods and relative dates (issue 13, item 3) -------------------------------------
@pytest.mark.parametrize(
    ("question", "low", "high"),
    [
        ("2025년 2월 5일에 100표 이상 받은 논문들은?", 100, None),
        ("2월 5일 100표 넘는 논문", 101, None),
        ("추천 수가 100 이상인 논문", 100, None),
        ("100표보다 많이 받은 논문", 101, None),
        ("10표 미만 논문", None, 9),
        ("10표도 안 되는 논문", None, 9),
        ("5표 이하 논문", None, 5),
        ("10~50표 받은 논문", 10, 50),
        ("0표 받은 논문", 0, 0),
        ("papers with at least 50 votes on Feb 5", 50, None),
        ("more than 100 votes on 2025-02-05", 101, None),
        ("Which papers got over 100 upvotes?", 101, None),
        ("papers with 20 or more votes", 20, None),
        ("fewer than 10 votes on Nov 22, 2024", None, 9),
        ("at most 3 votes", None, 3),
        ("exactly 0 votes on 2024-11-22", 0, 0),
        ("papers with no votes", 0, 0),
        ("between 10 and 50 votes", 10, 50),
        ("at least 10 and fewer than 50 votes", 10, 49),
    ],
)
def test_vote_conditions_in_both_languages(question: str, low: int | None, high: int | None) -> None:
    plan = plan_query(question, KNOWN, TODAY)
    assert (plan.votes_min, plan.votes_max) == (low, high)
    assert plan.by_votes and plan.mode == "top" and plan.topical == ""


def test_a_condition_never_matches_unknown_votes() -> None:
    zero = plan_query("0표 받은 논문", KNOWN, TODAY)
    assert zero.votes_match(0) and not zero.votes_match(None) and not zero.votes_match(1)
    fewer = plan_query("fewer than 10 votes", KNOWN, TODAY)
    assert fewer.votes_match(9) and not fewer.votes_match(10) and not fewer.votes_match(None)
    assert plan_query("top 5 papers", KNOWN, TODAY).votes_match(None)  # no condition: everything takes part


def test_top_n_and_a_topic_are_not_vote_counts() -> None:
    top = plan_query("top 5 papers by votes", KNOWN, TODAY)
    assert top.limit == 5 and not top.votes_condition
    topic = plan_query("KV 캐시 압축 논문 중 50표 이상", KNOWN, TODAY)
    assert topic.mode == "search" and topic.votes_min == 50 and "KV" in topic.topical


STORED = ["2025-04-02", "2025-04-01", "2025-03-28", "2025-02-07", "2025-02-05", "2025-02-04", "2025-02-03",
          "2025-01-28", "2024-11-22", "2024-11-19"]
APRIL_3 = date(2025, 4, 3)  # a Thursday


@pytest.mark.parametrize(
    ("question", "dates", "words"),
    [
        # ranges
        ("Feb 1–5 top papers", ["2025-02-05", "2025-02-04", "2025-02-03"], "2025-02-01..2025-02-05"),
        ("most voted from Feb 3 to Feb 5", ["2025-02-05", "2025-02-04", "2025-02-03"], "2025-02-03..2025-02-05"),
        ("between Feb 4 and Feb 7, 2025, most voted", ["2025-02-07", "2025-02-05", "2025-02-04"],
         "2025-02-04..2025-02-07"),
        ("2월 1일부터 5일까지 인기 논문", ["2025-02-05", "2025-02-04", "2025-02-03"], "2025-02-01..2025-02-05"),
        ("2월 1~4일 논문", ["2025-02-04", "2025-02-03"], "2025-02-01..2025-02-04"),
        ("2025-02-01 ~ 2025-02-05 가장 추천 많은 논문", ["2025-02-05", "2025-02-04", "2025-02-03"],
         "2025-02-01..2025-02-05"),
        ("2025-02-04 to 2025-02-05 most voted", ["2025-02-05", "2025-02-04"], "2025-02-04..2025-02-05"),
        # weeks of a month
        ("2월 첫째 주 가장 추천 많은 논문", ["2025-02-07", "2025-02-05", "2025-02-04", "2025-02-03"],
         "2025-02-01..2025-02-07"),
        ("2025년 1월 마지막 주 논문", ["2025-01-28"], "2025-01-25..2025-01-31"),
        ("top papers in the first week of February", ["2025-02-07", "2025-02-05", "2025-02-04", "2025-02-03"],
         "2025-02-01..2025-02-07"),
        # months and years
        ("2025년 1월 인기 논문", ["2025-01-28"], "2025-01-01..2025-01-31"),
        ("most voted papers in January 2025", ["2025-01-28"], "2025-01-01..2025-01-31"),
        ("2월 논문 목록", ["2025-02-07", "2025-02-05", "2025-02-04", "2025-02-03"], "2025-02-01..2025-02-28"),
        ("top papers of March", ["2025-03-28"], "2025-03-01..2025-03-31"),
        ("2024년 가장 추천 많은 논문", ["2024-11-22", "2024-11-19"], "2024-01-01..2024-12-31"),
        ("most voted paper in 2024", ["2024-11-22", "2024-11-19"], "2024-01-01..2024-12-31"),
        ("2024년 12월 논문", [], "2024-12-01..2024-12-31"),  # a period with no digest: said so
        # relative periods (today is Thursday 2025-04-03)
        ("this week's top papers", ["2025-04-02", "2025-04-01"], "2025-03-31..2025-04-03"),
        ("이번 주 인기 논문", ["2025-04-02", "2025-04-01"], "2025-03-31..2025-04-03"),
        ("this month's most voted", ["2025-04-02", "2025-04-01"], "2025-04-01..2025-04-03"),
        ("이번 달 논문", ["2025-04-02", "2025-04-01"], "2025-04-01..2025-04-03"),
        ("last month's most voted paper", ["2025-03-28"], "2025-03-01..2025-03-31"),
        ("지난달 가장 추천 많은 논문", ["2025-03-28"], "2025-03-01..2025-03-31"),
        ("올해 가장 추천을 많이 받은 논문은?", ["2025-04-02", "2025-04-01", "2025-03-28", "2025-02-07", "2025-02-05",
                                       "2025-02-04", "2025-02-03", "2025-01-28"], "2025-01-01..2025-04-03"),
        ("most voted papers this year", ["2025-04-02", "2025-04-01", "2025-03-28", "2025-02-07", "2025-02-05",
                                         "2025-02-04", "2025-02-03", "2025-01-28"], "2025-01-01..2025-04-03"),
        ("작년 인기 논문", ["2024-11-22", "2024-11-19"], "2024-01-01..2024-12-31"),
        ("지난해 가장 추천 많은 논문", ["2024-11-22", "2024-11-19"], "2024-01-01..2024-12-31"),
        ("last year's most voted paper", ["2024-11-22", "2024-11-19"], "2024-01-01..2024-12-31"),
    ],
)
def test_ranges_weeks_months_years_and_relative_periods(question: str, dates: list[str], words: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.mode == "top" and plan.topical == ""
    assert plan.dates == dates and plan.date_words == words and plan.instead_of is None


def test_a_day_is_not_also_read_as_its_month_or_a_range() -> None:
    plan = plan_query("2월 5일 논문", STORED, APRIL_3)
    assert plan.dates == ["2025-02-05"] and plan.date_words == "2025-02-05"
    two = plan_query("papers on Feb 4 and Feb 7", STORED, APRIL_3)  # two days, not a range
    assert two.dates == ["2025-02-07", "2025-02-04"]


@pytest.mark.parametrize(
    ("question", "kind", "span"),
    [
        ("this week's top papers", "this_week", "2025-09-08..2025-09-10"),
        ("이번 주 인기 논문", "this_week", "2025-09-08..2025-09-10"),
        ("this month's papers", "this_month", "2025-09-01..2025-09-10"),
        ("지난달 인기 논문", "last_month", "2025-08-01..2025-08-31"),
        ("yesterday's top papers", "yesterday", "2025-09-09"),
        ("today's top papers", "today", "2025-09-10"),
        ("오늘 인기 논문", "today", "2025-09-10"),
    ],
)
def test_a_relative_period_after_the_archive_ends_uses_the_nearest_digest(question: str, kind: str,
                                                                        span: str) -> None:
    plan = plan_query(question, STORED, date(2025, 9, 10))
    assert plan.relative == kind and plan.instead_of == span and plan.archive_ends
    assert plan.dates == ["2025-04-02"] and plan.mode == "top"


@pytest.mark.parametrize(
    ("question", "kind", "span", "today"),
    [
        ("올해 인기 논문", "this_year", "2026-01-01..2026-03-10", date(2026, 3, 10)),
        ("this year's most voted papers", "this_year", "2026-01-01..2026-03-10", date(2026, 3, 10)),
        ("작년 가장 추천 많은 논문", "last_year", "2026-01-01..2026-12-31", date(2027, 2, 1)),
        ("last year's top papers", "last_year", "2026-01-01..2026-12-31", date(2027, 2, 1)),
    ],
)
def test_a_year_after_the_archive_ends_uses_the_newest_digest(question: str, kind: str, span: str,
                                                              today: date) -> None:
    plan = plan_query(question, STORED, today)
    assert plan.relative == kind and plan.instead_of == span and plan.archive_ends
    assert plan.dates == ["2025-04-02"] and plan.mode == "top"


def test_a_relative_day_in_a_gap_uses_the_digest_before_it() -> None:
    plan = plan_query("어제 인기 논문", STORED, date(2025, 4, 1))  # 2025-03-31 has no digest
    assert plan.instead_of == "2025-03-31" and plan.dates == ["2025-03-28"] and not plan.archive_ends


# --- a topic with dates and a vote word: searched within the dates -------------------------------------
@pytest.mark.parametrize(
    ("question", "dates", "topic"),
    [
        ("best papers on KV cache compression this week", ["2025-04-02", "2025-04-01"], "KV cache compression"),
        ("이번 주 가장 인기 있는 KV 캐시 압축 논문", ["2025-04-02", "2025-04-01"], "KV 캐시 압축"),
        ("이번 달 가장 인기 있는 에이전트 논문", ["2025-04-02", "2025-04-01"], "에이전트"),
        ("What's the best way to invest in bitcoin this week?", ["2025-04-02", "2025-04-01"], "way invest bitcoin"),
        ("most popular diffusion papers in January 2025", ["2025-01-28"], "diffusion"),
        ("2025년 1월 인기 있는 강화학습 논문", ["2025-01-28"], "강화학습"),
        ("Feb 1-5 top papers on video generation", ["2025-02-05", "2025-02-04", "2025-02-03"], "video generation"),
        ("2월 5일 가장 인기 있는 비디오 논문", ["2025-02-05"], "비디오"),
        ("most voted paper on Feb 5 about human animation", ["2025-02-05"], "human animation"),
        ("올해 가장 추천 많은 이미지 생성 논문은?", ["2025-04-02", "2025-04-01", "2025-03-28", "2025-02-07",
                                          "2025-02-05", "2025-02-04", "2025-02-03", "2025-01-28"], "이미지 생성"),
        ("best speculative decoding papers last year", ["2024-11-22", "2024-11-19"], "speculative decoding"),
        # short topics: two letters, two syllables, a second syllable that looks like a particle
        ("이번 주 인기 로봇 논문", ["2025-04-02", "2025-04-01"], "로봇"),
        ("most voted RL papers this month", ["2025-04-02", "2025-04-01"], "RL"),
        ("이번 주 인기 3D 논문", ["2025-04-02", "2025-04-01"], "3D"),
        ("이번 달 인기 평가 논문", ["2025-04-02", "2025-04-01"], "평가"),
    ],
)
def test_a_topic_with_a_vote_word_and_dates_is_a_search_within_the_dates(question: str, dates: list[str],
                                                                        topic: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.mode == "search" and plan.by_votes and plan.dates == dates
    assert plan.topical == topic and plan.search_text == topic  # what retrieval searches: the topic alone


@pytest.mark.parametrize(
    "question",
    [
        "이번 주 1위 논문은 뭐였어?", "이번 주에 가장 많이 추천받은 논문이 뭔가요?", "이번 주 추천 수 상위 논문",
        "이번 달 인기 논문 좀 보여줄래?", "이번 주 제일 잘 나간 논문", "2월 첫째 주 가장 많은 표를 얻은 논문",
        "2024-11-22 digest의 최다 득표 논문", "2024년 11월 22일에 투표 수 2위였던 논문은?",
        "2025년 2월 5일에 추천 수가 가장 적었던 논문들", "2월 5일 digest에서 추천 제일 적은 논문",
        "What's trending this week?", "the most liked papers this month", "hottest papers this week",
        "Which papers should I read this week?", "Could you list the top 10 papers from last month?",
        "Which papers in the whole archive have 200 or more votes?", "most voted papers overall",
        # date listings without a vote word
        "2025년 2월 5일 논문 전부 보여줘", "2월 5일에 나온 논문 모두", "이번 달 논문 개수",
        "What papers came out on Feb 5?", "papers published on 2025-02-05", "Show me everything from February 5th",
    ],
)
def test_listing_phrasings_have_no_topic(question: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.mode == "top" and plan.topical == "" and plan.search_text == question


def test_a_question_without_dates_or_votes_is_searched_as_asked() -> None:
    plan = plan_query("Which papers use Monte Carlo Tree Search?", STORED, APRIL_3)
    assert plan.mode == "search" and plan.search_text == "Which papers use Monte Carlo Tree Search?"


# --- the same questions answered from the catalog -------------------------------------------------------
def _digest(day: str, papers: list[tuple[str, str, int | None]]) -> str:
    blocks = [f"## Daily Papers ({day})\n"]
    for arxiv_id, title, votes in papers:
        vote = "-" if votes is None else str(votes)
        blocks.append(f"### [{title}](https://arxiv.org/abs/{arxiv_id})\n\nVote: {vote}\n\n"
                      f"- ***What's New***: {title} 논문을 우리 말로 짧게 소개하는 문장입니다.\n")
    return "\n".join(blocks)


# Our own made-up digests: two papers tie on 2025-04-01, one has unknown votes, one paper is in two digests.
TIE_DIGESTS = {
    "2025-04-01": [("2503.10001", "Paper Cranes Folded by a Robot Arm", 57),
                   ("2503.10002", "Umbrella Design Benchmark", 57),
                   ("2503.10003", "Distilling a Tiny Calculator", 12),
                   ("2503.10004", "Votes Nobody Recorded", None),
                   ("2503.10005", "A Quiet Paper", 0)],
    "2025-04-02": [("2503.10006", "Next Day Favourite", 80),
                   ("2503.10001", "Paper Cranes Folded by a Robot Arm", 60)],
    "2025-03-28": [("2503.10008", "A Hundred Votes in March", 100),
                   ("2503.10009", "Nine Votes in March", 9)],
}


@pytest.fixture(scope="module")
def tie_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """``fast_library`` (hash embedder) holding data/samples and TIE_DIGESTS, built once for this module:
    these tests only read it."""
    root = tmp_path_factory.mktemp("ties")
    folder = root / "digests"
    folder.mkdir()
    for day, papers in TIE_DIGESTS.items():
        (folder / f"{day}.md").write_text(_digest(day, papers), encoding="utf-8")
    library = open_components(load_settings(data_dir=root / "data"), embedder=HashEmbedding())
    assert ingest_paths(Indexer.from_components(library), [str(SAMPLES), str(folder)]).added == 15 + 8
    yield library
    library.close()


def _engine(library: Components, today: date) -> AnswerEngine:
    return AnswerEngine.from_components(library, llm=None, memory=ConversationMemory(turns=4, conversations=10),
                                        clock=lambda: today)


def _cited(answer: Answer) -> list[str]:
    return [c.arxiv_id for c in answer.citations]


@pytest.fixture
def engine(tie_library: Components) -> AnswerEngine:
    return _engine(tie_library, APRIL_3)


@pytest.mark.parametrize("question", ["most voted on 2025-04-01", "2025년 4월 1일 가장 추천 많은 논문은?",
                                      "What was the single most voted paper on April 1?"])
def test_a_tie_names_every_tied_paper_and_nothing_from_other_dates(engine: AnswerEngine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.mode == "top" and _cited(answer) == ["2503.10001", "2503.10002"]
    assert "Paper Cranes" in answer.text and "Umbrella" in answer.text
    assert ("공동 1위" in answer.text) if answer.language == "ko" else ("2 papers tie" in answer.text)
    assert all(c.date == "2025-04-01" and c.votes == 57 for c in answer.citations)


def test_rankings_are_never_padded_with_other_dates(engine: AnswerEngine) -> None:
    answer = engine.ask("top 5 papers on April 2")
    assert _cited(answer) == ["2503.10006", "2503.10001"]  # the digest has two papers: two, not five
    assert [c.date for c in answer.citations] == ["2025-04-02", "2025-04-02"]
    three = engine.ask("top 3 on April 1")  # the third place is not tied: three papers, tied ones share #1
    assert _cited(three) == ["2503.10001", "2503.10002", "2503.10003"]
    assert "\n1. Paper Cranes" in three.text and "\n1. Umbrella" in three.text and "\n3. Distilling" in three.text


@pytest.mark.parametrize(
    ("question", "expected", "words"),
    [
        ("2025년 2월 5일에 100표 이상 받은 논문들은?", ["2502.01061", "2502.01237"], "100표 이상"),
        ("Which papers got at least 100 votes on Feb 5?", ["2502.01061", "2502.01237"], "at least 100 votes"),
        ("2월 5일 100표 넘는 논문", ["2502.01061"], "100표를 넘게"),
        ("more than 100 votes on 2025-02-05", ["2502.01061"], "more than 100 votes"),
        ("2024년 11월 22일 10표 미만 논문", ["2411.14343", "2411.14384", "2411.14347"], "10표 미만"),
        ("fewer than 10 votes on Nov 22, 2024", ["2411.14343", "2411.14384", "2411.14347"], "fewer than 10 votes"),
        ("2025-04-01에 0표 받은 논문", ["2503.10005"], "정확히 0표"),
        ("papers with exactly 0 votes on 2025-04-01", ["2503.10005"], "exactly 0 votes"),
    ],
)
def test_vote_conditions_are_answered_from_the_catalog(engine: AnswerEngine, question: str, expected: list[str],
                                                       words: str) -> None:
    answer = engine.ask(question)
    assert answer.mode == "top" and _cited(answer) == expected and words in answer.text


def test_unknown_votes_never_match_a_condition_and_the_answer_says_so(engine: AnswerEngine) -> None:
    korean = engine.ask("0표 받은 논문")
    assert _cited(korean) == ["2503.10005", "2411.14347"]  # DINO-X has 0 votes; not the unknown one
    assert "2503.10004" not in _cited(korean) and "추천 수가 기록되지 않은 논문 1편은 세지 않았습니다" in korean.text
    english = engine.ask("papers with fewer than 3 votes")
    assert "2503.10004" not in _cited(english) and "1 paper with unknown votes not counted" in english.text


def test_a_condition_nothing_meets_says_so_in_the_askers_language(engine: AnswerEngine) -> None:
    korean = engine.ask("1000표 이상 받은 논문")
    assert korean.citations == [] and not korean.covered and "1000표 이상 받은 논문이 없습니다" in korean.text
    english = engine.ask("more than 1000 votes on Feb 5")
    assert english.citations == [] and english.text.startswith(
        "No paper in the 2025-02-05 digest got more than 1000 votes.")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Apr 1-2 most voted", ["2503.10006"]),
        ("2025-04-01 ~ 2025-04-02 가장 추천 많은 논문", ["2503.10006"]),
        ("4월 1일부터 2일까지 50표 이상 받은 논문", ["2503.10006", "2503.10001", "2503.10002"]),
        ("2025년 3월 인기 논문", ["2503.10008", "2503.10009"]),
        ("most voted paper in March 2025", ["2503.10008"]),
        ("2024년 가장 추천 많은 논문", ["2411.10442"]),
        ("most voted paper in 2024", ["2411.10442"]),
        ("this week's most voted paper", ["2503.10006"]),
        ("이번 주 20표 이상 받은 논문", ["2503.10006", "2503.10001", "2503.10002"]),
        ("this month's papers with fewer than 15 votes", ["2503.10003", "2503.10005"]),
        ("지난달 가장 추천 많은 논문", ["2503.10008"]),
        ("last month's least voted paper", ["2503.10009"]),
    ],
)
def test_ranges_months_years_and_relative_periods_rank_only_their_digests(engine: AnswerEngine, question: str,
                                                                         expected: list[str]) -> None:
    answer = engine.ask(question)
    assert answer.mode == "top" and _cited(answer) == expected


def test_a_paper_in_two_digests_of_a_range_is_listed_once_with_its_best_day(engine: AnswerEngine) -> None:
    answer = engine.ask("4월 1일부터 2일까지 논문")
    assert _cited(answer).count("2503.10001") == 1
    cranes = next(c for c in answer.citations if c.arxiv_id == "2503.10001")
    assert (cranes.date, cranes.votes) == ("2025-04-02", 60)
    assert "(2025-04-02) — 60표" in answer.text  # a range shows each paper's digest date


def test_a_topic_with_a_vote_condition_searches_only_the_papers_meeting_it(engine: AnswerEngine) -> None:
    answer = engine.ask("Paper Cranes Robot 논문 중 50표 이상 받은 것")
    assert answer.mode == "search" and answer.citations
    assert all(c.votes is not None and c.votes >= 50 for c in answer.citations)


@pytest.mark.parametrize(
    ("question", "line"),
    [
        ("this week's top papers", "There is no digest for this week (2025-09-08 – 2025-09-10) yet: the stored "
                                   "digests end on 2025-04-02"),
        ("이번 주 인기 논문", "이번 주(2025-09-08 – 2025-09-10) 다이제스트는 아직 없습니다. 저장된 다이제스트는 "
                         "2025-04-02까지라서"),
        ("last month's most voted paper", "There is no digest for last month (2025-08-01 – 2025-08-31) yet"),
        ("지난달 인기 논문", "지난달(2025-08-01 – 2025-08-31) 다이제스트는 아직 없습니다."),
        ("today's top papers", "There is no digest for today (2025-09-10) yet: the stored digests end on 2025-04-02"),
        ("오늘 인기 논문", "오늘(2025-09-10) 다이제스트는 아직 없습니다. 저장된 다이제스트는 2025-04-02까지라서"),
    ],
)
def test_a_relative_period_after_the_archive_ends_answers_from_the_nearest_digest_and_says_so(
        tie_library: Components, question: str, line: str) -> None:
    engine = _engine(tie_library, date(2025, 9, 10))
    answer = engine.ask(question)
    assert answer.text.startswith(line)
    assert answer.citations and all(c.date == "2025-04-02" for c in answer.citations)
    assert "2025-04-02" in answer.text.split("\n\n")[1]  # the ranking names the digest it used


@pytest.mark.parametrize(
    ("question", "today", "line"),
    [
        ("this year's most voted papers", date(2026, 3, 10), "There is no digest for this year (2026-01-01 – "
         "2026-03-10) yet: the stored digests end on 2025-04-02, so this answer uses that one, the nearest."),
        ("올해 인기 논문", date(2026, 3, 10), "올해(2026-01-01 – 2026-03-10) 다이제스트는 아직 없습니다. 저장된 "
         "다이제스트는 2025-04-02까지라서, 가장 가까운 그 다이제스트로 답합니다."),
        ("last year's top papers", date(2027, 2, 1), "There is no digest for last year (2026-01-01 – 2026-12-31) "
         "yet: the stored digests end on 2025-04-02, so this answer uses that one, the nearest."),
        ("작년 가장 추천 많은 논문", date(2027, 2, 1), "작년(2026-01-01 – 2026-12-31) 다이제스트는 아직 없습니다. "
         "저장된 다이제스트는 2025-04-02까지라서, 가장 가까운 그 다이제스트로 답합니다."),
    ],
)
def test_a_year_after_the_archive_ends_answers_from_the_newest_digest_and_says_so(
        tie_library: Components, question: str, today: date, line: str) -> None:
    answer = _engine(tie_library, today).ask(question)
    assert answer.mode == "top" and answer.text.startswith(line + "\n\n")
    assert answer.citations and all(c.date == "2025-04-02" for c in answer.citations)
    assert answer.citations[0].arxiv_id == "2503.10006"  # that digest's most voted paper


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("올해 가장 추천 많은 논문", ["2502.01061"]),  # OmniHuman-1, 134 votes on 2025-02-05
        ("most voted paper this year", ["2502.01061"]),
        ("작년 가장 추천 많은 논문", ["2411.10442"]),  # 42 votes on 2024-11-22
        ("last year's most voted paper", ["2411.10442"]),
        ("last year's least voted paper", ["2411.14347"]),  # DINO-X, 0 votes
    ],
)
def test_this_year_and_last_year_rank_only_their_digests(engine: AnswerEngine, question: str,
                                                         expected: list[str]) -> None:
    answer = engine.ask(question)
    assert answer.mode == "top" and _cited(answer) == expected
    year = "2024" if "작년" in question or "last year" in question else "2025"
    assert answer.text.split("\n")[0].count(year) == 2  # the head names the year's span, e.g. 2024-01-01 – 2024-12-31


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("papers from July to December 2024 with at least 150 votes", "2024-07-01..2024-12-31"),
        ("2024년 7월부터 12월까지 150표 이상 받은 논문", "2024-07-01..2024-12-31"),
        ("2025년 1~3월 인기 논문", "2025-01-01..2025-03-31"),
        ("most voted between January and March 2025", "2025-01-01..2025-03-31"),
        ("top papers from Nov 2024 to Feb 2025", "2024-11-01..2025-02-28"),
        ("top papers from November to February", "2024-11-01..2025-02-28"),  # the newest stored February
        ("2024년 11월 ~ 2025년 1월 논문", "2024-11-01..2025-01-31"),
    ],
)
def test_a_range_of_months_is_every_month_between(question: str, words: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    first, last = words.split("..")
    assert plan.date_words == words
    assert plan.dates == [d for d in STORED if first <= d <= last]
    assert plan.mode == "top" and plan.topical == ""


@pytest.mark.parametrize("question", ["처음부터 다시 학습한 작은 언어 모델",
                                      "구글 Gemma 기술 보고서들 (1세대부터 3까지)",
                                      "a 1-to-3 ratio of real to synthetic data"])
def test_numbers_with_range_words_are_not_months(question: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.dates is None and plan.mode == "search"


@pytest.mark.parametrize("question", ["Which papers in the whole archive have 200 or more votes?",
                                      "all-time top 5 papers", "역대 가장 추천 많은 논문 3개", "most voted paper ever"])
def test_the_whole_archive_is_no_topic(question: str) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.mode == "top" and plan.topical == "" and plan.dates is None


@pytest.mark.parametrize(
    ("question", "dates"),
    [
        ("최신 논문 뭐 있어?", ["2025-04-02"]),
        ("latest papers", ["2025-04-02"]),
        ("newest digest top 3", ["2025-04-02"]),
        ("what's new today?", ["2025-04-02"]),
        ("양자화가 최신 LLM 성능에 어떤 영향을 주는지 실험한 연구", None),  # state-of-the-art models, not a date
        ("latest work on LLM quantization", None),
    ],
)
def test_latest_restricts_dates_only_without_a_topic(question: str, dates: list[str] | None) -> None:
    plan = plan_query(question, STORED, APRIL_3)
    assert plan.dates == dates
    assert plan.mode == ("top" if dates else "search")


# --- authors: names from the sample digests (data/samples) ----------------------------------------------
YUILLE = ("2411.11844", "2411.14384")  # Generative World Explorer (2024-11-19), Baking Gaussian Splatting (11-22)
SAMPLE_AUTHORS = {"alan yuille": ("Alan Yuille", YUILLE), "jan kaczmarczyk": ("Jan Kaczmarczyk", ("2411.11024",)),
                  "przemysław spurek": ("Przemysław Spurek", ("2411.11024",)),
                  "weronika smolak-dyżewska": ("Weronika Smolak-Dyżewska", ("2411.11024",))}


class Lookup:
    """A catalog's author lookup over ``known`` (lower-case full name → (stored name, papers)); records calls."""

    def __init__(self, known: dict[str, tuple[str, tuple[str, ...]]] = SAMPLE_AUTHORS) -> None:
        self.known = known
        self.calls: list[list[str]] = []

    def __call__(self, names: Sequence[str]) -> dict[str, AuthorMatch]:
        self.calls.append(list(names))
        return {name: AuthorMatch(*self.known[name.lower()]) for name in names if name.lower() in self.known}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Kaiming He 논문", ["Kaiming He"]),
        ("Kaiming He's papers", ["Kaiming He"]),
        ("Yann LeCun’s papers on world models", ["Yann LeCun"]),
        ("papers by Yann LeCun?", ["Yann LeCun"]),
        ("Yann LeCun이 쓴 논문", ["Yann LeCun"]),
        ("Kaiming He의 diffusion 논문", ["Kaiming He"]),
        ("Kaiming He가 쓴", ["Kaiming He"]),
        ("Kaiming He이가", ["Kaiming He"]),
        ("Yann LeCun께서 쓴 논문", ["Yann LeCun"]),
        ("Weronika Smolak-Dyżewska 논문", ["Weronika Smolak-Dyżewska"]),
        ("Łukasz Kaiser and Conor O'Brien", ["Łukasz Kaiser", "Conor O'Brien"]),
        ("Éric de la Clergerie 논문", ["Éric de la Clergerie"]),
        ("Sercan O. Arik", ["Sercan O.", "Sercan O. Arik", "O. Arik"]),
        ("Show Kaiming He papers", ["Show Kaiming", "Show Kaiming He", "Kaiming He"]),
        ("A B C D E", ["A B", "A B C", "A B C D", "B C", "B C D", "B C D E", "C D", "C D E", "D E"]),
        ("Hymba 논문", []),
        ("kaiming he 논문", []),  # names are capitalised words
        ("Kaiming, He", []),  # punctuation ends a name
    ],
)
def test_candidate_author_names_are_two_to_four_capitalised_words(text: str, names: list[str]) -> None:
    assert [name for name, _, _ in author_candidates(text)] == names


@pytest.mark.parametrize(
    ("question", "author", "papers"),
    [
        ("Alan Yuille 논문", "Alan Yuille", YUILLE),
        ("Alan Yuille's papers", "Alan Yuille", YUILLE),
        ("papers by Alan Yuille", "Alan Yuille", YUILLE),
        ("ALAN YUILLE이 쓴 논문", "Alan Yuille", YUILLE),
        ("Alan Yuille 논문 알려줘", "Alan Yuille", YUILLE),
        ("What did Alan Yuille publish?", "Alan Yuille", YUILLE),
        ("Jan Kaczmarczyk의 논문", "Jan Kaczmarczyk", ("2411.11024",)),  # "Jan" is no January here
        ("Przemysław Spurek께서 쓴 논문", "Przemysław Spurek", ("2411.11024",)),
        ("Weronika Smolak-Dyżewska 논문", "Weronika Smolak-Dyżewska", ("2411.11024",)),
    ],
)
def test_a_catalog_author_makes_an_author_question(question: str, author: str, papers: tuple[str, ...]) -> None:
    lookup = Lookup()
    plan = plan_query(question, KNOWN, TODAY, lookup)
    assert (plan.mode, plan.author, plan.author_papers, plan.topical, plan.dates) == (
        "author", author, papers, "", None)
    assert len(lookup.calls) == 1  # one lookup for all the candidate names


@pytest.mark.parametrize(
    ("question", "topic", "search_text"),
    [
        ("Alan Yuille의 Gaussian Splatting 논문", "Gaussian Splatting 논문", "Gaussian Splatting 논문"),
        ("Alan Yuille's papers on world models", "world models", "world models"),
    ],
)
def test_an_author_with_a_topic_searches_that_topic(question: str, topic: str, search_text: str) -> None:
    plan = plan_query(question, KNOWN, TODAY, Lookup())
    assert (plan.mode, plan.author, plan.author_papers) == ("search", "Alan Yuille", YUILLE)
    assert plan.topical.replace("논문", "").strip() == topic.replace("논문", "").strip()
    assert plan.search_text.replace("논문", "").strip() == search_text.replace("논문", "").strip()


@pytest.mark.parametrize(
    ("question", "dates", "votes_min", "by_votes"),
    [
        ("Alan Yuille 2024년 11월 논문", ["2024-11-22", "2024-11-19"], None, False),
        ("papers by Alan Yuille in 2025", ["2025-02-05", "2025-01-28"], None, False),
        ("Alan Yuille 최신 논문", None, None, False),  # theirs newest first, not the newest digest
        ("Alan Yuille의 10표 이상 논문", None, 10, True),
        ("Alan Yuille의 가장 인기 있는 논문", None, None, True),
    ],
)
def test_an_author_with_dates_or_votes_stays_an_author_listing(question: str, dates: list[str] | None,
                                                              votes_min: int | None, by_votes: bool) -> None:
    plan = plan_query(question, KNOWN, TODAY, Lookup())
    assert (plan.mode, plan.author, plan.dates, plan.votes_min, plan.by_votes) == (
        "author", "Alan Yuille", dates, votes_min, by_votes)


@pytest.mark.parametrize("question", [
    "Gaussian Splatting 논문", "What is Llama Guard?", "Direct Preference Optimization papers",
    "John Smithson 논문", "Jan 2025 papers", "papers by Alan", "Alan Turing의 논문", "Kaiming He 논문",
    "2025년 2월 5일 가장 추천 많은 논문", "Which papers use Monte Carlo Tree Search?", "VeGaS 논문",
])
def test_a_name_that_is_no_catalog_author_routes_as_before(question: str) -> None:
    assert plan_query(question, KNOWN, TODAY, Lookup()) == plan_query(question, KNOWN, TODAY)


def test_topic_words_are_an_author_only_when_a_catalog_author_has_exactly_that_name() -> None:
    catalog_has_it = Lookup({"gaussian splatting": ("Gaussian Splatting", ("2411.11024",))})
    assert plan_query("Gaussian Splatting 논문", KNOWN, TODAY, catalog_has_it).author == "Gaussian Splatting"
    assert plan_query("Gaussian Splatting Survey 논문", KNOWN, TODAY, catalog_has_it).mode == "search"
    assert plan_query("3D Gaussian Splatting 논문", KNOWN, TODAY, Lookup()).author is None


def test_no_candidate_name_asks_no_lookup() -> None:
    lookup = Lookup()
    plan_query("2025년 2월 5일 가장 추천 많은 논문", KNOWN, TODAY, lookup)
    plan_query("which papers improve kv cache compression?", KNOWN, TODAY, lookup)
    assert lookup.calls == []


@pytest.mark.parametrize(("today", "noted"), [(date(2025, 4, 3), False), (date(2025, 4, 5), False),
                                              (date(2025, 4, 6), True)])
def test_today_is_the_newest_digest_and_says_so_only_when_it_is_days_old(today: date, noted: bool) -> None:
    """Digests arrive a day or more late (a weekend): "오늘 논문" is the newest digest, without a note, until
    it is more than three days old."""
    plan = plan_query("오늘 논문", STORED, today)
    assert plan.dates == ["2025-04-02"] and plan.mode == "top"
    assert (plan.instead_of == today.isoformat() and plan.archive_ends) if noted else plan.instead_of is None

