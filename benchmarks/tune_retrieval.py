#!/usr/bin/env python
"""Retrieval levers measured offline on a held-out question set over an already ingested data dir.

Usage::

    python benchmarks/tune_retrieval.py --data-dir DIR --questions tests/data/eval_600.jsonl [--json]

Every similarity question's dense hits (section nodes, e5 cosine) and lexical hits (Kiwi-BM25) are
fetched once; each fusion variant then re-ranks the same hits per paper, so variants are compared on
identical evidence. Metadata questions (dates, votes, ids) are routed by the engine and left out here
(``papersbot eval`` covers them). Prints R@5 and MRR@10 over answerable questions per variant, overall and
per kind and language, and, for the "not covered" decision, the scores that separate answerable from
unanswerable questions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    os.environ.pop(_name)

from config.settings import load_settings  # noqa: E402
from rag.answer import AnswerEngine  # noqa: E402
from rag.evaluate import read_questions  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.query import plan_query  # noqa: E402

DEPTH = 100  # section nodes fetched per retriever

Hits = list[tuple[str, str, float]]  # (arxiv_id, section, score), best first
Ranker = Callable[[Hits, Hits], list[str]]


def per_paper(hits: Hits) -> dict[str, float]:
    """Best score of each paper (its best section), in order of first appearance."""
    best: dict[str, float] = {}
    for arxiv_id, _section, score in hits:
        best.setdefault(arxiv_id, score)
    return best


def rrf(k: int = 60, wd: float = 1.0, wl: float = 1.0) -> Ranker:
    def rank(dense: Hits, lexical: Hits) -> list[str]:
        scores: dict[str, float] = defaultdict(float)
        for weight, hits in ((wd, dense), (wl, lexical)):
            for r, arxiv_id in enumerate(per_paper(hits), start=1):
                scores[arxiv_id] += weight / (k + r)
        return sorted(scores, key=lambda a: -scores[a])
    return rank


def _minmax(values: dict[str, float]) -> dict[str, float]:
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = (high - low) or 1.0
    return {key: (value - low) / span for key, value in values.items()}


def _dbsf(values: dict[str, float]) -> dict[str, float]:
    if len(values) < 2:
        return dict.fromkeys(values, 1.0)
    mean, std = statistics.mean(values.values()), statistics.pstdev(values.values()) or 1.0
    low, high = mean - 3 * std, mean + 3 * std
    return {key: (value - low) / (high - low) for key, value in values.items()}


def score_fusion(normalize: Callable[[dict[str, float]], dict[str, float]], alpha: float) -> Ranker:
    def rank(dense: Hits, lexical: Hits) -> list[str]:
        d, lx = normalize(per_paper(dense)), normalize(per_paper(lexical))
        scores = {a: alpha * d.get(a, 0.0) + (1 - alpha) * lx.get(a, 0.0) for a in set(d) | set(lx)}
        return sorted(scores, key=lambda a: -scores[a])
    return rank


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--questions", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    library = Library.open(load_settings(data_dir=Path(args.data_dir)))
    library.refresh()
    engine = AnswerEngine(library, None, engine_memory())
    dates = library.catalog.dates()
    rows = []
    for row in read_questions(Path(args.questions)):
        plan = plan_query(row["question"], dates, today=_today(dates))
        if plan.mode != "search":
            continue
        vector = library.embedder.get_query_embedding(row["question"])
        dense = [(h.arxiv_id, h.section, h.score) for h in library.vectors.query(vector, DEPTH)]
        lexical = [(h.arxiv_id, h.node_id.split("#", 1)[1], h.score)
                   for h in library.lexical.search(row["question"], DEPTH)]
        rows.append({**row, "dense": dense, "lexical": lexical,
                     "coverage": lexical_coverage(library, row["question"], [h for h in
                                                  library.lexical.search(row["question"], 3)])})
    del engine

    variants: dict[str, Ranker] = {
        "dense only": lambda d, lx: list(per_paper(d)),
        "lexical only": lambda d, lx: list(per_paper(lx)),
        "rrf k=60 (today)": rrf(60),
        "rrf k=20": rrf(20),
        "rrf k=60 dense x2": rrf(60, 2.0, 1.0),
        "rrf k=20 dense x1.5": rrf(20, 1.5, 1.0),
    }
    for alpha in (0.5, 0.6, 0.7, 0.8):
        variants[f"relative-score a={alpha}"] = score_fusion(_minmax, alpha)
        variants[f"dbsf a={alpha}"] = score_fusion(_dbsf, alpha)

    report: dict[str, Any] = {"questions": len(rows), "variants": {}}
    for name, ranker in variants.items():
        per: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in rows:
            if not row["expected"]:
                continue
            ranked = ranker(row["dense"], row["lexical"])
            expected = set(row["expected"])
            r5 = len(expected & set(ranked[:5])) / len(expected)
            mrr = next((1 / i for i, a in enumerate(ranked[:10], start=1) if a in expected), 0.0)
            for group in ("all", f"lang={row.get('lang')}", f"kind={row.get('kind')}"):
                per[group].append((r5, mrr))
        report["variants"][name] = {
            group: {"n": len(v), "R@5": round(sum(a for a, _ in v) / len(v), 3),
                    "MRR@10": round(sum(b for _, b in v) / len(v), 3)} for group, v in sorted(per.items())}

    separation = []
    for row in rows:
        papers = list(per_paper(row["dense"]).values())
        best_dense = papers[0] if papers else 0.0
        pack = papers[1:30] or [0.0]
        gap = best_dense - statistics.mean(pack)
        z = gap / (statistics.pstdev(pack) or 1.0)
        best_lexical = max((s for *_, s in row["lexical"]), default=0.0)
        separation.append({"answerable": bool(row["expected"]), "kind": row.get("kind"), "lang": row.get("lang"),
                           "question": row["question"], "best_dense": round(best_dense, 4),
                           "best_lexical": round(best_lexical, 2), "coverage": round(row["coverage"], 3),
                           "gap": round(gap, 4), "z": round(z, 2)})
    report["coverage_scores"] = separation
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(rows)} similarity questions ({sum(1 for r in rows if r['expected'])} answerable)")
    groups = sorted({g for v in report["variants"].values() for g in v})
    for group in groups:
        print(f"\n[{group}]")
        for name, result in report["variants"].items():
            if group in result:
                g = result[group]
                print(f"  {name:28s} n={g['n']:3d}  R@5 {g['R@5']:.3f}  MRR@10 {g['MRR@10']:.3f}")
    for label, flag in (("answerable", True), ("unanswerable", False)):
        group = [s for s in separation if s["answerable"] is flag]
        if group:
            dense = sorted(s["best_dense"] for s in group)
            lexical = sorted(s["best_lexical"] for s in group)
            coverage = sorted(s["coverage"] for s in group)
            gaps, zs = sorted(s["gap"] for s in group), sorted(s["z"] for s in group)
            print(f"\n{label}: dense gap to the pack min/median/max {gaps[0]}/{statistics.median(gaps)}/{gaps[-1]}; "
                  f"z min/median/max {zs[0]}/{statistics.median(zs)}/{zs[-1]}")
            print(f"\n{label}: best dense min/median/max {dense[0]}/{statistics.median(dense)}/{dense[-1]}; "
                  f"best BM25 min/median/max {lexical[0]}/{statistics.median(lexical)}/{lexical[-1]}; "
                  f"idf coverage min/median/max {coverage[0]}/{statistics.median(coverage)}/{coverage[-1]}")
    print("\n'covered' = best dense >= d or idf coverage >= c: refusals of unanswerable / answerable questions")
    answerable = [s for s in separation if s["answerable"]]
    unanswerable = [s for s in separation if not s["answerable"]]
    for d in (0.86, 0.87, 0.88, 0.89, 0.90, 0.91):
        cells = []
        for c in (0.5, 0.6, 0.7, 0.8, 0.9, 1.01):
            refused_u = sum(1 for s in unanswerable if s["best_dense"] < d and s["coverage"] < c)
            refused_a = sum(1 for s in answerable if s["best_dense"] < d and s["coverage"] < c)
            cells.append(f"c={c}: {refused_u}/{len(unanswerable)} vs {refused_a}/{len(answerable)}")
        print(f"  d={d}: " + " | ".join(cells))
    return 0


def lexical_coverage(library: Library, question: str, hits: list[Any]) -> float:
    """The share of the question's information (BM25 idf) that its best lexical hit contains."""
    terms = list(dict.fromkeys(library.tokenizer.tokens(question)))
    idf = library.lexical.idf(terms)
    total = sum(idf.values())
    if not terms or total <= 0 or not hits:
        return 0.0
    nodes = library.catalog.section_tokens(h.node_id for h in hits)
    return max(sum(idf[t] for t in terms if t in tokens) / total for tokens in nodes.values())


def engine_memory() -> Any:
    from rag.memory import ConversationMemory

    return ConversationMemory(1, 1)


def _today(dates: list[str]) -> Any:
    from datetime import date

    return date.fromisoformat(dates[0]) if dates else date.today()


if __name__ == "__main__":
    sys.exit(main())
