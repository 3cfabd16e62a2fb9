"""/subscribe, /unsubscribe and /subscription: each chat's daily push settings.

``/subscribe [HH:MM] [Area/City] [topic, topic…]``: parts given replace the chat's current ones, parts
left out keep them (or take the defaults from settings); ``/subscribe -`` clears the topics.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import views
from bot.telegram.addressing import command_argument
from bot.telegram.render import Span, bold, join, text
from bot.telegram.replies import reply
from bot.telegram.texts import lang_of, t
from config.settings import PushSettings
from rag.briefing import parse_topics
from rag.storage.subscriptions import Subscription, SubscriptionStore, next_slot, parse_time, utc_now

Context = ContextTypes.DEFAULT_TYPE
_TIMEISH = re.compile(r"^\d{1,2}[:.]\d{1,2}$")
_ZONEISH = re.compile(r"^(?:UTC|GMT|[A-Z][A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+)$")
_OFFSET = re.compile(r"^(?:UTC|GMT)([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)  # UTC+9, GMT-05:00, utc+0930
_AREAS = {"africa", "america", "antarctica", "arctic", "asia", "atlantic", "australia", "brazil", "canada",
          "chile", "etc", "europe", "indian", "mexico", "pacific", "us"}
CLEAR = {"-", "none", "없음"}


@functools.cache
def _zones() -> dict[str, str]:
    """Every IANA zone name by its lower-case spelling (``europe/berlin`` → ``Europe/Berlin``)."""
    return {name.lower(): name for name in available_timezones()}


def parse_zone(word: str) -> str | SubscribeError | None:
    """The IANA zone ``word`` names, matched case-insensitively; ``UTC+9``/``GMT-5`` become the fixed-offset
    zones ``Etc/GMT-9``/``Etc/GMT+5`` (POSIX signs are inverted); an error for something zone-shaped that is
    not one (or an offset with minutes: no IANA zone has one without a city); None when it is no zone at
    all (then it starts the topics)."""
    if word.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    offset = _OFFSET.match(word)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        if minutes and int(minutes):
            return SubscribeError("subscribe_bad_offset", word)
        if int(hours) == 0:
            return "UTC"
        zone = f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"
        return zone if zone.lower() in _zones() else SubscribeError("subscribe_bad_zone", word)
    # Area/City names only: single-word legacy names ("Japan", "Turkey", "CET") read as topics, as before.
    if "/" in word and (found := _zones().get(word.lower())) is not None:
        return found
    if _ZONEISH.match(word) or ("/" in word and word.split("/", 1)[0].lower() in _AREAS):
        return SubscribeError("subscribe_bad_zone", word)
    return None


def zone_label(zone: str) -> str:
    """How a zone is shown: ``Etc/GMT-9`` (POSIX sign) as ``UTC+9``; named zones as they are."""
    match = re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", zone)
    if match is None:
        return zone
    return f"UTC{'-' if match.group(1) == '+' else '+'}{int(match.group(2))}"


@dataclass(frozen=True)
class SubscribeRequest:
    push_time: str | None = None
    zone: str | None = None
    topics: list[str] | None = None  # None: keep; []: clear
    dropped_topics: int = 0


@dataclass(frozen=True)
class SubscribeError:
    key: str  # a texts.py message key
    value: str = ""


def parse_subscribe(argument: str, max_topics: int) -> SubscribeRequest | SubscribeError:
    """``"08:30 Europe/Berlin diffusion, RL"`` → its parts; time and zone are recognised by shape in the
    first two words, everything after them is the topic list."""
    words = argument.split()
    push_time = zone = None
    while words and (push_time is None or zone is None):
        word = words[0]
        if push_time is None and _TIMEISH.match(word):
            parsed = parse_time(word.replace(".", ":"))
            if parsed is None:
                return SubscribeError("subscribe_bad_time", word)
            push_time = parsed.strftime("%H:%M")
        elif zone is None and (found := parse_zone(word)) is not None:
            if isinstance(found, SubscribeError):
                return found
            try:
                ZoneInfo(found)
            except (ZoneInfoNotFoundError, ValueError):
                return SubscribeError("subscribe_bad_zone", word)
            zone = found
        else:
            break
        words.pop(0)
    rest = " ".join(words).strip()
    if not rest:
        return SubscribeRequest(push_time, zone, None)
    if rest.lower() in CLEAR:
        return SubscribeRequest(push_time, zone, [])
    wanted = parse_topics(rest, limit=100)
    return SubscribeRequest(push_time, zone, wanted[:max_topics], max(0, len(wanted) - max_topics))


class SubscriptionHandlers:
    def __init__(self, push: PushSettings, store: SubscriptionStore) -> None:
        self.push = push  # defaults of new subscriptions and the topic limit
        self.store = store

    async def subscribe(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        lang = lang_of(update.effective_user)
        parsed = parse_subscribe(command_argument(message), self.push.max_topics)
        if isinstance(parsed, SubscribeError):
            await reply(message, join([text(t(parsed.key, lang, value=parsed.value))],
                                      [text(t("subscribe_usage", lang))]))
            return
        chat_id = message.chat.id
        current = self.store.get(chat_id)
        push_time = parsed.push_time or (current.push_time if current else self.push.time)
        zone = parsed.zone or (current.timezone if current else self.push.timezone)
        topics = parsed.topics if parsed.topics is not None else list(current.topics if current else ())
        sub = self.store.subscribe(chat_id, push_time, zone, topics, lang)
        head, *rest = self._describe(sub, lang)
        lines: list[list[Span]] = [[bold(head)], *([text(row)] for row in rest)]
        if parsed.dropped_topics:
            lines.append([text(t("subscribe_too_many_topics", lang, limit=self.push.max_topics))])
        await reply(message, join(*lines))

    async def unsubscribe(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        lang = lang_of(update.effective_user)
        done = self.store.unsubscribe(message.chat.id)
        await reply(message, views.plain(t("unsubscribe_done" if done else "subscription_none", lang)))

    async def subscription(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        lang = lang_of(update.effective_user)
        sub = self.store.get(message.chat.id)
        if sub is None or not sub.active:
            await reply(message, views.plain(t("subscription_none", lang)))
            return
        rows = self._describe(sub, lang)
        if sub.last_digest:
            rows.append(t("subscription_last", lang, date=sub.last_digest))
        await reply(message, views.plain("\n".join(rows)))

    def _describe(self, sub: Subscription, lang: str) -> list[str]:
        """Time and zone, topics, next push: what /subscribe confirms and /subscription shows."""
        topics = (t("subscription_topics", lang, topics=", ".join(sub.topics)) if sub.topics
                  else t("subscription_no_topics", lang))
        return [t("subscribe_done", lang, time=sub.push_time, zone=zone_label(sub.timezone),
                  count=self.push.top_n),
                topics, t("subscribe_next", lang, when=_next(sub.push_time, sub.timezone))]


def _next(push_time: str, zone: str) -> str:
    return next_slot(push_time, zone, utc_now()).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
