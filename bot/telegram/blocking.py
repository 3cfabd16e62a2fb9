"""Running the blocking answer engine (embedding, SQLite, Chroma) off the event loop.

Questions run in a bounded thread pool, so a slow one never stalls other chats and a burst never spawns
unbounded threads. An ingest (admin upload) is exclusive: it waits for running questions to finish and
holds new ones back until it is done, so no question ever sees a half-switched index. (Picking up what
another process committed is the papers service's job, once per question: ``rag.service``.)

The pool's threads are daemon threads (:class:`DaemonThreadPool`): the interpreter joins every
``ThreadPoolExecutor`` thread at exit, so one question waiting for a slow LLM would hold a stopping bot
for as long as the LLM takes. Stopping is bounded by the bot instead (``shutdown_grace_s``).
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar

LLM_WORKERS = 64  # LLM answers at once (threads that mostly wait on the model's HTTP stream)
P = ParamSpec("P")
T = TypeVar("T")


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class DaemonThreadPool(Executor):
    """At most ``workers`` daemon threads, started as work arrives. Like ``ThreadPoolExecutor``, except
    that the interpreter does not wait for running calls at exit (``concurrent.futures.thread`` joins its
    workers in an atexit hook: https://github.com/python/cpython/blob/3.11/Lib/concurrent/futures/thread.py)."""

    def __init__(self, workers: int, name: str) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._workers, self._name = workers, name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[T] = Future()
            self._queue.put((future, functools.partial(fn, *args, **kwargs)))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)
            return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:  # handed to the caller, like ThreadPoolExecutor does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, call
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in self._threads:
                self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class BlockingRunner:
    """Runs blocking calls in ``workers`` threads; ``read`` calls share, ``write`` calls are exclusive.

    An LLM answer is mostly waiting: for the model, which writes for seconds. :meth:`read_llm` runs such a
    call in a thread of its own (at most ``llm_workers``) and hands it :meth:`slot` to enter around its CPU
    steps (routing, retrieval, extractive text), so those are bounded by ``workers`` and held off by an
    ingest like any :meth:`read`, while the model's writing holds no engine slot: ten chats streaming at once
    no longer wait for each other's answers to end (benchmarks/results/stream.txt).
    """

    def __init__(self, workers: int, llm_workers: int = LLM_WORKERS) -> None:
        self._pool = DaemonThreadPool(workers, "papersbot-engine")
        self._llm_pool = DaemonThreadPool(llm_workers, "papersbot-llm")
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = ReadWriteLock()
        self.workers = workers

    async def read(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._submit(self._pool, self._reading, functools.partial(func, *args, **kwargs))

    async def write(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._submit(self._pool, self._writing, functools.partial(func, *args, **kwargs))

    async def read_llm(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, slot=self.slot, **kwargs)`` in a thread of the LLM pool: ``func`` enters ``slot``
        around each of its steps that is not the LLM call (``Papers.ask``'s ``slot``)."""
        call = functools.partial(func, *args, slot=self.slot, **kwargs)
        return await self._submit(self._llm_pool, _direct, call)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the ``workers`` engine slots, as a :meth:`read` call has (from any thread)."""
        with self._slots, self._lock.reading():
            yield

    async def _submit(self, pool: Executor, wrapper: Callable[[Callable[[], T]], T], call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, wrapper, call)

    def _reading(self, call: Callable[[], T]) -> T:
        with self.slot():
            return call()

    def _writing(self, call: Callable[[], T]) -> T:
        with self._lock.writing():
            return call()

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold questions back, from any thread (e.g. while a sync stores a batch of days)."""
        return self._lock.writing()

    def shutdown(self) -> None:
        """Stop taking work; running calls finish in their threads (or end with the process)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._llm_pool.shutdown(wait=False, cancel_futures=True)


def _direct(call: Callable[[], T]) -> T:
    return call()
