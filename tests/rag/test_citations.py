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
