"""The running bot takes other processes' writes: ``papersbot ingest`` and ``papersbot sync`` on a data dir the
bot owns hand it their request over a local socket (``rag.owner``) and print the report it sends back.

Embedded Chroma has one writer per data dir, so the bot, which holds the data dir for its whole life, does
every write itself: it never has to reload an index behind its questions' backs. An ingest runs exclusively
of questions (like an admin upload); a sync stores each batch exclusively and downloads meanwhile.

``papersbot ask`` beside the bot hands it the question too: the bot answers warm, through the same read path
as a Telegram question (an engine slot; with an LLM the model's writing holds none), where the CLI alone would
spend seconds importing LlamaIndex and loading Kiwi (benchmarks/results/cold.txt). Without memory unless the
CLI names a conversation (kept apart from Telegram chats by a ``cli:`` prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import Any

from bot.telegram.blocking import BlockingRunner
from rag.owner import Handler, serve, socket_path
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
        handlers: dict[str, Handler] = {"ingest": self.ingest, "sync": self.sync, "ask": self.ask}
        self._server = await serve(self.papers.settings.storage.data_dir, handlers)
        log.info("taking ingests, syncs and questions from other processes at %s",
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

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        question = request["question"]
        use_llm, top_k, conversation = request.get("use_llm"), request.get("top_k"), request.get("conversation_id")
        if not isinstance(question, str) or not question.strip() or use_llm not in (None, False) \
                or not (top_k is None or (isinstance(top_k, int) and top_k > 0)) \
                or not (conversation is None or isinstance(conversation, str)):
            raise ValueError("ask needs a question, and use_llm null/false, top_k a positive int or null, "
                             "conversation_id a string or null")
        if await self.runner.read(self.papers.is_empty):
            return {"empty": True}
        conversation_id = f"cli:{conversation}" if conversation else None
        if self.papers.llm_configured and use_llm is None:  # like a Telegram question (handlers.Handlers.answer)
            answer = await self.runner.read_llm(self.papers.ask, question, conversation_id, top_k=top_k)
        else:
            answer = await self.runner.read(self.papers.ask, question, conversation_id, use_llm=use_llm,
                                            top_k=top_k)
        return {"empty": False, "answer": answer.to_json(), "text": answer.render_text()}
