"""The daily briefing's pieces: the one-line gist, the reader's topic list, topic matching by words and by
meaning, and composing a digest's briefing (a bare catalog, hash vectors: no embedding model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import TextNode

from loaders.digest import Paper
from rag.briefing import TopicMatcher, compose, gist, match_topics, parse_topics
from rag.storage.catalog import Catalog, SectionRow, node_id, node_text
from rag.text import KoreanTokenizer
from rag.vectors import VectorIndex, chroma_client
from tests.helpers import HashEmbedding

DAY, EARLIER = "2025-02-05", "2025-02-04"


def test_gist_is_the_first_sentence() -> None:
    assert gist("첫 문장이다. 둘째 문장이다.") == "첫 문장이다."
    assert gist("  spaced   out\n text. Next one.") == "spaced out text."  # whitespace collapsed first
    assert gist("") == ""


def test_a_long_gist_is_cut_at_a_word_near_the_limit() -> None:
    cut = gist("word " * 60, limit=52)  # the 52nd character is inside the 11th word
    assert cut == " ".join(["word"] * 10) + "…"  # whole words only
    assert gist("x, " * 40, limit=20) == "x, x, x, x, x, x…"  # no dangling comma before the ellipsis
    assert gist("a" * 300, limit=40) == "a" * 40 + "…"  # no space to cut at: cut hard
    assert gist("short enough.", limit=13) == "short enough."


def test_parse_topics() -> None:
    assert parse_topics("diffusion, RL; 3D", 5) == ["diffusion", "RL", "3D"]
    assert parse_topics("확산 모델，강화   학습, ,", 5) == ["확산 모델", "강화 학습"]  # full-width comma, spaces
    assert parse_topics("RL, rl, Rl, agents", 5) == ["RL", "agents"]  # first spelling wins
    assert parse_topics("a, b, c, d", 2) == ["a", "b"]
    assert parse_topics("x" * 50, 5) == ["x" * 40]
    assert parse_topics(" ; , ", 5) == []


def paper(arxiv_id: str, title: str, votes: int | None, date: str = DAY, **sections: Any) -> Paper:
    return Paper(arxiv_id=arxiv_id, title=title, url=f"https://arxiv.org/abs/{arxiv_id}", date=date, votes=votes,
                 authors=("Kim",), **sections)


PAPERS = [
    paper("2502.00001", "Diffusion-based Video Agents", 50, whats_new="확산모델을 쓴 영상 에이전트. 둘째 문장."),
    paper("2502.00002", "Scaling Reasoning", 40, whats_new="강화 학습으로 추론을 개선한다."),
    paper("2502.00003", "URL Parsing with CRLF", 30, whats_new="URL 처리를 다룬다."),
    paper("2502.00004", "Mobile LLM", None, summary="모바일 기기의 언어 모델. 요약 끝."),
    paper("2502.00005", "A diffusion transformer", 5, whats_new="이미지 생성."),
    paper("2502.00006", "Offline RL-free planning", 99, date=EARLIER, whats_new="계획."),
]


@pytest.fixture(scope="module")
def tokenizer() -> KoreanTokenizer:
    return KoreanTokenizer()


@pytest.fixture
def world(tmp_path: Path, tokenizer: KoreanTokenizer) -> tuple[Catalog, TopicMatcher]:
    """The papers in a catalog, and their sections' hash vectors, except that 2502.00002 (which says
    "강화 학습" only) and 2502.00006 (another day) are stored as meaning exactly "RL"."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    embedder = HashEmbedding()
    vectors = VectorIndex(chroma_client(None, tmp_path / "chroma"), "papers")
    rows, nodes = [], []
    for p in PAPERS:
        for key in p.sections():
            text = node_text(p, key)
            rows.append(SectionRow(node_id(p.arxiv_id, key), p.arxiv_id, key, text, " ".join(tokenizer.tokens(text))))
            vector = embedder.get_query_embedding("RL" if p.arxiv_id in ("2502.00002", "2502.00006")
                                                  else text)
            nodes.append(TextNode(id_=node_id(p.arxiv_id, key), text=text, embedding=vector,
                                  metadata={"arxiv_id": p.arxiv_id, "section": key}))
    catalog.commit(PAPERS, rows, PAPERS)
    vectors.upsert(nodes)
    return catalog, TopicMatcher(tokenizer, embedder, vectors)


def test_topics_match_whole_english_words_korean_morphemes_and_close_meaning(
        world: tuple[Catalog, TopicMatcher]) -> None:
    catalog, matcher = world
    papers = catalog.top_on(DAY)
    matches = match_topics(matcher, papers, ["RL", "diffusion", "확산 모델", "agent", "video diffusion"], 0.88)
    assert matches == {
        "2502.00001": ["diffusion", "확산 모델", "agent", "video diffusion"],  # "Diffusion-based", 확산모델을
        "2502.00002": ["RL"],  # by meaning only; URL/CRLF of 2502.00003 are no "RL"; 2502.00006 is not in the day
        "2502.00005": ["diffusion"],
    }
    assert match_topics(matcher, papers, ["RL"], 1.01) == {}  # the threshold applies to meaning
    assert match_topics(matcher, papers, ["모바일 학습"], 0.88) == {}  # every word must occur
    assert match_topics(matcher, papers, ["논문"], 1.01) == {}  # stop words only: nothing to require, no match


def test_compose_ranks_the_newest_digest_and_adds_topic_matches_beyond_the_top(
        world: tuple[Catalog, TopicMatcher]) -> None:
    catalog, matcher = world
    briefing = compose(catalog, matcher, limit=2, topics=["diffusion", "RL"], topic_limit=5)
    assert briefing is not None
    assert (briefing.date, briefing.total, briefing.topics) == (DAY, 5, ("diffusion", "RL"))
    assert [(e.rank, e.arxiv_id, e.votes, e.topics) for e in briefing.top] == [
        (1, "2502.00001", 50, ("diffusion",)), (2, "2502.00002", 40, ("RL",))]
    assert [(e.rank, e.arxiv_id, e.topics) for e in briefing.topical] == [(4, "2502.00005", ("diffusion",))]
    assert briefing.top[0].gist == "확산모델을 쓴 영상 에이전트." and briefing.top[0].url.endswith("/2502.00001")

    json: dict[str, Any] = briefing.to_json()
    assert json["date"] == DAY and json["topics"] == ["diffusion", "RL"]
    assert json["top"][1] == {"rank": 2, "arxiv_id": "2502.00002", "title": "Scaling Reasoning",
                              "url": "https://arxiv.org/abs/2502.00002", "votes": 40,
                              "gist": "강화 학습으로 추론을 개선한다.", "topics": ["RL"]}
    assert [e["arxiv_id"] for e in json["topical"]] == ["2502.00005"]


def test_compose_without_topics_unknown_votes_last_and_the_summary_as_gist(
        world: tuple[Catalog, TopicMatcher]) -> None:
    catalog, matcher = world
    briefing = compose(catalog, matcher, DAY, limit=10, topics=())
    assert briefing is not None and briefing.topical == [] and all(e.topics == () for e in briefing.top)
    last = briefing.top[-1]
    assert (last.rank, last.arxiv_id, last.votes, last.gist) == (5, "2502.00004", None, "모바일 기기의 언어 모델.")
    capped = compose(catalog, matcher, DAY, limit=2, topics=["diffusion"], topic_limit=0)
    assert capped is not None and capped.topical == []
    earlier = compose(catalog, matcher, EARLIER, limit=3)
    assert earlier is not None and [e.arxiv_id for e in earlier.top] == ["2502.00006"] and earlier.total == 1


def test_no_briefing_for_a_day_without_papers_or_an_empty_catalog(world: tuple[Catalog, TopicMatcher],
                                                                  tmp_path: Path) -> None:
    catalog, matcher = world
    assert compose(catalog, matcher, "2024-01-01", limit=3) is None
    assert compose(Catalog(tmp_path / "empty.sqlite3"), matcher, limit=3) is None
