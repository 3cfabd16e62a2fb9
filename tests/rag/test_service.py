"""The papers service over injected components (hash embeddings: fast; retrieval quality is tested elsewhere)."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from config.settings import Settings
from rag.components import Components, build_components
from rag.owner import NotOwner
from rag.service import Papers
from tests.conftest import REPO, SAMPLES
from tests.helpers import HashEmbedding

PARTS = {"Catalog", "VectorIndex", "LexicalIndex", "Components", "build_components", "Indexer", "AnswerEngine"}
FIRST, SECOND = SAMPLES / "2024-11-19.md", SAMPLES / "2024-11-22.md"


@pytest.fixture
def papers(fast_library: Components) -> Papers:
    service = Papers(fast_library)
    assert service.ingest([str(FIRST)]).added == 5
    return service


def count_refreshes(papers: Papers, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = papers._freshness.refresh

    def counted() -> bool:
        calls.append(1)
        return original()

    monkeypatch.setattr(papers._freshness, "refresh", counted)
    return calls


def test_each_question_refreshes_exactly_once(papers: Papers, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_refreshes(papers, monkeypatch)
    answer = papers.ask("Generative World Explorer")
    assert len(calls) == 1 and answer.citations
    papers.find("video Gaussian splatting")
    papers.search("Gaussian", 3)
    assert len(calls) == 3


def test_catalog_reads_go_through_the_service(papers: Papers) -> None:
    assert papers.dates() == ["2024-11-19"] and not papers.is_empty()
    paper = papers.paper("2411.11844")
    assert paper is not None and paper.title == "Generative World Explorer"
    assert papers.paper("2999.00001") is None
    top = papers.top_on("2024-11-19", 2)
    assert len(top) == 2 and (top[0].votes or 0) >= (top[1].votes or 0)
    briefing = papers.top(limit=3, topics=["Gaussian"])
    assert briefing is not None and briefing.date == "2024-11-19" and len(briefing.top) == 3
    assert papers.top("2001-01-01", limit=3) is None
    stats = papers.stats()
    assert (stats["papers"], stats["vector_nodes"], stats["lexical_nodes"]) == (5, 15, 15)
    assert stats["latest_date"] == "2024-11-19"
    assert papers.last_sync() is None and papers.last_ingest() is not None


def test_writes_and_the_inbox(papers: Papers, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dropped = inbox / SECOND.name
    dropped.write_bytes(SECOND.read_bytes())
    assert papers.ingest_inbox(inbox).waiting  # just written: it may still be being copied
    os.utime(dropped, (time.time() - 60, time.time() - 60))
    report = papers.ingest_inbox(inbox)
    assert report.ingest is not None and (report.ingest.added, report.ingest.embedded) == (5, 15)
    assert [Path(done).parent.name for done in report.done] == ["done"]
    assert papers.dates() == ["2024-11-22", "2024-11-19"]
    again = papers.ingest([str(SECOND)])  # nothing duplicated
    assert (again.added, again.unchanged, again.embedded) == (0, 5, 0)


def test_reset_forgets_the_conversation(papers: Papers) -> None:
    papers.ask("Generative World Explorer", "chat")
    assert papers.engine.memory.last("chat") is not None
    papers.reset("chat")
    assert papers.engine.memory.last("chat") is None


def test_who_may_write(settings: Settings) -> None:
    owner = Papers(build_components(settings, owner=True, embedder=HashEmbedding(), llm=None))
    reader = Papers(build_components(settings, embedder=HashEmbedding(), llm=None))
    try:
        assert owner.can_write and owner.owns_data_dir
        assert not reader.can_write and not reader.owns_data_dir
        with pytest.raises(NotOwner):
            reader.ingest([str(FIRST)])
        assert reader.is_empty()  # the refused write left nothing behind
    finally:
        reader.close()
        owner.close()
    assert owner._components.owner is not None and not owner._components.owner.held  # released on close


def test_with_a_chroma_client_handed_in_every_process_may_write(settings: Settings, fast_library: Components) -> None:
    # As with a Chroma server: no owner lock, writes serialised by the data dir's write lock only.
    handed = Papers(build_components(settings, embedder=HashEmbedding(), chroma=fast_library.vectors._client,
                                     llm=None))
    try:
        assert handed.can_write and not handed.owns_data_dir
        assert handed.ingest([str(FIRST)]).added == 5
    finally:
        handed.close()


def test_a_reopening_reader_sees_what_the_owner_wrote_after_it_opened(settings: Settings) -> None:
    """In one process, the owner's and the reader's Chroma clients are separate Systems (each made after
    ``clear_system_cache()``), as they would be in two processes."""
    owner = Papers(build_components(settings, owner=True, embedder=HashEmbedding(), llm=None))
    reader = build_components(settings, reopen_readers=True, embedder=HashEmbedding(), llm=None)
    try:
        owner.ingest([str(FIRST)])
        assert reader.freshness.refresh()
        query = reader.embedder.get_query_embedding("Generative World Explorer")
        assert reader.vectors.query(query, k=3, arxiv_ids=["2411.11844"])
        assert not reader.freshness.refresh()  # nothing moved
        owner.ingest([str(SECOND)])
        assert reader.freshness.refresh()
        found = reader.vectors.query(reader.embedder.get_query_embedding("DINO-X"), k=3, arxiv_ids=["2411.14347"])
        assert len(found) == 3 and len(reader.lexical) == 30
    finally:
        reader.close()
        owner.close()


def test_faces_never_reach_past_the_service() -> None:
    """bot/ (the CLI, the REPL, Telegram, operations) calls Papers; no face touches the catalog or an index."""
    reached: list[str] = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"catalog", "vectors", "lexical", "library"}:
                reached.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom):  # result types (StoredPaper, Answer) are fine; parts are not
                parts = {alias.name for alias in node.names} & PARTS
                if parts:
                    reached.append(f"{path.relative_to(REPO)}:{node.lineno} imports {', '.join(sorted(parts))}")
    assert reached == []
