"""Backups: ``papersbot export FILE`` and ``papersbot import FILE [--replace]``.

A backup is a ``.tar.gz`` holding ``manifest.json`` (format version, counts, embedding model, checksums),
``catalog.sqlite3``, ``subscriptions.sqlite3`` when there is one, and ``vectors.jsonl`` (one Chroma node a
line: id, embedding, metadata, document). The lexical index is not stored: it is rebuilt from the catalog.

Export holds the data dir's write lock (no ingest lands half-way) and copies each SQLite file with
SQLite's online backup API, so it is consistent while the bot runs. Import validates everything first
(archive, checksums, format version, embedding model, an empty target unless ``--replace``), writes the
vectors into a staging collection that is swapped in only when complete, restores the SQLite files with
the same backup API (each one atomic, and safe with WAL files beside the target), rebuilds the lexical
index and checks every count against the manifest. Stop the bot before importing.

A restore brings back the stored vectors, metadata and texts (vectors to within 1 float32 ulp: Chroma
normalises cosine-space vectors on every write), not Chroma's HNSW graph: Chroma builds a new one, in an
order of its own (its local writer inserts each batch in parallel over a hash map, ``apply_log_chunk`` in
https://github.com/chroma-core/chroma/blob/main/rust/segment/src/local_hnsw.rs; with 1.5.9, 12 restores of
one backup returned 12 different top-40 lists for a question with ties). So where several sections are
equally close to a question at the dense_k cut-off, the restored library may return other ones of them than
the original did (and, as with any rebuilt approximate index, a large collection's graph may find a near
neighbour the other missed); the papers' fused scores depend on that list (``rag.retrieval.fuse``
normalises by its median and MAD).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from config.settings import Settings
from rag.components import Components, build_components
from rag.embeddings import build_embed_model, embedding_key
from rag.storage.catalog import MIGRATIONS, Catalog
from rag.vectors import VectorIndex

FORMAT = "papersbot-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite3"
SUBSCRIPTIONS = "subscriptions.sqlite3"
VECTORS = "vectors.jsonl"
PAGE = 500  # vectors per Chroma read / write


class BackupError(Exception):
    """A refused or failed export/import, with the process exit code: 2 = the backup file itself is unusable
    (missing, corrupt, another format version or embedding model), 1 = refused or failed on the target."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def papersbot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("papersbot")
    except PackageNotFoundError:
        return "unknown"


# --- export ------------------------------------------------------------------------------------------------
def export_backup(library: Components, dest: Path) -> dict[str, Any]:
    """Write a backup of ``library`` (and the data dir's subscriptions) to ``dest``; return its manifest.

    ``dest`` appears complete or not at all (written beside it, then renamed)."""
    settings = library.settings
    dest = dest.expanduser()
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory", 2)
    if dest.is_dir():
        raise BackupError(f"{dest}: is a directory; name the backup file to write", 2)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=settings.storage.data_dir) as tmp:
        staging = Path(tmp)
        with library.write_lock.quiet():  # a read: no writer meanwhile, ownership not needed
            copy_sqlite(settings.storage.catalog_path, staging / CATALOG)
            counts: dict[str, Any] = dict(library.catalog.counts())
            revision = library.catalog.revision()
            subscriptions = None
            if settings.storage.subscriptions_path.is_file():
                copy_sqlite(settings.storage.subscriptions_path, staging / SUBSCRIPTIONS)
                subscriptions = table_rows(staging / SUBSCRIPTIONS)
            vectors, dimension = _write_vectors(library.vectors, staging / VECTORS)
        counts["vector_nodes"] = vectors
        files = [name for name in (CATALOG, SUBSCRIPTIONS, VECTORS) if (staging / name).is_file()]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "papersbot_version": papersbot_version(),
            "counts": counts,
            "subscriptions": subscriptions,  # table → rows, or None when the data dir had no subscriptions
            "catalog_revision": revision,
            "collection": library.vectors.collection_name,
            "embedding_key": embedding_key(library.embedder),
            "embedding_dimension": dimension,
            "files": {name: {"bytes": (staging / name).stat().st_size, "sha256": sha256(staging / name)}
                      for name in files},
        }
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
        try:
            with tarfile.open(partial, "w:gz") as tar:
                data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(datetime.now(UTC).timestamp()), 0o644
                tar.addfile(info, io.BytesIO(data))
                for name in files:
                    tar.add(staging / name, arcname=name, recursive=False)
            os.replace(partial, dest)
        except OSError as exc:
            raise BackupError(f"could not write {dest}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), as one self-contained file."""
    source = sqlite3.connect(src, timeout=30.0)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # no -wal / -shm files beside the copy
        finally:
            target.close()
    finally:
        source.close()


def table_rows(path: Path) -> dict[str, int]:
    """Rows per table of any SQLite file (the subscription schema is not ours to know)."""
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        names = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {name: int(conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]) for name in names}
    finally:
        conn.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_vectors(vectors: VectorIndex, path: Path) -> tuple[int, int | None]:
    count, dimension = 0, None
    with open(path, "w", encoding="utf-8") as out:
        for node_id, embedding, metadata, document in vectors.iter_all(PAGE):
            dimension = dimension or len(embedding)
            out.write(json.dumps({"id": node_id, "embedding": embedding, "metadata": metadata, "document": document},
                                 ensure_ascii=False) + "\n")
            count += 1
    return count, dimension


# --- import ------------------------------------------------------------------------------------------------
def import_backup(settings: Settings, source: Path, *, replace: bool = False,
                  embedder: BaseEmbedding | None = None, chroma: Any = None) -> dict[str, Any]:
    """Restore the backup at ``source`` into the configured data dir and Chroma; return its manifest.

    Refuses (``BackupError``) before writing anything when the backup is unusable, was made with another
    embedding model, or the target already holds data and ``replace`` is false."""
    source = source.expanduser()
    if not source.is_file():
        raise BackupError(f"{source}: no such file", 2)
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=settings.storage.data_dir))
    try:
        manifest = unpack(source, staging)
        embedder = embedder or build_embed_model(settings.embedding)
        key = embedding_key(embedder)
        if manifest["embedding_key"] != key:
            raise BackupError(
                f"{source}: made with embedding model {manifest['embedding_key']!r}, but this papersbot embeds "
                f"with {key!r}; configure the same embed_provider / embed_model, or ingest the digests again", 2)
        _check_vectors(staging / VECTORS, manifest, source)
        try:  # the importer owns an embedded data dir; a running bot must be stopped first
            library = build_components(settings, owner=True, embedder=embedder, chroma=chroma, llm=None,
                                       owner_timeout_s=0)
        except TimeoutError as exc:
            raise BackupError(f"{exc}: stop the bot before importing") from exc
        try:
            with library.write_lock():
                if not replace:
                    held = _held_data(library, settings, has_subscriptions=(staging / SUBSCRIPTIONS).is_file())
                    if held:
                        raise BackupError(f"{settings.storage.data_dir} is not empty ({', '.join(held)}); "
                                          "use --replace to overwrite it")
                try:
                    _restore(library, staging)
                except Exception as exc:
                    raise BackupError(f"import failed while writing ({type(exc).__name__}: {exc}); the data dir "
                                      "may be partly restored: run the import again with --replace") from exc
            _verify(library, manifest)
        finally:
            library.close()
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def unpack(source: Path, staging: Path) -> dict[str, Any]:
    """Extract the known members (regular files only, never a path) and check them against the manifest."""
    wanted = {MANIFEST, CATALOG, SUBSCRIPTIONS, VECTORS}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:
                if member.name not in wanted or not member.isfile() or (staging / member.name).exists():
                    raise BackupError(f"{source}: unexpected entry {member.name!r}; not a papersbot backup", 2)
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file
                with handle, open(staging / member.name, "wb") as out:
                    shutil.copyfileobj(handle, out)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{source}: not a readable .tar.gz backup ({exc})", 2) from exc
    try:
        manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source}: no readable {MANIFEST}; not a papersbot backup", 2) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: not a papersbot backup", 2)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{source}: backup format version {manifest.get('format_version')!r}; this papersbot "
                          f"reads version {FORMAT_VERSION}", 2)
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not isinstance(counts.get("vector_nodes"), int) or not isinstance(
            manifest.get("embedding_key"), str) or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{source}: the manifest is incomplete; not a papersbot backup", 2)
    files = manifest["files"]
    for name in (CATALOG, VECTORS):
        if name not in files:
            raise BackupError(f"{source}: the manifest lists no {name}", 2)
    for name, expected in files.items():
        path = staging / name
        if name not in wanted or not path.is_file() or sha256(path) != expected.get("sha256"):
            raise BackupError(f"{source}: {name} is missing or damaged (checksum mismatch)", 2)
    for name in (CATALOG, SUBSCRIPTIONS):
        if (staging / name).is_file():
            _check_sqlite(staging / name, source, newest=len(MIGRATIONS) if name == CATALOG else None)
    return manifest


def _check_sqlite(path: Path, source: Path, newest: int | None) -> None:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: {path.name} is not a readable SQLite database ({exc})", 2) from exc
    if ok != "ok":
        raise BackupError(f"{source}: {path.name} is damaged ({ok})", 2)
    if newest is not None and version > newest:
        raise BackupError(f"{source}: {path.name} has schema version {version}, newer than this papersbot "
                          f"knows ({newest}); upgrade papersbot", 2)


def _read_vectors(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _check_vectors(path: Path, manifest: dict[str, Any], source: Path) -> None:
    """Every line parses, ids are unique, dimensions agree, and the count is the manifest's."""
    dimension = manifest.get("embedding_dimension")
    seen: set[str] = set()
    try:
        for row in _read_vectors(path):
            node_id, embedding = row["id"], row["embedding"]
            if node_id in seen or not isinstance(embedding, list) or (dimension and len(embedding) != dimension):
                raise BackupError(f"{source}: {VECTORS} has a bad entry for {node_id!r}", 2)
            seen.add(node_id)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{source}: {VECTORS} is damaged ({exc})", 2) from exc
    if len(seen) != manifest["counts"]["vector_nodes"]:
        raise BackupError(f"{source}: {VECTORS} holds {len(seen)} vectors, the manifest says "
                          f"{manifest['counts']['vector_nodes']}", 2)


def _held_data(library: Components, settings: Settings, has_subscriptions: bool) -> list[str]:
    """What the target already holds that an import would overwrite."""
    held = []
    counts = library.catalog.counts()
    if counts["papers"] or counts["sections"]:
        held.append(f"{counts['papers']} papers in the catalog")
    if library.vectors.count():
        held.append(f"{library.vectors.count()} vectors in {library.vectors.collection_name}")
    if has_subscriptions and settings.storage.subscriptions_path.is_file() and any(
            table_rows(settings.storage.subscriptions_path).values()):
        held.append("subscriptions")
    return held


def _restore(library: Components, staging: Path) -> None:
    """Vectors into a staging collection, swapped in when complete; then the SQLite files."""
    settings = library.settings
    name = library.vectors.collection_name
    staged = library.vectors.sibling(f"{name}-import-{secrets.token_hex(4)}")
    try:
        batch: list[dict[str, Any]] = []
        for row in _read_vectors(staging / VECTORS):
            batch.append(row)
            if len(batch) >= PAGE:
                _add(staged, batch)
                batch = []
        _add(staged, batch)
    except BaseException:
        staged.drop()
        raise
    staged.rename(name)  # the old collection (if any) is deleted here
    library.vectors = staged
    library.catalog.close()
    restore_sqlite(staging / CATALOG, settings.storage.catalog_path)
    if (staging / SUBSCRIPTIONS).is_file():
        restore_sqlite(staging / SUBSCRIPTIONS, settings.storage.subscriptions_path)
    library.catalog = Catalog(settings.storage.catalog_path)
    # Rebuilt, not synced: the restored catalog may carry the same revision number as the index on disk.
    library.lexical.rebuild(library.catalog, library.catalog.revision())


def _add(index: VectorIndex, rows: list[dict[str, Any]]) -> None:
    index.add_raw([r["id"] for r in rows], [r["embedding"] for r in rows], [r["metadata"] for r in rows],
                  [r.get("document") for r in rows])


def restore_sqlite(src: Path, dst: Path) -> None:
    """Overwrite the database at ``dst`` with ``src`` through SQLite (one atomic write; a stale -wal file
    beside ``dst`` can never be replayed onto the new content, as it could after a plain file move)."""
    source = sqlite3.connect(f"{src.as_uri()}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst, timeout=30.0)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _verify(library: Components, manifest: dict[str, Any]) -> None:
    expected = manifest["counts"]
    got: dict[str, Any] = {**library.catalog.counts(), "vector_nodes": library.vectors.count()}
    wrong = {key: (got.get(key), value) for key, value in expected.items() if got.get(key) != value}
    if len(library.lexical) != got["sections"]:
        wrong["lexical_nodes"] = (len(library.lexical), got["sections"])
    if wrong:
        detail = ", ".join(f"{key} {have} (backup: {want})" for key, (have, want) in wrong.items())
        raise BackupError(f"imported, but the counts differ from the backup: {detail}")
