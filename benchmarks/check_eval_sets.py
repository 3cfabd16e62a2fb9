#!/usr/bin/env python
"""Check the held-out retrieval eval sets against the real archive, without the retriever.

Usage::

    python benchmarks/check_eval_sets.py [--archive DIR] [--data DIR]

Reads the day files of the archive directly (``YYYY/MM/DD.md``; default ``$PAPERSBOT_ARCHIVE`` or
``../shared/archive`` beside the checkout) and checks every line of ``tests/data/eval_600.jsonl`` (the
2025-04-01 .. 2025-05-09 days only), ``tests/data/eval_archive.jsonl`` (every day) and
``tests/data/eval_old_format.jsonl`` (the 2023-11-20 .. 2024-06-30 days, whose digests are mostly free
bullets; a ``multi`` line may add later papers on its topic as long as one id is in range, and no id may
be expected by the other three sets):

* valid JSON with ``question`` (non-empty), ``expected`` (list of arXiv ids, no repeats), ``lang``
  (``ko`` questions contain Hangul, ``en`` questions none) and a known ``kind``; ``unanswerable`` exactly
  when ``expected`` is empty, ``multi`` with two or more ids; no question twice in a set;
* every expected id is the id of a ``### [Title](https://arxiv.org/abs/ID)`` heading in a day file of that
  set's range;
* ``date_vote`` lines carry ``check`` (``date_from``, ``date_to``, ``op`` and ``value`` or ``k``) inside the
  set's range, and the ids recomputed from the files' ``Vote: N`` lines equal ``expected`` exactly (ties
  included; papers with ``Vote: -`` or no vote line are never counted);
* no question shares 25 or more consecutive characters (whitespace collapsed, case folded) with any summary
  text of the archive, unless that stretch is also part of a paper title (titles, ids, names and numbers
  are facts; summary sentences are not ours to copy).

Prints the counts per kind and language of each set and every failure; exits 1 on any failure. Uses the
standard library only: nothing here imports the project's retriever.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ARCHIVE = Path(os.environ.get("PAPERSBOT_ARCHIVE", str(REPO.parent / "shared" / "archive")))
COPY_WINDOW = 25

HEADING = re.compile(r"^### \[(?P<title>.*)\]\(https?://arxiv\.org/abs/(?P<id>\d{4}\.\d{4,5})\)\s*$")
DAY_HEADER = re.compile(r"^## ")
VOTE = re.compile(r"^Vote:\s*(?P<value>\S*)\s*$")
NOT_SUMMARY = re.compile(r"^(!\[|Authors:|Vote:)")
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

KINDS = {"paraphrase", "keyword", "crosslingual", "number", "multi", "date_vote", "unanswerable", "lookup"}
COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
OPS = {"max", "min", "top", *COMPARISONS}


@dataclass
class Paper:
    arxiv_id: str
    title: str
    date: str
    vote: int | None
    summary: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    date_from: str
    date_to: str
    multi_may_leave_range: bool = False  # a multi line may add later papers on its topic (one id in range)
    held_out_from: tuple[str, ...] = ()  # files whose expected ids this set must not reuse


def read_archive(root: Path) -> list[Paper]:
    """Every heading of every day file, in file order; a paper listed on two days appears twice."""
    papers: list[Paper] = []
    files = sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9].md"))
    if not files:
        raise SystemExit(f"no day files YYYY/MM/DD.md under {root} (pass --archive)")
    for path in files:
        date = f"{path.parent.parent.name}-{path.parent.name}-{path.stem}"
        current: Paper | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            heading = HEADING.match(line)
            if heading:
                current = Paper(heading["id"], heading["title"], date, None)
                papers.append(current)
                continue
            if DAY_HEADER.match(line):
                current = None
                continue
            if current is None:
                continue
            vote = VOTE.match(line)
            if vote:
                current.vote = int(vote["value"]) if vote["value"].isdigit() else None
            elif line.strip() and not NOT_SUMMARY.match(line):
                current.summary.append(line)
    return papers


def normalize(text: str) -> str:
    return " ".join(text.split()).casefold()


def windows(text: str, size: int = COPY_WINDOW) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def copied_spans(questions: list[str], papers: list[Paper]) -> dict[str, list[str]]:
    """For each question, the longest stretches (of 25+ characters, normalized) that also occur in some
    summary, counting only 25-character windows that are not part of any paper title."""
    wanted: dict[str, set[str]] = {}
    for question in questions:
        for window in windows(normalize(question)):
            wanted.setdefault(window, set()).add(question)
    if not wanted:
        return {}
    hits: set[str] = set()
    for paper in papers:
        text = normalize(" ".join(paper.summary))
        for i in range(len(text) - COPY_WINDOW + 1):
            window = text[i : i + COPY_WINDOW]
            if window in wanted:
                hits.add(window)
    titles = "\n".join(normalize(p.title) for p in papers)
    copied = {window for window in hits if window not in titles}
    out: dict[str, list[str]] = {}
    for question in questions:
        text = normalize(question)
        starts = [i for i in range(len(text) - COPY_WINDOW + 1) if text[i : i + COPY_WINDOW] in copied]
        spans: list[tuple[int, int]] = []
        for i in starts:
            if spans and i <= spans[-1][1]:
                spans[-1] = (spans[-1][0], i + COPY_WINDOW)
            else:
                spans.append((i, i + COPY_WINDOW))
        if spans:
            out[question] = [text[a:b] for a, b in spans]
    return out


def recompute_votes(check: dict[str, Any], papers: list[Paper]) -> set[str]:
    """The ids a ``date_vote`` check selects among papers with a numeric vote in its date range."""
    votes: dict[str, int] = {}
    for p in papers:
        if check["date_from"] <= p.date <= check["date_to"] and p.vote is not None:
            votes[p.arxiv_id] = max(p.vote, votes.get(p.arxiv_id, p.vote))
    if not votes:
        return set()
    op = check["op"]
    if op == "max":
        threshold = max(votes.values())
        return {i for i, v in votes.items() if v == threshold}
    if op == "min":
        threshold = min(votes.values())
        return {i for i, v in votes.items() if v == threshold}
    if op == "top":
        ranked = sorted(votes.values(), reverse=True)
        threshold = ranked[min(int(check["k"]), len(ranked)) - 1]
        return {i for i, v in votes.items() if v >= threshold}
    compare: Callable[[int, int], bool] = COMPARISONS[op]
    value = int(check["value"])
    return {i for i, v in votes.items() if compare(v, value)}


def check_check(check: Any, eval_set: EvalSet) -> str | None:
    if not isinstance(check, dict):
        return "date_vote line without a 'check' object"
    for key in ("date_from", "date_to", "op"):
        if not isinstance(check.get(key), str):
            return f"check.{key} missing or not a string"
    if not (ISO_DATE.match(check["date_from"]) and ISO_DATE.match(check["date_to"])):
        return "check dates must be YYYY-MM-DD"
    if check["date_from"] > check["date_to"]:
        return "check.date_from after check.date_to"
    if check["date_from"] < eval_set.date_from or check["date_to"] > eval_set.date_to:
        return f"check range outside the set's days {eval_set.date_from}..{eval_set.date_to}"
    if check["op"] not in OPS:
        return f"check.op {check['op']!r} not one of {sorted(OPS)}"
    if check["op"] == "top" and not (isinstance(check.get("k"), int) and check["k"] >= 1):
        return "check.op 'top' needs an integer k >= 1"
    if check["op"] not in {"max", "min", "top"} and not isinstance(check.get("value"), int):
        return f"check.op {check['op']!r} needs an integer value"
    return None


def check_set(eval_set: EvalSet, papers: list[Paper]) -> tuple[list[str], list[dict[str, Any]]]:
    failures: list[str] = []
    rows: list[dict[str, Any]] = []
    in_range = [p for p in papers if eval_set.date_from <= p.date <= eval_set.date_to]
    ids = {p.arxiv_id for p in in_range}
    all_ids = {p.arxiv_id for p in papers}
    held_out = expected_ids(eval_set.path.parent, eval_set.held_out_from)
    seen: set[str] = set()
    if not eval_set.path.is_file():
        return [f"{eval_set.path}: missing"], rows
    for number, line in enumerate(eval_set.path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{eval_set.path.name}:{number}"
        if not line.strip():
            failures.append(f"{where}: blank line")
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            failures.append(f"{where}: not JSON ({exc})")
            continue
        if not isinstance(row, dict):
            failures.append(f"{where}: not a JSON object")
            continue
        question, expected, lang, kind = row.get("question"), row.get("expected"), row.get("lang"), row.get("kind")
        problems: list[str] = []
        if not isinstance(question, str) or not question.strip():
            problems.append("question missing or empty")
            question = ""
        if not isinstance(expected, list) or not all(isinstance(x, str) for x in expected):
            problems.append("expected must be a list of id strings")
            expected = []
        if lang not in ("ko", "en"):
            problems.append(f"lang {lang!r} not 'ko' or 'en'")
        elif question and (lang == "ko") != bool(HANGUL.search(question)):
            problems.append(f"lang {lang!r} does not match the question's script")
        if kind not in KINDS:
            problems.append(f"kind {kind!r} not one of {sorted(KINDS)}")
        if normalize(question) in seen:
            problems.append("question repeated")
        seen.add(normalize(question))
        if len(set(expected)) != len(expected):
            problems.append("expected repeats an id")
        may_leave = eval_set.multi_may_leave_range and kind == "multi"
        for arxiv_id in expected:
            if not ARXIV_ID.match(arxiv_id):
                problems.append(f"{arxiv_id!r} is not an arXiv id")
            elif arxiv_id in held_out:
                problems.append(f"{arxiv_id} is already expected in {held_out[arxiv_id]}")
            elif arxiv_id not in ids and not (may_leave and arxiv_id in all_ids):
                where_else = " (it is elsewhere in the archive)" if arxiv_id in all_ids else ""
                problems.append(f"{arxiv_id} is no heading in {eval_set.date_from}..{eval_set.date_to}{where_else}")
        if may_leave and expected and not set(expected) & ids:
            problems.append(f"multi line with no id in {eval_set.date_from}..{eval_set.date_to}")
        if (kind == "unanswerable") != (expected == []):
            problems.append("'unanswerable' exactly when expected is []")
        if kind == "multi" and len(expected) < 2:
            problems.append("'multi' needs two or more expected ids")
        if kind == "date_vote":
            problem = check_check(row.get("check"), eval_set)
            if problem:
                problems.append(problem)
            else:
                got = recompute_votes(row["check"], in_range)
                if got != set(expected):
                    problems.append(
                        f"votes give {sorted(got)}, expected {sorted(expected)} "
                        f"(missing {sorted(got - set(expected))}, extra {sorted(set(expected) - got)})"
                    )
        elif "check" in row:
            problems.append("'check' only belongs on date_vote lines")
        failures.extend(f"{where}: {p}: {question[:60]!r}" for p in problems)
        rows.append({"question": question, "lang": lang, "kind": kind, "where": where})
    return failures, rows


def expected_ids(data: Path, names: tuple[str, ...]) -> dict[str, str]:
    """arXiv id -> the first of ``names`` (files in ``data``) that expects it."""
    out: dict[str, str] = {}
    for name in names:
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # reported when that file itself is checked
            for arxiv_id in row.get("expected", []) if isinstance(row, dict) else []:
                out.setdefault(str(arxiv_id), name)
    return out


def report(name: str, rows: list[dict[str, Any]]) -> None:
    counts = Counter((str(r["kind"]), str(r["lang"])) for r in rows)
    kinds = sorted({k for k, _ in counts})
    print(f"\n{name}: {len(rows)} questions")
    print(f"  {'kind':<14}{'ko':>5}{'en':>5}{'all':>6}")
    for kind in kinds:
        ko, en = counts[(kind, "ko")], counts[(kind, "en")]
        print(f"  {kind:<14}{ko:>5}{en:>5}{ko + en:>6}")
    ko = sum(v for (_, lang), v in counts.items() if lang == "ko")
    en = sum(v for (_, lang), v in counts.items() if lang == "en")
    print(f"  {'total':<14}{ko:>5}{en:>5}{ko + en:>6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, help="archive root (YYYY/MM/DD.md)")
    parser.add_argument("--data", type=Path, default=REPO / "tests" / "data", help="directory of the two sets")
    args = parser.parse_args(argv)

    papers = read_archive(args.archive)
    first, last = min(p.date for p in papers), max(p.date for p in papers)
    print(
        f"archive {args.archive}: {len({p.date for p in papers})} days {first}..{last}, "
        f"{len(papers)} headings, {len({p.arxiv_id for p in papers})} distinct ids"
    )
    sets = [
        EvalSet("eval_600", args.data / "eval_600.jsonl", "2025-04-01", "2025-05-09"),
        EvalSet("eval_archive", args.data / "eval_archive.jsonl", first, last),
        EvalSet("eval_old_format", args.data / "eval_old_format.jsonl", "2023-11-20", "2024-06-30",
                multi_may_leave_range=True,
                held_out_from=("eval.jsonl", "eval_600.jsonl", "eval_archive.jsonl")),
    ]
    failures: list[str] = []
    all_rows: list[dict[str, Any]] = []
    for eval_set in sets:
        set_failures, rows = check_set(eval_set, papers)
        failures += set_failures
        all_rows += rows
        report(eval_set.name, rows)

    copies = copied_spans([r["question"] for r in all_rows if r["question"]], papers)
    for row in all_rows:
        for span in copies.get(row["question"], []):
            failures.append(f"{row['where']}: copies summary text {span!r}")

    if failures:
        print(f"\n{len(failures)} failure(s):")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
