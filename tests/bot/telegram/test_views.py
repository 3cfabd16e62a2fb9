"""Reply views: everything from papers, users and the model is escaped; links come from arXiv ids only."""

from __future__ import annotations

import re

from bot.telegram.render import render_parts, to_html, to_plain, utf16_len
from bot.telegram.views import answer_view, paper_link, paper_view, search_view, top_view, unknown_date_view
from rag.answer import Answer, Found
from rag.citations import Citation
from rag.query import QueryPlan
from rag.storage.catalog import StoredPaper
from tests.fakes.tg_html import parse_telegram_html


def paper(arxiv_id: str = "2502.01061", title: str = "A <b>bold</b> & brave title", **extra: object) -> StoredPaper:
    fields: dict[str, object] = {
        "arxiv_id": arxiv_id, "title": title, "url": "javascript:alert(1)", "date": "2025-02-05", "votes": 7,
        "authors": ("Kim <i>", "Lee & Park"), "whats_new": "새 <모델> & 방법.", "technical_details": "DiT.",
        "performance_highlights": "FID 1 < 2.", "dates": ("2024-11-19", "2025-02-05"), **extra,
    }
    return StoredPaper(**fields)  # type: ignore[arg-type]


def answer(text: str, citations: list[Citation], language: str = "ko") -> Answer:
    return Answer("q", text, language, "search", True, citations, [], {}, {})


def test_paper_link_only_for_wellformed_ids() -> None:
    assert paper_link("2502.01061") == "https://arxiv.org/abs/2502.01061"
    assert paper_link("javascript:alert(1)") is None and paper_link("2502.01061v2") is None


def test_answer_markers_and_sources_link_to_arxiv_from_our_ids() -> None:
    cites = [Citation(1, "2502.01061", "Omni <Human> & co", "javascript:evil()", "2025-02-05", 134),
             Citation(2, "not-an-id", "Broken", "https://evil.example", "2025-02-05", 1)]
    view = answer_view(answer("OmniHuman-1은 <DiT> 모델입니다 [1]. 다른 것 [2][7].", cites))
    html = to_html(view)
    plain, entities = parse_telegram_html(html)
    urls = [e["url"] for e in entities if e["type"] == "text_link"]
    assert urls == ["https://arxiv.org/abs/2502.01061"] * 2  # the [1] marker and the source line
    assert "evil" not in html
    assert '<a href="https://arxiv.org/abs/2502.01061">[1] Omni &lt;Human&gt; &amp; co</a>' in html
    assert "[2] Broken" in plain and "[7]" in plain  # unknown or unlinkable markers stay plain text
    assert "출처" in plain and "추천 134" in plain


def test_answer_notice_comes_first() -> None:
    view = answer_view(answer("short", [], "en"), notice="Your question was long")
    assert to_html(view).startswith("<i>Your question was long</i>\n\nshort")


def test_paper_view_escapes_everything() -> None:
    html = to_html(paper_view(paper(), "en"))
    plain, _ = parse_telegram_html(html)
    assert "<b>A &lt;b&gt;bold&lt;/b&gt; &amp; brave title</b>" in html
    assert "새 <모델> & 방법." in plain and "Kim <i>, Lee & Park" in plain and "FID 1 < 2." in plain
    assert "also in: 2024-11-19" in plain and "7 votes" in plain
    assert re.findall(r'href="([^"]*)"', html) == ["https://arxiv.org/abs/2502.01061"]


def test_paper_view_many_authors_are_shortened() -> None:
    plain = to_plain(paper_view(paper(authors=tuple(f"A{i}" for i in range(40))), "en"))
    assert "A11, et al." in plain and "A12" not in plain


def test_top_and_search_lists() -> None:
    papers = [paper("2502.01061", "First & best", votes=134), paper("2502.01237", "Second <2>", votes=100)]
    html = to_html(top_view("2025-02-05", papers, "en"))
    plain, _ = parse_telegram_html(html)
    assert plain.splitlines()[0] == "Most-voted papers of the 2025-02-05 digest"
    assert "1. First & best" in plain and "2. Second <2>" in plain and "<code>2502.01237</code>" in html
    found = Found(QueryPlan("q"), [], False, "q")
    assert to_plain(search_view("zzz", found, "en")) == "No papers match “zzz”."


def test_unknown_date_lists_dates() -> None:
    plain = to_plain(unknown_date_view("2025-03-01", ["2025-02-05", "2024-11-22"], "en"))
    assert plain == "There is no digest for 2025-03-01. Digest dates: 2025-02-05, 2024-11-22"
    assert "… (40)" in to_plain(unknown_date_view("x", [f"d{i}" for i in range(40)], "en"))
    assert to_plain(unknown_date_view("x", [], "ko")) == "아직 색인된 다이제스트가 없습니다."


def test_long_paper_view_splits_validly() -> None:
    big = paper(whats_new="긴 문장입니다 & <태그>. " * 600)
    parts = render_parts(paper_view(big, "ko"))
    assert len(parts) > 1
    for part in parts:
        assert parse_telegram_html(part.html)[0] == part.text and utf16_len(part.text) <= 4096


def test_paper_view_shows_summary_abstract_and_unknown_votes() -> None:
    older = paper(votes=None, whats_new="", technical_details="", performance_highlights="",
                  summary="자유 형식 요약 첫 줄.\n둘째 줄.", abstract="An English abstract.")
    for lang, unknown in (("en", "votes unknown"), ("ko", "추천 수 미상")):
        plain, _ = parse_telegram_html(to_html(paper_view(older, lang)))
        assert unknown in plain and "What's New" not in plain
        assert "Summary\n자유 형식 요약 첫 줄.\n둘째 줄." in plain and "Abstract\nAn English abstract." in plain
    listed, _ = parse_telegram_html(to_html(top_view("2025-02-05", [older], "en")))
    assert "votes unknown" in listed


def test_an_llm_answer_is_formatted_and_a_long_one_folds_its_sources() -> None:
    cites = [Citation(1, "2502.01061", "Omni <Human>", "https://arxiv.org/abs/2502.01061", "2025-02-05", 134)]
    llm = {"used": True, "model": "m", "reason": None}
    short = Answer("q", "**OmniHuman-1**은 *DiT* 모델입니다 [1].\n\n- 오디오 <조건> [1]", "ko", "search", True, cites,
                   [], llm, {})
    plain, entities = parse_telegram_html(to_html(answer_view(short)))
    assert "**" not in plain and "<조건>" in plain and "- 오디오" not in plain  # Markdown rendered, text escaped
    assert [e["type"] for e in entities][:2] == ["bold", "italic"]
    assert "expandable_blockquote" not in [e["type"] for e in entities]
    extractive = answer("**literal** stars [1]", cites)  # not the model's Markdown: shown as written
    assert "**literal**" in parse_telegram_html(to_html(answer_view(extractive)))[0]
    long = Answer("q", "긴 답변입니다 [1]. " * 150, "ko", "search", True, cites, [], llm, {})
    parts = render_parts(answer_view(long))
    _plain, entities = parse_telegram_html(parts[-1].html)
    quote = next(e for e in entities if e["type"] == "expandable_blockquote")
    source = [e for e in entities if e["type"] == "text_link"][-1]
    assert quote["offset"] <= source["offset"] < quote["offset"] + quote["length"]  # the source line is folded
