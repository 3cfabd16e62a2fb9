"""The sync against fake upstream servers on 127.0.0.1 that misbehave like real ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from loaders.source import DigestRepository, Http, HuggingFace
from rag.components import Components
from rag.ingest import Indexer
from rag.sync import PENDING_KEY, Syncer, last_sync
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace, day_path

DAYS = ("2024-11-19", "2024-11-22", "2025-02-05")
SINCE = date(2024, 11, 1)
OMNIHUMAN = "2502.01061"
ABSTRACT = ("We scale up one-stage human animation by mixing several motion conditions in training. "
            "The model animates portraits and half bodies from audio, video or both.")


@pytest.fixture
def repo(samples_dir: Path) -> Iterator[FakeDigestRepo]:
    with FakeDigestRepo() as server:
        for day in DAYS:
            server.add_day(day, (samples_dir / f"{day}.md").read_text(encoding="utf-8"))
        yield server


@pytest.fixture
def hf() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace() as server:
        server.add_paper("2025-02-05", OMNIHUMAN, "OmniHuman-1", ABSTRACT, 134, authors=["Jiaqi Yang"])
        yield server


class Sleeps(list[float]):
    """Records the waits the client asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_syncer(library: Components, repo: FakeDigestRepo, hf: FakeHuggingFace | None, sleeps: Sleeps,
                timeout_s: float = 5.0, **kwargs: int) -> Syncer:
    http = Http(httpx.Client(timeout=timeout_s), max_retries=3, sleep=sleeps)
    return Syncer(Indexer.from_components(library), DigestRepository(repo.url, http),
                  HuggingFace(hf.api_url, http) if hf else None,
                  **kwargs)


def day_ids(text: str) -> list[str]:
    return re.findall(r"arxiv\.org/abs/(\d{4}\.\d{4,5})\)", text)


def consistent(library: Components) -> tuple[int, int, int]:
    """(papers, catalog sections, vectors) after checking that vectors and lexical nodes match the catalog."""
    sections = {row.node_id for row in library.catalog.sections()}
    vectors = {node_id for node_id, *_ in library.vectors.iter_all()}
    assert sections == vectors
    assert len(library.lexical) == len(sections)
    return library.catalog.counts()["papers"], len(sections), len(vectors)


def test_first_sync_fetches_every_day_with_abstracts_and_votes(fast_library: Components, repo: FakeDigestRepo,
                                                               hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    report = make_syncer(fast_library, repo, hf, sleeps, batch_days=1).run(SINCE)  # three batches, one report
    assert report.ok and sorted(report.days_fetched) == list(DAYS)
    assert (report.ingest.added, report.ingest.updated, report.abstracts_added) == (15, 0, 1)
    assert report.ingest.embedded == 46  # 15 papers x 3 sections + 1 abstract, summed over the batches
    assert consistent(fast_library)[0] == 15
    paper = fast_library.catalog.get(OMNIHUMAN)
    assert paper is not None and paper.abstract == ABSTRACT and paper.votes == 134
    assert f"{OMNIHUMAN}#abstract" in {row.node_id for row in fast_library.catalog.sections()}
    assert [votes for _, votes in fast_library.catalog.vote_history(OMNIHUMAN)] == [134]
    assert last_sync(fast_library.catalog) == report.health() and report.health()["days_fetched"] == 3


def test_nothing_new_costs_304s_and_embeds_nothing(fast_library: Components, repo: FakeDigestRepo,
                                                   hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    syncer = make_syncer(fast_library, repo, hf, sleeps)
    syncer.run(SINCE)
    revision = fast_library.catalog.revision()
    repo.reset_log()
    again = syncer.run(SINCE)
    assert again.ok and again.days_fetched == [] and sorted(again.days_unchanged) == list(DAYS)
    assert again.ingest.embedded == 0 and fast_library.catalog.revision() == revision
    assert all(request.status == 304 for request in repo.requests) and len(repo.requests) == 4  # list + 3 days
    assert repo.bytes_sent() == 0
    # Without --since: the list and the newest stored days only.
    repo.reset_log()
    assert make_syncer(fast_library, repo, None, sleeps, recheck_days=1).run().days_unchanged == ["2025-02-05"]
    assert [r.route for r in repo.requests] == ["paper_logs/papers_list.csv", day_path("2025-02-05")]


def test_without_since_fetches_only_days_after_the_newest(fast_library: Components, repo: FakeDigestRepo,
                                                          sleeps: Sleeps, samples_dir: Path) -> None:
    syncer = make_syncer(fast_library, repo, None, sleeps, recheck_days=0)
    first = syncer.run()  # empty store: the newest sync_initial_days days
    assert sorted(first.days_fetched) == list(DAYS)
    text = (samples_dir / "2025-02-05.md").read_text(encoding="utf-8").replace("2025-02-05", "2025-02-06")
    repo.add_day("2025-02-06", text)
    second = syncer.run()
    assert second.days_fetched == ["2025-02-06"] and second.ingest.added == 0 and second.ingest.updated == 5
    assert second.ingest.embedded == 0  # the same papers on a new day: new dates, no new text
    assert fast_library.catalog.dates()[0] == "2025-02-06"


def test_a_day_changed_upstream_reembeds_only_what_changed(fast_library: Components, repo: FakeDigestRepo,
                                                           sleeps: Sleeps) -> None:
    syncer = make_syncer(fast_library, repo, None, sleeps)
    syncer.run(SINCE)
    text = repo.text(day_path("2025-02-05"))
    assert text is not None
    blocks = text.split("\n### ")
    dropped = day_ids("### " + blocks[-1])[0]
    changed = "\n### ".join(blocks[:-1]).replace("- ***Technical Details***: ", "- ***Technical Details***: (v2) ", 1)
    repo.add_day("2025-02-05", changed)
    report = syncer.run(SINCE)
    assert report.days_fetched == ["2025-02-05"] and sorted(report.days_unchanged) == list(DAYS[:2])
    assert (report.ingest.updated, report.ingest.removed, report.ingest.embedded) == (1, 1, 1)
    assert fast_library.catalog.get(dropped) is None
    paper = fast_library.catalog.get(OMNIHUMAN)
    assert paper is not None and paper.technical_details.startswith("(v2)")
    assert consistent(fast_library)[0] == 14


def test_429_waits_as_retry_after_asks_then_succeeds(fast_library: Components, repo: FakeDigestRepo,
                                                     sleeps: Sleeps) -> None:
    repo.fail(day_path("2024-11-22"), "rate_limit", retry_after=7)
    report = make_syncer(fast_library, repo, None, sleeps).run(SINCE)
    assert report.ok and sorted(report.days_fetched) == list(DAYS) and sleeps == [7.0]


def test_5xx_retries_with_backoff_then_gives_up_on_that_day_only(fast_library: Components, repo: FakeDigestRepo,
                                                                 sleeps: Sleeps) -> None:
    repo.fail(day_path("2024-11-19"), "status", code=502, times=2)
    repo.fail(day_path("2024-11-22"), "status", code=500, times=10)
    syncer = make_syncer(fast_library, repo, None, sleeps)
    report = syncer.run(SINCE)
    assert sleeps == [1.0, 2.0, 1.0, 2.0, 4.0]  # 2 retries for the first day, 3 (all) for the second
    assert not report.ok and [d["date"] for d in report.days_failed] == ["2024-11-22"]
    assert "HTTP 500" in report.days_failed[0]["error"] and report.to_json()["errors"]
    assert sorted(report.days_fetched) == ["2024-11-19", "2025-02-05"]
    repo.clear_faults()
    later = syncer.run(SINCE)
    assert later.ok and later.days_fetched == ["2024-11-22"] and consistent(fast_library)[0] == 15


def test_a_timeout_is_retried(fast_library: Components, repo: FakeDigestRepo, sleeps: Sleeps) -> None:
    repo.fail(day_path("2025-02-05"), "timeout", seconds=3)
    report = make_syncer(fast_library, repo, None, sleeps, timeout_s=0.5).run(SINCE)
    assert report.ok and len(sleeps) == 1 and consistent(fast_library)[0] == 15


def test_a_truncated_body_is_rejected_never_ingested(fast_library: Components, repo: FakeDigestRepo,
                                                     sleeps: Sleeps) -> None:
    repo.fail(day_path("2025-02-05"), "truncate", fraction=0.6, times=4)
    report = make_syncer(fast_library, repo, None, sleeps).run(SINCE)
    assert [d["date"] for d in report.days_failed] == ["2025-02-05"]
    assert "2025-02-05" not in fast_library.catalog.dates() and consistent(fast_library)[0] == 10


def test_a_day_file_cut_mid_paper_is_rejected_whole(fast_library: Components, repo: FakeDigestRepo,
                                                    sleeps: Sleeps) -> None:
    text = repo.text(day_path("2025-02-05"))
    assert text is not None
    repo.put(day_path("2025-02-05"), text[: text.rindex("다.") - 20])  # served whole: a cut file upstream
    report = make_syncer(fast_library, repo, None, sleeps).run(SINCE)
    assert [d["date"] for d in report.days_failed] == ["2025-02-05"] and "cut short" in report.days_failed[0]["error"]
    assert "2025-02-05" not in fast_library.catalog.dates()


def test_an_html_error_page_is_rejected(fast_library: Components, repo: FakeDigestRepo, sleeps: Sleeps) -> None:
    repo.fail(day_path("2024-11-19"), "html")
    report = make_syncer(fast_library, repo, None, sleeps).run(SINCE)
    assert [d["date"] for d in report.days_failed] == ["2024-11-19"] and "HTML" in report.days_failed[0]["error"]
    assert "2024-11-19" not in fast_library.catalog.dates()


def test_a_broken_list_of_days_fails_the_run_cleanly(fast_library: Components, repo: FakeDigestRepo,
                                                     sleeps: Sleeps) -> None:
    repo.fail("paper_logs/papers_list.csv", "html")
    report = make_syncer(fast_library, repo, None, sleeps).run(SINCE)
    assert not report.ok and "list of days" in report.errors[0] and fast_library.catalog.counts()["papers"] == 0


def test_malformed_hugging_face_json_never_blocks_the_digest(fast_library: Components, repo: FakeDigestRepo,
                                                             hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    hf.fail("daily_papers", "garbage_json", times=3)
    syncer = make_syncer(fast_library, repo, hf, sleeps)
    report = syncer.run(SINCE)
    assert report.ok and report.ingest.added == 15 and report.abstracts_added == 0
    assert len(report.enrich_errors) == 3 and "malformed JSON" in report.enrich_errors[0]
    assert fast_library.catalog.get_meta(PENDING_KEY) == '["2024-11-19", "2024-11-22", "2025-02-05"]'
    later = syncer.run()  # nothing new upstream: the pending days are enriched now
    assert later.abstracts_added == 1 and later.ingest.embedded == 1
    paper = fast_library.catalog.get(OMNIHUMAN)
    assert paper is not None and paper.abstract == ABSTRACT
    assert fast_library.catalog.get_meta(PENDING_KEY) == "[]"
    consistent(fast_library)


def test_papers_missing_from_the_daily_list_are_looked_up_one_by_one(fast_library: Components,
                                                                     repo: FakeDigestRepo, hf: FakeHuggingFace,
                                                                     sleeps: Sleeps) -> None:
    hf.add_paper("2024-11-19", "2411.09661", "Adaptive Decoding", "An English abstract.", 5, listed=False)
    report = make_syncer(fast_library, repo, hf, sleeps).run(SINCE)
    assert report.abstracts_added == 2
    paper = fast_library.catalog.get("2411.09661")
    assert paper is not None and paper.abstract == "An English abstract."
