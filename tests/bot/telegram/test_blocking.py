"""The bounded runner: questions share, an ingest is exclusive."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bot.telegram.blocking import BlockingRunner, ReadWriteLock


def test_reads_overlap_and_a_write_excludes_them() -> None:
    events: list[str] = []
    lock = threading.Lock()

    def note(what: str) -> None:
        with lock:
            events.append(what)

    def read(name: str) -> str:
        note(f"{name}+")
        time.sleep(0.2)
        note(f"{name}-")
        return name

    def write() -> str:
        note("w+")
        time.sleep(0.1)
        note("w-")
        return "w"

    async def scenario() -> list[str]:
        runner = BlockingRunner(4)
        try:
            first = asyncio.create_task(runner.read(read, "a"))
            second = asyncio.create_task(runner.read(read, "b"))
            await asyncio.sleep(0.05)
            writer = asyncio.create_task(runner.write(write))
            await asyncio.sleep(0.05)
            late = asyncio.create_task(runner.read(read, "c"))  # arrives while the writer waits
            return list(await asyncio.gather(first, second, writer, late))
        finally:
            runner.shutdown()

    assert asyncio.run(scenario()) == ["a", "b", "w", "c"]
    assert set(events[:2]) == {"a+", "b+"}  # the two reads overlapped
    w = events.index("w+")
    assert {"a-", "b-"} <= set(events[:w]) and events[w + 1] == "w-"  # the write ran alone
    assert events.index("c+") > events.index("w-")  # a waiting writer holds new reads back


def test_read_write_lock_shares_reads_and_excludes_writes() -> None:
    """Reads overlap (nested ones too, while no writer waits); a write waits for them, then keeps reads out;
    each block frees the lock when it ends."""
    lock = ReadWriteLock()
    threads: list[threading.Thread] = []

    def entered(block: Callable[[], AbstractContextManager[None]], within: float) -> bool:
        """Whether another thread gets into ``block`` within ``within`` seconds (it leaves at once)."""
        inside = threading.Event()

        def run() -> None:
            with block():
                inside.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return inside.wait(within)

    with lock.reading(), lock.reading():
        assert entered(lock.reading, 2.0)  # readers share
        assert not entered(lock.writing, 0.2)  # a writer waits for the readers ...
    for thread in threads:  # ... and gets in once they are done
        thread.join(2.0)
        assert not thread.is_alive()
    with lock.writing():
        assert not entered(lock.reading, 0.2)  # a writer keeps readers out
        assert not entered(lock.writing, 0.2)  # and other writers
    for thread in threads:
        thread.join(2.0)
        assert not thread.is_alive()
    assert entered(lock.writing, 2.0) and entered(lock.reading, 2.0)  # free again
