"""Plain helpers (no pytest magic) for wiring the fakes into tests.

Wrap them in fixtures in ``conftest.py`` if wanted, e.g.::

    @pytest.fixture
    def bot_api() -> Iterator[FakeBotAPI]:
        with running_bot_api() as srv:
            yield srv
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .bot_api import FakeBotAPI
from .openai_server import FakeOpenAI
from .source_server import FakeDigestRepo, FakeHuggingFace

__all__ = [
    "openai_client_kwargs",
    "ptb_bot_kwargs",
    "running_bot_api",
    "running_digest_repo",
    "running_huggingface",
    "running_openai",
]


@contextmanager
def running_openai(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """Start a :class:`FakeOpenAI` for the duration of the block; asserts it had no bugs."""
    with FakeOpenAI(**kwargs) as srv:
        yield srv
    assert not srv.errors, f"FakeOpenAI internal errors: {srv.errors!r}"


@contextmanager
def running_bot_api(**kwargs: Any) -> Iterator[FakeBotAPI]:
    """Start a :class:`FakeBotAPI` for the duration of the block; asserts it had no bugs."""
    with FakeBotAPI(**kwargs) as srv:
        yield srv
    assert not srv.errors, f"FakeBotAPI internal errors: {srv.errors!r}"


@contextmanager
def running_digest_repo(**kwargs: Any) -> Iterator[FakeDigestRepo]:
    """Start a :class:`FakeDigestRepo` for the duration of the block; asserts it had no bugs."""
    with FakeDigestRepo(**kwargs) as srv:
        yield srv
    assert not srv.errors, f"FakeDigestRepo internal errors: {srv.errors!r}"


@contextmanager
def running_huggingface(**kwargs: Any) -> Iterator[FakeHuggingFace]:
    """Start a :class:`FakeHuggingFace` for the duration of the block; asserts it had no bugs."""
    with FakeHuggingFace(**kwargs) as srv:
        yield srv
    assert not srv.errors, f"FakeHuggingFace internal errors: {srv.errors!r}"


def ptb_bot_kwargs(srv: FakeBotAPI) -> dict[str, Any]:
    """Keyword arguments for ``telegram.Bot(**ptb_bot_kwargs(srv))``."""
    return {"token": srv.token, "base_url": srv.base_url, "base_file_url": srv.base_file_url}


def openai_client_kwargs(srv: FakeOpenAI, api_key: str = "test-key") -> dict[str, Any]:
    """Keyword arguments for ``openai.OpenAI(**openai_client_kwargs(srv))`` (no retries)."""
    return {"base_url": srv.base_url, "api_key": api_key, "max_retries": 0}
