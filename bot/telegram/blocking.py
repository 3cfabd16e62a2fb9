"""Running the blocking answer engine (embedding, SQLite, Chroma) off the event loop.

Questions run in a bounded thread pool, so a slow one never stalls other chats and a burst never spawns
unbounded threads. An ingest (admin upload) is exclusive: it waits for running questions to finish and
holds new ones back until it is done, so no question ever sees a half-switched index. Before each
question the library is refreshed under a mutex, so that when another process (``papersbot ingest``) has
committed, exactly one thread reloads the derived indexes instead of several at once.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

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


class BlockingRunner:
    """Runs blocking calls in ``workers`` threads; ``read`` calls share, ``write`` calls are exclusive."""

    def __init__(self, workers: int, *, refresh: Callable[[], object] | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="papersbot-engine")
        self._lock = ReadWriteLock()
        self._refresh = refresh
        self._refresh_lock = threading.Lock()
        self.workers = workers

    async def read(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._submit(self._reading, functools.partial(func, *args, **kwargs))

    async def write(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._submit(self._writing, functools.partial(func, *args, **kwargs))

    async def _submit(self, wrapper: Callable[[Callable[[], T]], T], call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, wrapper, call)

    def _reading(self, call: Callable[[], T]) -> T:
        with self._lock.reading():
            if self._refresh is not None:
                with self._refresh_lock:
                    self._refresh()
            return call()

    def _writing(self, call: Callable[[], T]) -> T:
        with self._lock.writing():
            return call()

    def shutdown(self) -> None:
        """Stop taking work; running calls finish in their threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
