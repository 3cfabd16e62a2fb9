from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from rag import inbox as inbox_module
from rag.components import Components
from rag.inbox import LOCK_NAME, ingest_inbox
from rag.ingest import Indexer
from rag.service import Papers
from tests.helpers import HashEmbedding


def digest(date: str, papers: list[tuple[str, str]], *, broken: str | None = None) -> str:
    """A small digest in the Daily Papers format; ``broken`` names a paper written without its link."""
    out = [f"## Daily Papers ({date})", ""]
    for arxiv_id, title in papers:
        heading = f"### [{title}]" if arxiv_id == broken else f"### [{title}](https://arxiv.org/abs/{arxiv_id})"
        out += [
            heading, "", "Vote: 7", "", "Authors: Ada Kim, Ben Park", "",
            f"- ***What's New***: {title} 모델은 작은 예제 데이터로 검색 흐름을 시험하려고 만든 가상의 논문입니다.",
            f"- ***Technical Details***: {title} 방식은 문단을 나누어 임베딩하고 어휘 색인과 함께 찾습니다.",
            f"- ***Performance Highlights***: {title} 실험에서 재현율이 조금 올랐다고 보고합니다.",
            "",
        ]
    return "\n".join(out)


def drop(folder: Path, name: str, text: str | bytes, *, age_s: float = 60.0) -> Path:
    """Put a file in the inbox, last modified ``age_s`` seconds ago (settled unless tiny)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def embedded(library: Components) -> int:
    assert isinstance(library.embedder, HashEmbedding)
    return len(library.embedder.embedded)


def test_empty_inbox_takes_no_lock_and_embeds_nothing(fast_library: Components, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lock() -> None:
        raise AssertionError("the write lock was taken")

    monkeypatch.setattr(fast_library, "write_lock", no_lock)
    inbox = tmp_path / "inbox"
    assert ingest_inbox(Indexer.from_components(fast_library), inbox).idle  # not even created yet
    drop(inbox, ".hidden.md", digest("2025-03-01", [("2503.00001", "Hidden")]))
    drop(inbox, "2025-03-01.md.part", digest("2025-03-01", [("2503.00001", "Partial")]))
    drop(inbox, "2025-03-01.tmp", digest("2025-03-01", [("2503.00001", "Temporary")]))
    drop(inbox, "notes.pdf", b"%PDF-1.4")
    drop(inbox, "README.md", "what this folder is for")
    (inbox / "done").mkdir()
    drop(inbox / "done", "2025-02-01.md", digest("2025-02-01", [("2502.00001", "Old")]))

    report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert report.idle and report.done == report.failed == report.waiting == [] and report.ingest is None
    assert report.summary() == "inbox: nothing to ingest"
    assert embedded(fast_library) == 0 and fast_library.catalog.counts()["papers"] == 0
    assert not (fast_library.settings.storage.data_dir / "write.lock").exists()
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        [".hidden.md", "2025-03-01.md.part", "2025-03-01.tmp", "notes.pdf", "README.md", "done"])


def test_files_move_to_done_or_failed_with_their_problems(fast_library: Components, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha"), ("2503.00002", "Beta")]))
    drop(inbox, "2025-03-02.md", digest("2025-03-02", [("2503.00003", "Gamma"), ("2503.00004", "Delta")],
                                        broken="2503.00004"))
    drop(inbox, "junk.md", bytes(range(256)) * 50)

    report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert [Path(p).name for p in report.done] == ["2025-03-01.md", "2025-03-02.md"]
    assert [Path(p).name for p in report.failed] == ["junk.md"]
    assert report.ingest is not None and (report.ingest.added, report.ingest.skipped) == (3, 1)
    assert sorted(p.name for p in inbox.iterdir()) == [".inbox.lock", "done", "failed"]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "2025-03-01.md", "2025-03-02.md", "2025-03-02.md.problems.txt"]
    problems = (inbox / "done" / "2025-03-02.md.problems.txt").read_text(encoding="utf-8")
    assert problems.startswith("2025-03-02.md:") and "error" in problems
    assert (inbox / "failed" / "junk.md.problems.txt").read_text(encoding="utf-8").startswith("junk.md:0: error:")
    assert {p.arxiv_id for p in fast_library.catalog.top_on("2025-03-02")} == {"2503.00003"}
    assert Papers(fast_library).stats()["vector_nodes"] == Papers(fast_library).stats()["lexical_nodes"] == 9
    assert json.loads(json.dumps(report.to_json()))["ingest"]["added"] == 3
    assert report.summary().startswith("inbox: 2 file(s) ingested, 1 unreadable (")


def test_taken_names_get_a_timestamp_and_nothing_is_overwritten(fast_library: Components, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "done", "2025-03-01.md", "an older file with this name")
    drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha")]))
    first = ingest_inbox(Indexer.from_components(fast_library), inbox)
    drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha"), ("2503.00002", "Beta")]))
    second = ingest_inbox(Indexer.from_components(fast_library), inbox)

    assert (inbox / "done" / "2025-03-01.md").read_text(encoding="utf-8") == "an older file with this name"
    names = [Path(first.done[0]).name, Path(second.done[0]).name]
    assert names[0] != names[1]
    for name in names:
        stem, stamp, suffix = name.split(".")
        assert (stem, suffix) == ("2025-03-01", "md") and stamp.startswith("20") and "T" in stamp
    assert len(list((inbox / "done").iterdir())) == 3
    assert fast_library.catalog.counts()["papers"] == 2


def test_a_file_still_being_written_waits(fast_library: Components, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha")]), age_s=0)
    report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert report.idle and report.waiting == [str(path)] and path.exists()
    assert "1 still being written" in report.summary()
    assert embedded(fast_library) == 0 and not (fast_library.settings.storage.data_dir / "write.lock").exists()

    then = time.time() - 10
    os.utime(path, (then, then))
    report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert [Path(p).name for p in report.done] == ["2025-03-01.md"] and report.waiting == []


def test_rerun_after_a_crash_before_the_move_is_harmless(fast_library: Components, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha"), ("2503.00002", "Beta")]))

    def crash(path: Path, folder: Path) -> Path:
        raise KeyboardInterrupt("killed between the ingest and the move")

    monkeypatch.setattr(inbox_module, "_move", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_inbox(Indexer.from_components(fast_library), inbox)
    monkeypatch.undo()
    assert (inbox / "2025-03-01.md").exists() and embedded(fast_library) == 6
    revision = fast_library.catalog.revision()

    report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert report.ingest is not None
    assert (report.ingest.added, report.ingest.unchanged, report.ingest.embedded) == (0, 2, 0)
    assert embedded(fast_library) == 6 and fast_library.catalog.revision() == revision
    assert [Path(p).name for p in report.done] == ["2025-03-01.md"]


def test_a_second_run_on_a_busy_inbox_skips(fast_library: Components, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = drop(inbox, "2025-03-01.md", digest("2025-03-01", [("2503.00001", "Alpha")]))
    with open(inbox / LOCK_NAME, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        report = ingest_inbox(Indexer.from_components(fast_library), inbox)
    assert report.busy and report.idle and path.exists() and embedded(fast_library) == 0
    assert ingest_inbox(Indexer.from_components(fast_library), inbox).done
