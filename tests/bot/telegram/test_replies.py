"""Sending: the rate limiter lets chat actions through at once, so "typing" never delays an answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.telegram.replies import BotRateLimiter


async def _timed(limiter: BotRateLimiter, endpoint: str, chat_id: int, log: list[tuple[str, float]],
                 started: float) -> None:
    async def call(*_args: Any, **_kwargs: Any) -> bool:
        log.append((endpoint, time.perf_counter() - started))
        return True

    await limiter.process_request(call, (), {}, endpoint, {"chat_id": chat_id}, None)


def test_chat_actions_bypass_the_message_budget() -> None:
    async def scenario() -> list[tuple[str, float]]:
        limiter = BotRateLimiter(overall_max_rate=2, overall_time_period=1, max_retries=0)
        log: list[tuple[str, float]] = []
        started = time.perf_counter()
        # 8 messages through a budget of 2 per second: the last one waits about 3 s. The typing actions
        # pushed behind them go out at once.
        messages = [asyncio.create_task(_timed(limiter, "sendMessage", 100 + i, log, started)) for i in range(8)]
        await asyncio.sleep(0.05)
        actions = [asyncio.create_task(_timed(limiter, "sendChatAction", 200 + i, log, started)) for i in range(10)]
        await asyncio.gather(*messages, *actions)
        return log

    log = asyncio.run(scenario())
    actions = [t for endpoint, t in log if endpoint == "sendChatAction"]
    messages = [t for endpoint, t in log if endpoint == "sendMessage"]
    assert len(actions) == 10 and max(actions) < 1.0
    assert max(messages) > 2.5  # the messages are still paced by the budget
