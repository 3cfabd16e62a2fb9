"""The bounded runner: questions share, an ingest is exclusive, the library is refreshed by one thread."""

from __future__ import annotations

import asyncio
import threading
import time

from bot.telegram.blocking import BlockingRunner, ReadWriteLock


def test_reads_overlap_and_a_write_excludes_them() -> None:
    events: list[str] = []
    lock = threading.Lock()
    refreshes: list[int] = []

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
        runner = BlockingRunner(4, refresh=lambda: refreshes.append(1))
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
    assert len(refreshes) == 3  # once before every read


def test_read_write_lock_reentrancy_free_basics() -> None:
    lock = ReadWriteLock()
    with lock.reading(), lock.reading():
        pass
    with lock.writing():
        pass
    with lock.reading():
        pass
