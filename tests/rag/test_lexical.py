"""The lexical index: built from token ids, it scores exactly as bm25s over the token strings, and reloads."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.lexical import LexicalIndex

QUESTIONS = ("KV 캐시 압축", "Gaussian splatting 3D", "멀티모달 모바일 LLM", "diffusion 모델의 추론 속도", "없는단어")


def test_index_from_ids_scores_as_bm25s_over_the_token_strings(fast_library: Components, samples_dir: Path) -> None:
    ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    catalog, lexical = fast_library.catalog, fast_library.lexical
    lexical.rebuild(catalog, catalog.revision())
    rows = list(catalog.sections())
    reference = bm25s.BM25()
    reference.index([row.tokens.split() or ["<empty>"] for row in rows], show_progress=False)
    assert len(lexical) == len(rows) > 0

    reloaded = LexicalIndex(lexical.path, lexical.tokenizer)
    assert reloaded.sync(catalog)  # loads the published index
    matched = 0
    for question in QUESTIONS:
        tokens = [t for t in lexical.tokenizer.tokens(question) if t in reference.vocab_dict]
        expected = reference.get_scores(tokens) if tokens else np.zeros(len(rows))
        by_node = {row.node_id: float(score) for row, score in zip(rows, expected, strict=True) if score > 0}
        matched += len(by_node)
        for index in (lexical, reloaded):
            hits = index.search(question, k=len(rows))
            assert {hit.node_id: round(hit.score, 4) for hit in hits} == {
                node: round(score, 4) for node, score in by_node.items()}
    assert matched > 10
    assert lexical.idf(["모델", "없는단어"]) == reference_idf(reference, len(rows), ["모델", "없는단어"])


def reference_idf(reference: bm25s.BM25, n: int, tokens: list[str]) -> dict[str, float]:
    out = {}
    indptr = reference.scores["indptr"]
    for token in tokens:
        index = reference.vocab_dict.get(token)
        df = 0 if index is None else int(indptr[index + 1] - indptr[index])
        out[token] = float(np.log((n - df + 0.5) / (df + 0.5) + 1.0))
    return out
