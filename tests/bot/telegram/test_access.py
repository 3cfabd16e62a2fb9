"""Allowlist, admins, the per-user token bucket, and how the id lists are read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.telegram.access import AccessPolicy, QuestionLimiter, TokenBucket
from config.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_empty_allowlist_allows_everyone() -> None:
    policy = AccessPolicy.of()
    assert policy.allows(1, 2) and policy.allows(-100, None) and not policy.is_admin(1)


def test_allowlist_by_chat_or_user_and_admins_always() -> None:
    policy = AccessPolicy.of(allowed=[-500, 7], admins=[9])
    assert policy.allows(-500, 123)  # an allowed group: everyone in it
    assert policy.allows(-999, 7)  # an allowed user, anywhere
    assert policy.allows(9, 9) and policy.allows(-999, 9)  # admins
    assert not policy.allows(-999, 123) and not policy.allows(123, 123) and not policy.allows(None, None)
    assert policy.is_admin(9) and not policy.is_admin(None) and not policy.is_admin(7)


def test_token_bucket_burst_then_refill() -> None:
    bucket = TokenBucket(capacity=2, rate=0.5, now=0.0)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(2.0)  # one token takes 2 s at 0.5/s
    assert bucket.take(1.0) == pytest.approx(1.0)  # half refilled; nothing spent by refusals
    assert bucket.take(2.0) == 0.0
    assert bucket.full(100.0) and bucket.tokens == 2  # never above capacity


def test_question_limiter_is_per_user() -> None:
    clock = Clock()
    limiter = QuestionLimiter(burst=2, per_minute=6, clock=clock)  # one token every 10 s
    assert [limiter.acquire(1) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire(1) == pytest.approx(10.0)
    assert limiter.acquire(2) == 0.0  # another user is unaffected
    clock.now += 10
    assert limiter.acquire(1) == 0.0 and limiter.acquire(1) > 0


def test_question_limiter_forgets_full_buckets_first() -> None:
    clock = Clock()
    limiter = QuestionLimiter(burst=1, per_minute=60, clock=clock, max_users=3)
    for user in range(3):
        limiter.acquire(user)
    clock.now += 5  # all three refilled
    limiter.acquire(99)
    limiter.acquire(100)
    assert len(limiter) <= 3 and limiter.acquire(100) > 0  # the user who just asked is remembered


def test_question_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        QuestionLimiter(burst=0, per_minute=1)


@pytest.mark.parametrize(("raw", "expected"), [
    ("[1, -1002, 3]", [1, -1002, 3]),
    ("1,-1002, 3", [1, -1002, 3]),
    ("1 2", [1, 2]),
    ("42", [42]),
    ("", []),
])
def test_id_lists_from_environment(raw: str, expected: list[int], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERSBOT_TELEGRAM_ALLOWED_CHAT_IDS", raw)
    monkeypatch.setenv("PAPERSBOT_TELEGRAM_ADMIN_IDS", raw)
    settings = load_settings(data_dir=tmp_path)
    assert settings.telegram.allowed_chat_ids == expected == settings.telegram.admin_ids
    assert AccessPolicy.from_settings(settings.telegram).admins == frozenset(expected)


def test_bad_id_list_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERSBOT_TELEGRAM_ADMIN_IDS", "alice,bob")
    with pytest.raises(ValidationError, match=r"telegram\.admin_ids"):
        load_settings(data_dir=tmp_path)


def test_telegram_defaults(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.telegram.allowed_chat_ids == [] and settings.telegram.admin_ids == []
    assert settings.telegram.webhook_url is None and settings.telegram.webhook_secret is None
    assert settings.telegram.max_question_chars == 2000 and settings.telegram.max_retries >= 1
    for name, field in type(settings.telegram).model_fields.items():
        assert field.description, name
