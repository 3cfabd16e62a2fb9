"""Question routing: arXiv ids, digest dates and "most voted" are metadata questions, not similarity ones.

``plan_query`` reads a question (Korean or English) and says which papers to look up directly, which
digest dates to restrict to, and whether to rank by votes. Whatever is left is the topical part for
hybrid retrieval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from loaders.digest import arxiv_id_from

_ID = re.compile(r"(?:https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)?(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?")
# Digit lookarounds, not \b: in "2024-10-25에" a Hangul particle is a word character.
_ISO = re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)")
_KO_DATE = re.compile(r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(\d{1,2})\s*일")
_MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")], start=1) for name in names}
_EN_DATE = re.compile(
    r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b",
    re.IGNORECASE,
)
_EN_DATE_DM = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?(?:,?\s+(\d{4}))?\b",
    re.IGNORECASE,
)
_RELATIVE = [
    (re.compile(r"오늘|today|latest|newest|최신|가장 최근", re.I), "latest"),
    (re.compile(r"어제|yesterday", re.I), "yesterday"),
    (re.compile(r"지난\s*주|last\s+week|past\s+week|이번\s*주|this\s+week", re.I), "week"),
]
_VOTES = re.compile(
    r"추천|투표|득표|인기|좋아요|vote|upvote|popular|most\s+liked|top\b|top\s*\d+|상위|best|베스트|가장\s*많|"
    r"제일\s*많|표를|\d+\s*표", re.I
)
_ASCENDING = re.compile(r"least|fewest|lowest|가장\s*적|제일\s*적|최소|꼴찌|최저", re.I)
_EXACT_VOTES = re.compile(r"(\d+)\s*(?:표|votes?\b)", re.I)
_TOP_N = re.compile(r"(?:top|상위)\s*(\d{1,2})|(\d{1,2})\s*(?:개|편|papers?|건)", re.I)
# Words that only express the date/vote intent; if nothing else remains, the question is a pure listing.
_INTENT_WORDS = re.compile(
    r"digests?|daily|papers?|count|number|논문들?|다이제스트|데일리|페이퍼|top|상위|추천|투표|득표|인기|가장|많은|많이|받은|"
    r"most|voted?|votes|upvoted?|popular|best|베스트|show|list|what|which|were|was|are|is|the|on|of|in|for|"
    r"me|give|알려\s*줘|알려주세요|보여\s*줘|뭐야|무엇|뭐|인가요|는|은|의|에|중|개|편|좀|순|위|이었나요|였나요|"
    r"across|all|single|highest|lowest|least|fewest|got|get|has|had|received|전체|모든|역대|통틀어|제일|적은|"
    r"최소|최저|꼴찌|표를?|건|것|받은|받았|들은|들|"
    r"\d+|[?.!,:]|오늘|어제|지난\s*주|이번\s*주|today|yesterday|latest|newest|최신|week|last|this|past|"
    r"년|월|일|" + "|".join(_MONTHS),
    re.I,
)


@dataclass
class QueryPlan:
    text: str
    arxiv_ids: list[str] = field(default_factory=list)
    dates: list[str] | None = None  # restrict to these digest dates (None = all)
    date_words: str | None = None  # how the question named the date, e.g. "2025-02-05" or "latest"
    by_votes: bool = False
    ascending: bool = False  # "least voted"
    votes_equal: int | None = None  # "papers with 0 votes"
    limit: int | None = None
    topical: str = ""  # the question minus date/vote/id words

    @property
    def mode(self) -> str:
        if self.arxiv_ids:
            return "lookup"
        if self.dates is not None and (self.by_votes or not self.topical):
            return "top"
        if self.by_votes and not self.topical:
            return "top"
        return "search"


def plan_query(question: str, known_dates: list[str], today: date) -> QueryPlan:
    """Route one question. ``known_dates`` are the stored digest dates, newest first."""
    plan = QueryPlan(text=question)
    rest = question
    for match in _ID.finditer(question):
        arxiv_id = arxiv_id_from(match.group(1))
        if arxiv_id and arxiv_id not in plan.arxiv_ids:
            plan.arxiv_ids.append(arxiv_id)
    rest = _ID.sub(" ", rest)

    found = _explicit_dates(rest, known_dates, today)
    if found:
        plan.dates = sorted(set(found), reverse=True)
        plan.date_words = ", ".join(plan.dates)
    else:
        for pattern, kind in _RELATIVE:
            if pattern.search(rest):
                plan.dates, plan.date_words = _relative(kind, known_dates, today)
                break
    plan.by_votes = bool(_VOTES.search(rest) or _ASCENDING.search(rest))
    plan.ascending = bool(_ASCENDING.search(rest))
    undated = _ISO.sub(" ", _KO_DATE.sub(" ", _EN_DATE.sub(" ", _EN_DATE_DM.sub(" ", rest))))
    exact = _EXACT_VOTES.search(undated)
    if exact and plan.by_votes and not re.search(r"top|상위", undated, re.I):
        plan.votes_equal = int(exact.group(1))
    elif plan.by_votes or plan.dates is not None:
        top_n = _TOP_N.search(undated)
        if top_n:
            plan.limit = int(top_n.group(1) or top_n.group(2))
    cleaned = _KO_DATE.sub(" ", _ISO.sub(" ", _EN_DATE.sub(" ", _EN_DATE_DM.sub(" ", rest))))
    plan.topical = " ".join(_INTENT_WORDS.sub(" ", cleaned).split()) if (plan.by_votes or plan.dates) else cleaned
    # A handful of leftover particles is not a topic.
    if (plan.by_votes or plan.dates is not None) and len(re.sub(r"\W", "", plan.topical)) < 3:
        plan.topical = ""
    return plan


def _explicit_dates(text: str, known: list[str], today: date) -> list[str]:
    out: list[str] = []
    for match in _ISO.finditer(text):
        out += _make(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    for match in _KO_DATE.finditer(text):
        out += _resolve(match.group(1), int(match.group(2)), int(match.group(3)), known, today)
    for match in _EN_DATE.finditer(text):
        month = _MONTHS[match.group(1).lower()]
        out += _resolve(match.group(3), month, int(match.group(2)), known, today)
    for match in _EN_DATE_DM.finditer(text):
        month = _MONTHS[match.group(2).lower()]
        out += _resolve(match.group(3), month, int(match.group(1)), known, today)
    return out


def _make(year: int, month: int, day: int) -> list[str]:
    try:
        return [date(year, month, day).isoformat()]
    except ValueError:
        return []


def _resolve(year: str | None, month: int, day: int, known: list[str], today: date) -> list[str]:
    """A date without a year means the newest stored digest with that month and day, else this year."""
    if year:
        return _make(int(year), month, day)
    suffix = f"-{month:02d}-{day:02d}"
    for stored in known:  # newest first
        if stored.endswith(suffix):
            return [stored]
    return _make(today.year, month, day)


def _relative(kind: str, known: list[str], today: date) -> tuple[list[str], str]:
    if kind == "latest":
        # "Today's papers" means the newest digest we have: digests arrive a day or more late.
        return (known[:1], f"latest ({known[0]})" if known else "latest")
    if kind == "yesterday":
        wanted = (today - timedelta(days=1)).isoformat()
        return ([wanted], wanted)
    first = (today - timedelta(days=7)).isoformat()
    return ([d for d in known if first <= d <= today.isoformat()], f"{first}..{today.isoformat()}")
