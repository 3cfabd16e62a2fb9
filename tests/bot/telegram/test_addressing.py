"""Group addressing (mentions with UTF-16 offsets, replies) and command arguments, on real PTB objects."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Message

from bot.telegram.addressing import addressed_text, command_argument, remove_entities
from tests.fakes.tg_html import auto_entities

BOT_ID, USERNAME = 123456789, "papersbot_test_bot"


def group_message(text: str, **extra: Any) -> Message:
    data: dict[str, Any] = {
        "message_id": 5, "date": 0, "chat": {"id": -500, "type": "group", "title": "G"},
        "from": {"id": 4242, "is_bot": False, "first_name": "U"}, "text": text,
        "entities": auto_entities(text), **extra,
    }
    return Message.de_json(data, Bot("1:x"))


def test_chatter_is_not_addressed() -> None:
    assert addressed_text(group_message("anyone read the OmniHuman paper?"), BOT_ID, USERNAME) is None
    assert addressed_text(group_message("ask @someone_else about it"), BOT_ID, USERNAME) is None


def test_mention_is_removed_from_the_question() -> None:
    message = group_message(f"@{USERNAME} OmniHuman-1은 뭐야?")
    assert addressed_text(message, BOT_ID, USERNAME) == "OmniHuman-1은 뭐야?"
    assert addressed_text(group_message(f"hey @{USERNAME.upper()}, what is DPO?"), BOT_ID, USERNAME) \
        == "hey , what is DPO?"


def test_mention_after_astral_characters_uses_utf16_offsets() -> None:
    message = group_message(f"😀😀 가우시안 @{USERNAME} 논문?")
    assert addressed_text(message, BOT_ID, USERNAME) == "😀😀 가우시안 논문?"


def test_text_mention_and_reply_to_the_bot() -> None:
    text = "PapersBot what is new?"
    message = group_message(text, entities=[{"type": "text_mention", "offset": 0, "length": 9,
                                             "user": {"id": BOT_ID, "is_bot": True, "first_name": "P"}}])
    assert addressed_text(message, BOT_ID, USERNAME) == "what is new?"
    reply = group_message("and the second one?", reply_to_message={
        "message_id": 4, "date": 0, "chat": {"id": -500, "type": "group"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "P"}, "text": "answer"})
    assert addressed_text(reply, BOT_ID, USERNAME) == "and the second one?"
    other = group_message("agreed", reply_to_message={
        "message_id": 4, "date": 0, "chat": {"id": -500, "type": "group"},
        "from": {"id": 77, "is_bot": False, "first_name": "X"}, "text": "hi"})
    assert addressed_text(other, BOT_ID, USERNAME) is None


def test_bare_mention_is_addressed_but_empty() -> None:
    assert addressed_text(group_message(f"@{USERNAME}"), BOT_ID, USERNAME) == ""


def test_remove_entities_keeps_lines() -> None:
    message = group_message(f"@{USERNAME} line one\nline  two")
    assert remove_entities(message.text or "", list(message.entities)) == "line one\nline two"


def test_command_argument_keeps_newlines_and_handles_bot_suffix() -> None:
    assert command_argument(group_message("/ask@papersbot_test_bot  first line\nsecond")) == "first line\nsecond"
    assert command_argument(group_message("/ask")) == ""
    assert command_argument(group_message("not a command")) == ""
