"""The running bot takes other processes' writes: ``papersbot ingest`` and ``papersbot sync`` on a data dir the
bot owns hand it their request over a local socket (``rag.owner``) and print the report it sends back.

Embedded Chroma has one writer per data dir, so the bot, which holds the data dir for its whole life, does
every write itself: it never has to reload an index behind its questions' backs. An ingest runs exclusively
of questions (like an admin upload); a sync stores each batch exclusively and downloads meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import Any

from bot.telegram.blocking import BlockingRunner
from rag.owner import serve, socket_path
from rag.service import Papers

log = logging.getLogger("papersbot.handoff")


class HandoffServer:
    """Serves hand-offs while the bot runs (``start`` in post_init, ``stop`` in post_shutdown)."""

    def __init__(self, papers: Papers, runner: BlockingRunner) -> None:
        self.papers = papers
        self.runner = runner
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if not self.papers.owns_data_dir:  # a Chroma server: every process writes for itself
            return
        self._server = await serve(self.papers.settings.storage.data_dir, {"ingest": self.ingest, "sync": self.sync})
        log.info("taking ingests and syncs from other processes at %s",
                 socket_path(self.papers.settings.storage.data_dir))

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5.0)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            socket_path(self.papers.settings.storage.data_dir).unlink()

    async def ingest(self, request: dict[str, Any]) -> dict[str, Any]:
        paths = [str(path) for path in request["paths"]]
        report = await self.runner.write(self.papers.ingest, paths)
        log.info("ingest handed over by another process: %s", report.summary())
        return {"report": report.to_json(), "summary": report.summary(), "problems": [str(p) for p in report.problems]}

    async def sync(self, request: dict[str, Any]) -> dict[str, Any]:
        since, until = (date.fromisoformat(request[key]) if request.get(key) else None for key in ("since", "until"))
        syncer = self.papers.syncer(exclusive=self.runner.exclusive)
        try:
            report = await asyncio.to_thread(syncer.run, since, until)
        finally:
            syncer.close()
        errors = [f"error: {error}" for error in report.to_json()["errors"] + report.enrich_errors]
        return {"report": report.to_json(), "summary": report.summary(),
                "problems": [str(p) for p in report.problems] + errors}
