"""Fixtures shared by the Telegram tests (pytest finds them here; helpers live in ``harness.py``).
A module's own fixture of the same name takes precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.components import Components
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.bot.telegram.harness import sample_library
from tests.bot.telegram.sample_world import sample_papers
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    """A fresh fake Bot API server on 127.0.0.1."""
    with running_bot_api() as server:
        yield server


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    """The sample digests embedded with the hash embedder, per module (harness.sample_library)."""
    comps, _ = sample_library(tmp_path_factory.mktemp("library"))
    yield comps
    comps.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Papers, Components]]:
    """The sample papers (own-words digests, with vote history) as a service and its components, per module."""
    yield from sample_papers(tmp_path_factory.mktemp("library"))


@pytest.fixture
def engine(library: Components) -> Papers:
    """The service over the test module's ``library`` fixture, without an LLM (extractive answers)."""
    return Papers(library, llm=None, memory=ConversationMemory(6, 1000))
