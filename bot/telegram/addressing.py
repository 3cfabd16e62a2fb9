"""Is a group message meant for the bot, and what is the question in it?

In a private chat every text is a question. In a group the bot answers only when it is mentioned
(``@username`` or a text mention), when the message replies to one of its own messages, or via /ask;
everything else is chatter between people and is ignored.
"""

from __future__ import annotations

from telegram import Message, MessageEntity


def addressed_text(message: Message, bot_id: int, username: str) -> str | None:
    """The question in a group message addressed to the bot (mentions removed), or None if not addressed.

    An empty string means "addressed, but no question" (a bare ``@bot``).
    """
    body = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or ()
    mentions = [e for e in entities if _is_self_mention(e, body, bot_id, username)]
    reply = message.reply_to_message
    replied = reply is not None and reply.from_user is not None and reply.from_user.id == bot_id
    if not mentions and not replied:
        return None
    return remove_entities(body, mentions).strip()


def _is_self_mention(entity: MessageEntity, body: str, bot_id: int, username: str) -> bool:
    if entity.type == MessageEntity.TEXT_MENTION:
        return entity.user is not None and entity.user.id == bot_id
    if entity.type == MessageEntity.MENTION:
        return entity_text(body, entity).lower() == f"@{username}".lower()
    return False


def entity_text(body: str, entity: MessageEntity) -> str:
    """An entity's text; Telegram offsets count UTF-16 code units, not Python characters."""
    units = body.encode("utf-16-le")
    return units[entity.offset * 2 : (entity.offset + entity.length) * 2].decode("utf-16-le")


def remove_entities(body: str, entities: list[MessageEntity]) -> str:
    """``body`` without the given entities' text (UTF-16 offsets), whitespace runs collapsed at the seams."""
    units = body.encode("utf-16-le")
    for entity in sorted(entities, key=lambda e: e.offset, reverse=True):
        units = units[: entity.offset * 2] + b" \x00" + units[(entity.offset + entity.length) * 2 :]
    text = units.decode("utf-16-le")
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def for_another_bot(message: Message, username: str) -> bool:
    """A command addressed to another bot (``/top@other_bot``): not ours, in any chat."""
    body = message.text or message.caption or ""
    if not body.startswith("/"):
        return False
    _, at, target = body.split(maxsplit=1)[0].partition("@")
    return bool(at) and target.lower() != username.lower()


def command_argument(message: Message) -> str:
    """Everything after the command word (``/ask@bot``), newlines kept; unlike ``context.args`` it is not
    split on whitespace."""
    body = message.text or message.caption or ""
    parts = body.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 and parts[0].startswith("/") else ""
