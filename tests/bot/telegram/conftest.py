"""Fixtures shared by the Telegram tests (pytest finds them here; helpers live in ``harness.py``).
A module's own fixture of the same name takes precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.components import Components
from rag.memory import ConversationMemory
from rag.service import Papers
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.fixtures import running_bot_api


@pytest.fixture
def srv() -> Iterator[FakeBotAPI]:
    """A fresh fake Bot API server on 127.0.0.1."""
    with running_bot_api() as server:
        yield server


@pytest.fixture
def engine(library: Components) -> Papers:
    """The service over the test module's ``library`` fixture, without an LLM (extractive answers)."""
    return Papers(library, llm=None, memory=ConversationMemory(6, 1000))
