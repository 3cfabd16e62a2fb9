"""Korean-aware text helpers: Kiwi morpheme tokens, the language guess, and sentence splitting."""

from __future__ import annotations

import threading
from typing import Any

import kiwipiepy
import pytest

from rag.text import KoreanTokenizer, language, sentences


@pytest.fixture(scope="module")
def tokenizer() -> KoreanTokenizer:
    """Kiwi loads once for the module (about a second)."""
    return KoreanTokenizer()


def test_particles_and_endings_are_dropped_so_inflected_words_meet(tokenizer: KoreanTokenizer) -> None:
    assert tokenizer.tokens("모델은") == tokenizer.tokens("모델의") == tokenizer.tokens("모델을") == ["모델"]
    assert tokenizer.tokens("확산모델을 사용한") == ["확산", "모델", "사용"]  # glued compound split, 한 dropped
    assert tokenizer.tokens("강화 학습으로 추론을 개선했다") == ["강화", "학습", "추론", "개선"]


def test_stop_words_go_and_latin_words_are_lower_cased(tokenizer: KoreanTokenizer) -> None:
    assert tokenizer.tokens("What is the paper on Diffusion Agents?") == ["diffusion", "agents"]
    assert tokenizer.tokens("이 논문은 무엇을 제안하나") == ["무엇", "제안"]
    assert tokenizer.tokens("") == [] and tokenizer.tokens("?!.") == []


def test_model_names_and_ids_are_kept_whole_besides_their_parts(tokenizer: KoreanTokenizer) -> None:
    tokens = tokenizer.tokens("GPT-4o와 Llama-3.1-8B를 비교")
    assert {"gpt-4o", "llama-3.1-8b"} <= set(tokens)  # whole names: an exact name outranks shared pieces
    assert {"gpt", "llama", "3.1", "비교"} <= set(tokens)
    assert "2411.14384" in tokenizer.tokens("arXiv 2411.14384")
    assert tokenizer.tokens_many(["모델의 성능", "GPT-4o"]) == [tokenizer.tokens("모델의 성능"),
                                                              tokenizer.tokens("GPT-4o")]


def test_kiwi_is_loaded_once_by_concurrent_first_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Any] = []
    real = kiwipiepy.Kiwi

    def counting(*args: Any, **kwargs: Any) -> Any:
        created.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(kiwipiepy, "Kiwi", counting)
    fresh = KoreanTokenizer()
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(fresh.tokens("모델의 성능"))) for _ in range(6)]
    fresh.preload()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [["모델", "성능"]] * 6
    assert len(created) == 1  # one Kiwi, however many threads asked first
    assert created[0] == {"load_multi_dict": False, "load_typo_dict": False}  # the ~190 MB dictionaries skipped


@pytest.mark.parametrize(("text", "expected"), [
    ("이 논문은 새로운 확산 모델을 제안한다", "ko"),
    ("GPT-4o와 Llama-3.1을 비교한 벤치마크 결과", "ko"),  # Korean prose with English names
    ("A diffusion model for 3D scenes", "en"),
    ("GPT-4o Llama-3.1 benchmark 평가", "en"),  # a Korean word among mostly English
    ("", "en"),
    ("2411.14384", "en"),
])
def test_language(text: str, expected: str) -> None:
    assert language(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("이 모델은 빠르다. 또한 정확하다! 정말? 네.", ["이 모델은 빠르다.", "또한 정확하다!", "정말?", "네."]),
    ("First point\nsecond point. Third.", ["First point", "second point.", "Third."]),  # a line break ends one
    ("It beats GPT-4 by 3.5 points. Version v1.5 follows.",
     ["It beats GPT-4 by 3.5 points.", "Version v1.5 follows."]),  # no space after the dot: no end
    ("Methods, e.g. LoRA, help. Smith et al. Showed it.", ["Methods, e.g. LoRA, help.", "Smith et al. Showed it."]),
    ("See Fig. 3 and Eq. 2 here. Done.", ["See Fig. 3 and Eq. 2 here.", "Done."]),
    ("By J. Smith and the U.S. Army. Next.", ["By J. Smith and the U.S. Army.", "Next."]),
    ("Made in St. Louis. Next.", ["Made in St. Louis.", "Next."]),
    ("Hogwild! Inference is fast. It works! Great.", ["Hogwild! Inference is fast.", "It works!", "Great."]),
    ("Table No. 3 shows it. Ends with no. Then more.", ["Table No. 3 shows it.", "Ends with no.", "Then more."]),
    ('He said "stop." Then left. (See above.) Next one.',
     ['He said "stop."', "Then left.", "(See above.)", "Next one."]),
    ("It works. and so does this.", ["It works. and so does this."]),  # a lowercase word follows: no end
    ("  \n\n  ", []),
])
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_tokens_are_cached_but_each_caller_gets_its_own_list(tokenizer: KoreanTokenizer) -> None:
    first = tokenizer.tokens("대형 언어 모델의 KV 캐시를 압축한다")
    first.append("changed by the caller")
    again = tokenizer.tokens("대형 언어 모델의 KV 캐시를 압축한다")
    assert "changed by the caller" not in again and "캐시" in again and "kv" in again
    assert tokenizer._cached.cache_info().hits >= 1
    before = tokenizer._cached.cache_info().currsize
    tokenizer.tokens_many(["한 번만 읽는 구절", "passages of an ingest"])  # an ingest's passages stay out of the cache
    assert tokenizer._cached.cache_info().currsize == before
