from __future__ import annotations

from datetime import date

import pytest

from rag.query import plan_query

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
