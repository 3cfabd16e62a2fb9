"""Server mode: the same ingest against a real ``chroma run`` on 127.0.0.1 (PAPERSBOT_CHROMA_URL)."""

from __future__ import annotations

from pathlib import Path

from config.settings import load_settings
from rag.ingest import Indexer, ingest_paths
from tests.chroma_server import chroma_server
from tests.conftest import open_components
from tests.helpers import HashEmbedding


def test_ingest_and_query_through_a_chroma_server(tmp_path: Path, samples_dir: Path,
                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with chroma_server(tmp_path / "chroma-server") as url:
        monkeypatch.setenv("PAPERSBOT_CHROMA_URL", url)
        settings = load_settings(data_dir=tmp_path / "data")
        assert settings.storage.chroma_url == url
        embedder = HashEmbedding()
        library = open_components(settings, embedder=embedder)
        report = ingest_paths(Indexer.from_components(library), [str(samples_dir)])
        assert (report.added, report.embedded) == (15, 45)
        assert library.vectors.count() == 45
        assert not settings.storage.chroma_path.exists()  # nothing embedded on disk: the server holds the vectors

        again = ingest_paths(Indexer.from_components(library), [str(samples_dir)])
        assert (again.unchanged, again.embedded) == (15, 0)

        query = embedder.get_query_embedding("OmniHuman-1 human animation")
        hits = library.vectors.query(query, k=3)
        assert len(hits) == 3 and all(h.node_id.startswith(h.arxiv_id) for h in hits)
        only = library.vectors.query(query, k=3, arxiv_ids=["2411.14384"])
        assert {h.arxiv_id for h in only} == {"2411.14384"}
        library.close()
