"""The engine's message catalog: both languages say every message, each in its own language, and a few
renderings word for word (the engine's answers that use them are tested in test_answer/test_query)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from rag.messages import EN, KO, Messages, messages_for
from rag.query import _RELATIVE

HANGUL = re.compile(r"[\uac00-\ud7a3]")

# Arguments to render each message with; a message added to the catalog must be added here too.
SAMPLE_ARGS: dict[str, tuple[Any, ...]] = {
    "votes": (5,), "votes_unknown": (), "no_digests_yet": (), "that_date": (),
    "no_digest_for": ("2025-01-01", "2025-02-05"), "papers_not_in_digests": (["2502.00001"],), "not_covered": (),
    "not_covered_in": ("W",),
    "extractive_without_llm": (), "extractive_because": ("x",), "llm_timed_out": (), "llm_busy": (),
    "llm_unavailable": (), "quotes_head": (False, True), "all_digests": (), "digests_of": ("2025-02-05", False),
    "votes_exactly": (3,), "votes_between": (5, 10), "votes_more_than": (100,), "votes_at_least": (100,),
    "votes_fewer_than": (10,), "votes_at_most": (9,), "most_voted_first": (),
    "none_meet_condition": ("W", "C", False), "papers_meet_condition": ("W", "C", 3, "", False),
    "least_voted_head": ("W",), "most_voted_head": ("W",), "tied_for_most_head": ("W", 2, "V"),
    "date_listing_head": ("W", 12), "more_tied": (2, "V"), "more_papers": (4,), "unknown_votes_not_counted": (2,),
    "votes_not_recorded": (), "relative_periods": (), "nothing_yet_for_period": ("P", "S", "2025-02-05"),
    "nearest_for_period": ("P", "S", "2025-02-05"),
    "newest_first": (), "least_voted_first": (), "author_scope": ("W", "C"), "author_head": ("A", 5, "S", 2, ""),
    "author_not_covered": ("A", 5, "W"),
}


def _render(catalog: Messages, name: str) -> str:
    value = getattr(catalog, name)
    if name == "relative_periods":
        return " ".join(value.values())
    return value(*SAMPLE_ARGS[name]) if callable(value) else value


def test_every_message_has_sample_arguments() -> None:
    assert {f.name for f in dataclasses.fields(Messages)} == set(SAMPLE_ARGS)


@pytest.mark.parametrize("name", sorted(SAMPLE_ARGS))
def test_both_catalogs_say_every_message_each_in_its_own_language(name: str) -> None:
    korean, english = _render(KO, name), _render(EN, name)
    assert korean.strip() and english.strip()
    assert HANGUL.search(korean), (name, korean)
    assert not HANGUL.search(english), (name, english)
    assert callable(getattr(KO, name)) == callable(getattr(EN, name))


def test_every_relative_period_the_planner_finds_has_words_in_both_languages() -> None:
    # "latest" always has a digest (the newest), so no answer says it used another one instead; "newest"
    # ("최신", "latest") is planned as "latest" when the question has no topic, else not at all.
    periods = {key for _, key in _RELATIVE} - {"latest", "newest"}
    assert set(KO.relative_periods) == set(EN.relative_periods) == periods


def test_the_answer_language_picks_the_catalog() -> None:
    assert messages_for("ko") is KO
    assert messages_for("en") is EN
    assert messages_for("ja") is EN  # anything but Korean is answered in English


def test_english_counts_agree_with_their_nouns() -> None:
    assert EN.papers_not_in_digests(["2502.00001"]) == "Paper 2502.00001 is not in the digests."
    assert EN.papers_not_in_digests(["2502.00001", "2502.00002"]) == \
        "Papers 2502.00001, 2502.00002 are not in the digests."
    assert EN.votes_more_than(1) == "more than 1 vote"
    assert EN.votes_at_least(0) == "at least 0 votes"
    assert EN.votes(1) == "1 votes"  # beside a paper, as answers have always written it
    assert EN.unknown_votes_not_counted(1) == "(1 paper with unknown votes not counted.)"
    assert EN.papers_meet_condition("the 2025-02-05 digest", "at least 2 votes", 1, "", False) == \
        "1 paper in the 2025-02-05 digest got at least 2 votes:"
    assert EN.papers_meet_condition("all digests", "exactly 3 votes", 4, "", True) == \
        "4 papers across all digests got exactly 3 votes:"


def test_korean_renderings() -> None:
    assert KO.no_digest_for("2025-01-01", "2025-02-05") == \
        "2025-01-01 다이제스트는 없습니다. 가장 최근 다이제스트는 2025-02-05입니다."
    assert KO.tied_for_most_head("2025-02-05 다이제스트", 2, KO.votes(7)) == \
        "2025-02-05 다이제스트에서 추천을 가장 많이 받은 논문은 2편으로, 모두 7표를 받아 공동 1위입니다:"
    assert KO.votes_more_than(99) == "99표를 넘게"
    assert KO.extractive_because(KO.llm_busy) == "ⓘ LLM이 붐벼 요약문에서 발췌한 답변입니다."


def test_english_quotes_head_says_what_it_quotes() -> None:
    assert EN.quotes_head(True, True) == "From the digests (English abstracts):"
    assert EN.quotes_head(False, True).endswith("quoted as written (English abstracts where the paper has one):")
    assert EN.quotes_head(False, False).endswith("quoted as written:")
    assert KO.quotes_head(True, True) == KO.quotes_head(False, False)  # Korean text is quoted as it is


def test_the_catalogs_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KO.not_covered = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        EN.relative_periods["this_week"] = "x"  # type: ignore[index]
