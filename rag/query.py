"""Question routing: arXiv ids, digest dates and votes are metadata questions, not similarity ones.

``plan_query`` reads a question (Korean or English) and says which papers to look up directly, which
digest dates to restrict to (a day, a range, a week, a month, a year, or a relative period such as "this
week"), whether to rank by votes and which vote condition must hold ("100표 이상", "fewer than 10
votes"). Whatever is left is the topical part for hybrid retrieval.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Protocol

from loaders.digest import arxiv_id_from

_ID = re.compile(r"(?:https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)?(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?")
_MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")], start=1) for name in names}
_MON_WORD = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_MON = _MON_WORD + r"\.?"
_MON2 = _MON.replace("(", "(?P<month2>", 1)
_ORD = r"(?:st|nd|rd|th)?"
# Digit lookarounds, not \b: in "2024-10-25에" a Hangul particle is a word character.
_ISO = r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)"
_KO_DAY = r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(\d{1,2})\s*일"
_EN_DAY = r"\b" + _MON + r"\s+(\d{1,2})" + _ORD + r"(?:,?\s+(\d{4}))?\b"
_EN_DAY_DM = r"\b(\d{1,2})" + _ORD + r"\s+" + _MON + r"(?:,?\s+(\d{4}))?\b"
_RANGE_SEP = r"\s*(?:~|〜|–|—|-|\.\.|to|through|thru|until|till)\s*"
_KO_RANGE_SEP = r"\s*(?:부터|에서|~|〜|–|—|-)\s*"
_KO_RANGE_END = r"(?:\s*(?:까지|사이))?"
_KO_WEEK_ORD = {"첫": 1, "1": 1, "둘": 2, "두": 2, "2": 2, "셋": 3, "세": 3, "3": 3, "넷": 4, "네": 4, "4": 4,
                "다섯": 5, "5": 5, "마지막": -1, "막": -1}
_EN_WEEK_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
                "fifth": 5, "5th": 5, "last": -1, "final": -1}
_YEAR = r"((?:19|20)\d\d)"
_EN_IN = r"\b(?:in|during|of|for|from|throughout|over|across)\s+(?:the\s+(?:month|year)\s+(?:of\s+)?)?"


@dataclass
class QueryPlan:
    text: str
    arxiv_ids: list[str] = field(default_factory=list)
    dates: list[str] | None = None  # restrict to these digest dates (None = all)
    date_words: str | None = None  # how the question named the date, e.g. "2025-02-05", "2025-02-01..2025-02-05"
    relative: str | None = None  # a relative period ("this_week", "last_month", ...; see _RELATIVE)
    # The relative period had no digest (the stored archive ends earlier, or a gap): the asked span
    # "first..last", while ``dates`` holds the nearest digest instead.
    instead_of: str | None = None
    archive_ends: bool = False  # ... because the stored digests end before the asked period
    by_votes: bool = False
    ascending: bool = False  # "least voted"
    votes_min: int | None = None  # "100표 이상" (inclusive); unknown votes never match a condition
    votes_max: int | None = None  # "fewer than 10 votes" → 9 (inclusive)
    votes_rule: str | None = None  # how one bound was asked: "ge", "gt", "lt", "le", "eq" or "between"
    limit: int | None = None
    topical: str = ""  # the question minus date/vote/id words (and the author's name, for an author)
    # A catalog author the question names ("Kaiming He 논문", "papers by Yann LeCun"): the name as stored,
    # and every paper of theirs in the catalog (the dates and votes asked restrict them further).
    author: str | None = None
    author_papers: tuple[str, ...] = ()
    author_words: str = ""  # the name as the question wrote it ("yann lecun")

    @property
    def votes_equal(self) -> int | None:
        """"papers with 0 votes", "정확히 10표": the one count asked for."""
        return self.votes_min if self.votes_min is not None and self.votes_min == self.votes_max else None

    @property
    def votes_condition(self) -> bool:
        return self.votes_min is not None or self.votes_max is not None

    def votes_match(self, votes: int | None) -> bool:
        """Does a paper with ``votes`` meet the question's condition? Unknown votes never do."""
        if not self.votes_condition:
            return True
        if votes is None:
            return False
        return (self.votes_min is None or votes >= self.votes_min) and (
            self.votes_max is None or votes <= self.votes_max)

    @property
    def search_text(self) -> str:
        """What hybrid retrieval searches: a date-restricted question's topic alone ("KV cache compression"
        of "best papers on KV cache compression this week"), since the period and vote words match nothing
        in a summary and drag a clear match under the "not covered" bar; else the question as asked (a vote
        word without dates is more often part of the topic: "추천 시스템", "top-1 accuracy")."""
        return self.topical if self.topical and (self.dates is not None or self.author) else self.text

    @property
    def mode(self) -> str:
        """"lookup" (arXiv ids), "top" (a vote ranking, vote condition or date listing: no topic left), or
        "search": a topic, restricted to the asked dates and to the papers meeting the vote condition when
        the question names them. A vote word does not make a topic question a listing: "best papers on KV
        cache compression this week" searches this week's papers for the topic (ranked by relevance), and
        "What's the best way to invest in bitcoin this week?" is not covered instead of this week's top
        papers. "author": an author's papers, from the catalog (within the asked dates and vote
        condition); with a topic, "search" among that author's papers."""
        if self.arxiv_ids:
            return "lookup"
        if self.topical:
            return "search"
        if self.author is not None:
            return "author"
        if self.dates is not None or self.by_votes:
            return "top"
        return "search"


TODAY_LATE_DAYS = 3  # "today" with a newest digest older than this says the stored digests end earlier
# Periods first: "이번 주 최신 논문" is this week's.
_RELATIVE = [
    (re.compile(r"이번\s*주|금주|this\s+week(?:'s)?", re.I), "this_week"),
    (re.compile(r"지난\s*주|저번\s*주|지난\s*일주일|최근\s*일주일|last\s+week(?:'s)?|past\s+week|past\s+7\s+days",
                re.I), "past_week"),
    (re.compile(r"이번\s*달|이달|금월|this\s+month(?:'s)?", re.I), "this_month"),
    (re.compile(r"지난\s*달|저번\s*달|전월|last\s+month(?:'s)?|previous\s+month", re.I), "last_month"),
    (re.compile(r"최근\s*한\s*달|past\s+month|past\s+30\s+days", re.I), "past_month"),
    (re.compile(r"올해|금년|this\s+year(?:'s)?", re.I), "this_year"),
    (re.compile(r"작년|지난\s*해|지난\s*년도|last\s+year(?:'s)?|previous\s+year", re.I), "last_year"),
    (re.compile(r"어제|yesterday(?:'s)?", re.I), "yesterday"),
    (re.compile(r"오늘|today(?:'s)?", re.I), "today"),
    # "최신 논문" is the newest digest, but "최신 LLM의 양자화 연구" means state-of-the-art models: with a
    # topic these words do not restrict the dates (see plan_query).
    (re.compile(r"latest|newest|최신|가장\s*최근", re.I), "newest"),
]
_VOTES = re.compile(
    r"추천|투표|득표|인기|좋아요|vote|upvote|popular|most\s+liked|top\b|top\s*\d+|상위|best|베스트|가장\s*많|"
    r"제일\s*많|표를|\d+\s*표", re.I
)
_ASCENDING = re.compile(r"least|fewest|lowest|가장\s*적|제일\s*적|최소|꼴찌|최저", re.I)
_TOP_N = re.compile(r"(?:top|상위)\s*(\d{1,2})|(\d{1,2})\s*(?:개|편|papers?|건)", re.I)
# Words that only express the date/vote intent; if nothing else remains, the question is a pure listing
# (see _topic). Korean words of two syllables or more go wherever they stand; a single syllable only as a
# word of its own or a word's ending (_KO_ENDING, _KO_FILLER), so that "에이전트" or "이미지" keep their
# "에", "이".
_INTENT_KO = (
    r"다이제스트|데일리|페이퍼|논문들?|상위|추천|투표|득표|최다|인기|가장|많은|많이|받은|받았|알려\s*줘|알려주세요|보여\s*줘|"
    r"뭐야|무엇|뭐|인가요|이었나요|였나요|어떤|어느|있나요|있어|전체|모든|역대|통틀어|제일|적은|적었|최소|최저|꼴찌|"
    r"베스트|사이|까지|부터|동안|들어서|목록|리스트|몇|있니|있는|있었|무슨|알려|보여|찾아|줘|주세요|해줘|줄래|받|넘|"
    r"잘\s*나간|나온|올라온|발표된|공개된|소개된|실린|얻은|얻었|순위|요약|정리|궁금|최고|핫한|화제|주목|요즘|요새|최근|"
    r"전부|모두|개수|갯수|편수"
)
_INTENT_EN = (
    r"digests?|daily|papers?|count|number|top|most|voted?|votes|upvoted?|upvotes?|popular|best|show|list|"
    r"what|which|were|was|are|is|the|on|of|in|for|from|by|to|and|me|give|across|all|single|highest|lowest|"
    r"least|fewest|got|get|has|had|have|received|with|that|there|any|week|weeks|month|year|last|this|past|"
    r"today|yesterday|latest|newest|between|during|since|ones?|did|does|do|how|many|much|anything|any|some|"
    r"those|these|it|its|a|an|please|can|could|you|tell|find|name|named|display|every|each|at|gets?|"
    r"receiv(?:e|ed|ing)|earned|people|users|whole|entire|archive|overall|ever|time|liked|likes?|trending|"
    r"hot|hottest|ranked|ranking|rank|i|we|my|about|read|reading|worth|recommend(?:ed|ations?)?|interesting|"
    r"notable|important|good|great|new|recent|should|must|check|out|see|look|want|need|know|came|come|"
    r"published|released|posted|appeared|uploaded|everything|recently|" + "|".join(_MONTHS)
)
# Letters, not \b: in "digest의" a Hangul particle is a word character.
_INTENT_WORDS = re.compile(
    r"(?<![a-z])(?:" + _INTENT_EN + r")(?![a-z])|" + _INTENT_KO
    + r"|(?<![a-z])\d+(?![a-z])|[?.!,:~\-–—'’()]|최신|오늘|어제", re.I)
# A Korean word's particle or ending ("에이전트를", "수가", "digest에서"), and the one-syllable words that say
# nothing about a topic on their own ("투표 수", "1위", "5편", "중").
_KO_ENDING = re.compile(r"(?:에서|에는|에도|으로|이었던|였던|었던|았던|였어|였나|였지|이었|인가|인지|일까|나요|"
                        r"가요|까요|어요|에요|예요|는지|이야|들은|들이|들을|들|은|는|이|가|을|를|의|에|도|요|로|와|과|"
                        r"만|어|야|지|니|냐|래|까|죠|던)$")
_KO_FILLER = frozenset("수것거건중좀순위개편년월일주달표들뭐뭔뭘게서였잘된")


def _topic(text: str) -> str:
    """What is left of a metadata question once its date, vote and filler words are gone: its topic, or ""
    ("이번 주 인기 논문", "most voted on 2025-04-01"). One-letter words and one-syllable Korean fillers are
    no topic; a two-syllable word whose second syllable looks like a particle stays one ("평가", "속도")."""
    words = []
    for word in _INTENT_WORDS.sub(" ", text).split():
        stem = _KO_ENDING.sub("", word)
        if len(stem) >= 2 or (len(word) >= 2 and stem and stem not in _KO_FILLER):
            words.append(word)
    return " ".join(words)


def plan_query(question: str, known_dates: list[str], today: date,
               authors: AuthorLookup | None = None) -> QueryPlan:
    """Route one question. ``known_dates`` are the stored digest dates, newest first. ``authors`` finds
    which of a question's candidate names are catalog authors (``Catalog.authors_named``; called once, and
    only when the question has a candidate name); without it no question is about an author."""
    plan = QueryPlan(text=question)
    for match in _ID.finditer(question):
        arxiv_id = arxiv_id_from(match.group(1))
        if arxiv_id and arxiv_id not in plan.arxiv_ids:
            plan.arxiv_ids.append(arxiv_id)
    rest = _ID.sub(" ", question)
    if authors is not None:  # before the dates: "Jan Kautz" is no January, "May Wang" no May
        rest = _read_author(plan, rest, authors)

    reader = _DateReader(known_dates, today)
    rest = reader.read(rest)
    if reader.days or reader.spans:
        in_spans = {d for first, last in reader.spans for d in known_dates if first <= d <= last}
        plan.dates = sorted(in_spans | set(reader.days), reverse=True)
        plan.date_words = ", ".join(sorted([*reader.days, *(_span_words(s) for s in reader.spans)], reverse=True))
    else:
        for pattern, kind in _RELATIVE:
            if pattern.search(rest):
                if kind == "newest" and plan.author is not None:
                    rest = pattern.sub(" ", rest)  # "Kaiming He 최신 논문": theirs, newest first (the default)
                    break
                if kind == "newest":
                    without = pattern.sub(" ", rest)
                    if _topic(_read_votes(QueryPlan(text=question), without)):
                        break
                    kind = "latest"
                rest = pattern.sub(" ", rest)
                _relative(plan, kind, known_dates, today)
                break

    rest = _read_votes(plan, rest)
    plan.by_votes = plan.votes_condition or bool(_VOTES.search(rest) or _ASCENDING.search(rest))
    plan.ascending = bool(_ASCENDING.search(rest))
    if plan.by_votes or plan.dates is not None:
        top_n = _TOP_N.search(rest)
        if top_n:
            plan.limit = int(top_n.group(1) or top_n.group(2))
    metadata = plan.by_votes or plan.dates is not None or plan.author is not None
    plan.topical = _topic(rest) if metadata else rest
    return plan


# --- authors ----------------------------------------------------------------------------------------------
class AuthorFound(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def arxiv_ids(self) -> tuple[str, ...]: ...


# Candidate names → the catalog authors among them, keyed by candidate (Catalog.authors_named).
AuthorLookup = Callable[[Sequence[str]], Mapping[str, AuthorFound]]

_LATIN = "A-Za-zÀ-ÖØ-öø-ɏ"  # Basic Latin, Latin-1 letters, Latin Extended-A/B: "Łukasz", "Şaziye", "Ömer"
# One word of a name: a Latin capital first ("LeCun", "Jean-Baptiste", "O'Brien", an initial "J."), then
# whatever is attached to it in the question: a possessive ("He's"), a Korean particle ("LeCun이"),
# punctuation ("He?"). Anything attached ends the name there.
_NAME_WORD = re.compile(r"([" + _LATIN + r"](?:[" + _LATIN + r"]|[-'’](?=[" + _LATIN + r"]))*)(\.?)(\S*)")
_POSSESSIVE = re.compile(r"['’]s$")
# Lower-case words inside a name: "Éric de la Clergerie", "Vincent van Gogh".
_NAME_PARTICLES = frozenset({"de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "van", "von", "ter",
                             "ten", "dos", "das"})
# Words that, once an author is named, only ask for their papers: "papers by ...", "Yann LeCun이 쓴 논문".
_AUTHOR_WORDS = re.compile(
    r"(?<![a-z])(?:written|wrote|writes?|authored|co-?authored|authors?|authorship|works?|publications?|publish(?:ed|es)?|"
    r"research|articles?)(?![a-z])|저자|공저|쓴|썼|작성한|참여한|발표한|출판한|연구들?|교수님?|박사님?|님", re.I)


def author_candidates(text: str) -> list[tuple[str, int, int]]:
    """Candidate author names in ``text``: 2 to 4 consecutive words that each start with a Latin capital
    (lower-case name particles such as "de la" may stand between them), as (name, start, end). The span
    includes what is attached to the last word (a possessive 's, a Korean particle: "LeCun이"), which goes
    with the name when it is removed; the name does not. Every window of a longer run is a candidate ("Show
    Kaiming He" → "Show Kaiming", "Kaiming He", "Show Kaiming He")."""
    runs: list[list[tuple[str, int, int, bool]]] = [[]]  # (word, start, end, capitalised)
    for token in re.finditer(r"\S+", text):
        word = token.group()
        match = _NAME_WORD.fullmatch(word)
        if match is None or not (match.group(1)[0].isupper() or match.group(1) in _NAME_PARTICLES):
            runs.append([])
            continue
        name, dot, attached = match.groups()
        if dot and len(name) == 1:  # an initial: "J."
            name, dot = name + dot, ""
        capital = name[0].isupper()
        if _POSSESSIVE.search(name) and not attached:
            name, attached = name[:-2], name[-2:]
        runs[-1].append((name, token.start(), token.end(), capital))
        if dot or attached:
            runs.append([])
    out: list[tuple[str, int, int]] = []
    for run in runs:
        for i, first in enumerate(run):
            if not first[3]:
                continue
            capitals = 0
            for j in range(i, len(run)):
                capitals += run[j][3]
                if capitals > 4:
                    break
                if j > i and run[j][3]:
                    out.append((" ".join(w for w, *_ in run[i:j + 1]), first[1], run[j][2]))
    return out


def _read_author(plan: QueryPlan, text: str, authors: AuthorLookup) -> str:
    """The catalog author the question names, if any, into ``plan.author``/``author_papers``; returns the
    text without the name and the words that only ask for an author's papers. The longest name wins, then
    the first ("Kaiming He and Yann LeCun" is Kaiming He's); one lookup for all the candidates."""
    candidates = author_candidates(text)
    if not candidates:
        return text
    found = authors([name for name, _, _ in candidates])
    matched = [(name, start, end) for name, start, end in candidates if name in found]
    if not matched:
        return text
    name, start, end = max(matched, key=lambda c: (len(c[0].split()), -c[1]))
    plan.author, plan.author_papers, plan.author_words = found[name].name, tuple(found[name].arxiv_ids), name
    return _AUTHOR_WORDS.sub(" ", f"{text[:start]} {text[end:]}")


# --- dates ----------------------------------------------------------------------------------------------
def _span_words(span: tuple[str, str]) -> str:
    return span[0] if span[0] == span[1] else f"{span[0]}..{span[1]}"


class _DateReader:
    """Finds the days and periods a question names, most specific pattern first, and removes them from
    the text so that "2월 1일부터 5일까지" is one range and not also the day "2월 1일"."""

    def __init__(self, known: list[str], today: date) -> None:
        self.known, self.today = known, today
        self.days: list[str] = []  # single days, kept even when no digest has them ("no digest for …")
        self.spans: list[tuple[str, str]] = []  # (first, last) periods: only their stored digests count

    def read(self, text: str) -> str:
        steps: list[tuple[str, Callable[[re.Match[str]], bool]]] = [
            # ranges: "2025-02-01 ~ 2025-02-05", "2월 1일부터 5일까지", "2월 1~5일", "Feb 1–5", "1-5 Feb"
            (_ISO + _RANGE_SEP.replace("to|", "to|부터|에서|") + r"(?:(\d{4})[-./])?(\d{1,2})[-./](\d{1,2})(?!\d)"
             + _KO_RANGE_END, self._iso_range),
            (r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(\d{1,2})\s*일?" + _KO_RANGE_SEP
             + r"(?:(\d{4})\s*년\s*)?(?:(\d{1,2})\s*월\s*)?(\d{1,2})\s*일" + _KO_RANGE_END, self._ko_range),
            (r"(?:\bbetween\s+)" + _EN_DAY[2:-2] + r"\s+and\s+(?:" + _MON2 + r"\s+)?(\d{1,2})" + _ORD
             + r"(?:,?\s+(\d{4}))?\b", self._en_range),
            (r"\b" + _MON + r"\s+(\d{1,2})" + _ORD + r"(?:,?\s+(\d{4}))?" + _RANGE_SEP + r"(?:" + _MON2
             + r"\s+)?(\d{1,2})" + _ORD + r"(?:,?\s+(\d{4}))?\b", self._en_range),
            (r"\b(\d{1,2})" + _ORD + _RANGE_SEP + r"(\d{1,2})" + _ORD + r"\s+" + _MON + r"(?:,?\s+(\d{4}))?\b",
             self._en_range_dm),
            # weeks of a month: "2월 첫째 주", "2025년 2월 둘째 주", "2월 1주차", "first week of February"
            (r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(첫|둘|두|셋|세|넷|네|다섯|마지막|막|[1-5])\s*(?:번\s*)?째?\s*주"
             r"(?:차)?(?!요|제|식)", self._ko_week),
            (r"\b(?:the\s+)?(first|second|third|fourth|fifth|last|final|1st|2nd|3rd|4th|5th)\s+week\s+(?:of|in)\s+"
             + _MON + r"(?:,?\s+(\d{4}))?", self._en_week),
            # month ranges: "2024년 7월부터 12월까지", "7~9월", "July to December 2024", "from Jan 2025 to March"
            (r"(?:(\d{4})\s*년\s*)?(?<!\d)(\d{1,2})\s*월?" + _KO_RANGE_SEP
             + r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월(?!\s*\d)" + _KO_RANGE_END, self._ko_month_range),
            (r"\b(?:between\s+)?" + _MON + r"(?:,?\s+" + _YEAR + r")?(?:" + _RANGE_SEP + r"|\s+and\s+)"
             + _MON2 + r"(?:,?\s+(?P<year2>(?:19|20)\d\d))?\b(?!\.?\s*\d)", self._en_month_range),
            # single days
            (_ISO, self._iso_day),
            (_KO_DAY, self._ko_day),
            (_EN_DAY, self._en_day),
            (_EN_DAY_DM, self._en_day_dm),
            # months: "2025년 1월", "1월", "January 2025", "in January", "2025-01"
            (r"(?:(\d{4})\s*년\s*)?(?<!\d)(\d{1,2})\s*월(?!\s*\d)", self._ko_month),
            (r"\b" + _MON + r",?\s+" + _YEAR + r"\b", self._en_month_year),
            (_EN_IN + _MON_WORD + r"\b(?!\.?\s*\d)", self._en_month),
            (r"\b" + _MON_WORD + r"(?:'s|’s)", self._en_month),
            (r"(?<![\d.])" + _YEAR + r"[-/.](\d{1,2})(?![-/.]?\d)", self._iso_month),
            # years: "2024년", "in 2024", "2024's"
            (r"(?<!\d)" + _YEAR + r"\s*년(?:도)?", self._year),
            (_EN_IN + _YEAR + r"\b(?![-/.]\d)", self._year),
            (r"\b" + _YEAR + r"(?:'s|’s)", self._year),
        ]
        for pattern, handle in steps:
            text = re.sub(pattern, partial(_consume, handle), text, flags=re.I)
        return text

    # --- helpers ---
    def _day(self, year: str | None, month: int, day: int) -> date | None:
        """A date without a year means the newest stored digest with that month and day, else this year."""
        if year:
            return _make(int(year), month, day)
        suffix = f"-{month:02d}-{day:02d}"
        for stored in self.known:  # newest first
            if stored.endswith(suffix):
                return date.fromisoformat(stored)
        return _make(self.today.year, month, day)

    def _month_year(self, year: str | None, month: int) -> int:
        """A month without a year: the newest stored digest's year with that month, else its latest
        occurrence up to today."""
        if year:
            return int(year)
        prefix = f"-{month:02d}-"
        for stored in self.known:
            if stored[4:8] == prefix:
                return int(stored[:4])
        return self.today.year if month <= self.today.month else self.today.year - 1

    def _add_span(self, first: date | None, last: date | None) -> bool:
        if first is None or last is None or last < first:
            return False
        self.spans.append((first.isoformat(), last.isoformat()))
        return True

    def _range(self, year1: str | None, month1: int, day1: int, year2: str | None, month2: int | None,
               day2: int) -> bool:
        first = self._day(year1, month1, day1)
        if first is None:
            return False
        month = month2 or month1
        year = int(year2) if year2 else first.year + (1 if month < first.month else 0)
        return self._add_span(first, _make(year, month, day2))

    def _month_span(self, year: int, month: int) -> bool:
        if not 1 <= month <= 12:
            return False
        return self._add_span(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))

    # --- handlers (True: understood, remove from the text) ---
    def _iso_range(self, m: re.Match[str]) -> bool:
        return self._range(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4) or m.group(1),
                           int(m.group(5)), int(m.group(6)))

    def _ko_range(self, m: re.Match[str]) -> bool:
        return self._range(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4),
                           int(m.group(5)) if m.group(5) else None, int(m.group(6)))

    def _en_range(self, m: re.Match[str]) -> bool:
        month2 = _MONTHS[m.group("month2").lower()] if m.group("month2") else None
        groups = [g for i, g in enumerate(m.groups(), start=1) if i != m.re.groupindex["month2"]]
        month1, day1, year1, day2, year2 = groups
        return self._range(year1 or year2, _MONTHS[month1.lower()], int(day1), year2 or year1, month2, int(day2))

    def _en_range_dm(self, m: re.Match[str]) -> bool:
        month = _MONTHS[m.group(3).lower()]
        return self._range(m.group(4), month, int(m.group(1)), m.group(4), month, int(m.group(2)))

    def _week(self, year: str | None, month: int, which: int) -> bool:
        if not 1 <= month <= 12:
            return False
        resolved = self._month_year(year, month)
        days = calendar.monthrange(resolved, month)[1]
        first = days - 6 if which == -1 else 7 * (which - 1) + 1
        if first > days:
            return False
        return self._add_span(date(resolved, month, first), date(resolved, month, min(first + 6, days)))

    def _ko_week(self, m: re.Match[str]) -> bool:
        return self._week(m.group(1), int(m.group(2)), _KO_WEEK_ORD[m.group(3)])

    def _en_week(self, m: re.Match[str]) -> bool:
        return self._week(m.group(3), _MONTHS[m.group(2).lower()], _EN_WEEK_ORD[m.group(1).lower()])

    def _add_day(self, found: date | None) -> bool:
        if found is None:
            return False
        self.days.append(found.isoformat())
        return True

    def _iso_day(self, m: re.Match[str]) -> bool:
        return self._add_day(_make(int(m.group(1)), int(m.group(2)), int(m.group(3))))

    def _ko_day(self, m: re.Match[str]) -> bool:
        return self._add_day(self._day(m.group(1), int(m.group(2)), int(m.group(3))))

    def _en_day(self, m: re.Match[str]) -> bool:
        return self._add_day(self._day(m.group(3), _MONTHS[m.group(1).lower()], int(m.group(2))))

    def _en_day_dm(self, m: re.Match[str]) -> bool:
        return self._add_day(self._day(m.group(3), _MONTHS[m.group(2).lower()], int(m.group(1))))

    def _ko_month(self, m: re.Match[str]) -> bool:
        month = int(m.group(2))
        return 1 <= month <= 12 and self._month_span(self._month_year(m.group(1), month), month)

    def _en_month_year(self, m: re.Match[str]) -> bool:
        return self._month_span(int(m.group(2)), _MONTHS[m.group(1).lower()])

    def _en_month(self, m: re.Match[str]) -> bool:
        month = _MONTHS[m.group(1).lower()]
        if m.group(1).lower() == "may" and not m.group(1)[0].isupper():
            return False  # "in may" is more likely the verb than the month
        return self._month_span(self._month_year(None, month), month)

    def _month_range(self, year1: str | None, month1: int, year2: str | None, month2: int) -> bool:
        """Whole months from ``month1`` to ``month2``; a missing year comes from the other end (July to
        December 2024 is 2024-07..2024-12, November to February 2025 starts in 2024), else the newest stored."""
        if not (1 <= month1 <= 12 and 1 <= month2 <= 12):
            return False
        if year2:
            last_year = int(year2)
            first_year = int(year1) if year1 else last_year - (1 if month1 > month2 else 0)
        elif year1:
            first_year = int(year1)
            last_year = first_year + (1 if month2 < month1 else 0)
        else:
            last_year = self._month_year(None, month2)
            first_year = last_year - (1 if month1 > month2 else 0)
        last_day = calendar.monthrange(last_year, month2)[1]
        return self._add_span(date(first_year, month1, 1), date(last_year, month2, last_day))

    def _ko_month_range(self, m: re.Match[str]) -> bool:
        return self._month_range(m.group(1), int(m.group(2)), m.group(3), int(m.group(4)))

    def _en_month_range(self, m: re.Match[str]) -> bool:
        return self._month_range(m.group(2), _MONTHS[m.group(1).lower()], m.group("year2"),
                                 _MONTHS[m.group("month2").lower()])

    def _iso_month(self, m: re.Match[str]) -> bool:
        return self._month_span(int(m.group(1)), int(m.group(2)))

    def _year(self, m: re.Match[str]) -> bool:
        year = int(m.group(1))
        return self._add_span(date(year, 1, 1), date(year, 12, 31))


def _consume(handle: Callable[[re.Match[str]], bool], match: re.Match[str]) -> str:
    """A date pattern's match: removed from the text when its handler understood it."""
    return " " if handle(match) else match.group(0)


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _relative(plan: QueryPlan, kind: str, known: list[str], today: date) -> None:
    """Dates of a relative period. When the period holds no digest (the stored archive ends earlier, or
    the source skipped those days), the nearest digest stands in and ``instead_of`` says so."""
    if kind in ("latest", "today"):
        # "Today's papers" means the newest digest we have: digests arrive a day or more late (a weekend, a
        # Monday morning in Seoul). Only when the newest is older than that does the answer say so.
        plan.dates, plan.date_words = known[:1], (f"latest ({known[0]})" if known else "latest")
        if kind == "today" and known and (today - date.fromisoformat(known[0])).days > TODAY_LATE_DAYS:
            plan.relative, plan.instead_of, plan.archive_ends = kind, today.isoformat(), True
            plan.date_words = known[0]
        return
    first, last = _relative_span(kind, today)
    plan.relative = kind
    span = (first.isoformat(), last.isoformat())
    plan.dates = [d for d in known if span[0] <= d <= span[1]]
    plan.date_words = _span_words(span)
    if not plan.dates and known:
        earlier = [d for d in known if d <= span[1]]  # newest first
        nearest = earlier[0] if earlier else known[-1]
        plan.instead_of, plan.dates, plan.date_words = plan.date_words, [nearest], nearest
        plan.archive_ends = known[0] < span[0]


def _relative_span(kind: str, today: date) -> tuple[date, date]:
    if kind == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if kind == "past_week":  # "지난주"/"last week": the past seven days
        return today - timedelta(days=7), today
    if kind == "this_week":  # Monday to today
        return today - timedelta(days=today.weekday()), today
    if kind == "this_month":
        return today.replace(day=1), today
    if kind == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if kind == "past_month":
        return today - timedelta(days=30), today
    if kind == "this_year":  # January 1st to today
        return today.replace(month=1, day=1), today
    if kind == "last_year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    raise ValueError(kind)


# --- votes ----------------------------------------------------------------------------------------------
_N = r"(\d{1,6})"
_UNIT = r"\s*(?:표|票|(?:up-?)?votes?\b|likes?\b)"
# A vote word before the number: "추천 수 100 이상", "votes over 100", "upvotes of at least 50".
_VOTE_WORD = r"(?:(?:up-?)?votes?|추천|투표|득표|좋아요)\s*(?:수|count|number)?\s*(?:가|이|는|은|를|을|of|:|=)?\s*"

# How one comparison bounds the votes, inclusive: (low, high) from the number(s) asked.
_BOUNDS: dict[str, Callable[[int, int], tuple[int | None, int | None]]] = {
    "ge": lambda n, _: (n, None),
    "gt": lambda n, _: (n + 1, None),
    "lt": lambda n, _: (None, n - 1),
    "le": lambda n, _: (None, n),
    "eq": lambda n, _: (n, n),
    "between": lambda n, m: (min(n, m), max(n, m)),
}
_KO_AFTER = [  # what follows "100표"
    (r"\s*(?:을|를)?\s*이상", "ge"),
    (r"\s*(?:을|를|이|가)?\s*(?:넘는|넘은|넘게|넘긴|넘었|넘어|초과)", "gt"),
    (r"\s*보다\s*(?:더\s*)?(?:많|높)", "gt"),
    (r"\s*미만", "lt"),
    (r"\s*보다\s*(?:더\s*)?(?:적|낮)", "lt"),
    (r"\s*(?:이|도)?\s*안\s*(?:되|된|넘)", "lt"),
    (r"\s*이하", "le"),
]
_EN_BEFORE = [  # what precedes "100 votes"
    (r"(?:at\s+least|no\s+(?:less|fewer)\s+than|not\s+(?:less|fewer)\s+than|a\s+minimum\s+of|>=|≥|=>)\s*", "ge"),
    (r"(?:more\s+than|over|above|greater\s+than|exceeding|upwards\s+of|>)\s*", "gt"),
    (r"(?:fewer\s+than|less\s+than|under|below|<)\s*", "lt"),
    (r"(?:at\s+most|no\s+more\s+than|not\s+more\s+than|up\s+to|a\s+maximum\s+of|<=|≤|=<)\s*", "le"),
    (r"(?:exactly|precisely|정확히)\s*", "eq"),
]
_VOTE_RULES: list[tuple[re.Pattern[str], str]] = [  # most specific first
    # ranges: "10~50표", "10표에서 50표 사이", "between 10 and 50 votes", "10-50 votes"
    *[(re.compile(p, re.I), "between") for p in (
        _N + r"(?:" + _UNIT + r")?\s*(?:에서|부터|~|〜|-|–|to)\s*" + _N + _UNIT + r"(?:\s*(?:사이|까지))?",
        r"\bbetween\s+" + _N + r"(?:" + _UNIT + r")?\s+and\s+" + _N + _UNIT,
        _VOTE_WORD + r"between\s+" + _N + r"\s+and\s+" + _N + r"\b",
    )],
    *[(re.compile(before + _N + _UNIT, re.I), kind) for before, kind in _EN_BEFORE],
    *[(re.compile(_VOTE_WORD + before + _N + r"\b", re.I), kind) for before, kind in _EN_BEFORE],
    *[(re.compile(_N + _UNIT + after, re.I), kind) for after, kind in _KO_AFTER],
    *[(re.compile(_VOTE_WORD + _N + r"\s*(?:개|표)?" + after, re.I), kind) for after, kind in _KO_AFTER],
    (re.compile(_N + r"(?:" + _UNIT + r"\s+or\s+(?:more|higher|above)|\s+or\s+more" + _UNIT + r"|\s*\+" + _UNIT
                + ")", re.I), "ge"),
    (re.compile(_N + r"(?:" + _UNIT + r"\s+or\s+(?:fewer|less|lower|below)|\s+or\s+(?:fewer|less)" + _UNIT + ")",
                re.I), "le"),
    (re.compile(r"\b(?:zero|no)\s+(?:up-?)?votes\b|(?:한\s*표도|하나도)\s*(?:못|안)\s*받", re.I), "eq"),
    (re.compile(_N + _UNIT, re.I), "eq"),  # "0표", "papers with 12 votes"
]
# A bare number beside a counted one: "at least 10 and fewer than 50 votes", "10 이상 50표 미만". Read only
# after a rule above matched, so that "at least 3 papers" or "5 이상" alone stays no vote condition.
_BARE_RULES: list[tuple[re.Pattern[str], str]] = [
    *[(re.compile(before + _N + r"(?=\s*(?:and\b|or\b|but\b|그리고|[,;?.!]|$))", re.I), kind)
      for before, kind in _EN_BEFORE if kind != "eq"],
    *[(re.compile(r"(?<![\d.])" + _N + after, re.I), kind) for after, kind in _KO_AFTER
      if kind in ("ge", "lt", "le") and "보다" not in after and "안" not in after],
]


def _read_votes(plan: QueryPlan, text: str) -> str:
    """Vote conditions ("100표 이상", "more than 100 votes", "10표 미만", "exactly 0 votes") into
    ``votes_min``/``votes_max``; several combine ("at least 10 and under 50 votes"). Returns the text
    without them."""
    if re.search(r"\b(?:top|상위)\s*\d", text, re.I) and not re.search(
            r"이상|이하|미만|초과|넘|보다|least|than|over|under|above|below|exactly", text, re.I):
        return text  # "top 5 votes" is a ranking, not a count
    low: int | None = None
    high: int | None = None
    kinds: list[str] = []

    def apply(match: re.Match[str], kind: str) -> str:
        nonlocal low, high
        numbers = [int(g) for g in match.groups() if g is not None and g.isdigit()] or [0]  # "zero votes"
        lo, hi = _BOUNDS[kind](numbers[0], numbers[-1])
        low = lo if low is None or (lo is not None and lo > low) else low
        high = hi if high is None or (hi is not None and hi < high) else high
        kinds.append(kind)
        return " "

    for pattern, kind in _VOTE_RULES:
        text = pattern.sub(partial(apply, kind=kind), text)
    if kinds:
        for pattern, kind in _BARE_RULES:
            text = pattern.sub(partial(apply, kind=kind), text)
    plan.votes_min, plan.votes_max = low, high
    plan.votes_rule = kinds[0] if len(kinds) == 1 else ("between" if kinds else None)
    return text
