"""The engine's words to users, in Korean and English: one catalog, selected by the answer's language.

The engine returns finished text (LlamaIndex callers read ``Response.response``), so what an answer says
around its quotes — "nothing found", vote rankings, the extractive note — is written here, not in the
engine's logic. Each field says what the message is for; functions take the parts that vary. The
Telegram face has its own words in ``bot.telegram.texts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Messages:
    """Everything an answer may say in one language (``KO``, ``EN``; :func:`messages_for` picks one)."""

    # Votes beside a paper ("5표" / "5 votes") and in a question's condition ("1 vote", pluralised).
    votes: Callable[[int], str]
    votes_unknown: str
    # Nothing to answer from.
    no_digests_yet: str
    that_date: str  # the asked date, when the question gave no words for it
    no_digest_for: Callable[[str, str], str]  # (asked date, newest digest date)
    papers_not_in_digests: Callable[[list[str]], str]  # asked-for arXiv ids
    not_covered: str
    not_covered_in: Callable[[str], str]  # (the asked digests, digests_of): a topic searched only within them
    # The one-line note under an extractive answer: no LLM configured, or why it did not answer.
    extractive_without_llm: str
    extractive_because: Callable[[str], str]  # (one of the llm_* reasons below)
    llm_timed_out: str
    llm_busy: str
    llm_unavailable: str
    # Extractive answers' first line: (every cited paper has an English abstract, any has one).
    quotes_head: Callable[[bool, bool], str]
    # Which digests a ranking or a listing covers.
    all_digests: str
    digests_of: Callable[[str, bool], str]  # (the dates in words, several digests)
    # A vote condition as asked: "100표 이상" / "at least 100 votes".
    votes_exactly: Callable[[int], str]
    votes_between: Callable[[int, int], str]
    votes_more_than: Callable[[int], str]
    votes_at_least: Callable[[int], str]
    votes_fewer_than: Callable[[int], str]
    votes_at_most: Callable[[int], str]
    # Heads of vote rankings, vote conditions and date listings ("when" is digests_of / all_digests).
    most_voted_first: str  # suffix of a condition's head when the list is ranked
    none_meet_condition: Callable[[str, str, bool], str]  # (when, condition, every digest)
    papers_meet_condition: Callable[[str, str, int, str, bool], str]  # (when, condition, count, suffix, every)
    least_voted_head: Callable[[str], str]
    most_voted_head: Callable[[str], str]
    tied_for_most_head: Callable[[str, int, str], str]  # (when, papers tied, their votes in words)
    date_listing_head: Callable[[str, int], str]  # (when, papers)
    # An author's papers ("Kaiming He 논문", "papers by Yann LeCun"): newest first unless votes were asked.
    newest_first: str  # suffix of the head, like most_voted_first
    least_voted_first: str
    # What part of the author's papers is listed: (the asked digests or None, the vote condition or None).
    author_scope: Callable[[str | None, str | None], str]
    # (author, their papers in the archive, author_scope or None for all of them, papers listed, order).
    author_head: Callable[[str, int, str | None, int, str], str]
    # A topic searched among an author's papers that none of them covers: (author, papers searched, the
    # asked digests or None).
    author_not_covered: Callable[[str, int, str | None], str]
    # Rows after a ranking.
    more_tied: Callable[[int, str], str]  # (papers not shown, their votes in words)
    more_papers: Callable[[int], str]
    unknown_votes_not_counted: Callable[[int], str]
    votes_not_recorded: str
    # A relative period with no digest, answered from the nearest one instead.
    relative_periods: Mapping[str, str]  # rag.query's period keys ("this_week", ...) → words
    nothing_yet_for_period: Callable[[str, str, str], str]  # (period, its span, the digest used)
    nearest_for_period: Callable[[str, str, str], str]  # (period, its span, the digest used)


def _n_votes(n: int) -> str:
    return f"{n} vote{'s' if n != 1 else ''}"


def _plural(n: int, word: str) -> str:
    return f"{word}{'s' if n != 1 else ''}"


KO = Messages(
    votes=lambda n: f"{n}표",
    votes_unknown="추천 수 미상",
    no_digests_yet="아직 색인된 다이제스트가 없습니다.",
    that_date="그 날짜",
    no_digest_for=lambda when, newest: f"{when} 다이제스트는 없습니다. 가장 최근 다이제스트는 {newest}입니다.",
    papers_not_in_digests=lambda ids: f"{', '.join(ids)} 논문은 다이제스트에 없습니다.",
    not_covered="저장된 다이제스트에는 이 질문에 답하는 논문이 없습니다.",
    not_covered_in=lambda when: f"{when}에는 이 질문에 답하는 논문이 없습니다.",
    extractive_without_llm="ⓘ LLM 없이 요약문에서 발췌한 답변입니다.",
    extractive_because=lambda reason: f"ⓘ {reason} 요약문에서 발췌한 답변입니다.",
    llm_timed_out="LLM 응답이 늦어",
    llm_busy="LLM이 붐벼",
    llm_unavailable="지금은 LLM을 쓸 수 없어",
    quotes_head=lambda all_abstracts, any_abstract: "다이제스트에서 찾은 관련 논문입니다:",
    all_digests="전체 다이제스트",
    digests_of=lambda words, several: f"{words} 다이제스트",
    votes_exactly=lambda n: f"정확히 {n}표",
    votes_between=lambda low, high: f"{low}~{high}표",
    votes_more_than=lambda n: f"{n}표를 넘게",
    votes_at_least=lambda n: f"{n}표 이상",
    votes_fewer_than=lambda n: f"{n}표 미만",
    votes_at_most=lambda n: f"{n}표 이하",
    most_voted_first=" (추천 많은 순)",
    none_meet_condition=lambda when, condition, every: f"{when}에는 {condition} 받은 논문이 없습니다.",
    papers_meet_condition=lambda when, condition, count, order, every:
        f"{when}에서 {condition} 받은 논문은 {count}편입니다{order}:",
    least_voted_head=lambda when: f"{when}에서 추천을 가장 적게 받은 논문입니다:",
    most_voted_head=lambda when: f"{when}에서 추천을 가장 많이 받은 논문입니다:",
    tied_for_most_head=lambda when, count, votes:
        f"{when}에서 추천을 가장 많이 받은 논문은 {count}편으로, 모두 {votes}를 받아 공동 1위입니다:",
    date_listing_head=lambda when, count: f"{when}의 논문 {count}편을 추천 많은 순으로 보여 드립니다:",
    newest_first=" (최신순)",
    least_voted_first=" (추천 적은 순)",
    author_scope=lambda when, condition: " ".join(
        ([f"{when}{'에서' if condition else '의'}"] if when else []) + ([f"{condition} 받은"] if condition else [])),
    author_head=lambda author, total, scope, count, order: (
        f"아카이브에 있는 {author}의 논문은 {total}편입니다{order}:" if scope is None
        else f"아카이브에 있는 {author}의 논문 {total}편 중 {scope} 논문은 {count}편입니다{order}:" if count
        else f"아카이브에 있는 {author}의 논문 {total}편 중 {scope} 논문은 없습니다."),
    author_not_covered=lambda author, count, when:
        f"{author}의 논문 {count}편{' (' + when + ')' if when else ''} 중에는 이 질문에 답하는 논문이 없습니다.",
    more_tied=lambda count, votes: f"…외 {count}편도 {votes}로 같습니다.",
    more_papers=lambda count: f"…외 {count}편",
    unknown_votes_not_counted=lambda count: f"(추천 수가 기록되지 않은 논문 {count}편은 세지 않았습니다.)",
    votes_not_recorded="(이 다이제스트에는 추천 수가 기록되지 않았습니다.)",
    relative_periods=MappingProxyType({"today": "오늘", "yesterday": "어제", "past_week": "지난주",
                                       "this_week": "이번 주", "this_month": "이번 달", "last_month": "지난달",
                                       "past_month": "최근 한 달", "this_year": "올해", "last_year": "작년"}),
    nothing_yet_for_period=lambda period, span, used:
        f"{period}({span}) 다이제스트는 아직 없습니다. 저장된 다이제스트는 {used}까지라서, 가장 가까운 "
        "그 다이제스트로 답합니다.",
    nearest_for_period=lambda period, span, used:
        f"{period}({span}) 다이제스트는 없어서, 가장 가까운 {used} 다이제스트로 답합니다.",
)

EN = Messages(
    votes=lambda n: f"{n} votes",
    votes_unknown="votes unknown",
    no_digests_yet="No digests have been loaded yet.",
    that_date="that date",
    no_digest_for=lambda when, newest: f"There is no digest for {when}; the newest is {newest}.",
    papers_not_in_digests=lambda ids: (f"{_plural(len(ids), 'Paper')} {', '.join(ids)} "
                                       f"{'is' if len(ids) == 1 else 'are'} not in the digests."),
    not_covered="None of the stored digests cover this question.",
    not_covered_in=lambda when: f"None of the papers in {when} cover this question.",
    extractive_without_llm="ⓘ Extractive answer from the digest summaries.",
    extractive_because=lambda reason: f"ⓘ Extractive answer from the digest summaries ({reason}).",
    llm_timed_out="the LLM timed out",
    llm_busy="the LLM is busy",
    llm_unavailable="the language model is unavailable right now",
    quotes_head=lambda all_abstracts, any_abstract: (
        "From the digests (English abstracts):" if all_abstracts
        else "From the digests. Their summaries are in Korean, so they are quoted as written"
             + (" (English abstracts where the paper has one):" if any_abstract else ":")),
    all_digests="all digests",
    digests_of=lambda words, several: f"the {words} digest{'s' if several else ''}",
    votes_exactly=lambda n: f"exactly {_n_votes(n)}",
    votes_between=lambda low, high: f"between {low} and {high} votes",
    votes_more_than=lambda n: f"more than {_n_votes(n)}",
    votes_at_least=lambda n: f"at least {_n_votes(n)}",
    votes_fewer_than=lambda n: f"fewer than {_n_votes(n)}",
    votes_at_most=lambda n: f"at most {_n_votes(n)}",
    most_voted_first=" (most voted first)",
    none_meet_condition=lambda when, condition, every:
        f"No paper in {'any digest' if every else when} got {condition}.",
    papers_meet_condition=lambda when, condition, count, order, every:
        f"{count} {_plural(count, 'paper')} {'across all digests' if every else 'in ' + when} got {condition}{order}:",
    least_voted_head=lambda when: f"Least-voted papers of {when}:",
    most_voted_head=lambda when: f"Most-voted papers of {when}:",
    tied_for_most_head=lambda when, count, votes: f"{count} papers tie for the most votes in {when}, {votes} each:",
    date_listing_head=lambda when, count: f"Papers of {when} ({count}), most voted first:",
    newest_first=" (newest first)",
    least_voted_first=" (least voted first)",
    author_scope=lambda when, condition: " ".join(
        ([f"in {when}"] if when else []) + ([f"got {condition}"] if condition else [])),
    author_head=lambda author, total, scope, count, order: (
        f"The archive has {total} {_plural(total, 'paper')} by {author}{order}:" if scope is None
        else f"The archive has {total} {_plural(total, 'paper')} by {author}; {count} {scope}{order}:" if count
        else f"The archive has {total} {_plural(total, 'paper')} by {author}; none {scope}."),
    author_not_covered=lambda author, count, when:
        f"None of the {count} {_plural(count, 'paper')} by {author}{' in ' + when if when else ''} "
        "cover this question.",
    more_tied=lambda count, votes: f"…and {count} more with {votes}.",
    more_papers=lambda count: f"…and {count} more.",
    unknown_votes_not_counted=lambda count: f"({count} {_plural(count, 'paper')} with unknown votes not counted.)",
    votes_not_recorded="(These digests did not record votes.)",
    relative_periods=MappingProxyType({"today": "today", "yesterday": "yesterday", "past_week": "the past week",
                                       "this_week": "this week", "this_month": "this month",
                                       "last_month": "last month", "past_month": "the past month",
                                       "this_year": "this year", "last_year": "last year"}),
    nothing_yet_for_period=lambda period, span, used:
        f"There is no digest for {period} ({span}) yet: the stored digests end on {used}, so this answer uses "
        "that one, the nearest.",
    nearest_for_period=lambda period, span, used:
        f"There is no digest for {period} ({span}); this answer uses the nearest one, {used}.",
)


def messages_for(lang: str) -> Messages:
    """The catalog of an answer's language: Korean for ``ko``, English for anything else."""
    return KO if lang == "ko" else EN
