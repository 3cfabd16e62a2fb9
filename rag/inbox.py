"""The inbox: a folder (``inbox_dir``) whose new digest files the running bot ingests by itself.

Files at the folder's top level with a digest suffix are ingested together, then moved: to ``done/``
when readable (with ``<name>.problems.txt`` beside it if some papers had problems) or to ``failed/``
when the file could not be used at all. Nothing is overwritten: a name already taken gets a timestamp.

A file still being copied must not be read half-way: dotfiles and ``*.tmp``/``*.part`` names are left
alone (copy under such a name, then rename), and so is any file modified in the last ``SETTLE_S``
seconds. Crash-safe by order: files move only after the ingest committed, and re-ingesting a file that
was ingested but not moved embeds nothing, so a rerun after a crash just finishes the moves.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loaders.digest import DIGEST_SUFFIXES, Problem
from rag.ingest import Indexer, IngestReport, Progress, ingest_paths
from rag.storage.locks import file_lock

log = logging.getLogger(__name__)

SETTLE_S = 2.0  # a file modified this recently may still be being written
LOCK_NAME = ".inbox.lock"  # a dotfile, so the scan never picks it up


@dataclass
class InboxReport:
    done: list[str] = field(default_factory=list)  # where readable files were moved
    failed: list[str] = field(default_factory=list)  # where unreadable files were moved
    waiting: list[str] = field(default_factory=list)  # too fresh: left for the next check
    busy: bool = False  # another inbox run held the folder; nothing was done
    ingest: IngestReport | None = None

    @property
    def idle(self) -> bool:
        return not (self.done or self.failed)

    def summary(self) -> str:
        if self.busy:
            return "inbox: busy (another run is ingesting it)"
        if self.idle:
            line = "inbox: nothing to ingest"
        else:
            line = f"inbox: {len(self.done)} file(s) ingested, {len(self.failed)} unreadable"
            if self.ingest is not None:
                line += f" ({self.ingest.summary()})"
        if self.waiting:
            line += f"; {len(self.waiting)} still being written"
        return line

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def scan(inbox_dir: Path, *, settle_s: float = SETTLE_S) -> tuple[list[Path], list[Path]]:
    """(ready, waiting) digest files at the inbox's top level, by name."""
    ready: list[Path] = []
    waiting: list[Path] = []
    now = time.time()
    try:
        entries = sorted(inbox_dir.iterdir())
    except FileNotFoundError:
        return [], []
    for path in entries:
        name = path.name
        if name.startswith(".") or name.endswith((".tmp", ".part")) or path.suffix.lower() not in DIGEST_SUFFIXES:
            continue
        if path.stem.lower().startswith("readme"):  # documentation, as in find_digest_files
            continue
        try:
            if not path.is_file():
                continue
            age = now - path.stat().st_mtime
        except OSError:  # removed while we looked
            continue
        (waiting if abs(age) < settle_s else ready).append(path)
    return ready, waiting


def ingest_inbox(indexer: Indexer, inbox_dir: Path, progress: Progress | None = None, *,
                 settle_s: float = SETTLE_S) -> InboxReport:
    """Ingest the inbox's settled digest files and move them to done/ or failed/.

    Cheap when there is nothing to do: no lock, no embedding, no Chroma call. Raises only when the
    ingest itself fails (an embedding endpoint down...); the files then stay for the next run.
    """
    report = InboxReport()
    ready, waiting = scan(inbox_dir, settle_s=settle_s)
    report.waiting = [str(path) for path in waiting]
    if not ready:
        return report
    with _inbox_lock(inbox_dir) as locked:
        if not locked:
            report.busy = True
            return report
        ready, waiting = scan(inbox_dir, settle_s=settle_s)  # another run may have moved some meanwhile
        report.waiting = [str(path) for path in waiting]
        if not ready:
            return report
        ingest = ingest_paths(indexer, [str(path) for path in ready], progress)
        report.ingest = ingest
        unreadable = set(ingest.unreadable)
        for path in ready:
            if not path.exists():
                continue
            problems = [p for p in ingest.problems if p.file == str(path)]
            bad = str(path) in unreadable
            target = _move(path, inbox_dir / ("failed" if bad else "done"))
            if problems:
                _write_problems(target, problems)
            (report.failed if bad else report.done).append(str(target))
            if bad:
                log.warning("inbox: %s is unreadable, moved to %s: %s", path.name, target,
                            "; ".join(p.message for p in problems if p.line == 0) or "see its problems file")
        log.info("%s", report.summary())
    return report


def _inbox_lock(inbox_dir: Path) -> AbstractContextManager[bool]:
    """Non-blocking: a second inbox run (another bot on the same folder) skips instead of waiting."""
    return file_lock(inbox_dir / LOCK_NAME, wait=False)


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` without overwriting: a taken name gets a timestamp (and a counter)."""
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = folder / path.name
    counter = 0
    while target.exists() or _problems_path(target).exists():
        counter += 1
        extra = f"-{counter}" if counter > 1 else ""
        target = folder / f"{path.stem}.{stamp}{extra}{path.suffix}"
    os.rename(path, target)  # same file system (a subfolder): atomic; names are checked under the inbox lock
    return target


def _problems_path(target: Path) -> Path:
    return target.with_name(target.name + ".problems.txt")


def _write_problems(target: Path, problems: list[Problem]) -> None:
    # File-level problems (line 0) first: they say why a file failed as a whole.
    lines = [f"{target.name}:{p.line}: {p.severity}: {p.message}" for p in sorted(problems, key=lambda p: p.line)]
    _problems_path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
