"""Telegram-style parsing of ``parse_mode=HTML`` text and UTF-16 entity helpers.

Mirrors TDLib's ``parse_html`` closely enough to catch escaping bugs: supported tags are
b, strong, i, em, u, ins, s, strike, del, a (href), code (class="language-x" inside pre),
pre, blockquote (expandable), tg-spoiler, span class="tg-spoiler" and tg-emoji
(emoji-id). Named entities ``&lt; &gt; &amp; &quot;`` and numeric entities are decoded.

Stricter than Telegram by default (``strict_amp=True``): a bare ``&`` that does not start
a valid entity is an error (Telegram itself keeps it literally). A bare ``>`` is accepted
like Telegram does unless ``strict_gt=True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "auto_entities",
    "parse_telegram_html",
    "utf16_len",
]

SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
        "code", "pre", "blockquote", "tg-spoiler", "span", "tg-emoji",
    }
)
_TAG_TO_TYPE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]{0,30}));")
_UNQUOTED_VALUE_RE = re.compile(r"[A-Za-z0-9.\-]*")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(exc)`` is Telegram's wording."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram offsets count)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, index: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``text[index] == "&"``; ``None`` if invalid."""
    match = _ENTITY_RE.match(text, index)
    if match is None:
        return None
    dec, hexa, name = match.groups()
    if name is not None:
        char = _NAMED.get(name)
        return (char, match.end()) if char is not None else None
    code = int(dec, 10) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _decode_lenient(value: str) -> str:
    """Decode entities in an attribute value, keeping invalid ones literally."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            dec = _decode_entity(value, i)
            if dec is not None:
                out.append(dec[0])
                i = dec[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    offset: int
    text_index: int
    language: str | None = None
    children: list[dict[str, Any]] = field(default_factory=list)


def parse_telegram_html(
    text: str, *, strict_amp: bool = True, strict_gt: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)`` with UTF-16 offsets.

    Raises :class:`EntityParseError` with Telegram's message (without the
    ``"Bad Request: can't parse entities: "`` prefix) on malformed input.
    """
    out: list[str] = []
    pos16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal pos16
        out.append(chunk)
        pos16 += utf16_len(chunk)

    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                emit(decoded[0])
                i = decoded[1]
                continue
            if strict_amp:
                raise EntityParseError(
                    f"Unsupported HTML entity or unescaped \"&\" at byte offset "
                    f"{_byte_offset(text, i)}"
                )
        if char == ">" and strict_gt:
            raise EntityParseError(f"Unescaped \">\" at byte offset {_byte_offset(text, i)}")
        if char != "<":
            emit(char)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            # ---- end tag
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            top = stack[-1]
            if end_name and end_name != top.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{top.tag}>", found "</{end_name}>"'
                )
            stack.pop()
            _close(top, stack, pos16, "".join(out[top.text_index :]), entities)
            i = j + 1
            continue

        # ---- start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[i:j].lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[j] == ">":
                j += 1
                break
            k = j
            while k < n and not text[k].isspace() and text[k] not in "=>":
                k += 1
            attr_name = text[j:k].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            while k < n and text[k].isspace():
                k += 1
            value = ""
            if k < n and text[k] == "=":
                k += 1
                while k < n and text[k].isspace():
                    k += 1
                if k >= n:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                if text[k] in "\"'":
                    end = text.find(text[k], k + 1)
                    if end < 0:
                        raise EntityParseError(
                            f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                        )
                    value = text[k + 1 : end]
                    k = end + 1
                else:
                    match = _UNQUOTED_VALUE_RE.match(text, k)
                    assert match is not None
                    value = match.group()
                    if not value:
                        raise EntityParseError(
                            f'Expected quote in a value of attribute "{attr_name}" of the tag '
                            f'"{tag}" at byte offset {_byte_offset(text, begin)}'
                        )
                    k = match.end()
            attrs[attr_name] = _decode_lenient(value)
            j = k
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        stack.append(_Open(tag=tag, attrs=attrs, offset=pos16, text_index=len(out)))
        i = j

    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close(
    top: _Open,
    stack: list[_Open],
    pos16: int,
    inner_text: str,
    entities: list[dict[str, Any]],
) -> None:
    """Turn a closed tag into an entity (dropping empty ones, like Telegram)."""
    length = pos16 - top.offset
    if top.tag == "code" and stack and stack[-1].tag == "pre":
        cls = top.attrs.get("class", "")
        if cls.startswith("language-") and stack[-1].offset == top.offset:
            stack[-1].language = cls[len("language-") :]
            return
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": top.offset, "length": length}
    if top.tag == "a":
        entity["type"] = "text_link"
        entity["url"] = top.attrs.get("href") or inner_text
    elif top.tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in top.attrs else "blockquote"
    elif top.tag == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = top.attrs["emoji-id"]
    else:
        entity["type"] = _TAG_TO_TYPE[top.tag]
        if top.tag == "pre" and top.language:
            entity["language"] = top.language
    entities.append(entity)


_AUTO_RE = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)"
    r"|(?P<bot_command>(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<![\w@/])@[A-Za-z0-9_]{5,32})"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d_]\w*)"
)


def auto_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram would attach to a user's plain text (url, bot_command, mention, hashtag).

    Offsets and lengths are in UTF-16 code units.
    """
    result: list[dict[str, Any]] = []
    for match in _AUTO_RE.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        start, value = match.start(), match.group()
        if kind == "url":
            value = value.rstrip(".,;:!?)'")
        result.append(
            {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(value)}
        )
    return result
