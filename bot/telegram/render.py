"""Telegram HTML from structured content, and a splitter that never breaks a tag or an entity.

Content is a flat list of :class:`Span` s: plain text or one tagged run (bold, italic, code, link). Nothing
is ever written as HTML by hand: :func:`to_html` escapes every piece of text and every ``href``. Because
the splitter cuts the *plain* text and renders each part afterwards, a cut can never land inside an
``&amp;`` entity or between ``<a>`` and ``</a>``; a tagged run that straddles a cut is closed at the end
of one part and reopened at the start of the next.

Telegram's limit is 4096 characters after entity parsing (counted in UTF-16 code units). A part's cost
is the larger of its rendered HTML length and its plain UTF-16 length, so every part fits whichever way
the limit is read.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_MESSAGE = 4096
TAGS = frozenset({"b", "i", "code", "a"})

# Break levels, preferred first. Each pattern matches the whitespace a cut consumes; the cut position is
# the match's end, and the whitespace itself is dropped from both parts.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?。…])[\"'”’)\]]*\s+")
_WORD = re.compile(r"\s+")
_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)


@dataclass(frozen=True)
class Span:
    """A run of text, plain (``tag=None``) or wrapped in one Telegram HTML tag."""

    text: str
    tag: str | None = None
    href: str | None = None

    def __post_init__(self) -> None:
        if self.tag is not None and self.tag not in TAGS:
            raise ValueError(f"unsupported tag {self.tag!r}")
        if (self.tag == "a") != (self.href is not None):
            raise ValueError("href goes with tag 'a' and only with it")

    def with_text(self, text: str) -> Span:
        return Span(text, self.tag, self.href)

    def html(self) -> str:
        body = html.escape(self.text, quote=False)
        if self.tag is None or not self.text:
            return body
        if self.tag == "a":
            return f'<a href="{html.escape(self.href or "", quote=True)}">{body}</a>'
        return f"<{self.tag}>{body}</{self.tag}>"


def text(value: str) -> Span:
    return Span(value)


def bold(value: str) -> Span:
    return Span(value, "b")


def italic(value: str) -> Span:
    return Span(value, "i")


def code(value: str) -> Span:
    return Span(value, "code")


def link(value: str, href: str) -> Span:
    return Span(value, "a", href)


@dataclass(frozen=True)
class Part:
    """One message: its HTML; the same content as Telegram will show it (``text``); and a plain-text
    fallback for when Telegram refuses the HTML, where each link keeps its URL in brackets."""

    html: str
    text: str
    fallback: str = ""


def to_html(spans: Iterable[Span]) -> str:
    return "".join(span.html() for span in spans)


def to_plain(spans: Iterable[Span]) -> str:
    return "".join(span.text for span in spans)


def to_fallback(spans: Iterable[Span]) -> str:
    """Plain text that keeps link targets: ``title (https://...)``."""
    return "".join(f"{s.text} ({s.href})" if s.tag == "a" and s.href and s.href != s.text else s.text
                   for s in spans)


def utf16_len(value: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(value.encode("utf-16-le")) // 2


def cost(spans: Sequence[Span]) -> int:
    """What a part counts against the message limit (see the module docstring)."""
    return max(len(to_html(spans)), utf16_len(to_plain(spans)))


def slice_spans(spans: Sequence[Span], start: int, end: int) -> list[Span]:
    """The spans covering plain-text positions ``[start, end)``; runs cut at the edges keep their tag."""
    out: list[Span] = []
    offset = 0
    for span in spans:
        lo, hi = offset, offset + len(span.text)
        offset = hi
        if hi <= start or not span.text:
            continue
        if lo >= end:
            break
        out.append(span.with_text(span.text[max(start, lo) - lo : min(end, hi) - lo]))
    return out


def join(*blocks: Sequence[Span], sep: str = "\n\n") -> list[Span]:
    """Blocks (paragraphs) joined by ``sep``, empty blocks dropped."""
    out: list[Span] = []
    for block in blocks:
        if not to_plain(block).strip():
            continue
        if out:
            out.append(Span(sep))
        out.extend(block)
    return out


def split(spans: Sequence[Span], limit: int = MAX_MESSAGE) -> list[list[Span]]:
    """Cut content into parts that each cost at most ``limit``.

    Cuts prefer paragraph breaks, then line breaks, then sentence ends, then spaces; only a single
    "word" longer than the limit is cut between characters. Whitespace at a cut is dropped, so the parts'
    plain texts, concatenated, equal the original plain text up to whitespace at the cuts.
    """
    plain = to_plain(spans)
    breaks = [[m.end() for m in level.finditer(plain)] for level in _LEVELS]
    parts: list[list[Span]] = []
    start = _skip_space(plain, 0)
    while start < len(plain):
        if len(plain[start:].rstrip()) <= limit:  # cost >= plain length, so only then can the rest fit
            rest = _piece(spans, plain, start, len(plain))
            if cost(rest) <= limit:
                parts.append(rest)
                break
        cut = None
        for positions in breaks:
            # A fitting cut lies within the limit of the start (plus the whitespace it drops).
            lo = bisect.bisect_right(positions, start)
            hi = bisect.bisect_left(positions, min(len(plain), start + 2 * limit + 1))
            cut = _farthest_fit(spans, plain, start, positions[lo:hi], limit)
            if cut is not None:
                break
        if cut is None:  # one unbroken run longer than the limit: cut between characters
            chars = range(start + 1, min(len(plain), start + limit + 1))
            cut = _farthest_fit(spans, plain, start, chars, limit) or start + 1
        chunk = _piece(spans, plain, start, cut)
        if to_plain(chunk).strip():
            parts.append(chunk)
        start = _skip_space(plain, cut)
    return parts


def render_parts(spans: Sequence[Span], limit: int = MAX_MESSAGE) -> list[Part]:
    """Split, then render every part to HTML and to its plain-text fallback."""
    return [Part(to_html(chunk), to_plain(chunk), to_fallback(chunk)) for chunk in split(spans, limit)]


def _piece(spans: Sequence[Span], plain: str, start: int, cut: int) -> list[Span]:
    """The part from ``start`` to a cut, without the whitespace before the cut."""
    return slice_spans(spans, start, start + len(plain[start:cut].rstrip()))


def _farthest_fit(spans: Sequence[Span], plain: str, start: int, cuts: Sequence[int], limit: int) -> int | None:
    """The largest cut whose part fits. A part's cost only grows with its cut, so bisect."""
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        chunk = _piece(spans, plain, start, cuts[mid])
        if chunk and cost(chunk) <= limit:
            best, lo = cuts[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _skip_space(value: str, index: int) -> int:
    while index < len(value) and value[index].isspace():
        index += 1
    return index
