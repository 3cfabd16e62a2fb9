"""``papersbot top``'s plain-text briefing, word for word in both languages (own-words sample papers)."""

from __future__ import annotations

from bot.briefing_text import render_text
from rag.briefing import Briefing, BriefItem

ONE = BriefItem(1, "2502.00001", "Sample Paper One", 12, "A first sample gist.")
TWO = BriefItem(2, "2502.00002", "Sample Paper Two", None, "A second sample gist.", ("RL",))
SEVEN = BriefItem(7, "2502.00007", "Sample Paper Seven", 1, "A seventh sample gist.", ("RL", "3D"))
BRIEFING = Briefing("2025-02-05", 40, [ONE, TWO], [SEVEN], ("RL", "3D"))


def test_english_briefing() -> None:
    assert render_text(BRIEFING, "en") == (
        "Hugging Face Daily Papers 2025-02-05 — top 2 of 40 by votes\n\n"
        "1. Sample Paper One (12 votes)\n   A first sample gist.\n   https://arxiv.org/abs/2502.00001\n\n"
        "2. Sample Paper Two (votes unknown) [RL]\n   A second sample gist.\n   https://arxiv.org/abs/2502.00002\n\n"
        "Your topics: RL, 3D\n\n"
        "7. Sample Paper Seven (1 votes) [RL, 3D]\n   A seventh sample gist.\n   https://arxiv.org/abs/2502.00007\n")


def test_korean_briefing_without_topic_matches() -> None:
    briefing = Briefing("2025-02-05", 40, [ONE, TWO], [], ("RL",))
    assert render_text(briefing, "ko") == (
        "Hugging Face Daily Papers 2025-02-05 — 추천 상위 2편 (전체 40편)\n\n"
        "1. Sample Paper One (추천 12)\n   A first sample gist.\n   https://arxiv.org/abs/2502.00001\n\n"
        "2. Sample Paper Two (추천 수 미상) [RL]\n   A second sample gist.\n   https://arxiv.org/abs/2502.00002\n")


def test_other_languages_get_english() -> None:
    assert render_text(BRIEFING, "de") == render_text(BRIEFING)
