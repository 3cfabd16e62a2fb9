"""The bot's own words, in Korean and English (plain text: rendering escapes them).

Answers follow the question's language (the engine decides); everything else follows the user's Telegram
language: Korean for ``ko``, English otherwise.
"""

from __future__ import annotations

from telegram import User

MESSAGES: dict[str, dict[str, str]] = {
    "greeting": {
        "ko": "안녕하세요! Hugging Face Daily Papers 다이제스트에 대해 물어보세요. 답변에는 근거 논문 링크가 붙습니다.",
        "en": "Hi! Ask me about the Hugging Face Daily Papers digests. Every answer links the papers it is "
        "based on.",
    },
    "help_private": {
        "ko": "그냥 질문을 보내면 됩니다. 예: “OmniHuman-1은 뭐야?”",
        "en": "Just send a question, e.g. “What is OmniHuman-1?”",
    },
    "help_group": {
        "ko": "그룹에서는 @{username} 으로 멘션하거나 제 메시지에 답장하거나 /ask 를 쓰세요.",
        "en": "In groups, mention @{username}, reply to one of my messages, or use /ask.",
    },
    "help_commands": {
        "ko": "/ask 질문 — 질문하기\n/top [날짜|today|yesterday] [개수] — 그날 추천을 많이 받은 논문\n"
        "/paper arXiv-ID — 논문 요약\n/search 단어 — 논문 찾기 (LLM 없이)\n/reset — 대화 맥락 지우기\n/help — 도움말",
        "en": "/ask question — ask a question\n/top [date|today|yesterday] [n] — most-voted papers of a digest\n"
        "/paper arXiv-id — a paper's summary\n/search words — find papers (no LLM)\n"
        "/reset — forget this conversation\n/help — this help",
    },
    "help_admin": {
        "ko": "관리자: /stats — 색인 현황. 다이제스트 파일(.md/.txt)을 보내면 색인에 추가합니다.",
        "en": "Admin: /stats — index statistics. Send a digest file (.md/.txt) to add it to the index.",
    },
    "refused": {
        "ko": "죄송합니다. 이 봇은 허용된 대화에서만 사용할 수 있습니다.",
        "en": "Sorry, this bot is only available in approved chats.",
    },
    "rate_limited": {
        "ko": "질문이 조금 빠릅니다. {seconds}초 뒤에 다시 물어봐 주세요.",
        "en": "You're asking a little fast. Please try again in {seconds} s.",
    },
    "ask_usage": {
        "ko": "질문을 함께 보내 주세요. 예: /ask 3D 가우시안 스플래팅 논문 알려줘",
        "en": "Please add a question, e.g. /ask which paper does image-to-3D with Gaussian splatting?",
    },
    "question_clipped": {
        "ko": "질문이 길어서 앞부분 {limit:,}자만 사용했습니다.",
        "en": "Your question was long, so I used its first {limit:,} characters.",
    },
    "top_usage": {
        "ko": "사용법: /top [YYYY-MM-DD|today|yesterday] [개수]",
        "en": "Usage: /top [YYYY-MM-DD|today|yesterday] [count]",
    },
    "top_head": {
        "ko": "{date} 다이제스트 추천 순위",
        "en": "Most-voted papers of the {date} digest",
    },
    "no_digest": {
        "ko": "{date} 다이제스트는 없습니다. 있는 날짜: {dates}",
        "en": "There is no digest for {date}. Digest dates: {dates}",
    },
    "empty_library": {
        "ko": "아직 색인된 다이제스트가 없습니다.",
        "en": "No digests have been loaded yet.",
    },
    "paper_usage": {
        "ko": "arXiv ID나 링크를 함께 보내 주세요. 예: /paper 2502.01061",
        "en": "Please add an arXiv id or link, e.g. /paper 2502.01061",
    },
    "paper_bad_id": {
        "ko": "“{value}”은(는) arXiv ID로 보이지 않습니다. 예: 2502.01061 또는 https://arxiv.org/abs/2502.01061",
        "en": "“{value}” doesn't look like an arXiv id. Try e.g. 2502.01061 or https://arxiv.org/abs/2502.01061",
    },
    "paper_unknown": {
        "ko": "{arxiv_id} 논문은 다이제스트에 없습니다.",
        "en": "Paper {arxiv_id} is not in the digests.",
    },
    "votes": {"ko": "추천 {votes}", "en": "{votes} votes"},
    "authors": {"ko": "저자", "en": "Authors"},
    "also_in": {"ko": "다른 다이제스트", "en": "also in"},
    "sources": {"ko": "출처", "en": "Sources"},
    "search_usage": {
        "ko": "찾을 단어를 함께 보내 주세요. 예: /search 비디오 생성",
        "en": "Please add some words, e.g. /search video generation",
    },
    "search_head": {"ko": "“{query}” 관련 논문", "en": "Papers matching “{query}”"},
    "search_weak": {
        "ko": "딱 맞는 논문은 없어서 가장 가까운 논문들입니다.",
        "en": "Nothing matches closely; these are the nearest papers.",
    },
    "search_none": {
        "ko": "“{query}”에 맞는 논문을 찾지 못했습니다.",
        "en": "No papers match “{query}”.",
    },
    "reset_done": {
        "ko": "대화 맥락을 지웠습니다. 새 질문을 보내 주세요.",
        "en": "Done: I've forgotten this conversation. Ask away.",
    },
    "admin_only": {
        "ko": "관리자만 사용할 수 있는 기능입니다.",
        "en": "Sorry, only admins can do that.",
    },
    "upload_type": {
        "ko": "다이제스트는 .md 또는 .txt 파일로 보내 주세요.",
        "en": "Please send digests as .md or .txt files.",
    },
    "upload_too_big": {
        "ko": "파일이 너무 큽니다 ({size_mb:.1f} MB, 최대 {max_mb:g} MB).",
        "en": "That file is too large ({size_mb:.1f} MB; the limit is {max_mb:g} MB).",
    },
    "upload_problems": {"ko": "문제", "en": "Problems"},
    "upload_more_problems": {"ko": "… 외 {count}건", "en": "… and {count} more"},
    "error_generic": {
        "ko": "죄송합니다, 처리 중에 문제가 생겼습니다. 잠시 뒤 다시 시도해 주세요.",
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
    },
    "error_network": {
        "ko": "Telegram 연결이 잠시 불안정했습니다. 다시 시도해 주세요.",
        "en": "The connection to Telegram hiccupped. Please try again.",
    },
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (``ko`` or ``en``), formatted with ``values``."""
    template = MESSAGES[key].get(lang) or MESSAGES[key]["en"]
    return template.format(**values) if values else template


def lang_of(user: User | None) -> str:
    """The user's interface language: Korean for a Korean Telegram client, otherwise English."""
    code = (user.language_code or "") if user is not None else ""
    return "ko" if code.lower().startswith("ko") else "en"
