"""The HTML renderer and message splitter, checked against the fake Bot API's strict Telegram-HTML parser."""

from __future__ import annotations

import random
import re

import pytest

from bot.telegram.render import (
    MAX_MESSAGE,
    Part,
    Span,
    Tag,
    bold,
    code,
    cost,
    entity_count,
    from_markdown,
    italic,
    join,
    link,
    link_markers,
    render_parts,
    slice_spans,
    split,
    text,
    to_fallback,
    to_html,
    to_plain,
    utf16_len,
    within,
)
from tests.fakes.tg_html import parse_telegram_html


def squash(value: str) -> str:
    return re.sub(r"\s+", "", value)


def check_parts(spans: list[Span], parts: list[Part], limit: int) -> None:
    """Every part valid, within the limit, non-empty; together they are the original text, in order."""
    original = to_plain(spans)
    position = 0
    for part in parts:
        plain, _entities = parse_telegram_html(part.html)  # raises on any broken tag or entity
        assert plain == part.text
        assert part.text.strip() and part.text == part.text.strip()
        assert utf16_len(part.text) <= limit  # Telegram counts what it shows, not the markup
        found = original.find(part.text, position)
        assert found >= position, "parts are slices of the original, in order"
        assert not original[position:found].strip(), "only whitespace is dropped between parts"
        position = found + len(part.text)
    assert not original[position:].strip()
    assert squash("".join(p.text for p in parts)) == squash(original)


# --- rendering -----------------------------------------------------------------------------------------
def test_text_is_escaped_and_parses_back() -> None:
    nasty = 'A <b>bold</b> & "quoted" title > 3 &amp; <script>alert(1)</script>'
    spans = [text(nasty), bold(nasty), italic(nasty), code(nasty), link(nasty, "https://arxiv.org/abs/2502.01061")]
    html = to_html(spans)
    assert "<script>" not in html and "<b>bold" not in html
    plain, entities = parse_telegram_html(html)
    assert plain == nasty * 5
    assert [e["type"] for e in entities] == ["bold", "italic", "code", "text_link"]
    assert entities[-1]["url"] == "https://arxiv.org/abs/2502.01061"


def test_href_is_attribute_escaped() -> None:
    href = 'https://example.org/?a=1&b="2"'
    html = to_html([link("x", href)])
    assert html == '<a href="https://example.org/?a=1&amp;b=&quot;2&quot;">x</a>'
    assert parse_telegram_html(html)[1][0]["url"] == href


def test_span_rules() -> None:
    with pytest.raises(ValueError):
        Span("x", "script")
    with pytest.raises(ValueError):
        Span("x", "b", "https://example.org")
    with pytest.raises(ValueError):
        Span("x", "a")
    assert Span("", "b").html() == ""  # an empty tagged run renders nothing, not "<b></b>"


def test_join_and_slice() -> None:
    spans = join([text("one")], [], [text("  ")], [bold("two"), text(" three")])
    assert to_plain(spans) == "one\n\ntwo three"
    assert slice_spans(spans, 2, 7) == [text("e"), text("\n\n"), bold("tw")]
    assert slice_spans(spans, 0, 0) == []


def test_cost_counts_what_telegram_shows_in_utf16() -> None:
    assert cost([text("&&")]) == 2  # "&amp;&amp;" on the wire, two characters after entity parsing
    assert cost([link("[1]", "https://arxiv.org/abs/2502.01061")]) == 3
    assert cost([text("😀😀")]) == 4  # two astral characters are four UTF-16 units
    assert utf16_len("가😀") == 3


# --- splitting -----------------------------------------------------------------------------------------
def test_short_content_is_one_part() -> None:
    spans = [text("짧은 답변 "), link("[1] Title", "https://arxiv.org/abs/2502.01061")]
    assert render_parts(spans) == [Part(to_html(spans), to_plain(spans),
                                        "짧은 답변 [1] Title (https://arxiv.org/abs/2502.01061)")]


def test_fallback_keeps_link_targets() -> None:
    spans = [bold("Title"), text(" "), link("https://x.org", "https://x.org"), text(" "), link("[2] T", "https://y.org")]
    assert to_fallback(spans) == "Title https://x.org [2] T (https://y.org)"


def test_empty_content_has_no_parts() -> None:
    assert split([]) == [] and split([text("  \n\n ")]) == []


def test_prefers_paragraph_breaks() -> None:
    first, second = "a" * 50 + " " + "b" * 50, "c" * 60 + ". " + "d" * 30
    spans = join([text(first)], [text(second)])
    parts = render_parts(spans, 170)
    assert [p.text for p in parts] == [first, second]


def test_then_line_breaks() -> None:
    lines = [f"line {i} " + "x" * 30 for i in range(6)]
    parts = render_parts([text("\n".join(lines))], 90)
    assert all(p.text in {"\n".join(lines[i:j]) for i in range(6) for j in range(i + 1, 7)} for p in parts)
    check_parts([text("\n".join(lines))], parts, 90)


def test_then_sentence_ends() -> None:
    sentences = [f"문장 {i}번은 여기서 끝납니다." for i in range(40)]
    spans = [text(" ".join(sentences))]
    parts = render_parts(spans, 100)
    assert len(parts) > 1
    for part in parts:
        assert part.text.endswith("다."), part.text
    check_parts(spans, parts, 100)


def test_then_words_never_broken() -> None:
    words = [f"word{i:03d}" for i in range(400)]
    spans = [text(" ".join(words))]
    parts = render_parts(spans, 75)
    for part in parts:
        assert all(w in words for w in part.text.split())
    check_parts(spans, parts, 75)


def test_a_word_longer_than_the_limit_is_cut_between_characters() -> None:
    spans = [text("x" * 10_000)]
    parts = render_parts(spans, MAX_MESSAGE)
    assert [len(p.text) for p in parts] == [4096, 4096, 1808]
    assert "".join(p.text for p in parts) == "x" * 10_000


def test_a_tag_across_a_cut_is_closed_and_reopened() -> None:
    spans = [text("intro. "), bold("굵은 글씨 " * 500), text(" outro.")]
    parts = render_parts(spans, 300)
    check_parts(spans, parts, 300)
    middle = parts[1:-1]
    assert middle and all(p.html.startswith("<b>") and p.html.endswith("</b>") for p in middle)


def test_entities_are_never_cut() -> None:
    spans = [text("&<>\"" * 3000)]  # every character expands to an entity
    parts = render_parts(spans, 100)
    check_parts(spans, parts, 100)
    assert [len(p.text) for p in parts] == [100] * 120  # 100 visible characters, ~500 of markup each


def test_a_link_is_never_cut_inside_its_markup() -> None:
    href = "https://arxiv.org/abs/2411.14384"
    spans = [text("see "), link("a fairly long link title " * 10, href), text(" and more text here. " * 20)]
    parts = render_parts(spans, 120)
    check_parts(spans, parts, 120)
    for part in parts:
        assert part.html.count("<a ") == part.html.count("</a>")
        assert all(url == href for url in re.findall(r'href="([^"]*)"', part.html))


def test_astral_characters_count_double() -> None:
    spans = [text("😀" * 3000)]
    parts = render_parts(spans)
    assert [len(p.text) for p in parts] == [2048, 952]
    check_parts(spans, parts, MAX_MESSAGE)


def test_real_sized_answer_splits_under_4096() -> None:
    body = " ".join(f"OmniHuman-1 <v{i}> & DiT 모델은 오디오와 포즈를 조건으로 씁니다 [1]." for i in range(300))
    sources = [link(f"[{n}] Title <b>{n}</b> & co", f"https://arxiv.org/abs/2502.0{n:04d}") for n in range(1, 4)]
    listed: list[Span] = []
    for source in sources:
        listed += [text("\n"), source]
    spans = join([text(body)], [bold("Sources"), *listed])
    parts = render_parts(spans)
    assert len(parts) == 4  # ~15,700 visible characters
    check_parts(spans, parts, MAX_MESSAGE)
    sources_part = [p for p in parts if "Sources" in p.text]
    assert len(sources_part) == 1 and sources_part[0].html.count("</a>") == 3  # the source list stays together


ALPHABET = [*list("abcdefghij 가나다라마 ..!?\n\n<>&\"'😀é"), "&amp;", "[1]", "  "]


@pytest.mark.parametrize("seed", range(60))
def test_random_content_always_splits_validly(seed: int) -> None:
    rng = random.Random(seed)
    spans: list[Span] = []
    for _ in range(rng.randint(1, 40)):
        value = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 400)))
        kind = rng.choice(["text", "text", "b", "i", "code", "a"])
        if kind == "text":
            spans.append(text(value))
        elif kind == "a":
            spans.append(link(value, f"https://arxiv.org/abs/2502.{rng.randint(10000, 99999)}?q=<&>"))
        else:
            spans.append(Span(value, kind))
    limit = rng.choice([160, 200, 1000, MAX_MESSAGE])  # a link's markup alone is ~70 characters
    check_parts(spans, render_parts(spans, limit), limit)


@pytest.mark.parametrize("seed", range(30))
def test_random_content_splits_validly_under_tiny_limits(seed: int) -> None:
    rng = random.Random(1000 + seed)
    spans = [Span("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 300))),
                  rng.choice([None, None, "b", "i", "code"])) for _ in range(rng.randint(1, 20))]
    limit = rng.choice([24, 32, 50])
    check_parts(spans, render_parts(spans, limit), limit)


# --- what Telegram counts, headings, nesting --------------------------------------------------------------
def test_an_answer_full_of_citations_is_two_messages_not_nineteen() -> None:
    href = "https://arxiv.org/abs/2502.01061"
    sentence = [text("DiT 기반 모델은 오디오와 포즈를 함께 조건으로 씁니다 "), link("[1]", href), text(". ")]
    spans = sentence * 160  # ~6,900 visible characters, ~13,000 more of link markup
    assert 4096 < utf16_len(to_plain(spans)) < 2 * 4096 - 100
    parts = render_parts(spans)
    assert len(parts) == 2
    check_parts(spans, parts, MAX_MESSAGE)
    assert sum(p.html.count(f'<a href="{href}">[1]</a>') for p in parts) == 160


def test_a_part_holds_at_most_100_entities() -> None:
    href = "https://arxiv.org/abs/2502.01061"
    spans = [text("짧은 문장 "), link("[1]", href), text(" ")] * 250  # ~2,500 visible characters, 250 links
    parts = render_parts(spans)
    check_parts(spans, parts, MAX_MESSAGE)
    counts = [len(parse_telegram_html(p.html)[1]) for p in parts]
    assert counts == [100, 100, 50]  # Telegram would leave links past the 100th of a message unlinked
    assert entity_count(spans) == 250 and entity_count(within(Tag("blockquote"), spans)) == 251


def test_a_heading_is_never_sent_alone() -> None:
    rows: list[Span] = []
    for n in range(1, 31):  # like /top 30: a bold title, then rows of linked titles
        rows += [text(("\n" if rows else "") + f"{n}. "),
                 link(f"Paper title number {n} " + "x" * 90, f"https://arxiv.org/abs/2502.{n:05d}")]
    spans = join([bold("🏆 2025-02-05 추천 순위")], rows)
    for limit in (200, 1000, 3000):  # the title would fit alone, the rows would not fit beside it
        parts = render_parts(spans, limit)
        check_parts(spans, parts, limit)
        assert parts[0].text.startswith("🏆 2025-02-05 추천 순위\n\n1. Paper title number 1")
        assert all(not p.text.endswith("추천 순위") for p in parts)
    assert len(render_parts(spans)) == 1  # ~3,500 visible characters: one message


def test_a_heading_line_stays_with_its_text_under_any_limit() -> None:
    spans = join([text("intro " * 30)], [bold("What's New")], [text("body sentence. " * 40)])
    for limit in (60, 120, 250, 500):
        parts = render_parts(spans, limit)
        check_parts(spans, parts, limit)
        assert all(not p.text.endswith("What's New") for p in parts)


def test_outer_elements_nest_and_neighbours_share_them() -> None:
    quote = Tag("blockquote", expandable=True)
    rows = within(quote, [link("[1] A & B", "https://arxiv.org/abs/2502.00001"), text(" — 2025-02-05\n"),
                          link("[2] <C>", "https://arxiv.org/abs/2502.00002"), text(" — 2025-02-06")])
    html = to_html([bold("Sources"), text("\n"), *rows])
    assert html == ('<b>Sources</b>\n<blockquote expandable><a href="https://arxiv.org/abs/2502.00001">[1] A &amp; '
                    'B</a> — 2025-02-05\n<a href="https://arxiv.org/abs/2502.00002">[2] &lt;C&gt;</a> — 2025-02-06'
                    '</blockquote>')
    _plain, entities = parse_telegram_html(html)
    assert [e["type"] for e in entities] == ["bold", "expandable_blockquote", "text_link", "text_link"]
    parts = render_parts([bold("Sources"), text("\n"), *rows] * 30, 200)  # cut inside the quote: reopened
    assert len(parts) > 1 and all(p.html.count("<blockquote expandable>") == p.html.count("</blockquote>")
                                  for p in parts)


# --- Markdown --------------------------------------------------------------------------------------------
def test_markdown_becomes_telegram_formatting() -> None:
    md = ("## 핵심\n**KV 캐시**를 *압축*합니다 [1].\n\n- 첫째 `top-k` [2]\n- 둘째 ~~없음~~\n\n"
          "```python\nx = a[1] < b\n```\n")
    html = to_html(link_markers(from_markdown(md), lambda n: f"https://arxiv.org/abs/2502.0000{n}"))
    plain, entities = parse_telegram_html(html)
    assert "**" not in plain and "##" not in plain and "```" not in plain and "- 첫째" not in plain
    assert "핵심" in plain and "KV 캐시를 압축합니다 [1]." in plain and "x = a[1] < b" in plain
    kinds = [e["type"] for e in entities]
    assert {"bold", "italic", "code", "strikethrough", "pre", "text_link"} <= set(kinds)
    assert kinds.count("text_link") == 2  # [1] and [2] in the prose; the [1] inside the code block stays text
    pre = next(e for e in entities if e["type"] == "pre")
    assert pre.get("language") == "python"


def test_markdown_escapes_everything_else() -> None:
    md = "A <b>bold</b> claim & <script>x</script> &amp; 5 < 6 [see](https://evil.example/login) `<i>`"
    spans = from_markdown(md)
    html = to_html(spans)
    plain, entities = parse_telegram_html(html)
    assert plain == "A <b>bold</b> claim & <script>x</script> &amp; 5 < 6 see <i>"
    assert [e["type"] for e in entities] == ["code"]  # no link the model wrote, no tag it typed
    assert "evil" not in html


def test_markdown_of_any_shape_renders_and_splits_validly() -> None:
    rng = random.Random(7)
    pieces = ["**", "*", "_", "`", "```\n", "\n", "\n\n", "# ", "- ", "1. ", "> ", "<b>", "&", "[1]", "😀", "가나",
              "word ", "[x](y) ", "~~", "||"]
    for _ in range(40):
        md = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 300)))
        spans = from_markdown(md)
        limit = rng.choice([40, 100, MAX_MESSAGE])
        check_parts(spans, render_parts(spans, limit), limit)
