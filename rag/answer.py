"""The answer engine: route → retrieve → synthesize (LLM or extractive) → validate citations.

Every answer cites the digest papers it used as [n] with links rendered from our own metadata. With no
LLM configured, or when it fails after bounded retries, the answer is extractive: the most relevant
sentences of the retrieved summaries, with the same citations and a one-line note saying why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from loaders.digest import SECTIONS
from rag.catalog import StoredPaper
from rag.citations import Citation, validate
from rag.library import Library
from rag.llm import ChatLLM, LLMUnavailable, OnToken
from rag.memory import ConversationMemory, Turn
from rag.query import QueryPlan, plan_query
from rag.retrieval import Candidate, HybridRetriever
from rag.text import language, sentences

LANGUAGE_NAMES = {"ko": "Korean", "en": "English"}
DEFAULT_ZONE = "Asia/Seoul"


@dataclass
class Source:
    """A retrieved paper as shown to the answerer; its position + 1 is its [n] in the prompt."""

    paper: StoredPaper
    candidate: Candidate | None = None

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "arxiv_id": self.paper.arxiv_id,
            "title": self.paper.title,
            "url": self.paper.url,
            "date": self.paper.date,
            "votes": self.paper.votes,
            "score": round(c.score, 5) if c else None,
            "dense": round(c.dense, 4) if c and c.dense is not None else None,
            "lexical": round(c.lexical, 3) if c and c.lexical is not None else None,
            "found_by": c.found_by if c else ["metadata"],
        }


@dataclass
class Found:
    plan: QueryPlan
    sources: list[Source]
    covered: bool
    retrieval_query: str
    note: str | None = None  # for operators (JSON, logs), English: e.g. "no digest for 2026-11-20"
    timings_ms: dict[str, float] = field(default_factory=dict)
    # What users are told, in their language, when nothing is found (see AnswerEngine._not_covered).
    missing_ids: list[str] = field(default_factory=list)  # asked-for arXiv ids that are not in the digests
    missing_date: str | None = None  # the asked-for date(s) that have no digest
    newest: str | None = None  # the newest digest date, when missing_date is set


@dataclass
class Answer:
    question: str
    text: str
    language: str
    mode: str
    covered: bool
    citations: list[Citation]
    sources: list[Source]
    llm: dict[str, Any]
    timings_ms: dict[str, float]
    messages: list[dict[str, str]] = field(default_factory=list)  # the exact prompt, when an LLM was asked

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "language": self.language,
            "mode": self.mode,
            "covered": self.covered,
            "citations": [c.to_json() for c in self.citations],
            "sources": [s.to_json() for s in self.sources],
            "llm": self.llm,
            "timings_ms": self.timings_ms,
        }

    def render_text(self) -> str:
        """Plain text for terminals: the answer, then the cited papers with their links."""
        lines = [self.text]
        if self.citations:
            lines.append("")
            lines += [f"[{c.n}] {c.title} ({c.date}, {c.votes} votes) {c.url}" for c in self.citations]
        return "\n".join(lines)


@dataclass
class LLMStatus:
    """How the LLM has been answering: for operators (``/healthz``), never shown to users."""

    last_ok: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    answers: int = 0
    failures: int = 0

    def succeeded(self) -> None:
        self.answers += 1
        self.last_ok = time.time()

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error, self.last_error_at = reason, time.time()

    @property
    def failing(self) -> bool:
        """The last attempt failed."""
        return self.last_error_at is not None and (self.last_ok is None or self.last_error_at > self.last_ok)


def load_prompt(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


class AnswerEngine:
    def __init__(self, library: Library, llm: ChatLLM | None, memory: ConversationMemory,
                 *, prompts_dir: Path | None = None, clock: Callable[[], date] | None = None) -> None:
        self.library = library
        self.llm = llm
        self.memory = memory
        self.retriever = HybridRetriever(library)
        self.prompts_dir = prompts_dir or library.settings.prompts_dir
        self.system_prompt_path: Path | None = None  # overrides answer_system.txt (the REPL's /prompt)
        self.llm_status = LLMStatus()
        self._clock = clock or (lambda: datetime.now(ZoneInfo(DEFAULT_ZONE)).date())

    @classmethod
    def from_settings(cls, library: Library) -> AnswerEngine:
        settings = library.settings
        llm = ChatLLM.from_settings(settings) if settings.llm_configured else None
        return cls(library, llm, ConversationMemory(settings.memory_turns, settings.memory_conversations))

    def llm_health(self) -> dict[str, Any] | None:
        """The LLM's recent record for ``/healthz``; None when no LLM is configured."""
        if self.llm is None:
            return None
        status = self.llm_status
        return {"model": self.llm.model, "failing": status.failing, "last_error": status.last_error,
                "last_error_at": status.last_error_at, "last_ok": status.last_ok, "answers": status.answers,
                "failures": status.failures}

    # --- retrieval -------------------------------------------------------------------------------------
    def find(self, question: str, conversation_id: str | None = None, top_k: int | None = None) -> Found:
        started = time.perf_counter()
        self.library.refresh()
        k = top_k or self.library.settings.top_k
        catalog = self.library.catalog
        plan = plan_query(question, catalog.dates(), self._clock())
        timings: dict[str, float] = {"route": _ms(started)}

        if plan.mode == "lookup":
            by_id = catalog.get_many(plan.arxiv_ids)
            missing = [i for i in plan.arxiv_ids if i not in by_id]
            note = f"not in the digests: {', '.join(missing)}" if missing else None
            sources = [Source(p) for p in by_id.values()]
            return Found(plan, sources, bool(sources), question, note, timings, missing_ids=missing)

        allowed: list[str] | None = None
        note = None
        if plan.dates is not None:
            allowed = [p.arxiv_id for d in plan.dates for p in catalog.top_on(d)]
            if not allowed:
                newest = catalog.dates()[:1]
                note = f"no digest for {plan.date_words or 'that date'}" + (
                    f"; the newest is {newest[0]}" if newest else "")
                asked = ", ".join(plan.dates) or (plan.date_words or "").replace("..", " – ")
                return Found(plan, [], False, question, note, timings, missing_date=asked,
                             newest=newest[0] if newest else None)

        if plan.mode == "top":
            assert plan.dates is not None or plan.by_votes
            # No date named: rank across every digest ("the most voted paper overall").
            dates = plan.dates if plan.dates is not None else catalog.dates()
            papers = [p for d in dates for p in catalog.top_on(d)]
            if plan.votes_equal is not None:
                papers = [p for p in papers if p.votes == plan.votes_equal]
            papers.sort(key=lambda p: p.rank_votes, reverse=not plan.ascending)
            limit = plan.limit or (1 if _asks_single(question) and plan.votes_equal is None else k)
            return Found(plan, [Source(p) for p in papers[:limit]], bool(papers), question, note, timings)

        query, boost = self._with_context(question, conversation_id)
        retrieval = self.retriever.retrieve(query, k, allowed, boost)
        timings.update(retrieval.timings_ms)
        papers_by_id = catalog.get_many(c.arxiv_id for c in retrieval.candidates)
        sources = [Source(papers_by_id[c.arxiv_id], c) for c in retrieval.candidates if c.arxiv_id in papers_by_id]
        covered = bool(sources) and (retrieval.covered or self._names_top_paper(question, sources[:2]))
        timings["total"] = _ms(started)
        return Found(plan, sources, covered, query, note, timings)

    def _names_top_paper(self, question: str, top: list[Source]) -> bool:
        """A question naming a distinctive word of a top paper's title ("What is Hymba?") is covered
        even when its scores are low: short English questions against Korean summaries score low on
        both retrievers, and BM25 scores shrink in small collections."""
        catalog = self.library.catalog
        limit = max(2, catalog.counts()["papers"] // 100)  # "distinctive": in at most 1% of the titles
        words = {w for w in self.library.tokenizer.tokens(question) if len(w) >= 4}
        for source in top:
            title_words = set(self.library.tokenizer.tokens(source.paper.title))
            for word in words & title_words:
                if catalog.title_frequency(word) <= limit:
                    return True
        return False

    def _with_context(self, question: str, conversation_id: str | None) -> tuple[str, list[str]]:
        """A follow-up ("그 논문의 성능은?") is searched together with the previous question, and the
        papers cited last time are favoured."""
        last = self.memory.last(conversation_id)
        if last is None or not _is_follow_up(question):
            return question, []
        return f"{last.question} {question}", list(last.cited)

    # --- answering -------------------------------------------------------------------------------------
    def ask(self, question: str, conversation_id: str | None = None, *, use_llm: bool | None = None,
            top_k: int | None = None, on_token: OnToken | None = None) -> Answer:
        started = time.perf_counter()
        question = question.strip()
        lang = language(question)
        found = self.find(question, conversation_id, top_k)
        timings = dict(found.timings_ms)
        llm_info: dict[str, Any] = {"used": False, "model": None, "reason": None}
        messages: list[dict[str, str]] = []
        want_llm = self.llm is not None and (use_llm is None or use_llm)
        if not want_llm:
            llm_info["reason"] = "no LLM configured" if self.llm is None else "LLM switched off"

        synth_started = time.perf_counter()
        cited: list[int] = []
        if not found.covered or not found.sources:
            text = self._not_covered(found, lang)
        elif found.plan.mode in ("top", "lookup") or not want_llm:
            text, cited = self._extractive(found, lang, question)
        else:
            assert self.llm is not None
            messages = self.build_messages(question, found, lang, conversation_id)
            try:
                raw = self.llm.complete(messages, on_token)
                text, cited = validate(raw, len(found.sources))
                llm_info.update(used=True, model=self.llm.model)
                if not text:
                    raise LLMUnavailable("the LLM returned an empty answer")
                self.llm_status.succeeded()
            except LLMUnavailable as exc:
                llm_info.update(used=False, model=self.llm.model, reason=exc.reason)
                self.llm_status.failed(exc.reason)
                text, cited = self._extractive(found, lang, question)
        if found.plan.mode in ("top", "lookup"):
            llm_info["reason"] = llm_info["reason"] or "metadata question: answered from the catalog"
        timings["synthesize"] = _ms(synth_started)

        note = self._note(llm_info, lang, found)
        if note:
            text = f"{text}\n\n{note}"
        citations = [
            Citation(n, s.paper.arxiv_id, s.paper.title, s.paper.url, s.paper.date, s.paper.votes)
            for n, s in enumerate((found.sources[i] for i in cited), start=1)
        ]
        # Sources are reordered so that source i+1 is citation [i+1]; uncited ones follow.
        ordered = [found.sources[i] for i in cited] + [s for i, s in enumerate(found.sources) if i not in cited]
        timings["total"] = _ms(started)
        self.memory.add(conversation_id, Turn(question, text, [c.arxiv_id for c in citations]))
        return Answer(question, text, lang, found.plan.mode, found.covered and bool(found.sources), citations,
                      ordered, llm_info, timings, messages)

    def build_messages(self, question: str, found: Found, lang: str,
                       conversation_id: str | None) -> list[dict[str, str]]:
        system_file = self.system_prompt_path or self.prompts_dir / "answer_system.txt"
        system = system_file.read_text(encoding="utf-8").replace("{language}", LANGUAGE_NAMES[lang])
        blocks = []
        for n, source in enumerate(found.sources, start=1):
            p = source.paper
            sections = "\n".join(f"{label}: {getattr(p, key)}" for key, label in SECTIONS if getattr(p, key))
            blocks.append(f"[{n}] {p.title} (arXiv {p.arxiv_id}; digest {p.date}; {_votes(p.votes, 'en')})\n{sections}")
        # str.replace, not format(): summaries and questions may contain braces.
        user = (load_prompt(self.prompts_dir, "answer_user.txt")
                .replace("{sources}", "\n\n".join(blocks)).replace("{question}", question))
        messages = [{"role": "system", "content": system}]
        for turn in self.memory.turns(conversation_id):
            messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
        messages.append({"role": "user", "content": user})
        return messages

    def _extractive(self, found: Found, lang: str, question: str) -> tuple[str, list[int]]:
        plan = found.plan
        if plan.mode == "top":
            when = plan.date_words or (found.sources[0].paper.date if found.sources else "")
            head = (f"{when} 다이제스트에서 추천을 가장 많이 받은 논문입니다:" if lang == "ko"
                    else f"Most-voted papers of the {when} digest:")
            rows = [f"{n}. {s.paper.title} — {_votes(s.paper.votes, lang)} [{n}]"
                    for n, s in enumerate(found.sources, start=1)]
            return "\n".join([head, *rows]), list(range(len(found.sources)))
        if plan.mode == "lookup":
            parts = []
            for n, source in enumerate(found.sources, start=1):
                p = source.paper
                parts.append(f"{p.title} ({p.date}, {_votes(p.votes, lang)}) [{n}]\n"
                             + "\n".join(f"• {label}: {text}" for key, label in SECTIONS if (text := getattr(p, key))))
            return "\n\n".join(parts), list(range(len(found.sources)))

        tokens = set(self.library.tokenizer.tokens(question))
        picked: list[tuple[int, str]] = []
        for index, source in enumerate(found.sources[:3]):
            best = _best_sentences(source, tokens, self.library.tokenizer.tokens, 2 if index == 0 else 1, lang)
            picked.append((index, " ".join(best)))
        head = "다이제스트에서 찾은 관련 논문입니다:" if lang == "ko" else "From the digests:"
        lines = [head] + [f"• {found.sources[i].paper.title}: {text} [{n}]"
                          for n, (i, text) in enumerate(picked, start=1)]
        return "\n".join(lines), [i for i, _ in picked]

    # What users read is in their language and says nothing about our internals; the details (the LLM's
    # reason, the English note) are in Answer.llm / Found.note, the logs and /healthz.
    @staticmethod
    def _not_covered(found: Found, lang: str) -> str:
        ko = lang == "ko"
        if found.missing_date is not None:
            if found.newest is None:
                return "아직 색인된 다이제스트가 없습니다." if ko else "No digests have been loaded yet."
            when = found.missing_date or ("그 날짜" if ko else "that date")
            return (f"{when} 다이제스트는 없습니다. 가장 최근 다이제스트는 {found.newest}입니다." if ko
                    else f"There is no digest for {when}; the newest is {found.newest}.")
        if found.plan.mode == "lookup":
            ids = ", ".join(found.missing_ids)
            return (f"{ids} 논문은 다이제스트에 없습니다." if ko
                    else f"{'Paper' if len(found.missing_ids) == 1 else 'Papers'} {ids} "
                         f"{'is' if len(found.missing_ids) == 1 else 'are'} not in the digests.")
        return ("저장된 다이제스트에는 이 질문에 답하는 논문이 없습니다." if ko
                else "None of the stored digests cover this question.")

    @staticmethod
    def _note(llm_info: dict[str, Any], lang: str, found: Found) -> str | None:
        if llm_info["used"] or found.plan.mode in ("top", "lookup") or not found.covered:
            return None
        if llm_info["model"] is None:  # no LLM configured, or switched off
            return ("ⓘ LLM 없이 요약문에서 발췌한 답변입니다." if lang == "ko"
                    else "ⓘ Extractive answer from the digest summaries.")
        en, ko = _user_reason(str(llm_info["reason"] or ""))
        if lang == "ko":
            return f"ⓘ {ko} 요약문에서 발췌한 답변입니다."
        return f"ⓘ Extractive answer from the digest summaries ({en})."


def _user_reason(reason: str) -> tuple[str, str]:
    """(English, Korean) words for users about an LLM failure (``rag.llm._classify``'s reasons). A slow or
    busy LLM is worth saying; a refused key, a rejected request or anything unknown is the operator's
    problem (logged, and in /healthz): users get a neutral note."""
    if "timed out" in reason:
        return "the LLM timed out", "LLM 응답이 늦어"
    if "rate-limited" in reason:
        return "the LLM is busy", "LLM이 붐벼"
    return "the language model is unavailable right now", "지금은 LLM을 쓸 수 없어"


def _votes(votes: int | None, lang: str) -> str:
    if votes is None:
        return "추천 수 미상" if lang == "ko" else "votes unknown"
    return f"{votes}표" if lang == "ko" else f"{votes} votes"


def _best_sentences(source: Source, query_tokens: set[str], tokenize: Callable[[str], list[str]],
                    count: int, lang: str) -> list[str]:
    """The summary sentences sharing most terms with the question; What's New breaks ties.

    An English question is answered from the English abstract when the paper has one; a Korean one
    from the Korean digest text."""
    scored: list[tuple[float, int, str]] = []
    order = 0
    matched = source.candidate.sections if source.candidate else []
    english = lang == "en" and bool(source.paper.abstract)
    for key, _label in SECTIONS:
        if (key == "abstract") != english:
            continue
        for sentence in sentences(getattr(source.paper, key)):
            overlap = len(query_tokens & set(tokenize(sentence)))
            prior = (0.5 if key == "whats_new" else 0.0) + (0.3 if key in matched[:1] else 0.0)
            scored.append((overlap + prior - order * 0.01, order, sentence))
            order += 1
    best = sorted(scored, reverse=True)[:count]
    return [sentence for _, _, sentence in sorted(best, key=lambda item: item[1])]


# Explicit references only: "it"/"its"/"they" appear in too many standalone questions ("What is DINO-X and
# what can it detect?") and would drag the previous topic into an unrelated search.
_FOLLOW_UP_MARKERS = ("그 논문", "이 논문", "그것", "그거", "거기", "그 모델", "이 모델", "해당 논문", "위 논문",
                      "that paper", "this paper", "the paper", "those papers", "these papers", "that model",
                      "this model", "the first one", "the second one", "첫 번째", "두 번째")


def _is_follow_up(question: str) -> bool:
    lowered = f"{question.lower()} "
    return any(marker in lowered for marker in _FOLLOW_UP_MARKERS)


def _asks_single(question: str) -> bool:
    lowered = question.lower()
    plural = ("papers", "논문들", "top ", "상위", "목록", "list")
    return not any(word in lowered for word in plural) and any(
        word in lowered for word in ("가장", "제일", "most", "최다", "1위", "highest", "least", "fewest", "lowest"))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

