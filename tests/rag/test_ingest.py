from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.service import Papers
from rag.storage.catalog import Catalog
from tests.conftest import open_components
from tests.helpers import HashEmbedding


def embedded_count(library: Components) -> int:
    assert isinstance(library.embedder, HashEmbedding)
    return len(library.embedder.embedded)


def copy_samples(samples_dir: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in samples_dir.glob("20*.md"):
        shutil.copy(path, target / path.name)
    return target


def node_ids(library: Components) -> tuple[set[str], set[str], set[str]]:
    catalog = {row.node_id for row in library.catalog.sections()}
    vectors = set(library.vectors._collection.get(include=[])["ids"])
    library.freshness.refresh()
    lexical = set(library.lexical._node_ids)
    return catalog, vectors, lexical


def test_samples_ingest_then_reingest_embeds_nothing(fast_library: Components, samples_dir: Path) -> None:
    first = ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    assert (first.files, first.added, first.updated, first.unchanged, first.skipped) == (3, 15, 0, 0, 0)
    assert first.embedded == 45 == embedded_count(fast_library)
    assert first.unreadable == [] and first.problems == []

    again = ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, 15, 0)
    assert embedded_count(fast_library) == 45
    assert again.revision == first.revision  # nothing committed, readers need not reload

    catalog, vectors, lexical = node_ids(fast_library)
    assert len(catalog) == 45 and catalog == vectors == lexical


def test_changed_section_reembeds_only_that_section(fast_library: Components, samples_dir: Path,
                                                    tmp_path: Path) -> None:
    folder = copy_samples(samples_dir, tmp_path / "in")
    ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    digest = folder / "2025-02-05.md"
    text = digest.read_text(encoding="utf-8")
    marker = "- ***Technical Details***: "
    digest.write_text(text.replace(marker, marker + "(수정됨) ", 1), encoding="utf-8")
    before = embedded_count(fast_library)

    report = ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 14)
    assert report.embedded == 1 == embedded_count(fast_library) - before
    changed = fast_library.catalog.get("2502.01061")
    assert changed is not None and changed.technical_details.startswith("(수정됨)")
    catalog, vectors, lexical = node_ids(fast_library)
    assert catalog == vectors == lexical


def test_vote_change_updates_metadata_without_embedding(fast_library: Components, samples_dir: Path,
                                                        tmp_path: Path) -> None:
    folder = copy_samples(samples_dir, tmp_path / "in")
    ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    digest = folder / "2025-02-05.md"
    digest.write_text(digest.read_text(encoding="utf-8").replace("Vote: 134", "Vote: 140"), encoding="utf-8")
    report = ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    assert (report.updated, report.embedded) == (1, 0)
    paper = fast_library.catalog.get("2502.01061")
    assert paper is not None and paper.votes == 140


def test_paper_in_two_digests_is_one_paper_with_both_dates(fast_library: Components, samples_dir: Path,
                                                           tmp_path: Path) -> None:
    folder = copy_samples(samples_dir, tmp_path / "in")
    source = (folder / "2024-11-22.md").read_text(encoding="utf-8")
    start = source.index("### [Baking Gaussian")
    end = source.index("### [", start + 5)
    (folder / "2024-11-23.md").write_text("## Daily Papers (2024-11-23)\n\n" + source[start:end].replace(
        "Vote: 2", "Vote: 9"), encoding="utf-8")
    report = ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    assert report.added == 15 and report.embedded == 45
    paper = fast_library.catalog.get("2411.14384")
    assert paper is not None
    assert paper.dates == ("2024-11-22", "2024-11-23") and paper.date == "2024-11-23" and paper.votes == 9
    assert [p.arxiv_id for p in fast_library.catalog.top_on("2024-11-23")] == ["2411.14384"]
    assert fast_library.catalog.counts()["papers"] == 15


def test_bad_files_are_reported_and_good_ones_still_load(fast_library: Components, samples_dir: Path,
                                                         tmp_path: Path) -> None:
    folder = copy_samples(samples_dir, tmp_path / "in")
    (folder / "junk.md").write_bytes(bytes(range(256)) * 100)
    (folder / "undated.md").write_text("### [T](https://arxiv.org/abs/2501.00001)\n", encoding="utf-8")
    broken = (folder / "2024-11-19.md").read_text(encoding="utf-8")
    (folder / "2024-11-19.md").write_text(broken.replace("](https://arxiv.org/abs/2411.11844)", "]", 1),
                                          encoding="utf-8")
    report = ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    assert report.added == 14 and report.skipped == 1
    assert sorted(Path(f).name for f in report.unreadable) == ["junk.md", "undated.md"]
    lines = [(Path(p.file).name, p.line) for p in report.problems if p.severity == "error"]
    assert ("2024-11-19.md", 13) in lines or any(name == "2024-11-19.md" and line > 0 for name, line in lines)
    assert fast_library.catalog.get("2411.11844") is None


def test_interrupted_ingest_resumes_without_reembedding(settings, samples_dir: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = HashEmbedding()
    library = open_components(settings, embedder=embedder)

    def crash(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt("killed during commit")

    monkeypatch.setattr(Catalog, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(Indexer.from_components(library), [str(samples_dir)])
    monkeypatch.undo()
    assert library.catalog.counts()["papers"] == 0  # nothing half-written in the catalog
    assert len(embedder.embedded) == 45

    report = ingest_paths(Indexer.from_components(library), [str(samples_dir)])
    assert report.added == 15 and report.embedded == 0  # vectors written before the crash are reused
    catalog, vectors, lexical = node_ids(library)
    assert catalog == vectors == lexical and len(catalog) == 45
    library.close()


def test_lost_vectors_are_repaired_on_the_next_ingest(fast_library: Components, samples_dir: Path) -> None:
    ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    fast_library.vectors.delete(["2502.01061#whats_new"])
    report = ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    assert report.embedded == 1 and report.unchanged == 15


def test_seeds_are_stored_exactly(fast_library: Components, seeds_dir: Path) -> None:
    report = ingest_paths(Indexer.from_components(fast_library), [str(seeds_dir)])
    assert (report.added, report.skipped, report.embedded) == (127, 0, 381)
    stats = Papers(fast_library).stats()
    assert (stats["papers"], stats["dates"], stats["sections"]) == (127, 5, 381)
    assert stats["vector_nodes"] == stats["lexical_nodes"] == 381
    top = fast_library.catalog.top_on("2025-02-05", limit=1)[0]
    assert (top.arxiv_id, top.votes) == ("2502.01061", 134)
    baichuan = fast_library.catalog.get("2501.15368")
    assert baichuan is not None and len(baichuan.authors) == 92 and baichuan.dates == ("2025-01-28",)


def test_lexical_index_finds_korean_morphemes(fast_library: Components, seeds_dir: Path) -> None:
    ingest_paths(Indexer.from_components(fast_library), [str(seeds_dir)])
    hits = fast_library.lexical.search("가우시안 스플래팅 확산 모델로 단일 이미지 3D 생성", k=5)
    assert hits and hits[0].arxiv_id == "2411.14384"
    assert fast_library.lexical.search("OmniHuman-1", k=3)[0].arxiv_id == "2502.01061"
    only = fast_library.lexical.search("OmniHuman-1", k=3, arxiv_ids=["2411.14384"])
    assert all(hit.arxiv_id == "2411.14384" for hit in only)


def test_unchanged_files_are_recognised_from_the_catalog_alone(fast_library: Components, samples_dir: Path,
                                                               tmp_path: Path) -> None:
    from rag.ingest import already_stored

    folder = copy_samples(samples_dir, tmp_path / "in")
    settings = fast_library.settings
    assert already_stored(settings, [str(folder)]) is None  # nothing stored yet
    ingest_paths(Indexer.from_components(fast_library), [str(folder)])
    report = already_stored(settings, [str(folder)])
    assert report is not None and (report.files, report.unchanged, report.added, report.embedded) == (3, 15, 0, 0)
    # Anything new, or vectors kept elsewhere, needs the real ingest.
    moved = settings.model_copy(update={"storage": settings.storage.model_copy(
        update={"chroma_collection_prefix": "other"})})
    assert already_stored(moved, [str(folder)]) is None
    digest = folder / "2025-02-05.md"
    digest.write_text(digest.read_text(encoding="utf-8").replace("Vote: 134", "Vote: 135"), encoding="utf-8")
    assert already_stored(settings, [str(folder)]) is None
