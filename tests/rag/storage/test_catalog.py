"""The catalog: one-transaction commits and the revision, appearances and removals, reads in chunks,
vote history, sync state, and the migration of a schema-v1 database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from loaders.digest import Paper
from rag.storage.catalog import MIGRATIONS, AuthorMatch, Catalog, SectionRow, SourceFile, node_hash, node_id, node_text
from rag.storage.sqlite import connect, migrate


def paper(arxiv_id: str, date: str = "2025-02-05", votes: int | None = 10, **fields: Any) -> Paper:
    return Paper(arxiv_id=arxiv_id, title=fields.pop("title", f"Title {arxiv_id}"),
                 url=f"https://arxiv.org/abs/{arxiv_id}", date=date, votes=votes,
                 authors=("Kim", "Lee", "Ahn"), source=f"{date}.md",
                 whats_new=fields.pop("whats_new", f"what is new in {arxiv_id}"), **fields)


def rows(p: Paper) -> list[SectionRow]:
    return [SectionRow(node_id(p.arxiv_id, key), p.arxiv_id, key, node_text(p, key), f"{key} tok-{p.arxiv_id}")
            for key in p.sections()]


def add(catalog: Catalog, *papers: Paper) -> tuple[int, list[str]]:
    """Commit papers as an ingest does: content, section rows and the appearance of each."""
    return catalog.commit(list(papers), [r for p in papers for r in rows(p)], list(papers))


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite3")


def test_node_helpers() -> None:
    p = paper("2502.00001")
    assert node_id("2502.00001", "summary") == "2502.00001#summary"
    assert node_text(p, "whats_new") == "Title 2502.00001\nwhat is new in 2502.00001"
    assert node_hash("a") == node_hash("a") != node_hash("b") and len(node_hash("a")) == 32


def test_an_empty_catalog(catalog: Catalog) -> None:
    assert catalog.revision() == 0 and catalog.last_ingest() is None
    assert catalog.counts() == {"papers": 0, "dates": 0, "appearances": 0, "sections": 0}
    assert catalog.dates() == [] and catalog.get("2502.00001") is None and list(catalog.sections()) == []


def test_commit_stores_papers_sections_and_appearances_and_bumps_the_revision(catalog: Catalog) -> None:
    first = paper("2502.00001", technical_details="how it works", abstract="An English abstract.")
    before = datetime.now(UTC).replace(microsecond=0)
    assert add(catalog, first, paper("2502.00002", votes=None)) == (1, [])
    assert catalog.revision() == 1
    last = catalog.last_ingest()
    assert last is not None and before <= last <= datetime.now(UTC)

    stored = catalog.get("2502.00001")
    assert stored is not None
    assert stored.authors == ("Kim", "Lee", "Ahn")  # order kept
    assert (stored.title, stored.date, stored.votes, stored.dates, stored.source) == (
        "Title 2502.00001", "2025-02-05", 10, ("2025-02-05",), "2025-02-05.md")
    assert stored.sections() == first.sections() and stored.content_hash == first.content_hash
    assert catalog.get("2502.00002").votes is None  # type: ignore[union-attr]  # unknown stays unknown
    assert catalog.counts() == {"papers": 2, "dates": 1, "appearances": 2, "sections": 4}
    assert [(r.node_id, r.section, r.text) for r in catalog.sections()][:1] == [
        ("2502.00001#abstract", "abstract", "Title 2502.00001\nAn English abstract.")]
    assert [r.node_id for r in catalog.sections()] == [  # by node id
        "2502.00001#abstract", "2502.00001#technical_details", "2502.00001#whats_new", "2502.00002#whats_new"]
    assert catalog.abstracts(["2502.00001", "2502.00002", "2502.09999"]) == {"2502.00001": "An English abstract."}


def test_a_commit_that_changes_nothing_keeps_the_revision(catalog: Catalog) -> None:
    add(catalog, paper("2502.00001"))
    assert catalog.commit([], [], []) == (1, [])
    source = SourceFile("paper_logs/2025/02/05.md", '"etag-1"', None, "ab" * 32, "2025-02-05T10:00:00+00:00")
    assert catalog.commit([], [], [], source_files=[source]) == (1, [])  # sync state alone: no reload needed
    assert catalog.source_file(source.path) == source


def test_a_second_catalog_on_the_same_file_sees_commits(catalog: Catalog) -> None:
    reader = Catalog(catalog.path)
    add(catalog, paper("2502.00001"))
    assert reader.revision() == 1 and reader.get("2502.00001") is not None
    reader.close()


def test_dates_follow_every_commit_of_this_or_another_catalog(catalog: Catalog) -> None:
    reader = Catalog(catalog.path)
    add(catalog, paper("2502.00001"))
    assert reader.dates() == ["2025-02-05"]
    add(catalog, paper("2502.00002", date="2025-02-06"))  # another "process" adds a day
    assert reader.dates() == ["2025-02-06", "2025-02-05"] == catalog.dates()
    catalog.commit([], [], [], day_contents={"2025-02-06": set()})  # the day re-fetched empty: gone
    assert reader.dates() == ["2025-02-05"]
    reader.dates().clear()  # a caller's copy, not the kept list
    assert reader.dates() == ["2025-02-05"]
    reader.close()


def test_changed_content_replaces_the_papers_sections(catalog: Catalog) -> None:
    add(catalog, paper("2502.00001", technical_details="old details"))
    changed = paper("2502.00001", title="New title", whats_new="rewritten")  # technical details gone
    assert add(catalog, changed)[0] == 2
    assert [r.node_id for r in catalog.sections()] == ["2502.00001#whats_new"]
    assert next(iter(catalog.sections())).text == "New title\nrewritten"
    stored = catalog.get("2502.00001")
    assert stored is not None and stored.title == "New title" and stored.technical_details == ""
    assert catalog.known(["2502.00001"])["2502.00001"][0] == changed.content_hash


def test_appearances_accumulate_and_the_latest_gives_date_and_votes(catalog: Catalog) -> None:
    add(catalog, paper("2502.00001", date="2025-02-05", votes=10))
    catalog.commit([], [], [paper("2502.00001", date="2025-02-03", votes=3),
                            paper("2502.00001", date="2025-02-07", votes=None)])
    catalog.commit([], [], [paper("2502.00001", date="2025-02-05", votes=25)])  # votes changed: upserted
    assert catalog.revision() == 3
    stored = catalog.get("2502.00001")
    assert stored is not None
    assert stored.dates == ("2025-02-03", "2025-02-05", "2025-02-07")
    assert (stored.date, stored.votes) == ("2025-02-07", None)
    assert catalog.known(["2502.00001", "2502.09999"]) == {
        "2502.00001": (stored.content_hash, {"2025-02-03": 3, "2025-02-05": 25, "2025-02-07": None})}
    assert catalog.dates() == ["2025-02-07", "2025-02-05", "2025-02-03"]


def test_a_refetched_day_is_authoritative_and_papers_left_without_a_day_are_removed(catalog: Catalog) -> None:
    add(catalog, paper("2502.00001"), paper("2502.00002"), paper("2502.00003"))
    add(catalog, paper("2502.00002", date="2025-02-06"))  # 2502.00002 is also in another day
    revision, removed = catalog.commit([], [], [], day_contents={"2025-02-05": {"2502.00003"}})
    assert (revision, removed) == (3, ["2502.00001"])
    assert catalog.get("2502.00001") is None
    assert [r.arxiv_id for r in catalog.sections() if r.arxiv_id == "2502.00001"] == []  # sections cascade
    assert catalog.get("2502.00002").dates == ("2025-02-06",)  # type: ignore[union-attr]
    assert catalog.ids_between("2025-02-05", "2025-02-05") == ["2502.00003"]
    assert catalog.commit([], [], [], day_contents={"2025-02-05": {"2502.00003"}}) == (3, [])  # unchanged day


def test_top_on_ranks_by_that_digests_votes_unknown_as_zero(catalog: Catalog) -> None:
    add(catalog, paper("2502.00003", votes=5), paper("2502.00001", votes=None), paper("2502.00002", votes=5),
        paper("2502.00004", votes=40))
    catalog.commit([], [], [paper("2502.00004", date="2025-02-09", votes=400)])  # later digest, more votes
    top = catalog.top_on("2025-02-05")
    assert [(p.arxiv_id, p.votes, p.date) for p in top] == [
        ("2502.00004", 40, "2025-02-05"), ("2502.00002", 5, "2025-02-05"), ("2502.00003", 5, "2025-02-05"),
        ("2502.00001", None, "2025-02-05")]
    assert [p.arxiv_id for p in catalog.top_on("2025-02-05", limit=2)] == ["2502.00004", "2502.00002"]
    assert catalog.top_on("2024-01-01") == []


def test_appearances_of_dates_and_ids_between(catalog: Catalog) -> None:
    for day, ids in {"2025-02-03": ("2502.00001",), "2025-02-04": ("2502.00002", "2502.00003"),
                     "2025-02-06": ("2502.00004",)}.items():
        add(catalog, *(paper(i, date=day, votes=int(i[-1])) for i in ids))
    assert sorted(catalog.appearances(["2025-02-04", "2025-02-04", "2025-02-06"])) == [
        ("2502.00002", "2025-02-04", 2), ("2502.00003", "2025-02-04", 3), ("2502.00004", "2025-02-06", 4)]
    assert len(catalog.appearances()) == 4 and catalog.appearances([]) == []
    assert sorted(catalog.ids_between("2025-02-04", "2025-02-06")) == ["2502.00002", "2502.00003", "2502.00004"]


def test_papers_with_votes_filters_in_sql_as_the_plan_would(catalog: Catalog) -> None:
    """A paper qualifies when one of its appearances on the asked dates meets the bounds; unknown votes never."""
    add(catalog, paper("2502.00001", date="2025-02-03", votes=5), paper("2502.00002", date="2025-02-03", votes=None),
        paper("2502.00003", date="2025-02-03", votes=120))
    add(catalog, paper("2502.00001", date="2025-02-04", votes=60), paper("2502.00004", date="2025-02-04", votes=0))
    rows = catalog.appearances()
    for low, high, dates in [(50, None, None), (None, 9, None), (0, 0, None), (10, 100, ["2025-02-03"]),
                             (None, None, None), (50, None, ["2025-02-03", "2025-02-05"]), (1, 5, [])]:
        expected = {a for a, day, votes in rows if votes is not None and (low is None or votes >= low)
                    and (high is None or votes <= high) and (dates is None or day in dates)}
        got = catalog.papers_with_votes(low, high, dates)
        assert sorted(got) == sorted(expected) and len(got) == len(set(got)), (low, high, dates)


def test_reads_of_many_ids_span_the_500_id_chunks(catalog: Catalog) -> None:
    papers = [paper(f"2502.{n:05d}", votes=n) for n in range(1, 1203)]
    add(catalog, *papers)
    ids = [p.arxiv_id for p in reversed(papers)] + ["2502.99999", papers[0].arxiv_id]
    got = catalog.get_many(ids)
    assert list(got) == [p.arxiv_id for p in reversed(papers)]  # asked order, duplicates and unknowns dropped
    assert len(catalog.known(ids)) == 1202 and catalog.known(ids)["2502.01202"][1] == {"2025-02-05": 1202}
    tokens = catalog.section_tokens(node_id(p.arxiv_id, "whats_new") for p in papers)
    assert len(tokens) == 1202 and tokens["2502.00007#whats_new"] == {"whats_new", "tok-2502.00007"}
    assert len(catalog.abstracts(ids)) == 0


def test_title_frequency_is_a_case_insensitive_literal_substring(catalog: Catalog) -> None:
    add(catalog, paper("2502.00001", title="Diffusion models at 50% cost"), paper("2502.00002", title="DIFFUSION_X"),
        paper("2502.00003", title="Agents"))
    assert catalog.title_frequency("diffusion") == 2
    assert catalog.title_frequency("50%") == 1 and catalog.title_frequency("%") == 1  # % is no wildcard
    assert catalog.title_frequency("n_x") == 1 and catalog.title_frequency("_") == 1  # nor _
    assert catalog.title_frequency("transformer") == 0


def test_vote_history_is_kept_per_moment_in_utc(catalog: Catalog) -> None:
    seoul = timezone(timedelta(hours=9))
    catalog.record_votes({"2502.00001": 5, "2502.00002": 1}, datetime(2025, 2, 5, 18, 0, tzinfo=seoul))
    catalog.record_votes({"2502.00001": 9}, datetime(2025, 2, 5, 8, 0, tzinfo=UTC))
    catalog.record_votes({"2502.00001": 7}, datetime(2025, 2, 5, 7, 0, 0, 900_000, tzinfo=UTC))
    catalog.record_votes({"2502.00001": 8}, datetime(2025, 2, 5, 8, 0, tzinfo=UTC))  # same moment: replaced
    assert catalog.vote_history("2502.00001") == [
        ("2025-02-05T07:00:00+00:00", 7), ("2025-02-05T08:00:00+00:00", 8), ("2025-02-05T09:00:00+00:00", 5)]
    assert catalog.vote_history("2502.00002") == [("2025-02-05T09:00:00+00:00", 1)]
    assert catalog.vote_history("2502.09999") == []
    assert catalog.revision() == 0  # votes over time are not content: indexes need no reload


def test_source_files_and_meta_are_upserted(catalog: Catalog) -> None:
    old = SourceFile("papers_list.csv", '"v1"', "Wed, 05 Feb 2025 10:00:00 GMT", "a" * 64,
                     "2025-02-05T10:00:00+00:00", "date,ids\n")
    catalog.commit([], [], [], source_files=[old])
    new = replace(old, etag=None, sha256="b" * 64, body=None)
    catalog.commit([], [], [], source_files=[new])
    assert catalog.source_file("papers_list.csv") == new and catalog.source_file("other.md") is None
    assert catalog.get_meta("sync_cursor") is None
    catalog.set_meta("sync_cursor", "2025-02-05")
    catalog.set_meta("sync_cursor", "2025-02-06")
    assert catalog.get_meta("sync_cursor") == "2025-02-06" and catalog.revision() == 0


def test_a_schema_v1_database_migrates_with_its_papers(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO papers VALUES ('2411.00001', 'Old', 'https://arxiv.org/abs/2411.00001', ?, "
                 "'new things', 'details', 'numbers', 'hash-v1')", (json.dumps(["Park", "Choi"]),))
    conn.execute("INSERT INTO appearances VALUES ('2411.00001', '2024-11-22', 12, '22.md')")
    conn.execute("INSERT INTO sections VALUES ('2411.00001#whats_new', '2411.00001', 'whats_new', 'Old\nnew things', "
                 "'new things')")
    conn.execute("UPDATE meta SET value='7' WHERE key='revision'")
    conn.close()

    catalog = Catalog(path)
    assert catalog._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
    assert catalog.revision() == 7
    # v3's author index was filled from the stored author lists, without an ingest.
    assert catalog.authors_named(["CHOI"]) == {"CHOI": AuthorMatch("Choi", ("2411.00001",))}
    stored = catalog.get("2411.00001")
    assert stored is not None
    assert (stored.authors, stored.votes, stored.date, stored.summary, stored.abstract, stored.whats_new) == (
        ("Park", "Choi"), 12, "2024-11-22", "", "", "new things")
    assert [r.node_id for r in catalog.sections()] == ["2411.00001#whats_new"]
    assert catalog.top_on("2024-11-22")[0].votes == 12
    # What v2 added works on the migrated file: unknown votes, the vote history, sync state.
    catalog.commit([], [], [paper("2411.00001", date="2024-11-23", votes=None)])
    assert catalog.get("2411.00001").votes is None  # type: ignore[union-attr]
    catalog.record_votes({"2411.00001": 3}, datetime(2024, 11, 23, tzinfo=UTC))
    assert catalog.vote_history("2411.00001") == [("2024-11-23T00:00:00+00:00", 3)]
    catalog.close()
    assert Catalog(path).revision() == 8  # reopening migrates nothing twice


def test_a_catalog_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    conn = connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="upgrade papersbot"):
        Catalog(path)


# --- authors ----------------------------------------------------------------------------------------------
def by(arxiv_id: str, *authors: str, **fields: Any) -> Paper:
    return replace(paper(arxiv_id, **fields), authors=authors)


def test_authors_are_indexed_with_their_papers_and_matched_on_the_full_name(catalog: Catalog) -> None:
    add(catalog, by("2411.11844", "Jieneng Chen", "Alan Yuille"), by("2411.14384", "Alan Yuille", "Łukasz Kaiser"),
        by("2411.11024", "Jan Kaczmarczyk"))
    assert catalog.authors_named(["alan YUILLE", "Alan", "Yuille", "Jan Kaczmarczyk", "Nobody Here"]) == {
        "alan YUILLE": AuthorMatch("Alan Yuille", ("2411.11844", "2411.14384")),
        "Jan Kaczmarczyk": AuthorMatch("Jan Kaczmarczyk", ("2411.11024",))}
    # NFKC (full-width letters, doubled spaces) but accents as stored.
    assert catalog.authors_named(["Ａｌａｎ  Ｙｕｉｌｌｅ"])["Ａｌａｎ  Ｙｕｉｌｌｅ"].name == "Alan Yuille"
    assert "Lukasz Kaiser" not in catalog.authors_named(["Lukasz Kaiser"])
    assert catalog.authors_named(["łukasz kaiser"])["łukasz kaiser"].arxiv_ids == ("2411.14384",)
    assert catalog.authors_named([]) == {}


def test_a_changed_paper_replaces_its_authors_and_a_removed_one_drops_them(catalog: Catalog) -> None:
    add(catalog, by("2411.11844", "Alan Yuille"), by("2411.14384", "Alan Yuille", "He Zhang", date="2025-02-06"))
    add(catalog, by("2411.11844", "Tianmin Shu", whats_new="changed"))  # its author list changed with it
    assert catalog.authors_named(["Alan Yuille"])["Alan Yuille"].arxiv_ids == ("2411.14384",)
    assert catalog.authors_named(["Tianmin Shu"])["Tianmin Shu"].arxiv_ids == ("2411.11844",)
    # The 2025-02-06 digest no longer lists 2411.14384, its only date: the paper goes, and its authors.
    assert catalog.commit([], [], [], day_contents={"2025-02-06": set()})[1] == ["2411.14384"]
    assert catalog.authors_named(["Alan Yuille", "He Zhang"]) == {}
    assert catalog._conn.execute("SELECT COUNT(*) FROM paper_authors").fetchone()[0] == 1


def test_the_author_lookup_is_one_indexed_query(catalog: Catalog) -> None:
    add(catalog, *(by(f"2502.{i:05d}", f"Author Number{i}", "Alan Yuille") for i in range(50)))
    statements: list[str] = []
    catalog._conn.set_trace_callback(statements.append)
    found = catalog.authors_named(["Show Alan", "Show Alan Yuille", "Alan Yuille", "Author Number7"])
    catalog._conn.set_trace_callback(None)
    assert len(statements) == 1 and "paper_authors" in statements[0]
    assert len(found["Alan Yuille"].arxiv_ids) == 50 and found["Author Number7"].arxiv_ids == ("2502.00007",)
    plan = catalog._conn.execute("EXPLAIN QUERY PLAN SELECT key, name, arxiv_id FROM paper_authors WHERE key IN (?, ?)",
                                 ("a", "b")).fetchall()
    assert any("INDEX paper_authors_by_key" in row[-1] for row in plan), [tuple(row) for row in plan]


def test_a_catalog_from_before_the_author_index_is_backfilled_once(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:2]) == 2
    for arxiv_id, authors in (("2411.11844", ["Jieneng Chen", "Alan Yuille"]), ("2411.14384", ["Alan Yuille"])):
        conn.execute("INSERT INTO papers(arxiv_id, title, url, authors, whats_new, technical_details, "
                     "performance_highlights, content_hash) VALUES (?, 'T', 'u', ?, 'w', '', '', 'h')",
                     (arxiv_id, json.dumps(authors)))
    conn.close()

    with caplog.at_level("INFO", logger="rag.storage.catalog"):
        catalog = Catalog(path)
    assert [r.getMessage() for r in caplog.records if "indexed the authors of 2 stored papers" in r.getMessage()]
    assert catalog.authors_named(["Alan Yuille"])["Alan Yuille"].arxiv_ids == ("2411.11844", "2411.14384")
    assert catalog.get_meta("authors_backfill") is None and catalog.revision() == 0
    catalog.close()

    caplog.clear()
    with caplog.at_level("INFO", logger="rag.storage.catalog"):
        catalog = Catalog(path)  # opened again: nothing to do
    assert not [r for r in caplog.records if "indexed the authors" in r.getMessage()]
    # Run again (a crash before the flag was cleared): the same rows, no duplicates.
    catalog.set_meta("authors_backfill", "pending")
    catalog.close()
    catalog = Catalog(path)
    assert catalog._conn.execute("SELECT COUNT(*) FROM paper_authors").fetchone()[0] == 3
    assert catalog.get_meta("authors_backfill") is None
