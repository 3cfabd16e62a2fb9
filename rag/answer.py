"""The answer engine: route → retrieve → synthesize (LLM or extractive) → validate citations.

Every answer cites the digest papers it used as [n] with links rendered from our own metadata. With no
LLM configured, or when it fails after bounded retries, the answer is extractive: the most relevant
sentences of the retrieved summaries, with the same citations and a one-line note saying why.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from llama_index.core.instrumentation import get_dispatcher

from loaders.digest import SECTIONS
from rag.citations import Citation, validate
from rag.instrumentation import AnswerEvent, EngineInstrumentation, RouteEvent
from rag.llm import ChatLLM, LLMUnavailable, OnToken
from rag.memory import ConversationMemory, Turn
from rag.messages import Messages, messages_for
from rag.query import QueryPlan, plan_query
from rag.retrieval import Candidate, HybridRetriever
from rag.storage.catalog import Catalog, StoredPaper
from rag.text import KoreanTokenizer, language, sentences

dispatcher = get_dispatcher(__name__)

if TYPE_CHECKING:
    from rag.components import Components

Slot = Callable[[], AbstractContextManager[object]]  # see AnswerEngine.ask's ``slot``
LANGUAGE_NAMES = {"ko": "Korean", "en": "English"}
DEFAULT_ZONE = "Asia/Seoul"
# Extractive answers cite the papers whose relative-score fusion of the retrieval evidence is at least this
# share of the best one's (at least one, at most MAX_EXTRACTIVE_CITED): a weak third paper is left out
# rather than quoted. See _close_to_best.
CITE_RELATIVE_SCORE = 0.65
MAX_EXTRACTIVE_CITED = 3
# A reply about a message's papers that none of them answers is a question of its own when the whole index
# answers it with another paper at least this much closer in meaning (e5 cosine; see AnswerEngine._scoped).
SCOPE_ESCAPE_DENSE = 0.03
# Vote questions with a condition ("100표 이상") list up to this many papers, then say how many more.
MAX_LISTED = 20
Entry = tuple[str, str, int | None]  # a listed paper: (arxiv_id, the digest it is shown from, its votes there)


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
    # "top" answers: papers of the asked dates that meet the question (all of them for a ranking), how many
    # beyond those shown tie with the last one shown, and how many had unknown votes (never counted by a
    # vote condition such as "0표").
    matched: int = 0
    tied_more: int = 0
    unknown_votes: int = 0
    # A reply about the papers of one message (``arxiv_ids`` given to find): only they took part; ``named``:
    # the question named them ("the second", "1 and 3"), so every one is a source and is cited.
    scoped: bool = False
    named: bool = False


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
            lines += [f"[{c.n}] {c.title} ({c.date}, {_votes(c.votes, 'en')}) {c.url}" for c in self.citations]
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
    """Routing, retrieval and synthesis over injected components; ``rag.service.Papers`` is what faces call."""

    def __init__(self, catalog: Catalog, retriever: HybridRetriever, tokenizer: KoreanTokenizer,
                 llm: ChatLLM | None, memory: ConversationMemory, *, prompts_dir: Path, top_k: int = 5,
                 clock: Callable[[], date] | None = None, instrumentation: EngineInstrumentation | None = None) -> None:
        self.catalog = catalog
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.llm = llm
        self.memory = memory
        self.top_k = top_k
        self.prompts_dir = prompts_dir
        self.system_prompt_path: Path | None = None  # overrides answer_system.txt (the REPL's /prompt)
        self.llm_status = LLMStatus()
        self._clock = clock or (lambda: datetime.now(ZoneInfo(DEFAULT_ZONE)).date())
        # Per-step timings (Answer.timings_ms) and process totals (instrumentation.metrics) come from the
        # LlamaIndex spans and events of this engine's calls (rag.instrumentation).
        self.instrumentation = instrumentation or EngineInstrumentation()
        self.instrumentation.watch(self)

    @classmethod
    def from_components(cls, c: Components, *, llm: Any = "components", memory: ConversationMemory | None = None,
                        clock: Callable[[], date] | None = None,
                        instrumentation: EngineInstrumentation | None = None) -> AnswerEngine:
        """The engine over ``c``'s parts; ``llm``: another LLM than ``c.llm`` (None: extractive only);
        ``instrumentation``: where its steps are recorded (shared metrics; a new one by default)."""
        settings = c.settings
        retriever = HybridRetriever(c.embedder, c.vectors, c.lexical, settings.retrieval)
        return cls(c.catalog, retriever, c.tokenizer, c.llm if llm == "components" else llm,
                   memory or ConversationMemory(settings.memory.turns, settings.memory.conversations),
                   prompts_dir=settings.llm.prompts_dir, top_k=settings.retrieval.top_k, clock=clock,
                   instrumentation=instrumentation)

    def llm_health(self) -> dict[str, Any] | None:
        """The LLM's recent record for ``/healthz``; None when no LLM is configured."""
        if self.llm is None:
            return None
        status = self.llm_status
        return {"model": self.llm.model, "failing": status.failing, "last_error": status.last_error,
                "last_error_at": status.last_error_at, "last_ok": status.last_ok, "answers": status.answers,
                "failures": status.failures}

    # --- retrieval -------------------------------------------------------------------------------------
    @dispatcher.span
    def find(self, question: str, conversation_id: str | None = None, top_k: int | None = None, *,
             arxiv_ids: Sequence[str] | None = None, named: bool = False) -> Found:
        found = self._find(question, conversation_id, top_k or self.top_k, arxiv_ids, named)
        found.timings_ms = self.instrumentation.timings_ms()
        return found

    @dispatcher.span
    def _route(self, question: str) -> QueryPlan:
        plan = plan_query(question, self.catalog.dates(), self._clock(), self.catalog.authors_named)
        dispatcher.event(RouteEvent(mode=plan.mode, dates=None if plan.dates is None else len(plan.dates),
                                    arxiv_ids=len(plan.arxiv_ids), votes_condition=plan.votes_condition))
        return plan

    def _find(self, question: str, conversation_id: str | None, k: int, arxiv_ids: Sequence[str] | None,
              named: bool) -> Found:
        catalog = self.catalog
        if arxiv_ids is not None:
            scoped = self._scoped(question, list(dict.fromkeys(arxiv_ids)), named, k)
            if scoped is not None:
                return scoped
        plan = self._route(question)

        if plan.mode == "lookup":
            by_id = catalog.get_many(plan.arxiv_ids)
            missing = [i for i in plan.arxiv_ids if i not in by_id]
            note = f"not in the digests: {', '.join(missing)}" if missing else None
            sources = [Source(p) for p in by_id.values()]
            return Found(plan, sources, bool(sources), question, note, missing_ids=missing)

        allowed: list[str] | None = None
        note = None
        if plan.dates is not None:
            allowed = list(dict.fromkeys(arxiv_id for arxiv_id, _, _ in catalog.appearances(plan.dates)))
            if not allowed:
                newest = catalog.dates()[:1]
                note = f"no digest for {plan.date_words or 'that date'}" + (
                    f"; the newest is {newest[0]}" if newest else "")
                asked = ", ".join(plan.dates) or (plan.date_words or "").replace("..", " – ")
                return Found(plan, [], False, question, note, missing_date=asked,
                             newest=newest[0] if newest else None)

        if plan.instead_of and plan.dates:
            note = f"no digest for {plan.instead_of}; answered from the nearest, {plan.dates[0]}"

        if plan.mode == "top":
            return self._top(plan, question, k, note)
        if plan.mode == "author":
            return self._by_author(plan, question, note)
        if plan.votes_condition:  # a topic among the papers meeting a vote condition
            allowed = catalog.papers_with_votes(plan.votes_min, plan.votes_max, plan.dates)
            if not allowed:
                return Found(plan, [], False, question, note)
        if plan.author is not None:  # a topic among the author's papers (and the asked dates and votes)
            within = None if allowed is None else set(allowed)
            allowed = [i for i in plan.author_papers if within is None or i in within]
            if not allowed:
                return Found(plan, [], False, question, note)

        query, boost = self._with_context(question, conversation_id, plan.search_text)
        retrieval = self.retriever.search(query, k, allowed, boost)
        papers_by_id = catalog.get_many(c.arxiv_id for c in retrieval.candidates)
        sources = [Source(papers_by_id[c.arxiv_id], c) for c in retrieval.candidates if c.arxiv_id in papers_by_id]
        covered = bool(sources) and (retrieval.covered or self._names_top_paper(question, sources[:2]))
        return Found(plan, sources, covered, query, note,
                     matched=len(allowed) if plan.author is not None and allowed is not None else 0)

    def _scoped(self, question: str, arxiv_ids: list[str], named: bool, k: int) -> Found | None:
        """Only ``arxiv_ids`` take part, whatever dates or votes the question mentions. ``named``: all of them
        are the sources, in the order given; otherwise retrieval ranks them. Papers gone from the catalog
        are left out.

        None (answer it as a question of its own) when the question names no paper, none of ``arxiv_ids``
        answers it, and the whole index does, clearly better, with another paper: a reply that asks something
        else ("Gaussian splatting image-to-3D paper?" under an answer about OmniHuman). "What dataset did it
        use?" matches nothing clearly anywhere, so it stays with the replied-to papers."""
        plan = QueryPlan(text=question)
        retrieval = self.retriever.search(question, len(arxiv_ids) if named else k, arxiv_ids)
        if not named and not retrieval.covered:
            whole = self.retriever.search(question, 1)
            best = max((c.dense for c in retrieval.candidates if c.dense is not None), default=-1.0)
            if whole.covered and whole.candidates and whole.candidates[0].arxiv_id not in arxiv_ids \
                    and (whole.candidates[0].dense or -1.0) >= best + SCOPE_ESCAPE_DENSE:
                return None
        by_id = self.catalog.get_many(arxiv_ids)
        candidates = {c.arxiv_id: c for c in retrieval.candidates}
        order = arxiv_ids if named else [c.arxiv_id for c in retrieval.candidates]
        sources = [Source(by_id[i], candidates.get(i)) for i in order if i in by_id]
        return Found(plan, sources, bool(sources), question, None, scoped=True, named=named)

    def _top(self, plan: QueryPlan, question: str, k: int, note: str | None) -> Found:
        """Vote rankings, vote conditions and date listings, from the catalog alone. Only papers of the
        asked dates (every date when none was named) take part; papers tied with the last one shown are
        shown too ("most voted" names every paper sharing the top count)."""
        assert plan.dates is not None or plan.by_votes
        catalog = self.catalog
        # One entry per paper: its appearance with the most votes among the asked dates (newest on a tie).
        best: dict[str, tuple[str, int | None]] = {}
        for arxiv_id, day, votes in catalog.appearances(plan.dates):
            kept = best.get(arxiv_id)
            if kept is None or (_known_votes(votes), day) > (_known_votes(kept[1]), kept[0]):
                best[arxiv_id] = (day, votes)
        entries = [(arxiv_id, day, votes) for arxiv_id, (day, votes) in best.items() if plan.votes_match(votes)]
        _rank_by_votes(entries, plan.ascending)
        default = MAX_LISTED if plan.votes_condition else (1 if _asks_single(question) else k)
        limit = plan.limit or default
        shown = _with_ties(entries, limit, cap=max(limit, MAX_LISTED))
        tied_more = 0
        if shown and shown[-1][2] is not None:
            tied_more = sum(1 for e in entries[len(shown):] if e[2] == shown[-1][2])
        sources = self._as_appeared(shown)
        return Found(plan, sources, bool(best), question, note, matched=len(entries),
                     tied_more=tied_more, unknown_votes=sum(1 for _, votes in best.values() if votes is None))

    def _by_author(self, plan: QueryPlan, question: str, note: str | None) -> Found:
        """An author's papers from the catalog: those of the asked dates meeting the vote condition, newest
        first, or by votes when the question ranks them ("Kaiming He의 가장 인기 있는 논문"); each shown as it
        appeared in its newest (or most voted) asked digest. Up to the asked number or MAX_LISTED, and
        papers tied with the last one of a vote ranking."""
        within = None if plan.dates is None else set(plan.dates)
        known = self.catalog.known(plan.author_papers)

        def shown_as(appearance: tuple[str, int | None]) -> tuple[int, str] | tuple[str, int]:
            day, votes = appearance
            return (_known_votes(votes), day) if plan.by_votes else (day, _known_votes(votes))

        entries: list[Entry] = []
        for arxiv_id in plan.author_papers:
            seen = [(day, votes) for day, votes in known.get(arxiv_id, ("", {}))[1].items()
                    if within is None or day in within]
            if not seen:
                continue
            day, votes = max(seen, key=shown_as)
            if plan.votes_match(votes):
                entries.append((arxiv_id, day, votes))
        if plan.by_votes and not plan.votes_condition:
            _rank_by_votes(entries, plan.ascending)
        else:
            entries.sort(key=lambda e: (_newest_first(e[1]), -_known_votes(e[2]), e[0]))
        limit = plan.limit or (1 if plan.by_votes and _asks_single(question) else MAX_LISTED)
        shown = _with_ties(entries, limit) if plan.by_votes else entries[:limit]
        return Found(plan, self._as_appeared(shown), True, question, note, matched=len(entries))

    def _as_appeared(self, shown: list[Entry]) -> list[Source]:
        """Each listed paper as it appeared in the asked digest: that date and that day's votes."""
        papers = self.catalog.get_many(arxiv_id for arxiv_id, _, _ in shown)
        return [Source(replace(papers[arxiv_id], date=day, votes=votes))
                for arxiv_id, day, votes in shown if arxiv_id in papers]

    def _names_top_paper(self, question: str, top: list[Source]) -> bool:
        """A question naming a distinctive word of a top paper's title ("What is Hymba?") is covered
        even when its scores are low: short English questions against Korean summaries score low on
        both retrievers, and BM25 scores shrink in small collections."""
        catalog = self.catalog
        limit = max(2, catalog.paper_count() // 100)  # "distinctive": in at most 1% of the titles
        words = {w for w in self.tokenizer.tokens(question) if len(w) >= 4}
        for source in top:
            title_words = set(self.tokenizer.tokens(source.paper.title))
            for word in words & title_words:
                if catalog.title_frequency(word) <= limit:
                    return True
        return False

    def _with_context(self, question: str, conversation_id: str | None,
                      text: str | None = None) -> tuple[str, list[str]]:
        """A follow-up ("그 논문의 성능은?") is searched together with the previous question, and the
        papers cited last time are favoured. ``text``: what to search for ``question`` (its topic alone)."""
        text = text or question
        last = self.memory.last(conversation_id)
        if last is None or not _is_follow_up(question):
            return text, []
        return f"{last.question} {text}", list(last.cited)

    # --- answering -------------------------------------------------------------------------------------
    @dispatcher.span
    def ask(self, question: str, conversation_id: str | None = None, *, use_llm: bool | None = None,
            top_k: int | None = None, on_token: OnToken | None = None, arxiv_ids: Sequence[str] | None = None,
            named: bool = False, slot: Slot | None = None) -> Answer:
        """``arxiv_ids``: answer about these papers only (a reply to a message listing them); ``named``: the
        question named them, so each is given to the answerer and cited (see :meth:`find`).

        ``slot``: entered around each step but the LLM call (routing and retrieval, the prompt, an extractive
        text), so a caller that bounds the engine's concurrent work (the bot's engine threads, which an ingest
        also waits for) does not hold that bound while the model writes: ``bot/telegram/blocking.py``."""
        slot = slot or nullcontext
        question = question.strip()
        lang = language(question)
        with slot():
            found = self.find(question, conversation_id, top_k, arxiv_ids=arxiv_ids, named=named)
        if found.plan.author_words:  # "Mike Zheng Shou 논문" is Korean: the name's letters say nothing
            lang = language(question.replace(found.plan.author_words, " "))
        want_llm = self.llm is not None and (use_llm is None or use_llm)
        text, cited, llm_info, messages = self._synthesize(question, found, lang, conversation_id, want_llm,
                                                           on_token, slot)
        instead = _instead_line(found.plan, lang)
        if instead:
            text = f"{instead}\n\n{text}"
        note = self._note(llm_info, lang, found)
        if note:
            text = f"{text}\n\n{note}"
        citations = [
            Citation(n, s.paper.arxiv_id, s.paper.title, s.paper.url, s.paper.date, s.paper.votes)
            for n, s in enumerate((found.sources[i] for i in cited), start=1)
        ]
        # Sources are reordered so that source i+1 is citation [i+1]; uncited ones follow.
        ordered = [found.sources[i] for i in cited] + [s for i, s in enumerate(found.sources) if i not in cited]
        self.memory.add(conversation_id, Turn(question, text, [c.arxiv_id for c in citations]))
        covered = found.covered and bool(found.sources)
        dispatcher.event(AnswerEvent(
            mode=found.plan.mode, language=lang, covered=covered, citations=len(citations), llm_used=llm_info["used"],
            llm_failed=llm_info["model"] is not None and not llm_info["used"], llm_reason=llm_info["reason"]))
        return Answer(question, text, lang, found.plan.mode, covered, citations, ordered, llm_info,
                      self.instrumentation.timings_ms(), messages)

    @dispatcher.span
    def _synthesize(self, question: str, found: Found, lang: str, conversation_id: str | None, want_llm: bool,
                    on_token: OnToken | None, slot: Slot = nullcontext,
                    ) -> tuple[str, list[int], dict[str, Any], list[dict[str, str]]]:
        """The answer's text, the sources it cites (indexes, in citation order), the LLM's record and the
        messages sent to it (none when it was not asked). Everything but the LLM call runs in ``slot``."""
        llm_info: dict[str, Any] = {"used": False, "model": None, "reason": None}
        messages: list[dict[str, str]] = []
        if not want_llm:
            llm_info["reason"] = "no LLM configured" if self.llm is None else "LLM switched off"
        cited: list[int] = []
        if found.plan.mode in ("top", "author") and found.covered:  # also "no paper got 100 votes on …"
            with slot():
                text, cited = self._extractive(found, lang, question)
        elif not found.covered or not found.sources:
            text = self._not_covered(found, lang)
        elif found.plan.mode in ("top", "author", "lookup") or not want_llm:
            with slot():
                text, cited = self._extractive(found, lang, question)
        else:
            assert self.llm is not None
            with slot():
                messages = self.build_messages(question, found, lang, conversation_id)
            try:
                raw = self.llm.complete(messages, on_token)  # I/O: outside the slot
                text, cited = validate(raw, len(found.sources))
                llm_info.update(used=True, model=self.llm.model)
                if not text:
                    raise LLMUnavailable("the LLM returned an empty answer")
                self.llm_status.succeeded()
            except LLMUnavailable as exc:
                llm_info.update(used=False, model=self.llm.model, reason=exc.reason)
                self.llm_status.failed(exc.reason)
                with slot():
                    text, cited = self._extractive(found, lang, question)
        if found.plan.mode in ("top", "author", "lookup"):
            llm_info["reason"] = llm_info["reason"] or "metadata question: answered from the catalog"
        return text, cited, llm_info, messages

    def ask_stream(self, question: str, conversation_id: str | None = None, **options: Any) -> Iterator[str | Answer]:
        """:meth:`ask`, streamed: the LLM's text deltas as they arrive (raw: links and markers not yet
        checked, see ``rag.citations.validate`` for a preview), then the final :class:`Answer` with
        validated citations. Extractive answers yield only the Answer. ``options`` are ask's."""
        events: queue.SimpleQueue[str | Answer | BaseException] = queue.SimpleQueue()

        def run() -> None:
            try:
                events.put(self.ask(question, conversation_id, on_token=events.put, **options))
            except BaseException as exc:  # handed to the consumer
                events.put(exc)

        threading.Thread(target=run, name="papersbot-answer-stream", daemon=True).start()
        while True:
            event = events.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, Answer):
                return

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
            return _top_answer(found, lang)
        if plan.mode == "author":
            return _author_answer(found, lang)
        if plan.mode == "lookup":
            parts = []
            for n, source in enumerate(found.sources, start=1):
                p = source.paper
                parts.append(f"{p.title} ({p.date}, {_votes(p.votes, lang)}) [{n}]\n"
                             + "\n".join(f"• {label}: {text}" for key, label in SECTIONS if (text := getattr(p, key))))
            return "\n\n".join(parts), list(range(len(found.sources)))

        tokenize = self.tokenizer.tokens
        cited = list(range(len(found.sources))) if found.named else _close_to_best(found.sources)
        query = tokenize(question)
        # Terms shared by every quoted paper's text (its name, "model") say less than rare ones.
        pool = [set(tokenize(s)) for i in cited for s in _quotable(found.sources[i].paper, lang)]
        weights = {t: 1.0 + math.log((1 + len(pool)) / (1 + sum(t in sentence for sentence in pool))) for t in query}
        per_paper = 3 if found.named else 1  # "두 번째 논문 자세히": a named paper gets more of its text
        picked = [(i, _best_sentences(found.sources[i], weights, tokenize, max(per_paper, 2 if n == 0 else 1), lang))
                  for n, i in enumerate(cited)]
        abstracts = [bool(found.sources[i].paper.abstract) for i in cited]
        head = messages_for(lang).quotes_head(all(abstracts), any(abstracts))
        lines = [head] + [f"• {found.sources[i].paper.title}: {' '.join(best)} [{n}]"
                          for n, (i, best) in enumerate(picked, start=1)]
        return "\n".join(lines), cited

    # What users read is in their language and says nothing about our internals; the details (the LLM's
    # reason, the English note) are in Answer.llm / Found.note, the logs and /healthz.
    @staticmethod
    def _not_covered(found: Found, lang: str) -> str:
        say = messages_for(lang)
        if found.missing_date is not None:
            if found.newest is None:
                return say.no_digests_yet
            return say.no_digest_for(found.missing_date or say.that_date, found.newest)
        if found.plan.mode == "lookup":
            return say.papers_not_in_digests(found.missing_ids)
        plan = found.plan
        if plan.author is not None:  # only the author's papers were searched, ``matched`` of them
            when = None if plan.dates is None else _when(plan, lang)
            if found.matched == 0:  # none of theirs in the asked dates or meeting the vote condition
                scope = say.author_scope(when, _condition(plan, lang) if plan.votes_condition else None)
                return say.author_head(plan.author, len(plan.author_papers), scope, 0, "")
            return say.author_not_covered(plan.author, found.matched, when)
        if found.plan.dates is not None:  # only the asked dates were searched: other days may cover it
            return say.not_covered_in(_when(found.plan, lang))
        return say.not_covered

    @staticmethod
    def _note(llm_info: dict[str, Any], lang: str, found: Found) -> str | None:
        if llm_info["used"] or found.plan.mode in ("top", "author", "lookup") or not found.covered:
            return None
        say = messages_for(lang)
        if llm_info["model"] is None:  # no LLM configured, or switched off
            return say.extractive_without_llm
        return say.extractive_because(_user_reason(str(llm_info["reason"] or ""), say))


def _user_reason(reason: str, say: Messages) -> str:
    """Words for users about an LLM failure (``rag.llm._classify``'s reasons). A slow or busy LLM is worth
    saying; a refused key, a rejected request or anything unknown is the operator's problem (logged, and in
    /healthz): users get a neutral note."""
    if "timed out" in reason:
        return say.llm_timed_out
    if "rate-limited" in reason:
        return say.llm_busy
    return say.llm_unavailable


def _votes(votes: int | None, lang: str) -> str:
    say = messages_for(lang)
    return say.votes_unknown if votes is None else say.votes(votes)


def _quoted_sections(paper: StoredPaper, lang: str) -> list[str]:
    """The sections an extractive answer quotes, in the question's language when the paper has text in
    it: the English abstract for English questions, the Korean digest text otherwise."""
    korean = [key for key, _ in SECTIONS if key != "abstract" and getattr(paper, key)]
    english = ["abstract"] if paper.abstract else []
    return (english or korean) if lang == "en" else (korean or english)


def _quotable(paper: StoredPaper, lang: str) -> list[str]:
    return [sentence for key in _quoted_sections(paper, lang) for sentence in sentences(getattr(paper, key))]


def _best_sentences(source: Source, weights: dict[str, float], tokenize: Callable[[str], list[str]],
                    count: int, lang: str) -> list[str]:
    """The ``count`` sentences sharing the most (rarity-weighted) terms with the question, most relevant
    first; What's New and the section retrieval matched break ties.

    An English question is answered from the English abstract when the paper has one, a Korean one
    from the Korean digest text (either falls back to the other when the paper has only that)."""
    paper = source.paper
    matched = source.candidate.sections[:1] if source.candidate else []
    scored: list[tuple[float, int, str]] = []
    order = 0
    for key in _quoted_sections(paper, lang):
        for sentence in sentences(getattr(paper, key)):
            overlap = sum(weights.get(token, 0.0) for token in set(tokenize(sentence)))
            prior = (0.5 if key in ("whats_new", "abstract") else 0.0) + (0.3 if key in matched else 0.0)
            scored.append((overlap + prior - order * 0.01, order, sentence))
            order += 1
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:count]
    return [sentence for _, _, sentence in best]


def _citation_scores(sources: list[Source]) -> list[float]:
    """Relative-score fusion of the candidates' own evidence: the dense similarity min-max scaled over
    the candidates plus the lexical score over the best lexical score, halved (0..1).

    Reciprocal-rank scores cannot tell a close paper from a weak one: they depend on ranks only, and in
    a small collection both retrievers rank every paper, so unrelated papers sit within 5% of the best.
    The scores behind the ranks can: on 20 questions of our own over the 127 seed papers, a cut at 0.8
    of the best RRF score cited 27 unrelated papers out of 56, a cut at CITE_RELATIVE_SCORE of these
    cited 1 out of 28."""
    candidates = [source.candidate for source in sources]
    dense = [c.dense for c in candidates if c is not None and c.dense is not None]
    low, high = (min(dense), max(dense)) if dense else (0.0, 0.0)
    best_lexical = max((c.lexical or 0.0 for c in candidates if c is not None), default=0.0)
    scores = []
    for c in candidates:
        if c is None:
            scores.append(0.0)
            continue
        d = (c.dense - low) / (high - low) if c.dense is not None and high > low else 0.0
        lexical = (c.lexical or 0.0) / best_lexical if best_lexical > 0 else 0.0
        scores.append((d + lexical) / 2)
    return scores


def _close_to_best(sources: list[Source]) -> list[int]:
    """Indexes of the sources an extractive answer cites, in retrieval order: the first one, and those
    whose evidence (``_citation_scores``) is at least CITE_RELATIVE_SCORE of the best; at most
    MAX_EXTRACTIVE_CITED."""
    if not sources:
        return []
    scores = _citation_scores(sources)
    best = max(scores)
    close = [i for i, score in enumerate(scores) if i > 0 and best > 0 and score >= CITE_RELATIVE_SCORE * best]
    return [0, *close][:MAX_EXTRACTIVE_CITED]


def _known_votes(votes: int | None) -> int:
    return -1 if votes is None else votes


def _rank_by_votes(entries: list[Entry], ascending: bool) -> None:
    """Most (or least) voted first, newest first on a tie. Unknown votes rank after every known count, both
    ways: "least voted" is never a paper whose votes nobody recorded."""
    sign = 1 if ascending else -1
    entries.sort(key=lambda e: (e[2] is None, sign * (e[2] or 0), _newest_first(e[1]), e[0]))


def _with_ties(entries: list[Entry], limit: int, cap: int | None = None) -> list[Entry]:
    """The first ``limit`` entries of a vote ranking, and the next ones tied with the last one's known
    votes (at most ``cap`` in all)."""
    shown = entries[:limit]
    while (shown and len(shown) < len(entries) and (cap is None or len(shown) < cap)
           and shown[-1][2] is not None and entries[len(shown)][2] == shown[-1][2]):
        shown.append(entries[len(shown)])
    return shown


def _newest_first(day: str) -> int:
    return -int(day.replace("-", "") or 0)


def _when(plan: QueryPlan, lang: str) -> str:
    """The asked digests in words: "2025-02-05 다이제스트" / "the 2025-02-05 digest", a range, or all."""
    say = messages_for(lang)
    if plan.dates is None:
        return say.all_digests
    words = (plan.date_words or ", ".join(plan.dates)).replace("..", " – ")
    return say.digests_of(words, len(plan.dates) > 1 or ".." in (plan.date_words or ""))


def _condition(plan: QueryPlan, lang: str) -> str:
    """The question's vote condition in words, as it was asked: "100표를 넘게" / "more than 100 votes"."""
    low, high, say = plan.votes_min, plan.votes_max, messages_for(lang)
    if low is not None and low == high:
        return say.votes_exactly(low)
    if low is not None and high is not None:
        return say.votes_between(low, high)
    if low is not None:
        return say.votes_more_than(low - 1) if plan.votes_rule == "gt" else say.votes_at_least(low)
    assert high is not None
    return say.votes_fewer_than(high + 1) if plan.votes_rule == "lt" else say.votes_at_most(high)


def _top_answer(found: Found, lang: str) -> tuple[str, list[int]]:
    """A vote ranking, a vote condition or a date listing as numbered rows; tied papers share a rank."""
    plan, sources, say = found.plan, found.sources, messages_for(lang)
    when = _when(plan, lang)
    several_dates = plan.dates is None or len(plan.dates) > 1
    if plan.votes_condition:
        cond = _condition(plan, lang)
        order = "" if plan.votes_equal is not None else say.most_voted_first
        every = plan.dates is None
        head = (say.papers_meet_condition(when, cond, found.matched, order, every) if sources
                else say.none_meet_condition(when, cond, every))
    elif plan.ascending:
        head = say.least_voted_head(when)
    elif plan.by_votes:
        top_tied = [s for s in sources if s.paper.votes is not None and s.paper.votes == sources[0].paper.votes]
        if len(top_tied) > 1:
            count = len(top_tied) + (found.tied_more if len(top_tied) == len(sources) else 0)
            head = say.tied_for_most_head(when, count, _votes(sources[0].paper.votes, lang))
        else:
            head = say.most_voted_head(when)
    else:
        head = say.date_listing_head(when, found.matched)
    rows: list[str] = []
    rank = 0
    for n, source in enumerate(sources, start=1):
        p = source.paper
        if n == 1 or p.votes is None or p.votes != sources[n - 2].paper.votes:
            rank = n
        day = f" ({p.date})" if several_dates else ""
        rows.append(f"{rank}. {p.title}{day} — {_votes(p.votes, lang)} [{n}]")
    rest = found.matched - len(sources)
    if found.tied_more and sources:
        rows.append(say.more_tied(found.tied_more, _votes(sources[-1].paper.votes, lang)))
    elif rest > 0 and (plan.votes_condition or not plan.by_votes):
        rows.append(say.more_papers(rest))
    if plan.votes_condition and found.unknown_votes:
        rows.append(say.unknown_votes_not_counted(found.unknown_votes))
    elif plan.by_votes and sources and all(s.paper.votes is None for s in sources):
        rows.append(say.votes_not_recorded)
    return "\n".join([head, *rows]), list(range(len(sources)))


def _author_answer(found: Found, lang: str) -> tuple[str, list[int]]:
    """An author's papers as numbered rows, with a head naming the author and how many papers of theirs
    the archive has (and how many of them the asked dates or vote condition leave)."""
    plan, sources, say = found.plan, found.sources, messages_for(lang)
    assert plan.author is not None
    scoped = plan.dates is not None or plan.votes_condition
    scope = say.author_scope(None if plan.dates is None else _when(plan, lang),
                             _condition(plan, lang) if plan.votes_condition else None) if scoped else None
    ranked = plan.by_votes and not plan.votes_condition
    order = (say.least_voted_first if plan.ascending else say.most_voted_first) if ranked else say.newest_first
    head = say.author_head(plan.author, len(plan.author_papers), scope, found.matched, order)
    rows = [f"{n}. {s.paper.title} ({s.paper.date}) — {_votes(s.paper.votes, lang)} [{n}]"
            for n, s in enumerate(sources, start=1)]
    if found.matched > len(sources):
        rows.append(say.more_papers(found.matched - len(sources)))
    return "\n".join([head, *rows]), list(range(len(sources)))


def _instead_line(plan: QueryPlan, lang: str) -> str | None:
    """A relative period ("이번 주", "last month") with no digest: which digest answered instead."""
    say = messages_for(lang)
    period = say.relative_periods.get(plan.relative or "")
    if not plan.instead_of or not plan.dates or period is None:
        return None
    span, used = plan.instead_of.replace("..", " – "), plan.dates[0]
    if plan.archive_ends:
        return say.nothing_yet_for_period(period, span, used)
    return say.nearest_for_period(period, span, used)


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
