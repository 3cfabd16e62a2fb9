"""A bounded, graceful stop.

On SIGTERM (``docker stop``) or Ctrl-C, PTB's ``Application.stop()`` waits for every update still being
handled (``await update_queue.join()`` in ``telegram/ext/_application.py``) with no time limit, so an
answer waiting for a slow LLM (``llm_timeout_s`` per attempt, with retries) could hold the process past
Docker's 30 s grace period, and Docker then kills it. Here the handlers in progress get
``shutdown_grace_s`` to finish; the rest are cancelled (their chats are told to ask again, see
``Handlers.answer``) and stopping carries on.

Built on public PTB APIs: a ``BaseUpdateProcessor`` (``ApplicationBuilder.concurrent_updates``) that knows
the task handling each update, and ``Application.stop_running()`` from our own signal handlers (PTB's are
switched off with ``run_polling(stop_signals=None)``). Blocking work already running in a worker thread
cannot be interrupted; those threads are daemon threads (``bot.telegram.blocking``), so they do not hold
the process either.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable
from typing import Any

from telegram.ext import Application, SimpleUpdateProcessor

log = logging.getLogger("papersbot.telegram")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)  # what run_polling handles by default


class DrainingUpdateProcessor(SimpleUpdateProcessor):
    """Runs each update in its own task and remembers the tasks still running, so that
    :meth:`cancel_after` can bound how long a stop waits for them."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._running: set[asyncio.Task[Any]] = set()
        self._cancelled = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def in_progress(self) -> int:
        return len(self._running)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._cancelled:  # stopping, and the grace period is over: not started at all
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            return
        # Its own task: with concurrent_updates=1 PTB awaits updates inside its update fetcher, which
        # must not be cancelled with them.
        task = asyncio.ensure_future(coroutine)
        self._running.add(task)
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves
            log.debug("update %s cancelled by the stop", getattr(update, "update_id", None))
        finally:
            self._running.discard(task)

    def cancel_after(self, seconds: float) -> None:
        """From now on, give the updates in progress ``seconds`` more, then cancel whatever still runs."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self.cancel_all)

    def cancel_all(self) -> None:
        self._cancelled = True
        if self._running:
            log.warning("cancelling %d update(s) still in progress to finish stopping", len(self._running))
        for task in list(self._running):
            task.cancel()


def install_stop_signals(app: Application[Any, Any, Any, Any, Any, Any], processor: DrainingUpdateProcessor,
                         grace_s: float) -> None:
    """Our SIGINT/SIGTERM/SIGABRT handlers for the running loop (call from ``post_init``; run the app with
    ``stop_signals=None``): the first signal stops fetching updates and starts the grace period, a second
    one cancels what is still running at once."""
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal(signum: int) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s again: cancelling what is still running", name)
            processor.cancel_all()
            return
        stopping = True
        log.info("%s: stopping; %d update(s) in progress get %g s to finish", name, processor.in_progress, grace_s)
        processor.cancel_after(grace_s)
        app.stop_running()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)


__all__ = ["STOP_SIGNALS", "DrainingUpdateProcessor", "install_stop_signals"]
