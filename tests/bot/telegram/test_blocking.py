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


def test_llm_answers_hold_an_engine_slot_only_for_their_cpu_steps() -> None:
    """With 2 engine threads, 6 LLM answers at once all reach the model together (each retrieval in a slot,
    the model's writing in none); slots still bound the CPU steps to 2 at a time and wait for an ingest."""
    workers, answers = 2, 6
    lock = threading.Lock()
    in_slot = peak = 0
    writing = threading.Event()
    model_started: list[float] = []
    release_model = threading.Event()

    def cpu_step() -> None:
        nonlocal in_slot, peak
        with lock:
            assert not writing.is_set()  # an ingest holds the slots back
            in_slot += 1
            peak = max(peak, in_slot)
        time.sleep(0.05)
        with lock:
            in_slot -= 1

    def answer(name: str, *, slot: Callable[[], AbstractContextManager[object]]) -> str:
        with slot():  # routing and retrieval
            cpu_step()
        with lock:
            model_started.append(time.monotonic())
        assert release_model.wait(5.0)  # the model writes (I/O) until every answer has reached it
        with slot():  # an extractive fallback or the like
            cpu_step()
        return name

    def ingest() -> str:
        writing.set()
        time.sleep(0.1)
        writing.clear()
        return "ingest"

    async def scenario() -> list[str]:
        runner = BlockingRunner(workers)
        try:
            began = time.monotonic()
            tasks = [asyncio.create_task(runner.read_llm(answer, str(n))) for n in range(answers)]
            while len(model_started) < answers:  # with the model inside a slot, only 2 would get here
                assert time.monotonic() - began < 3.0, f"{len(model_started)} answers reached the model"
                await asyncio.sleep(0.01)
            written = await runner.write(ingest)  # no slot is held while the models write: it runs at once
            release_model.set()
            return [*await asyncio.gather(*tasks), written]
        finally:
            release_model.set()
            runner.shutdown()

    assert asyncio.run(scenario()) == [*map(str, range(answers)), "ingest"]
    assert peak == workers  # the CPU steps ran 2 at a time, never more
