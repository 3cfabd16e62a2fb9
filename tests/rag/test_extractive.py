"""Extractive answers (no LLM): which papers are cited, which sentences lead, in which language, and the
sentence splitter they quote with (issue 13, item 4)."""

from __future__ import annotations

import pytest

from rag.answer import AnswerEngine, Found, Source
from rag.components import Components
from rag.memory import ConversationMemory
from rag.query import QueryPlan
from rag.retrieval import Candidate
from rag.storage.catalog import StoredPaper
from rag.text import sentences


# --- the sentence splitter ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hogwild! Inference는 여러 LLM이 캐시를 나눠 씁니다. 그래서 빠릅니다.",
         ["Hogwild! Inference는 여러 LLM이 캐시를 나눠 씁니다.", "그래서 빠릅니다."]),
        ("We add tools, e.g. a calculator. It helps.", ["We add tools, e.g. a calculator.", "It helps."]),
        ("We add tools (e.g. Python). It helps.", ["We add tools (e.g. Python).", "It helps."]),
        ("One judge, i.e. GPT-4o, scores it. Then we rank.", ["One judge, i.e. GPT-4o, scores it.", "Then we rank."]),
        ("As Smith et al. Showed, it works. Next.", ["As Smith et al. Showed, it works.", "Next."]),
        ("DPO vs. PPO is compared. Both work.", ["DPO vs. PPO is compared.", "Both work."]),
        ("See Fig. 3 for the curve. It is flat.", ["See Fig. 3 for the curve.", "It is flat."]),
        ("성능이 3.5배 좋아졌습니다. 비용은 같습니다.", ["성능이 3.5배 좋아졌습니다.", "비용은 같습니다."]),
        ("Llama v1.5 beats v1.0 by 2.3 points. Code is public.",
         ["Llama v1.5 beats v1.0 by 2.3 points.", "Code is public."]),
        ("Data from the U.S. Census is used. It is public.", ["Data from the U.S. Census is used.", "It is public."]),
        ("Written by J. Doe and A. N. Other. Done.", ["Written by J. Doe and A. N. Other.", "Done."]),
        ("Table No. 4 lists them. Good.", ["Table No. 4 lists them.", "Good."]),
        ("Can models reason? We test it. 정말입니다!", ["Can models reason?", "We test it.", "정말입니다!"]),
        ('He said "Stop." Then it stopped.', ['He said "Stop."', "Then it stopped."]),
        ("모델을 제안합니다(부록 참고). 결과가 좋습니다.", ["모델을 제안합니다(부록 참고).", "결과가 좋습니다."]),
        ("첫째 요점\n둘째 요점. 셋째 문장입니다.", ["첫째 요점", "둘째 요점.", "셋째 문장입니다."]),
        ("", []),
    ],
)
def test_sentences_are_split_without_cutting_names_abbreviations_or_numbers(text: str,
                                                                           expected: list[str]) -> None:
    assert sentences(text) == expected


# --- answers --------------------------------------------------------------------------------------------
def paper(arxiv_id: str, title: str, whats_new: str = "", abstract: str = "", **sections: str) -> StoredPaper:
    return StoredPaper(arxiv_id=arxiv_id, title=title, url=f"https://arxiv.org/abs/{arxiv_id}", date="2025-04-01",
                       votes=5, authors=(), whats_new=whats_new, abstract=abstract, **sections)


def source(p: StoredPaper, dense: float, lexical: float | None, rank: int) -> Source:
    return Source(p, Candidate(p.arxiv_id, score=1.0 / (60 + rank), dense=dense, lexical=lexical,
                               dense_rank=rank, lexical_rank=rank if lexical else None, sections=["whats_new"]))


def found(question: str, sources: list[Source]) -> Found:
    return Found(QueryPlan(question), sources, True, question)


@pytest.fixture
def engine(fast_library: Components) -> AnswerEngine:
    return AnswerEngine.from_components(fast_library, llm=None, memory=ConversationMemory(turns=4, conversations=10))


CRANES = paper("2503.20001", "Folding Paper Cranes with a Robot Arm",
               "종이학을 접는 로봇 팔을 다룹니다. 접는 순서는 강화학습으로 배웁니다. 종이의 두께는 0.1mm입니다.",
               abstract="A robot arm learns to fold paper cranes. The folding order is learned with reinforcement "
                        "learning, e.g. with PPO. Paper thickness is 0.1 mm.")
UMBRELLA = paper("2503.20002", "An Umbrella Design Benchmark", "우산 디자인을 평가하는 벤치마크입니다.")
CALCULATOR = paper("2503.20003", "Distilling a Tiny Calculator", "작은 계산기 모델을 증류합니다.")
ORIGAMI = paper("2503.20004", "Origami Planning with Language Models", "언어 모델로 종이접기 순서를 계획합니다.")


def test_only_papers_close_to_the_best_one_are_cited(engine: AnswerEngine) -> None:
    close = [source(CRANES, 0.88, 7.0, 1), source(ORIGAMI, 0.87, 6.0, 2), source(UMBRELLA, 0.80, 1.0, 3),
             source(CALCULATOR, 0.79, 0.5, 4)]
    text, cited = engine._extractive(found("종이학 접기", close), "ko", "종이학 접기")
    assert cited == [0, 1] and "Umbrella" not in text and "Calculator" not in text
    alone = [source(CRANES, 0.86, 8.7, 1), source(UMBRELLA, 0.79, None, 2), source(CALCULATOR, 0.79, 1.7, 3)]
    assert engine._extractive(found("종이학", alone), "ko", "종이학")[1] == [0]


def test_at_least_one_and_at_most_three_papers_are_cited(engine: AnswerEngine) -> None:
    tied = [source(p, 0.85, 5.0, n) for n, p in enumerate([CRANES, ORIGAMI, UMBRELLA, CALCULATOR], start=1)]
    assert engine._extractive(found("종이", tied), "ko", "종이")[1] == [0, 1, 2]
    no_evidence = [Source(CRANES, Candidate(CRANES.arxiv_id)), Source(UMBRELLA, Candidate(UMBRELLA.arxiv_id))]
    assert engine._extractive(found("종이", no_evidence), "ko", "종이")[1] == [0]


def test_the_most_relevant_sentence_leads(engine: AnswerEngine) -> None:
    text, _ = engine._extractive(found("강화학습으로 배우는 것은?", [source(CRANES, 0.9, 5.0, 1)]), "ko",
                                 "강화학습으로 배우는 것은?")
    quote = text.splitlines()[1]
    assert quote.startswith("• Folding Paper Cranes with a Robot Arm: 접는 순서는 강화학습으로 배웁니다.")


def test_english_questions_quote_english_abstracts(engine: AnswerEngine) -> None:
    question = "How is the folding order learned?"
    text, cited = engine._extractive(found(question, [source(CRANES, 0.9, 5.0, 1)]), "en", question)
    head, quote = text.splitlines()[:2]
    assert head == "From the digests (English abstracts):" and cited == [0]
    assert quote.startswith("• Folding Paper Cranes with a Robot Arm: The folding order is learned with "
                            "reinforcement learning, e.g. with PPO.")  # "e.g." did not end the sentence
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in quote)
    korean, _ = engine._extractive(found("접는 순서는?", [source(CRANES, 0.9, 5.0, 1)]), "ko", "접는 순서는?")
    assert "접는 순서는 강화학습으로 배웁니다." in korean and "robot arm" not in korean


def test_english_questions_about_korean_only_papers_get_one_english_line_then_the_quotes(
        engine: AnswerEngine) -> None:
    question = "Which benchmark rates umbrella designs?"
    text, _ = engine._extractive(found(question, [source(UMBRELLA, 0.9, 5.0, 1)]), "en", question)
    head, quote = text.splitlines()
    assert head == "From the digests. Their summaries are in Korean, so they are quoted as written:"
    assert quote == "• An Umbrella Design Benchmark: 우산 디자인을 평가하는 벤치마크입니다. [1]"
    mixed, _ = engine._extractive(found("paper folding", [source(CRANES, 0.9, 5.0, 1), source(ORIGAMI, 0.9, 5.0, 2)]),
                                  "en", "paper folding")
    assert mixed.splitlines()[0].endswith("(English abstracts where the paper has one):")


def test_a_korean_question_about_a_paper_with_only_an_abstract_quotes_the_abstract(engine: AnswerEngine) -> None:
    only_abstract = paper("2503.20005", "Abstract Only", abstract="This paper has no Korean summary yet.")
    text, cited = engine._extractive(found("이 논문은?", [source(only_abstract, 0.9, 5.0, 1)]), "ko", "이 논문은?")
    assert cited == [0] and "This paper has no Korean summary yet." in text


def test_a_named_paper_is_cited_alone(sample_library: Components) -> None:
    """Real retrieval over the samples: the question names one paper; nothing unrelated is quoted."""
    answer = AnswerEngine.from_components(
        sample_library, llm=None, memory=ConversationMemory(turns=4, conversations=10)).ask("What is DINO-X?")
    assert [c.arxiv_id for c in answer.citations] == ["2411.14347"]
    assert answer.text.startswith("From the digests. Their summaries are in Korean")
