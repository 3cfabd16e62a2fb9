"""Ingest digests: parse → compare with what is stored → embed only what changed → commit.

Order matters for "nothing half-written": vectors are written first (idempotent upserts keyed by stable
node ids and tagged with the paper's content hash), then the catalog commits papers, sections and dates
in one transaction, then the lexical index is rebuilt from the catalog. A crash before the commit leaves
the catalog as it was; the next run sees which vectors already carry the right hash and embeds only the
rest, so an interrupted ingest resumes instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from loaders.digest import SECTIONS, Paper, Problem, read_digests
from rag.storage.catalog import Catalog, SectionRow, SourceFile, node_hash, node_id, node_text, section_keys

if TYPE_CHECKING:  # importing them costs a second; ``papersbot ingest`` of unchanged files needs neither
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

    from config.settings import Settings
    from rag.components import Components, WriteLock
    from rag.lexical import LexicalIndex
    from rag.text import KoreanTokenizer
    from rag.vectors import VectorIndex

Progress = Callable[[int, int], None]  # (passages embedded so far, passages to embed)


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0  # papers dropped because the day they were in no longer lists them (sync only)
    embedded: int = 0
    unreadable: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    revision: int = 0

    def add_time(self, stage: str, started: float) -> None:
        """Add the time since ``started`` to ``stage`` (a sync ingests in several batches into one report)."""
        self.timings_ms[stage] = round(self.timings_ms.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 1)

    @property
    def papers(self) -> int:
        return self.added + self.updated + self.unchanged

    def summary(self) -> str:
        line = (
            f"{self.files} file(s): {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped; {self.embedded} passage(s) embedded"
        )
        if self.unreadable:
            line += f"; {len(self.unreadable)} file(s) unreadable"
        return line

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Indexer:
    """What an ingest writes to, injected: the catalog, the vector and lexical indexes, the embedder and
    tokenizer, and the data dir's write lock (in embedded mode only the data dir's owner may take it)."""

    catalog: Catalog
    vectors: VectorIndex
    lexical: LexicalIndex
    embedder: BaseEmbedding
    tokenizer: KoreanTokenizer
    write_lock: WriteLock
    fingerprint: str  # vectors_fingerprint(settings): where the vectors live (see already_stored)
    embed_batch_size: int = 32
    max_digest_bytes: int = 50_000_000

    @classmethod
    def from_components(cls, c: Components) -> Indexer:
        return cls(c.catalog, c.vectors, c.lexical, c.embedder, c.tokenizer, c.write_lock,
                   vectors_fingerprint(c.settings), c.settings.embedding.batch_size,
                   int(c.settings.loading.max_digest_mb * 1_000_000))


def ingest_paths(indexer: Indexer, inputs: list[str], progress: Progress | None = None) -> IngestReport:
    """Ingest files, folders and globs. Never raises on bad digests; see the report's problems."""
    started = time.perf_counter()
    batch = read_digests(inputs, max_bytes=indexer.max_digest_bytes)
    report = IngestReport(files=batch.files, unreadable=batch.unreadable, skipped=batch.skipped,
                          problems=batch.problems)
    report.timings_ms["parse"] = _ms(started)
    ingest_papers(indexer, batch.papers, report, progress)
    report.timings_ms["total"] = _ms(started)
    return report


_MISSING = object()
FINGERPRINT_KEY = "vectors_fingerprint"  # catalog meta: where the last ingest stored its vectors


@dataclass
class Diff:
    """What an ingest would change: papers whose text is new or changed, and new or re-voted dates."""

    latest: dict[str, Paper]  # each paper as its newest digest has it (stored abstract kept)
    content_changed: list[Paper]
    new_appearances: list[Paper]
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return not self.content_changed and not self.new_appearances


def diff_papers(catalog: Catalog, appearances: list[Paper]) -> Diff:
    """Compare parsed paper appearances with the catalog (reads only SQLite)."""
    latest: dict[str, Paper] = {}
    for paper in sorted(appearances, key=lambda p: p.date):
        latest[paper.arxiv_id] = paper  # the newest digest's text wins
    # A digest never carries the English abstract: keep the one enrichment stored earlier.
    abstracts = catalog.abstracts(arxiv_id for arxiv_id, paper in latest.items() if not paper.abstract)
    latest = {arxiv_id: replace(paper, abstract=abstracts[arxiv_id]) if arxiv_id in abstracts else paper
              for arxiv_id, paper in latest.items()}
    known = catalog.known(latest)
    diff = Diff(latest, [], [])
    for paper in appearances:
        _, stored_dates = known.get(paper.arxiv_id, (None, {}))
        if stored_dates.get(paper.date, _MISSING) != paper.votes:
            diff.new_appearances.append(paper)
    changed_dates = {p.arxiv_id for p in diff.new_appearances}
    for arxiv_id, paper in latest.items():
        stored_hash, _ = known.get(arxiv_id, (None, {}))
        if stored_hash is None:
            diff.added += 1
            diff.content_changed.append(paper)
        elif stored_hash != paper.content_hash:
            diff.updated += 1
            diff.content_changed.append(paper)
        elif arxiv_id in changed_dates:
            diff.updated += 1
        else:
            diff.unchanged += 1
    return diff


def vectors_fingerprint(settings: Settings) -> str:
    """Where vectors live and which model made them, from settings alone (no model loaded)."""
    storage, embedding = settings.storage, settings.embedding
    model = embedding.model if embedding.provider == "openai" else ""
    return "|".join((embedding.provider, model, storage.chroma_url or str(storage.chroma_path),
                     storage.chroma_collection_prefix))


def already_stored(settings: Settings, inputs: list[str]) -> IngestReport | None:
    """The report of an ingest of ``inputs`` when the catalog already holds all of it exactly, and its
    vectors were stored where the settings point; else None (a real ingest is needed). Cheap: parsing and
    SQLite only, so re-running an ingest over unchanged files loads no model, Chroma or index."""
    storage = settings.storage
    if not storage.catalog_path.exists() or (not storage.chroma_url and not storage.chroma_path.exists()):
        return None
    started = time.perf_counter()
    batch = read_digests(inputs, max_bytes=int(settings.loading.max_digest_mb * 1_000_000))
    catalog = Catalog(settings.storage.catalog_path)
    try:
        if catalog.get_meta(FINGERPRINT_KEY) != vectors_fingerprint(settings):
            return None
        diff = diff_papers(catalog, batch.papers)
        if not diff.nothing_to_do:
            return None
        report = IngestReport(files=batch.files, unreadable=batch.unreadable, skipped=batch.skipped,
                              problems=batch.problems, unchanged=diff.unchanged, revision=catalog.revision())
    finally:
        catalog.close()
    report.timings_ms["total"] = _ms(started)
    return report


def ingest_papers(
    indexer: Indexer,
    appearances: list[Paper],
    report: IngestReport,
    progress: Progress | None = None,
    *,
    day_contents: dict[str, set[str]] | None = None,
    source_files: list[SourceFile] | None = None,
) -> IngestReport:
    """Store parsed papers. A paper seen in several digests is one paper with several dates.

    ``day_contents`` and ``source_files`` come from the sync (see :meth:`Catalog.commit`).
    """
    with indexer.write_lock():
        started = time.perf_counter()
        diff = diff_papers(indexer.catalog, appearances)
        latest, content_changed, new_appearances = diff.latest, diff.content_changed, diff.new_appearances
        report.added += diff.added
        report.updated += diff.updated
        report.unchanged += diff.unchanged
        report.add_time("diff", started)

        started = time.perf_counter()
        to_embed = _nodes_to_embed(indexer, list(latest.values()))
        report.add_time("check_vectors", started)
        started = time.perf_counter()
        report.embedded += _embed_and_store(indexer, to_embed, progress)
        report.add_time("embed_and_store", started)

        started = time.perf_counter()
        keyed = [(paper, key) for paper in content_changed for key in section_keys(paper)]
        texts = [node_text(paper, key) for paper, key in keyed]
        tokens = indexer.tokenizer.tokens_many(texts) if texts else []
        rows = [
            SectionRow(node_id(paper.arxiv_id, key), paper.arxiv_id, key, text, " ".join(terms))
            for (paper, key), text, terms in zip(keyed, texts, tokens, strict=True)
        ]
        report.add_time("tokenize", started)
        started = time.perf_counter()
        report.revision, removed = indexer.catalog.commit(
            content_changed, rows, new_appearances, day_contents=day_contents, source_files=source_files
        )
        report.removed += len(removed)
        indexer.catalog.set_meta(FINGERPRINT_KEY, indexer.fingerprint)
        # Vectors of sections a changed paper no longer has, and of removed papers (after the commit: a
        # crash before it leaves only unused vectors, which the next change of that paper deletes).
        stale = [node_id(paper.arxiv_id, key) for paper in content_changed for key, _ in SECTIONS
                 if not getattr(paper, key)]
        stale += [node_id(arxiv_id, key) for arxiv_id in removed for key, _ in SECTIONS]
        indexer.vectors.delete(stale)
        report.add_time("commit", started)
        started = time.perf_counter()
        indexer.lexical.sync(indexer.catalog)  # under the write lock: no other writer can be publishing
        report.add_time("lexical", started)
    return report


def _nodes_to_embed(indexer: Indexer, papers: list[Paper]) -> list[TextNode]:
    """Section nodes whose stored vector is missing or was made from other text."""
    from llama_index.core.schema import TextNode

    wanted = {node_id(p.arxiv_id, key): (p, key, node_text(p, key)) for p in papers for key in section_keys(p)}
    stored = indexer.vectors.stored_hashes(list(wanted))
    nodes = []
    for nid, (paper, key, text) in wanted.items():
        tag = node_hash(text)
        if stored.get(nid) == tag:
            continue
        nodes.append(
            TextNode(
                id_=nid,
                text=text,
                metadata={"arxiv_id": paper.arxiv_id, "section": key, "title": paper.title, "content_hash": tag},
            )
        )
    return nodes


def _embed_and_store(indexer: Indexer, nodes: list[TextNode], progress: Progress | None) -> int:
    batch = indexer.embed_batch_size
    total = len(nodes)
    if progress:
        progress(0, total)
    for start in range(0, total, batch):
        chunk = nodes[start : start + batch]
        vectors = indexer.embedder.get_text_embedding_batch([node.text for node in chunk])
        for node, vector in zip(chunk, vectors, strict=True):
            node.embedding = vector
        indexer.vectors.upsert(chunk)
        for node in chunk:  # stored: drop the vector, or a large ingest holds every one until the end
            node.embedding = None
        if progress:
            progress(min(start + batch, total), total)
    return total


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
