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
        "ko": "그냥 질문을 보내면 됩니다. 예: “OmniHuman-1은 뭐야?” 추천 목록이나 답변에 답장하면 그 논문들에 대해 "
              "답합니다. 예: “두 번째 논문 자세히”",
        "en": "Just send a question, e.g. “What is OmniHuman-1?” Reply to a list or an answer to ask about its "
              "papers, e.g. “the second one in detail”.",
    },
    "help_group": {
        "ko": "그룹에서는 @{username} 으로 멘션하거나 제 메시지에 답장하거나 /ask 를 쓰세요.",
        "en": "In groups, mention @{username}, reply to one of my messages, or use /ask.",
    },
    "help_commands": {
        "ko": "/ask 질문 — 질문하기\n/top [날짜|today|yesterday] [개수] — 그날 추천을 많이 받은 논문\n"
        "/paper arXiv-ID — 논문 요약\n/search 단어 — 논문 찾기 (LLM 없이)\n"
        "/rising [일수] — 추천이 빠르게 느는 논문\n/reset — 대화 맥락 지우기\n"
        "/subscribe [HH:MM] [주제…] — 매일 추천 논문 받기\n/subscription — 구독 설정\n/unsubscribe — 구독 해지\n"
        "/help — 도움말",
        "en": "/ask question — ask a question\n/top [date|today|yesterday] [n] — most-voted papers of a digest\n"
        "/paper arXiv-id — a paper's summary\n/search words — find papers (no LLM)\n"
        "/rising [days] — papers gaining votes fastest\n"
        "/reset — forget this conversation\n"
        "/subscribe [HH:MM] [topics…] — the top papers every day\n/subscription — your push settings\n"
        "/unsubscribe — stop the push\n/help — this help",
    },
    "help_admin": {
        "ko": "관리자: /stats — 색인 현황. /sync — 원본에서 새 다이제스트 가져오기. 다이제스트 파일(.md/.txt)을 보내면 "
              "색인에 추가합니다.",
        "en": "Admin: /stats — index statistics. /sync — fetch new digests from the source now. Send a digest file "
              "(.md/.txt) to add it to the index.",
    },
    "refused": {
        "ko": "죄송합니다. 이 봇은 허용된 대화에서만 사용할 수 있습니다.",
        "en": "Sorry, this bot is only available in approved chats.",
    },
    "rate_limited": {
        "ko": "질문이 조금 빠릅니다. {seconds}초 뒤에 다시 물어봐 주세요.",
        "en": "You're asking a little fast. Please try again in {seconds} s.",
    },
    "media_hint": {
        "ko": "글로 된 질문만 읽을 수 있어요. 궁금한 논문이나 주제를 메시지로 보내 주세요.",
        "en": "I can only read text. Send your question about the papers as a message.",
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
    "votes_unknown": {"ko": "추천 수 미상", "en": "votes unknown"},
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
    "sync_off": {
        "ko": "원본 동기화가 꺼져 있습니다 (sync_interval_minutes = 0).",
        "en": "Syncing from the source is turned off (sync_interval_minutes = 0).",
    },
    "sync_started": {
        "ko": "원본 저장소에서 새 다이제스트를 가져오는 중입니다…",
        "en": "Fetching new digests from the source…",
    },
    "sync_failed": {
        "ko": "동기화에 실패했습니다. 자세한 내용은 로그와 /healthz에 있습니다.",
        "en": "The sync failed; details are in the logs and /healthz.",
    },
    "sync_done": {
        "ko": "동기화 완료: {fetched}일 가져옴, 논문 {added}편 추가 · {updated}편 갱신 (최신 {newest}).",
        "en": "Sync done: {fetched} day(s) fetched, {added} paper(s) added, {updated} updated (newest {newest}).",
    },
    "sync_partly": {
        "ko": "동기화 일부 실패: {fetched}일 가져옴, {failed}일 실패 (다음 동기화에서 다시 시도합니다). "
              "논문 {added}편 추가.",
        "en": "Sync partly failed: {fetched} day(s) fetched, {failed} failed (retried next sync); "
              "{added} paper(s) added.",
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
    "upload_too_big_unknown": {
        "ko": "파일이 너무 큽니다 (최대 {max_mb:g} MB).",
        "en": "That file is too large (the limit is {max_mb:g} MB).",
    },
    "upload_problems": {"ko": "문제", "en": "Problems"},
    "upload_more_problems": {"ko": "… 외 {count}건", "en": "… and {count} more"},
    "error_generic": {
        "ko": "죄송합니다, 처리 중에 문제가 생겼습니다. 잠시 뒤 다시 시도해 주세요.",
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
    },
    "stopping": {
        "ko": "봇이 다시 시작하는 중이라 이 답변을 마치지 못했습니다. 잠시 뒤 다시 물어봐 주세요.",
        "en": "I'm restarting and couldn't finish this answer. Please ask again in a minute.",
    },
    "error_network": {
        "ko": "Telegram 연결이 잠시 불안정했습니다. 다시 시도해 주세요.",
        "en": "The connection to Telegram hiccupped. Please try again.",
    },
    "push_head": {
        "ko": "📚 Daily Papers {date} — 추천 상위 {shown}편 (전체 {total}편)",
        "en": "📚 Daily Papers {date} — top {shown} of {total} by votes",
    },
    "push_topics": {"ko": "🔎 관심 주제: {topics}", "en": "🔎 Your topics: {topics}"},
    "push_footer": {
        "ko": "/paper ID 로 요약 보기 · /subscription 설정 · /unsubscribe 구독 해지",
        "en": "/paper ID for a summary · /subscription settings · /unsubscribe to stop",
    },
    "subscribe_usage": {
        "ko": "사용법: /subscribe [HH:MM] [시간대] [주제, 주제…]\n예: /subscribe 08:30 Asia/Seoul diffusion, RL",
        "en": "Usage: /subscribe [HH:MM] [time zone] [topic, topic…]\n"
        "e.g. /subscribe 08:30 Europe/Berlin diffusion, RL",
    },
    "subscribe_bad_time": {
        "ko": "“{value}” 은(는) 시각으로 읽을 수 없습니다. 24시간제 HH:MM 으로 적어 주세요 (예: 08:30).",
        "en": "I can't read “{value}” as a time. Use 24-hour HH:MM, e.g. 08:30.",
    },
    "subscribe_bad_zone": {
        "ko": "“{value}” 은(는) 알 수 없는 시간대입니다. 예: Asia/Seoul, Europe/Berlin, UTC, UTC+9",
        "en": "“{value}” is not a time zone I know. Examples: Asia/Seoul, Europe/Berlin, UTC, UTC+9",
    },
    "subscribe_bad_offset": {
        "ko": "“{value}”: 정시가 아닌 시차는 도시 이름의 시간대로 적어 주세요. 예: Asia/Kolkata, Australia/Adelaide",
        "en": "“{value}”: for an offset that is not a whole hour, name the zone by its city, e.g. Asia/Kolkata, "
        "Australia/Adelaide",
    },
    "subscribe_too_many_topics": {
        "ko": "주제는 {limit}개까지 가능합니다. 앞의 {limit}개만 저장했습니다.",
        "en": "You can follow up to {limit} topics; I kept the first {limit}.",
    },
    "subscribe_done": {
        "ko": "구독했습니다. 매일 {time} ({zone}) 에 새 다이제스트의 추천 상위 논문을 최대 {count}편 보내 드립니다.",
        "en": "Subscribed. Every day at {time} ({zone}) you get the new digest's most-voted papers (up to {count}).",
    },
    "subscribe_next": {
        "ko": "다음 발송: {when} (새 다이제스트가 있을 때만 보냅니다)",
        "en": "Next push: {when} (sent only when a new digest has arrived)",
    },
    "subscription_topics": {"ko": "관심 주제: {topics}", "en": "Topics: {topics}"},
    "subscription_no_topics": {"ko": "관심 주제: 없음", "en": "Topics: none"},
    "subscription_last": {"ko": "마지막으로 보낸 다이제스트: {date}", "en": "Last digest sent: {date}"},
    "subscription_none": {
        "ko": "구독하고 있지 않습니다. /subscribe 로 매일 아침 추천 논문을 받아 보세요.",
        "en": "You are not subscribed. Use /subscribe to get the top papers every morning.",
    },
    "unsubscribe_done": {
        "ko": "구독을 해지했습니다. 언제든 /subscribe 로 다시 받을 수 있습니다.",
        "en": "Unsubscribed. /subscribe brings it back any time.",
    },
    # --- buttons, replies, inline mode, rising papers (issue 12) ----------------------------------------------
    "btn_summary": {"ko": "요약", "en": "Summary"},
    "btn_similar": {"ko": "비슷한 논문", "en": "Similar"},
    "btn_mute": {"ko": "🔕 “{topic}” 그만 받기", "en": "🔕 Mute “{topic}”"},
    "button_stale": {
        "ko": "오래된 버튼이라 더 이상 쓸 수 없습니다. /top 으로 새 목록을 받아 보세요.",
        "en": "This button has expired. /top gives you a fresh list.",
    },
    "button_paper_gone": {
        "ko": "이 논문은 더 이상 색인에 없습니다.",
        "en": "This paper is no longer in the index.",
    },
    "button_refused": {
        "ko": "이 봇은 허용된 대화에서만 사용할 수 있습니다.",
        "en": "This bot is only available in approved chats.",
    },
    "similar_head": {"ko": "“{title}”와(과) 비슷한 논문", "en": "Papers like “{title}”"},
    "similar_none": {
        "ko": "비슷한 논문을 찾지 못했습니다.",
        "en": "I found no similar papers.",
    },
    "mute_done": {
        "ko": "“{topic}” 주제를 이 대화의 구독에서 뺐습니다.",
        "en": "Muted “{topic}”: it is no longer one of this chat's topics.",
    },
    "mute_already": {
        "ko": "“{topic}” 주제는 이미 이 대화의 구독에 없습니다.",
        "en": "“{topic}” is not one of this chat's topics any more.",
    },
    "rising_usage": {
        "ko": "사용법: /rising [일수] (1–{max}일, 기본 {default}일)",
        "en": "Usage: /rising [days] (1–{max}, default {default})",
    },
    "rising_head": {
        "ko": "📈 최근 {days}일 동안 추천이 가장 많이 늘어난 논문",
        "en": "📈 Papers whose votes grew most in the last {days} day(s)",
    },
    "rising_none": {
        "ko": "최근 {days}일 동안 추천 수가 늘어난 논문이 없습니다 (추천 수는 동기화 때 기록됩니다).",
        "en": "No paper gained votes in the last {days} day(s) (votes are recorded when the bot syncs).",
    },
    "rising_gain": {"ko": "+{gained} (현재 {votes})", "en": "+{gained} (now {votes})"},
    "push_rising": {"ko": "📈 급상승", "en": "📈 Rising"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (``ko`` or ``en``), formatted with ``values``."""
    template = MESSAGES[key].get(lang) or MESSAGES[key]["en"]
    return template.format(**values) if values else template


def votes_text(votes: int | None, lang: str) -> str:
    """"12 votes" / "추천 12", or "votes unknown" when the digest gave no count."""
    return t("votes_unknown", lang) if votes is None else t("votes", lang, votes=votes)


def lang_of(user: User | None) -> str:
    """The user's interface language: Korean for a Korean Telegram client, otherwise English."""
    code = (user.language_code or "") if user is not None else ""
    return "ko" if code.lower().startswith("ko") else "en"
