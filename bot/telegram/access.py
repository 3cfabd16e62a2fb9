"""Who may use the bot (allowlist, admins) and how often one user may ask (a token bucket per user).

Everything here is touched only from the event loop, so it needs no locks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from config.settings import TelegramSettings

Clock = Callable[[], float]


@dataclass(frozen=True)
class AccessPolicy:
    """``allowed`` holds chat and user ids; empty means everyone. Admins are always allowed."""

    allowed: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()

    @classmethod
    def from_settings(cls, settings: TelegramSettings) -> AccessPolicy:
        return cls(frozenset(settings.allowed_chat_ids), frozenset(settings.admin_ids))

    @classmethod
    def of(cls, allowed: Iterable[int] = (), admins: Iterable[int] = ()) -> AccessPolicy:
        return cls(frozenset(allowed), frozenset(admins))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def allows(self, chat_id: int | None, user_id: int | None) -> bool:
        if not self.allowed or self.is_admin(user_id):
            return True
        return (chat_id is not None and chat_id in self.allowed) or (user_id is not None and user_id in self.allowed)


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` tokens per second; one question costs one."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = now
        self.noted_until = float("-inf")  # the "too fast" note covers refusals until then

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def take(self, now: float) -> float:
        """Spend a token and return 0.0, or return the seconds until one is available (spending nothing)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class QuestionLimiter:
    """One token bucket per user. At most ``max_users`` buckets are kept; full ones are forgotten first,
    since forgetting a full bucket changes nothing."""

    def __init__(self, burst: int, per_minute: float, *, clock: Clock = time.monotonic,
                 max_users: int = 10_000) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("burst must be >= 1 and per_minute > 0")
        self.burst = burst
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_users = max_users
        self._buckets: OrderedDict[int, TokenBucket] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: TelegramSettings, clock: Clock = time.monotonic) -> QuestionLimiter:
        return cls(settings.questions_burst, settings.questions_per_minute, clock=clock)

    def acquire(self, user_id: int) -> float:
        """0.0 when the user may ask now (a token is spent), else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.pop(user_id, None) or TokenBucket(self.burst, self.rate, now)
        self._buckets[user_id] = bucket  # most recently used last
        wait = bucket.take(now)
        if len(self._buckets) > self.max_users:
            self._prune(now)
        return wait

    def note_due(self, user_id: int, wait: float) -> bool:
        """Should the user be told to slow down? Once per cool-down: True for the first refusal, then
        False until the ``wait`` it announced has passed (30 quick messages get one note, not 25)."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            return True
        if now < bucket.noted_until:
            return False
        bucket.noted_until = now + wait
        return True

    def _prune(self, now: float) -> None:
        for user_id in [u for u, b in self._buckets.items() if b.full(now)]:
            del self._buckets[user_id]
        while len(self._buckets) > self.max_users:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class Throttle:
    """At most one event per ``interval`` seconds per key (e.g. one allowlist refusal per chat), for at
    most ``max_keys`` keys (the least recently seen are forgotten)."""

    def __init__(self, interval: float, *, clock: Clock = time.monotonic, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._last: OrderedDict[int, float] = OrderedDict()

    def due(self, key: int) -> bool:
        """True (and remembered) when ``key`` had no event in the last ``interval`` seconds."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last.pop(key, None)
        self._last[key] = now
        while len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        return True
