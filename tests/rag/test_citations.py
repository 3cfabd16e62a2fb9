from __future__ import annotations

import pytest

from rag.citations import strip_links, validate


def test_out_of_range_markers_are_dropped_and_the_rest_renumbered() -> None:
    text, cited = validate("A does X [2]. B does Y [7]. Both matter [2][3].", source_count=3)
    assert text == "A does X [1]. B does Y. Both matter [1][2]."
    assert cited == [1, 2]


def test_duplicates_and_grouped_markers_merge() -> None:
    text, cited = validate("X [1][1]. Y [1, 3]. Z [3;1].", source_count=3)
    assert text == "X [1]. Y [1][2]. Z [2][1]."
    assert cited == [0, 2]


def test_model_links_are_never_kept() -> None:
    raw = "See [OmniHuman](https://arxiv.org/abs/9999.99999) and https://evil.example/x [1]."
    text, cited = validate(raw, source_count=1)
    assert "http" not in text and "evil" not in text
    assert text == "See OmniHuman and [1]." and cited == [0]


@pytest.mark.parametrize("raw", ["[0] nothing", "no markers at all", "[12] out of range"])
def test_no_valid_citation(raw: str) -> None:
    _, cited = validate(raw, source_count=3)
    assert cited == []


def test_strip_links_keeps_markdown_link_text() -> None:
    assert strip_links("[the paper](http://x.y/z) rocks") == "the paper rocks"


@pytest.mark.parametrize(("raw", "expected"), [
    ("추가로 evil.example.com/login 도 참고하세요 ([9]).", "추가로 참고하세요."),
    ("원문은 arxiv.org/abs/2999.00001 를 보세요 [1].", "원문은 보세요 [1]."),
    ("가입: t.me/joinchat/abc, 그리고 www.x.org 참고 [2].", "가입: 그리고 참고 [1]."),
    ("Mail bob@evil.com or 10.0.0.1:8080/admin now.", "Mail or now."),
    ("Read <a href=\"http://e.vil\">this</a> and ![x](evil.com/i.png) [1][1].", "Read this and x [1]."),
    ("Links: [1](https://arxiv.org/abs/2502.01061), [2](evil.com).", "Links: [1], [2]."),
    ("Both (see [7], [8]) and [3 , 9].", "Both (see) and [1]."),
    ("EVIL.COM/x and evil.com을 봐.", "and 봐."),
])
def test_links_without_a_scheme_go_and_leave_no_debris(raw: str, expected: str) -> None:
    assert validate(raw, source_count=3)[0] == expected


@pytest.mark.parametrize("kept", [
    "Node.js and config.json", "e.g. i.e. U.S. v1.5 Qwen2.5-VL GPT-4o", "pass@k and pass@1",
    "성능이 향상되었다.In addition", "Evil.Com", "- a list\n- of lines\n\nand a paragraph",
])
def test_text_that_telegram_would_not_link_is_kept(kept: str) -> None:
    assert strip_links(kept) == kept


def test_a_domain_glued_to_other_text_still_goes() -> None:
    assert strip_links("see:evil.com now, or foo/evil.com/x") == "see: now, or foo/"
