"""Query-side Korean <-> English term expansion for the lexical retriever.

The digests' summaries are Korean with English names and some English terms; an English question about
"reinforcement learning" shares no BM25 term with a summary that says "강화 학습", and a Korean question
says "강화학습" where a summary may write "RL". Dense e5 bridges the languages, BM25 does not: the question
is searched lexically together with the other language's words for the ML terms it contains.

The glossary is a small hand-written list of common ML vocabulary (our own words, no digest text).
"""

from __future__ import annotations

import re
from functools import lru_cache

# (English forms, Korean forms): any form found in a question adds the other language's forms.
GLOSSARY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("reinforcement learning", "rl"), ("강화학습", "강화 학습")),
    (("reward model", "reward"), ("보상",)),
    (("agent", "agents", "agentic"), ("에이전트",)),
    (("language model", "llm", "llms"), ("언어 모델", "언어모델")),
    (("vision-language", "vlm", "multimodal"), ("멀티모달", "비전-언어", "시각-언어")),
    (("image generation", "text-to-image"), ("이미지 생성",)),
    (("video generation", "text-to-video"), ("비디오 생성", "영상 생성")),
    (("video",), ("비디오", "영상")),
    (("image", "images"), ("이미지",)),
    (("speech", "audio"), ("음성", "오디오")),
    (("music",), ("음악",)),
    (("3d",), ("3차원",)),
    (("diffusion",), ("확산",)),
    (("reasoning",), ("추론",)),
    (("inference",), ("추론",)),
    (("fine-tuning", "finetuning", "fine tuning", "fine-tune"), ("미세 조정", "미세조정", "파인튜닝")),
    (("pretraining", "pre-training"), ("사전 학습", "사전학습")),
    (("training",), ("학습", "훈련")),
    (("dataset", "datasets"), ("데이터셋", "데이터 세트")),
    (("benchmark", "benchmarks"), ("벤치마크",)),
    (("evaluation",), ("평가",)),
    (("retrieval", "rag"), ("검색",)),
    (("search",), ("검색", "탐색")),
    (("robot", "robots", "robotics", "robotic"), ("로봇",)),
    (("autonomous driving", "self-driving"), ("자율 주행", "자율주행")),
    (("code generation", "coding"), ("코드 생성",)),
    (("code",), ("코드",)),
    (("math", "mathematical", "mathematics"), ("수학",)),
    (("hallucination", "hallucinations"), ("환각",)),
    (("safety",), ("안전", "안전성")),
    (("jailbreak", "jailbreaks"), ("탈옥",)),
    (("attack", "attacks", "adversarial"), ("공격", "적대적")),
    (("privacy",), ("프라이버시", "개인정보")),
    (("alignment",), ("정렬",)),
    (("preference", "preferences"), ("선호",)),
    (("distillation",), ("증류",)),
    (("quantization",), ("양자화",)),
    (("pruning",), ("가지치기", "프루닝")),
    (("compression",), ("압축",)),
    (("memory",), ("메모리",)),
    (("long context", "long-context"), ("긴 컨텍스트", "장문 맥락")),
    (("context",), ("컨텍스트", "문맥", "맥락")),
    (("attention",), ("어텐션",)),
    (("transformer", "transformers"), ("트랜스포머",)),
    (("token", "tokens"), ("토큰",)),
    (("tokenizer", "tokenization"), ("토크나이저", "토큰화")),
    (("embedding", "embeddings"), ("임베딩",)),
    (("mixture of experts", "mixture-of-experts", "moe"), ("전문가 혼합",)),
    (("sparse",), ("희소",)),
    (("efficiency", "efficient"), ("효율", "효율성")),
    (("latency",), ("지연",)),
    (("speedup", "acceleration", "faster"), ("가속", "속도")),
    (("cost",), ("비용",)),
    (("parallel", "parallelism"), ("병렬",)),
    (("scaling", "scaling law", "scaling laws"), ("스케일링", "확장")),
    (("synthetic data",), ("합성 데이터",)),
    (("synthetic",), ("합성",)),
    (("data",), ("데이터",)),
    (("translation",), ("번역",)),
    (("multilingual",), ("다국어",)),
    (("low-resource",), ("저자원",)),
    (("korean",), ("한국어",)),
    (("summarization",), ("요약",)),
    (("question answering",), ("질의응답", "질문 응답")),
    (("dialogue", "conversation", "chat"), ("대화",)),
    (("recommendation", "recommender"), ("추천",)),
    (("medical", "clinical", "healthcare"), ("의료", "임상")),
    (("biology", "biological"), ("생물",)),
    (("chemistry", "molecule", "molecular"), ("화학", "분자")),
    (("protein", "proteins"), ("단백질",)),
    (("weather", "climate"), ("날씨", "기후")),
    (("finance", "financial"), ("금융",)),
    (("legal", "law"), ("법률",)),
    (("education",), ("교육",)),
    (("game", "games"), ("게임",)),
    (("world model", "world models"), ("월드 모델", "세계 모델")),
    (("simulation", "simulator"), ("시뮬레이션",)),
    (("planning",), ("계획",)),
    (("tool use", "tool-use", "tools"), ("도구",)),
    (("web",), ("웹",)),
    (("gui",), ("GUI",)),
    (("segmentation",), ("분할",)),
    (("detection",), ("탐지", "검출")),
    (("tracking",), ("추적",)),
    (("depth estimation",), ("깊이 추정",)),
    (("pose",), ("자세",)),
    (("editing",), ("편집",)),
    (("personalization", "personalized"), ("개인화",)),
    (("watermark", "watermarking"), ("워터마크",)),
    (("uncertainty",), ("불확실성",)),
    (("calibration",), ("보정",)),
    (("interpretability", "explainability"), ("해석 가능성", "해석")),
    (("bias",), ("편향",)),
    (("fairness",), ("공정성",)),
    (("robustness", "robust"), ("강건성", "견고성")),
    (("generalization",), ("일반화",)),
    (("continual learning",), ("지속 학습", "연속 학습")),
    (("federated learning",), ("연합 학습",)),
    (("self-supervised",), ("자기 지도",)),
    (("contrastive",), ("대조",)),
    (("curriculum",), ("커리큘럼",)),
    (("verifier", "verification"), ("검증",)),
    (("feedback",), ("피드백",)),
    (("human",), ("인간", "사람")),
    (("collaboration", "multi-agent"), ("협업", "다중 에이전트", "멀티 에이전트")),
    (("optimization", "optimizer"), ("최적화",)),
    (("architecture",), ("아키텍처", "구조")),
    (("layer", "layers"), ("레이어", "층")),
    (("cache", "caching"), ("캐시",)),
    (("decoding",), ("디코딩",)),
    (("sampling",), ("샘플링",)),
    (("prompt", "prompts", "prompting"), ("프롬프트",)),
    (("chain-of-thought", "chain of thought", "cot"), ("사고 연쇄", "사고의 사슬")),
    (("test-time", "test time"), ("테스트 시간", "추론 시간")),
    (("graph", "graphs"), ("그래프",)),
    (("table", "tables", "tabular"), ("표", "테이블")),
    (("document", "documents"), ("문서",)),
    (("ocr",), ("문자 인식",)),
    (("time series", "time-series"), ("시계열",)),
    (("forecasting", "prediction"), ("예측",)),
    (("anomaly",), ("이상",)),
    (("survey",), ("서베이", "조사")),
    (("open-source", "open source"), ("오픈소스", "오픈 소스")),
)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    """One matcher per form: English forms as whole words (case-insensitive), Korean forms at the start of
    a word (Korean attaches particles, so "강화학습을" must match "강화학습", but "학습" inside "강화학습" and
    "화학" inside it must not)."""
    out: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
    for english, korean in GLOSSARY:
        for form in english:
            out.append((re.compile(rf"(?<![\w-]){re.escape(form)}(?![\w-])", re.IGNORECASE), korean))
        for form in korean:
            out.append((re.compile(rf"(?<![가-힣]){re.escape(form)}"), english))
    return tuple(out)


def expand_query(question: str) -> list[str]:
    """The other language's words for the glossary terms in ``question`` (none already in it)."""
    lowered = question.lower()
    extra: list[str] = []
    for pattern, other in _patterns():
        if pattern.search(question):
            extra.extend(w for w in other if w.lower() not in lowered and w not in extra)
    return extra


def expanded(question: str) -> str:
    """``question`` followed by its expansion terms (the lexical retriever's query)."""
    extra = expand_query(question)
    return f"{question} {' '.join(extra)}" if extra else question
