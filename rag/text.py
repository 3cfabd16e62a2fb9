"""Korean-aware text helpers: morpheme tokens for the lexical index, language and sentence splitting."""

from __future__ import annotations

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
_SENTENCE = re.compile(r"(?<=[.!?。])\s+(?=\S)")
_STOP = frozenset({"것", "수", "등", "및", "이", "그", "저", "를", "the", "a", "an", "of", "and", "or", "in", "on",
                   "to", "for", "is", "are", "what", "which", "how", "does", "do", "paper", "papers", "논문"})


class KoreanTokenizer:
    """Kiwi morphemes, lower-cased; loads the Kiwi model lazily (about a second) and only once."""

    def __init__(self) -> None:
        self._kiwi: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._kiwi is None:
                from kiwipiepy import Kiwi

                # The multi-word and typo dictionaries cost ~190 MB and changed no result on our data.
                self._kiwi = Kiwi(load_multi_dict=False, load_typo_dict=False)
            return self._kiwi

    def tokens(self, text: str) -> list[str]:
        kiwi = self._load()
        out = [token.form.lower() for token in kiwi.tokenize(text) if token.tag in _KEEP_TAGS]
        out.extend(match.group(0).lower() for match in _COMPOUND.finditer(text))
        return [token for token in out if token not in _STOP]

    def tokens_many(self, texts: list[str]) -> list[list[str]]:
        return [self.tokens(text) for text in texts]


def language(text: str) -> str:
    """'ko' when the text has Hangul in a meaningful share, else 'en'."""
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    return "ko" if hangul and hangul * 3 >= latin * 0.5 else "en"


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE.split(text) if part.strip()]
