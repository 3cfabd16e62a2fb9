"""Telegram HTML from structured content, and a splitter that never breaks a tag or an entity.

Content is a flat list of :class:`Span` s: runs of text, each plain or tagged (bold, italic, code, link,
...), optionally inside outer elements (a blockquote, a code block, bold around a link: ``Span.outer``).
Nothing is ever written as HTML by hand: :func:`to_html` escapes every piece of text and every ``href``,
and opens and closes elements so that neighbouring runs sharing an outer element share one element (one
blockquote, not one per line). Because the splitter cuts the *plain* text and renders each part
afterwards, a cut can never land inside an ``&amp;`` entity or between ``<a>`` and ``</a>``; an element
that straddles a cut is closed at the end of one part and reopened at the start of the next.

Telegram's limit is 4096 characters *after entity parsing*, counted in UTF-16 code units
(https://core.telegram.org/bots/api#sendmessage): what the reader sees, not the markup. So a part's cost
is its visible UTF-16 length (an answer full of linked citations is cut by its text, not by its hrefs),
and a part holds at most the 100 entities Telegram applies per message (``MAX_ENTITIES``). A heading (a
line whose letters are all bold) is never the last line of a part: it stays with what it heads.

:func:`from_markdown` turns a model's Markdown into spans with telegramify-markdown (see there why).
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

MAX_MESSAGE = 4096
# Telegram applies at most 100 formatting entities of a message and silently drops the rest (a link past
# the 100th is plain text): https://github.com/tdlib/telegram-bot-api/issues/820 (a Telegram developer's
# answer), https://github.com/rubenlagus/TelegramBots/issues/854. A part holds at most this many.
MAX_ENTITIES = 100
TAGS = frozenset({"b", "i", "u", "s", "code", "a", "tg-spoiler"})  # a run's own tag
OUTER_TAGS = TAGS | {"pre", "blockquote"}  # elements around runs

# Break levels, preferred first. Each pattern matches the whitespace a cut consumes; the cut position is
# the match's end, and the whitespace itself is dropped from both parts.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?。…])[\"'”’)\]]*\s+")
_WORD = re.compile(r"\s+")
_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)


@dataclass(frozen=True)
class Tag:
    """One Telegram HTML element: ``a`` has an ``href``, ``pre`` may name a ``language``, a ``blockquote``
    may be ``expandable`` (collapsed to a few lines until tapped)."""

    name: str
    href: str | None = None
    language: str | None = None
    expandable: bool = False

    def __post_init__(self) -> None:
        if self.name not in OUTER_TAGS:
            raise ValueError(f"unsupported tag {self.name!r}")
        if (self.name == "a") != (self.href is not None):
            raise ValueError("href goes with tag 'a' and only with it")

    def open(self) -> str:
        if self.name == "a":
            return f'<a href="{html.escape(self.href or "", quote=True)}">'
        if self.name == "pre" and self.language:
            return f'<pre><code class="language-{html.escape(self.language, quote=True)}">'
        if self.name == "blockquote" and self.expandable:
            return "<blockquote expandable>"
        return f"<{self.name}>"

    def close(self) -> str:
        return "</code></pre>" if self.name == "pre" and self.language else f"</{self.name}>"


@dataclass(frozen=True)
class Span:
    """A run of text, plain (``tag=None``) or wrapped in one Telegram HTML tag, inside the ``outer``
    elements (outermost first)."""

    text: str
    tag: str | None = None
    href: str | None = None
    outer: tuple[Tag, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.tag is not None and self.tag not in TAGS:
            raise ValueError(f"unsupported tag {self.tag!r}")
        if (self.tag == "a") != (self.href is not None):
            raise ValueError("href goes with tag 'a' and only with it")

    @property
    def tags(self) -> tuple[Tag, ...]:
        """Every element around the text, outermost first."""
        return self.outer + ((Tag(self.tag, self.href),) if self.tag is not None else ())

    def with_text(self, text: str) -> Span:
        return Span(text, self.tag, self.href, self.outer)

    def html(self) -> str:
        return to_html([self])


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


def within(tag: Tag, spans: Iterable[Span]) -> list[Span]:
    """``spans`` inside ``tag`` (e.g. an expandable blockquote around a list of sources)."""
    return [Span(s.text, s.tag, s.href, (tag, *s.outer)) for s in spans]


def to_html(spans: Iterable[Span]) -> str:
    """Escaped HTML; neighbouring runs that share outer elements share them (properly nested)."""
    out: list[str] = []
    stack: tuple[Tag, ...] = ()
    for span in spans:
        if not span.text:
            continue  # an empty tagged run renders nothing, not "<b></b>"
        tags = span.tags
        common = 0
        while common < min(len(stack), len(tags)) and stack[common] == tags[common]:
            common += 1
        out += [tag.close() for tag in reversed(stack[common:])]
        out += [tag.open() for tag in tags[common:]]
        stack = tags
        out.append(html.escape(span.text, quote=False))
    out += [tag.close() for tag in reversed(stack)]
    return "".join(out)


def to_plain(spans: Iterable[Span]) -> str:
    return "".join(span.text for span in spans)


def to_fallback(spans: Iterable[Span]) -> str:
    """Plain text that keeps link targets: ``title (https://...)``."""
    out: list[str] = []
    for s in spans:
        href = next((tag.href for tag in reversed(s.tags) if tag.name == "a"), None)
        out.append(f"{s.text} ({href})" if href and href != s.text else s.text)
    return "".join(out)


def utf16_len(value: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(value.encode("utf-16-le")) // 2


def cost(spans: Sequence[Span]) -> int:
    """What a part counts against the message limit: what Telegram shows, in UTF-16 code units."""
    return utf16_len(to_plain(spans))


def entity_count(spans: Iterable[Span]) -> int:
    """How many entities Telegram makes of ``to_html(spans)`` (neighbours sharing an element share one)."""
    count = 0
    stack: tuple[Tag, ...] = ()
    for span in spans:
        if not span.text:
            continue
        tags = span.tags
        common = 0
        while common < min(len(stack), len(tags)) and stack[common] == tags[common]:
            common += 1
        count += len(tags) - common
        stack = tags
    return count


def fits(spans: Sequence[Span], limit: int = MAX_MESSAGE) -> bool:
    """Does one message hold these spans: at most ``limit`` visible UTF-16 units and MAX_ENTITIES entities?"""
    return cost(spans) <= limit and entity_count(spans) <= MAX_ENTITIES


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
    """Cut content into parts that each cost at most ``limit`` and hold at most MAX_ENTITIES entities.

    Cuts prefer paragraph breaks, then line breaks, then sentence ends, then spaces; only a single
    "word" longer than the limit is cut between characters. Whitespace at a cut is dropped, so the parts'
    plain texts, concatenated, equal the original plain text up to whitespace at the cuts.
    """
    plain = to_plain(spans)
    headings = _heading_ends(spans, plain)
    # A cut right after a heading would send the heading alone (or at the end of a part): not a cut.
    breaks = [[m.end() for m in level.finditer(plain) if m.start() not in headings] for level in _LEVELS]
    parts: list[list[Span]] = []
    start = _skip_space(plain, 0)
    while start < len(plain):
        if len(plain[start:].rstrip()) <= limit:  # cost >= plain length, so only then can the rest fit
            rest = _piece(spans, plain, start, len(plain))
            if fits(rest, limit):
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
    """The largest cut whose part fits. A part's length and entities only grow with its cut, so bisect."""
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        chunk = _piece(spans, plain, start, cuts[mid])
        if chunk and fits(chunk, limit):
            best, lo = cuts[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _heading_ends(spans: Sequence[Span], plain: str) -> set[int]:
    """Where heading lines end: lines with a letter or digit, all of whose letters and digits are bold
    (our views' titles, a Markdown ``## heading``; a leading emoji or number does not count)."""
    bold = bytearray(len(plain))
    offset = 0
    for span in spans:
        if any(tag.name == "b" for tag in span.tags):
            bold[offset : offset + len(span.text)] = b"\x01" * len(span.text)
        offset += len(span.text)
    ends: set[int] = set()
    start = 0
    for line in plain.split("\n"):
        letters = [start + i for i, ch in enumerate(line) if ch.isalnum()]
        if letters and all(bold[i] for i in letters):
            ends.update(range(start + len(line.rstrip()), start + len(line) + 1))
        start += len(line) + 1
    return ends


def _skip_space(value: str, index: int) -> int:
    while index < len(value) and value[index].isspace():
        index += 1
    return index


# --- Markdown ---------------------------------------------------------------------------------------
# Models write Markdown. It is parsed by telegramify-markdown (a maintained converter made for Telegram:
# CommonMark via pulldown-cmark, headings, lists, code fences, quotes) into plain text plus Telegram
# entities with UTF-16 offsets, which become spans here, so every character is escaped by to_html like
# any other text and a cut is measured on what Telegram shows. We chose it over chatgpt-md-converter
# (regexes producing HTML that we would have to parse again) and md2tgmd (MarkdownV2 strings): only its
# (text, entities) output can be split and escaped without a second parser.
# https://github.com/sudoskys/telegramify-markdown
_ENTITY_TAGS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "code": "code",
                "spoiler": "tg-spoiler", "pre": "pre", "blockquote": "blockquote",
                "expandable_blockquote": "blockquote"}
_MARKER = re.compile(r"\[(\d{1,3})\]")
_HIDE = str.maketrans({"<": "\ue000", "&": "\ue001"})
_SHOW = str.maketrans({"\ue000": "<", "\ue001": "&"})


def from_markdown(markdown: str) -> list[Span]:
    """Spans for a model's Markdown. Links the model wrote become their plain text (links are only ever
    built from our own metadata); raw HTML is not interpreted."""
    from telegramify_markdown import RenderConfig, convert  # ~30 ms to import: only when answers render

    # Raw HTML ("<DiT>", "a <b> b") is text to show, not markup to drop, and "&amp;" stays as written: both
    # go through the parser as private-use stand-ins of the same UTF-16 length, restored afterwards.
    hidden = markdown.translate(_HIDE)
    plain, entities = convert(hidden, latex_escape=False, config=RenderConfig.isolated())
    plain = plain.translate(_SHOW)
    starts = _utf16_index(plain)
    ranges: list[tuple[int, int, Tag]] = []
    for entity in entities:
        name = _ENTITY_TAGS.get(entity.type)
        if name is None or entity.length <= 0:
            continue  # text_link, url, mention, custom emoji: shown as plain text
        start, end = starts.get(entity.offset), starts.get(entity.offset + entity.length)
        if start is None or end is None:
            continue
        ranges.append((start, end, Tag(name, language=entity.language if name == "pre" else None,
                                       expandable=entity.type == "expandable_blockquote")))
    ranges.sort(key=lambda r: (r[0], -r[1]))  # outer elements first
    cuts = sorted({0, len(plain), *(r[0] for r in ranges), *(r[1] for r in ranges)})
    spans: list[Span] = []
    for lo, hi in itertools.pairwise(cuts):
        outer = tuple(tag for start, end, tag in ranges if start <= lo and hi <= end)
        spans.append(Span(plain[lo:hi], outer=_nestable(outer)))
    return spans


def link_markers(spans: Sequence[Span], href: Callable[[int], str | None]) -> list[Span]:
    """Citation markers ``[n]`` in the text become links to ``href(n)`` (None: left as text); never
    inside code."""
    out: list[Span] = []
    for span in spans:
        if span.tag is not None or any(tag.name in ("code", "pre", "a") for tag in span.outer):
            out.append(span)
            continue
        position = 0
        for match in _MARKER.finditer(span.text):
            target = href(int(match.group(1)))
            if target is None:
                continue
            out.append(span.with_text(span.text[position : match.start()]))
            out.append(Span(match.group(0), "a", target, span.outer))
            position = match.end()
        out.append(span.with_text(span.text[position:]))
    return [span for span in out if span.text]


def _nestable(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    """Telegram allows nothing inside code or a code block, and no quote inside a quote."""
    out: list[Tag] = []
    for tag in tags:
        if tag.name == "blockquote" and any(t.name == "blockquote" for t in out):
            continue
        out.append(tag)
        if tag.name in ("code", "pre"):
            break
    return tuple(out)


def _utf16_index(value: str) -> dict[int, int]:
    """UTF-16 offset -> index in ``value``, for every character boundary."""
    index, offset = {0: 0}, 0
    for i, ch in enumerate(value, start=1):
        offset += 2 if ord(ch) > 0xFFFF else 1
        index[offset] = i
    return index
