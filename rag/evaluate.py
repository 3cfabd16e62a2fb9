"""Retrieval evaluation over a JSONL question set: R@1, R@5, MRR@10 and "not covered" accuracy."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag.answer import AnswerEngine

RANK_DEPTH = 10


def read_questions(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, expected = str(row["question"]), [str(x) for x in row["expected"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a {{'question', 'expected'}} JSON line ({exc})") from exc
        rows.append({**row, "question": question, "expected": expected})
    return rows


def evaluate(engine: AnswerEngine, rows: list[dict[str, Any]]) -> dict[str, Any]:
    results = []
    for row in rows:
        found = engine.find(row["question"], top_k=RANK_DEPTH)
        retrieved = [s.paper.arxiv_id for s in found.sources]
        if len(retrieved) < RANK_DEPTH:
            # Metadata answers (a date's top paper, a lookup) are short; the ranking continues with what
            # hybrid retrieval would return, so every row ranks at least RANK_DEPTH papers.
            extra = engine.retriever.search(row["question"], RANK_DEPTH * 2).candidates
            retrieved += [c.arxiv_id for c in extra if c.arxiv_id not in retrieved][: RANK_DEPTH - len(retrieved)]
        result: dict[str, Any] = {"question": row["question"], "expected": row["expected"], "retrieved": retrieved,
                                  "covered": found.covered, "mode": found.plan.mode}
        result.update({key: row[key] for key in ("lang", "kind") if key in row})
        results.append(result)
    return {"metrics": metrics(results), "rows": results}


def _recall(expected: list[str], retrieved: list[str], k: int) -> float:
    return len(set(expected) & set(retrieved[:k])) / len(expected)


def _reciprocal_rank(expected: list[str], retrieved: list[str]) -> float:
    for rank, arxiv_id in enumerate(retrieved[:RANK_DEPTH], start=1):
        if arxiv_id in expected:
            return 1.0 / rank
    return 0.0


def metrics(results: list[dict[str, Any]]) -> dict[str, Any]:
    def summarize(group: list[dict[str, Any]]) -> dict[str, Any]:
        answerable = [r for r in group if r["expected"]]
        unanswerable = [r for r in group if not r["expected"]]
        out: dict[str, Any] = {"questions": len(group), "answerable": len(answerable)}
        if answerable:
            n = len(answerable)
            out["R@1"] = round(sum(_recall(r["expected"], r["retrieved"], 1) for r in answerable) / n, 4)
            out["R@5"] = round(sum(_recall(r["expected"], r["retrieved"], 5) for r in answerable) / n, 4)
            out["MRR@10"] = round(sum(_reciprocal_rank(r["expected"], r["retrieved"]) for r in answerable) / n, 4)
            out["covered_when_answerable"] = round(sum(r["covered"] for r in answerable) / n, 4)
        out["unanswerable"] = len(unanswerable)
        out["not_covered_correct"] = sum(not r["covered"] for r in unanswerable)
        if unanswerable:
            out["not_covered_accuracy"] = round(out["not_covered_correct"] / len(unanswerable), 4)
        return out

    overall = summarize(results)
    for key in ("lang", "kind"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in results:
            if key in r:
                groups[str(r[key])].append(r)
        if groups:
            overall[f"by_{key}"] = {name: summarize(group) for name, group in sorted(groups.items())}
    return overall
