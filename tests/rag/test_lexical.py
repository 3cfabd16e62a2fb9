"""The lexical index: built from token ids, it scores exactly as bm25s over the token strings; it is published
by revision and reloaded, searched by Kiwi morphemes, restricted to some papers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import bm25s
import numpy as np
import pytest

from loaders.digest import Paper
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.lexical import LexicalIndex
from rag.storage.catalog import Catalog, SectionRow, node_id, node_text
from rag.text import KoreanTokenizer

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


# --- the index over a bare catalog (no embedder): publishing, reloading, searching -------------------------

TEXTS = {
    "2502.00001": ("KV cache compression", "긴 문맥에서 KV 캐시를 압축해 메모리를 줄인다."),
    "2502.00002": ("Gaussian splatting", "3D 장면을 Gaussian splatting으로 실시간 렌더링한다."),
    "2502.00003": ("Mobile LLM", "모바일 기기에서 멀티모달 모델을 빠르게 실행한다. 캐시도 쓴다."),
}


@pytest.fixture(scope="module")
def tokenizer() -> KoreanTokenizer:
    return KoreanTokenizer()


def commit(catalog: Catalog, tokenizer: KoreanTokenizer, arxiv_id: str, title: str, text: str) -> None:
    paper = Paper(arxiv_id=arxiv_id, title=title, url=f"https://arxiv.org/abs/{arxiv_id}", date="2025-02-05",
                  votes=1, authors=("Kim",), whats_new=text)
    body = node_text(paper, "whats_new")
    row = SectionRow(node_id(arxiv_id, "whats_new"), arxiv_id, "whats_new", body, " ".join(tokenizer.tokens(body)))
    catalog.commit([paper], [row], [paper])


@pytest.fixture
def catalog(tmp_path: Path, tokenizer: KoreanTokenizer) -> Catalog:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    for arxiv_id, (title, text) in TEXTS.items():
        commit(catalog, tokenizer, arxiv_id, title, text)
    return catalog


def published(path: Path) -> tuple[str, list[str]]:
    """The folder CURRENT points at, and every revision folder present."""
    return (path / "CURRENT").read_text(), sorted(p.name for p in path.iterdir() if p.name.startswith("rev-"))


def test_search_matches_korean_words_whatever_their_particles(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                               tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    assert index.sync(catalog) and len(index) == 3 and index.revision == catalog.revision() == 3
    hits = index.search("캐시의 압축은?", k=10)  # the text says 캐시를 압축해
    assert [hit.arxiv_id for hit in hits] == ["2502.00001", "2502.00003"]  # both words, then one
    assert hits[0].score > hits[1].score > 0 and hits[0].node_id == "2502.00001#whats_new"
    assert [hit.arxiv_id for hit in index.search("캐시 압축", k=1)] == ["2502.00001"]
    assert index.search("블록체인 금융", k=10) == []  # no term matches: no zero-score hits
    assert index.search("the paper", k=10) == []  # stop words only


def test_search_among_some_papers_only(catalog: Catalog, tokenizer: KoreanTokenizer, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    index.sync(catalog)
    assert [hit.arxiv_id for hit in index.search("캐시 압축", k=10, arxiv_ids=["2502.00003", "2502.09999"])] == [
        "2502.00003"]
    assert index.search("캐시 압축", k=10, arxiv_ids=[]) == []
    assert index.search("캐시 압축", k=10, arxiv_ids=["2502.00002"]) == []


def test_idf_is_highest_for_rare_and_unknown_terms(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                   tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    assert index.idf(["캐시"]) == {"캐시": 0.0}  # nothing loaded yet
    index.sync(catalog)
    idf = index.idf(["캐시", "압축", "없는단어"])
    assert idf["없는단어"] > idf["압축"] > idf["캐시"] > 0  # in no node > in one > in two
    assert idf["압축"] == pytest.approx(float(np.log((3 - 1 + 0.5) / (1 + 0.5) + 1)))


def test_terms_by_paper_reads_which_question_words_each_paper_has(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                                 tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    assert index.terms_by_paper(["캐시"], ["2502.00001"]) == {"2502.00001": set()}  # nothing loaded yet
    index.sync(catalog)
    terms = tokenizer.tokens("캐시 압축 모바일 없는단어")
    found = index.terms_by_paper(terms, ["2502.00001", "2502.00003", "2502.00002", "2502.09999"])
    assert found == {"2502.00001": {"캐시", "압축"}, "2502.00003": {"캐시", "모바일"}, "2502.00002": set(),
                     "2502.09999": set()}


def test_a_second_process_loads_the_published_revision_instead_of_rebuilding(
        catalog: Catalog, tokenizer: KoreanTokenizer, tmp_path: Path) -> None:
    path = tmp_path / "lexical"
    writer = LexicalIndex(path, tokenizer)
    writer.sync(catalog)
    assert not writer.sync(catalog)  # same revision: nothing to do
    before = published(path)
    assert len(before[1]) == 1

    reader = LexicalIndex(path, tokenizer)
    assert reader.sync(catalog) and reader.revision == 3
    assert published(path) == before  # loaded, not rebuilt
    assert reader.search("Gaussian 렌더링", k=3) == writer.search("Gaussian 렌더링", k=3)


def test_a_new_revision_is_rebuilt_and_published_and_old_folders_go(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "lexical"
    index = LexicalIndex(path, tokenizer)
    index.sync(catalog)
    first = published(path)
    commit(catalog, tokenizer, "2502.00004", "Blockchain finance", "블록체인 금융 모델을 분석한다.")
    assert index.sync(catalog) and index.revision == 4 and len(index) == 4
    current, folders = published(path)
    assert current != first[0] and folders == [current]  # one folder left: the new one
    assert [hit.arxiv_id for hit in index.search("블록체인", k=5)] == ["2502.00004"]
    assert [hit.arxiv_id for hit in LexicalIndex(path, tokenizer).search("블록체인", k=5)] == []  # not synced
    stale = LexicalIndex(path, tokenizer)
    assert stale.sync(catalog) and published(path)[0] == current  # the published one is current: loaded


@pytest.mark.parametrize("damage", ["nodes.json", "vocab.index.json"])
def test_a_broken_published_index_is_rebuilt_not_fatal(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                       tmp_path: Path, damage: str) -> None:
    path = tmp_path / "lexical"
    LexicalIndex(path, tokenizer).sync(catalog)
    current = published(path)[0]
    if damage == "nodes.json":
        (path / current / damage).write_text("{not json")
    else:
        (path / current / damage).unlink()  # bm25s' own files: loading fails with FileNotFoundError
    index = LexicalIndex(path, tokenizer)
    assert index.sync(catalog) and len(index) == 3 and published(path)[0] != current
    assert index.search("캐시 압축", k=1)[0].arxiv_id == "2502.00001"


def test_an_empty_catalog_gives_an_empty_index_that_can_grow(tokenizer: KoreanTokenizer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    assert index.sync(catalog) and len(index) == 0 and index.revision == 0
    assert index.search("캐시", k=5) == [] and index.idf(["캐시"]) == {"캐시": 0.0}
    reloaded = LexicalIndex(tmp_path / "lexical", tokenizer)
    assert reloaded.sync(catalog) and len(reloaded) == 0
    commit(catalog, tokenizer, *("2502.00001", *TEXTS["2502.00001"]))
    assert index.sync(catalog) and [hit.arxiv_id for hit in index.search("캐시", k=5)] == ["2502.00001"]


def test_threads_seeing_a_new_revision_together_rebuild_once(catalog: Catalog, tokenizer: KoreanTokenizer,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = LexicalIndex(tmp_path / "lexical", tokenizer)
    builds: list[int] = []
    rebuild = index.rebuild

    def slow_rebuild(catalog: Catalog, revision: int) -> None:
        builds.append(revision)
        time.sleep(0.2)  # long enough for the other threads to arrive meanwhile
        rebuild(catalog, revision)

    monkeypatch.setattr(index, "rebuild", slow_rebuild)
    changed: list[bool] = []
    threads = [threading.Thread(target=lambda: changed.append(index.sync(catalog))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert builds == [3] and sorted(changed) == [False, False, False, True]


def test_a_restricted_search_keeps_exactly_the_given_papers(fast_library: Components, samples_dir: Path) -> None:
    ingest_paths(Indexer.from_components(fast_library), [str(samples_dir)])
    lexical = fast_library.lexical
    lexical.sync(fast_library.catalog)
    everything = lexical.search("모델 model", k=1000)
    papers = sorted({hit.arxiv_id for hit in everything})
    assert len(papers) > 4
    chosen = [papers[0], papers[-1], "2999.99999"]  # one id that is not in the index
    restricted = lexical.search("모델 model", k=1000, arxiv_ids=chosen)
    assert restricted == [hit for hit in everything if hit.arxiv_id in chosen]
    assert lexical.search("모델 model", k=1000, arxiv_ids=["2999.99999"]) == []
