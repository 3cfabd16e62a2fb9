"""Korean-aware lexical index: BM25 (bm25s) over Kiwi morphemes of the same section nodes as Chroma.

Why not LlamaIndex's ``BM25Retriever``: it tokenizes queries with an English regex and stemmer, which
keeps Korean words glued to their particles ("모델은", "모델의") so most matches are missed, and its
metadata filters are fixed at construction. We use its engine, bm25s, directly with Kiwi morphemes and a
per-query filter mask.

The index is derived from the catalog and stamped with the catalog revision it was built from. It is
written into a fresh folder and published by atomically replacing the ``CURRENT`` pointer, so a reader
never sees a half-written index.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from rag.storage.catalog import Catalog
from rag.text import KoreanTokenizer

# bm25s sets its own logger to DEBUG at import (bm25s/__init__.py), flooding every ingest with lines.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def release_freed_memory() -> None:
    """Give the heap pages freed with a replaced index back to the OS: glibc keeps them in its arenas, and a
    running bot grew by 20-45 MB with each sync that rebuilt the index (benchmarks/results/memory.txt).
    glibc's malloc_trim (https://man7.org/linux/man-pages/man3/malloc_trim.3.html); elsewhere nothing."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (musl, macOS)
        return
    trim(0)


def bm25_idf(df: int, nodes: int) -> float:
    """BM25's (Lucene) inverse document frequency of a term found in ``df`` of ``nodes`` section nodes."""
    return float(np.log((nodes - df + 0.5) / (df + 0.5) + 1.0))


@dataclass(frozen=True)
class LexicalHit:
    node_id: str
    arxiv_id: str
    score: float


class LexicalIndex:
    def __init__(self, path: Path, tokenizer: KoreanTokenizer) -> None:
        self.path = path
        self.tokenizer = tokenizer
        self.revision = -1
        self._lock = threading.Lock()  # two threads seeing a new revision must not both rebuild
        self._bm25: bm25s.BM25 | None = None
        self._node_ids: list[str] = []
        self._arxiv_ids: np.ndarray = np.array([], dtype=object)
        self._rows_of: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._node_ids)

    # --- building and loading ------------------------------------------------------------------------
    def sync(self, catalog: Catalog) -> bool:
        """Make the index match the catalog's revision: load it if published, rebuild if stale.

        Returns True when the index changed.
        """
        with self._lock:
            revision = catalog.revision()
            if revision == self.revision:
                return False
            if self._published_revision() == revision and self._load():
                return True
            self.rebuild(catalog, revision)
            return True

    def rebuild(self, catalog: Catalog, revision: int) -> None:
        # Streamed from the catalog into token ids: a list of token strings per section held a new str
        # object per occurrence (section texts too), and a rebuild in the running bot kept ~115 MB of it in
        # its heap afterwards at the whole archive; the ids share one int per term through ``vocab``.
        # bm25s builds the same index from (ids, vocab) as from tokens.
        node_ids: list[str] = []
        arxiv_ids: list[str] = []
        vocab: dict[str, int] = {}
        corpus_ids: list[list[int]] = []
        for row in catalog.sections():
            node_ids.append(row.node_id)
            arxiv_ids.append(row.arxiv_id)
            corpus_ids.append([vocab.setdefault(token, len(vocab)) for token in row.tokens.split() or ["<empty>"]])
        rows = bool(node_ids)
        bm25 = bm25s.BM25()
        if rows:
            bm25.index((corpus_ids, vocab), show_progress=False)
        del corpus_ids
        self.path.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"rev-{revision:08d}-", dir=self.path))
        if rows:
            bm25.save(str(folder), show_progress=False)
        (folder / "nodes.json").write_text(
            json.dumps({"revision": revision, "node_ids": node_ids, "arxiv_ids": arxiv_ids}), encoding="utf-8"
        )
        pointer = self.path / "CURRENT.tmp"
        pointer.write_text(folder.name, encoding="utf-8")
        os.replace(pointer, self.path / "CURRENT")
        self._set(bm25 if rows else None, node_ids, arxiv_ids, revision)
        self._remove_old(keep=folder.name)
        release_freed_memory()

    def _published_revision(self) -> int | None:
        folder = self._current_folder()
        if folder is None:
            return None
        try:
            return int(json.loads((folder / "nodes.json").read_text(encoding="utf-8"))["revision"])
        except (OSError, ValueError, KeyError):
            return None

    def _current_folder(self) -> Path | None:
        try:
            name = (self.path / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        folder = self.path / name
        return folder if folder.is_dir() else None

    def _load(self) -> bool:
        folder = self._current_folder()
        if folder is None:
            return False
        try:
            nodes = json.loads((folder / "nodes.json").read_text(encoding="utf-8"))
            bm25 = bm25s.BM25.load(str(folder), show_progress=False) if nodes["node_ids"] else None
        except (OSError, ValueError, KeyError):
            return False
        self._set(bm25, nodes["node_ids"], nodes["arxiv_ids"], int(nodes["revision"]))
        release_freed_memory()
        return True

    def _set(self, bm25: bm25s.BM25 | None, node_ids: list[str], arxiv_ids: list[str], revision: int) -> None:
        self._bm25 = bm25
        self._node_ids = node_ids
        self._arxiv_ids = np.array(arxiv_ids, dtype=object)
        # Each paper's rows, for restricted searches: np.isin over the object array compared strings in
        # Python and took seconds at 100,000 papers for a restriction to thousands of papers.
        rows_of: dict[str, list[int]] = {}
        for row, arxiv_id in enumerate(arxiv_ids):
            rows_of.setdefault(arxiv_id, []).append(row)
        self._rows_of = rows_of
        self.revision = revision

    def _remove_old(self, keep: str) -> None:
        for child in self.path.iterdir():
            if child.is_dir() and child.name.startswith("rev-") and child.name != keep:
                shutil.rmtree(child, ignore_errors=True)

    def document_frequencies(self, tokens: list[str]) -> dict[str, int]:
        """In how many section nodes each token occurs (0 for a token the index does not know)."""
        if self._bm25 is None:
            return dict.fromkeys(tokens, 0)
        vocab, indptr = self._bm25.vocab_dict, self._bm25.scores["indptr"]
        return {token: 0 if vocab.get(token) is None else int(indptr[vocab[token] + 1] - indptr[vocab[token]])
                for token in tokens}

    def terms_by_paper(self, tokens: list[str], arxiv_ids: list[str]) -> dict[str, set[str]]:
        """Which of ``tokens`` each of ``arxiv_ids`` has in any of its section nodes (read from BM25's postings:
        exact, and a few hundred microseconds for a question's tokens and three papers)."""
        found: dict[str, set[str]] = {arxiv_id: set() for arxiv_id in arxiv_ids}
        if self._bm25 is None:
            return found
        vocab, indptr, indices = self._bm25.vocab_dict, self._bm25.scores["indptr"], self._bm25.scores["indices"]
        rows = {arxiv_id: np.asarray(self._rows_of.get(arxiv_id, ()), dtype=np.int64) for arxiv_id in arxiv_ids}
        for token in set(tokens):
            column = vocab.get(token)
            if column is None:
                continue
            posting = indices[indptr[column]:indptr[column + 1]]
            for arxiv_id, paper_rows in rows.items():
                if paper_rows.size and np.isin(paper_rows, posting).any():
                    found[arxiv_id].add(token)
        return found

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each token over the section nodes (unknown tokens: the
        highest, as if in no node). Scale-free uses divide sums of these, so they do not drift with size."""
        n = len(self._node_ids)
        if self._bm25 is None or n == 0:
            return dict.fromkeys(tokens, 0.0)
        return {token: bm25_idf(df, n) for token, df in self.document_frequencies(tokens).items()}

    # --- searching -----------------------------------------------------------------------------------
    def search(self, query: str, k: int, arxiv_ids: list[str] | None = None) -> list[LexicalHit]:
        """Top-k section nodes by BM25 over Kiwi morphemes; optionally only among ``arxiv_ids``."""
        if self._bm25 is None or (arxiv_ids is not None and not arxiv_ids):
            return []
        tokens = self.tokenizer.tokens(query)
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        if arxiv_ids is not None:
            allowed = np.zeros(len(scores), dtype=bool)
            allowed[[row for arxiv_id in set(arxiv_ids) for row in self._rows_of.get(arxiv_id, ())]] = True
            scores = np.where(allowed, scores, 0.0)
        # Only nodes sharing a term can rank: partitioning those, not every node (6 ms at 246,160 nodes).
        top = np.flatnonzero(scores > 0)
        if len(top) > k:
            top = top[np.argpartition(-scores[top], k - 1)[:k]]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [LexicalHit(self._node_ids[i], str(self._arxiv_ids[i]), float(scores[i])) for i in top]
