"""``Papers``: the one service the faces call (the CLI, the REPL, Telegram, the health server).

It wires the components (``rag.components``) into the answer engine, the indexer and the syncer once, and
offers what a face needs: ask, find, search, top, paper, dates, stats, ingest, ingest_inbox, sync. Faces
never reach past it into the catalog or the indexes. Each question refreshes the derived indexes at most
once (``Freshness.refresh``: cheap when the catalog revision did not move).

Threads: questions may run in several threads at once (the bot's pool); writes (``ingest``, ``sync``) take
the data dir's write lock themselves, and the bot additionally runs them exclusively of questions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from rag.answer import Answer, AnswerEngine, Found, Slot
from rag.briefing import Briefing, TopicMatcher, compose
from rag.components import Components, build_components
from rag.inbox import InboxReport, ingest_inbox
from rag.ingest import Indexer, IngestReport, Progress, ingest_paths
from rag.llm import OnToken
from rag.rising import Riser, rising
from rag.similar import similar_papers
from rag.storage.catalog import StoredPaper
from rag.sync import Syncer, SyncReport, last_sync

if TYPE_CHECKING:
    from rag.sync import DayProgress


class Papers:
    """The papers service over one set of components. ``close()`` it (or use it as a context manager)."""

    def __init__(self, components: Components, *, engine: AnswerEngine | None = None, **engine_options: Any) -> None:
        """``engine``: an answer engine of one's own; else one over ``components`` (``engine_options``: the
        ``llm``, ``memory`` or ``clock`` of :meth:`AnswerEngine.from_components`)."""
        self.settings = components.settings
        self._components = components
        self._catalog = components.catalog
        self._vectors = components.vectors
        self._lexical = components.lexical
        self._freshness = components.freshness
        # The answer engine is public for the REPL, a workbench of its prompt and LLM switches.
        self.engine = engine or AnswerEngine.from_components(components, **engine_options)
        self.indexer = Indexer.from_components(components)
        self._matcher = TopicMatcher(components.tokenizer, components.embedder, components.vectors)

    @classmethod
    def open(cls, settings: Settings, **options: Any) -> Papers:
        """Build the components from ``settings`` (``options``: see ``build_components``) and the service."""
        return cls(build_components(settings, **options))

    def __enter__(self) -> Papers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._components.close()

    # --- questions ------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Pick up what other processes committed (cheap when nothing did)."""
        return self._freshness.refresh()

    def ask(self, question: str, conversation_id: str | None = None, *, use_llm: bool | None = None,
            top_k: int | None = None, on_token: OnToken | None = None, slot: Slot | None = None,
            **scope: Any) -> Answer:
        """One cited answer (``scope``: ``arxiv_ids``/``named`` of :meth:`AnswerEngine.ask`; ``slot``: entered
        around every step but the LLM call, the refresh included, see :meth:`AnswerEngine.ask`)."""
        with (slot or nullcontext)():
            self.refresh()
        return self.engine.ask(question, conversation_id, use_llm=use_llm, top_k=top_k, on_token=on_token,
                               slot=slot, **scope)

    def find(self, question: str, conversation_id: str | None = None, top_k: int | None = None,
             **scope: Any) -> Found:
        """Routing and retrieval without an answer."""
        self.refresh()
        return self.engine.find(question, conversation_id, top_k, **scope)

    def search(self, words: str, limit: int) -> Found:
        """Matching papers straight from retrieval: no LLM, no conversation."""
        return self.find(words, None, limit)

    def reset(self, conversation_id: str) -> None:
        """Forget a conversation (follow-ups start fresh)."""
        self.engine.memory.reset(conversation_id)

    @property
    def llm_configured(self) -> bool:
        return self.engine.llm is not None

    def llm_health(self) -> dict[str, Any] | None:
        return self.engine.llm_health()

    # --- the catalog ----------------------------------------------------------------------------------
    def paper(self, arxiv_id: str) -> StoredPaper | None:
        return self._catalog.get(arxiv_id)

    def dates(self) -> list[str]:
        """Digest dates, newest first."""
        return self._catalog.dates()

    def top_on(self, day: str, limit: int | None = None) -> list[StoredPaper]:
        """One digest's papers, most voted first."""
        return self._catalog.top_on(day, limit)

    def top(self, day: str | None = None, *, limit: int, topics: Sequence[str] = (), topic_limit: int | None = None,
            min_relevance: float | None = None) -> Briefing | None:
        """The daily briefing of ``day`` (newest by default) with papers matching ``topics``; None when that
        date has no papers."""
        self.refresh()
        return compose(self._catalog, self._matcher, day, limit=limit, topics=topics,
                       topic_limit=self.settings.push.topic_matches if topic_limit is None else topic_limit,
                       min_relevance=self.settings.push.topic_min_relevance if min_relevance is None else min_relevance)

    def similar(self, arxiv_id: str, limit: int) -> list[tuple[StoredPaper, float]]:
        """The papers closest in meaning to ``arxiv_id`` (its dense neighbours), closest first."""
        self.refresh()
        return similar_papers(self._catalog, self._vectors, arxiv_id, limit)

    def rising(self, days: float, now: datetime, limit: int) -> list[Riser]:
        """The papers whose upvotes grew most in the ``days`` before ``now`` (from the vote history)."""
        return rising(self._catalog, days, now, limit)

    def is_empty(self) -> bool:
        return self._catalog.paper_count() == 0

    def stats(self) -> dict[str, Any]:
        self.refresh()
        counts = self._catalog.counts()
        dates = self._catalog.dates()
        return {
            **counts,
            "latest_date": dates[0] if dates else None,
            "date_list": dates,
            "vector_nodes": self._vectors.count(),
            "lexical_nodes": len(self._lexical),
            "collection": self._vectors.collection_name,
            "chroma": self.settings.storage.chroma_url or str(self.settings.storage.chroma_path),
            "revision": self._catalog.revision(),
        }

    def last_ingest(self) -> Any:
        return self._catalog.last_ingest()

    def last_sync(self) -> dict[str, Any] | None:
        return last_sync(self._catalog)

    # --- writes ---------------------------------------------------------------------------------------
    @property
    def can_write(self) -> bool:
        """This process may write: it owns the embedded data dir, or the vectors live in a Chroma server."""
        owner = self._components.owner
        return owner is None or owner.held

    @property
    def owns_data_dir(self) -> bool:
        """This process owns an embedded data dir: other processes hand it their writes (``rag.owner``)."""
        owner = self._components.owner
        return owner is not None and owner.held

    def ingest(self, paths: Sequence[str], progress: Progress | None = None) -> IngestReport:
        """Ingest digest files, folders or globs (embedded: only the data dir's owner may)."""
        return ingest_paths(self.indexer, [str(p) for p in paths], progress)

    def ingest_inbox(self, inbox_dir: Path) -> InboxReport:
        return ingest_inbox(self.indexer, inbox_dir)

    def syncer(self, *, exclusive: Callable[[], AbstractContextManager[object]] = nullcontext) -> Syncer:
        """A syncer into this service's indexes (``close()`` it); ``exclusive`` is held while a batch is stored."""
        return Syncer.from_settings(self.settings.sync, self.indexer, exclusive=exclusive)

    def export(self, dest: Path) -> dict[str, Any]:
        """Back up the catalog, the vectors and the subscriptions to ``dest`` (see ``rag.storage.backup``)."""
        from rag.storage.backup import export_backup

        return export_backup(self._components, dest)

    def sync(self, since: date | None = None, until: date | None = None,
             progress: DayProgress | None = None) -> SyncReport:
        """One sync from the source (see ``rag.sync``)."""
        syncer = self.syncer()
        try:
            return syncer.run(since, until, progress)
        finally:
            syncer.close()

