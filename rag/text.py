"""Korean-aware text helpers: morpheme tokens for the lexical index, language and sentence splitting."""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

# Kiwi tags kept as search terms: nouns, foreign words (English), numbers, hanja, roots, verb/adjective
# stems. Particles (J*), endings (E*) and punctuation carry no topic.
_KEEP_TAGS = ("NNG", "NNP", "NNB", "NR", "NP", "SL", "SN", "SH", "XR", "VV", "VA", "W_HASHTAG")
# Model and benchmark names ("GPT-4o", "Llama-3.1-8B", "2411.14384") are kept whole as well as in parts,
# so an exact name outranks documents that merely share its pieces.
_COMPOUND = re.compile(r"[A-Za-z0-9]+(?:[-.:/][A-Za-z0-9]+)+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LATIN = re.compile(r"[A-Za-z]")
# A candidate sentence end: the mark (with closing quotes or brackets) and the spaces after it.
_BOUNDARY = re.compile(r"([.!?。]+[\"'”’)\]]*)[ \t]+(?=\S)")
_LAST_WORD = re.compile(r"\S+$")
_OPENERS, _CLOSERS = "([{\"'“‘", "\"'”’)]}"
_NAME_BANG = re.compile(r"[A-Z][A-Za-z0-9\-]*!+")
_INITIALS = re.compile(r"(?:[A-Za-z]\.){2,}|[A-Z]\.")  # "U.S.", "a.k.a.", "J." of "J. Smith"
_ABBREVIATIONS = frozenset({
    "e.g.", "i.e.", "al.", "vs.", "cf.", "fig.", "figs.", "eq.", "eqs.", "sec.", "secs.", "tab.",
    "approx.", "resp.", "ref.", "refs.", "dr.", "mr.", "mrs.", "ms.", "prof.", "inc.", "ltd.", "jr.", "sr.",
    "st.", "ph.d.", "w.r.t.", "viz.", "ca.", "incl.",
})
_BEFORE_NUMBER = frozenset({"no.", "nos.", "vol.", "pp.", "p.", "ch.", "art.", "v."})
_STOP = frozenset({"것", "수", "등", "및", "이", "그", "저", "를", "the", "a", "an", "of", "and", "or", "in", "on",
                   "to", "for", "is", "are", "what", "which", "how", "does", "do", "paper", "papers", "논문"})


class KoreanTokenizer:
    """Kiwi morphemes, lower-cased; loads the Kiwi model lazily (about a second) and only once."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._kiwi: Any = None
        self._lock = threading.Lock()
        # Questions tokenize the same short texts again and again: an extractive answer tokenizes every quoted
        # sentence twice (term rarity, then ranking) and popular papers' titles and sentences recur across
        # questions. Kiwi was the largest share of a warm question (benchmarks/results/scale.txt).
        self._cached = functools.lru_cache(maxsize=cache_size)(self._analyze)

    def _load(self) -> Any:
        with self._lock:
            if self._kiwi is None:
                from kiwipiepy import Kiwi

                # The multi-word and typo dictionaries cost ~190 MB and changed no result on our data.
                kiwi = Kiwi(load_multi_dict=False, load_typo_dict=False)
                kiwi.tokenize("준비 ready")  # the first analysis initialises lazily (~0.5 s): pay it here
                self._kiwi = kiwi
            return self._kiwi

    def preload(self) -> None:
        """Start loading Kiwi in a background thread (about a second of C++ work, mostly outside the GIL),
        so that a cold question overlaps it with imports, the embedding model and Chroma."""
        if self._kiwi is None:
            threading.Thread(target=self._load, name="kiwi-preload", daemon=True).start()

    def tokens(self, text: str) -> list[str]:
        return list(self._cached(text))

    def tokens_many(self, texts: list[str]) -> list[list[str]]:
        """Many texts once each (an ingest's passages): not kept in the cache."""
        return [list(self._analyze(text)) for text in texts]

    def _analyze(self, text: str) -> tuple[str, ...]:
        kiwi = self._load()
        out = [token.form.lower() for token in kiwi.tokenize(text) if token.tag in _KEEP_TAGS]
        out.extend(match.group(0).lower() for match in _COMPOUND.finditer(text))
        return tuple(token for token in out if token not in _STOP)


def language(text: str) -> str:
    """'ko' when the text has Hangul in a meaningful share, else 'en'."""
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    return "ko" if hangul and hangul * 3 >= latin * 0.5 else "en"


def sentences(text: str) -> list[str]:
    """Split prose (Korean or English) into sentences without cutting names and abbreviations.

    A line break always ends a sentence (free-bullet summaries hold one point per line). Within a line, a
    sentence ends at ``.``, ``!``, ``?`` or ``。`` (and any closing quotes or brackets) followed by a space,
    except after an abbreviation ("e.g.", "i.e.", "et al.", "vs.", "Fig. 3"), initials ("U.S.", "J. Smith"),
    a capitalized name ending in "!" ("Hogwild!", "Yahoo!"), or before a lowercase word. Decimals and
    versions ("3.5", "v1.5") have no space after the dot, so they never end a sentence."""
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _BOUNDARY.finditer(line):
            if _ends_sentence(line, match):
                out.append(line[start:match.end(1)])
                start = match.end()
        out.append(line[start:])
    return [part.strip() for part in out if part.strip()]


def _ends_sentence(line: str, match: re.Match[str]) -> bool:
    following = line[match.end():]
    if following[:1].islower():  # "e.g. the", "approx. five", "Yahoo! style"
        return False
    word = _LAST_WORD.search(line, 0, match.end(1))
    token = word.group(0).lstrip(_OPENERS).rstrip(_CLOSERS) if word else ""
    mark = match.group(1).rstrip(_CLOSERS)[-1]
    if mark == "!":  # "Hogwild! Inference": a capitalized Latin word with "!" attached is a name
        return not _NAME_BANG.fullmatch(token)
    if mark != ".":
        return True
    lowered = token.lower()
    if lowered in _ABBREVIATIONS or _INITIALS.fullmatch(token):
        return False
    if lowered in _BEFORE_NUMBER:  # "No. 3", "Vol. 2", "pp. 10"
        return not following[:1].isdigit()
    return True
