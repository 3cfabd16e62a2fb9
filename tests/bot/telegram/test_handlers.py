"""The small parsing helpers behind the handlers (the handlers themselves are driven end to end)."""

from __future__ import annotations

import pytest

from bot.telegram.handlers import clip_question, parse_top_args, resolve_digest_date, safe_file_name

DATES = ["2025-02-05", "2025-02-04", "2024-11-22"]


def test_clip_question() -> None:
    assert clip_question("  short  ", 100) == ("short", False)
    text = ("word " * 1000).strip()
    clipped, cut = clip_question(text, 2000)
    assert cut and len(clipped) <= 2000 and clipped.endswith("word")
    assert clip_question("x" * 3000, 2000) == ("x" * 2000, True)


@pytest.mark.parametrize(("args", "expected"), [
    ([], (None, 5)),
    (["2025-02-05"], ("2025-02-05", 5)),
    (["2025.2.5", "3"], ("2025-02-05", 3)),
    (["3", "yesterday"], ("yesterday", 3)),
    (["오늘"], ("today", 5)),
    (["today", "500"], ("today", 30)),
    (["20250205"], ("2025-02-05", 5)),
    (["2025-02-30"], None),
    (["banana"], None),
])
def test_parse_top_args(args: list[str], expected: tuple[str | None, int] | None) -> None:
    assert parse_top_args(args, 5) == expected


def test_resolve_digest_date() -> None:
    assert resolve_digest_date(None, DATES) == "2025-02-05"
    assert resolve_digest_date("today", DATES) == "2025-02-05"
    assert resolve_digest_date("yesterday", DATES) == "2025-02-04"
    assert resolve_digest_date("2024-11-22", DATES) == "2024-11-22"
    assert resolve_digest_date("today", []) is None


def test_safe_file_name() -> None:
    assert safe_file_name("../../etc/passwd.md") == "passwd.md"
    assert safe_file_name("C:\\temp\\2025-02-05 digest [1].md") == "2025-02-05_digest_1_.md"
    assert safe_file_name("다이제스트.md") == "다이제스트.md"
    assert safe_file_name("....md") == "md"
    assert safe_file_name("x" * 300 + ".txt") == "x" * 90 + ".txt"
