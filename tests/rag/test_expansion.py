"""Query-side Korean <-> English term expansion for BM25 (rag.expansion)."""

from __future__ import annotations

from rag.expansion import GLOSSARY, expand_query, expanded


def test_english_terms_bring_their_korean_words() -> None:
    extra = expand_query("reinforcement learning for robot manipulation")
    assert "강화학습" in extra and "로봇" in extra


def test_korean_terms_bring_their_english_words_despite_particles() -> None:
    extra = expand_query("강화학습으로 로봇을 제어하는 연구")
    assert "reinforcement learning" in extra and "robot" in extra


def test_korean_forms_match_only_at_a_word_start() -> None:
    """"학습" inside "강화학습" is not "training", and "화학" inside it is not chemistry."""
    extra = expand_query("강화학습 논문")
    assert "training" not in extra and "chemistry" not in extra


def test_english_forms_match_whole_words_only() -> None:
    assert "게임" not in expand_query("a gamete study")  # not "game"
    assert expand_query("What is OmniHuman-1?") == []


def test_nothing_already_in_the_question_is_added_twice() -> None:
    extra = expand_query("LLM 언어 모델 language model")
    assert "언어 모델" not in extra and "language model" not in extra
    assert len(extra) == len(set(extra))


def test_expanded_appends_the_words_and_leaves_unknown_questions_alone() -> None:
    assert expanded("diffusion 모델") == "diffusion 모델 확산"
    assert expanded("What is Hymba?") == "What is Hymba?"


def test_the_glossary_pairs_both_languages() -> None:
    for english, korean in GLOSSARY:
        assert english and korean
        assert all(form == form.lower() for form in english)
        assert all(any("\uac00" <= ch <= "\ud7a3" for ch in form) or form.isupper() for form in korean)
