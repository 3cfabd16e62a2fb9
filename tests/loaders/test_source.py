"""The HTTP clients of the digest repository and Hugging Face, against the fakes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from loaders.source import (
    LIST_PATH,
    DigestRepository,
    Http,
    HuggingFace,
    SourceError,
    parse_day_list,
    retry_after_seconds,
)
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace

DAY = ("## Daily Papers (2025-02-05)\n\n### [OmniHuman-1](https://arxiv.org/abs/2502.01061)\n\nVote: 134\n\n"
       "- ***What's New***: 사람 영상을 한 단계로 만듭니다.\n")


@pytest.fixture
def http() -> Iterator[Http]:
    waits: list[float] = []
    client = Http(httpx.Client(timeout=2.0), max_retries=2, sleep=waits.append)
    yield client
    client.close()


def test_day_list_groups_ids_by_date_and_skips_bad_rows() -> None:
    text = ("date,title,url\n2025-02-05,A,https://arxiv.org/abs/2502.01061\n2025-02-05,B,https://arxiv.org/abs/2502.01237\n"
            "not-a-date,C,https://arxiv.org/abs/2502.00001\n2025-02-04,D,\n")
    days = parse_day_list(text)
    assert [d.date for d in days] == [date(2025, 2, 4), date(2025, 2, 5)]
    assert days[1].arxiv_ids == {"2502.01061", "2502.01237"} and days[0].arxiv_ids == frozenset()
    assert days[1].path == "paper_logs/2025/02/05.md"
    with pytest.raises(SourceError, match="date"):
        parse_day_list("<html>nope</html>")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_seconds(later) or 0) <= 30


def test_conditional_fetch_returns_no_body_when_unchanged(http: Http) -> None:
    with FakeDigestRepo() as repo:
        repo.add_day("2025-02-05", DAY)
        source = DigestRepository(repo.url + "/", http)
        first = source.fetch("paper_logs/2025/02/05.md")
        assert first.body == DAY and first.etag and first.bytes == len(DAY.encode())
        again = source.fetch("paper_logs/2025/02/05.md", etag=first.etag, last_modified=first.last_modified)
        assert again.body is None and again.bytes == 0 and again.etag == first.etag
        assert parse_day_list(source.fetch(LIST_PATH).body or "")[0].arxiv_ids == {"2502.01061"}
        with pytest.raises(SourceError, match="404"):
            source.fetch("paper_logs/2030/01/01.md")


def test_persistent_failures_become_one_clear_error(http: Http) -> None:
    with FakeDigestRepo() as repo:
        repo.add_day("2025-02-05", DAY)
        repo.fail("paper_logs/2025", "drop", times=3)
        with pytest.raises(SourceError, match=r"after 3 attempts"):
            DigestRepository(repo.url, http).fetch("paper_logs/2025/02/05.md")
        assert http.retries == 2


def test_hugging_face_items_it_cannot_read_are_skipped(http: Http) -> None:
    with FakeHuggingFace() as hf:
        hf.add_paper("2025-02-05", "2502.01061", "OmniHuman-1", " An   abstract.\n", 134, authors=["Jiaqi Yang"],
                     github_repo="https://github.com/x/y", keywords=["human animation"])
        client = HuggingFace(hf.api_url, http)
        assert client.paper("2502.99999") is None and client.daily_papers(date(2020, 1, 1)) == []
        hf.papers["2025-02-05"].append({"paper": {"id": "not-an-id"}})
        hf.papers["2025-02-05"].append({"oops": 1})
        (paper,) = client.daily_papers(date(2025, 2, 5))
        assert (paper.arxiv_id, paper.abstract, paper.upvotes, paper.authors) == (
            "2502.01061", "An abstract.", 134, ("Jiaqi Yang",))
        assert paper.github_repo == "https://github.com/x/y" and paper.keywords == ("human animation",)
        hf.fail("daily_papers", "garbage_json")
        with pytest.raises(SourceError, match="malformed JSON"):
            client.daily_papers(date(2025, 2, 5))
